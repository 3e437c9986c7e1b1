//! Data values in a spreadsheet, uploaded on the Submissions screen: drop a CSV or Excel file
//! (or choose one), see what would be sent per data set, org unit and period with the same
//! checks as the upload, optionally what DHIS2 would make of it (a dry run), then confirm to
//! turn it into submissions.

use dhis2gw_wire::{DataFilePreview, DocumentAccepted, DryRunResult, PreviewedSubmission, RefusalClass};
use futures::FutureExt;
use leptos::prelude::*;

use crate::api::{self, ApiError};
use crate::components::{ErrorNote, FileChooser, is_spreadsheet, save_download};
use crate::endpoints;
use crate::format;
use crate::platform::PickedFile;
use crate::session::Session;

/// Where an upload stands.
#[derive(Clone, Debug, Default)]
pub enum Upload {
    #[default]
    Idle,
    Checking(String),
    Preview(PickedFile, DataFilePreview, Dhis2Check),
    Sending(String),
    Done(String, DocumentAccepted),
    Failed(ApiError),
}

/// What DHIS2 was asked about a previewed file: a dry run of each submission, on request.
#[derive(Clone, Debug, Default)]
pub enum Dhis2Check {
    #[default]
    NotAsked,
    Asking,
    /// Its verdict on each submission, in the preview's order.
    Said(Vec<DryRunResult>),
    Failed(ApiError),
}

/// Checks a file picked or dropped: refused at once if it is no spreadsheet, else previewed.
pub fn checker(session: Session, upload: RwSignal<Upload>) -> Callback<PickedFile> {
    Callback::new(move |file: PickedFile| {
        if !is_spreadsheet(&file.name) {
            upload.set(Upload::Failed(ApiError {
                status: 400,
                message: format!("{} is not a CSV or Excel file (.csv, .xlsx, .xls, .ods).", file.name),
                detail: Vec::new(),
            }));
            return;
        }
        upload.set(Upload::Checking(file.name.clone()));
        let checking = endpoints::preview_data_file(session, file.name.clone(), file.bytes.clone());
        api::spawn(checking, move |r| {
            upload.set(match r {
                Ok(preview) => Upload::Preview(file, preview, Dhis2Check::NotAsked),
                Err(e) => Upload::Failed(e),
            })
        });
    })
}

