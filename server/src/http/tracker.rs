//! `POST /tracker`: tracker data (tracked entities, enrollments, events, relationships).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{AggregateAccepted, ErrorBody};
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::aggregate::idempotency_key;
use super::extract::{Json, Query};
use crate::app::AppState;
use crate::http::auth::{Authorized, Submitter};
use crate::infra::error::AppResult;
use crate::submissions;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(submit))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TrackerParams {
    /// `COMMIT` (default): store and deliver; `VALIDATE`: ask DHIS2 to check it, store nothing.
    #[serde(rename = "importMode", default)]
    #[param(inline)]
    import_mode: ImportMode,
}

#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
enum ImportMode {
    #[default]
    Commit,
    Validate,
}

/// Submit tracker data for DHIS2: a DHIS2 tracker import payload, nested or flat.
///
/// Stored before the answer and delivered to `/api/tracker` with
/// `importStrategy=CREATE_AND_UPDATE` (large payloads as DHIS2 jobs). An object without a UID
/// may carry `ref`, the partner's own record id: the gateway derives its UID from it, so a
/// resend updates the record instead of duplicating it (`trackedEntityRef` / `enrollmentRef`
/// name parents in flat payloads). Send an `Idempotency-Key` to make a retry safe.
#[utoipa::path(
    post, path = paths::TRACKER, tag = "submissions", request_body = Object, params(TrackerParams,
        ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key: the same key and body return the first answer")),
    responses(
        (status = 200, body = AggregateAccepted, description = "Stored and queued (or, with VALIDATE, a DryRunResult)"),
        (status = 400, body = ErrorBody, description = "A field is invalid; `detail` names each by its path"),
        (status = 409, body = ErrorBody, description = "Idempotency-Key reused with a different body"),
        (status = 503, body = ErrorBody, description = "No DHIS2 server is configured"),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn submit(
    State(state): State<AppState>,
    caller: Authorized<Submitter>,
    Query(params): Query<TrackerParams>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> AppResult<Response> {
    let key = idempotency_key(&headers)?;
    let validate = matches!(params.import_mode, ImportMode::Validate);
    Ok(submissions::accept_tracker(&state, &caller, &body, validate, key, None).await?.into_response())
}
