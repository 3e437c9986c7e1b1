//! Component tests: the console's pieces mounted in a real (headless) browser.

use dhis2gw_ui::components::{Dialogs, Named, Pager, StatusBadge};
use dhis2gw_ui::pages::data_upload::Dhis2Said;
use dhis2gw_ui::pages::mappings::ReportSummary;
use dhis2gw_wire::{
    ConflictView, Dhis2Verdict, DryRunResult, HealthState, ImportReport, ImportRow, MappingHealth, RefusalClass,
    RowAction, TargetNames,
};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A fresh element to mount into.
fn host() -> web_sys::HtmlElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let el: web_sys::HtmlElement = document.create_element("div").unwrap().unchecked_into();
    document.body().unwrap().append_child(&el).unwrap();
    el
}

fn text(el: &web_sys::HtmlElement, selector: &str) -> String {
    el.query_selector(selector).unwrap().unwrap_or_else(|| panic!("no {selector}")).text_content().unwrap_or_default()
}

#[wasm_bindgen_test]
async fn the_pager_counts_pages_and_moves_between_them() {
    let el = host();
    let page = RwSignal::new(1i64);
    let size = RwSignal::new(10i64);
    let total = RwSignal::new(35i64);
    let _handle = leptos::mount::mount_to(el.clone(), move || {
        view! { <Pager page page_size=size total=Signal::derive(move || total.get())/> }
    });
    assert_eq!(text(&el, "span"), "Page 1 of 4 · 35 rows");
    let buttons = el.query_selector_all("button").unwrap();
    let previous: web_sys::HtmlButtonElement = buttons.get(0).unwrap().unchecked_into();
    let next: web_sys::HtmlButtonElement = buttons.get(1).unwrap().unchecked_into();
    assert!(previous.disabled());
    next.click();
    leptos::task::tick().await;
    assert_eq!(page.get_untracked(), 2);
    assert_eq!(text(&el, "span"), "Page 2 of 4 · 35 rows");
    total.set(5);
    leptos::task::tick().await;
    assert_eq!(text(&el, "span"), "Page 1 of 1 · 5 rows", "a page past the end moves back to the last one");
    assert_eq!(page.get_untracked(), 1);
    assert!(next.disabled());
}

#[wasm_bindgen_test]
async fn a_status_badge_says_what_the_status_means() {
    let el = host();
    let _handle = leptos::mount::mount_to(el.clone(), || view! { <StatusBadge status="failed"/> });
    let badge = el.query_selector(".badge").unwrap().unwrap();
    assert_eq!(badge.text_content().unwrap(), "Rejected");
    assert!(badge.class_list().contains("status-failed"));
}

#[wasm_bindgen_test]
async fn the_import_preview_lists_what_changes_and_why_rows_are_rejected() {
    let el = host();
    let row = |n: usize, code: &str, action: RowAction, errors: &[&str]| ImportRow {
        row: n,
        code: code.into(),
        what: "de".into(),
        action,
        errors: errors.iter().map(|e| e.to_string()).collect(),
        resolved: Vec::new(),
        health: MappingHealth::default(),
        names: TargetNames::default(),
    };
    let named = ImportRow {
        resolved: vec!["dataElement: 'HIV_TESTS' resolved by code to DeNumber001 ('HIV tests')".into()],
        health: MappingHealth { state: HealthState::Ok, problem: None },
        names: TargetNames { data_element: Some("HIV tests".into()), ..Default::default() },
        ..row(2, "positives", RowAction::Created, &[])
    };
    let broken = ImportRow {
        health: MappingHealth {
            state: HealthState::Broken,
            problem: Some("'Orphan' is in no data set, so DHIS2 stores none of its values: add it to one".into()),
        },
        ..row(5, "orphan", RowAction::Unchanged, &[])
    };
    let report = ImportReport {
        dry_run: true,
        total: 4,
        created: 1,
        updated: 0,
        unchanged: 2,
        rejected: 1,
        rows: vec![
            named,
            row(3, "same", RowAction::Unchanged, &[]),
            row(4, "bad", RowAction::Rejected, &["dataElement: 'x' is not a DHIS2 UID"]),
            broken,
        ],
    };
    let _handle = leptos::mount::mount_to(el.clone(), move || view! { <ReportSummary report=report.clone()/> });
    assert!(text(&el, ".import-counts").contains("1 created"));
    assert!(text(&el, ".import-counts").contains("1 rejected"));
    let rows = el.query_selector_all("tbody tr").unwrap();
    assert_eq!(rows.length(), 3, "unchanged rows are left out unless they would be broken");
    assert!(text(&el, "tr.row-rejected").contains("is not a DHIS2 UID"));
    assert!(text(&el, "tr.row-created").contains("data element HIV tests; dataElement: 'HIV_TESTS' resolved by code"));
    assert!(text(&el, "tr.row-created td.health").contains("OK"));
    assert!(text(&el, "tr.row-unchanged td.health").contains("Broken'Orphan' is in no data set"));
    assert!(text(&el, ".import-broken").contains("1 row would make a mapping DHIS2 refuses"));
}

