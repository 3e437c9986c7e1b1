//! The submission log: filtered, sorted pages, one submission with every attempt, and
//! deleting.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Utc};
use dhis2gw_wire::{
    Attempt, ConflictView, DestinationView, LogFilter, Page, RefusalClass, Role, SORT_KEYS, Submission,
    SubmissionDetail,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;

use super::verdict;
use crate::access::audit::{self, Actor};
use crate::access::identity::AuthUser;
use crate::app::AppState;
use crate::holds;
use crate::infra::dhis2::refusal;
use crate::infra::error::{AppError, AppResult};
use crate::infra::export::{self, Export, Format};
use crate::infra::query::{date_range, day_or_instant, like_pattern, paging};
use crate::orgunits;
use futures_util::TryStreamExt;

/// A filter checked and ready for SQL.
#[derive(Serialize)]
pub(super) struct Criteria {
    status: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    task_id: Option<String>,
    /// `job_id` as a submission id…
    id: Option<i64>,
    /// … or as the job id of the DHIS2-compatible API.
    job_uid: Option<String>,
    data_set: Option<String>,
    org_unit: Option<String>,
    period: Option<String>,
    /// A partner's name, and its id (`None` if no partner has that name: nothing matches).
    user: Option<String>,
    user_id: Option<i64>,
    q: Option<String>,
    /// Of the values DHIS2 did not store: the class, error code, data element or partner key.
    class: Option<String>,
    code: Option<String>,
    element: Option<String>,
    /// When few submissions have refused values like that: their ids (a hint for the planner,
    /// which the refused-value criteria above still decide).
    among: Option<Vec<i64>>,
    /// Partners only ever see their own submissions.
    owner: Option<i64>,
    /// One of [`SORT_KEYS`].
    #[serde(skip)]
    sort: &'static str,
    /// `asc` or `desc`.
    #[serde(skip)]
    order: &'static str,
}

impl Criteria {
    /// As `matching_submissions(jsonb)` takes them.
    fn as_json(&self) -> Value {
        serde_json::to_value(self).expect("criteria serialise")
    }
}

/// The original service's status words → ours.
fn status_of(word: &str) -> Option<&'static str> {
    Some(match word.trim().to_ascii_lowercase().as_str() {
        "queued" | "pending" | "scheduled" => "queued",
        "processing" | "active" => "processing",
        "succeeded" | "success" | "ok" | "completed" => "succeeded",
        "warning" => "warning",
        "failed" | "error" => "failed",
        "retrying" | "retry" => "retrying",
        "dead" | "archived" => "dead",
        "held" | "on hold" | "locked" => "held",
        _ => return None,
    })
}

/// The filter checked, with what the caller may see. A partner's name is looked up here, so
/// that PostgreSQL plans with the partner's id and knows how many submissions it has: a
/// partner that sent little is found through its index, not by reading the log for it.
pub(super) async fn criteria(
    db: &PgPool,
    filter: LogFilter,
    caller: &AuthUser,
    tz: chrono_tz::Tz,
) -> AppResult<Criteria> {
    let mut c = checked(filter, caller, tz)?;
    if let Some(name) = &c.user {
        c.user_id = sqlx::query_scalar!("SELECT id FROM users WHERE lower(username) = lower($1)", name)
            .fetch_optional(db)
            .await?;
    }
    if c.class.is_some() || c.code.is_some() || c.element.is_some() {
        // Not DISTINCT, which would read every matching value before answering: past
        // FEW_REFUSED values (of fewer submissions, perhaps) they are simply common.
        let mut ids = sqlx::query_scalar!(
            r#"SELECT submission_id FROM value_outcomes
               WHERE outcome <> 'released' AND ($1::text IS NULL OR class = $1) AND ($2::text IS NULL OR error_code = $2)
                 AND ($3::text IS NULL OR data_element = $3 OR partner_key = $3)
               LIMIT $4"#,
            c.class,
            c.code,
            c.element,
            FEW_REFUSED + 1,
        )
        .fetch_all(db)
        .await?;
        if ids.len() as i64 <= FEW_REFUSED {
            ids.sort_unstable();
            ids.dedup();
            c.among = Some(ids);
        }
    }
    Ok(c)
}

/// Up to this many refused values asked for, their submissions are looked up by id; more are
/// common enough to be met reading the log in the page's order.
const FEW_REFUSED: i64 = 2_000;

