//! The submission log: filters (remembered), sorting, paging, multi-select with "all matching"
//! for bulk requeue and delete, purge by date, and a detail panel with every attempt.

use std::collections::{BTreeMap, BTreeSet};

use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{
    Attempt, DestinationView, Page, RefusalClass, RequeueRequest, SUBMISSION_STATUSES, Submission, SubmissionDetail,
    ValueOutcome,
};
use leptos::prelude::*;

use crate::api;
use crate::components::{
    Empty, ExportButtons, Load, Loaded, Named, OutcomeBadge, Pager, Picker, StatusBadge, WhyNotStored, dialogs,
    load_into, read_dropped,
};
use crate::endpoints;
use crate::format;
use crate::pages::data_upload::{self, DataUpload, Upload};
use crate::pickers;
use crate::platform;
use crate::route::{self, Route};
use crate::session::Session;

/// The log's filters, as `GET /logs` names them, with their labels.
pub const FILTERS: [(&str, &str); 11] = [
    ("from_date", "From"),
    ("to_date", "To"),
    ("data_set", "Data set"),
    ("org_unit", "Org unit"),
    ("period", "Period"),
    ("user", "Partner"),
    ("task_id", "Task id"),
    ("job_id", "Submission or job id"),
    ("q", "Text in payload"),
    ("code", "Refused with code"),
    ("element", "Refused element or key"),
];

/// Columns that sort, by the name `sort=` takes.
const SORTABLE: [(&str, &str); 8] = [
    ("submitted_at", "Submitted"),
    ("status", "Status"),
    ("user", "Partner"),
    ("data_set", "Data set"),
    ("org_unit", "Org unit"),
    ("period", "Period"),
    ("retry_count", "Retries"),
    ("last_attempt_at", "Last attempt"),
];

/// The remembered view of the log: filters plus `sort`, `order` and `page_size`.
#[derive(Clone, Debug, PartialEq)]
pub struct LogView {
    pub filters: BTreeMap<String, String>,
    pub sort: String,
    pub order: String,
    pub page_size: i64,
}

impl LogView {
    pub fn from_settings(saved: &BTreeMap<String, String>) -> Self {
        let mut filters = saved.clone();
        let sort = filters.remove("sort").unwrap_or_else(|| "submitted_at".into());
        let order = filters.remove("order").unwrap_or_else(|| "desc".into());
        let page_size = filters.remove("page_size").and_then(|n| n.parse().ok()).unwrap_or(25);
        filters.retain(|k, v| {
            !v.trim().is_empty() && (k == "status" || k == "class" || FILTERS.iter().any(|(f, _)| f == k))
        });
        LogView { filters, sort, order, page_size }
    }

    pub fn to_settings(&self) -> BTreeMap<String, String> {
        let mut saved = self.filters.clone();
        saved.insert("sort".into(), self.sort.clone());
        saved.insert("order".into(), self.order.clone());
        saved.insert("page_size".into(), self.page_size.to_string());
        saved
    }

    /// Clicking a column: sorts by it, or flips the order when it already sorts.
    pub fn sort_by(&mut self, column: &str) {
        if self.sort == column {
            self.order = if self.order == "asc" { "desc".into() } else { "asc".into() };
        } else {
            self.sort = column.to_string();
            self.order = if column == "submitted_at" || column == "last_attempt_at" { "desc" } else { "asc" }.into();
        }
    }

    /// The filters that are set, for a batch action on "all matching".
    pub fn active_filters(&self) -> BTreeMap<String, String> {
        self.filters
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k.clone(), v.trim().to_string()))
            .collect()
    }
}

/// Where each page of the log after the first begins (the `next` of the page before it), for
/// the view they were read in: the pages are read from there, as quickly deep in the log as at
/// its start, instead of by counting the rows before them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Positions {
    view: Option<LogView>,
    starts: BTreeMap<i64, String>,
}

impl Positions {
    pub fn start_of(&self, view: &LogView, page: i64) -> Option<String> {
        self.starts.get(&page).filter(|_| self.view.as_ref() == Some(view)).cloned()
    }

