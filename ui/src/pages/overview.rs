//! Overview: submissions by status for today, 7 and 30 days, a chart by day and outcome, the
//! queue, the last delivery error and every DHIS2 server's health. Refreshes itself.

use std::time::Duration;

use dhis2gw_wire::{DailyCounts, Dhis2Server, MetadataStatus, Overview as OverviewData, StatusCounts, Storage};
use leptos::prelude::*;

use crate::api;
use crate::components::{Load, Loaded, StatusBadge, dialogs, load_into};
use crate::endpoints;
use crate::format;
use crate::route::Route;
use crate::session::Session;

/// Statuses in the order the chart stacks them (outcomes first, work in progress on top).
pub const CHART_STATUSES: [&str; 7] = ["succeeded", "warning", "failed", "dead", "retrying", "processing", "queued"];

const REFRESH_EVERY: Duration = Duration::from_secs(10);

#[component]
pub fn Overview() -> impl IntoView {
    let session = expect_context::<Session>();
    let state = RwSignal::new(Load::<OverviewData>::Loading);
    let auto = RwSignal::new(true);
    let reload = move || load_into(state, endpoints::overview(session));
    reload();
    if let Ok(handle) = set_interval_with_handle(
        move || {
            if auto.get_untracked() {
                reload();
            }
        },
        REFRESH_EVERY,
    ) {
        on_cleanup(move || handle.clear());
    }
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Overview"</h1>
                <label class="inline">
                    <input type="checkbox" bind:checked=auto/>
                    " Refresh every 10 s"
                </label>
                <button on:click=move |_| reload()>"Refresh now"</button>
                <span class="muted small">
                    {move || state.with(|s| s.ready().map(|o| format!("Updated {}", format::local_time(&o.generated_at))))}
                </span>
            </div>
            <Loaded state view={move |o: OverviewData| view! { <OverviewBody o reload=Callback::new(move |()| reload())/> }}/>
        </section>
    }
}

#[component]
fn OverviewBody(o: OverviewData, reload: Callback<()>) -> impl IntoView {
    let last_error = o.last_error.clone();
    view! {
        <div class="cards">
            {o.windows.iter().map(|w| view! { <WindowCard w=w.clone()/> }).collect_view()}
            <div class="card stat">
                <h2>"Queue"</h2>
                <p class="big">{format::count(o.queue.pending)}</p>
                <p class="muted">
                    {format!(
                        "deliveries waiting · {} being sent · {} due now · {} scheduled",
                        o.queue.in_flight,
                        o.queue.due,
                        o.queue.scheduled,
                    )}
                </p>
            </div>
            <div class="card stat" id="held-card">
                <h2><a href=crate::route::Route::Held.href()>"On hold"</a></h2>
                <p class="big">{format::count(o.held.values)}</p>
                <p class="muted">
                    {if o.held.values == 0 {
                        "values waiting for DHIS2 to open a period".to_string()
                    } else {
                        format!(
                            "values in {} waiting for DHIS2 · oldest {}",
                            format::plural(o.held.groups, "group", "groups"),
                            format::local_time_opt(&o.held.oldest),
                        )
                    }}
                </p>
            </div>
        </div>
        <div class="card">
            <h2>"Submissions per day, last 30 days (" {o.timezone.clone()} ")"</h2>
            <Chart daily=o.daily.clone()/>
        </div>
        <div class="card">
            <h2>"Last delivery error"</h2>
            {match last_error {
                None => view! { <p class="muted">"No delivery has failed."</p> }.into_any(),
                Some(e) => {
                    view! {
                        <p id="last-error">
                            <a href=Route::Submission(e.submission_id).href()>{format!("Submission {}", e.submission_id)}</a>
                            {format!(
                                " to {} at {}{}: ",
                                e.server.clone().unwrap_or_else(|| "DHIS2".into()),
                                format::local_time(&e.at),
                                e.http_status.map(|s| format!(" (HTTP {s})")).unwrap_or_default(),
                            )}
                            {e.error.clone()}
                        </p>
                    }
                        .into_any()
                }
            }}
        </div>
        <Metadata m=o.metadata.clone() reload/>
        <Servers servers=o.servers.clone() reload/>
        <StorageCard s=o.storage.clone()/>
    }
}

/// Bytes in the unit that fits: `812 kB`, `3.4 MB`, `12.0 GB`.
pub fn size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    match b {
        b if b < 1e6 => format!("{:.0} kB", b / 1e3),
        b if b < 1e9 => format!("{:.1} MB", b / 1e6),
        b => format!("{:.1} GB", b / 1e9),
    }
}