fn checked(filter: LogFilter, caller: &AuthUser, tz: chrono_tz::Tz) -> AppResult<Criteria> {
    let status = match filter.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(word) => Some(status_of(word).ok_or_else(|| {
            AppError::invalid_field(
                "status",
                format!("unknown status '{word}'; use one of {}", dhis2gw_wire::SUBMISSION_STATUSES.join(", ")),
            )
        })?),
    };
    let day = filter.submitted_at.as_deref().filter(|d| !d.trim().is_empty());
    if day.is_some() && (filter.from_date.is_some() || filter.to_date.is_some()) {
        return Err(AppError::invalid_field("submitted_at", "give either submitted_at or from_date/to_date"));
    }
    let (from, to) = date_range(day.or(filter.from_date.as_deref()), day.or(filter.to_date.as_deref()), tz)?;
    let blank = |s: Option<String>| s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let job_id = blank(filter.job_id);
    if let Some(job) = job_id.as_deref().filter(|j| j.parse::<i64>().is_err() && !crate::infra::uid::is_valid(j)) {
        return Err(AppError::invalid_field(
            "job_id",
            format!("'{job}' is neither a submission id nor a job id (11 letters and digits)"),
        ));
    }
    let sort = match blank(filter.sort) {
        None => "submitted_at",
        Some(key) => SORT_KEYS.into_iter().find(|k| key.eq_ignore_ascii_case(k)).ok_or_else(|| {
            AppError::invalid_field("sort", format!("unknown column '{key}'; use one of {}", SORT_KEYS.join(", ")))
        })?,
    };
    let order = match blank(filter.order).map(|o| o.to_ascii_lowercase()).as_deref() {
        None | Some("desc") => "desc",
        Some("asc") => "asc",
        Some(other) => return Err(AppError::invalid_field("order", format!("'{other}' is neither asc nor desc"))),
    };
    Ok(Criteria {
        status: status.map(str::to_string),
        from,
        to,
        task_id: blank(filter.task_id),
        id: job_id.as_deref().and_then(|j| j.parse().ok()),
        job_uid: job_id.filter(|j| j.parse::<i64>().is_err()),
        data_set: blank(filter.data_set),
        org_unit: blank(filter.org_unit),
        period: blank(filter.period),
        user: blank(filter.user),
        user_id: None,
        among: None,
        q: blank(filter.q).map(|q| like_pattern(&q)),
        class: blank(filter.class)
            .map(|word| word.parse::<RefusalClass>().map(|c| c.as_str().to_string()))
            .transpose()
            .map_err(|e| AppError::invalid_field("class", e))?,
        code: blank(filter.code).map(|c| c.to_ascii_uppercase()),
        element: blank(filter.element),
        owner: (caller.role == Role::Partner).then_some(caller.id),
        sort,
        order,
    })
}

/// The ids of every submission matching a filter (for batch requeue), newest first.
pub(super) async fn matching_ids(state: &AppState, c: &Criteria) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        r#"SELECT id AS "id!" FROM matching_submissions($1::jsonb) ORDER BY submitted_at DESC, id DESC"#,
        c.as_json(),
    )
    .fetch_all(&state.db)
    .await
}

struct SubmissionRow {
    id: i64,
    kind: String,
    submitted_at: DateTime<Utc>,
    username: Option<String>,
    payload: Value,
    dhis2_payload: Option<Value>,
    status: String,
    retry_count: i32,
    last_attempt_at: Option<DateTime<Utc>>,
    next_attempt_at: Option<DateTime<Utc>>,
    task_id: Option<String>,
    job_uid: Option<String>,
    response: Option<String>,
    errors: Option<String>,
    data_set: Option<String>,
    org_unit: Option<String>,
    period: Option<String>,
    warnings: Value,
    source_format: Option<String>,
}

impl From<SubmissionRow> for Submission {
    fn from(r: SubmissionRow) -> Self {
        Submission {
            id: r.id,
            kind: r.kind,
            submitted_at: r.submitted_at,
            user: r.username,
            payload: r.payload,
            dhis2_payload: r.dhis2_payload,
            status: r.status,
            retry_count: r.retry_count,
            last_attempt_at: r.last_attempt_at,
            next_attempt_at: r.next_attempt_at,
            task_id: r.task_id,
            job_id: r.job_uid,
            response: r.response,
            errors: r.errors,
            data_set: r.data_set,
            org_unit: r.org_unit,
            period: r.period,
            warnings: serde_json::from_value(r.warnings).unwrap_or_default(),
            data_set_name: None,
            org_unit_name: None,
            org_unit_path: None,
            source_format: r.source_format,
        }
    }
}

