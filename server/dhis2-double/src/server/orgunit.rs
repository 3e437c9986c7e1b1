//! The org unit handlers: the list and single-object reads, `POST /api/metadata` and the
//! group membership endpoints.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::common::{Version, lock};
use crate::envelope::{WebMessage, web_message};
use crate::orgunit::listing::{Kind, Spec, list};
use crate::orgunit::metadata::{self, Params};
use crate::orgunit::{GROUP_KLASS, Registry};
use crate::state::Shared;
use crate::time;

const UNITS: Spec = Spec {
    collection: "organisationUnits",
    path: "/api/organisationUnits",
    properties: &[
        ("id", Kind::Text),
        ("code", Kind::Text),
        ("name", Kind::Text),
        ("shortName", Kind::Text),
        ("displayName", Kind::Text),
        ("path", Kind::Text),
        ("level", Kind::Int),
        ("parent.id", Kind::Text),
        ("openingDate", Kind::Time),
        ("closedDate", Kind::Time),
        ("created", Kind::Time),
        ("lastUpdated", Kind::Time),
    ],
    default_order: &["level", "name"],
};

const LEVELS: Spec = Spec {
    collection: "organisationUnitLevels",
    path: "/api/organisationUnitLevels",
    properties: &[
        ("id", Kind::Text),
        ("code", Kind::Text),
        ("name", Kind::Text),
        ("level", Kind::Int),
        ("created", Kind::Time),
        ("lastUpdated", Kind::Time),
    ],
    default_order: &["level"],
};

const GROUPS: Spec = Spec {
    collection: "organisationUnitGroups",
    path: "/api/organisationUnitGroups",
    properties: &[
        ("id", Kind::Text),
        ("code", Kind::Text),
        ("name", Kind::Text),
        ("shortName", Kind::Text),
        ("created", Kind::Time),
        ("lastUpdated", Kind::Time),
    ],
    default_order: &["name"],
};

fn answer(result: Result<Value, String>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(message) => web_message(StatusCode::BAD_REQUEST, message),
    }
}

/// `GET /api/organisationUnits`; DHIS2's own `level` and `maxLevel` parameters are
/// filters on `level`.
pub(crate) async fn units(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    shared.org_unit_requests.fetch_add(1, Ordering::SeqCst);
    let query = uri.query().unwrap_or_default();
    let pairs = crate::import::query_pairs(query);
    let mut implied = Vec::new();
    for (param, operator) in [("level", "eq"), ("maxLevel", "le")] {
        if let Some((_, value)) = pairs.iter().rev().find(|(k, _)| k == param) {
            implied.push(format!("level:{operator}:{value}"));
        }
    }
    let items = lock(&shared.org_units).units_json();
    answer(list(&UNITS, items, query, &implied, &shared.base_url))
}

/// `GET /api/organisationUnits/{id}`.
pub(crate) async fn unit(State(shared): State<Arc<Shared>>, Path(id): Path<String>, uri: Uri) -> Response {
    shared.org_unit_requests.fetch_add(1, Ordering::SeqCst);
    let registry = lock(&shared.org_units);
    match registry.units.get(&id) {
        Some(unit) => {
            let full = registry.unit_json(unit);
            let only_id = crate::import::query_pairs(uri.query().unwrap_or_default())
                .iter()
                .any(|(k, v)| k == "fields" && v.trim() == "id");
            Json(if only_id { json!({ "id": full["id"] }) } else { full }).into_response()
        }
        None => web_message(StatusCode::NOT_FOUND, format!("OrganisationUnit with id {id} could not be found.")),
    }
}

/// `GET /api/organisationUnitLevels`.
pub(crate) async fn levels(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let items: Vec<Value> = lock(&shared.org_units).levels.values().map(Registry::level_json).collect();
    answer(list(&LEVELS, items, uri.query().unwrap_or_default(), &[], &shared.base_url))
}

