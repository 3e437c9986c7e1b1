//! DHIS2's metadata as the gateway knows it: its state, and syncing it now.

use axum::extract::State;
use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{ErrorBody, MetadataFilter, MetadataObject, MetadataStatus, MetadataSync, Page};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use crate::app::AppState;
use crate::http::auth::{Admin, Authorized, Staff};
use crate::infra::error::AppResult;
use crate::metadata;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status)).routes(routes!(objects)).routes(routes!(sync))
}

/// The gateway's copy of DHIS2's metadata: when it was synced, what it holds, and whether
/// submissions are checked against it now (and if not, why).
#[utoipa::path(
    get, path = paths::METADATA, tag = "metadata",
    responses((status = 200, body = MetadataStatus)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn status(State(state): State<AppState>, _caller: Authorized<Staff>) -> AppResult<axum::Json<MetadataStatus>> {
    Ok(axum::Json(metadata::status(&state.db, &state.metadata, &state.config).await?))
}

/// DHIS2 objects of one kind by name, code or UID, from the synced copy: what the console's
/// pickers offer (option combos narrowed to a data element's or data set's combo).
#[utoipa::path(
    get, path = paths::METADATA_OBJECTS, tag = "metadata", params(MetadataFilter),
    responses((status = 200, body = Page<MetadataObject>), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn objects(
    State(state): State<AppState>,
    _caller: Authorized<Staff>,
    Query(filter): Query<MetadataFilter>,
) -> AppResult<axum::Json<Page<MetadataObject>>> {
    Ok(axum::Json(metadata::search(&state.metadata.snapshot(), &filter)?))
}

/// Sync DHIS2's metadata from the primary server now (otherwise on `api.sync_cron_expression`):
/// everything the first time, then what changed since; objects DHIS2 no longer has are forgotten.
#[utoipa::path(
    post, path = paths::METADATA_SYNC, tag = "metadata",
    responses(
        (status = 200, body = MetadataSync),
        (status = 409, body = ErrorBody, description = "A sync is running already"),
        (status = 503, body = ErrorBody, description = "No DHIS2 configured, or DHIS2 failed; the copy from before is kept"),
    ),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn sync(State(state): State<AppState>, caller: Authorized<Admin>) -> AppResult<axum::Json<MetadataSync>> {
    let client = state.primary()?;
    let report =
        metadata::sync::sync(&state.db, client, &state.config, &state.metadata, &state.servers, Some(&caller)).await?;
    Ok(axum::Json(report))
}
