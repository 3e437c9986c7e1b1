//! `POST /api/dataValueSets`: payload parsing, validation, storing, and the answer in the
//! exact shape of each emulated version (reference sections A.1.1–A.1.4).
//!
//! Three regimes:
//!
//! * **2.37 (plain):** always HTTP 200 with a bare `ImportSummary`; conflicts are
//!   `{object, value}`. Set-level problems (unknown `dataSet`, set `orgUnit` or set
//!   `attributeOptionCombo`) give ERROR with every value ignored; per-value problems give
//!   WARNING, even when every value is rejected.
//! * **2.40 (wrapped, old validation):** the same decisions as 2.37, inside a `WebMessage`;
//!   WARNING and ERROR both answer HTTP 409. Conflicts are
//!   `{object, objects, value, errorCode, property, indexes}` with E76xx codes, and
//!   conflicts with the same message share one entry listing all their indexes.
//!   Unchanged values count as `ignored`. No `rejectedIndexes` (that is 2.41+).
//! * **2.43 (wrapped, new pipeline):** reference errors reject the whole request with one
//!   conflict; assignment errors and duplicate keys reject the whole data-set group
//!   (conflict `indexes: [-1]`); only value-level errors are partial (WARNING with HTTP 200
//!   if some value succeeded, else ERROR with 409). `imported` and `deleted` are always 0,
//!   every succeeded value (written, unchanged or deleted) counts as `updated`, and
//!   `rejectedIndexes` lists every rejected position.
//!
//! Deliberate strictness: the double checks period types and org-unit assignment on every
//! version (real 2.37–2.42 only do so with the `strict…` import options), so a gateway
//! cannot rely on a lenient server.
//!
//! An unknown `importStrategy` or id scheme, and a `completeDate` that is not `yyyy-MM-dd`,
//! fail the whole import with status ERROR and no conflicts ("The import process failed: …").
//!
//! Submodules: `options` (query parameters, id schemes), `payload` (the JSON as sent),
//! `validate` (checks shared by all versions, storing) and `problem` (what can be
//! rejected, with the table of error codes per version).

mod options;
mod payload;
mod problem;
mod store;
mod validate;

use std::collections::HashSet;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

pub(crate) use options::{Options, query_pairs};
pub(crate) use validate::is_number;

use options::{EffectiveSchemes, Kind, Schemes, Strategy};
use payload::{Payload, parse_payload};
use problem::{Conflict, Problem};
pub(crate) use store::Store;
use validate::{
    Decoded, Written, check_assignment, check_entry, check_value, data_set_of, decode, entry_closed, write,
};

use crate::common::Version;
use crate::entry::{Closed, Entry};
use crate::envelope::{Notification, WebMessage};
use crate::model::{self, DataSet};
use crate::orgunit::Registry;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
enum Status {
    Success,
    Warning,
    Error,
}

#[derive(Clone, Copy, Default, Serialize)]
struct ImportCount {
    imported: usize,
    updated: usize,
    ignored: usize,
    deleted: usize,
}

/// DHIS2's `ImportSummary`, already in the emulated version's shape.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImportSummary {
    response_type: &'static str,
    status: Status,
    import_options: Value,
    description: String,
    import_count: ImportCount,
    conflicts: Vec<Conflict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejected_indexes: Option<Vec<usize>>,
    data_set_complete: String,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Success => "SUCCESS",
            Status::Warning => "WARNING",
            Status::Error => "ERROR",
        }
    }
}

impl ImportSummary {
    fn new(version: Version, import_options: Value) -> ImportSummary {
        ImportSummary {
            response_type: "ImportSummary",
            status: Status::Success,
            import_options,
            description: "Import process completed successfully".to_owned(),
            import_count: ImportCount::default(),
            conflicts: Vec::new(),
            // `rejectedIndexes` exists from 2.41 on.
            rejected_indexes: (version == Version::V2_43).then(Vec::new),
            data_set_complete: "false".to_owned(),
        }
    }

    /// A summary for an import that failed before looking at any value.
    fn failed(version: Version, import_options: Value, reason: &str, values: usize) -> Self {
        let mut summary = ImportSummary::new(version, import_options);
        summary.status = Status::Error;
        summary.description = format!("The import process failed: {reason}");
        summary.import_count.ignored = values;
        if let Some(rejected) = &mut summary.rejected_indexes {
            rejected.extend(0..values);
        }
        summary
    }

    pub(crate) fn import_options(&self) -> &Value {
        &self.import_options
    }

