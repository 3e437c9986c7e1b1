//! Mappings: CRUD, spreadsheet import (with a per-row report), export and template.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;
use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{ErrorBody, ImportReport, Mapping, MappingFields, MappingFilter, Page, RequeueResult};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::download::{XLSX, download};
use super::extract::{Json, Path, Query, uploaded_file};
use crate::access::audit::Actor;
use crate::app::AppState;
use crate::http::auth::{Authorized, Operator, Staff};
use crate::infra::error::AppResult;
use crate::mappings::files::{self, Format, Upload};
use crate::mappings::{self, health};
use crate::submissions;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(requeue_refused))
        .routes(routes!(import_csv))
        .routes(routes!(import_excel))
        .routes(routes!(export_excel))
        .routes(routes!(template))
}

/// Mappings, filtered and paginated.
#[utoipa::path(
    get, path = paths::MAPPINGS, tag = "mappings", params(MappingFilter),
    responses((status = 200, body = Page<Mapping>), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn list(
    State(state): State<AppState>,
    _caller: Authorized<Staff>,
    Query(filter): Query<MappingFilter>,
) -> AppResult<axum::Json<Page<Mapping>>> {
    Ok(axum::Json(mappings::list(&state.db, &state.metadata.snapshot(), filter).await?))
}

/// Create a mapping.
#[utoipa::path(
    post, path = paths::MAPPINGS, tag = "mappings", request_body = MappingFields,
    responses((status = 201, body = Mapping), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn create(
    State(state): State<AppState>,
    caller: Authorized<Operator>,
    Json(fields): Json<MappingFields>,
) -> AppResult<(StatusCode, axum::Json<Mapping>)> {
    let mapping = mappings::create(&state.db, &state.mappings, Actor::User(&caller), fields).await?;
    Ok((StatusCode::CREATED, axum::Json(health::describe(&state.metadata.snapshot(), mapping))))
}

/// Requeue every submission with a value DHIS2 refused that came from this mapping's code
/// (once the mapping or DHIS2's data set is fixed): exactly those, rebuilt through the
/// mappings as they are now.
#[utoipa::path(
    post, path = paths::MAPPING_REQUEUE_REFUSED, tag = "mappings", params(("id" = i64, Path)),
    responses((status = 200, body = RequeueResult), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn requeue_refused(
    State(state): State<AppState>,
    caller: Authorized<Operator>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<RequeueResult>> {
    Ok(axum::Json(submissions::requeue_refused_for_mapping(&state, &caller, id).await?))
}

/// One mapping.
#[utoipa::path(
    get, path = paths::MAPPING, tag = "mappings", params(("id" = i64, Path)),
    responses((status = 200, body = Mapping), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn get(
    State(state): State<AppState>,
    _caller: Authorized<Staff>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Mapping>> {
    Ok(axum::Json(health::describe(&state.metadata.snapshot(), mappings::get(&state.db, id).await?)))
}

/// Replace a mapping's fields.
#[utoipa::path(
    put, path = paths::MAPPING, tag = "mappings", params(("id" = i64, Path)), request_body = MappingFields,
    responses((status = 200, body = Mapping), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn update(
    State(state): State<AppState>,
    caller: Authorized<Operator>,
    Path(id): Path<i64>,
    Json(fields): Json<MappingFields>,
) -> AppResult<axum::Json<Mapping>> {
    let mapping = mappings::update(&state.db, &state.mappings, Actor::User(&caller), id, fields).await?;
    Ok(axum::Json(health::describe(&state.metadata.snapshot(), mapping)))
}

/// Delete a mapping.
#[utoipa::path(
    delete, path = paths::MAPPING, tag = "mappings", params(("id" = i64, Path)),
    responses((status = 200, body = Mapping), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn delete(
    State(state): State<AppState>,
    caller: Authorized<Operator>,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Mapping>> {
    Ok(axum::Json(mappings::delete(&state.db, &state.mappings, Actor::User(&caller), id).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ImportParams {
    /// Report what would happen without writing anything.
    #[serde(default, rename = "dryRun")]
    #[param(rename = "dryRun")]
    dry_run: bool,
}

/// Import mappings from a CSV file (multipart field `file`). Rows upsert on (code,
/// source_name, instance_name, what); the answer says per row what was created, updated,
/// unchanged or rejected, and why.
#[utoipa::path(
    post, path = paths::MAPPINGS_IMPORT_CSV, tag = "mappings", params(ImportParams),
    request_body(content_type = "multipart/form-data", description = "field `file`: the CSV file"),
    responses((status = 200, body = ImportReport), (status = 400, body = ErrorBody, description = "No file, or a file that cannot be read")),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn import_csv(
    state: State<AppState>,
    caller: Authorized<Operator>,
    params: Query<ImportParams>,
    multipart: Result<Multipart, MultipartRejection>,
) -> AppResult<axum::Json<ImportReport>> {
    import(state, caller, params, multipart, Format::Csv).await
}

/// Import mappings from an Excel file (multipart field `file`): the first sheet with a header row.
#[utoipa::path(
    post, path = paths::MAPPINGS_IMPORT_EXCEL, tag = "mappings", params(ImportParams),
    request_body(content_type = "multipart/form-data", description = "field `file`: the xlsx file"),
    responses((status = 200, body = ImportReport), (status = 400, body = ErrorBody, description = "No file, or a file that cannot be read")),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn import_excel(
    state: State<AppState>,
    caller: Authorized<Operator>,
    params: Query<ImportParams>,
    multipart: Result<Multipart, MultipartRejection>,
) -> AppResult<axum::Json<ImportReport>> {
    import(state, caller, params, multipart, Format::Excel).await
}

async fn import(
    State(state): State<AppState>,
    caller: Authorized<Operator>,
    Query(params): Query<ImportParams>,
    multipart: Result<Multipart, MultipartRejection>,
    format: Format,
) -> AppResult<axum::Json<ImportReport>> {
    let (name, bytes) = uploaded_file(multipart).await?;
    let upload = Upload { name, format, bytes: bytes.to_vec() };
    Ok(axum::Json(
        files::import(
            &state.db,
            &state.mappings,
            &state.metadata.snapshot(),
            Actor::User(&caller),
            upload,
            params.dry_run,
        )
        .await?,
    ))
}

/// Every mapping as an xlsx file that imports back unchanged.
#[utoipa::path(
    get, path = paths::MAPPINGS_EXPORT, tag = "mappings",
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", description = "dhis2_mappings.xlsx")),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn export_excel(State(state): State<AppState>, _caller: Authorized<Staff>) -> AppResult<Response> {
    Ok(download(files::export(&state.db).await?, XLSX, "dhis2_mappings.xlsx"))
}

/// An empty xlsx with the header row, to fill in and import.
#[utoipa::path(
    get, path = paths::MAPPINGS_TEMPLATE, tag = "mappings",
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", description = "dhis2_mappings_template.xlsx")),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn template(_caller: Authorized<Staff>) -> AppResult<Response> {
    Ok(download(files::workbook(&[])?, XLSX, "dhis2_mappings_template.xlsx"))
}
