//! Mappings: a filtered table with inline editing, and the spreadsheet import (drop a CSV or
//! Excel file on the window, or open one) with a preview before anything changes.

use dhis2gw_wire::{
    HealthState, ImportReport, ImportRow, MAPPING_KINDS, Mapping, MappingFields, MappingHealth, Page, RowAction,
};
use futures::FutureExt;
use leptos::prelude::*;

use crate::api::{self, ApiError};
use crate::components::{
    Empty, ErrorNote, FileChooser, Load, Loaded, Named, Pager, Picker, dialogs, load_into, read_dropped, save_download,
};
use crate::endpoints::{self, import_route};
use crate::format;
use crate::pickers;
use crate::platform::PickedFile;
use crate::session::Session;

const FILTERS: [(&str, &str); 5] = [
    ("code", "Code"),
    ("name", "Name"),
    ("dataSet", "Data set"),
    ("dataElement", "Data element"),
    ("source", "Source"),
];

/// Where an import stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Import {
    Idle,
    Checking(String),
    /// The dry run's report: what would happen.
    Preview(PickedFile, ImportReport),
    Importing(String),
    Done(String, ImportReport),
    Failed(ApiError),
}

#[component]
pub fn Mappings() -> impl IntoView {
    let session = expect_context::<Session>();
    let filters = RwSignal::new(std::collections::BTreeMap::<String, String>::new());
    let what = RwSignal::new(String::new());
    let health = RwSignal::new(String::new());
    let broken = RwSignal::new(0i64);
    let page = RwSignal::new(1i64);
    let page_size = RwSignal::new(25i64);
    let data = RwSignal::new(Load::<Page<Mapping>>::Loading);
    let reload_count = RwSignal::new(0u32);
    let import = RwSignal::new(Import::Idle);
    let dragging = RwSignal::new(false);

    Effect::new(move |_| {
        reload_count.track();
        let mut inputs = filters.get();
        inputs.insert("what".into(), what.get());
        inputs.insert("health".into(), health.get());
        let filter = endpoints::filter_from(&inputs, page.get(), page_size.get());
        load_into(data, async move { endpoints::mappings(session, filter?).await });
        api::spawn(endpoints::broken_mappings(session), move |n| {
            if let Ok(n) = n
                && !broken.is_disposed()
            {
                broken.set(n);
            }
        });
    });
    let reload = move || reload_count.update(|n| *n += 1);
    let total = Signal::derive(move || data.with(|d| d.ready().map_or(0, |p| p.total)));

    // A file from the drop zone, the file input or the native dialog: dry run first.
    let check = move |file: PickedFile| {
        if import_route(&file.name).is_none() {
            import.set(Import::Failed(ApiError {
                status: 400,
                message: format!("{} is not a CSV or Excel file (.csv, .xlsx, .xls, .ods).", file.name),
                detail: Vec::new(),
            }));
            return;
        }
        import.set(Import::Checking(file.name.clone()));
        let checking = endpoints::import_mappings(session, file.name.clone(), file.bytes.clone(), true);
        api::spawn(checking, move |r| {
            import.set(match r {
                Ok(report) => Import::Preview(file, report),
                Err(e) => Import::Failed(e),
            })
        });
    };
    let confirm = move |_| {
        let Import::Preview(file, _) = import.get_untracked() else { return };
        import.set(Import::Importing(file.name.clone()));
        let importing = endpoints::import_mappings(session, file.name.clone(), file.bytes, false);
        api::spawn(importing, move |r| {
            import.set(match r {
                Ok(report) => Import::Done(file.name, report),
                Err(e) => Import::Failed(e),
            });
            reload();
        });
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        if !session.can_operate() {
            return;
        }
        read_dropped(&ev, move |r| match r {
            Ok(f) => check(f),
            Err(e) => import.set(Import::Failed(ApiError { status: 400, message: e, detail: Vec::new() })),
        });
    };

    view! {
        <section
            class="page"
            class:dragging=move || dragging.get()
            on:dragover=move |ev| {
                ev.prevent_default();
                dragging.set(true);
            }
            on:dragleave=move |_| dragging.set(false)
            on:drop=on_drop
        >
            <div class="page-head">
                <h1>"Mappings"</h1>
                <Downloads/>
            </div>
            <Show when=move || session.can_operate()>
                <ImportPanel import check confirm=Callback::new(move |()| confirm(()))/>
            </Show>
            <Show when=move || { broken.get() > 0 }>
                <p class="warning-box" id="broken-mappings">
                    {move || format!(
                        "{} DHIS2 would refuse values sent through {}: listed first, each with what to fix.",
                        format::plural(broken.get(), "mapping is broken.", "mappings are broken."),
                        if broken.get() == 1 { "it" } else { "them" },
                    )}
                    " "
                    <button class="link" on:click=move |_| { health.set("broken".into()); page.set(1); }>"Show only those"</button>
                </p>
            </Show>
            <form class="filters" on:submit=|ev| ev.prevent_default() aria-label="filters">
                <label>
                    "Health"
                    <select id="mapping-filter-health" on:change=move |ev| { health.set(event_target_value(&ev)); page.set(1); }>
                        {[("", "Any"), ("broken", "Broken"), ("ok", "OK"), ("unchecked", "Not checked")]
                            .into_iter()
                            .map(|(v, l)| view! { <option value=v selected=move || health.get() == v>{l}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "Kind"
                    <select on:change=move |ev| { what.set(event_target_value(&ev)); page.set(1); }>
                        <option value="">"Any"</option>
                        {MAPPING_KINDS.iter().map(|k| view! { <option value=*k>{if *k == "de" { "Data element" } else { "Org unit" }}</option> }).collect_view()}
                    </select>
                </label>
                {FILTERS.iter().map(|(key, label)| {
                    let key = *key;
                    let value = Signal::derive(move || filters.with(|f| f.get(key).cloned().unwrap_or_default()));
                    let set = Callback::new(move |v: String| {
                        filters.update(|f| { f.insert(key.to_string(), v); });
                        page.set(1);
                    });
                    let input = match key {
                        "dataSet" => view! {
                            <Picker id="mapping-filter-dataSet" value on_pick=set placeholder="name or code"
                                search=move |q| pickers::metadata(session, "dataSet", q, None, None)/>
                        }.into_any(),
                        "dataElement" => view! {
                            <Picker id="mapping-filter-dataElement" value on_pick=set placeholder="name or code"
                                search=move |q| pickers::metadata(session, "dataElement", q, None, None)/>
                        }.into_any(),
                        _ => view! {
                            <input id=format!("mapping-filter-{key}") type="search" on:change=move |ev| set.run(event_target_value(&ev))/>
                        }.into_any(),
                    };
                    view! { <label>{*label}{input}</label> }
                }).collect_view()}
            </form>
            <Loaded state=data view={move |p: Page<Mapping>| {
                if p.items.is_empty() {
                    return view! { <Empty text="No mappings match. Import a spreadsheet to add some."/> }.into_any();
                }
                view! {
                    <table class="grid" id="mappings">
                        <thead><tr>
                            <th>"Code"</th><th>"Kind"</th><th>"Name"</th><th>"In DHIS2"</th><th>"Data set"</th><th>"Data element / org unit"</th>
                            <th>"Category option combo"</th><th>"Source"</th><th>"Instance"</th><th></th>
                        </tr></thead>
                        <tbody>{p.items.into_iter().map(|m| view! { <MappingRow m on_change=Callback::new(move |()| reload())/> }).collect_view()}</tbody>
                    </table>
                }.into_any()
            }}/>
            <Pager page page_size total/>
        </section>
    }
}

#[component]
fn ImportPanel(
    import: RwSignal<Import>,
    check: impl Fn(PickedFile) + Copy + Send + Sync + 'static,
    confirm: Callback<()>,
) -> impl IntoView {
    let failed = Callback::new(move |e: String| {
        import.set(Import::Failed(ApiError { status: 0, message: e, detail: Vec::new() }))
    });
    view! {
        <div class="card dropzone" id="dropzone">
            <p>
                <strong>"Import mappings: "</strong>
                "drop a CSV or Excel file anywhere on this screen, or "
                <FileChooser button_id="open-file" input_id="file-input" on_file=Callback::new(check) on_error=failed/>
                " Nothing changes until you confirm the preview."
            </p>
            {move || match import.get() {
                Import::Idle => ().into_any(),
                Import::Checking(name) => view! { <p role="status">{format!("Checking {name}…")}</p> }.into_any(),
                Import::Importing(name) => view! { <p role="status">{format!("Importing {name}…")}</p> }.into_any(),
                Import::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
                Import::Preview(file, report) => {
                    let changes = report.created + report.updated;
                    view! {
                        <div id="import-preview">
                            <h3>{format!("Preview of {}", file.name)}</h3>
                            <ReportSummary report=report.clone()/>
                            <div class="actions">
                                <button on:click=move |_| import.set(Import::Idle)>"Cancel"</button>
                                <button id="confirm-import" class="primary" disabled=changes == 0 on:click=move |_| confirm.run(())>
                                    {if changes == 0 { "Nothing to import".to_string() } else { format!("Import {}", format::plural(changes as i64, "change", "changes")) }}
                                </button>
                            </div>
                        </div>
                    }.into_any()
                }
                Import::Done(name, report) => view! {
                    <div id="import-result">
                        <h3>{format!("Imported {name}")}</h3>
                        <ReportSummary report/>
                        <button on:click=move |_| import.set(Import::Idle)>"Close"</button>
                    </div>
                }.into_any(),
            }}
        </div>
    }
}

/// What an import did or would do: counts, how many rows make broken mappings, then every row
/// that changes something or would be broken.
#[component]
pub fn ReportSummary(report: ImportReport) -> impl IntoView {
    let rows: Vec<_> = report
        .rows
        .iter()
        .filter(|r| r.action != RowAction::Unchanged || r.health.state == HealthState::Broken)
        .cloned()
        .collect();
    let broken = report.rows.iter().filter(|r| r.health.state == HealthState::Broken).count();
    view! {
        <p class="import-counts">
            <span class="badge status-succeeded">{format!("{} created", report.created)}</span>" "
            <span class="badge status-processing">{format!("{} updated", report.updated)}</span>" "
            <span class="badge status-queued">{format!("{} unchanged", report.unchanged)}</span>" "
            <span class="badge status-failed">{format!("{} rejected", report.rejected)}</span>
            {format!(" of {} rows", report.total)}
        </p>
        {(broken > 0).then(|| view! {
            <p class="warning-box import-broken">
                {format!("{} would make a mapping DHIS2 refuses; see why below.", format::plural(broken as i64, "row", "rows"))}
            </p>
        })}
        {(!rows.is_empty()).then(|| view! {
            <table class="grid compact import-rows">
                <thead><tr><th>"Row"</th><th>"Code"</th><th>"Kind"</th><th>"Action"</th><th>"In DHIS2"</th><th>"Refers to"</th><th>"Why"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| {
                        let notes = row_notes(&r);
                        view! {
                            <tr class=format!("row-{:?}", r.action).to_lowercase()>
                                <td>{r.row}</td><td class="mono">{r.code.clone()}</td><td>{r.what.clone()}</td>
                                <td>{format!("{:?}", r.action)}</td>
                                <td class="health"><Health health=r.health.clone()/></td>
                                <td class="small">{notes}</td>
                                <td>{r.errors.join("; ")}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        })}
    }
}

/// A mapping's health: OK, or broken with what to fix; a dash when not checked.
#[component]
fn Health(health: MappingHealth) -> impl IntoView {
    match health.state {
        HealthState::Ok => view! { <span class="badge status-succeeded">"OK"</span> }.into_any(),
        HealthState::Broken => view! {
            <span class="badge status-failed">"Broken"</span>
            <span class="problem small">{health.problem.clone().unwrap_or_default()}</span>
        }
        .into_any(),
        HealthState::Unchecked => {
            view! { <span class="muted" title="Not checked: DHIS2's metadata is not synced yet, or an org-unit mapping">"—"</span> }
                .into_any()
        }
    }
}

/// What an import row refers to, in names, and what was resolved from codes or names.
fn row_notes(r: &ImportRow) -> String {
    let names: Vec<String> = [
        ("data set", &r.names.data_set),
        ("data element", &r.names.data_element),
        ("category option combo", &r.names.category_option_combo),
        ("attribute option combo", &r.names.attribute_option_combo),
    ]
    .into_iter()
    .filter_map(|(what, name)| name.as_ref().map(|n| format!("{what} {n}")))
    .collect();
    let mut notes = Vec::new();
    if !names.is_empty() {
        notes.push(names.join(", "));
    }
    notes.extend(r.resolved.iter().cloned());
    notes.join("; ")
}

/// The export and the empty template, saved through the native dialog in the desktop app.
#[component]
fn Downloads() -> impl IntoView {
    let session = expect_context::<Session>();
    view! {
        <button id="export" on:click=move |_| save_download(endpoints::export_mappings(session).boxed_local())>"Export to Excel…"</button>
        <button id="template" on:click=move |_| save_download(endpoints::mapping_template(session).boxed_local())>"Download template…"</button>
    }
}

/// A mapping row; operators edit it in place.
#[component]
fn MappingRow(m: Mapping, on_change: Callback<()>) -> impl IntoView {
    let session = expect_context::<Session>();
    let d = dialogs();
    let editing = RwSignal::new(false);
    let draft = RwSignal::new(m.fields.clone());
    let error = RwSignal::new(None::<ApiError>);
    let id = m.id;
    let save = move |_| {
        api::spawn(endpoints::update_mapping(session, id, draft.get_untracked()), move |r| match r {
            Ok(_) => {
                editing.set(false);
                error.set(None);
                d.notify("Mapping saved", false);
                on_change.run(());
            }
            Err(e) => error.set(Some(e)),
        });
    };
    let requeue_refused = move |_| {
        let code = draft.get_untracked().code;
        d.ask(
            "Requeue refused",
            format!("Send again every submission with a value from '{code}' that DHIS2 refused, through the mappings as they are now?"),
            "Requeue",
            false,
            move || {
                api::spawn(endpoints::requeue_refused(session, id), move |r| match r {
                    Ok(done) if done.re_enqueued == 0 => d.notify("No refused submission came from this code", false),
                    Ok(done) => d.notify(format!("Requeued {}", format::plural(done.re_enqueued as i64, "submission", "submissions")), false),
                    Err(e) => d.notify(e.to_string(), true),
                });
            },
        );
    };
    let remove = move |_| {
        d.ask(
            "Delete mapping",
            format!(
                "Delete the mapping for '{}'? Submissions using it will report the key as unmapped.",
                draft.get_untracked().code
            ),
            "Delete",
            true,
            move || {
                api::spawn(endpoints::delete_mapping(session, id), move |r| {
                    d.outcome(&r, "Mapping deleted");
                    on_change.run(());
                });
            },
        );
    };
    let field = move |get: fn(&MappingFields) -> String, set: fn(&mut MappingFields, String), label: &'static str| {
        view! { <input aria-label=label prop:value=move || draft.with(get) on:input=move |ev| draft.update(|f| set(f, event_target_value(&ev)))/> }
    };
    let fields = m.fields.clone();
    let (mapping_health, names) = (m.health.clone(), m.names.clone());
    view! {
        <Show
            when=move || editing.get()
            fallback={
                let f = fields.clone();
                let (mapping_health, names) = (mapping_health.clone(), names.clone());
                move || {
                    let (f, names) = (f.clone(), names.clone());
                    let target = if f.what == "ou" {
                        view! { <span class="mono">{f.destination_org_unit.clone()}</span> }.into_any()
                    } else {
                        view! { <Named name=names.data_element.clone() uid=f.data_element.clone()/> }.into_any()
                    };
                    view! {
                        <tr data-code=f.code.clone() class:broken=mapping_health.state == HealthState::Broken>
                            <td class="mono">{f.code.clone()}</td>
                            <td>{f.what.clone()}</td>
                            <td>{f.name.clone()}</td>
                            <td class="health"><Health health=mapping_health.clone()/></td>
                            <td>{(!f.data_set.is_empty()).then(|| view! { <Named name=names.data_set.clone() uid=f.data_set.clone()/> })}</td>
                            <td>{target}</td>
                            <td>{f.category_option_combo.clone().map(|uid| view! { <Named name=names.category_option_combo.clone() uid/> })}</td>
                            <td>{f.source_name.clone()}</td>
                            <td>{f.instance_name.clone()}</td>
                            <td>
                                <Show when=move || session.can_operate()>
                                    <button class="small" on:click=move |_| editing.set(true)>"Edit"</button>
                                    <button class="small" title="Send again the submissions whose values from this code DHIS2 refused" on:click=requeue_refused>
                                        "Requeue refused"
                                    </button>
                                    <button class="small danger" on:click=remove>"Delete"</button>
                                </Show>
                            </td>
                        </tr>
                    }
                }
            }
        >
            <tr class="editing">
                <td>{field(|f| f.code.clone(), |f, v| f.code = v, "Code")}</td>
                <td>
                    <select on:change=move |ev| draft.update(|f| f.what = event_target_value(&ev))>
                        {MAPPING_KINDS.iter().map(|k| view! { <option value=*k selected=move || draft.with(|f| f.what == *k)>{*k}</option> }).collect_view()}
                    </select>
                </td>
                <td>{field(|f| f.name.clone(), |f, v| f.name = v, "Name")}</td>
                <td></td>
                <td>
                    <Picker id=format!("edit-{id}-data-set") value=Signal::derive(move || draft.with(|f| f.data_set.clone()))
                        on_pick=Callback::new(move |v| draft.update(|f| f.data_set = v)) placeholder="data set"
                        search=move |q| pickers::metadata(session, "dataSet", q, None, None)/>
                </td>
                <td>
                    {move || if draft.with(|f| f.what == "ou") {
                        view! {
                            <Picker id=format!("edit-{id}-org-unit") value=Signal::derive(move || draft.with(|f| f.destination_org_unit.clone()))
                                on_pick=Callback::new(move |v| draft.update(|f| f.destination_org_unit = v)) placeholder="org unit"
                                search=move |q| pickers::org_units(session, q)/>
                        }.into_any()
                    } else {
                        view! {
                            <Picker id=format!("edit-{id}-data-element") value=Signal::derive(move || draft.with(|f| f.data_element.clone()))
                                on_pick=Callback::new(move |v| draft.update(|f| f.data_element = v)) placeholder="data element"
                                search=move |q| pickers::metadata(session, "dataElement", q, None, draft.with_untracked(|f| Some(f.data_set.clone())))/>
                        }.into_any()
                    }}
                </td>
                <td>
                    <Picker id=format!("edit-{id}-coc") value=Signal::derive(move || draft.with(|f| f.category_option_combo.clone().unwrap_or_default()))
                        on_pick=Callback::new(move |v: String| draft.update(|f| f.category_option_combo = (!v.is_empty()).then_some(v)))
                        placeholder="category option combo"
                        search=move |q| {
                            let (element, data_set) = draft.with_untracked(|f| (f.data_element.clone(), f.data_set.clone()));
                            pickers::metadata(session, "categoryOptionCombo", q, Some(element), Some(data_set))
                        }/>
                </td>
                <td>{field(|f| f.source_name.clone(), |f, v| f.source_name = v, "Source")}</td>
                <td>{field(|f| f.instance_name.clone(), |f, v| f.instance_name = v, "Instance")}</td>
                <td>
                    <button class="small primary" on:click=save>"Save"</button>
                    <button class="small" on:click=move |_| { editing.set(false); error.set(None); }>"Cancel"</button>
                    {move || error.get().map(|e| view! { <ErrorNote error=e/> })}
                </td>
            </tr>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn files_go_to_the_import_route_of_their_kind() {
        assert_eq!(import_route("Mappings.CSV"), Some("/mappings/import/csv"));
        assert_eq!(import_route("m.xlsx"), Some("/mappings/import/excel"));
        assert_eq!(import_route("notes.txt"), None);
    }
}