    /// Page `page` of `view` ends at `next` (none on the last page). Another view forgets the
    /// positions of the one before.
    pub fn learn(&mut self, view: &LogView, page: i64, next: Option<String>) {
        if self.view.as_ref() != Some(view) {
            self.view = Some(view.clone());
            self.starts.clear();
        }
        match next {
            Some(next) => self.starts.insert(page + 1, next),
            None => self.starts.remove(&(page + 1)),
        };
    }
}

/// What a bulk action applies to.
#[derive(Clone, Debug, PartialEq)]
pub enum Selection {
    Ids(BTreeSet<i64>),
    /// Every submission the filters match, on every page.
    AllMatching(BTreeMap<String, String>, i64),
}

impl Selection {
    pub fn count(&self) -> i64 {
        match self {
            Selection::Ids(ids) => ids.len() as i64,
            Selection::AllMatching(_, total) => *total,
        }
    }

    pub fn request(&self) -> RequeueRequest {
        match self {
            Selection::Ids(ids) => RequeueRequest { ids: ids.iter().copied().collect(), ..Default::default() },
            Selection::AllMatching(filter, _) => RequeueRequest { filter: Some(filter.clone()), ..Default::default() },
        }
    }
}

/// A batch action on the selected submissions: what to ask, and which route it is.
pub struct BulkAction {
    pub title: &'static str,
    pub verb: &'static str,
    pub question: &'static str,
    /// How the notice afterwards starts.
    pub done: &'static str,
    pub danger: bool,
    pub kind: BulkKind,
}

#[derive(Clone, Copy)]
pub enum BulkKind {
    Requeue,
    Delete,
}

const REQUEUE: BulkAction = BulkAction {
    title: "Requeue submissions",
    verb: "Requeue",
    question: "to DHIS2 again? Aggregate data is rebuilt from the current mappings.",
    done: "Requeued",
    danger: false,
    kind: BulkKind::Requeue,
};

const DELETE: BulkAction = BulkAction {
    title: "Delete submissions",
    verb: "Delete",
    question: "with their delivery history? This cannot be undone.",
    done: "Deleted",
    danger: true,
    kind: BulkKind::Delete,
};

