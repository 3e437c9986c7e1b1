//! `POST /api/tracker` (reference A.3.1): the new tracker importer, the same in 2.37, 2.40
//! and 2.43.
//!
//! * Parameters: `async` (default true), `importMode` COMMIT|VALIDATE, `importStrategy`
//!   CREATE|UPDATE|CREATE_AND_UPDATE (default)|DELETE, `atomicMode` ALL (default)|OBJECT,
//!   `reportMode` ERRORS (default)|WARNINGS|FULL, `validationMode` FULL|FAIL_FAST. Unknown
//!   values, and id schemes other than UID, are a 400 WebMessage.
//! * The payload is flattened (`payload`) and every object validated (`validate`, which
//!   tabulates the error codes). UIDs are never generated: the gateway always sends them.
//! * `atomicMode=ALL`: any error stores nothing (every object is ignored), status ERROR.
//!   `OBJECT`: the valid objects are stored, the status is still ERROR if any failed.
//!   VALIDATE stores nothing and counts nothing as created or updated.
//! * Updates merge `attributes` and `dataValues` by id (a null or empty value removes one)
//!   and replace every other property. DELETE cascades from tracked entities to their
//!   enrollments and events; deleted UIDs cannot be used again (E1114/E1113/E1082).
//! * Sync (`async=false`): the bare ImportReport, HTTP 409 if its status is ERROR, else
//!   200. Async: a "Tracker job added" WebMessage; the job runs after
//!   [`crate::Dhis2Double::set_tracker_job_delay`], then `/api/tracker/jobs/{id}` shows the
//!   notifications (newest first) and `/api/tracker/jobs/{id}/report` the report (HTTP 200
//!   whatever its status, 404 before completion).

pub(crate) mod payload;
mod store;
mod validate;

use crate::stats::Stats;
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::envelope::Notification;
use crate::import::query_pairs;
use crate::orgunit::Registry;
use payload::{Bundle, Object};
pub(crate) use store::Store;
use store::{Action, Strategy, TrackerType};
use validate::{Checked, validate};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReportMode {
    Errors,
    Warnings,
    Full,
}

/// The query parameters of one tracker import.
#[derive(Clone)]
pub(crate) struct Params {
    pub(crate) is_async: bool,
    validate_only: bool,
    strategy: Strategy,
    atomic_all: bool,
    pub(crate) report_mode: ReportMode,
    fail_fast: bool,
}

fn choice(
    pairs: &[(String, String)],
    name: &str,
    allowed: &[&'static str],
    default: &'static str,
) -> Result<&'static str, String> {
    match pairs.iter().rev().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) => allowed.iter().find(|a| a.eq_ignore_ascii_case(v)).copied().ok_or_else(|| {
            format!("Value `{v}` is not valid for parameter `{name}`. Valid values are: [{}]", allowed.join(", "))
        }),
    }
}

pub(crate) fn report_mode(pairs: &[(String, String)]) -> Result<ReportMode, String> {
    Ok(match choice(pairs, "reportMode", &["ERRORS", "WARNINGS", "FULL"], "ERRORS")? {
        "FULL" => ReportMode::Full,
        "WARNINGS" => ReportMode::Warnings,
        _ => ReportMode::Errors,
    })
}

impl Params {
    /// `Err` is a bad request.
    pub(crate) fn from_query(query: &str) -> Result<Params, String> {
        let pairs = query_pairs(query);
        let is_async = choice(&pairs, "async", &["true", "false"], "true")? == "true";
        let import_mode = choice(&pairs, "importMode", &["COMMIT", "VALIDATE"], "COMMIT")?;
        let strategy = match choice(
            &pairs,
            "importStrategy",
            &["CREATE", "UPDATE", "CREATE_AND_UPDATE", "DELETE"],
            "CREATE_AND_UPDATE",
        )? {
            "CREATE" => Strategy::Create,
            "UPDATE" => Strategy::Update,
            "DELETE" => Strategy::Delete,
            _ => Strategy::CreateAndUpdate,
        };
        let atomic = choice(&pairs, "atomicMode", &["ALL", "OBJECT"], "ALL")?;
        let validation = choice(&pairs, "validationMode", &["FULL", "FAIL_FAST", "SKIP"], "FULL")?;
        if validation == "SKIP" {
            return Err("validationMode=SKIP is not supported by the DHIS2 double".to_owned());
        }
        choice(&pairs, "flushMode", &["AUTO", "OBJECT"], "AUTO")?;
        for name in ["skipPatternValidation", "skipSideEffects", "skipRuleEngine"] {
            choice(&pairs, name, &["true", "false"], "false")?;
        }
        for name in [
            "idScheme",
            "dataElementIdScheme",
            "orgUnitIdScheme",
            "programIdScheme",
            "programStageIdScheme",
            "categoryOptionComboIdScheme",
            "categoryOptionIdScheme",
        ] {
            if choice(&pairs, name, &["UID", "CODE", "NAME", "ATTRIBUTE"], "UID")? != "UID" {
                return Err(format!("{name} other than UID is not supported by the DHIS2 double"));
            }
        }
        Ok(Params {
            is_async,
            validate_only: import_mode == "VALIDATE",
            strategy,
            atomic_all: atomic == "ALL",
            report_mode: report_mode(&pairs)?,
            fail_fast: validation == "FAIL_FAST",
        })
    }
}

