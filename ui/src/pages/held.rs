//! Values DHIS2 did not take: the hold queue (grouped by server, data set, period and org unit,
//! with re-check, release and discard) and every refused value, filtered and exported, each
//! saying what went wrong and who must act.

use std::collections::BTreeMap;

use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{
    HeldGroup, HeldResult, HeldSelection, Page, RefusalClass, RefusedFilter, RefusedValue, VALUE_OUTCOMES,
};
use leptos::prelude::*;

use crate::api::{self, ApiResult};
use crate::components::{Empty, ExportButtons, Load, Loaded, OutcomeBadge, Pager, WhyNotStored, dialogs, load_into};
use crate::endpoints;
use crate::format;
use crate::route::Route;
use crate::session::Session;

/// Exactly the group a row stands for, as the hold routes select it ("" for none).
fn selection_of(g: &HeldGroup) -> HeldSelection {
    HeldSelection {
        server_id: Some(g.server_id),
        data_set: Some(g.data_set.clone().unwrap_or_default()),
        period: Some(g.period.clone()),
        org_unit: Some(g.org_unit.clone()),
        attribute_option_combo: Some(g.attribute_option_combo.clone().unwrap_or_default()),
        reason: None,
    }
}

/// What a re-check, release or discard did, in words.
fn describe_result(r: &HeldResult) -> String {
    let mut parts = Vec::new();
    if r.checked > 0 {
        parts.push(format!("DHIS2 asked about {}", format::plural(r.checked as i64, "group", "groups")));
    }
    if r.released > 0 {
        parts.push(format!("{} sent", format::plural(r.released as i64, "value", "values")));
    }
    if r.dropped > 0 {
        parts.push(format!("{} given up", format::plural(r.dropped as i64, "value", "values")));
    }
    parts.push(format!("{} still on hold", format::count(r.still_held as i64)));
    let mut text = parts.join(" · ");
    if !r.errors.is_empty() {
        text.push_str(&format!(" · could not ask: {}", r.errors.join("; ")));
    }
    text
}

