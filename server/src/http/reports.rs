//! `GET /reports/completeness`: which expected reports arrived on time, late or not at all.

use axum::extract::State;
use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{Completeness, CompletenessFilter, ErrorBody, ReportSubmission};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use crate::app::AppState;
use crate::http::auth::{AnyRole, Authorized};
use crate::infra::error::AppResult;
use crate::reports;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(completeness)).routes(routes!(export)).routes(routes!(submissions))
}

/// Per org unit (or rolled up to a level) and period: received on time, late, missing or not
/// due yet, with the values stored, held and refused, and a summary per partner. A partner
/// sees only what its scope expects of it.
#[utoipa::path(
    get, path = paths::REPORTS_COMPLETENESS, tag = "reports", params(CompletenessFilter),
    responses((status = 200, body = Completeness), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn completeness(
    State(state): State<AppState>,
    caller: Authorized<AnyRole>,
    Query(filter): Query<CompletenessFilter>,
) -> AppResult<axum::Json<Completeness>> {
    Ok(axum::Json(reports::completeness(&state, &caller, &filter).await?))
}

/// The same report as a file, a line per row and period: `format=csv` (the default) or `xlsx`.
#[utoipa::path(
    get, path = paths::REPORTS_COMPLETENESS_EXPORT, tag = "reports", params(CompletenessFilter),
    responses(
        (status = 200, content_type = "text/csv", description = "dhis2gw_completeness_<data set>.csv (or .xlsx)"),
        (status = 400, body = ErrorBody),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn export(
    State(state): State<AppState>,
    caller: Authorized<AnyRole>,
    Query(filter): Query<CompletenessFilter>,
) -> AppResult<axum::response::Response> {
    Ok(super::download::streamed(reports::export(&state, &caller, &filter).await?))
}

/// The submissions that sent a report's values (at most 500, the first received first): for a
/// cell, its period as `period_from` and `period_to` and its row as `org_unit`.
#[utoipa::path(
    get, path = paths::REPORTS_COMPLETENESS_SUBMISSIONS, tag = "reports", params(CompletenessFilter),
    responses((status = 200, body = Vec<ReportSubmission>), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn submissions(
    State(state): State<AppState>,
    caller: Authorized<AnyRole>,
    Query(filter): Query<CompletenessFilter>,
) -> AppResult<axum::Json<Vec<ReportSubmission>>> {
    Ok(axum::Json(reports::submissions(&state, &caller, &filter).await?))
}
