//! `GET /audit`: the audit log, for staff to read.

use axum::extract::State;
use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{AuditEntry, AuditFilter, ErrorBody, Page};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use crate::access::audit;
use crate::app::AppState;
use crate::http::auth::{Authorized, Staff};
use crate::infra::error::AppResult;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(actions)).routes(routes!(export))
}

/// Who did what, newest first.
#[utoipa::path(
    get, path = paths::AUDIT, tag = "audit", params(AuditFilter),
    responses((status = 200, body = Page<AuditEntry>), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn list(
    State(state): State<AppState>,
    _caller: Authorized<Staff>,
    Query(filter): Query<AuditFilter>,
) -> AppResult<axum::Json<Page<AuditEntry>>> {
    Ok(axum::Json(audit::list(&state.db, state.config.server.timezone, filter).await?))
}

/// Every action the audit log holds, for a filter's choices.
#[utoipa::path(
    get, path = paths::AUDIT_ACTIONS, tag = "audit",
    responses((status = 200, body = Vec<String>)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn actions(State(state): State<AppState>, _caller: Authorized<Staff>) -> AppResult<axum::Json<Vec<String>>> {
    Ok(axum::Json(audit::actions(&state.db).await?))
}

/// The audit log as a file, with the same filters: `format=csv` (the default) or `xlsx`, every
/// matching entry, streamed.
#[utoipa::path(
    get, path = paths::AUDIT_EXPORT, tag = "audit", params(AuditFilter),
    responses(
        (status = 200, content_type = "text/csv", description = "dhis2gw_audit_log.csv (or .xlsx)"),
        (status = 400, body = ErrorBody),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn export(
    State(state): State<AppState>,
    _caller: Authorized<Staff>,
    Query(filter): Query<AuditFilter>,
) -> AppResult<axum::response::Response> {
    Ok(super::download::streamed(audit::export(&state.db, state.config.server.timezone, &filter)?))
}
