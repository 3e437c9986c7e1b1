//! The dhis2gw console: sign in to a gateway, watch submissions, see why DHIS2 rejected a value,
//! requeue, manage mappings, users and partner tokens, and read the audit log.
//!
//! The same build runs in a browser (served by the gateway at `/console/`) and in the desktop
//! app, which adds native dialogs and remembers gateways and the session in its config directory.

use leptos::prelude::*;

pub mod api;
pub mod components;
pub mod endpoints;
pub mod format;
pub mod pages;
pub mod pickers;
pub mod platform;
pub mod route;
pub mod session;

#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use components::{ConfirmHost, Dialogs, NoticeHost};
use route::Route;
use session::Session;

/// Mounts the console on the page's body.
pub fn start() {
    // A panic's message in the browser's console instead of "unreachable executed".
    std::panic::set_hook(Box::new(|info| web_sys::console::error_1(&info.to_string().into())));
    leptos::mount::mount_to_body(App);
}

#[component]
pub fn App() -> impl IntoView {
    let session = Session::new(String::new());
    let dialogs = Dialogs::new();
    provide_context(session);
    provide_context(dialogs);
    // Starting: settings are read (from the app's config directory in the desktop app), then a
    // remembered session is resumed with its refresh token.
    let starting = RwSignal::new(true);
    let theme = RwSignal::new(String::new());
    leptos::task::spawn_local(async move {
        let settings = platform::load_settings().await;
        let gateway = platform::serving_gateway().or_else(|| settings.gateways.first().cloned()).unwrap_or_default();
        theme.set(settings.theme.clone());
        session.gateway.set(gateway.clone());
        let refresh_token = settings.refresh_tokens.get(&platform::normalise_gateway(&gateway)).cloned();
        platform::adopt_settings(settings);
        if let Some(refresh_token) = refresh_token.filter(|_| !gateway.is_empty())
            && let Ok(tokens) = api::refresh(&gateway, &refresh_token).await
        {
            session.start(tokens);
        }
        starting.set(false);
    });
    session.keep_alive();
    // A file dropped outside a drop zone must not replace the console with the file's contents.
    let _ = window_event_listener(leptos::ev::dragover, |ev| ev.prevent_default());
    let _ = window_event_listener(leptos::ev::drop, |ev| ev.prevent_default());
    Effect::new(move |_| apply_theme(&theme.get()));
    Effect::new(move |_| {
        let title = match session.auth.get() {
            Some(a) => format!("dhis2gw console — {} @ {}", a.user.username, session.gateway.get()),
            None => "dhis2gw console".to_string(),
        };
        platform::set_title(&title);
    });
    view! {
        <ConfirmHost/>
        <NoticeHost/>
        {move || {
            if starting.get() {
                view! { <p class="muted splash" role="status">"Starting…"</p> }.into_any()
            } else if session.auth.with(Option::is_some) {
                view! { <Shell theme/> }.into_any()
            } else {
                view! { <pages::signin::SignIn/> }.into_any()
            }
        }}
    }
}

fn apply_theme(theme: &str) {
    if let Some(root) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) {
        let _ = if theme.is_empty() {
            root.remove_attribute("data-theme")
        } else {
            root.set_attribute("data-theme", theme)
        };
    }
}

/// The signed-in frame: navigation by role, the current screen, who and where.
#[component]
fn Shell(theme: RwSignal<String>) -> impl IntoView {
    let session = expect_context::<Session>();
    let route = route::use_route();
    let nav = move || {
        let mut items = vec![
            (Route::Overview, "Overview"),
            (Route::Submissions, "Submissions"),
            (Route::Held, "On hold"),
            (Route::Refused, "Refused values"),
            (Route::Reports, "Reporting"),
        ];
        if !session.is_staff() {
            items.remove(0);
        }
        if session.is_staff() {
            items.push((Route::Mappings, "Mappings"));
            items.push((Route::Alerts, "Alerts"));
            items.push((Route::Audit, "Audit log"));
        }
        if session.is_admin() {
            items.push((Route::Users, "Users & tokens"));
        }
        items
    };
    // Which country's gateway this is, and how many mappings are broken: in the header, for
    // an admin who runs several gateways. Refreshed every minute.
    let country = RwSignal::new(None::<String>);
    let broken = RwSignal::new(0i64);
    let look = move || {
        if !session.is_staff() {
            return;
        }
        api::spawn(endpoints::metadata_status(session), move |r| {
            if let Ok(m) = r
                && !country.is_disposed()
            {
                country.set(m.country);
            }
        });
        api::spawn(endpoints::broken_mappings(session), move |r| {
            if let Ok(n) = r
                && !broken.is_disposed()
            {
                broken.set(n);
            }
        });
    };
    look();
    if let Ok(handle) = set_interval_with_handle(look, std::time::Duration::from_secs(60)) {
        on_cleanup(move || handle.clear());
    }
    let toggle_theme = move |_| {
        let next = if theme.get_untracked() == "dark" { "light" } else { "dark" };
        theme.set(next.into());
        platform::update_settings(|s| s.theme = next.into());
    };
    view! {
        <header class="topbar">
            <span class="brand">"dhis2gw"</span>
            {move || country.get().map(|c| view! { <span class="country" id="country">{c}</span> })}
            <nav aria-label="screens">
                {move || {
                    nav()
                        .into_iter()
                        .map(|(r, label)| {
                            let href = r.href();
                            let active = {
                                let r = r.clone();
                                move || {
                                    let current = route.get();
                                    current == r || (r == Route::Submissions && matches!(current, Route::Submission(_)))
                                }
                            };
                            let mappings = r == Route::Mappings;
                            let badge = move || (mappings && broken.get() > 0).then(|| view! {
                                <span class="badge status-failed nav-badge" id="broken-badge" title="Broken mappings">{broken.get()}</span>
                            });
                            view! {
                                <a href=href class:active=active.clone() aria-current=move || active().then_some("page")>
                                    {label}
                                    {badge}
                                </a>
                            }
                        })
                        .collect_view()
                }}
            </nav>
            <span class="who">
                {move || session.user().map(|u| format!("{} ({})", u.username, u.role)).unwrap_or_default()}
                " @ "
                <span class="gateway">{move || session.gateway.get()}</span>
            </span>
            <button class="ghost" on:click=toggle_theme title="Switch between light and dark">
                {move || if theme.get() == "dark" { "☀ Light" } else { "☾ Dark" }}
            </button>
            <button id="sign-out" class="ghost" on:click=move |_| session.sign_out()>"Sign out"</button>
        </header>
        <main>
            {move || match route.get() {
                Route::Overview if session.is_staff() => view! { <pages::overview::Overview/> }.into_any(),
                Route::Submission(id) => view! { <pages::submissions::Submissions open=Some(id)/> }.into_any(),
                Route::Mappings if session.is_staff() => view! { <pages::mappings::Mappings/> }.into_any(),
                Route::Users if session.is_admin() => view! { <pages::users::Users/> }.into_any(),
                Route::Audit if session.is_staff() => view! { <pages::audit::Audit/> }.into_any(),
                Route::Alerts if session.is_staff() => view! { <pages::alerts::Alerts/> }.into_any(),
                Route::Held => view! { <pages::held::Held/> }.into_any(),
                Route::Refused => view! { <pages::held::Refused/> }.into_any(),
                Route::Reports => view! { <pages::reports::Reports/> }.into_any(),
                _ => view! { <pages::submissions::Submissions open=None/> }.into_any(),
            }}
        </main>
    }
}