/// How much the database holds: its size, the largest tables and the oldest submission.
#[component]
fn StorageCard(s: Storage) -> impl IntoView {
    let oldest = match s.oldest_submission {
        Some(t) => format!("the oldest submission kept is from {}", format::local_time(&t)),
        None => "no submission is kept yet".into(),
    };
    view! {
        <div class="card" id="storage">
            <h2>"Storage"</h2>
            <p>{format!(
                "The database holds {}; {oldest}. Archives take {}.",
                size(s.database_bytes),
                size(s.archive_bytes)
            )}</p>
            <table class="grid">
                <thead><tr><th>"Table"</th><th>"Rows"</th><th>"Size"</th></tr></thead>
                <tbody>
                    {s.tables.into_iter().take(8).map(|t| view! {
                        <tr><td class="mono">{t.table}</td><td>{format::count(t.rows)}</td><td>{size(t.bytes)}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Which country's DHIS2 this is, whether submissions are checked against its metadata (and
/// if not, why), what the copy holds; admins sync it now.
#[component]
fn Metadata(m: MetadataStatus, reload: Callback<()>) -> impl IntoView {
    let session = expect_context::<Session>();
    let d = dialogs();
    let syncing = RwSignal::new(false);
    let sync = move |_| {
        syncing.set(true);
        api::spawn(endpoints::sync_metadata(session), move |r| {
            syncing.set(false);
            d.outcome(&r, "DHIS2's metadata synced");
            reload.run(());
        });
    };
    let holds = format!(
        "{} data sets, {} data elements, {} category combos, {} option sets",
        m.data_sets, m.data_elements, m.category_combos, m.option_sets
    );
    view! {
        <div class="card" id="metadata">
            <h2>{format!("DHIS2 metadata{}", m.country.clone().map(|c| format!(" · {c}")).unwrap_or_default())}</h2>
            {if m.validation_on {
                view! {
                    <p id="validation">
                        <span class="badge status-succeeded">"Checking submissions"</span>
                        {format!(" ({}): what DHIS2 would refuse is refused at the door.", m.validation.as_str())}
                    </p>
                }.into_any()
            } else {
                view! {
                    <p id="validation">
                        <span class="badge status-warning">"Not checking submissions"</span>
                        " " {m.reason.clone().unwrap_or_default()}
                    </p>
                }.into_any()
            }}
            <p class="muted">
                {match m.synced_at {
                    Some(at) => format!("Synced {}: {holds}.", format::local_time(&at)),
                    None => "Never synced.".to_string(),
                }}
            </p>
            {m.last_error.clone().map(|e| view! { <p class="error">{format!("The last sync failed (the copy from before is used): {e}")}</p> })}
            {(!m.warnings.is_empty()).then(|| view! {
                <ul class="warning-box">{m.warnings.iter().map(|w| view! { <li>{w.clone()}</li> }).collect_view()}</ul>
            })}
            <Show when=move || session.is_admin()>
                <button id="sync-metadata" disabled=move || syncing.get() on:click=sync>
                    {move || if syncing.get() { "Syncing…" } else { "Sync metadata now" }}
                </button>
            </Show>
        </div>
    }
}

#[component]
fn WindowCard(w: StatusCounts) -> impl IntoView {
    let title = match w.window.as_str() {
        "today" => "Today".to_string(),
        "7d" => "Last 7 days".to_string(),
        "30d" => "Last 30 days".to_string(),
        other => other.to_string(),
    };
    let window = w.window.clone();
    view! {
        <div class="card stat" data-window=window>
            <h2>{title}</h2>
            <p class="big">{format::count(w.total)}</p>
            <ul class="counts">
                {CHART_STATUSES
                    .iter()
                    .filter_map(|s| w.by_status.get(*s).filter(|n| **n > 0).map(|n| (*s, *n)))
                    .map(|(s, n)| view! { <li><StatusBadge status=s/>" " {format::count(n)}</li> })
                    .collect_view()}
            </ul>
        </div>
    }
}

/// Bar heights of a stacked bar: each status's share of the tallest day, in chart units.
pub fn stack(day: &DailyCounts, tallest: i64, height: f64) -> Vec<(&'static str, f64)> {
    if tallest <= 0 {
        return Vec::new();
    }
    CHART_STATUSES
        .iter()
        .filter_map(|s| day.by_status.get(*s).filter(|n| **n > 0).map(|n| (*s, *n as f64 / tallest as f64 * height)))
        .collect()
}

/// A stacked bar chart in SVG: one bar per day, coloured by outcome.
#[component]
fn Chart(daily: Vec<DailyCounts>) -> impl IntoView {
    const HEIGHT: f64 = 160.0;
    const BAR: f64 = 18.0;
    let tallest = daily.iter().map(|d| d.by_status.values().sum::<i64>()).max().unwrap_or(0);
    if tallest == 0 {
        return view! { <p class="empty">"No submissions in the last 30 days."</p> }.into_any();
    }
    let width = daily.len() as f64 * (BAR + 4.0);
    let bars = daily
        .iter()
        .enumerate()
        .map(|(i, day)| {
            let x = i as f64 * (BAR + 4.0);
            let total: i64 = day.by_status.values().sum();
            let mut y = HEIGHT;
            let parts = stack(day, tallest, HEIGHT)
                .into_iter()
                .map(|(status, h)| {
                    y -= h;
                    view! { <rect class=format!("fill-{status}") x=x y=y width=BAR height=h></rect> }
                })
                .collect_view();
            view! {
                <g>
                    <title>{format!("{}: {} submissions", day.day, total)}</title>
                    {parts}
                </g>
            }
        })
        .collect_view();
    let first = daily.first().map(|d| d.day.clone()).unwrap_or_default();
    let last = daily.last().map(|d| d.day.clone()).unwrap_or_default();
    view! {
        <figure class="chart">
            <svg
                viewBox=format!("0 0 {width} {}", HEIGHT + 2.0)
                preserveAspectRatio="none"
                role="img"
                aria-label="Submissions per day by outcome"
            >
                {bars}
            </svg>
            <figcaption>
                <span>{first}</span>
                <span class="legend">
                    {CHART_STATUSES
                        .iter()
                        .map(|s| view! { <span><i class=format!("swatch fill-{s}")></i>{format::status_label(s)}</span> })
                        .collect_view()}
                </span>
                <span>{last}</span>
            </figcaption>
        </figure>
    }
    .into_any()
}

/// Every DHIS2 server: reachability, version, what waits for it; admins pause and resume.
#[component]
fn Servers(servers: Vec<Dhis2Server>, reload: Callback<()>) -> impl IntoView {
    let session = expect_context::<Session>();
    let d = dialogs();
    let toggle = move |server: Dhis2Server| {
        let enabled = !server.enabled;
        let name = server.name.clone();
        api::spawn(endpoints::switch_server(session, server.uid.clone(), enabled), move |r| {
            d.outcome(&r, if enabled { format!("{name}: deliveries resumed") } else { format!("{name}: paused") });
            reload.run(());
        });
    };
    view! {
        <div class="card">
            <h2>"DHIS2 servers"</h2>
            <table class="grid" id="servers">
                <thead>
                    <tr>
                        <th>"Server"</th>
                        <th>"Address"</th>
                        <th>"Reachable"</th>
                        <th>"DHIS2 version"</th>
                        <th>"Checked"</th>
                        <th>"Waiting"</th>
                        <th>"Deliveries"</th>
                    </tr>
                </thead>
                <tbody>
                    {servers
                        .into_iter()
                        .map(|s| {
                            let reachable = s.last_checked_at.is_some() && s.last_error.as_deref().unwrap_or("").is_empty();
                            let server = s.clone();
                            view! {
                                <tr>
                                    <td>
                                        {s.name.clone()} {s.is_primary.then_some(" (primary)")}
                                        {s.metadata_problem.clone().map(|p| view! { <span class="problem small metadata-problem">{format!("Metadata: {p}")}</span> })}
                                    </td>
                                    <td class="mono">{s.base_url.clone()}</td>
                                    <td>
                                        {if s.last_checked_at.is_none() {
                                            view! { <span class="muted">"not checked yet"</span> }.into_any()
                                        } else if reachable {
                                            view! { <span class="badge status-succeeded">"Yes"</span> }.into_any()
                                        } else {
                                            view! {
                                                <span class="badge status-failed" title=s.last_error.clone().unwrap_or_default()>"No"</span>
                                                " "
                                                <span class="small">{s.last_error.clone().unwrap_or_default()}</span>
                                            }
                                                .into_any()
                                        }}
                                    </td>
                                    <td>{s.dhis2_version.clone().unwrap_or_else(|| "—".into())}</td>
                                    <td>{format::local_time_opt(&s.last_checked_at)}</td>
                                    <td>{format::count(s.pending)}</td>
                                    <td>
                                        {if s.enabled { "On" } else { "Paused" }}
                                        {s.maintenance_until.map(|until| view! {
                                            " "
                                            <span class="badge status-retrying maintenance-until">
                                                {format!("Maintenance until {}", format::local_time(&until))}
                                            </span>
                                        })}
                                        {(!s.maintenance.is_empty()).then(|| view! {
                                            <div class="small muted maintenance">{format!("Maintenance: {}", s.maintenance.join("; "))}</div>
                                        })}
                                        {(s.coalesce_max_values > 0).then(|| view! {
                                            <div class="small muted coalescing">
                                                {format!("Waiting submissions go together, up to {} values a request", format::count(s.coalesce_max_values as i64))}
                                            </div>
                                        })}
                                        <Show when=move || session.is_admin()>
                                            {
                                                let server = server.clone();
                                                view! {
                                                    " "
                                                    <button class="small" on:click=move |_| toggle(server.clone())>
                                                        {if server.enabled { "Pause" } else { "Resume" }}
                                                    </button>
                                                }
                                            }
                                        </Show>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn sizes_read_in_the_unit_that_fits() {
        assert_eq!(size(812_000), "812 kB");
        assert_eq!(size(3_420_000), "3.4 MB");
        assert_eq!(size(12_000_000_000), "12.0 GB");
    }

    #[wasm_bindgen_test]
    fn bars_scale_to_the_tallest_day_and_stack_in_a_fixed_order() {
        let day = DailyCounts {
            day: "2026-11-26".into(),
            by_status: [("queued".to_string(), 1), ("succeeded".to_string(), 3), ("failed".to_string(), 0)].into(),
        };
        assert_eq!(stack(&day, 8, 160.0), vec![("succeeded", 60.0), ("queued", 20.0)]);
        assert!(stack(&day, 0, 160.0).is_empty());
    }
}