    /// The text of the final job notification, as DHIS2 words it.
    pub(crate) fn completion_message(&self) -> String {
        let c = self.import_count;
        format!(
            "Import complete with status {}, {} created, {} updated, {} deleted, {} ignored",
            self.status.as_str(),
            c.imported,
            c.updated,
            c.deleted,
            c.ignored
        )
    }
}

/// An import that failed before reading any value (unparseable async payload).
pub(crate) fn failed(version: Version, opts: &Options, reason: &str) -> ImportSummary {
    let schemes = EffectiveSchemes::new(&Schemes::default(), &Schemes::default());
    ImportSummary::failed(version, opts.to_json(schemes), reason, 0)
}

/// Runs one import against `store`, with the org units of `org_units`. `Err` is a payload
/// that is not a data value set (HTTP 400); everything else is reported in the summary.
pub(crate) fn run(
    store: &mut Store,
    org_units: &Registry,
    entry: &Entry,
    version: Version,
    opts: &Options,
    body: &[u8],
) -> Result<ImportSummary, String> {
    let payload = parse_payload(body)?;
    let url_schemes = opts.url_schemes.clone().unwrap_or_default();
    let payload_schemes = payload.schemes.clone().unwrap_or_default();
    let schemes = EffectiveSchemes::new(&payload_schemes, &url_schemes);
    let options_json = opts.to_json(schemes);
    let n = payload.values.len();

    let strategy = match check_setup(opts, &payload) {
        Ok(strategy) => strategy,
        Err(reason) => return Ok(ImportSummary::failed(version, options_json, &reason, n)),
    };

    // Dry runs validate and count against a scratch copy.
    let mut scratch;
    let target = if opts.dry_run {
        scratch = store.clone();
        &mut scratch
    } else {
        store
    };
    let ctx = Context { version, payload: &payload, schemes, strategy, org_units, entry, now: crate::time::now() };
    let mut summary = ImportSummary::new(version, options_json);
    let explicit = match &payload.data_set {
        Some(id) => match model::data_set(schemes.of(Kind::DataSet), id) {
            Some(ds) => Some(ds),
            None => {
                let problem = Problem::DataSetNotFound(id.clone());
                set_level_error(&mut summary, version, &problem, n);
                return Ok(summary);
            }
        },
        None => None,
    };
    match version {
        Version::V2_37 | Version::V2_40 => import_legacy(&ctx, explicit, target, &mut summary),
        Version::V2_43 => import_pipeline(&ctx, explicit, target, &mut summary),
    }
    if let Some(date) = &payload.complete_date
        && explicit.is_some()
        && summary.status != Status::Error
    {
        summary.data_set_complete = date.clone();
    }
    Ok(summary)
}

/// Checks what must hold before any value is looked at; `Err` fails the whole import.
fn check_setup(opts: &Options, payload: &Payload) -> Result<Strategy, String> {
    let strategy = opts.strategy.clone()?;
    opts.url_schemes.as_ref().map_err(Clone::clone)?;
    payload.schemes.as_ref().map_err(Clone::clone)?;
    if let Some(date) = &payload.complete_date {
        // chrono alone would also accept unpadded fields such as `2024-1-5`.
        let iso = date.len() == 10 && NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok();
        if !iso {
            return Err(format!("Invalid complete date `{date}`, expected yyyy-MM-dd"));
        }
    }
    Ok(strategy)
}

/// What every step of one import needs.
struct Context<'a> {
    version: Version,
    payload: &'a Payload,
    schemes: EffectiveSchemes,
    strategy: Strategy,
    org_units: &'a Registry,
    entry: &'a Entry,
    now: chrono::NaiveDateTime,
}

/// Marks the whole import as ERROR because of a problem outside the values.
fn set_level_error(summary: &mut ImportSummary, version: Version, problem: &Problem, n: usize) {
    summary.status = Status::Error;
    summary.description = match version {
        Version::V2_37 => problem.message_v37(),
        Version::V2_40 => problem.describe_v40().1,
        Version::V2_43 => problem.describe_v43().2,
    };
    let indexes: &[i64] = if version == Version::V2_43 { &[-1] } else { &[] };
    summary.conflicts.push(problem.conflict(version, indexes));
    summary.import_count.ignored = n;
    if let Some(rejected) = &mut summary.rejected_indexes {
        rejected.extend(0..n);
    }
}