/// Fills in the names of the submissions' data sets and org units, as far as the synced
/// metadata and hierarchy know them.
async fn named(state: &AppState, mut submissions: Vec<Submission>) -> sqlx::Result<Vec<Submission>> {
    let snapshot = state.metadata.snapshot();
    let mut units: Vec<String> = submissions.iter().filter_map(|s| s.org_unit.clone()).collect();
    units.sort();
    units.dedup();
    let units = orgunits::names(&state.db, &units).await?;
    for s in &mut submissions {
        s.data_set_name = s.data_set.as_deref().and_then(|d| snapshot.name_of(d)).map(str::to_string);
        if let Some((name, path)) = s.org_unit.as_ref().and_then(|o| units.get(o)) {
            s.org_unit_name = Some(name.clone());
            s.org_unit_path = Some(path.clone());
        }
    }
    Ok(submissions)
}

pub async fn list(state: &AppState, caller: &AuthUser, mut filter: LogFilter) -> AppResult<Page<Submission>> {
    let (page, size, offset) = paging(filter.page, filter.page_size, 10)?;
    let after = filter.after.take();
    let c = criteria(&state.db, filter, caller, state.config.server.timezone).await?;
    let after = after.as_deref().map(str::trim).filter(|a| !a.is_empty()).map(|a| Position::read(a, &c)).transpose()?;
    let (total, estimated) = count_matching(&state.db, &c).await?;
    // After a position `page` only numbers the page: nothing is skipped.
    let offset = if after.is_some() { 0 } else { offset };
    let mut rows = page_rows(state, &c, size, offset, after.as_ref()).await?;
    let short = size - rows.len() as i64;
    if let Some(rest) = after.as_ref().and_then(|a| a.other_group(&c)).filter(|_| short > 0) {
        rows.extend(page_rows(state, &c, short, 0, Some(&rest)).await?);
    }
    let next = rows.last().filter(|_| rows.len() as i64 == size).map(|last| Position::of(last, &c).token());
    let submissions = named(state, rows).await?;
    let mut page = if estimated {
        Page::estimated(submissions, total, page, size)
    } else {
        Page::new(submissions, total, page, size)
    };
    page.next = next;
    Ok(page)
}

/// `size` submissions matching `c` in its order, after a position or skipping `offset`.
async fn page_rows(
    state: &AppState,
    c: &Criteria,
    size: i64,
    offset: i64,
    after: Option<&Position>,
) -> sqlx::Result<Vec<Submission>> {
    let rows = sqlx::query_as!(
        SubmissionRow,
        r#"SELECT s.id AS "id!", s.kind AS "kind!", s.submitted_at AS "submitted_at!",
               (SELECT username FROM users u WHERE u.id = s.user_id) AS "username?",
               s.payload AS "payload!", s.dhis2_payload, s.status AS "status!", s.retry_count AS "retry_count!",
               s.last_attempt_at, s.next_attempt_at, s.task_id, s.job_uid, s.response, s.errors, s.data_set, s.org_unit,
               s.period, s.warnings AS "warnings!", s.source_format
           -- In the page's order: nothing here joins or sorts again.
           FROM log_page($1::jsonb, $4, $5, $2, $3, $6::jsonb) s"#,
        c.as_json(),
        size,
        offset,
        c.sort,
        c.order,
        after.map(|a| serde_json::to_value(a).expect("a position serialises")),
    )
    .fetch_all(&state.db)
    .await?;
    Ok(rows.into_iter().map(Submission::from).collect())
}

/// Where a page of the log ended: the last row's value in the sorted column (as text; its
/// partner's name by partner), time and id, and the order that was read in. Handed out as an
/// opaque `next` (base64 of this in JSON) and taken back as `after`.
#[derive(Clone, Serialize, Deserialize)]
struct Position {
    sort: String,
    order: String,
    value: Option<String>,
    at: DateTime<Utc>,
    id: i64,
    /// Descending, past the empty values of the column: the rest is every non-empty one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    nulls_passed: bool,
}

/// Sort columns that may be empty: their empty values form a group of their own (see
/// `log_page` in the migrations), which a position reaches only from the group's edge.
const SORTS_WITH_EMPTY_VALUES: [&str; 4] = ["period", "org_unit", "data_set", "last_attempt_at"];

