//! `POST /aggregate` and the original's requeue routes.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{AggregateAccepted, AggregateRequest, DryRunResult, ErrorBody, RequeueRequest, RequeueResult};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Path, Query, explicit_credentials};
use crate::app::AppState;
use crate::http::auth::{Authorized, Operator, Submitter};
use crate::infra::error::{AppError, AppResult};
use crate::submissions::{self, Intake, Scope};

// The deprecated legacy GET is still served (and documented as deprecated).
#[allow(deprecated)]
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(submit))
        .routes(routes!(reenqueue_task, reenqueue_task_legacy))
        .routes(routes!(reenqueue_batch))
}

const MAX_IDEMPOTENCY_KEY: usize = 255;

/// Submit aggregate data for DHIS2.
///
/// The body is stored before the answer, then delivered by the workers. Keys of `dataValues`
/// are translated through the mappings; unmapped keys are listed in `warnings`. Send an
/// `Idempotency-Key` header to make a retry of the same request safe. With `"dryRun": true`
/// nothing is stored and DHIS2 is asked with `dryRun=true`.
#[utoipa::path(
    post, path = paths::AGGREGATE, tag = "submissions", request_body = AggregateRequest, params(Scope,
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key: the same key and body return the first answer")),
    responses(
        (status = 200, body = AggregateAccepted, description = "Stored and queued (or, for a dry run, a DryRunResult)"),
        (status = 400, body = ErrorBody, description = "A field is invalid; `detail` names each"),
        (status = 409, body = ErrorBody, description = "Idempotency-Key reused with a different body"),
        (status = 422, body = ErrorBody, description = "Nothing could be mapped"),
        (status = 503, body = ErrorBody, description = "No DHIS2 server configured"),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn submit(
    State(state): State<AppState>,
    caller: Authorized<Submitter>,
    Query(scope): Query<Scope>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> AppResult<Response> {
    let key = idempotency_key(&headers)?;
    Ok(submissions::accept(&state, &caller, &body, &scope, key).await?.into_response())
}

/// The `Idempotency-Key` header, if sent.
pub(super) fn idempotency_key(headers: &HeaderMap) -> AppResult<Option<&str>> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let key = value.to_str().ok().map(str::trim).filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY);
    key.map(Some).ok_or_else(|| {
        AppError::invalid_field("Idempotency-Key", format!("1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"))
    })
}

impl IntoResponse for Intake {
    fn into_response(self) -> Response {
        match self {
            Intake::Accepted(accepted) => axum::Json(accepted).into_response(),
            Intake::DryRun(result) => axum::Json::<DryRunResult>(result).into_response(),
        }
    }
}

/// Requeue the submission with this task id.
#[utoipa::path(
    post, path = paths::REQUEUE_TASK, tag = "submissions", params(("task_id" = String, Path)),
    responses((status = 200, body = RequeueResult), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn reenqueue_task(
    State(state): State<AppState>,
    caller: Authorized<Operator>,
    Path(task_id): Path<String>,
) -> AppResult<axum::Json<RequeueResult>> {
    submissions::requeue_task(&state, &caller, &task_id).await?;
    Ok(axum::Json(RequeueResult { re_enqueued: 1, ..Default::default() }))
}

/// Requeue by task id (GET, kept for clients of the original service; deprecated: use POST).
///
/// A GET that changes data could be triggered by any web page a signed-in browser opens, so
/// this one needs an explicit `Bearer` or `Token` credential; Basic is refused (403).
#[utoipa::path(
    get, path = paths::REQUEUE_TASK, tag = "submissions", params(("task_id" = String, Path)),
    responses(
        (status = 200, body = RequeueResult),
        (status = 403, body = ErrorBody, description = "Sent with Basic credentials"),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []), ("token" = []))
)]
#[deprecated = "a GET that changes data; use POST /aggregate/reenqueue/{task_id}"]
async fn reenqueue_task_legacy(
    state: State<AppState>,
    caller: Authorized<Operator>,
    headers: HeaderMap,
    task_id: Path<String>,
) -> AppResult<axum::Json<RequeueResult>> {
    if !explicit_credentials(&headers) {
        return Err(AppError::Forbidden(
            "GET /aggregate/reenqueue/{task_id} changes data, so it needs Authorization: Bearer or Token, not Basic; \
             or use POST /aggregate/reenqueue/{task_id}"
                .into(),
        ));
    }
    reenqueue_task(state, caller, task_id).await
}

/// Requeue many: by `ids`, by `task_ids`, or every submission matching `filter` (the
/// filters of `GET /logs`).
#[utoipa::path(
    post, path = paths::REQUEUE_BATCH, tag = "submissions", request_body = RequeueRequest,
    responses((status = 200, body = RequeueResult), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn reenqueue_batch(
    State(state): State<AppState>,
    caller: Authorized<Operator>,
    Json(request): Json<RequeueRequest>,
) -> AppResult<axum::Json<RequeueResult>> {
    Ok(axum::Json(submissions::requeue(&state, &caller, request).await?))
}
