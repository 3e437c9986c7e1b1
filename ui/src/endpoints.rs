//! One typed function per endpoint of the gateway's REST API that the console calls: the
//! path, method, body and answer are written down here once, and the list filters are the
//! gateway's own wire types. Each call goes with the session's token ([`Session::fetch`]).

use std::collections::BTreeMap;

use dhis2gw_wire::routes::{self as paths, fill};
use dhis2gw_wire::{
    AlertFinding, AlertNotification, AlertRuleInput, AlertRuleView, AlertTest, AlertTestResult, AlertsOverview,
    ApiToken, AuditEntry, AuditFilter, Completeness, CompletenessFilter, CreateApiToken, CreateUser, CreatedApiToken,
    DataFilePreview, DeleteResult, Dhis2Server, DocumentAccepted, DocumentDryRun, HealthState, HeldGroup, HeldResult,
    HeldSelection, ImportReport, LogFilter, Mapping, MappingFields, MappingFilter, Message, MetadataFilter,
    MetadataObject, MetadataStatus, MetadataSync, NotificationFilter, OrgUnit, OrgUnitFilter, OrgUnitLevel, Overview,
    Page, PartnerAccess, PartnerAccessView, RefusedFilter, RefusedValue, ReportSubmission, RequeueRequest,
    RequeueResult, RotateApiToken, ServerInput, Submission, SubmissionDetail, UpdateUser, User, UserCreated,
    UserFilter,
};
use serde::de::DeserializeOwned;

use crate::api::{ApiError, ApiResult, Call};
use crate::session::Session;

/// A list filter from a page's text inputs (keyed by the query parameter they fill): empty
/// inputs are left out, `page` and `page_size` are added.
pub fn filter_from<F: DeserializeOwned>(inputs: &BTreeMap<String, String>, page: i64, page_size: i64) -> ApiResult<F> {
    let mut object = serde_json::Map::new();
    for (key, value) in inputs.iter().filter(|(_, v)| !v.trim().is_empty()) {
        object.insert(key.clone(), value.trim().into());
    }
    object.insert("page".into(), page.into());
    object.insert("page_size".into(), page_size.into());
    serde_json::from_value(object.into()).map_err(|e| ApiError {
        status: 400,
        message: format!("A filter is not valid: {e}"),
        detail: Vec::new(),
    })
}

pub async fn overview(session: Session) -> ApiResult<Overview> {
    session.fetch(Call::get(paths::OVERVIEW)).await
}

/// Pauses (`enabled: false`) or resumes a DHIS2 server's deliveries.
pub async fn switch_server(session: Session, uid: String, enabled: bool) -> ApiResult<Dhis2Server> {
    session
        .fetch(
            Call::put(fill(paths::SERVER, &[&uid])).json(&ServerInput { enabled: Some(enabled), ..Default::default() }),
        )
        .await
}

pub async fn metadata_status(session: Session) -> ApiResult<MetadataStatus> {
    session.fetch(Call::get(paths::METADATA)).await
}

pub async fn sync_metadata(session: Session) -> ApiResult<MetadataSync> {
    session.fetch(Call::post(paths::METADATA_SYNC)).await
}

/// DHIS2 objects of `kind` whose name, code or UID holds `q` (option combos narrowed to a data
/// element's or data set's combo), for pickers.
pub async fn metadata_objects(session: Session, filter: MetadataFilter) -> ApiResult<Page<MetadataObject>> {
    session.fetch(Call::get(paths::METADATA_OBJECTS).filter(&filter)).await
}

/// Org units of the synced hierarchy whose name or code holds `q`.
pub async fn org_units(session: Session, q: String) -> ApiResult<Page<OrgUnit>> {
    let filter = OrgUnitFilter { q: Some(q), page_size: Some(20), ..Default::default() };
    session.fetch(Call::get(paths::ORGUNITS).filter(&filter)).await
}

