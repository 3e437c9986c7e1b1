//! The values DHIS2 did not store, across the log: filtered ("every value refused for an
//! unassigned org unit this month, by partner"), paged, and exported as CSV or XLSX, each
//! with what went wrong and who must act in one sentence.

use dhis2gw_wire::{Page, RefusalClass, RefusedFilter, RefusedValue, Role, VALUE_OUTCOMES};
use serde_json::{Value, json};

use crate::access::identity::AuthUser;
use crate::app::AppState;
use crate::holds::OutcomeRow;
use crate::infra::error::{AppError, AppResult};
use crate::infra::export::{self, Export, Format};
use crate::infra::query::{date_range, paging};
use crate::metadata::Snapshot;
use futures_util::TryStreamExt;

/// The filter checked, as `refused_values(jsonb)` takes it.
fn criteria(filter: &RefusedFilter, caller: &AuthUser, tz: chrono_tz::Tz) -> AppResult<Value> {
    let blank = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let class = blank(&filter.class)
        .map(|word| word.parse::<RefusalClass>())
        .transpose()
        .map_err(|e| AppError::invalid_field("class", e))?;
    let outcome = blank(&filter.outcome);
    if let Some(outcome) = outcome.as_deref().filter(|o| !VALUE_OUTCOMES[2..].contains(o)) {
        return Err(AppError::invalid_field(
            "outcome",
            format!("unknown outcome '{outcome}'; use one of {}", VALUE_OUTCOMES[2..].join(", ")),
        ));
    }
    let (from, to) = date_range(filter.from_date.as_deref(), filter.to_date.as_deref(), tz)?;
    Ok(json!({
        "class": class.map(RefusalClass::as_str),
        "code": blank(&filter.code).map(|c| c.to_ascii_uppercase()),
        "element": blank(&filter.element),
        "org_unit": blank(&filter.org_unit),
        "period": blank(&filter.period),
        "data_set": blank(&filter.data_set),
        "outcome": outcome,
        "user": blank(&filter.user),
        "server": blank(&filter.server),
        "from": from,
        "to": to,
        "owner": (caller.role == Role::Partner).then_some(caller.id),
    }))
}

/// One page of the values the filter names, newest first.
pub async fn list(state: &AppState, caller: &AuthUser, filter: &RefusedFilter) -> AppResult<Page<RefusedValue>> {
    let (page, size, offset) = paging(filter.page, filter.page_size, 50)?;
    let criteria = criteria(filter, caller, state.config.server.timezone)?;
    let (items, total) = fetch(state, &criteria, size, offset).await?;
    Ok(Page::new(items, total, page, size))
}

/// Every value the filter names, newest first, streamed as CSV (the default) or XLSX.
pub fn export(state: &AppState, caller: &AuthUser, filter: &RefusedFilter) -> AppResult<Export> {
    let format = Format::parse(filter.format.as_deref())?;
    let criteria = criteria(filter, caller, state.config.server.timezone)?;
    let (db, metadata) = (state.db.clone(), state.metadata.clone());
    Ok(export::start(format, "dhis2gw_refused_values", "Refused values", &COLUMNS, move |mut rows| async move {
        let snapshot = metadata.snapshot();
        let mut outcomes = outcome_rows(&db, &criteria, None, 0);
        while let Some(r) = outcomes.try_next().await? {
            if rows.push(row(&refused_value(r, &snapshot)).into()).await.is_err() {
                break;
            }
        }
        drop(outcomes);
        Ok(rows)
    }))
}

async fn fetch(state: &AppState, criteria: &Value, limit: i64, offset: i64) -> AppResult<(Vec<RefusedValue>, i64)> {
    let total = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM refused_values($1)"#, criteria)
        .fetch_one(&state.db)
        .await?;
    let rows: Vec<OutcomeRow> = outcome_rows(&state.db, criteria, Some(limit), offset).try_collect().await?;
    let snapshot = state.metadata.snapshot();
    let items = rows.into_iter().map(|r| refused_value(r, &snapshot)).collect();
    Ok((items, total))
}

/// The values the criteria name, newest first; `limit` None for all of them.
fn outcome_rows<'a>(
    db: &'a sqlx::PgPool,
    criteria: &'a Value,
    limit: Option<i64>,
    offset: i64,
) -> futures_util::stream::BoxStream<'a, sqlx::Result<OutcomeRow>> {
    sqlx::query_as!(
        OutcomeRow,
        r#"SELECT v.destination_id AS "destination_id!", sv.name AS server, v.value_index AS "value_index!",
               v.partner_key, v.data_element, v.category_option_combo, v.attribute_option_combo, v.org_unit, v.period,
               v.outcome AS "outcome!", v.class, v.error_code, v.message, v.decided_at AS "decided_at!",
               s.id AS submission_id, s.submitted_at, u.username AS "username?"
           FROM refused_values($1) v
           JOIN submission_log s ON s.id = v.submission_id
           JOIN submission_destinations d ON d.id = v.destination_id
           JOIN dhis2_servers sv ON sv.id = d.server_id
           LEFT JOIN users u ON u.id = s.user_id
           ORDER BY v.decided_at DESC, v.id DESC
           LIMIT $2 OFFSET $3"#,
        criteria,
        limit,
        offset,
    )
    .fetch(db)
}

fn refused_value(r: OutcomeRow, snapshot: &Snapshot) -> RefusedValue {
    RefusedValue {
        submission_id: r.submission_id,
        submitted_at: r.submitted_at,
        user: r.username.clone(),
        value: r.into_outcome(snapshot),
    }
}

const COLUMNS: [&str; 15] = [
    "submission",
    "submitted_at",
    "partner",
    "server",
    "partner_key",
    "data_element",
    "category_option_combo",
    "attribute_option_combo",
    "org_unit",
    "period",
    "outcome",
    "class",
    "error_code",
    "what_went_wrong_and_who_must_act",
    "decided_at",
];

fn row(r: &RefusedValue) -> [String; 15] {
    let v = &r.value;
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    [
        r.submission_id.to_string(),
        r.submitted_at.to_rfc3339(),
        text(&r.user),
        v.server.clone(),
        text(&v.partner_key),
        text(&v.data_element),
        text(&v.category_option_combo),
        text(&v.attribute_option_combo),
        text(&v.org_unit),
        text(&v.period),
        v.outcome.clone(),
        v.class.map(|c| c.as_str().to_string()).unwrap_or_default(),
        text(&v.error_code),
        v.sentence.clone().or_else(|| v.message.clone()).unwrap_or_default(),
        v.decided_at.map(|d| d.to_rfc3339()).unwrap_or_default(),
    ]
}