#[wasm_bindgen_test]
async fn dhis2s_dry_run_verdict_names_each_refused_value_and_says_which_would_wait() {
    let el = host();
    let conflict = |class: RefusalClass, described: &str| ConflictView {
        error_code: Some("E7642".into()),
        object: None,
        property: None,
        message: Some("with UIDs".into()),
        indexes: vec![0],
        partner_keys: vec!["HIV_TESTS.MALE".into()],
        described: Some(described.into()),
        class: Some(class),
    };
    let unasked =
        DryRunResult { message: "Dry run".into(), payload: serde_json::json!({}), warnings: Vec::new(), dhis2: None };
    let result = |status: &str, conflicts: Vec<ConflictView>, error: Option<&str>| DryRunResult {
        dhis2: Some(Dhis2Verdict {
            http_status: Some(200),
            import_status: Some(status.into()),
            import_count: None,
            conflicts,
            error: error.map(str::to_string),
        }),
        ..unasked.clone()
    };
    let approved = result("WARNING", vec![conflict(RefusalClass::Approved, "HIV tests, Male: data approved")], None);
    let bad = result("WARNING", vec![conflict(RefusalClass::Data, "HIV tests, Male: not a number")], None);
    let taken = result("SUCCESS", Vec::new(), None);
    let refused = result("ERROR", Vec::new(), Some("Data set not found"));
    let _handle = leptos::mount::mount_to(el.clone(), move || {
        view! {
            <p id="approved"><Dhis2Said said=approved.clone()/></p>
            <p id="bad"><Dhis2Said said=bad.clone()/></p>
            <p id="taken"><Dhis2Said said=taken.clone()/></p>
            <p id="refused"><Dhis2Said said=refused.clone()/></p>
            <p id="unasked"><Dhis2Said said=unasked.clone()/></p>
        }
    });
    assert_eq!(
        text(&el, "#approved"),
        "Refuses HIV_TESTS.MALE: HIV tests, Male: data approved; sent now, they wait On hold until DHIS2 takes them"
    );
    assert_eq!(text(&el, "#bad"), "Refuses HIV_TESTS.MALE: HIV tests, Male: not a number", "the file's to fix");
    assert_eq!(text(&el, "#taken"), "Takes every value");
    assert_eq!(text(&el, "#refused"), "Refuses it: Data set not found");
    assert!(el.query_selector("#refused .error").unwrap().is_some());
    assert_eq!(text(&el, "#unasked"), "DHIS2 could not be asked");
}

#[wasm_bindgen_test]
async fn dhis2_objects_show_their_names_with_the_uid_on_hover() {
    let el = host();
    let _handle = leptos::mount::mount_to(el.clone(), || {
        view! {
            <Named name=Some("Facility 1".to_string()) uid="OrgFac00001" hint="Root › Facility 1"/>
            <Named name=None uid="DeUnknown01"/>
        }
    });
    let named = el.query_selector(".named").unwrap().unwrap();
    assert_eq!(named.text_content().unwrap(), "Facility 1");
    assert_eq!(named.get_attribute("title").as_deref(), Some("Root › Facility 1 · OrgFac00001"));
    assert_eq!(text(&el, ".mono"), "DeUnknown01", "no name known: the UID itself");
}

#[wasm_bindgen_test]
async fn notices_appear_and_errors_are_marked() {
    let el = host();
    let dialogs = Dialogs::new();
    let _handle = leptos::mount::mount_to(el.clone(), move || {
        provide_context(dialogs);
        view! { <dhis2gw_ui::components::NoticeHost/> }
    });
    dialogs.notify("Saved", false);
    dialogs.notify("Refused", true);
    leptos::task::tick().await;
    let notices = el.query_selector_all(".notice").unwrap();
    assert_eq!(notices.length(), 2);
    assert_eq!(text(&el, ".notice.error"), "Refused");
}

#[wasm_bindgen_test]
async fn the_sign_in_screen_warns_of_plain_http_to_another_computer_only() {
    use dhis2gw_ui::pages::signin::SignIn;
    use dhis2gw_ui::session::Session;
    for (gateway, warned) in
        [("http://gw.example.org:9090", true), ("https://gw.example.org", false), ("http://localhost:9090", false)]
    {
        let el = host();
        let _handle = leptos::mount::mount_to(el.clone(), move || {
            provide_context(Session::new(gateway.to_string()));
            view! { <SignIn/> }
        });
        leptos::task::tick().await;
        let warning = el.query_selector("#plain-http").unwrap();
        assert_eq!(warning.is_some(), warned, "{gateway}");
        if let Some(warning) = warning {
            assert!(warning.text_content().unwrap().contains("plain HTTP"), "{gateway}");
        }
    }
}

#[wasm_bindgen_test]
async fn a_slow_answer_to_an_older_load_never_replaces_the_newer_one() {
    use dhis2gw_ui::components::{Load, load_into};
    use futures::channel::oneshot;
    let target = RwSignal::new(Load::<&'static str>::Loading);
    let (older_tx, older_rx) = oneshot::channel::<&'static str>();
    let (newer_tx, newer_rx) = oneshot::channel::<&'static str>();
    // The unfiltered page is asked for first, then the filtered one; the filtered answer
    // comes back first.
    load_into(target, async move { Ok(older_rx.await.unwrap()) });
    load_into(target, async move { Ok(newer_rx.await.unwrap()) });
    newer_tx.send("filtered").unwrap();
    leptos::task::tick().await;
    older_tx.send("unfiltered").unwrap();
    leptos::task::tick().await;
    leptos::task::tick().await;
    assert!(matches!(target.get_untracked(), Load::Ready("filtered")), "the older answer won");
}