/// 2.37 and 2.38–2.42: every value on its own; problems become conflicts, never ERROR.
fn import_legacy(ctx: &Context, explicit: Option<&'static DataSet>, store: &mut Store, summary: &mut ImportSummary) {
    let payload = ctx.payload;
    let n = payload.values.len();
    // The outer org unit and AOC are resolved once, before any value (set-level ERROR).
    let outer = [(&payload.org_unit, Kind::OrgUnit), (&payload.aoc, Kind::AttributeOptionCombo)];
    for (id, kind) in outer {
        let Some(id) = id else { continue };
        let scheme = ctx.schemes.of(kind);
        let problem = match kind {
            Kind::OrgUnit => ctx.org_units.find(scheme, id).is_none().then(|| Problem::SetOrgUnitNotFound(id.clone())),
            _ => model::category_option_combo(scheme, id).is_none().then(|| Problem::SetAocNotFound(id.clone())),
        };
        if let Some(problem) = problem {
            set_level_error(summary, ctx.version, &problem, n);
            return;
        }
    }

    let mut conflicts: Vec<(Problem, Vec<i64>)> = Vec::new();
    for (index, input) in payload.values.iter().enumerate() {
        let checked = decode(index, input, payload, ctx.schemes, ctx.org_units, ctx.version).and_then(|d| {
            let ds = data_set_of(&d, explicit);
            check_assignment(&d, ds)?;
            let value = match ctx.strategy {
                Strategy::Delete => String::new(),
                _ => check_value(&d)?,
            };
            if let Some(ds) = ds {
                check_entry(&d, ds, ctx.entry, ctx.version, ctx.now)?;
            }
            Ok((d, value))
        });
        match checked {
            Ok((d, value)) => match write(store, &d, &value, ctx.strategy) {
                Written::Imported => summary.import_count.imported += 1,
                Written::Updated => summary.import_count.updated += 1,
                Written::Deleted => summary.import_count.deleted += 1,
                Written::Unchanged | Written::Skipped => summary.import_count.ignored += 1,
            },
            Err(problem) => {
                summary.import_count.ignored += 1;
                let index = index as i64;
                // 2.38+ merges conflicts with the same message into one entry.
                match conflicts.iter_mut().find(|(p, _)| *p == problem) {
                    Some((_, indexes)) if ctx.version == Version::V2_40 => indexes.push(index),
                    _ => conflicts.push((problem, vec![index])),
                }
            }
        }
    }
    if !conflicts.is_empty() {
        summary.status = Status::Warning;
    }
    summary.conflicts = conflicts.iter().map(|(problem, indexes)| problem.conflict(ctx.version, indexes)).collect();
}