/// How many mappings DHIS2's metadata says are broken.
pub async fn broken_mappings(session: Session) -> ApiResult<i64> {
    let filter = MappingFilter { health: Some(HealthState::Broken), page_size: Some(1), ..Default::default() };
    let page: Page<Mapping> = session.fetch(Call::get(paths::MAPPINGS).filter(&filter)).await?;
    Ok(page.total)
}

pub async fn logs(session: Session, filter: LogFilter) -> ApiResult<Page<Submission>> {
    session.fetch(Call::get(paths::LOGS).filter(&filter)).await
}

pub async fn log(session: Session, id: i64) -> ApiResult<SubmissionDetail> {
    session.fetch(Call::get(fill(paths::LOG, &[&id]))).await
}

/// Sends one submission again, to every server or to the one named.
pub async fn requeue_log(session: Session, id: i64, server: Option<String>) -> ApiResult<RequeueResult> {
    session.fetch(Call::post(fill(paths::LOG_RESTART, &[&id])).query(server.map(|s| ("server", s)))).await
}

pub async fn delete_log(session: Session, id: i64) -> ApiResult<Message> {
    session.fetch(Call::delete(fill(paths::LOG, &[&id]))).await
}

/// Deletes every finished submission older than `date` (RFC 3339).
pub async fn purge_logs(session: Session, date: String) -> ApiResult<Message> {
    session.fetch(Call::delete(paths::LOGS_PURGE).query([("date", date)])).await
}

pub async fn requeue_many(session: Session, request: RequeueRequest) -> ApiResult<RequeueResult> {
    session.fetch(Call::post(paths::REQUEUE_BATCH).json(&request)).await
}

pub async fn delete_many(session: Session, request: RequeueRequest) -> ApiResult<DeleteResult> {
    session.fetch(Call::post(paths::LOGS_DELETE).json(&request)).await
}

/// The held groups (a partner's own), oldest first.
pub async fn held(session: Session) -> ApiResult<Vec<HeldGroup>> {
    session.fetch(Call::get(paths::HELD)).await
}

/// Asks DHIS2 about the selected held groups now and sends what it would accept.
pub async fn recheck_held(session: Session, selection: HeldSelection) -> ApiResult<HeldResult> {
    session.fetch(Call::post(paths::HELD_RECHECK).json(&selection)).await
}

/// Sends the selected held values again without asking DHIS2 first.
pub async fn release_held(session: Session, selection: HeldSelection) -> ApiResult<HeldResult> {
    session.fetch(Call::post(paths::HELD_RELEASE).json(&selection)).await
}

/// Gives the selected held values up (`selection.reason` says why).
pub async fn discard_held(session: Session, selection: HeldSelection) -> ApiResult<HeldResult> {
    session.fetch(Call::post(paths::HELD_DISCARD).json(&selection)).await
}

/// Values DHIS2 did not store, newest first.
pub async fn completeness(session: Session, filter: CompletenessFilter) -> ApiResult<Completeness> {
    session.fetch(Call::get(paths::REPORTS_COMPLETENESS).filter(&filter)).await
}

pub async fn report_submissions(session: Session, filter: CompletenessFilter) -> ApiResult<Vec<ReportSubmission>> {
    session.fetch(Call::get(paths::REPORTS_COMPLETENESS_SUBMISSIONS).filter(&filter)).await
}

pub async fn org_unit_levels(session: Session) -> ApiResult<Vec<OrgUnitLevel>> {
    session.fetch(Call::get(paths::ORGUNIT_LEVELS)).await
}

pub async fn refused(session: Session, filter: RefusedFilter) -> ApiResult<Page<RefusedValue>> {
    session.fetch(Call::get(paths::LOGS_REFUSED).filter(&filter)).await
}

