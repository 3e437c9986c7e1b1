//! Submissions: what partners send, what the gateway answers, and the submission log.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Body of `POST /aggregate`, as the original service defined it plus optional fields.
/// Each `dataValues` entry is the value itself, or `{"value": …, "comment": "…"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AggregateRequest {
    /// Org unit UID (or a code that an `ou` mapping translates).
    pub org_unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_unit_name: Option<String>,
    /// A DHIS2 ISO period, e.g. `202401`, `2024Q1`, `2024July`.
    pub period: String,
    /// Data set UID.
    pub data_set: String,
    /// Partner key → value, translated through the mappings.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data_values: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_option_combo: Option<String>,
    /// `yyyy-MM-dd`; only then is the data set marked complete in DHIS2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_date: Option<String>,
    /// Validate, map and ask DHIS2 with `dryRun=true`; nothing is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
}

/// Answer of an accepted `POST /aggregate` (the original's shape plus `warnings`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AggregateAccepted {
    pub message: String,
    pub submission_id: i64,
    pub task_id: String,
    /// The DHIS2 dataValueSet that will be sent.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: Value,
    /// Keys that could not be mapped or values that were left out, in words.
    pub warnings: Vec<String>,
}

/// Answer of an accepted document (`POST /adx`, `POST /aggregate/file`): a submission per ADX
/// group or per data set, org unit and period of a file, in order, each with its warnings
/// placed in the document (`line 7 <dataValue>: …`, `row 5: …`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocumentAccepted {
    pub message: String,
    pub submissions: Vec<AggregateAccepted>,
}

/// Answer of a document sent with `?dryRun=true` (`POST /adx`, `POST /aggregate/file`): each
/// submission it would become, in order, with DHIS2's verdict and its warnings placed in the
/// document; nothing was stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocumentDryRun {
    pub message: String,
    pub submissions: Vec<DryRunResult>,
}

/// `POST /aggregate/file/preview`: what a data file would become, submission by submission,
/// checked as its upload will be. `ready` when every one would be taken.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DataFilePreview {
    pub submissions: Vec<PreviewedSubmission>,
    pub ready: bool,
}

/// One submission a data file would become.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreviewedSubmission {
    /// Where its rows begin: `row 2`.
    pub rows: String,
    pub data_set: Option<String>,
    pub data_set_name: Option<String>,
    pub org_unit: Option<String>,
    pub org_unit_name: Option<String>,
    pub period: Option<String>,
    /// Values that would go to DHIS2.
    pub values: usize,
    /// The data value set DHIS2 would get; none when it would be refused.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub payload: Option<Value>,
    /// Values left out, with their rows.
    pub warnings: Vec<String>,
    /// Why it would be refused, with the rows.
    pub problems: Vec<String>,
}

/// Answer of `POST /aggregate` with `dryRun`: the would-be payload and DHIS2's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DryRunResult {
    pub message: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: Value,
    pub warnings: Vec<String>,
    /// DHIS2's answer to the dry run; absent when DHIS2 could not be reached.
    pub dhis2: Option<Dhis2Verdict>,
}

/// What DHIS2 made of a payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dhis2Verdict {
    pub http_status: Option<i32>,
    /// SUCCESS, WARNING or ERROR.
    pub import_status: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub import_count: Option<Value>,
    pub conflicts: Vec<ConflictView>,
    pub error: Option<String>,
}

/// A DHIS2 conflict, tied back to the partner's keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConflictView {
    pub error_code: Option<String>,
    pub object: Option<String>,
    pub property: Option<String>,
    /// DHIS2's message.
    pub message: Option<String>,
    /// Positions in the dataValues sent; -1 means the whole group.
    pub indexes: Vec<i64>,
    /// The partner's `dataValues` keys these positions came from (all keys for -1).
    pub partner_keys: Vec<String>,
    /// The conflict in names: the values it concerns (`HIV tests, Male`) and DHIS2's message
    /// with the UIDs the synced metadata knows replaced by their names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub described: Option<String>,
    /// Who must act on it (absent in attempts recorded before refusals were classed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<crate::RefusalClass>,
}