impl Position {
    fn of(last: &Submission, c: &Criteria) -> Position {
        let value = match c.sort {
            "status" => Some(last.status.clone()),
            "period" => last.period.clone(),
            "org_unit" => last.org_unit.clone(),
            "data_set" => last.data_set.clone(),
            "user" => last.user.clone(),
            "retry_count" => Some(last.retry_count.to_string()),
            "last_attempt_at" => last.last_attempt_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            _ => None,
        };
        Position {
            sort: c.sort.to_string(),
            order: c.order.to_string(),
            value,
            at: last.submitted_at,
            id: last.id,
            nulls_passed: false,
        }
    }

    fn token(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a position serialises"))
    }

    /// `after` as given, which must be a `next` of a page in the same order.
    fn read(token: &str, c: &Criteria) -> AppResult<Position> {
        let not_a_position =
            || AppError::invalid_field("after", "is not a page's `next`; start again from the first page");
        let position: Position = URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(not_a_position)?;
        // Made up rather than handed out: a value PostgreSQL could not take as the column's.
        let year_fits = |t: &DateTime<Utc>| (1..=9999).contains(&t.year());
        let fits = match (position.sort.as_str(), position.value.as_deref()) {
            (_, Some(v)) if v.contains('\0') => false,
            ("retry_count", v) => v.is_some_and(|v| v.parse::<i32>().is_ok()),
            ("last_attempt_at", Some(v)) => DateTime::parse_from_rfc3339(v).is_ok_and(|t| year_fits(&t.to_utc())),
            _ => true,
        };
        if !fits || !year_fits(&position.at) {
            return Err(not_a_position());
        }
        if position.sort != c.sort || position.order != c.order {
            return Err(AppError::invalid_field(
                "after",
                format!(
                    "ends a page sorted by {} {}, not by {} {}; start again from the first page",
                    position.sort, position.order, c.sort, c.order
                ),
            ));
        }
        Ok(position)
    }

    /// Where the rest of the log begins once this position's group is read to its end: the
    /// empty values after the others ascending, the others after the empty ones descending.
    fn other_group(&self, c: &Criteria) -> Option<Position> {
        if !SORTS_WITH_EMPTY_VALUES.contains(&c.sort) || self.nulls_passed {
            return None;
        }
        match (c.order, &self.value) {
            ("asc", Some(_)) => Some(Position { value: None, id: 0, ..self.clone() }),
            ("desc", None) => Some(Position { nulls_passed: true, ..self.clone() }),
            _ => None,
        }
    }
}

/// Merges what was stored since the last call into the text-search index. PostgreSQL queues a
/// trigram (GIN) index's new entries in a pending list and merges them when the list is full,
/// inside whichever insert fills it: that partner's request then waits for thousands of
/// submissions' entries (the slowest intake requests, up to 300 ms). Merged every second by the
/// scheduler, the list never fills (its limit is 16 MB), and searches scan a short one.
/// Only the index's owner may merge (or a superuser): a gateway whose tables belong to another
/// role says so once and leaves the merging to PostgreSQL.
pub async fn merge_search_index(db: &PgPool) -> sqlx::Result<()> {
    static NOT_OWNER: std::sync::Once = std::sync::Once::new();
    let merged = sqlx::query_scalar!("SELECT gin_clean_pending_list(to_regclass('submission_log_text_idx'))")
        .fetch_one(db)
        .await;
    match merged {
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501") => {
            NOT_OWNER.call_once(|| {
                tracing::warn!(error = %e, "the log's text-search index belongs to another role; PostgreSQL merges it in inserts")
            });
            Ok(())
        }
        other => other.map(drop),
    }
}

/// Submissions counted exactly; past this the planner's estimate is given, and said to be one.
const COUNTED_UP_TO: i64 = 10_000;
/// The planner expecting this many or more, nothing is counted: counting the first 10,000 of
/// a text search alone would take longer than the page.
const CLEARLY_MORE: i64 = 100_000;

/// How many submissions match: (count, whether it is an estimate).
async fn count_matching(db: &PgPool, c: &Criteria) -> sqlx::Result<(i64, bool)> {
    let estimate = sqlx::query_scalar!(
        r#"SELECT estimated_rows(format('SELECT 1 FROM matching_submissions(%L::jsonb)', $1::jsonb)) AS "n!""#,
        c.as_json()
    )
    .fetch_one(db)
    .await?;
    if estimate >= CLEARLY_MORE {
        return Ok((estimate, true));
    }
    let counted = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM (SELECT 1 FROM matching_submissions($1::jsonb) LIMIT $2) m"#,
        c.as_json(),
        COUNTED_UP_TO + 1
    )
    .fetch_one(db)
    .await?;
    Ok(if counted <= COUNTED_UP_TO { (counted, false) } else { (estimate.max(counted), true) })
}

