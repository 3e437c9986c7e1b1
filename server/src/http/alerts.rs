//! Alerts: what fires and the notifications sent, for staff; rules changed and test
//! notifications sent by admins.

use axum::extract::State;
use dhis2gw_wire::routes as paths;
use dhis2gw_wire::{
    AlertFinding, AlertNotification, AlertRuleInput, AlertRuleView, AlertTest, AlertTestResult, AlertsOverview,
    ErrorBody, Message, NotificationFilter, Page,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Path, Query};
use crate::access::audit::{self, Actor};
use crate::alerts::{self, checks, rules};
use crate::app::AppState;
use crate::http::auth::{Admin, Authorized, Staff};
use crate::infra::error::{AppError, AppResult};
use crate::infra::notify;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(list_rules))
        .routes(routes!(put_rule, delete_rule))
        .routes(routes!(check_rule))
        .routes(routes!(notifications))
        .routes(routes!(test))
}

/// What fires now, and how notifications go out.
#[utoipa::path(
    get, path = paths::ALERTS, tag = "alerts",
    responses((status = 200, body = AlertsOverview)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn overview(State(state): State<AppState>, _caller: Authorized<Staff>) -> AppResult<axum::Json<AlertsOverview>> {
    Ok(axum::Json(alerts::overview(&state).await?))
}

/// Every rule in force: built in, configured (`alerts.rules`) or changed by an admin.
#[utoipa::path(
    get, path = paths::ALERT_RULES, tag = "alerts",
    responses((status = 200, body = Vec<AlertRuleView>)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn list_rules(
    State(state): State<AppState>,
    _caller: Authorized<Staff>,
) -> AppResult<axum::Json<Vec<AlertRuleView>>> {
    Ok(axum::Json(rules::views(&state).await?))
}

/// Change a rule, or add one under a new name; it is checked at the next round.
#[utoipa::path(
    put, path = paths::ALERT_RULE, tag = "alerts", params(("name" = String, Path)), request_body = AlertRuleInput,
    responses((status = 200, body = AlertRuleView), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn put_rule(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Path(name): Path<String>,
    Json(input): Json<AlertRuleInput>,
) -> AppResult<axum::Json<AlertRuleView>> {
    Ok(axum::Json(rules::put(&state, &caller, &name, input).await?))
}

/// Undo an admin's change: the built-in or configured rule of that name is in force again
/// (a rule added through the API is gone).
#[utoipa::path(
    delete, path = paths::ALERT_RULE, tag = "alerts", params(("name" = String, Path)),
    responses((status = 200, body = Message), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn delete_rule(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Path(name): Path<String>,
) -> AppResult<axum::Json<Message>> {
    Ok(axum::Json(Message { message: rules::delete(&state, &caller, &name).await? }))
}

/// What the rule finds now, whether or not it is switched on; nobody is notified.
#[utoipa::path(
    post, path = paths::ALERT_RULE_CHECK, tag = "alerts", params(("name" = String, Path)),
    responses((status = 200, body = Vec<AlertFinding>), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn check_rule(
    State(state): State<AppState>,
    _caller: Authorized<Staff>,
    Path(name): Path<String>,
) -> AppResult<axum::Json<Vec<AlertFinding>>> {
    let rule = rules::get(&state, &name).await?;
    Ok(axum::Json(checks::find(&state, &rule.rule).await?))
}

/// Notifications sent, waiting to be sent again, or given up, newest first.
#[utoipa::path(
    get, path = paths::ALERT_NOTIFICATIONS, tag = "alerts", params(NotificationFilter),
    responses((status = 200, body = Page<AlertNotification>), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn notifications(
    State(state): State<AppState>,
    _caller: Authorized<Staff>,
    Query(filter): Query<NotificationFilter>,
) -> AppResult<axum::Json<Page<AlertNotification>>> {
    Ok(axum::Json(alerts::notifications(&state.db, filter).await?))
}

/// Send a test notification now and say what the SMTP server or webhook answered.
#[utoipa::path(
    post, path = paths::ALERT_TEST, tag = "alerts", request_body = AlertTest,
    responses((status = 200, body = AlertTestResult), (status = 400, body = ErrorBody)),
    security(("bearer" = []), ("token" = []), ("basic" = []))
)]
async fn test(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Json(request): Json<AlertTest>,
) -> AppResult<axum::Json<AlertTestResult>> {
    let recipient = request.recipient.trim();
    dhis2gw_wire::recipient_problem(recipient)
        .map_err(|e| AppError::BadRequest { message: format!("recipient: {e}"), detail: vec!["recipient".into()] })?;
    let result = notify::test(&state.db, &state.alert_channels, recipient).await?;
    let detail = serde_json::json!({"sent": result.sent, "answer": result.answer, "error": result.error});
    audit::record(&state.db, Actor::User(&caller), "alert.test", "alert", recipient, detail).await?;
    Ok(axum::Json(result))
}