/// Status of a submission. `failed` (DHIS2 rejected the data) is never retried
/// automatically; `retrying` is; `dead` means retries ran out.
/// `held`: some values wait for DHIS2 to open their period or undo an approval (the rest
/// were delivered).
pub const SUBMISSION_STATUSES: [&str; 8] =
    ["queued", "processing", "succeeded", "warning", "failed", "retrying", "dead", "held"];

/// A submission as the log lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Submission {
    pub id: i64,
    pub kind: String,
    pub submitted_at: DateTime<Utc>,
    /// Username of the submitter.
    pub user: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: Value,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub dhis2_payload: Option<Value>,
    pub status: String,
    pub retry_count: i32,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub task_id: Option<String>,
    /// The job id an import through the DHIS2-compatible API was given, if it came that way.
    #[serde(default)]
    pub job_id: Option<String>,
    /// DHIS2's last raw answer (when `save_response`).
    pub response: Option<String>,
    /// What went wrong last, in words.
    pub errors: Option<String>,
    pub data_set: Option<String>,
    pub org_unit: Option<String>,
    pub period: Option<String>,
    pub warnings: Vec<String>,
    /// The data set's name, where the synced metadata knows it.
    #[serde(default)]
    pub data_set_name: Option<String>,
    /// The org unit's name, where the synced hierarchy knows it.
    #[serde(default)]
    pub org_unit_name: Option<String>,
    /// Its path of names from the root: `Demo Republic › Kabarole › Bukuku HC III`.
    #[serde(default)]
    pub org_unit_path: Option<String>,
    /// The standard it was sent in (`adx`, `fhir`, `spreadsheet`); none for JSON.
    #[serde(default)]
    pub source_format: Option<String>,
}

/// `GET /logs/{id}`: the submission with every delivery attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmissionDetail {
    #[serde(flatten)]
    pub submission: Submission,
    /// One per DHIS2 server the submission goes to: the primary, then CC servers.
    pub destinations: Vec<crate::DestinationView>,
    pub attempts: Vec<Attempt>,
    /// Every value of the DHIS2 payload at each server that answered: stored, unchanged,
    /// refused (with why and who must act), held, released, discarded or expired.
    #[serde(default)]
    pub values: Vec<crate::ValueOutcome>,
    /// Its part of the standard document it came in, as sent (an ADX group, a MeasureReport).
    #[serde(default)]
    pub source_document: Option<String>,
}

/// One delivery attempt, exactly as it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attempt {
    /// The DHIS2 server's name.
    pub server: Option<String>,
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: Option<i32>,
    pub request_url: Option<String>,
    /// The exact payload sent.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub request_payload: Option<Value>,
    pub http_status: Option<i32>,
    pub dhis2_version: Option<String>,
    pub response_body: Option<String>,
    pub import_status: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub import_count: Option<Value>,
    pub conflicts: Vec<ConflictView>,
    /// succeeded, warning, failed, retry or dead.
    pub outcome: String,
    pub error: Option<String>,
    /// Sent in one request with other submissions of the same partner (coalescing).
    #[serde(default)]
    pub batch: Option<AttemptBatch>,
}

/// The request an attempt shared with other submissions. Its `request_payload` holds this
/// submission's values as they were sent in it; `response_body` is DHIS2's answer to the whole
/// request, and the attempt's counts and conflicts are this submission's part of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttemptBatch {
    /// The request's id, shared by its members' attempts.
    pub id: String,
    /// How many submissions and values the request carried.
    pub members: i32,
    pub values: i32,
    /// Where this submission's values began among the request's (0-based).
    pub first: i32,
    /// Whether the counts are DHIS2's own: `false` when the request stored values in several
    /// ways (new and updated), which DHIS2 does not tell value by value, so they were divided.
    /// Empty when DHIS2's answer had no counts.
    pub counts_exact: Option<bool>,
}

