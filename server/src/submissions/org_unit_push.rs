//! The org-unit sync as the scheduler and `POST /orgunits/sync` run it: the hierarchy is
//! pulled from the primary DHIS2 ([`crate::orgunits::sync`]), then what changed is queued
//! for the CC servers configured for it, as metadata submissions.

use dhis2gw_wire::OrgUnitSync;
use serde_json::{Value, json};

use super::intake::queue_push;
use crate::access::audit::{self, Actor};
use crate::access::identity::AuthUser;
use crate::app::AppState;
use crate::infra::error::AppResult;
use crate::orgunits::{self, Changes};

/// Syncs, then queues the pushes of what changed to the CC servers configured for them. A
/// sync someone asked for is audited; the scheduled ones are not.
pub async fn sync_and_push(state: &AppState, asked_by: Option<&AuthUser>) -> AppResult<OrgUnitSync> {
    let client = state.primary()?;
    let (mut report, changes) = orgunits::sync(&state.db, client, &state.config, &state.hierarchy).await?;
    report.pushes = push(state, &changes).await?;
    if let Some(caller) = asked_by {
        let detail = json!({"units": report.units, "incremental": report.incremental});
        audit::record(&state.db, Actor::User(caller), "orgunits.sync", "orgunits", "", detail).await?;
    }
    Ok(report)
}

/// Queues what changed for the CC servers: levels and units to `cc_dhis2_hierarchy_servers`
/// (everything after the first sync), new units to `cc_dhis2_create_servers`, changed ones to
/// `cc_dhis2_update_servers`, new group memberships to `cc_dhis2_ou_group_add_servers`. Each
/// push is a submission of kind `metadata`: tracked, retried and requeued like data.
async fn push(state: &AppState, changes: &Changes) -> AppResult<Vec<i64>> {
    let api = &state.config.api;
    let changed: Vec<String> = changes.created.iter().chain(&changes.updated).cloned().collect();
    let mut pushes = Vec::new();
    if !changed.is_empty() && !api.cc_dhis2_hierarchy_servers.is_empty() {
        let payload = json!({"organisationUnitLevels": orgunits::level_objects(&state.db).await?, "organisationUnits": orgunits::unit_objects(&state.db, &changed).await?});
        pushes.extend(queue_push(state, "hierarchy", payload, &api.cc_dhis2_hierarchy_servers).await?);
    }
    if changes.first {
        return Ok(pushes);
    }
    if !changes.created.is_empty() && !api.cc_dhis2_create_servers.is_empty() {
        let payload = json!({"organisationUnits": orgunits::unit_objects(&state.db, &changes.created).await?});
        pushes.extend(queue_push(state, "new org units", payload, &api.cc_dhis2_create_servers).await?);
    }
    if !changes.updated.is_empty() && !api.cc_dhis2_update_servers.is_empty() {
        let payload = json!({"organisationUnits": orgunits::unit_objects(&state.db, &changes.updated).await?});
        pushes.extend(queue_push(state, "changed org units", payload, &api.cc_dhis2_update_servers).await?);
    }
    if !changes.memberships.is_empty() && !api.cc_dhis2_ou_group_add_servers.is_empty() {
        let memberships: Vec<Value> =
            changes.memberships.iter().map(|(group, unit)| json!({"group": group, "orgUnit": unit})).collect();
        pushes.extend(
            queue_push(
                state,
                "group memberships",
                json!({"groupMemberships": memberships}),
                &api.cc_dhis2_ou_group_add_servers,
            )
            .await?,
        );
    }
    Ok(pushes)
}