/// A list as a file, streamed by the gateway: the screen's filter inputs (empty ones left out)
/// and `format` (csv or xlsx) at the list's export route.
pub async fn export(
    session: Session,
    route: &'static str,
    inputs: BTreeMap<String, String>,
    format: &'static str,
) -> ApiResult<(String, Vec<u8>)> {
    let pairs = inputs
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k, v.trim().to_string()))
        .chain([("format".to_string(), format.to_string())]);
    session.download(Call::get(route).query(pairs), &format!("export.{format}")).await
}

/// Requeues the submissions with a value refused that came from this mapping's code.
pub async fn requeue_refused(session: Session, mapping_id: i64) -> ApiResult<RequeueResult> {
    session.fetch(Call::post(fill(paths::MAPPING_REQUEUE_REFUSED, &[&mapping_id]))).await
}

pub async fn mappings(session: Session, filter: MappingFilter) -> ApiResult<Page<Mapping>> {
    session.fetch(Call::get(paths::MAPPINGS).filter(&filter)).await
}

pub async fn update_mapping(session: Session, id: i64, fields: MappingFields) -> ApiResult<Mapping> {
    session.fetch(Call::put(fill(paths::MAPPING, &[&id])).json(&fields)).await
}

pub async fn delete_mapping(session: Session, id: i64) -> ApiResult<Mapping> {
    session.fetch(Call::delete(fill(paths::MAPPING, &[&id]))).await
}

/// How the gateway reads a mapping file, by its name; `None` for a kind it does not read.
pub fn import_route(file_name: &str) -> Option<&'static str> {
    let lower = file_name.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        Some(paths::MAPPINGS_IMPORT_CSV)
    } else if lower.ends_with(".xlsx") || lower.ends_with(".xls") || lower.ends_with(".ods") {
        Some(paths::MAPPINGS_IMPORT_EXCEL)
    } else {
        None
    }
}

/// Imports a mapping file (CSV or a workbook, by its name); `dry_run` only reports.
pub async fn import_mappings(session: Session, name: String, bytes: Vec<u8>, dry_run: bool) -> ApiResult<ImportReport> {
    let route = import_route(&name).unwrap_or(paths::MAPPINGS_IMPORT_CSV);
    let call = Call::post(route).query(dry_run.then_some(("dryRun", "true"))).file(name, bytes);
    session.fetch(call).await
}

/// What a data file (CSV or a workbook) would become, checked as its upload will be.
pub async fn preview_data_file(session: Session, name: String, bytes: Vec<u8>) -> ApiResult<DataFilePreview> {
    session.fetch(Call::post(paths::AGGREGATE_FILE_PREVIEW).file(name, bytes)).await
}

/// What DHIS2 would make of a data file's submissions (a dry run): nothing is stored.
pub async fn dry_run_data_file(session: Session, name: String, bytes: Vec<u8>) -> ApiResult<DocumentDryRun> {
    session.fetch(Call::post(paths::AGGREGATE_FILE).query([("dryRun", "true")]).file(name, bytes)).await
}

/// Uploads a data file: a submission per data set, org unit and period, or none.
pub async fn upload_data_file(session: Session, name: String, bytes: Vec<u8>) -> ApiResult<DocumentAccepted> {
    session.fetch(Call::post(paths::AGGREGATE_FILE).file(name, bytes)).await
}

/// The empty data-values workbook with the header row.
pub async fn data_file_template(session: Session) -> ApiResult<(String, Vec<u8>)> {
    session.download(Call::get(paths::AGGREGATE_FILE_TEMPLATE), "dhis2gw_data_values.xlsx").await
}

/// Every mapping as a workbook: its suggested file name and bytes.
pub async fn export_mappings(session: Session) -> ApiResult<(String, Vec<u8>)> {
    session.download(Call::get(paths::MAPPINGS_EXPORT), "mappings.xlsx").await
}

/// The empty workbook with the header row.
pub async fn mapping_template(session: Session) -> ApiResult<(String, Vec<u8>)> {
    session.download(Call::get(paths::MAPPINGS_TEMPLATE), "mappings-template.xlsx").await
}

