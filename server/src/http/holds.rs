//! The hold queue: values DHIS2 refused only for a closed period or an approval, grouped,
//! with re-check, release and discard.

use axum::extract::State;
use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{ErrorBody, HeldGroup, HeldResult, HeldSelection};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Query};
use crate::app::AppState;
use crate::holds;
use crate::http::auth::{Admin, AnyRole, Authorized, Operator};
use crate::infra::error::AppResult;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(recheck))
        .routes(routes!(release))
        .routes(routes!(discard))
}

/// Held values by DHIS2 server, data set, period, org unit and attribute option combo, oldest
/// first: how many, of which submissions and partners, since when, and why in words. Partners
/// see their own.
#[utoipa::path(
    get, path = paths::HELD, tag = "held", params(HeldSelection),
    responses((status = 200, body = Vec<HeldGroup>), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn list(
    State(state): State<AppState>,
    caller: Authorized<AnyRole>,
    Query(selection): Query<HeldSelection>,
) -> AppResult<axum::Json<Vec<HeldGroup>>> {
    Ok(axum::Json(holds::groups(&state, &caller, &selection).await?))
}

/// Ask DHIS2 now (otherwise on `api.hold_recheck_cron`) whether it would accept the selected
/// groups (all with an empty body), and deliver those it would; values held longer than
/// `api.hold_max_days` fail first.
#[utoipa::path(
    post, path = paths::HELD_RECHECK, tag = "held", request_body = HeldSelection,
    responses((status = 200, body = HeldResult), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn recheck(
    State(state): State<AppState>,
    caller: Authorized<Operator>,
    Json(selection): Json<HeldSelection>,
) -> AppResult<axum::Json<HeldResult>> {
    Ok(axum::Json(holds::recheck(&state, Some(&caller), &selection).await?))
}

/// Send the selected held values again without asking DHIS2 first; what it still refuses is
/// held (or refused) again.
#[utoipa::path(
    post, path = paths::HELD_RELEASE, tag = "held", request_body = HeldSelection,
    responses((status = 200, body = HeldResult), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn release(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Json(selection): Json<HeldSelection>,
) -> AppResult<axum::Json<HeldResult>> {
    Ok(axum::Json(holds::release(&state, &caller, &selection).await?))
}

/// Give the selected held values up, saying why (`reason`, audited): their submissions end
/// `warning` when other values reached DHIS2, else `failed`.
#[utoipa::path(
    post, path = paths::HELD_DISCARD, tag = "held", request_body = HeldSelection,
    responses((status = 200, body = HeldResult), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn discard(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Json(selection): Json<HeldSelection>,
) -> AppResult<axum::Json<HeldResult>> {
    Ok(axum::Json(holds::discard(&state, &caller, &selection).await?))
}