#[component]
pub fn Submissions(open: Option<i64>) -> impl IntoView {
    let session = expect_context::<Session>();
    let d = dialogs();
    let view_state = RwSignal::new(LogView::from_settings(&platform::settings().log_filters));
    let page = RwSignal::new(1i64);
    let page_size = RwSignal::new(view_state.get_untracked().page_size);
    let data = RwSignal::new(Load::<Page<Submission>>::Loading);
    let selected = RwSignal::new(BTreeSet::<i64>::new());
    let all_matching = RwSignal::new(false);
    let reload_count = RwSignal::new(0u32);

    // Remembered when the filters, sort or page size change (not at mount, nor on a page turn
    // or a refresh: in the desktop app each save writes its settings file).
    Effect::new(move |mounted: Option<()>| {
        let mut saved = view_state.get();
        saved.page_size = page_size.get();
        if mounted.is_some() {
            platform::update_settings(|s| s.log_filters = saved.to_settings());
        }
    });
    let positions = RwSignal::new(Positions::default());
    Effect::new(move |_| {
        let mut v = view_state.get();
        let (p, size) = (page.get(), page_size.get());
        v.page_size = size;
        reload_count.track();
        let mut inputs = v.active_filters();
        inputs.extend([("sort".to_string(), v.sort.clone()), ("order".to_string(), v.order.clone())]);
        if let Some(after) = positions.with_untracked(|known| known.start_of(&v, p)) {
            inputs.insert("after".into(), after);
        }
        let filter = endpoints::filter_from(&inputs, p, size);
        load_into(data, async move {
            let listed = endpoints::logs(session, filter?).await?;
            positions.try_update(|known| known.learn(&v, p, listed.next.clone()));
            Ok(listed)
        });
    });
    let reload = move || reload_count.update(|n| *n += 1);
    let upload = RwSignal::new(Upload::Idle);
    let check_upload = data_upload::checker(session, upload);
    let dragging = RwSignal::new(false);
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        if session.can_submit() {
            read_dropped(&ev, move |r| match r {
                Ok(file) => check_upload.run(file),
                Err(e) => upload.set(Upload::Failed(api::ApiError { status: 400, message: e, detail: Vec::new() })),
            });
        }
    };
    let total = Signal::derive(move || data.with(|d| d.ready().map_or(0, |p| p.total)));
    let estimate = Signal::derive(move || data.with(|d| d.ready().is_some_and(|p| p.total_is_estimate)));
    let set_filter = move |key: &'static str, value: String| {
        view_state.update(|v| {
            v.filters.insert(key.to_string(), value);
        });
        page.set(1);
        selected.set(BTreeSet::new());
        all_matching.set(false);
    };
    let selection = move || {
        if all_matching.get() {
            Selection::AllMatching(view_state.with(LogView::active_filters), total.get())
        } else {
            Selection::Ids(selected.get())
        }
    };
    let bulk = move |action: &'static BulkAction| {
        let sel = selection();
        let n = sel.count();
        let question =
            format!("{} {} {}", action.verb, format::plural(n, "submission", "submissions"), action.question);
        d.ask(action.title, question, format!("{} {n}", action.verb), action.danger, move || {
            let done = move |r: Result<(usize, usize, Vec<String>), api::ApiError>| {
                match r {
                    Ok((done, 0, _)) => d.notify(
                        format!("{}: {}", action.done, format::plural(done as i64, "submission", "submissions")),
                        false,
                    ),
                    Ok((done, not, errors)) => {
                        d.notify(format!("{}: {done}, {not} not: {}", action.done, errors.join("; ")), true)
                    }
                    Err(e) => d.notify(e.to_string(), true),
                }
                selected.set(BTreeSet::new());
                all_matching.set(false);
                reload();
            };
            // Both routes take the same selection; their answers name the counts differently.
            match action.kind {
                BulkKind::Requeue => {
                    api::spawn(endpoints::requeue_many(session, sel.request()), move |r| {
                        done(r.map(|r| (r.re_enqueued, r.failed, r.errors)))
                    });
                }
                BulkKind::Delete => {
                    api::spawn(endpoints::delete_many(session, sel.request()), move |r| {
                        done(r.map(|r| (r.deleted, r.skipped, r.errors)))
                    });
                }
            }
        });
    };
    let page_ids =
        move || data.with(|d| d.ready().map(|p| p.items.iter().map(|s| s.id).collect::<Vec<_>>()).unwrap_or_default());
    let whole_page_selected = move || {
        let ids = page_ids();
        !ids.is_empty() && selected.with(|s| ids.iter().all(|id| s.contains(id)))
    };

    view! {
        <section
            class="page"
            id="submissions"
            class:with-detail=open.is_some()
            class:dragging=move || dragging.get()
            on:dragover=move |ev| {
                ev.prevent_default();
                dragging.set(session.can_submit());
            }
            on:dragleave=move |_| dragging.set(false)
            on:drop=on_drop
        >
            <div class="page-head">
                <h1>"Submissions"</h1>
                <button on:click=move |_| reload()>"Refresh"</button>
                <ExportButtons route=paths::LOGS_EXPORT inputs=Signal::derive(move || view_state.with(LogView::active_filters))/>
                <Show when=move || session.is_admin()>
                    <Purge on_done=Callback::new(move |()| reload())/>
                </Show>
            </div>
            <Show when=move || session.can_submit()>
                <DataUpload upload check=check_upload on_done=Callback::new(move |()| reload())/>
            </Show>
            <form class="filters" on:submit=|ev| ev.prevent_default() aria-label="filters">
                <label>
                    "Status"
                    <select id="filter-status" on:change=move |ev| set_filter("status", event_target_value(&ev))>
                        <option value="">"Any"</option>
                        {SUBMISSION_STATUSES
                            .iter()
                            .map(|s| {
                                let s = *s;
                                view! {
                                    <option value=s selected=move || view_state.with(|v| v.filters.get("status").map(String::as_str) == Some(s))>
                                        {format::status_label(s)}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "Refused because"
                    <select id="filter-class" on:change=move |ev| set_filter("class", event_target_value(&ev))>
                        <option value="">"Any"</option>
                        {RefusalClass::ALL
                            .iter()
                            .map(|class| {
                                let (c, title) = (class.as_str(), class.title());
                                view! {
                                    <option value=c selected=move || view_state.with(|v| v.filters.get("class").map(String::as_str) == Some(c))>
                                        {title}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                {FILTERS
                    .iter()
                    .map(|(key, label)| {
                        let key = *key;
                        let kind = if key.ends_with("_date") { "date" } else { "search" };
                        let value = Signal::derive(move || view_state.with(|v| v.filters.get(key).cloned().unwrap_or_default()));
                        let pick = Callback::new(move |uid: String| set_filter(key, uid));
                        let input = match key {
                            "data_set" => view! {
                                <Picker id="filter-data_set" value on_pick=pick placeholder="name or code"
                                    search=move |q| pickers::metadata(session, "dataSet", q, None, None)/>
                            }.into_any(),
                            "org_unit" => view! {
                                <Picker id="filter-org_unit" value on_pick=pick placeholder="name or code"
                                    search=move |q| pickers::org_units(session, q)/>
                            }.into_any(),
                            _ => view! {
                                <input
                                    id=format!("filter-{key}")
                                    type=kind
                                    prop:value=move || value.get()
                                    on:change=move |ev| set_filter(key, event_target_value(&ev))
                                />
                            }.into_any(),
                        };
                        view! { <label>{*label}{input}</label> }
                    })
                    .collect_view()}
                <button
                    type="button"
                    on:click=move |_| {
                        view_state.update(|v| v.filters.clear());
                        page.set(1);
                    }
                >
                    "Clear filters"
                </button>
            </form>
            <Show when=move || session.can_operate()>
                <div class="bulk" id="bulk">
                    {move || {
                        let n = selection().count();
                        if n == 0 { "Select submissions to requeue or delete them.".to_string() } else { format!("{} selected", format::plural(n, "submission", "submissions")) }
                    }}
                    <Show when={move || whole_page_selected() && !all_matching.get() && selected.with(BTreeSet::len) < total.get() as usize}>
                        <button class="link" id="select-all-matching" on:click=move |_| all_matching.set(true)>
                            {move || {
                                let about = if estimate.get() { "about " } else { "" };
                                format!("Select all {about}{} matching", format::count(total.get()))
                            }}
                        </button>
                    </Show>
                    <button id="bulk-requeue" class="primary" disabled=move || selection().count() == 0 on:click=move |_| bulk(&REQUEUE)>"Requeue"</button>
                    <button id="bulk-delete" class="danger" disabled=move || selection().count() == 0 on:click=move |_| bulk(&DELETE)>"Delete"</button>
                </div>
            </Show>
            <div class="split">
                <div class="table-wrap">
                    <Loaded
                        state=data
                        view={move |p: Page<Submission>| {
                            if p.items.is_empty() {
                                return view! { <Empty text="No submissions match these filters."/> }.into_any();
                            }
                            view! {
                                <table class="grid" id="log">
                                    <thead>
                                        <tr>
                                            <th class="check">
                                                <Show when=move || session.can_operate()>
                                                    <input
                                                        type="checkbox"
                                                        aria-label="Select this page"
                                                        prop:checked=move || whole_page_selected() || all_matching.get()
                                                        on:change=move |ev| {
                                                            let on = event_target_checked(&ev);
                                                            all_matching.set(false);
                                                            let ids = page_ids();
                                                            selected.update(|s| {
                                                                for id in ids {
                                                                    if on { s.insert(id); } else { s.remove(&id); }
                                                                }
                                                            });
                                                        }
                                                    />
                                                </Show>
                                            </th>
                                            <th>"#"</th>
                                            {SORTABLE
                                                .iter()
                                                .map(|(col, label)| {
                                                    let col = *col;
                                                    let arrow = move || view_state.with(|v| {
                                                        if v.sort == col { if v.order == "asc" { " ▲" } else { " ▼" } } else { "" }
                                                    });
                                                    view! {
                                                        <th aria-sort=move || view_state.with(|v| (v.sort == col).then(|| if v.order == "asc" { "ascending" } else { "descending" }))>
                                                            <button class="sort" on:click=move |_| { view_state.update(|v| v.sort_by(col)); page.set(1); }>
                                                                {*label}{arrow}
                                                            </button>
                                                        </th>
                                                    }
                                                })
                                                .collect_view()}
                                            <th>"Problem"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {p.items.into_iter().map(|s| view! { <LogRow s selected all_matching open/> }).collect_view()}
                                    </tbody>
                                </table>
                            }
                                .into_any()
                        }}
                    />
                    <Pager page page_size total estimate/>
                </div>
                {open.map(|id| view! { <Detail id on_change=Callback::new(move |()| reload())/> })}
            </div>
        </section>
    }
}

#[component]
fn LogRow(
    s: Submission,
    selected: RwSignal<BTreeSet<i64>>,
    all_matching: RwSignal<bool>,
    open: Option<i64>,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let id = s.id;
    let target = Route::Submission(id);
    let go = {
        let target = target.clone();
        move || route::go(&target)
    };
    let go_key = go.clone();
    let problem = s.errors.clone().or_else(|| s.warnings.first().cloned()).unwrap_or_default();
    view! {
        <tr
            class:current=open == Some(id)
            tabindex="0"
            data-id=id
            on:keydown=move |ev| if ev.key() == "Enter" { go_key() }
        >
            <td class="check">
                <Show when=move || session.can_operate()>
                    <input
                        type="checkbox"
                        aria-label=format!("Select submission {id}")
                        prop:checked=move || all_matching.get() || selected.with(|s| s.contains(&id))
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            all_matching.set(false);
                            selected.update(|s| { if on { s.insert(id); } else { s.remove(&id); } });
                        }
                    />
                </Show>
            </td>
            <td><a href=target.href()>{id}</a></td>
            <td on:click=move |_| go()>{format::local_time(&s.submitted_at)}</td>
            <td><StatusBadge status=s.status.clone()/></td>
            <td>{s.user.clone().unwrap_or_default()}</td>
            <td class="data-set">
                {match s.data_set.clone() {
                    Some(uid) => view! { <Named name=s.data_set_name.clone() uid/> }.into_any(),
                    None => s.kind.clone().into_any(),
                }}
            </td>
            <td class="org-unit">
                {s.org_unit.clone().map(|uid| view! { <Named name=s.org_unit_name.clone() uid hint=s.org_unit_path.clone().unwrap_or_default()/> })}
            </td>
            <td>{s.period.clone().unwrap_or_default()}</td>
            <td>{s.retry_count}</td>
            <td>{format::local_time_opt(&s.last_attempt_at)}</td>
            <td class="problem" title=problem.clone()>{problem.clone()}</td>
        </tr>
    }
}

/// Admins delete every finished submission older than a date.
#[component]
fn Purge(on_done: Callback<()>) -> impl IntoView {
    let session = expect_context::<Session>();
    let d = dialogs();
    let date = RwSignal::new(String::new());
    let purge = move |_| {
        let day = date.get_untracked();
        if day.is_empty() {
            d.notify("Choose the date to purge before.", true);
            return;
        }
        d.ask(
            "Purge the log",
            format!("Delete every finished submission submitted before {day}, with its delivery history? This cannot be undone."),
            "Purge",
            true,
            move || {
                api::spawn(endpoints::purge_logs(session, day.clone()), move |r| {
                    match &r {
                        Ok(m) => d.notify(m.message.clone(), false),
                        Err(e) => d.notify(e.to_string(), true),
                    }
                    on_done.run(());
                });
            },
        );
    };
    view! {
        <span class="purge">
            <label class="inline">"Purge before " <input id="purge-date" type="date" bind:value=date/></label>
            <button class="danger" on:click=purge>"Purge"</button>
        </span>
    }
}

/// One submission: payloads, destinations, every attempt with DHIS2's verdict in plain words.
#[component]
fn Detail(id: i64, on_change: Callback<()>) -> impl IntoView {
    let session = expect_context::<Session>();
    let d = dialogs();
    let state = RwSignal::new(Load::<SubmissionDetail>::Loading);
    let reload = move || load_into(state, endpoints::log(session, id));
    reload();
    // While it is on its way, follow it without the user having to reload.
    if let Ok(handle) = set_interval_with_handle(
        move || {
            let in_progress = state.with_untracked(|s| {
                s.ready().is_some_and(|d| matches!(d.submission.status.as_str(), "queued" | "processing" | "retrying"))
            });
            if in_progress {
                reload();
            }
        },
        std::time::Duration::from_secs(3),
    ) {
        on_cleanup(move || handle.clear());
    }
    let requeue = move |server: Option<String>| {
        let to = server.clone().map(|s| format!(" to {s}")).unwrap_or_default();
        d.ask("Requeue", format!("Send submission {id}{to} again?"), "Requeue", false, move || {
            api::spawn(endpoints::requeue_log(session, id, server.clone()), move |r| {
                d.outcome(&r, format!("Submission {id} requeued"));
                reload();
                on_change.run(());
            });
        });
    };
    let delete = move |_| {
        d.ask("Delete", format!("Delete submission {id} and its delivery history?"), "Delete", true, move || {
            api::spawn(endpoints::delete_log(session, id), move |r| {
                d.outcome(&r, format!("Submission {id} deleted"));
                if r.is_ok() {
                    route::go(&Route::Submissions);
                }
                on_change.run(());
            });
        });
    };
    view! {
        <aside class="detail card" id="detail" aria-label=format!("submission {id}") on:keydown=move |ev| if ev.key() == "Escape" { route::go(&Route::Submissions) }>
            <div class="page-head">
                <h2>{format!("Submission {id}")}</h2>
                <button class="ghost" on:click=move |_| reload()>"Reload"</button>
                <Show when=move || session.can_operate()>
                    <button id="requeue" class="primary" on:click=move |_| requeue(None)>"Requeue"</button>
                    <button id="delete" class="danger" on:click=delete>"Delete"</button>
                </Show>
                <a class="close" href=Route::Submissions.href() aria-label="Close">"✕"</a>
            </div>
            <Loaded state view={move |s: SubmissionDetail| view! { <DetailBody s requeue=Callback::new(move |server| requeue(Some(server)))/> }}/>
        </aside>
    }
}

#[component]
fn DetailBody(s: SubmissionDetail, requeue: Callback<String>) -> impl IntoView {
    let session = expect_context::<Session>();
    let sub = s.submission.clone();
    let several = s.destinations.len() > 1;
    let nowhere = s.destinations.is_empty();
    view! {
        <dl class="facts">
            <dt>"Status"</dt><dd id="detail-status"><StatusBadge status=sub.status.clone()/></dd>
            <dt>"Kind"</dt>
            <dd id="detail-kind">
                {sub.kind.clone()}{sub.source_format.as_deref().map(|f| format!(", sent as {}", format::source_format(f)))}
            </dd>
            <dt>"Submitted"</dt><dd>{format::local_time(&sub.submitted_at)}{sub.user.clone().map(|u| format!(" by {u}"))}</dd>
            <dt>"Task id"</dt><dd class="mono">{sub.task_id.clone().unwrap_or_default()}</dd>
            {sub.job_id.clone().map(|job| view! { <dt>"Job id"</dt><dd class="mono" id="detail-job-id">{job}</dd> })}
            <dt>"Data set"</dt>
            <dd id="detail-data-set">{sub.data_set.clone().map(|uid| view! { <Named name=sub.data_set_name.clone() uid/> })}</dd>
            <dt>"Org unit"</dt>
            <dd id="detail-org-unit">
                {sub.org_unit.clone().map(|uid| view! { <Named name=sub.org_unit_path.clone() uid/> })}
            </dd>
            <dt>"Period"</dt><dd>{sub.period.clone().unwrap_or_default()}</dd>
            <dt>"Next attempt"</dt><dd>{format::local_time_opt(&sub.next_attempt_at)}</dd>
        </dl>
        {sub.errors.clone().map(|e| view! { <p class="error" id="detail-error">{e}</p> })}
        {(!sub.warnings.is_empty()).then(|| view! {
            <div class="warning-box"><strong>"Warnings when accepted"</strong>
                <ul>{sub.warnings.iter().map(|w| view! { <li>{w.clone()}</li> }).collect_view()}</ul>
            </div>
        })}
        <h3>"Where it went"</h3>
        {nowhere.then(|| view! {
            <p class="muted" id="no-destinations">
                "To no server of this gateway yet: history brought over from the original dhis2gw, with what it recorded below. Requeue sends it."
            </p>
        })}
        <table class="grid" id="destinations" class:hidden=nowhere>
            <thead><tr><th>"Server"</th><th>"Status"</th><th>"Retries"</th><th>"Next attempt"</th><th>"Last error"</th><th></th></tr></thead>
            <tbody>
                {s.destinations.into_iter().map(|dest: DestinationView| {
                    let server = dest.server.clone();
                    view! {
                        <tr>
                            <td>{dest.server.clone()}{dest.is_primary.then_some(" (primary)")}</td>
                            <td><StatusBadge status=dest.status.clone()/></td>
                            <td>{dest.retry_count}</td>
                            <td>{format::local_time_opt(&dest.next_attempt_at)}</td>
                            <td class="small">{dest.last_error.clone().unwrap_or_default()}</td>
                            <td>
                                <Show when=move || session.can_operate() && several>
                                    {
                                        let server = server.clone();
                                        view! { <button class="small" on:click=move |_| requeue.run(server.clone())>"Requeue here"</button> }
                                    }
                                </Show>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        {(!s.values.is_empty()).then(|| view! { <Values values=s.values.clone()/> })}
        <h3>{format!("Attempts ({})", s.attempts.len())}</h3>
        {if s.attempts.is_empty() {
            view! { <Empty text="Not sent yet."/> }.into_any()
        } else {
            view! { <ol class="attempts" id="attempts">{s.attempts.iter().cloned().map(|a| view! { <AttemptView a/> }).collect_view()}</ol> }.into_any()
        }}
        {s.source_document.clone().map(|document| view! {
            <details open>
                <summary>{format!("What the partner sent ({}, as sent)", format::source_format(sub.source_format.as_deref().unwrap_or_default()))}</summary>
                <pre class="json" id="source-document">{document}</pre>
            </details>
        })}
        <details open=s.source_document.is_none()>
            <summary>{if s.source_document.is_some() { "The same as an /aggregate body (what a requeue rebuilds from)" } else { "What the partner sent" }}</summary>
            <pre class="json" id="partner-payload">{format::pretty(&sub.payload)}</pre>
        </details>
        <details>
            <summary>"What goes to DHIS2"</summary>
            <pre class="json" id="dhis2-payload">{sub.dhis2_payload.as_ref().map(format::pretty).unwrap_or_else(|| "Nothing (not mapped yet)".into())}</pre>
        </details>
    }
}

/// Each value at each server: stored, already there, or why not and who must act.
#[component]
fn Values(values: Vec<ValueOutcome>) -> impl IntoView {
    let several = values.iter().any(|v| v.server != values[0].server);
    view! {
        <h3>"Values"</h3>
        <table class="grid" id="values">
            <thead><tr>
                {several.then(|| view! { <th>"Server"</th> })}
                <th>"Key"</th><th>"Data element"</th><th>"Outcome"</th><th>"What went wrong, and who must act"</th>
            </tr></thead>
            <tbody>
                {values.into_iter().map(|v| view! {
                    <tr data-key=v.partner_key.clone().unwrap_or_default() data-outcome=v.outcome.clone()>
                        {several.then(|| view! { <td>{v.server.clone()}</td> })}
                        <td class="mono">{v.partner_key.clone().unwrap_or_default()}</td>
                        <td class="mono">{v.data_element.clone().unwrap_or_default()}</td>
                        <td><OutcomeBadge outcome=v.outcome.clone()/></td>
                        <WhyNotStored v=v.clone()/>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn AttemptView(a: Attempt) -> impl IntoView {
    let verdict = match (a.http_status, a.import_status.clone()) {
        (Some(code), Some(status)) => format!("HTTP {code}, DHIS2 said {status}"),
        (Some(code), None) => format!("HTTP {code}"),
        (None, _) => "no answer".to_string(),
    };
    view! {
        <li class=format!("attempt outcome-{}", a.outcome)>
            <p>
                <strong>{format!("#{} to {}", a.attempt, a.server.clone().unwrap_or_else(|| "DHIS2".into()))}</strong>
                {format!(" at {}", format::local_time(&a.started_at))}
                {a.duration_ms.map(|ms| format!(" · {ms} ms"))}
                " · " {verdict}
                {a.dhis2_version.clone().map(|v| format!(" · DHIS2 {v}"))}
                " · " <StatusBadge status=outcome_status(&a.outcome)/>
            </p>
            {a.batch.as_ref().map(|b| view! { <p class="small muted batch">{format::describe_batch(b)}</p> })}
            {a.import_count.as_ref().map(|c| view! { <p class="counts-line">{format::describe_counts(c)}</p> })}
            {a.error.clone().map(|e| view! { <p class="error">{e}</p> })}
            {(!a.conflicts.is_empty()).then(|| view! {
                <ul class="conflicts">
                    {a.conflicts.iter().map(|c| view! { <li>{format::describe_conflict(c)}</li> }).collect_view()}
                </ul>
            })}
            {a.request_payload.clone().map(|p| view! {
                <details><summary>"Payload sent"</summary><pre class="json">{format::pretty(&p)}</pre></details>
            })}
            {a.response_body.clone().map(|b| view! {
                <details><summary>"DHIS2's raw answer"</summary><pre class="json">{format::pretty_text(&b)}</pre></details>
            })}
        </li>
    }
}

/// An attempt's outcome (`retry` among them) as a submission status for its badge.
fn outcome_status(outcome: &str) -> String {
    if outcome == "retry" { "retrying".into() } else { outcome.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn the_log_view_is_remembered_and_sorting_flips() {
        let mut v = LogView::from_settings(&BTreeMap::new());
        assert_eq!((v.sort.as_str(), v.order.as_str(), v.page_size), ("submitted_at", "desc", 25));
        v.filters.insert("status".into(), "failed".into());
        v.filters.insert("q".into(), "  ".into());
        v.sort_by("status");
        assert_eq!((v.sort.as_str(), v.order.as_str()), ("status", "asc"));
        v.sort_by("status");
        assert_eq!(v.order, "desc");
        let again = LogView::from_settings(&v.to_settings());
        assert_eq!(again.sort, "status");
        assert_eq!(again.active_filters(), BTreeMap::from([("status".to_string(), "failed".to_string())]));
    }

    #[wasm_bindgen_test]
    fn pages_start_where_the_page_before_ended_in_the_same_view_only() {
        let view = LogView::from_settings(&BTreeMap::new());
        let mut known = Positions::default();
        assert_eq!(known.start_of(&view, 2), None);
        known.learn(&view, 1, Some("end-of-1".into()));
        known.learn(&view, 2, Some("end-of-2".into()));
        assert_eq!(known.start_of(&view, 2).as_deref(), Some("end-of-1"));
        assert_eq!(known.start_of(&view, 3).as_deref(), Some("end-of-2"));
        assert_eq!(known.start_of(&view, 1), None, "the first page has no position");
        // The last page now ends the log: the page after it has no start any more.
        known.learn(&view, 2, None);
        assert_eq!(known.start_of(&view, 3), None);
        let mut sorted = view.clone();
        sorted.sort_by("period");
        assert_eq!(known.start_of(&sorted, 2), None, "another order's positions are not this one's");
        known.learn(&sorted, 1, Some("period-1".into()));
        assert_eq!(known.start_of(&view, 2), None, "the view before is forgotten");
    }

    #[wasm_bindgen_test]
    fn a_selection_becomes_the_batch_request() {
        let ids = Selection::Ids(BTreeSet::from([3, 1]));
        assert_eq!(ids.count(), 2);
        assert_eq!(ids.request().ids, vec![1, 3]);
        let all = Selection::AllMatching(BTreeMap::from([("status".to_string(), "failed".to_string())]), 1234);
        assert_eq!(all.count(), 1234);
        assert!(all.request().ids.is_empty() && all.request().filter.is_some());
    }
}
