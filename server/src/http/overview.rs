//! `GET /overview`: the console's first screen in one call.

use axum::extract::State;
use dhis2gw_wire::Overview;
use dhis2gw_wire::routes as paths;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::http::auth::{Authorized, Staff};
use crate::infra::error::AppResult;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(overview))
}

/// Submissions by status today and over the last 7 and 30 local days (and per day), the
/// queue, the last delivery error and every DHIS2 server's health. While Redis is down the
/// queue's `due` and `scheduled` are 0 and `redis_error` says why; the rest still answers.
#[utoipa::path(
    get, path = paths::OVERVIEW, tag = "overview",
    responses((status = 200, body = Overview)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn overview(State(state): State<AppState>, _caller: Authorized<Staff>) -> AppResult<axum::Json<Overview>> {
    Ok(axum::Json(crate::submissions::overview::overview(&state).await?))
}
