//! Which screen is shown, kept in the address's fragment (`#/submissions/42`) so the browser's
//! back button and bookmarks work, and the desktop app can reopen where it was.

use leptos::prelude::*;
use wasm_bindgen::prelude::*;

#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    Overview,
    Submissions,
    /// The log with one submission's detail open.
    Submission(i64),
    Mappings,
    Users,
    Audit,
    /// Values waiting for DHIS2 to open a period or undo an approval.
    Held,
    /// Every value DHIS2 did not store.
    Refused,
    /// What fires, the rules and the notifications sent.
    Alerts,
    /// Which expected reports arrived on time, late or not at all.
    Reports,
}

impl Route {
    pub fn parse(fragment: &str) -> Route {
        let path = fragment.trim_start_matches('#').trim_start_matches('/');
        let mut parts = path.split('/');
        match (parts.next(), parts.next()) {
            (Some("submissions"), Some(id)) => id.parse().map(Route::Submission).unwrap_or(Route::Submissions),
            (Some("submissions"), None) => Route::Submissions,
            (Some("mappings"), _) => Route::Mappings,
            (Some("users"), _) => Route::Users,
            (Some("audit"), _) => Route::Audit,
            (Some("held"), _) => Route::Held,
            (Some("refused"), _) => Route::Refused,
            (Some("alerts"), _) => Route::Alerts,
            (Some("reporting"), _) => Route::Reports,
            _ => Route::Overview,
        }
    }

    pub fn href(&self) -> String {
        match self {
            Route::Overview => "#/overview".into(),
            Route::Submissions => "#/submissions".into(),
            Route::Submission(id) => format!("#/submissions/{id}"),
            Route::Mappings => "#/mappings".into(),
            Route::Users => "#/users".into(),
            Route::Audit => "#/audit".into(),
            Route::Held => "#/held".into(),
            Route::Refused => "#/refused".into(),
            Route::Alerts => "#/alerts".into(),
            Route::Reports => "#/reporting".into(),
        }
    }
}

fn current() -> Route {
    Route::parse(&web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default())
}

/// The current route, following the address's fragment.
pub fn use_route() -> RwSignal<Route> {
    let route = RwSignal::new(current());
    let on_change = Closure::<dyn Fn()>::new(move || route.set(current()));
    if let Some(window) = web_sys::window() {
        let _ = window.add_event_listener_with_callback("hashchange", on_change.as_ref().unchecked_ref());
    }
    // Lives as long as the page does.
    on_change.forget();
    route
}

/// Goes to a route (adds a history entry).
pub fn go(route: &Route) {
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_hash(&route.href());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn fragments_round_trip_and_unknown_ones_show_the_overview() {
        for route in [
            Route::Overview,
            Route::Submissions,
            Route::Submission(42),
            Route::Mappings,
            Route::Users,
            Route::Audit,
            Route::Held,
            Route::Refused,
            Route::Alerts,
            Route::Reports,
        ] {
            assert_eq!(Route::parse(&route.href()), route);
        }
        assert_eq!(Route::parse(""), Route::Overview);
        assert_eq!(Route::parse("#/submissions/x"), Route::Submissions);
    }
}
