//! The submission log: list, detail, delete (one or many), purge, restart.

use axum::extract::State;
use axum::response::Response;
use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{
    DeleteResult, ErrorBody, LogFilter, Message, Page, RefusedFilter, RefusedValue, RequeueRequest, RequeueResult,
    Submission, SubmissionDetail,
};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::download::streamed;
use super::extract::{Json, Path, Query};
use crate::app::AppState;
use crate::http::auth::{Admin, AnyRole, Authorized, Operator};
use crate::infra::error::AppResult;
use crate::submissions;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(purge))
        .routes(routes!(delete_many))
        .routes(routes!(detail, delete))
        .routes(routes!(restart))
        .routes(routes!(refused))
        .routes(routes!(export_refused))
        .routes(routes!(export_log))
}

/// Values DHIS2 did not store, newest first: refused (with the class of who must act), held,
/// discarded or expired, each with what went wrong and who must act in one sentence.
/// Partners see their own.
#[utoipa::path(
    get, path = paths::LOGS_REFUSED, tag = "submissions", params(RefusedFilter),
    responses((status = 200, body = Page<RefusedValue>), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn refused(
    State(state): State<AppState>,
    caller: Authorized<AnyRole>,
    Query(filter): Query<RefusedFilter>,
) -> AppResult<axum::Json<Page<RefusedValue>>> {
    Ok(axum::Json(submissions::refused::list(&state, &caller, &filter).await?))
}

/// The same list as a file: `format=csv` (the default) or `xlsx`, every value, streamed.
#[utoipa::path(
    get, path = paths::LOGS_REFUSED_EXPORT, tag = "submissions", params(RefusedFilter),
    responses(
        (status = 200, content_type = "text/csv", description = "dhis2gw_refused_values.csv (or .xlsx)"),
        (status = 400, body = ErrorBody),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn export_refused(
    State(state): State<AppState>,
    caller: Authorized<AnyRole>,
    Query(filter): Query<RefusedFilter>,
) -> AppResult<Response> {
    Ok(streamed(submissions::refused::export(&state, &caller, &filter)?))
}

/// The submissions log as a file, with the same filters: `format=csv` (the default) or `xlsx`,
/// every matching submission, streamed. Partners get only their own.
#[utoipa::path(
    get, path = paths::LOGS_EXPORT, tag = "submissions", params(LogFilter),
    responses(
        (status = 200, content_type = "text/csv", description = "dhis2gw_submissions.csv (or .xlsx)"),
        (status = 400, body = ErrorBody),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn export_log(
    State(state): State<AppState>,
    caller: Authorized<AnyRole>,
    Query(filter): Query<LogFilter>,
) -> AppResult<Response> {
    Ok(streamed(submissions::log::export(&state, &caller, filter).await?))
}

/// Submissions, newest first unless `sort`/`order` say otherwise. Partners see only their own.
#[utoipa::path(
    get, path = paths::LOGS, tag = "submissions", params(LogFilter),
    responses((status = 200, body = Page<Submission>), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn list(
    State(state): State<AppState>,
    caller: Authorized<AnyRole>,
    Query(filter): Query<LogFilter>,
) -> AppResult<axum::Json<Page<Submission>>> {
    Ok(axum::Json(submissions::list(&state, &caller, filter).await?))
}

/// One submission with every delivery attempt, the exact payloads sent, DHIS2's answers and
/// each conflict against the partner's keys.
#[utoipa::path(
    get, path = paths::LOG, tag = "submissions", params(("id" = i64, Path)),
    responses((status = 200, body = SubmissionDetail), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn detail(
    State(state): State<AppState>,
    caller: Authorized<AnyRole>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<SubmissionDetail>> {
    Ok(axum::Json(submissions::get(&state, &caller, id).await?))
}

/// Delete a submission and its attempts.
#[utoipa::path(
    delete, path = paths::LOG, tag = "submissions", params(("id" = i64, Path)),
    responses((status = 200, body = Message), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn delete(
    State(state): State<AppState>,
    caller: Authorized<Operator>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Message>> {
    submissions::delete(&state, &caller, id).await?;
    Ok(axum::Json(Message { message: "Deleted 1 log(s)".into() }))
}

/// Delete many: by `ids`, by `task_ids`, or every submission matching `filter` (the filters
/// of `GET /logs`; an empty one is refused). Each goes as `DELETE /logs/{id}` would: one
/// being delivered right now, or not found, is skipped and `errors` says why.
#[utoipa::path(
    post, path = paths::LOGS_DELETE, tag = "submissions", request_body = RequeueRequest,
    responses((status = 200, body = DeleteResult), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn delete_many(
    State(state): State<AppState>,
    caller: Authorized<Operator>,
    Json(request): Json<RequeueRequest>,
) -> AppResult<axum::Json<DeleteResult>> {
    Ok(axum::Json(submissions::delete_many(&state, &caller, request).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PurgeParams {
    /// A day (`2024-01-01`: its start in `server.timezone`) or an RFC 3339 instant: finished
    /// submissions older than this are deleted.
    date: Option<String>,
}

/// Delete every finished submission older than `date` (admins).
#[utoipa::path(
    delete, path = paths::LOGS_PURGE, tag = "submissions", params(PurgeParams),
    responses((status = 200, body = Message), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn purge(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Query(params): Query<PurgeParams>,
) -> AppResult<axum::Json<Message>> {
    let (deleted, before) = submissions::purge(&state, &caller, params.date.as_deref()).await?;
    Ok(axum::Json(Message { message: format!("Deleted {deleted} logs older than {}", before.to_rfc3339()) }))
}

/// Which delivery of a submission to requeue.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RestartTarget {
    /// Only the delivery to the DHIS2 server of this name; all of them when absent.
    server: Option<String>,
}

/// Requeue one submission (the route the original's logs viewer called).
#[utoipa::path(
    post, path = paths::LOG_RESTART, tag = "submissions", params(("id" = i64, Path), RestartTarget),
    responses(
        (status = 200, body = RequeueResult), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "DHIS2's metadata would still refuse it (its mappings are still broken)"),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn restart(
    State(state): State<AppState>,
    caller: Authorized<Operator>,
    Path(id): Path<i64>,
    Query(target): Query<RestartTarget>,
) -> AppResult<axum::Json<RequeueResult>> {
    submissions::requeue_one(&state, &caller, id, target.server.as_deref()).await?;
    Ok(axum::Json(RequeueResult { re_enqueued: 1, ..Default::default() }))
}
