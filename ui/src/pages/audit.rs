//! The audit log: who did what, to what and when, filterable.

use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{AuditEntry, Page};
use leptos::prelude::*;

use crate::api;
use crate::components::{Empty, ExportButtons, Load, Loaded, Pager, load_into};
use crate::endpoints;
use crate::format;
use crate::session::Session;

const TEXT_FILTERS: [(&str, &str, &str); 5] = [
    ("actor", "Who", "search"),
    ("target_id", "Target id", "search"),
    ("from_date", "From", "date"),
    ("to_date", "To", "date"),
    ("q", "Text", "search"),
];

#[component]
pub fn Audit() -> impl IntoView {
    let session = expect_context::<Session>();
    let filters = RwSignal::new(std::collections::BTreeMap::<String, String>::new());
    let page = RwSignal::new(1i64);
    let page_size = RwSignal::new(50i64);
    let data = RwSignal::new(Load::<Page<AuditEntry>>::Loading);
    let actions = RwSignal::new(Vec::<String>::new());
    api::spawn(endpoints::audit_actions(session), move |r| {
        if let Ok(a) = r {
            actions.set(a)
        }
    });
    Effect::new(move |_| {
        let filter = endpoints::filter_from(&filters.get(), page.get(), page_size.get());
        load_into(data, async move { endpoints::audit(session, filter?).await });
    });
    let set = move |key: &'static str, value: String| {
        filters.update(|f| {
            f.insert(key.to_string(), value);
        });
        page.set(1);
    };
    let total = Signal::derive(move || data.with(|d| d.ready().map_or(0, |p| p.total)));
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Audit log"</h1>
                <ExportButtons route=paths::AUDIT_EXPORT inputs=filters/>
            </div>
            <form class="filters" on:submit=|ev| ev.prevent_default() aria-label="filters">
                <label>"Action"
                    <select id="audit-action" on:change=move |ev| set("action", event_target_value(&ev))>
                        <option value="">"Any"</option>
                        {move || actions.get().into_iter().map(|a| view! { <option value=a.clone()>{a.clone()}</option> }).collect_view()}
                    </select>
                </label>
                {TEXT_FILTERS.iter().map(|(key, label, kind)| {
                    let key = *key;
                    view! { <label>{*label}<input id=format!("audit-{key}") type=*kind on:change=move |ev| set(key, event_target_value(&ev))/></label> }
                }).collect_view()}
            </form>
            <Loaded state=data view={move |p: Page<AuditEntry>| {
                if p.items.is_empty() {
                    return view! { <Empty text="Nothing recorded matches."/> }.into_any();
                }
                view! {
                    <table class="grid" id="audit">
                        <thead><tr><th>"When"</th><th>"Who"</th><th>"Action"</th><th>"Target"</th><th>"Details"</th></tr></thead>
                        <tbody>
                            {p.items.into_iter().map(|e| view! {
                                <tr>
                                    <td>{format::local_time(&e.created)}</td>
                                    <td>{e.actor.clone()}</td>
                                    <td class="mono">{e.action.clone()}</td>
                                    <td class="mono">{format!("{} {}", e.target_type, e.target_id)}</td>
                                    <td>
                                        {(!e.detail.is_null() && e.detail != serde_json::json!({})).then(|| view! {
                                            <details><summary>{summary(&e.detail)}</summary><pre class="json">{format::pretty(&e.detail)}</pre></details>
                                        })}
                                    </td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}/>
            <Pager page page_size total/>
        </section>
    }
}

/// The first few fields of an entry's detail, on one line.
pub fn summary(detail: &serde_json::Value) -> String {
    let Some(map) = detail.as_object() else { return detail.to_string() };
    let parts: Vec<String> = map
        .iter()
        .take(3)
        .map(|(k, v)| {
            let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            let v = if v.chars().count() > 40 { format!("{}…", v.chars().take(40).collect::<String>()) } else { v };
            format!("{k}: {v}")
        })
        .collect();
    let more = if map.len() > 3 { " …" } else { "" };
    format!("{}{more}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn details_are_summarised_on_one_line() {
        let d = serde_json::json!({"count": 3, "filter": {"status": "failed"}, "role": "viewer", "x": 1});
        assert_eq!(summary(&d), r#"count: 3, filter: {"status":"failed"}, role: viewer …"#);
    }
}