/// 2.43: decode everything (reference errors fail the request), then per data-set group
/// check assignments and duplicates (failing the group), then values (partial).
fn import_pipeline(ctx: &Context, explicit: Option<&'static DataSet>, store: &mut Store, summary: &mut ImportSummary) {
    let payload = ctx.payload;
    let n = payload.values.len();
    let decoded: Vec<Result<Decoded, Problem>> = payload
        .values
        .iter()
        .enumerate()
        .map(|(i, input)| decode(i, input, payload, ctx.schemes, ctx.org_units, ctx.version))
        .collect();
    if let Some(Err(first)) = decoded.iter().find(|d| d.is_err()) {
        let indexes: Vec<i64> = decoded
            .iter()
            .enumerate()
            .filter(|(_, d)| d.as_ref().err() == Some(first))
            .map(|(i, _)| i as i64)
            .collect();
        summary.status = Status::Error;
        summary.description = "Import failed, the data values could not be decoded".to_owned();
        summary.conflicts.push(first.conflict(ctx.version, &indexes));
        summary.import_count.ignored = n;
        summary.rejected_indexes = Some((0..n).collect());
        return;
    }

    let mut groups: Vec<(Option<&'static DataSet>, Vec<Decoded>)> = Vec::new();
    for d in decoded.into_iter().flatten() {
        let ds = data_set_of(&d, explicit);
        let uid = ds.map(|x| x.id.uid);
        match groups.iter().position(|(g, _)| g.map(|x| x.id.uid) == uid) {
            Some(i) => groups[i].1.push(d),
            None => groups.push((ds, vec![d])),
        }
    }

    let mut rejected: Vec<usize> = Vec::new();
    let mut succeeded = 0;
    let mut group_failed = false;
    let mut value_conflicts: Vec<Conflict> = Vec::new();
    for (ds, values) in &groups {
        let mut problems: Vec<Problem> = Vec::new();
        let mut seen = HashSet::new();
        for d in values {
            let found = check_assignment(d, *ds)
                .err()
                .or_else(|| (!seen.insert(d.key())).then(|| Problem::Duplicate { key: d.key() }));
            if let Some(problem) = found.filter(|p| !problems.contains(p)) {
                problems.push(problem);
            }
        }
        if !problems.is_empty() {
            group_failed = true;
            rejected.extend(values.iter().map(|d| d.index));
            summary.conflicts.extend(problems.iter().map(|p| p.conflict(ctx.version, &[-1])));
            continue;
        }
        // Timeliness rejects the whole group too; its conflict lists the group's positions.
        if let Some(problem) = ds.and_then(|ds| untimely(ctx, ds, values)) {
            group_failed = true;
            rejected.extend(values.iter().map(|d| d.index));
            let indexes: Vec<i64> = values.iter().map(|d| d.index as i64).collect();
            summary.conflicts.push(problem.conflict(ctx.version, &indexes));
            continue;
        }
        for d in values {
            let value = match ctx.strategy {
                Strategy::Delete => Ok(String::new()),
                _ => check_value(d),
            };
            match value {
                Ok(value) => {
                    if write(store, d, &value, ctx.strategy) != Written::Skipped {
                        succeeded += 1;
                    }
                }
                Err(problem) => {
                    rejected.push(d.index);
                    value_conflicts.push(problem.conflict(ctx.version, &[d.index as i64]));
                }
            }
        }
    }
    summary.conflicts.extend(value_conflicts);
    rejected.sort_unstable();
    summary.import_count.updated = succeeded;
    summary.import_count.ignored = n - succeeded;
    summary.rejected_indexes = Some(rejected);
    summary.status = if group_failed {
        Status::Error
    } else if succeeded == n {
        Status::Success
    } else if succeeded > 0 {
        Status::Warning
    } else {
        Status::Error
    };
    if summary.status == Status::Error {
        summary.description = if succeeded > 0 {
            "Import completed with errors, some data set groups were rejected".to_owned()
        } else {
            "Import failed, no data values were imported".to_owned()
        };
    }
}

/// 2.43's timeliness check of a data-set group: periods that are expired, not yet open or
/// outside the input periods first (E8030), then approved ones (E8033).
fn untimely(ctx: &Context, ds: &DataSet, values: &[Decoded]) -> Option<Problem> {
    let closed: Vec<(&Decoded, Closed)> =
        values.iter().filter_map(|d| Some((d, entry_closed(d, ds, ctx.entry, ctx.version, ctx.now)?))).collect();
    let periods = |approved: bool| {
        let periods: std::collections::BTreeSet<String> = closed
            .iter()
            .filter(|(_, c)| (*c == Closed::Approved) == approved)
            .map(|(d, _)| d.period().to_owned())
            .collect();
        periods.into_iter().collect::<Vec<_>>()
    };
    let untimely = periods(false);
    if !untimely.is_empty() {
        return Some(Problem::Untimely { ds: ds.id.uid.to_owned(), periods: untimely });
    }
    let (first, _) = closed.first()?;
    Some(Problem::ApprovedPeriods {
        aoc: first.aoc().to_owned(),
        ou: first.org_unit().to_owned(),
        periods: periods(true),
    })
}

/// The answer `version` gives to a synchronous import.
pub(crate) fn respond(version: Version, summary: &ImportSummary) -> Response {
    if version == Version::V2_37 {
        // ≤2.37 unwraps the WebMessage and answers 200 whatever the status.
        return (StatusCode::OK, Json(summary)).into_response();
    }
    let (code, status, message) = match (summary.status, version) {
        (Status::Success, _) => (StatusCode::OK, "OK", "Import was successful."),
        (Status::Warning, Version::V2_43) => {
            (StatusCode::OK, "WARNING", "Import completed with warnings, please check import summary.")
        }
        (Status::Warning, _) => {
            (StatusCode::CONFLICT, "WARNING", "One more conflicts encountered, please check import summary.")
        }
        (Status::Error, _) => (StatusCode::CONFLICT, "ERROR", "An error occurred, please check import summary."),
    };
    (code, Json(WebMessage::new(code, status, message).with_response(summary))).into_response()
}

/// An async import: its final summary and its notifications, newest first.
pub(crate) struct Job {
    pub(crate) summary: ImportSummary,
    pub(crate) notifications: Vec<Notification>,
}