#[component]
pub fn Held() -> impl IntoView {
    let session = expect_context::<Session>();
    let d = dialogs();
    let data = RwSignal::new(Load::<Vec<HeldGroup>>::Loading);
    let reload = move || load_into(data, endpoints::held(session));
    reload();
    let report = move |r: ApiResult<HeldResult>| {
        match &r {
            Ok(result) => d.notify(describe_result(result), !result.errors.is_empty()),
            Err(e) => d.notify(e.to_string(), true),
        }
        reload();
    };
    let recheck_all = move |_| api::spawn(endpoints::recheck_held(session, HeldSelection::default()), report);
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"On hold"</h1>
                <button class="ghost" on:click=move |_| reload()>"Reload"</button>
                <Show when=move || session.can_operate()>
                    <button id="recheck-all" class="primary" on:click=recheck_all>"Re-check all now"</button>
                </Show>
            </div>
            <p class="muted">
                "Values DHIS2 refused only because their period is closed or their data approved wait here. "
                "The gateway asks DHIS2 again on its schedule and sends them as soon as DHIS2 would take them."
            </p>
            <Loaded state=data view={move |groups: Vec<HeldGroup>| {
                if groups.is_empty() {
                    return view! { <Empty text="Nothing is on hold."/> }.into_any();
                }
                view! {
                    <table class="grid" id="held">
                        <thead><tr>
                            <th>"Why, and what DHIS2 needs"</th><th>"Values"</th><th>"Submissions"</th><th>"Partners"</th>
                            <th>"Server"</th><th>"On hold since"</th><th>"Last asked"</th><th></th>
                        </tr></thead>
                        <tbody>
                            {groups.into_iter().map(|g| view! { <HeldRow g report/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}/>
        </section>
    }
}

#[component]
fn HeldRow(g: HeldGroup, report: impl Fn(ApiResult<HeldResult>) + Copy + Send + Sync + 'static) -> impl IntoView {
    let session = expect_context::<Session>();
    let d = dialogs();
    let selection = selection_of(&g);
    let reason = RwSignal::new(String::new());
    let recheck = {
        let selection = selection.clone();
        move |_| api::spawn(endpoints::recheck_held(session, selection.clone()), report)
    };
    let release = {
        let selection = selection.clone();
        move |_| {
            let selection = selection.clone();
            d.ask(
                "Release anyway",
                "Send these values to DHIS2 again without asking first? If DHIS2 still refuses them they stay on hold.",
                "Send",
                false,
                move || api::spawn(endpoints::release_held(session, selection.clone()), report),
            );
        }
    };
    let discard = move |_| {
        let selection = HeldSelection { reason: Some(reason.get_untracked()), ..selection.clone() };
        d.ask(
            "Discard held values",
            "Give these values up? They will never reach DHIS2, and their submissions end as partly stored or rejected.",
            "Discard",
            true,
            move || api::spawn(endpoints::discard_held(session, selection.clone()), report),
        );
    };
    let class_title = g.class.title();
    view! {
        <tr data-period=g.period.clone() data-org-unit=g.org_unit.clone()>
            <td class="held-reason">
                <span class="badge status-held">{class_title}</span>" "
                {g.reason.clone()}
                {g.error_code.clone().map(|c| view! { <span class="muted mono">{format!(" ({c})")}</span> })}
            </td>
            <td class="num">{format::count(g.values)}</td>
            <td class="num">{format::count(g.submissions)}</td>
            <td>{g.partners.join(", ")}</td>
            <td>{g.server.clone()}</td>
            <td>{format::local_time(&g.oldest)}</td>
            <td>{format::local_time_opt(&g.last_checked_at)}</td>
            <td class="row-actions">
                <Show when=move || session.can_operate()>
                    <button class="small primary recheck" on:click=recheck.clone()>"Re-check now"</button>
                </Show>
                <Show when=move || session.is_admin()>
                    <button class="small release" on:click=release.clone()>"Release anyway"</button>
                    <input class="small" aria-label="Why discard" placeholder="why discard?"
                        prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev))/>
                    <button class="small danger discard" disabled=move || reason.with(|r| r.trim().is_empty()) on:click=discard.clone()>
                        "Discard"
                    </button>
                </Show>
            </td>
        </tr>
    }
}

/// The refused-values list's filters, as `GET /logs/refused` names them, with their labels.
const FILTERS: [(&str, &str); 7] = [
    ("code", "DHIS2 code"),
    ("element", "Data element or key"),
    ("org_unit", "Org unit"),
    ("period", "Period"),
    ("user", "Partner"),
    ("from_date", "From"),
    ("to_date", "To"),
];

#[component]
pub fn Refused() -> impl IntoView {
    let session = expect_context::<Session>();
    let filters = RwSignal::new(BTreeMap::<String, String>::new());
    let page = RwSignal::new(1i64);
    let page_size = RwSignal::new(50i64);
    let data = RwSignal::new(Load::<Page<RefusedValue>>::Loading);
    let current = move |p: i64, size: i64| endpoints::filter_from::<RefusedFilter>(&filters.get(), p, size);
    Effect::new(move |_| {
        let filter = current(page.get(), page_size.get());
        load_into(data, async move { endpoints::refused(session, filter?).await });
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
                <h1>"Refused values"</h1>
                <ExportButtons route=paths::LOGS_REFUSED_EXPORT inputs=filters/>
            </div>
            <form class="filters" on:submit=|ev| ev.prevent_default() aria-label="filters">
                <label>"Who must act"
                    <select id="refused-class" on:change=move |ev| set("class", event_target_value(&ev))>
                        <option value="">"Any"</option>
                        {RefusalClass::ALL.iter().map(|c| view! { <option value=c.as_str()>{c.title()}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Outcome"
                    <select id="refused-outcome" on:change=move |ev| set("outcome", event_target_value(&ev))>
                        <option value="">"Not stored (any)"</option>
                        {VALUE_OUTCOMES[2..].iter().map(|o| view! { <option value=*o>{format::outcome_label(o)}</option> }).collect_view()}
                    </select>
                </label>
                {FILTERS.iter().map(|(key, label)| {
                    let key = *key;
                    let kind = if key.ends_with("_date") { "date" } else { "search" };
                    view! { <label>{*label}<input id=format!("refused-{key}") type=kind on:change=move |ev| set(key, event_target_value(&ev))/></label> }
                }).collect_view()}
            </form>
            <Loaded state=data view={move |p: Page<RefusedValue>| {
                if p.items.is_empty() {
                    return view! { <Empty text="No value DHIS2 refused matches."/> }.into_any();
                }
                view! {
                    <table class="grid" id="refused">
                        <thead><tr>
                            <th>"Submission"</th><th>"Partner"</th><th>"Key"</th><th>"Org unit"</th><th>"Period"</th>
                            <th>"Outcome"</th><th>"What went wrong, and who must act"</th><th>"When"</th>
                        </tr></thead>
                        <tbody>
                            {p.items.into_iter().map(|r| {
                                let v = r.value;
                                view! {
                                    <tr>
                                        <td><a href=Route::Submission(r.submission_id).href()>{r.submission_id}</a></td>
                                        <td>{r.user.clone().unwrap_or_default()}</td>
                                        <td class="mono">{v.partner_key.clone().or(v.data_element.clone()).unwrap_or_default()}</td>
                                        <td class="mono">{v.org_unit.clone().unwrap_or_default()}</td>
                                        <td>{v.period.clone().unwrap_or_default()}</td>
                                        <td><OutcomeBadge outcome=v.outcome.clone()/></td>
                                        <WhyNotStored v=v.clone()/>
                                        <td>{format::local_time_opt(&v.decided_at)}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}/>
            <Pager page page_size total/>
        </section>
    }
}