pub async fn users(session: Session, filter: UserFilter) -> ApiResult<Page<User>> {
    session.fetch(Call::get(paths::USERS).filter(&filter)).await
}

pub async fn create_user(session: Session, body: CreateUser) -> ApiResult<UserCreated> {
    session.fetch(Call::post(paths::USERS).json(&body)).await
}

pub async fn update_user(session: Session, uid: String, body: UpdateUser) -> ApiResult<User> {
    session.fetch(Call::put(fill(paths::USER, &[&uid])).json(&body)).await
}

pub async fn deactivate_user(session: Session, uid: String) -> ApiResult<User> {
    session.fetch(Call::delete(fill(paths::USER, &[&uid]))).await
}

pub async fn tokens(session: Session, uid: String) -> ApiResult<Vec<ApiToken>> {
    session.fetch(Call::get(fill(paths::USER_TOKENS, &[&uid]))).await
}

pub async fn create_token(session: Session, uid: String, body: CreateApiToken) -> ApiResult<CreatedApiToken> {
    session.fetch(Call::post(fill(paths::USER_TOKENS, &[&uid])).json(&body)).await
}

pub async fn revoke_token(session: Session, uid: String, id: i64) -> ApiResult<ApiToken> {
    session.fetch(Call::delete(fill(paths::USER_TOKEN, &[&uid, &id]))).await
}

pub async fn rotate_token(session: Session, uid: String, id: i64, body: RotateApiToken) -> ApiResult<CreatedApiToken> {
    session.fetch(Call::post(fill(paths::USER_TOKEN_ROTATE, &[&uid, &id])).json(&body)).await
}

pub async fn access(session: Session, uid: String) -> ApiResult<PartnerAccessView> {
    session.fetch(Call::get(fill(paths::USER_ACCESS, &[&uid]))).await
}

pub async fn set_access(session: Session, uid: String, body: PartnerAccess) -> ApiResult<PartnerAccessView> {
    session.fetch(Call::put(fill(paths::USER_ACCESS, &[&uid])).json(&body)).await
}

pub async fn audit(session: Session, filter: AuditFilter) -> ApiResult<Page<AuditEntry>> {
    session.fetch(Call::get(paths::AUDIT).filter(&filter)).await
}

/// Every action the audit log holds, for its filter.
pub async fn audit_actions(session: Session) -> ApiResult<Vec<String>> {
    session.fetch(Call::get(paths::AUDIT_ACTIONS)).await
}

pub async fn alerts(session: Session) -> ApiResult<AlertsOverview> {
    session.fetch(Call::get(paths::ALERTS)).await
}

pub async fn alert_rules(session: Session) -> ApiResult<Vec<AlertRuleView>> {
    session.fetch(Call::get(paths::ALERT_RULES)).await
}

pub async fn put_alert_rule(session: Session, name: String, body: AlertRuleInput) -> ApiResult<AlertRuleView> {
    session.fetch(Call::put(fill(paths::ALERT_RULE, &[&name])).json(&body)).await
}

/// Undoes an admin's change to a rule.
pub async fn reset_alert_rule(session: Session, name: String) -> ApiResult<Message> {
    session.fetch(Call::delete(fill(paths::ALERT_RULE, &[&name]))).await
}

pub async fn check_alert_rule(session: Session, name: String) -> ApiResult<Vec<AlertFinding>> {
    session.fetch(Call::post(fill(paths::ALERT_RULE_CHECK, &[&name]))).await
}

pub async fn alert_notifications(session: Session, filter: NotificationFilter) -> ApiResult<Page<AlertNotification>> {
    session.fetch(Call::get(paths::ALERT_NOTIFICATIONS).filter(&filter)).await
}

pub async fn test_alert(session: Session, recipient: String) -> ApiResult<AlertTestResult> {
    session.fetch(Call::post(paths::ALERT_TEST).json(&AlertTest { recipient })).await
}
