//! What a scoped partner may submit: the data sets and org-unit subtrees of its user's and its
//! token's scopes ([`crate::access::partners`] has the rest), resolved against DHIS2's synced
//! metadata when an admin sets them and checked against every submission's DHIS2 payload.

use dhis2gw_wire::PartnerScope;
use serde_json::Value;
use sqlx::PgPool;

use crate::access::identity::AuthUser;
use crate::access::partners::parse_network;
use crate::access::users::Problems;
use crate::infra::error::{AppError, AppResult};
use crate::metadata::Catalog;
use crate::orgunits::Hierarchy;

/// Checks a scope given by an admin and stores its data sets and org units as UIDs: each
/// must be known (synced from DHIS2), each network must parse. `field` prefixes the problems.
pub async fn resolve(
    db: &PgPool,
    catalog: &Catalog,
    hierarchy: &Hierarchy,
    field: &str,
    input: PartnerScope,
) -> AppResult<PartnerScope> {
    let mut problems = Problems::default();
    let snapshot = catalog.snapshot();
    let mut data_sets = Vec::new();
    for (i, given) in input.data_sets.iter().enumerate() {
        match snapshot.data_set(given.trim()) {
            Some(data_set) => data_sets.push(data_set.uid.clone()),
            None => problems.push(format!(
                "{field}.data_sets[{i}]: '{given}' is neither the UID nor the code of a data set synced from DHIS2"
            )),
        }
    }
    let mut org_units = Vec::new();
    for (i, given) in input.org_units.iter().enumerate() {
        match hierarchy.find(db, given.trim()).await? {
            Some(unit) => org_units.push(unit.uid),
            None => problems.push(format!(
                "{field}.org_units[{i}]: '{given}' is neither the UID nor the code of an org unit in the synced hierarchy"
            )),
        }
    }
    let mut networks = Vec::new();
    for (i, given) in input.networks.iter().enumerate() {
        match parse_network(given) {
            Some(network) => networks.push(network.to_string()),
            None => problems
                .push(format!("{field}.networks[{i}]: '{given}' is not a CIDR network (10.0.0.0/8) or an IP address")),
        }
    }
    problems.finish()?;
    data_sets.dedup();
    org_units.dedup();
    Ok(PartnerScope { data_sets, org_units, networks })
}

/// Refuses a submission (its DHIS2 payload) that touches a data set or an org unit outside the
/// caller's scopes, naming it. A data-set scope admits aggregate data only.
pub async fn check(
    db: &PgPool,
    hierarchy: &Hierarchy,
    caller: &AuthUser,
    kind: &str,
    payload: &Value,
) -> AppResult<()> {
    let mut data_sets = Vec::new();
    let mut org_units = Vec::new();
    collect(payload, &mut data_sets, &mut org_units);
    for scope in &caller.scopes {
        if !scope.data_sets.is_empty() {
            if kind != "aggregate" {
                return Err(AppError::Forbidden(format!(
                    "{} may submit only aggregate data for the data sets {}",
                    caller.username,
                    scope.data_sets.join(", ")
                )));
            }
            if data_sets.is_empty() {
                return Err(AppError::Forbidden(format!(
                    "dataSet: the submission names no data set, and {} may submit only for {}",
                    caller.username,
                    scope.data_sets.join(", ")
                )));
            }
            if let Some(outside) = data_sets.iter().find(|d| !scope.data_sets.contains(d)) {
                return Err(AppError::Forbidden(format!(
                    "dataSet: '{outside}' is outside the data sets {} may submit for ({})",
                    caller.username,
                    scope.data_sets.join(", ")
                )));
            }
        }
        if !scope.org_units.is_empty() {
            for unit in &org_units {
                let within = hierarchy
                    .find(db, unit)
                    .await?
                    .is_some_and(|known| known.path.split('/').any(|uid| scope.org_units.iter().any(|s| s == uid)));
                if !within {
                    return Err(AppError::Forbidden(format!(
                        "orgUnit: '{unit}' is outside the org-unit subtrees {} may submit for ({})",
                        caller.username,
                        scope.org_units.join(", ")
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Every `dataSet` and `orgUnit` named anywhere in a DHIS2 payload (aggregate or tracker).
fn collect(value: &Value, data_sets: &mut Vec<String>, org_units: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object {
                match (key.as_str(), inner) {
                    ("dataSet", Value::String(s)) if !data_sets.contains(s) => data_sets.push(s.clone()),
                    ("orgUnit", Value::String(s)) if !org_units.contains(s) => org_units.push(s.clone()),
                    _ => collect(inner, data_sets, org_units),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect(item, data_sets, org_units)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_data_set_and_org_unit_of_a_payload_is_found_at_any_depth() {
        let payload = json!({"dataSet": "ds1", "orgUnit": "ou1", "dataValues": [{"orgUnit": "ou2"}, {"orgUnit": "ou1"}],
                             "events": [{"orgUnit": "ou3", "dataValues": [{"value": 1}]}]});
        let (mut data_sets, mut org_units) = (Vec::new(), Vec::new());
        collect(&payload, &mut data_sets, &mut org_units);
        assert_eq!(data_sets, ["ds1"]);
        org_units.sort();
        assert_eq!(org_units, ["ou1", "ou2", "ou3"]);
    }
}
