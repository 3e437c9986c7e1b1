//! Screening a data value set against DHIS2's metadata before it is stored: what a strict
//! DHIS2 would refuse is refused here (422, every problem named), or in `partial` mode left
//! out and reported, so nothing of it is queued. Zeros DHIS2 would not store are dropped
//! with a note either way.

use std::collections::HashMap;

use chrono::Utc;
use dhis2gw_wire::IntakeValidation;
use serde_json::Value;

use super::aggregate;
use crate::access::identity::AuthUser;
use crate::app::AppState;
use crate::infra::error::{AppError, AppResult};
use crate::metadata::check::{self, Findings, Labels};

/// The mode a caller's submissions are screened in: their own, else the configuration's.
pub fn mode_of(state: &AppState, caller: &AuthUser) -> IntakeValidation {
    caller.intake_validation.unwrap_or(state.config.api.intake_validation)
}

/// A data value set being accepted: what it will send, each value's key, and the warnings
/// the answer carries.
pub struct Screened<'a> {
    pub payload: &'a mut Value,
    /// One per value of `payload["dataValues"]`, kept in step with the values left out.
    pub keys: &'a mut Vec<String>,
    pub warnings: &'a mut Vec<String>,
}

/// What screening decided.
#[derive(Debug, PartialEq)]
pub enum Screening {
    /// Whatever is left in the payload goes on (possibly fewer values, with warnings).
    Passed,
    /// Nothing goes on: what DHIS2 would refuse (strict mode), or every value left out
    /// (`notes` says why of those that were only not worth sending).
    Refused { problems: Vec<check::Problem>, notes: Vec<String> },
}

impl Screening {
    /// `/aggregate`'s answer to a refusal: 422 naming every problem.
    pub fn into_result(self) -> AppResult<()> {
        match self {
            Screening::Passed => Ok(()),
            Screening::Refused { problems, notes } => Err(AppError::Unprocessable {
                message: format!(
                    "DHIS2 would not store this submission ({} problem{}); nothing was stored",
                    problems.len() + notes.len(),
                    if problems.len() + notes.len() == 1 { "" } else { "s" }
                ),
                detail: problems.iter().map(check::Problem::detail).chain(notes).collect(),
            }),
        }
    }
}

/// Checks the values against the metadata in `mode`, naming each value by its `labels`
/// entry. Does nothing while validation is off or before the first metadata sync.
pub async fn screen(
    state: &AppState,
    mode: IntakeValidation,
    labels: &[String],
    set: Screened<'_>,
) -> AppResult<Screening> {
    let Some(Findings { problems, insignificant_zeros }) = findings(state, mode, set.payload, labels).await? else {
        return Ok(Screening::Passed);
    };
    if mode == IntakeValidation::Strict && !problems.is_empty() {
        let notes = insignificant_zeros.into_iter().map(|(_, note)| note).collect();
        return Ok(Screening::Refused { problems, notes });
    }
    let mut left_out: Vec<usize> = problems.iter().flat_map(|p| p.indexes.iter().copied()).collect();
    left_out.extend(insignificant_zeros.iter().map(|(index, _)| *index));
    left_out.sort_unstable();
    left_out.dedup();
    let values = set.payload["dataValues"].as_array_mut().expect("a checked data value set");
    let notes: Vec<String> = insignificant_zeros.into_iter().map(|(_, note)| note).collect();
    if !left_out.is_empty() && left_out.len() >= values.len() {
        return Ok(Screening::Refused { problems, notes });
    }
    for index in left_out.into_iter().rev() {
        values.remove(index);
        if index < set.keys.len() {
            set.keys.remove(index);
        }
    }
    set.warnings.extend(problems.iter().map(|p| format!("{}; left out", p.detail())));
    set.warnings.extend(notes);
    Ok(Screening::Passed)
}

/// Screens a translated `/aggregate` submission, naming values by their partner keys
/// (`dataValues.<key>`); a refusal is the 422 to answer.
pub async fn screen_aggregate(state: &AppState, mode: IntakeValidation, built: &mut aggregate::Built) -> AppResult<()> {
    let labels: Vec<String> = built.value_keys.iter().map(|k| format!("dataValues.{k}")).collect();
    let set = Screened { payload: &mut built.payload, keys: &mut built.value_keys, warnings: &mut built.warnings };
    screen(state, mode, &labels, set).await?.into_result()
}

/// What the metadata says of the values; `None` when there is nothing to check against.
pub async fn findings(
    state: &AppState,
    mode: IntakeValidation,
    payload: &Value,
    labels: &[String],
) -> AppResult<Option<Findings>> {
    let snapshot = state.metadata.snapshot();
    if mode == IntakeValidation::Off || !snapshot.is_loaded() {
        return Ok(None);
    }
    let mut org_units = HashMap::new();
    for uid in org_units_of(payload) {
        if let Some(unit) = state.hierarchy.find(&state.db, &uid).await? {
            org_units.insert(uid, unit.name);
        }
    }
    let today = Utc::now().with_timezone(&state.config.server.timezone).date_naive();
    let labels = Labels { values: labels.to_vec(), org_units: &org_units };
    Ok(Some(check::data_value_set(&snapshot, payload, &labels, today)))
}

fn org_units_of(payload: &Value) -> Vec<String> {
    let mut units: Vec<String> = std::iter::once(&payload["orgUnit"])
        .chain(payload["dataValues"].as_array().into_iter().flatten().map(|v| &v["orgUnit"]))
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    units.sort();
    units.dedup();
    units
}
