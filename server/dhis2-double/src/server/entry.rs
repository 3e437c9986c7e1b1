//! `/api/lockExceptions` and `/api/dataApprovals`: how a DHIS2 administrator opens a closed
//! period for one org unit, and approves or unapproves data (`LockExceptionController`,
//! `DataApprovalController`; statuses and messages as 2.40–2.43 answer them, 2.37 where it
//! differs). Only a data set's own workflow is known to the double (`ds=`, or `wf=` with the
//! data set's workflow UID).

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::common::{Version, lock};
use crate::envelope::{WebMessage, web_message};
use crate::fixture;
use crate::import::query_pairs;
use crate::model::{self, DataSet, IdScheme};
use crate::state::Shared;
use crate::time;

/// The page size of `GET /api/lockExceptions`.
const PAGE_SIZE: usize = 50;

fn param(query: &Option<String>, name: &str) -> Option<String> {
    query_pairs(query.as_deref().unwrap_or_default()).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// `GET /api/lockExceptions`: every lock exception, paged (`paging=false` for all).
pub(super) async fn list(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Json<Value> {
    // The imports' lock order: org units before entry rules.
    let units = lock(&shared.org_units);
    let entry = lock(&shared.entry);
    let items: Vec<Value> = entry
        .exceptions
        .iter()
        .map(|e| {
            let ds_name = model::data_set(IdScheme::Uid, &e.data_set).map_or("", |d| d.id.name);
            let ou_name = units.units.get(&e.org_unit).map_or("", |u| u.name.as_str());
            json!({
                "name": format!("{ds_name} ({ou_name}, {})", e.period),
                "period": {"id": e.period},
                "organisationUnit": {"id": e.org_unit},
                "dataSet": {"id": e.data_set},
                "created": time::format(e.created),
            })
        })
        .collect();
    if param(&query, "paging").as_deref() == Some("false") {
        return Json(json!({ "lockExceptions": items }));
    }
    let page: usize = param(&query, "page").and_then(|p| p.parse().ok()).filter(|p| *p >= 1).unwrap_or(1);
    let total = items.len();
    let shown: Vec<Value> = items.into_iter().skip((page - 1) * PAGE_SIZE).take(PAGE_SIZE).collect();
    Json(json!({
        "pager": {"page": page, "pageCount": total.div_ceil(PAGE_SIZE).max(1), "total": total, "pageSize": PAGE_SIZE},
        "lockExceptions": shown,
    }))
}

/// `POST /api/lockExceptions?ou=&pe=&ds=`: `ou` one UID or `[a,b]`; units not assigned to the
/// data set are skipped.
pub(super) async fn create(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let version = shared.version();
    let (ou, pe, ds) = (param(&query, "ou"), param(&query, "pe"), param(&query, "ds"));
    let data_set = ds.as_deref().and_then(|d| model::data_set(IdScheme::Uid, d));
    let period = pe.filter(|p| crate::period::parse(p, version).is_some());
    let (Some(data_set), Some(period)) = (data_set, period) else {
        return web_message(StatusCode::CONFLICT, " DataSet or Period is invalid");
    };
    let ids: Vec<String> = ou
        .unwrap_or_default()
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() {
        let message = if version == Version::V2_37 {
            " OrganisationUnit ID is invalid."
        } else {
            "OrganisationUnit ID is invalid."
        };
        return web_message(StatusCode::CONFLICT, message);
    }
    let assigned: Vec<String> = {
        let units = lock(&shared.org_units);
        if let Some(unknown) = ids.iter().find(|id| !units.units.contains_key(*id)) {
            return web_message(StatusCode::CONFLICT, format!("Can't find OrganisationUnit with id ={unknown}"));
        }
        ids.iter().filter(|id| units.units[*id].data_sets.contains(&data_set.id.uid)).cloned().collect()
    };
    if assigned.is_empty() {
        if version == Version::V2_37 {
            return StatusCode::NO_CONTENT.into_response();
        }
        let message = format!(
            "None of the target organisation unit(s) {} is linked to the specified data set: {}",
            ids.join(", "),
            data_set.id.uid
        );
        return web_message(StatusCode::CONFLICT, message);
    }
    let mut entry = lock(&shared.entry);
    for unit in &assigned {
        entry.add_exception(data_set.id.uid, unit, &period, time::now());
    }
    let body = WebMessage::new(StatusCode::CREATED, "OK", "LockException created successfully.");
    (StatusCode::CREATED, Json(body)).into_response()
}

/// `DELETE /api/lockExceptions?pe=&ds=[&ou=]`: that unit's, or (no or unknown `ou`) every
/// unit's lock exception for the data set and period.
pub(super) async fn delete(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let (ou, pe, ds) = (param(&query, "ou"), param(&query, "pe"), param(&query, "ds"));
    let data_set = ds.as_deref().and_then(|d| model::data_set(IdScheme::Uid, d));
    let period = pe.filter(|p| crate::period::parse(p, shared.version()).is_some());
    let (Some(data_set), Some(period)) = (data_set, period) else {
        let message = format!(
            "Can't find LockException with combination: dataSet={}, period={}",
            ds.unwrap_or_default(),
            param(&query, "pe").unwrap_or_default()
        );
        return web_message(StatusCode::CONFLICT, message);
    };
    let known_unit = ou.filter(|o| lock(&shared.org_units).units.contains_key(o));
    lock(&shared.entry).exceptions.retain(|e| {
        !(e.data_set == data_set.id.uid && e.period == period && known_unit.as_ref().is_none_or(|o| &e.org_unit == o))
    });
    StatusCode::NO_CONTENT.into_response()
}

/// What an approval request names: the data set (by `ds`, or its workflow by `wf`), period,
/// org unit and attribute option combo (default when absent).
struct Target {
    data_set: &'static DataSet,
    period: String,
    org_unit: String,
    aoc: String,
}

/// The approval request's target, or DHIS2's 409 message.
fn target(shared: &Shared, query: &Option<String>) -> Result<Target, String> {
    let conflict = |message: String| Err(message);
    let data_set = match (param(query, "ds"), param(query, "wf")) {
        (Some(ds), _) => match model::data_set(IdScheme::Uid, &ds) {
            None => return conflict(format!("Data set does not exist: {ds}")),
            Some(d) if fixture::workflow_of(d.id.uid).is_none() => {
                return conflict(format!("Data set does not have an approval workflow: {ds}"));
            }
            Some(d) => d,
        },
        (None, Some(wf)) => match model::data_set_of_workflow(&wf) {
            Some(d) => d,
            None => return conflict(format!("Data approval workflow does not exist: {wf}")),
        },
        (None, None) => return conflict("Either data set or data approval workflow must be specified".into()),
    };
    let period = match param(query, "pe").filter(|p| crate::period::parse(p, shared.version()).is_some()) {
        Some(p) => p,
        None => return conflict(format!("Illegal period identifier: {}", param(query, "pe").unwrap_or_default())),
    };
    let org_unit = param(query, "ou").unwrap_or_default();
    if !lock(&shared.org_units).units.contains_key(&org_unit) {
        return conflict(format!("Organisation unit does not exist: {org_unit}"));
    }
    let aoc = param(query, "aoc").unwrap_or_else(|| fixture::DEFAULT_AOC.to_owned());
    Ok(Target { data_set, period, org_unit, aoc })
}

/// Answers with `act` on the request's target, or with DHIS2's 409 when it names none.
fn with_target(shared: &Shared, query: &Option<String>, act: impl FnOnce(Target) -> Response) -> Response {
    match target(shared, query) {
        Ok(t) => act(t),
        Err(message) => web_message(StatusCode::CONFLICT, message),
    }
}

/// `GET /api/dataApprovals`: the approval state and what the (superuser) caller may do.
pub(super) async fn state(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    with_target(&shared, &query, |t| approval_state(&shared, &t))
}

fn approval_state(shared: &Shared, t: &Target) -> Response {
    let entry = lock(&shared.entry);
    let body = match entry.approval(t.data_set.id.uid, &t.period, &t.org_unit, &t.aoc) {
        Some(a) => json!({
            "mayApprove": false, "mayUnapprove": true, "mayAccept": true, "mayUnaccept": false, "mayReadData": true,
            "state": "APPROVED_HERE", "approvedBy": "Admin", "approvedAt": time::format(a.created),
        }),
        None => json!({
            "mayApprove": true, "mayUnapprove": false, "mayAccept": false, "mayUnaccept": false, "mayReadData": true,
            "state": "UNAPPROVED_READY",
        }),
    };
    Json(body).into_response()
}

/// `POST /api/dataApprovals`: approves (nothing changes when approved already).
pub(super) async fn approve(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    with_target(&shared, &query, |t| {
        lock(&shared.entry).approve(t.data_set.id.uid, &t.period, &t.org_unit, &t.aoc, time::now());
        StatusCode::NO_CONTENT.into_response()
    })
}

/// `DELETE /api/dataApprovals`: unapproves (nothing changes when not approved).
pub(super) async fn unapprove(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    with_target(&shared, &query, |t| {
        lock(&shared.entry).unapprove(t.data_set.id.uid, &t.period, &t.org_unit, &t.aoc);
        StatusCode::NO_CONTENT.into_response()
    })
}
