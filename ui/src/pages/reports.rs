//! Reporting: for a data set, which expected reports arrived on time, late or not at all, as a
//! period × org-unit grid (or rolled up to a level), with each partner's share, the submissions
//! behind a cell, and the grid as a CSV or Excel file.

use std::collections::BTreeMap;

use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{
    Completeness, CompletenessFilter, CompletenessRow, OrgUnitLevel, ReportCell, ReportState, ReportSubmission,
};
use leptos::prelude::*;

use crate::api;
use crate::components::{Empty, ExportButtons, Load, Loaded, Pager, Picker, StatusBadge, load_into};
use crate::endpoints;
use crate::format;
use crate::pickers;
use crate::platform;
use crate::route::{self, Route};
use crate::session::Session;

/// The report's filters, as the API names them; `level` and paging are apart.
const FILTERS: [(&str, &str); 5] = [
    ("data_set", "Data set"),
    ("period_from", "From period"),
    ("period_to", "To period"),
    ("org_unit", "Within org unit"),
    ("partner", "Partner"),
];

/// The filter the API takes, from the inputs.
fn filter(inputs: &BTreeMap<String, String>, level: Option<i32>, page: i64, page_size: i64) -> CompletenessFilter {
    let get = |key: &str| inputs.get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    CompletenessFilter {
        data_set: get("data_set"),
        period_from: get("period_from"),
        period_to: get("period_to"),
        partner: get("partner"),
        org_unit: get("org_unit"),
        level,
        page: Some(page),
        page_size: Some(page_size),
        format: None,
    }
}

/// A cell in a few characters: a unit's state, or how many of a rolled-up row's arrived.
fn cell_text(cell: &ReportCell, units: i64) -> String {
    let r = &cell.reports;
    if r.expected == 0 {
        return "–".into();
    }
    if units > 1 {
        return format!("{}/{}", r.received(), r.expected);
    }
    match r.state() {
        ReportState::OnTime => "✓".into(),
        ReportState::Late => "late".into(),
        ReportState::Missing => "missing".into(),
        ReportState::Due => "due".into(),
        ReportState::NotExpected => "–".into(),
    }
}

/// What a cell holds, for its tooltip.
fn cell_title(cell: &ReportCell) -> String {
    let (r, v) = (&cell.reports, &cell.values);
    let mut text = format!(
        "{}: {} expected, {} on time, {} late, {} missing, {} not due yet",
        r.state().label(),
        r.expected,
        r.on_time,
        r.late,
        r.missing,
        r.due
    );
    if v.received > 0 {
        text.push_str(&format!(
            "\nValues: {} received, {} stored, {} held, {} refused",
            v.received, v.stored, v.held, v.refused
        ));
    }
    if let Some(first) = &cell.first_received_at {
        text.push_str(&format!("\nFirst received {}", format::local_time(first)));
    }
    text
}

/// The cell whose submissions are shown: (row's org unit, its name, period, period label).
type OpenCell = Option<(String, String, String, String)>;

