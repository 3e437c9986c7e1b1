//! Requeue, one by one or by selection (ids, task ids, a log filter), and batch delete.

use std::collections::BTreeMap;

use dhis2gw_wire::{DeleteResult, LogFilter, RequeueRequest, RequeueResult};
use serde_json::{Value, json};

use super::aggregate;
use super::intake::{Scope, build, new_task_id, org_unit_of};
use super::log::{criteria, matching_ids, remove};
use super::screen;
use crate::access::audit::{self, Actor};
use crate::access::identity::AuthUser;
use crate::app::AppState;
use crate::infra::error::{AppError, AppResult};

/// Which submissions a batch requeue or delete is for.
enum Selection {
    Ids(Vec<i64>),
    TaskIds(Vec<String>),
    Filter(Box<LogFilter>),
}

impl Selection {
    /// From the body of `POST /aggregate/reenqueue/batch` or `POST /logs/delete`.
    fn from_request(request: RequeueRequest) -> AppResult<Selection> {
        let chosen = [!request.ids.is_empty(), !request.task_ids.is_empty(), request.filter.is_some()];
        match chosen {
            [true, false, false] => Ok(Selection::Ids(request.ids)),
            [false, true, false] => Ok(Selection::TaskIds(request.task_ids)),
            [false, false, true] => {
                let map: BTreeMap<String, String> = request.filter.unwrap_or_default();
                let filter = log_filter_from_strings(&map).map_err(|e| AppError::invalid_field("filter", e))?;
                // `{}` would resend (or delete) every submission ever made.
                if filter.selects_everything() {
                    return Err(AppError::invalid_field(
                        "filter",
                        "give at least one criterion (status, from_date, data_set, …); an empty filter would select every submission",
                    ));
                }
                Ok(Selection::Filter(Box::new(filter)))
            }
            _ => Err(AppError::bad_request("Give exactly one of ids, task_ids or filter")),
        }
    }
}

/// A filter from string values (`job_id`, `page` are numbers in JSON but strings in forms).
fn log_filter_from_strings(map: &BTreeMap<String, String>) -> Result<LogFilter, String> {
    let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(map).finish();
    serde_urlencoded::from_str(&query).map_err(|e| e.to_string())
}

/// The submissions a selection names, and why any part of it names none.
struct Selected {
    ids: Vec<i64>,
    missing: Vec<String>,
}

impl Selection {
    /// The ids of the submissions selected; a filter is read as `caller` may see the log.
    async fn resolve(self, state: &AppState, caller: &AuthUser) -> AppResult<Selected> {
        Ok(match self {
            Selection::Ids(ids) => Selected { ids, missing: Vec::new() },
            Selection::TaskIds(task_ids) => {
                let found = sqlx::query!("SELECT id, task_id FROM submission_log WHERE task_id = ANY($1)", &task_ids)
                    .fetch_all(&state.db)
                    .await?;
                let missing = task_ids
                    .iter()
                    .filter(|t| !found.iter().any(|f| f.task_id.as_deref() == Some(t.as_str())))
                    .map(|t| format!("Task {t}: no submission has this task id"))
                    .collect();
                Selected { ids: found.into_iter().map(|f| f.id).collect(), missing }
            }
            Selection::Filter(filter) => {
                let criteria = criteria(&state.db, *filter, caller, state.config.server.timezone).await?;
                Selected { ids: matching_ids(state, &criteria).await?, missing: Vec::new() }
            }
        })
    }
}

/// Does `act` to each selected submission; returns how many it did, and why it did not do
/// the others (`Submission 7: …`).
async fn for_each_selected<F, Fut>(
    state: &AppState,
    caller: &AuthUser,
    selection: Selection,
    act: F,
) -> AppResult<(usize, Vec<String>)>
where
    F: Fn(i64) -> Fut,
    Fut: Future<Output = AppResult<()>>,
{
    let Selected { ids, missing } = selection.resolve(state, caller).await?;
    let mut problems = missing;
    let mut done = 0;
    for id in ids {
        match act(id).await {
            Ok(()) => done += 1,
            Err(AppError::NotFound(_)) => problems.push(format!("Submission {id}: not found")),
            // The rest of the batch still goes ahead; internals stay in the log.
            Err(AppError::Internal(e)) => {
                tracing::error!(submission_id = id, error = format!("{e:#}"), "batch action on a submission failed");
                problems.push(format!("Submission {id}: internal error (see the gateway's log)"));
            }
            Err(e) => {
                let (why, name) = (describe(&e), format!("Submission {id}"));
                problems.push(if why.starts_with(&name) { why } else { format!("{name}: {why}") });
            }
        }
    }
    Ok((done, problems))
}

