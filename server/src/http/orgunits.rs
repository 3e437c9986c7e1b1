//! The org-unit hierarchy: search it, list its levels, and sync it from DHIS2 now.

use axum::extract::State;
use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{ErrorBody, OrgUnit, OrgUnitFilter, OrgUnitLevel, OrgUnitSync, Page};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use crate::app::AppState;
use crate::http::auth::{Admin, Authorized, Staff};
use crate::infra::error::AppResult;
use crate::orgunits;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(levels)).routes(routes!(sync))
}

/// Org units from the synced hierarchy: search by name or code, children of a unit, a level.
#[utoipa::path(
    get, path = paths::ORGUNITS, tag = "orgunits", params(OrgUnitFilter),
    responses((status = 200, body = Page<OrgUnit>), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn list(
    State(state): State<AppState>,
    _caller: Authorized<Staff>,
    Query(filter): Query<OrgUnitFilter>,
) -> AppResult<axum::Json<Page<OrgUnit>>> {
    Ok(axum::Json(orgunits::list(&state.db, filter).await?))
}

/// The hierarchy's levels, marking the district level (`api.dhis2_district_oulevel_name`)
/// and the facility level (`api.dhis2_facility_level`).
#[utoipa::path(
    get, path = paths::ORGUNIT_LEVELS, tag = "orgunits",
    responses((status = 200, body = Vec<OrgUnitLevel>)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn levels(State(state): State<AppState>, _caller: Authorized<Staff>) -> AppResult<axum::Json<Vec<OrgUnitLevel>>> {
    Ok(axum::Json(orgunits::levels(&state.db, &state.config).await?))
}

/// Sync the hierarchy from the primary DHIS2 now (otherwise on `api.sync_cron_expression`):
/// everything the first time, then what changed since the last sync.
#[utoipa::path(
    post, path = paths::ORGUNITS_SYNC, tag = "orgunits",
    responses(
        (status = 200, body = OrgUnitSync),
        (status = 409, body = ErrorBody, description = "A sync is running already"),
        (status = 503, body = ErrorBody, description = "No DHIS2 configured, or DHIS2 failed"),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn sync(State(state): State<AppState>, caller: Authorized<Admin>) -> AppResult<axum::Json<OrgUnitSync>> {
    let result = crate::submissions::org_unit_push::sync_and_push(&state, Some(&caller)).await?;
    Ok(axum::Json(result))
}