/// `GET /api/organisationUnitGroups`.
pub(crate) async fn groups(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let items: Vec<Value> = lock(&shared.org_units).groups.values().map(Registry::group_json).collect();
    answer(list(&GROUPS, items, uri.query().unwrap_or_default(), &[], &shared.base_url))
}

/// `GET /api/organisationUnitGroups/{id}`.
pub(crate) async fn group(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match lock(&shared.org_units).groups.get(&id) {
        Some(group) => Json(Registry::group_json(group)).into_response(),
        None => web_message(StatusCode::NOT_FOUND, format!("OrganisationUnitGroup with id {id} could not be found.")),
    }
}

/// `POST /api/metadata` with org units, levels and groups.
pub(crate) async fn import(State(shared): State<Arc<Shared>>, uri: Uri, body: Bytes) -> Response {
    let version = shared.version();
    let json: Value = match serde_json::from_slice(&body) {
        Ok(json) => json,
        Err(e) => return web_message(StatusCode::BAD_REQUEST, format!("JSON parse error: {e}")),
    };
    lock(&shared.metadata_imports).push(json.clone());
    let params = match Params::from_query(uri.query().unwrap_or_default()) {
        Ok(params) => params,
        Err(message) => return web_message(StatusCode::BAD_REQUEST, message),
    };
    let new_uid = || shared.new_uid("OuGen");
    let outcome = metadata::run(&mut lock(&shared.org_units), version, &params, &json, &new_uid);
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(message) => return web_message(StatusCode::BAD_REQUEST, message),
    };
    let code = if outcome.is_ok() { StatusCode::OK } else { StatusCode::CONFLICT };
    let report = outcome.report().clone();
    if version == Version::V2_37 {
        // ≤2.37 answers with the bare report.
        return (code, Json(report)).into_response();
    }
    let envelope = if outcome.is_ok() {
        WebMessage::new(code, "OK", "")
    } else {
        // `WebMessageUtils.importReport`: any non-OK report is a WARNING envelope.
        WebMessage::new(code, "WARNING", "One or more errors occurred, please see full details in import report.")
    };
    (code, Json(envelope.with_response(report))).into_response()
}

/// `POST /api/organisationUnitGroups/{group}/organisationUnits/{unit}`.
pub(crate) async fn add_member(
    State(shared): State<Arc<Shared>>,
    Path((group, unit)): Path<(String, String)>,
) -> Response {
    change_membership(&shared, &group, &unit, true)
}

/// `DELETE /api/organisationUnitGroups/{group}/organisationUnits/{unit}`.
pub(crate) async fn remove_member(
    State(shared): State<Arc<Shared>>,
    Path((group, unit)): Path<(String, String)>,
) -> Response {
    change_membership(&shared, &group, &unit, false)
}

/// Adds or removes one member; unchanged memberships are ignored, not errors.
fn change_membership(shared: &Shared, group_id: &str, unit: &str, add: bool) -> Response {
    let mut registry = lock(&shared.org_units);
    if !registry.groups.contains_key(group_id) {
        return web_message(
            StatusCode::NOT_FOUND,
            format!("OrganisationUnitGroup with id {group_id} could not be found."),
        );
    }
    if !registry.units.contains_key(unit) {
        return web_message(StatusCode::NOT_FOUND, format!("OrganisationUnit with id {unit} could not be found."));
    }
    let group = registry.groups.get_mut(group_id).expect("the group was checked above");
    let changed = if add { group.members.insert(unit.to_owned()) } else { group.members.remove(unit) };
    if changed {
        group.last_updated = time::now();
    }
    let (updated, ignored) = if changed { (1, 0) } else { (0, 1) };
    let report = json!({
        "responseType": "TypeReport",
        "klass": GROUP_KLASS,
        "stats": { "created": 0, "updated": updated, "deleted": 0, "ignored": ignored, "total": 1 },
        "objectReports": [],
    });
    (StatusCode::OK, Json(WebMessage::new(StatusCode::OK, "OK", "").with_response(report))).into_response()
}
