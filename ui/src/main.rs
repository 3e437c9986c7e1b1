fn main() {
    dhis2gw_ui::start();
}
