//! DHIS2's verdict in the partner's terms: conflicts named by the partner's own keys, and
//! checks DHIS2 makes without storing (dry runs, tracker validation).

use dhis2gw_wire::{ConflictView, DryRunResult};
use serde_json::Value;

use super::aggregate;
use crate::app::AppState;
use crate::infra::dhis2::{TrackerMode, refusal, summary};
use crate::metadata::Snapshot;

/// What DHIS2 is asked to check without storing anything.
#[derive(Clone, Copy)]
pub(super) enum Check {
    /// `POST /api/dataValueSets?dryRun=true`.
    DataValueSet,
    /// `POST /api/tracker?importMode=VALIDATE`.
    Tracker,
}

/// Asks DHIS2 to check `payload` (whose values or records `keys` name, in the partner's
/// terms) and stores nothing; without an answer from DHIS2 the result says so. Conflicts come
/// with their names where the synced metadata knows them.
pub(super) async fn check_with_dhis2(
    state: &AppState,
    check: Check,
    payload: Value,
    keys: &[String],
    warnings: Vec<String>,
) -> DryRunResult {
    let verdict = match &state.dhis2 {
        None => None,
        Some(client) => {
            let (answer, interpret): (_, fn(u16, &str) -> summary::Interpretation) = match check {
                Check::DataValueSet => (client.post_data_value_set(&payload, "dryRun=true").await, summary::interpret),
                Check::Tracker => {
                    (client.post_tracker(&payload, TrackerMode::Validate).await, summary::interpret_tracker)
                }
            };
            match answer {
                Err(e) => {
                    tracing::info!(error = %e, "DHIS2 unreachable for a check that stores nothing");
                    None
                }
                Ok(answer) => {
                    let mut verdict = verdict_of(answer.status, interpret(answer.status, &answer.body), keys);
                    // In names, as the log shows a delivery's conflicts.
                    let snapshot = state.metadata.snapshot();
                    for conflict in &mut verdict.conflicts {
                        conflict.described = described(&snapshot, &payload, conflict);
                    }
                    Some(verdict)
                }
            }
        }
    };
    let message = match &verdict {
        Some(_) => "Dry run: validated, mapped and checked by DHIS2; nothing was stored",
        None => "Dry run: validated and mapped; DHIS2 could not be asked; nothing was stored",
    };
    DryRunResult { message: message.into(), payload, warnings, dhis2: verdict }
}

fn verdict_of(http_status: u16, meaning: summary::Interpretation, value_keys: &[String]) -> dhis2gw_wire::Dhis2Verdict {
    dhis2gw_wire::Dhis2Verdict {
        http_status: Some(http_status as i32),
        import_status: meaning.import_status,
        import_count: meaning.import_count.map(|c| serde_json::to_value(c).expect("serialises")),
        conflicts: meaning.conflicts.iter().map(|c| conflict_view(c, value_keys)).collect(),
        error: meaning.error,
    }
}

/// A DHIS2 conflict in the partner's terms: the `dataValues` keys its positions came from,
/// or the ref of the tracker record it names.
pub fn conflict_view(c: &summary::Conflict, value_keys: &[String]) -> ConflictView {
    let partner_keys = if c.indexes.is_empty() {
        let object = c.object.as_deref().unwrap_or_default();
        value_keys.iter().filter_map(|k| k.strip_prefix(object)?.strip_prefix('=')).map(str::to_string).collect()
    } else {
        aggregate::keys_of(&c.indexes, value_keys)
    };
    ConflictView {
        partner_keys,
        error_code: c.error_code.clone(),
        object: c.object.clone(),
        property: c.property.clone(),
        message: c.value.clone(),
        indexes: c.indexes.clone(),
        described: None,
        class: Some(refusal::classify(c.error_code.as_deref(), c.value.as_deref().unwrap_or_default())),
    }
}

/// The conflict in names, for a data value set `payload`: `HIV tests, Male: Value … for data
/// element 'HIV tests'`. `None` when nothing in it has a known name.
pub fn described(snapshot: &Snapshot, payload: &Value, conflict: &ConflictView) -> Option<String> {
    let values = payload["dataValues"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut subjects: Vec<String> = conflict
        .indexes
        .iter()
        .filter_map(|&i| values.get(usize::try_from(i).ok()?))
        .filter_map(|v| {
            let element = snapshot.name_of(v["dataElement"].as_str()?)?;
            let combo = v["categoryOptionCombo"].as_str().and_then(|c| snapshot.name_of(c));
            Some(match combo {
                Some(combo) if combo != "default" => format!("{element}, {combo}"),
                _ => element.to_string(),
            })
        })
        .collect();
    subjects.dedup();
    let message = conflict.message.as_deref().map(|m| snapshot.names_in(m));
    let named = !subjects.is_empty() || message.as_deref() != conflict.message.as_deref();
    named.then(|| match (subjects.is_empty(), message) {
        (false, Some(message)) => format!("{}: {message}", subjects.join("; ")),
        (false, None) => subjects.join("; "),
        (true, message) => message.unwrap_or_default(),
    })
}