/// Requeues: rebuilds each payload from the current mappings (so a fixed mapping fixes a
/// failed submission), resets its destinations, and queues them. History is kept; the batch
/// is audited as one entry.
pub async fn requeue(state: &AppState, caller: &AuthUser, request: RequeueRequest) -> AppResult<RequeueResult> {
    let asked = serde_json::to_value(&request).unwrap_or_default();
    let selection = Selection::from_request(request)?;
    let (re_enqueued, errors) = for_each_selected(state, caller, selection, |id| resend(state, id, None, None)).await?;
    let detail = json!({"selection": asked, "re_enqueued": re_enqueued, "failed": errors.len()});
    audit::record(&state.db, Actor::User(caller), "submission.requeue_batch", "submission", "", detail).await?;
    Ok(RequeueResult { re_enqueued, failed: errors.len(), errors })
}

/// Requeues every submission with a value DHIS2 refused that came from mapping `mapping_id`'s
/// code (after the mapping was fixed): exactly those, rebuilt through the mappings as they
/// are now.
pub async fn requeue_refused_for_mapping(
    state: &AppState,
    caller: &AuthUser,
    mapping_id: i64,
) -> AppResult<RequeueResult> {
    let code = sqlx::query_scalar!("SELECT code FROM dhis2_mappings WHERE id = $1", mapping_id)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("Mapping {mapping_id} not found")))?;
    let ids = sqlx::query_scalar!(
        r#"SELECT DISTINCT v.submission_id FROM value_outcomes v
           JOIN submission_destinations d ON d.id = v.destination_id
           WHERE v.outcome = 'refused' AND v.partner_key = $1 AND d.status IN ('warning', 'failed', 'held')
           ORDER BY v.submission_id"#,
        code
    )
    .fetch_all(&state.db)
    .await?;
    if ids.is_empty() {
        return Ok(RequeueResult::default());
    }
    requeue(state, caller, RequeueRequest { ids, ..Default::default() }).await
}

/// Deletes each selected submission as `DELETE /logs/{id}` would; what that refuses (a
/// submission being delivered right now) or cannot find is skipped and explained.
pub async fn delete_many(state: &AppState, caller: &AuthUser, request: RequeueRequest) -> AppResult<DeleteResult> {
    let asked = serde_json::to_value(&request).unwrap_or_default();
    let selection = Selection::from_request(request)?;
    let (deleted, errors) = for_each_selected(state, caller, selection, |id| remove(state, id, None)).await?;
    let detail = json!({"selection": asked, "deleted": deleted, "skipped": errors.len()});
    audit::record(&state.db, Actor::User(caller), "submission.delete_batch", "submission", "", detail).await?;
    Ok(DeleteResult { deleted, skipped: errors.len(), errors })
}

fn describe(e: &AppError) -> String {
    match e {
        AppError::BadRequest { message, detail } | AppError::Unprocessable { message, detail }
            if !detail.is_empty() =>
        {
            format!("{message}: {}", detail.join("; "))
        }
        other => other.to_string(),
    }
}

/// Requeues the submission with this task id.
pub async fn requeue_task(state: &AppState, caller: &AuthUser, task_id: &str) -> AppResult<()> {
    let id = sqlx::query_scalar!("SELECT id FROM submission_log WHERE task_id = $1", task_id)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("Job log not found for task ID: {task_id}")))?;
    resend(state, id, None, Some((Actor::User(caller), json!({"task_id": task_id})))).await
}

/// Requeues one submission whatever its final status, to every server or (by name) to one;
/// refused while that delivery is queued or under way.
pub async fn requeue_one(state: &AppState, caller: &AuthUser, id: i64, server: Option<&str>) -> AppResult<()> {
    resend(state, id, server, Some((Actor::User(caller), json!({"server": server})))).await
}