/// The upload card: how to give a file, then its preview or what became of it.
#[component]
pub fn DataUpload(upload: RwSignal<Upload>, check: Callback<PickedFile>, on_done: Callback<()>) -> impl IntoView {
    let session = expect_context::<Session>();
    let failed = Callback::new(move |e: String| {
        upload.set(Upload::Failed(ApiError { status: 0, message: e, detail: Vec::new() }))
    });
    let ask = move |_| {
        let Upload::Preview(file, preview, _) = upload.get_untracked() else { return };
        upload.set(Upload::Preview(file.clone(), preview, Dhis2Check::Asking));
        api::spawn(endpoints::dry_run_data_file(session, file.name.clone(), file.bytes.clone()), move |r| {
            upload.update(|state| {
                // Only onto the file still shown and still waiting for this answer.
                if let Upload::Preview(shown, _, check @ Dhis2Check::Asking) = state
                    && shown.name == file.name
                {
                    *check = match r {
                        Ok(dry_run) => Dhis2Check::Said(dry_run.submissions),
                        Err(e) => Dhis2Check::Failed(e),
                    };
                }
            })
        });
    };
    let confirm = move |_| {
        let Upload::Preview(file, _, _) = upload.get_untracked() else { return };
        upload.set(Upload::Sending(file.name.clone()));
        api::spawn(endpoints::upload_data_file(session, file.name.clone(), file.bytes), move |r| {
            upload.set(match r {
                Ok(accepted) => Upload::Done(file.name, accepted),
                Err(e) => Upload::Failed(e),
            });
            on_done.run(());
        });
    };
    view! {
        <details class="card dropzone" id="data-upload" open=move || !matches!(upload.get(), Upload::Idle)>
            <summary><strong>"Upload data values"</strong>" from a spreadsheet"</summary>
            <p>
                "Drop a CSV or Excel file anywhere on this screen, or "
                <FileChooser button_id="open-data-file" input_id="data-file-input" on_file=check on_error=failed/>
                " A row per value: data element (its code or a mapping code), category option combo (optional), org unit, period, value; optionally attribute option combo, comment and data set. "
                <button class="link" id="data-template" on:click=move |_| save_download(endpoints::data_file_template(session).boxed_local())>
                    "Download the template…"
                </button>
                " Nothing is sent until you confirm the preview."
            </p>
            {move || match upload.get() {
                Upload::Idle => ().into_any(),
                Upload::Checking(name) => view! { <p role="status">{format!("Checking {name}…")}</p> }.into_any(),
                Upload::Sending(name) => view! { <p role="status">{format!("Sending {name}…")}</p> }.into_any(),
                Upload::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
                Upload::Preview(file, preview, check) => {
                    let ready = preview.ready && !preview.submissions.is_empty();
                    let n = preview.submissions.len() as i64;
                    let asking = matches!(check, Dhis2Check::Asking);
                    // DHIS2's verdict beside each submission, once it has answered for them all.
                    let said: Vec<Option<DryRunResult>> = match &check {
                        Dhis2Check::Said(results) if results.len() == preview.submissions.len() => {
                            results.iter().cloned().map(Some).collect()
                        }
                        _ => vec![None; preview.submissions.len()],
                    };
                    let answered = said.iter().any(Option::is_some);
                    let unasked = said.iter().flatten().filter(|r| r.dhis2.is_none()).count() as i64;
                    let refusing = said.iter().flatten().filter(|r| r.dhis2.as_ref().is_some_and(|v| !v.conflicts.is_empty())).count() as i64;
                    let (dhis2_said, refuses_some) = if unasked > 0 {
                        (format!("DHIS2 could not be asked about {}; nothing was stored.", format::plural(unasked, "submission", "submissions")), true)
                    } else if refusing > 0 {
                        (format!("DHIS2 checked each submission (a dry run; nothing was stored) and would refuse values of {} (below).", format::plural(refusing, "submission", "submissions")), true)
                    } else {
                        ("DHIS2 checked each submission (a dry run; nothing was stored) and refuses none of its values.".to_string(), false)
                    };
                    view! {
                        <div id="data-preview">
                            <h3>{format!("Preview of {}: {}", file.name, format::plural(n, "submission", "submissions"))}</h3>
                            {(!preview.ready).then(|| view! {
                                <p class="error">"Some would be refused (below): fix the file and drop it again. Nothing is sent unless all can be."</p>
                            })}
                            {answered.then(|| view! {
                                <p id="dhis2-said" role="status" class:error=refuses_some>{dhis2_said}</p>
                            })}
                            {match check {
                                Dhis2Check::Failed(e) => view! { <ErrorNote error=e/> }.into_any(),
                                _ => ().into_any(),
                            }}
                            <table class="grid compact">
                                <thead><tr>
                                    <th>"Rows from"</th><th>"Data set"</th><th>"Org unit"</th><th>"Period"</th><th>"Values"</th><th>"Left out or refused"</th>
                                    {answered.then(|| view! { <th>"DHIS2 says"</th> })}
                                </tr></thead>
                                <tbody>{preview.submissions.into_iter().zip(said).map(|(s, said)| view! { <PreviewRow s said/> }).collect_view()}</tbody>
                            </table>
                            <div class="actions">
                                <button on:click=move |_| upload.set(Upload::Idle)>"Cancel"</button>
                                <button id="ask-dhis2" disabled=!ready || asking on:click=ask
                                    title="A dry run: DHIS2 checks every value (approvals, locks, its own rules) and stores nothing">
                                    {if asking { "Asking DHIS2…" } else { "Ask DHIS2 first" }}
                                </button>
                                <button id="confirm-upload" class="primary" disabled=!ready on:click=confirm>
                                    {if ready { format!("Send {}", format::plural(n, "submission", "submissions")) } else { "Cannot send this file".to_string() }}
                                </button>
                            </div>
                        </div>
                    }.into_any()
                }
                Upload::Done(name, accepted) => view! {
                    <div id="data-result">
                        <p>{format!("{name}: {} queued for DHIS2.", format::plural(accepted.submissions.len() as i64, "submission", "submissions"))}</p>
                        <ul>
                            {accepted.submissions.iter().map(|s| view! {
                                <li>
                                    <a href=format!("#/submissions/{}", s.submission_id)>{format!("Submission {}", s.submission_id)}</a>
                                    {(!s.warnings.is_empty()).then(|| format!(": {}", s.warnings.join("; ")))}
                                </li>
                            }).collect_view()}
                        </ul>
                        <button on:click=move |_| upload.set(Upload::Idle)>"Close"</button>
                    </div>
                }.into_any(),
            }}
        </details>
    }
}