#[component]
pub fn Reports() -> impl IntoView {
    let session = expect_context::<Session>();
    let mut saved = platform::settings().report_filters;
    let level = RwSignal::new(saved.remove("level").and_then(|l| l.parse::<i32>().ok()));
    saved.retain(|k, _| FILTERS.iter().any(|(f, _)| f == k));
    let inputs = RwSignal::new(saved);
    let levels = RwSignal::new(Vec::<OrgUnitLevel>::new());
    let page = RwSignal::new(1i64);
    let page_size = RwSignal::new(50i64);
    let data = RwSignal::new(Load::<Completeness>::Loading);
    let open = RwSignal::new(None as OpenCell);
    let reload_count = RwSignal::new(0u32);
    if session.is_staff() {
        api::spawn(endpoints::org_unit_levels(session), move |r| {
            if let Ok(found) = r
                && !levels.is_disposed()
            {
                levels.set(found);
            }
        });
    }
    // The filters with the level: what the export takes and what is remembered.
    let all_inputs = Signal::derive(move || {
        let mut all = inputs.get();
        if let Some(l) = level.get() {
            all.insert("level".into(), l.to_string());
        }
        all
    });
    // Remembered when they change (not at mount), so coming back from a submission finds them.
    Effect::new(move |mounted: Option<()>| {
        let remembered = all_inputs.get();
        if mounted.is_some() {
            platform::update_settings(|s| s.report_filters = remembered);
        }
    });
    let chosen = move || inputs.with(|i| i.get("data_set").is_some_and(|d| !d.trim().is_empty()));
    Effect::new(move |_| {
        reload_count.track();
        let f = inputs.with(|i| filter(i, level.get(), page.get(), page_size.get()));
        if f.data_set.is_none() {
            return;
        }
        open.set(None);
        load_into(data, endpoints::completeness(session, f));
    });
    let set = move |key: &'static str, value: String| {
        inputs.update(|i| {
            i.insert(key.to_string(), value);
        });
        page.set(1);
    };
    let total = Signal::derive(move || data.with(|d| d.ready().map_or(0, |c| c.rows.total)));

    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Reporting"</h1>
                <button on:click=move |_| reload_count.update(|n| *n += 1)>"Refresh"</button>
                <ExportButtons route=paths::REPORTS_COMPLETENESS_EXPORT inputs=all_inputs/>
            </div>
            <form class="filters" on:submit=|ev| ev.prevent_default() aria-label="filters">
                {FILTERS
                    .iter()
                    .filter(|(key, _)| *key != "partner" || session.is_staff())
                    .map(|(key, label)| {
                        let key = *key;
                        let value = Signal::derive(move || inputs.with(|i| i.get(key).cloned().unwrap_or_default()));
                        let pick = Callback::new(move |uid: String| set(key, uid));
                        let input = match key {
                            "data_set" => view! {
                                <Picker id="report-data_set" value on_pick=pick placeholder="name or code"
                                    search=move |q| pickers::metadata(session, "dataSet", q, None, None)/>
                            }.into_any(),
                            "org_unit" => view! {
                                <Picker id="report-org_unit" value on_pick=pick placeholder="name or code"
                                    search=move |q| pickers::org_units(session, q)/>
                            }.into_any(),
                            _ => view! {
                                <input
                                    id=format!("report-{key}")
                                    type="search"
                                    placeholder=if key.starts_with("period") { "e.g. 202505" } else { "username" }
                                    prop:value=move || value.get()
                                    on:change=move |ev| set(key, event_target_value(&ev))
                                />
                            }.into_any(),
                        };
                        view! { <label>{*label}{input}</label> }
                    })
                    .collect_view()}
                <Show when=move || !levels.with(Vec::is_empty)>
                    <label>
                        "Rows"
                        <select id="report-level" on:change=move |ev| {
                            level.set(event_target_value(&ev).parse().ok());
                            page.set(1);
                        }>
                            <option value="" selected=move || level.get().is_none()>"Each org unit"</option>
                            {move || levels.get().into_iter().map(|l| {
                                let n = l.level;
                                view! {
                                    <option value=n.to_string() selected=move || level.get() == Some(n)>
                                        {format!("By {} (level {n})", l.name.to_lowercase())}
                                    </option>
                                }
                            }).collect_view()}
                        </select>
                    </label>
                </Show>
            </form>
            <Show
                when=chosen
                fallback=|| view! { <Empty text="Choose a data set to see which of its expected reports arrived, on time or late, and which are missing."/> }
            >
                <Loaded state=data view={move |c: Completeness| view! { <Report c open page page_size total/> }}/>
            </Show>
            {move || open.get().map(|cell| view! { <CellSubmissions cell inputs open/> })}
        </section>
    }
}

/// The figures, each partner's share, the legend and the grid.
#[component]
fn Report(
    c: Completeness,
    open: RwSignal<OpenCell>,
    page: RwSignal<i64>,
    page_size: RwSignal<i64>,
    total: Signal<i64>,
) -> impl IntoView {
    let t = c.total;
    let v = c.values;
    let figures = format!(
        "{} of {} expected reports of {} received: {} on time, {} late; {} missing, {} not due yet. \
         Values: {} received, {} stored in DHIS2, {} on hold, {} refused. Timely within {} days of a period's end.",
        format::count(t.received()),
        format::count(t.expected),
        c.data_set_name,
        format::count(t.on_time),
        format::count(t.late),
        format::count(t.missing),
        format::count(t.due),
        format::count(v.received),
        format::count(v.stored),
        format::count(v.held),
        format::count(v.refused),
        c.timely_days
    );
    let partners = c.partners.clone();
    let periods = c.periods.clone();
    let rows = c.rows.items.clone();
    view! {
        <p class="report-figures" id="report-figures">{figures}</p>
        {(!partners.is_empty()).then(|| view! {
            <ul class="report-partners" id="report-partners">
                {partners.into_iter().map(|p| view! {
                    <li class=format!("report-{}", p.reports.state().as_str())>{p.summary}</li>
                }).collect_view()}
            </ul>
        })}
        <p class="legend">
            {[ReportState::OnTime, ReportState::Late, ReportState::Missing, ReportState::Due, ReportState::NotExpected]
                .into_iter()
                .map(|s| view! { <span class=format!("report-cell report-{}", s.as_str())>{s.label()}</span> })
                .collect_view()}
        </p>
        {if rows.is_empty() {
            view! { <Empty text="No org unit is expected to report this data set within these filters."/> }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                    <table class="report-grid" id="report-grid">
                        <thead>
                            <tr>
                                <th>"Org unit"</th>
                                {periods.iter().map(|p| view! {
                                    <th title=format!("Timely until {}", p.timely_until.format("%-d %b %Y"))>{p.label.clone()}</th>
                                }).collect_view()}
                                <th>"Received"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {rows.into_iter().map(|row| view! { <GridRow row periods=periods.clone() open/> }).collect_view()}
                        </tbody>
                    </table>
                </div>
                <Pager page page_size total/>
            }.into_any()
        }}
    }
}