/// Body of `POST /aggregate/reenqueue/batch` and `POST /logs/delete`: one of the three
/// selections.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequeueRequest {
    #[serde(default)]
    pub task_ids: Vec<String>,
    #[serde(default)]
    pub ids: Vec<i64>,
    /// The same filters as `GET /logs` (without paging).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub filter: Option<BTreeMap<String, String>>,
}

/// Answer of the requeue routes (the original's keys).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequeueResult {
    #[serde(rename = "reEnqueued")]
    pub re_enqueued: usize,
    pub failed: usize,
    pub errors: Vec<String>,
}

/// Answer of `POST /logs/delete`: what was deleted, and why the rest was not.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeleteResult {
    pub deleted: usize,
    /// Selected but not deleted (not found, or being delivered right now); `errors` says why.
    pub skipped: usize,
    pub errors: Vec<String>,
}

/// Filters of `GET /logs` (and of batch requeue). Dates are whole days in the gateway's time
/// zone, inclusive, or RFC 3339 instants.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct LogFilter {
    /// One of queued, processing, succeeded, warning, failed, retrying, dead (the original's
    /// values such as SUCCESS, ERROR, pending, retry, archived are understood).
    pub status: Option<String>,
    pub from_date: Option<String>,
    pub to_date: Option<String>,
    /// One whole day (`yyyy-MM-dd`), as `from_date` and `to_date` both (the original's
    /// parameter, which matched only rows stamped at midnight).
    pub submitted_at: Option<String>,
    pub task_id: Option<String>,
    /// The submission id, or the job id an import through the DHIS2-compatible API was
    /// given (`/dhis2/api/dataValueSets?async=true`, a tracker job).
    pub job_id: Option<String>,
    pub data_set: Option<String>,
    pub org_unit: Option<String>,
    pub period: Option<String>,
    /// Username of the submitter.
    pub user: Option<String>,
    /// Text anywhere in the partner's payload, or in the job id of an import through the
    /// DHIS2-compatible API.
    pub q: Option<String>,
    /// Submissions with a value DHIS2 did not store for this reason: data, mapping,
    /// closed_period, approved, access or transient.
    pub class: Option<String>,
    /// … with this DHIS2 error code (`E7640`).
    pub code: Option<String>,
    /// … of this data element (UID or code as sent) or partner key.
    pub element: Option<String>,
    /// One of submitted_at (the default), status, period, org_unit, data_set, user,
    /// retry_count, last_attempt_at. Ties are broken by id (by user: by time, then id), so pages
    /// never overlap.
    pub sort: Option<String>,
    /// `asc` or `desc` (the default). Empty values sort last ascending and first descending.
    pub order: Option<String>,
    /// Counted from 1. With `after`, only what the console shows; the rows are those after it.
    pub page: Option<i64>,
    /// 1 to 500; 10 by default.
    pub page_size: Option<i64>,
    /// Where the previous page ended: its `next`. The page is then read from there (as fast
    /// deep in the log as at its start) rather than by counting the rows before it; it must
    /// come from a page of the same `sort` and `order`.
    pub after: Option<String>,
    /// For `GET /logs/export`: `csv` (the default) or `xlsx`.
    pub format: Option<String>,
}

/// What [`LogFilter::sort`] may name: the columns of the log.
pub const SORT_KEYS: [&str; 8] =
    ["submitted_at", "status", "period", "org_unit", "data_set", "user", "retry_count", "last_attempt_at"];

impl LogFilter {
    /// Whether the filter names no criterion at all (paging and sorting aside).
    pub fn selects_everything(&self) -> bool {
        let LogFilter {
            status,
            from_date,
            to_date,
            submitted_at,
            task_id,
            job_id,
            data_set,
            org_unit,
            period,
            user,
            q,
            class,
            code,
            element,
            ..
        } = self;
        [
            status,
            from_date,
            to_date,
            submitted_at,
            task_id,
            job_id,
            data_set,
            org_unit,
            period,
            user,
            q,
            class,
            code,
            element,
        ]
        .iter()
        .all(|v| v.as_deref().is_none_or(|v| v.trim().is_empty()))
    }
}