/// One `errorReports[]` entry.
#[derive(Clone)]
struct ErrorEntry {
    code: &'static str,
    message: String,
    tracker_type: TrackerType,
    uid: Option<String>,
}

/// The outcome of one import, kept whole so a job report can be shown in any
/// `reportMode`.
#[derive(Clone)]
pub(crate) struct Report {
    ok: bool,
    errors: Vec<ErrorEntry>,
    stats: Stats,
    /// Per type: stats and the persisted UIDs; `None` when nothing was committed.
    types: Option<Vec<(TrackerType, Stats, Vec<String>)>>,
    seconds: f64,
}

impl Report {
    pub(crate) fn is_error(&self) -> bool {
        !self.ok
    }

    /// "Import complete with status OK, 2 created, 0 updated, 0 deleted, 0 ignored".
    pub(crate) fn completion_message(&self) -> String {
        let s = self.stats;
        format!(
            "Import complete with status {}, {} created, {} updated, {} deleted, {} ignored",
            self.status(),
            s.created,
            s.updated,
            s.deleted,
            s.ignored
        )
    }

    fn status(&self) -> &'static str {
        if self.ok { "OK" } else { "ERROR" }
    }

    /// The ImportReport as `mode` shows it: warnings from WARNINGS on, timings only in FULL.
    pub(crate) fn render(&self, mode: ReportMode) -> Value {
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|e| json!({ "message": e.message, "errorCode": e.code, "trackerType": e.tracker_type.as_str(), "uid": e.uid }))
            .collect();
        let mut type_map = Map::new();
        for (tracker_type, stats, uids) in self.types.iter().flatten() {
            let reports: Vec<Value> = uids
                .iter()
                .map(|uid| json!({ "trackerType": tracker_type.as_str(), "uid": uid, "errorReports": [] }))
                .collect();
            type_map.insert(
                tracker_type.as_str().to_owned(),
                json!({ "trackerType": tracker_type.as_str(), "stats": stats.to_json(), "objectReports": reports }),
            );
        }
        let mut report = json!({
            "status": self.status(),
            "validationReport": { "errorReports": errors, "warningReports": [] },
            "stats": self.stats.to_json(),
            "bundleReport": { "status": "OK", "typeReportMap": type_map, "stats": self.stats.to_json() },
        });
        if mode == ReportMode::Full {
            let took = format!("{:.6} sec.", self.seconds);
            report["timingsStats"] = json!({ "timers": { "validation": took, "commit": took, "totalImport": took } });
        }
        report
    }
}

