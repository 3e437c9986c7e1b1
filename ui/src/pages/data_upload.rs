//! Data values in a spreadsheet, uploaded on the Submissions screen: drop a CSV or Excel file
//! (or choose one), see what would be sent per data set, org unit and period with the same
//! checks as the upload, then confirm to turn it into submissions.

use dhis2gw_wire::{DataFilePreview, DocumentAccepted, PreviewedSubmission};
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
    Preview(PickedFile, DataFilePreview),
    Sending(String),
    Done(String, DocumentAccepted),
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
                Ok(preview) => Upload::Preview(file, preview),
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
    let confirm = move |_| {
        let Upload::Preview(file, _) = upload.get_untracked() else { return };
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
                Upload::Preview(file, preview) => {
                    let ready = preview.ready && !preview.submissions.is_empty();
                    let n = preview.submissions.len() as i64;
                    view! {
                        <div id="data-preview">
                            <h3>{format!("Preview of {}: {}", file.name, format::plural(n, "submission", "submissions"))}</h3>
                            {(!preview.ready).then(|| view! {
                                <p class="error">"Some would be refused (below): fix the file and drop it again. Nothing is sent unless all can be."</p>
                            })}
                            <table class="grid compact">
                                <thead><tr><th>"Rows from"</th><th>"Data set"</th><th>"Org unit"</th><th>"Period"</th><th>"Values"</th><th>"Left out or refused"</th></tr></thead>
                                <tbody>{preview.submissions.into_iter().map(|s| view! { <PreviewRow s/> }).collect_view()}</tbody>
                            </table>
                            <div class="actions">
                                <button on:click=move |_| upload.set(Upload::Idle)>"Cancel"</button>
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

/// One submission the file would become, with what it sends and what it leaves out or why not.
#[component]
fn PreviewRow(s: PreviewedSubmission) -> impl IntoView {
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
        </tr>
    }
}