/// Requeues one submission; `audited` by whom, with what detail, when it is a change of its
/// own (a batch is audited as one).
async fn resend(state: &AppState, id: i64, server: Option<&str>, audited: Option<(Actor<'_>, Value)>) -> AppResult<()> {
    let row = sqlx::query!(
        r#"SELECT s.kind, s.payload, s.dhis2_payload, s.dhis2_query, s.value_keys, s.warnings, s.status, s.source_name,
               s.instance_name, u.intake_validation AS "submitters_validation?",
               u.register_completion AS "submitters_completion?"
           FROM submission_log s LEFT JOIN users u ON u.id = s.user_id WHERE s.id = $1"#,
        id
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| AppError::NotFound(format!("Submission {id} not found")))?;
    let targets = sqlx::query!(
        r#"SELECT d.status FROM submission_destinations d JOIN dhis2_servers s ON s.id = d.server_id
           WHERE d.submission_id = $1 AND ($2::text IS NULL OR s.name = $2)"#,
        id,
        server
    )
    .fetch_all(&state.db)
    .await?;
    if let Some(server) = server.filter(|_| targets.is_empty()) {
        return Err(AppError::NotFound(format!("Submission {id} does not go to a DHIS2 server named {server}")));
    }
    // Only aggregate data translated through mappings is rebuilt (a fixed mapping fixes it),
    // and only when it goes to every server: one server is sent the payload the others got,
    // so the log keeps one payload for all. Tracker data (UIDs already assigned), org-unit
    // pushes and data sent in DHIS2's own terms are sent again as they were.
    let rebuild =
        row.kind == "aggregate" && row.dhis2_query.is_none() && (server.is_none() || row.dhis2_payload.is_none());
    // Held values are kept by their position in the payload, which a rebuild changes: a
    // destination this requeue does not start afresh must have none.
    let keeps_held = if !rebuild {
        None
    } else {
        sqlx::query_scalar!(
        r#"SELECT s.name FROM submission_destinations d JOIN dhis2_servers s ON s.id = d.server_id
           WHERE d.submission_id = $1 AND EXISTS (SELECT 1 FROM value_outcomes v WHERE v.destination_id = d.id AND v.outcome = 'held')
             AND (d.status IN ('queued', 'processing') OR ($2::text IS NOT NULL AND s.name <> $2))
           LIMIT 1"#,
            id,
            server
        )
        .fetch_optional(&state.db)
        .await?
    };
    if let Some(other) = keeps_held {
        return Err(AppError::Conflict(format!(
            "Submission {id} has values on hold for {other}; requeue it to every server once no release is under way, or release or discard those values first"
        )));
    }
    // History adopted from the original dhis2gw went to no server of ours yet: its first
    // delivery here goes where a new submission would.
    let first_delivery = targets.is_empty();
    if !first_delivery && targets.iter().all(|t| matches!(t.status.as_str(), "queued" | "processing")) {
        let status = if server.is_some() { &targets[0].status } else { &row.status };
        return Err(AppError::Conflict(format!(
            "Submission {id} is {status} already; requeue it once this delivery has finished"
        )));
    }
    // A rebuild is screened as at the door, in the submitter's mode: what DHIS2 would still
    // refuse is refused here.
    let (payload, value_keys, warnings) = if rebuild {
        let submission = aggregate::parse(&row.payload)?;
        let scope = Scope { source_name: row.source_name, instance_name: row.instance_name };
        let completion = row.submitters_completion.and_then(|c| c.parse().ok());
        let mut built = build(state, &submission, &scope, completion, true).await?;
        let mode = row.submitters_validation.and_then(|v| v.parse().ok()).unwrap_or(state.config.api.intake_validation);
        screen::screen_aggregate(state, mode, &mut built).await?;
        (built.payload, built.value_keys, built.warnings)
    } else {
        let keys: Vec<String> = serde_json::from_value(row.value_keys).unwrap_or_default();
        let warnings: Vec<String> = serde_json::from_value(row.warnings).unwrap_or_default();
        (row.dhis2_payload.unwrap_or(row.payload), keys, warnings)
    };
    let mut tx = state.db.begin().await?;
    sqlx::query!(
        r#"UPDATE submission_log SET dhis2_payload = $2, value_keys = $3, warnings = $4, task_id = $5, retry_count = 0,
               errors = NULL, org_unit = $6
           WHERE id = $1"#,
        id,
        payload,
        json!(value_keys),
        json!(warnings),
        new_task_id(),
        org_unit_of(&payload),
    )
    .execute(&mut *tx)
    .await?;
    let resent: Vec<i64> = if first_delivery {
        let servers = state.servers.destinations().await?;
        sqlx::query_scalar!(
            r#"INSERT INTO submission_destinations (submission_id, server_id, partner_id)
               SELECT $1, server, COALESCE((SELECT user_id FROM submission_log WHERE id = $1), 0)
               FROM unnest($2::bigint[]) AS server
               ON CONFLICT (submission_id, server_id) DO NOTHING RETURNING id"#,
            id,
            &servers
        )
        .fetch_all(&mut *tx)
        .await?
    } else {
        sqlx::query_scalar!(
            r#"UPDATE submission_destinations
               SET status = 'queued', retry_count = 0, next_attempt_at = NULL, last_error = NULL
               WHERE submission_id = $1 AND status NOT IN ('queued', 'processing')
                 AND ($2::text IS NULL OR server_id = (SELECT id FROM dhis2_servers WHERE name = $2))
               RETURNING id"#,
            id,
            server
        )
        .fetch_all(&mut *tx)
        .await?
    };
    // A whole new delivery: what became of each value last time no longer holds (and held
    // values must not make it a release of those alone).
    sqlx::query!("DELETE FROM value_outcomes WHERE destination_id = ANY($1)", &resent).execute(&mut *tx).await?;
    sqlx::query_scalar!("SELECT refresh_submission_status($1)", id).fetch_one(&mut *tx).await?;
    if let Some((actor, detail)) = audited {
        audit::record(&mut *tx, actor, "submission.requeue", "submission", &id.to_string(), detail).await?;
    }
    tx.commit().await?;
    state.queue.nudge();
    Ok(())
}