/// Validates `bundle` and, unless the parameters or errors forbid it, stores it.
pub(crate) fn run(store: &mut Store, registry: &Registry, params: &Params, bundle: &Bundle) -> Report {
    let started = Instant::now();
    let validated = validate(store, registry, params.strategy, bundle);
    let lists: [(&[Checked], &[Object]); 4] = [
        (&validated.tracked_entities, &bundle.tracked_entities),
        (&validated.enrollments, &bundle.enrollments),
        (&validated.events, &bundle.events),
        (&validated.relationships, &bundle.relationships),
    ];
    let mut errors: Vec<ErrorEntry> = lists
        .iter()
        .flat_map(|(checked, _)| checked.iter())
        .flat_map(|c| {
            c.errors.iter().map(|(code, message)| ErrorEntry {
                code,
                message: message.clone(),
                tracker_type: c.tracker_type,
                uid: c.uid.clone(),
            })
        })
        .collect();
    if params.fail_fast {
        errors.truncate(1);
    }
    let failed = !errors.is_empty();
    let commit = !(params.validate_only || (failed && params.atomic_all));
    let mut totals = Stats::default();
    let mut types = Vec::new();
    for (tracker_type, (checked, _)) in TrackerType::ALL.into_iter().zip(lists) {
        let mut stats = Stats { total: checked.len(), ..Stats::default() };
        let mut persisted = Vec::new();
        for c in checked {
            if (failed && params.atomic_all) || !c.ok() {
                stats.ignored += 1;
            } else if commit {
                match c.action {
                    Action::Create => stats.created += 1,
                    Action::Update => stats.updated += 1,
                    Action::Delete => stats.deleted += 1,
                }
                persisted.extend(c.uid.clone());
            }
        }
        for (total, part) in [
            (&mut totals.created, stats.created),
            (&mut totals.updated, stats.updated),
            (&mut totals.deleted, stats.deleted),
            (&mut totals.ignored, stats.ignored),
            (&mut totals.total, stats.total),
        ] {
            *total += part;
        }
        types.push((tracker_type, stats, persisted));
    }
    if commit {
        apply(store, &validated, bundle);
    }
    Report {
        ok: !failed,
        errors,
        stats: totals,
        types: commit.then_some(types),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Replaces `old`'s properties by `new`'s, merging `list` entries by `id_key`.
fn merge(old: Option<&Value>, new: &Object, list: &str, id_key: &str) -> Value {
    let mut out = new.clone();
    let mut entries: Vec<Value> = old.and_then(|o| o.get(list)).and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(Value::Array(incoming)) = new.get(list) {
        for item in incoming {
            let id = item.get(id_key);
            entries.retain(|e| e.get(id_key) != id);
            if item.get("value").and_then(Value::as_str).is_some_and(|v| !v.is_empty()) {
                entries.push(item.clone());
            }
        }
    }
    if new.contains_key(list) || !entries.is_empty() {
        out.insert(list.to_owned(), Value::Array(entries));
    }
    Value::Object(out)
}

/// Writes the valid objects: creates and updates parents first, deletes children first.
fn apply(store: &mut Store, validated: &validate::Validated, bundle: &Bundle) {
    let valid = |checked: &[Checked], action_is_delete: bool| -> Vec<(usize, String)> {
        checked
            .iter()
            .enumerate()
            .filter(|(_, c)| c.ok() && (c.action == Action::Delete) == action_is_delete)
            .filter_map(|(i, c)| c.uid.clone().map(|u| (i, u)))
            .collect()
    };
    for (i, uid) in valid(&validated.tracked_entities, false) {
        let merged = merge(store.tracked_entities.get(&uid), &bundle.tracked_entities[i], "attributes", "attribute");
        store.tracked_entities.insert(uid, merged);
    }
    for (i, uid) in valid(&validated.enrollments, false) {
        let merged = merge(store.enrollments.get(&uid), &bundle.enrollments[i], "attributes", "attribute");
        store.enrollments.insert(uid, merged);
    }
    for (i, uid) in valid(&validated.events, false) {
        let mut merged = merge(store.events.get(&uid), &bundle.events[i], "dataValues", "dataElement");
        if merged.get("program").is_none_or(Value::is_null)
            && let Some(stage) = merged["programStage"].as_str().and_then(crate::model::program_stage)
        {
            merged["program"] = json!(stage.program);
        }
        store.events.insert(uid, merged);
    }
    for (_, uid) in valid(&validated.events, true) {
        delete_event(store, &uid);
    }
    for (_, uid) in valid(&validated.enrollments, true) {
        delete_enrollment(store, &uid);
    }
    for (_, uid) in valid(&validated.tracked_entities, true) {
        let enrollments: Vec<String> = store
            .enrollments
            .iter()
            .filter(|(_, e)| e["trackedEntity"].as_str() == Some(uid.as_str()))
            .map(|(u, _)| u.clone())
            .collect();
        for enrollment in enrollments {
            delete_enrollment(store, &enrollment);
        }
        store.tracked_entities.remove(&uid);
        store.deleted_tracked_entities.insert(uid);
    }
}

fn delete_enrollment(store: &mut Store, uid: &str) {
    let events: Vec<String> =
        store.events.iter().filter(|(_, e)| e["enrollment"].as_str() == Some(uid)).map(|(u, _)| u.clone()).collect();
    for event in events {
        delete_event(store, &event);
    }
    store.enrollments.remove(uid);
    store.deleted_enrollments.insert(uid.to_owned());
}

fn delete_event(store: &mut Store, uid: &str) {
    store.events.remove(uid);
    store.deleted_events.insert(uid.to_owned());
}

/// An async tracker import: notifications newest first, and the report once complete.
pub(crate) struct Job {
    pub(crate) notifications: Vec<Notification>,
    pub(crate) report: Option<Report>,
}

#[cfg(test)]
mod tests;