#[component]
fn GridRow(row: CompletenessRow, periods: Vec<dhis2gw_wire::ReportPeriod>, open: RwSignal<OpenCell>) -> impl IntoView {
    let units = row.units;
    let name = row.name.clone();
    let unit_label = if units > 1 { format!(" ({} org units)", units) } else { String::new() };
    let total = format!("{}/{}", row.total.received(), row.total.expected);
    view! {
        <tr>
            <th scope="row">
                {row.name.clone()}{unit_label}
                {row.parent.clone().map(|p| view! { <span class="muted">{format!(" · {p}")}</span> })}
            </th>
            {row.cells.into_iter().zip(periods).map(|(cell, period)| {
                let state = cell.reports.state();
                let key = (row.org_unit.clone(), name.clone(), period.period.clone(), period.label.clone());
                let clickable = cell.values.received > 0 || cell.first_received_at.is_some();
                view! {
                    <td
                        class=format!("report-cell report-{}", state.as_str())
                        class:clickable=clickable
                        data-period=period.period.clone()
                        data-org-unit=row.org_unit.clone()
                        title=cell_title(&cell)
                        on:click=move |_| if clickable { open.set(Some(key.clone())) }
                    >
                        {cell_text(&cell, units)}
                    </td>
                }
            }).collect_view()}
            <td class="num">{total}</td>
        </tr>
    }
}

/// The submissions behind one cell, each opening in the submission log.
#[component]
fn CellSubmissions(
    cell: (String, String, String, String),
    inputs: RwSignal<BTreeMap<String, String>>,
    open: RwSignal<OpenCell>,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let (org_unit, name, period, label) = cell;
    let found = RwSignal::new(Load::<Vec<ReportSubmission>>::Loading);
    // The row's unit (a rolled-up one stands for its subtree) in the cell's period.
    let mut f = inputs.with_untracked(|i| filter(i, None, 1, 1));
    f.org_unit = Some(org_unit);
    f.period_from = Some(period.clone());
    f.period_to = Some(period);
    (f.page, f.page_size) = (None, None);
    load_into(found, endpoints::report_submissions(session, f));
    view! {
        <div class="card report-submissions" id="report-submissions">
            <div class="page-head">
                <h2>{format!("Submissions for {name}, {label}")}</h2>
                <button class="ghost" on:click=move |_| open.set(None)>"Close"</button>
            </div>
            <Loaded state=found view={move |list: Vec<ReportSubmission>| {
                if list.is_empty() {
                    return view! { <Empty text="Nothing was received for this cell."/> }.into_any();
                }
                view! {
                    <table>
                        <thead>
                            <tr><th>"Received"</th><th>"Partner"</th><th>"Org unit"</th><th>"Period"</th><th>"Values"</th><th>"Status"</th><th></th></tr>
                        </thead>
                        <tbody>
                            {list.into_iter().map(|s| {
                                let id = s.submission_id;
                                let unit = s.org_unit_name.clone().unwrap_or_else(|| s.org_unit.clone());
                                view! {
                                    <tr>
                                        <td>{format::local_time(&s.received_at)}</td>
                                        <td>{s.partner.clone().unwrap_or_else(|| "–".into())}</td>
                                        <td>{unit}</td>
                                        <td>{s.period.clone()}</td>
                                        <td class="num">{s.values}</td>
                                        <td>{match s.status.clone() {
                                            Some(status) => view! { <StatusBadge status/> }.into_any(),
                                            None => view! { <span class="muted">"archived"</span> }.into_any(),
                                        }}</td>
                                        <td>{s.status.is_some().then(|| view! {
                                            <button class="ghost open-submission" on:click=move |_| route::go(&Route::Submission(id))>
                                                {format!("Open #{id}")}
                                            </button>
                                        })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}/>
        </div>
    }
}