const EXPORT_COLUMNS: &[&str] = &[
    "id",
    "kind",
    "submitted_at",
    "partner",
    "status",
    "data_set",
    "data_set_name",
    "org_unit",
    "period",
    "retry_count",
    "last_attempt_at",
    "task_id",
    "job_id",
    "errors",
];

/// Every submission the filter matches, newest first, streamed as CSV or XLSX.
pub async fn export(state: &AppState, caller: &AuthUser, filter: LogFilter) -> AppResult<Export> {
    let format = Format::parse(filter.format.as_deref())?;
    let c = criteria(&state.db, filter, caller, state.config.server.timezone).await?.as_json();
    let (db, metadata) = (state.db.clone(), state.metadata.clone());
    Ok(export::start(format, "dhis2gw_submissions", "Submissions", EXPORT_COLUMNS, move |mut rows| async move {
        let snapshot = metadata.snapshot();
        let mut submissions = sqlx::query!(
            r#"SELECT s.id AS "id!", s.kind AS "kind!", s.submitted_at AS "submitted_at!", u.username AS "username?",
                   s.status AS "status!", s.data_set, s.org_unit, s.period, s.retry_count AS "retry_count!",
                   s.last_attempt_at, s.task_id, s.job_uid, s.errors
               FROM matching_submissions($1::jsonb) s LEFT JOIN users u ON u.id = s.user_id
               ORDER BY s.submitted_at DESC, s.id DESC"#,
            c
        )
        .fetch(&db);
        let text = |s: Option<String>| s.unwrap_or_default();
        while let Some(s) = submissions.try_next().await? {
            let data_set_name = s.data_set.as_deref().and_then(|d| snapshot.name_of(d)).map(str::to_string);
            let row = vec![
                s.id.to_string(),
                s.kind,
                s.submitted_at.to_rfc3339(),
                text(s.username),
                s.status,
                text(s.data_set),
                text(data_set_name),
                text(s.org_unit),
                text(s.period),
                s.retry_count.to_string(),
                s.last_attempt_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                text(s.task_id),
                text(s.job_uid),
                text(s.errors),
            ];
            if rows.push(row).await.is_err() {
                break;
            }
        }
        drop(submissions);
        Ok(rows)
    }))
}

/// One submission with every attempt; partners only their own.
pub async fn get(state: &AppState, caller: &AuthUser, id: i64) -> AppResult<SubmissionDetail> {
    let owner = (caller.role == Role::Partner).then_some(caller.id);
    let row = sqlx::query_as!(
        SubmissionRow,
        r#"SELECT s.id, s.kind, s.submitted_at, u.username AS "username?", s.payload, s.dhis2_payload, s.status, s.retry_count,
               s.last_attempt_at, s.next_attempt_at, s.task_id, s.job_uid, s.response, s.errors, s.data_set, s.org_unit, s.period,
               s.warnings, s.source_format
           FROM submission_log s LEFT JOIN users u ON u.id = s.user_id
           WHERE s.id = $1 AND ($2::bigint IS NULL OR s.user_id = $2)"#,
        id,
        owner
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| AppError::NotFound(format!("Submission {id} not found")))?;
    let destinations = sqlx::query_as!(
        DestinationView,
        r#"SELECT s.name AS server, s.is_primary, d.status, d.retry_count, d.next_attempt_at, d.last_error
           FROM submission_destinations d JOIN dhis2_servers s ON s.id = d.server_id
           WHERE d.submission_id = $1 ORDER BY s.is_primary DESC, s.name"#,
        id
    )
    .fetch_all(&state.db)
    .await?;
    let snapshot = state.metadata.snapshot();
    let attempts = sqlx::query!(
        r#"SELECT s.name AS "server?", a.attempt, a.started_at, a.duration_ms, a.request_url, a.request_payload,
               a.http_status, a.dhis2_version, a.response_body, a.import_status, a.import_count, a.conflicts, a.outcome,
               a.error, a.batch
           FROM delivery_attempts a
           LEFT JOIN submission_destinations d ON d.id = a.destination_id
           LEFT JOIN dhis2_servers s ON s.id = d.server_id
           WHERE a.submission_id = $1 ORDER BY a.started_at, a.id"#,
        id
    )
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|a| {
        let conflicts = serde_json::from_value::<Vec<ConflictView>>(a.conflicts)
            .unwrap_or_default()
            .into_iter()
            .map(|mut c| {
                c.described = a.request_payload.as_ref().and_then(|p| verdict::described(&snapshot, p, &c));
                // Attempts recorded before refusals were classed.
                c.class = c.class.or_else(|| {
                    Some(refusal::classify(c.error_code.as_deref(), c.message.as_deref().unwrap_or_default()))
                });
                c
            })
            .collect();
        Attempt {
            server: a.server,
            attempt: a.attempt,
            started_at: a.started_at,
            duration_ms: a.duration_ms,
            request_url: a.request_url,
            request_payload: a.request_payload,
            http_status: a.http_status,
            dhis2_version: a.dhis2_version,
            response_body: a.response_body,
            import_status: a.import_status,
            import_count: a.import_count,
            conflicts,
            outcome: a.outcome,
            error: a.error,
            batch: a.batch.and_then(|b| serde_json::from_value(b).ok()),
        }
    })
    .collect();
    let extra = sqlx::query!("SELECT value_keys, source_document FROM submission_log WHERE id = $1", id)
        .fetch_one(&state.db)
        .await?;
    let keys: Vec<String> = serde_json::from_value(extra.value_keys).unwrap_or_default();
    let values =
        holds::outcomes(state, id, row.dhis2_payload.as_ref().filter(|_| row.kind == "aggregate"), &keys).await?;
    let submission = named(state, vec![row.into()]).await?.remove(0);
    Ok(SubmissionDetail { submission, destinations, attempts, values, source_document: extra.source_document })
}