/// One submission the file would become, with what it sends and what it leaves out or why not,
/// and, once DHIS2 was asked, what it `said` of it.
#[component]
fn PreviewRow(s: PreviewedSubmission, said: Option<DryRunResult>) -> impl IntoView {
    let refused = !s.problems.is_empty();
    let notes: Vec<String> = s.problems.iter().chain(&s.warnings).cloned().collect();
    let named = |name: Option<String>, id: Option<String>| match (name, id) {
        (Some(name), _) => name,
        (None, Some(id)) => id,
        (None, None) => "—".into(),
    };
    view! {
        <tr class:refused=refused>
            <td>{s.rows.clone()}</td>
            <td>{named(s.data_set_name.clone(), s.data_set.clone())}</td>
            <td>{named(s.org_unit_name.clone(), s.org_unit.clone())}</td>
            <td>{s.period.clone().unwrap_or_default()}</td>
            <td>{if refused { "refused".to_string() } else { s.values.to_string() }}</td>
            <td class="small">
                <ul class="plain">{notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}</ul>
                {s.payload.map(|p| view! {
                    <details><summary>"What goes to DHIS2"</summary><pre class="json">{format::pretty(&p)}</pre></details>
                })}
            </td>
            {said.map(|said| view! { <td class="small dhis2-said"><Dhis2Said said/></td> })}
        </tr>
    }
}

/// DHIS2's dry-run verdict on one submission, in words: each value it would refuse (in names
/// where the console knows them), or that it takes them all.
#[component]
pub fn Dhis2Said(said: DryRunResult) -> impl IntoView {
    let Some(verdict) = said.dhis2 else {
        return view! { <span>"DHIS2 could not be asked"</span> }.into_any();
    };
    if verdict.conflicts.is_empty() {
        let taken = verdict.import_status.as_deref() == Some("SUCCESS");
        let words = match (taken, verdict.error) {
            (true, None) => "Takes every value".to_string(),
            (true, Some(note)) => note,
            (false, said) => format!("Refuses it: {}", said.unwrap_or_else(|| "no reason given".into())),
        };
        return view! { <span class:error=!taken>{words}</span> }.into_any();
    }
    view! {
        <ul class="plain error">
            {verdict.conflicts.into_iter().map(|c| {
                let words = c.described.or(c.message).unwrap_or_default();
                let keys = c.partner_keys.join(", ");
                // These are the gateway's to wait out, not the file's to fix.
                let waits = matches!(c.class, Some(RefusalClass::ClosedPeriod | RefusalClass::Approved));
                let then = if waits { "; sent now, they wait On hold until DHIS2 takes them" } else { "" };
                view! { <li>{format!("Refuses {keys}: {words}{then}")}</li> }
            }).collect_view()}
        </ul>
    }
    .into_any()
}