/// Deletes one submission and its attempts, unless it is being delivered right now.
pub async fn delete(state: &AppState, caller: &AuthUser, id: i64) -> AppResult<()> {
    remove(state, id, Some(Actor::User(caller))).await
}

/// Deletes one submission, unless it is being delivered right now; `audited` by whom when it
/// is a change of its own (a batch is audited as one).
pub(super) async fn remove(state: &AppState, id: i64, audited: Option<Actor<'_>>) -> AppResult<()> {
    let mut tx = state.db.begin().await?;
    let status = sqlx::query_scalar!("SELECT status FROM submission_log WHERE id = $1", id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("Submission {id} not found")))?;
    if status == "processing" {
        return Err(AppError::Conflict(format!("Submission {id} is being delivered right now; try again in a moment")));
    }
    // Deleted on purpose, it no longer counts for completeness either (retention keeps that).
    sqlx::query!(
        r#"WITH receipts AS (DELETE FROM report_receipts WHERE submission_id = $1)
           DELETE FROM submission_log WHERE id = $1 AND status <> 'processing'"#,
        id
    )
    .execute(&mut *tx)
    .await?;
    if let Some(actor) = audited {
        audit::record(&mut *tx, actor, "submission.delete", "submission", &id.to_string(), json!({})).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Deletes every finished submission older than `date` (a day or an RFC 3339 instant); returns
/// how many, and the instant read.
pub async fn purge(state: &AppState, caller: &AuthUser, date: Option<&str>) -> AppResult<(u64, DateTime<Utc>)> {
    let text = date.ok_or_else(|| {
        AppError::invalid_field(
            "date",
            "is required: a day (2024-01-01, its start in server.timezone) or an RFC 3339 instant",
        )
    })?;
    // The console's date field sends a day; API clients may send an instant.
    let before = day_or_instant("date", text, state.config.server.timezone)?;
    let mut tx = state.db.begin().await?;
    let deleted = sqlx::query!(
        "DELETE FROM submission_log WHERE submitted_at < $1 AND status IN ('succeeded', 'warning', 'failed', 'dead')",
        before
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let detail = json!({"before": before, "deleted": deleted});
    audit::record(&mut *tx, Actor::User(caller), "submission.purge", "submission", "", detail).await?;
    tx.commit().await?;
    Ok((deleted, before))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_originals_status_words_are_understood() {
        assert_eq!(status_of("SUCCESS"), Some("succeeded"));
        assert_eq!(status_of("OK"), Some("succeeded"));
        assert_eq!(status_of("ERROR"), Some("failed"));
        assert_eq!(status_of("archived"), Some("dead"));
        assert_eq!(status_of("retry"), Some("retrying"));
        assert_eq!(status_of("bogus"), None);
    }
}
