//! Pulling the metadata from the primary DHIS2: per kind, the UIDs DHIS2 has now (to forget
//! what it removed), then the objects changed since the last sync (all of them the first
//! time), page by page.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::Utc;
use dhis2gw_wire::MetadataSync;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::catalog::{Catalog, SYNC_STATE};
use crate::access::audit::{self, Actor};
use crate::access::identity::AuthUser;
use crate::infra::config::Config;
use crate::infra::db;
use crate::infra::dhis2::Dhis2Client;
use crate::infra::error::{AppError, AppResult};
use crate::servers::Registry;

/// Objects read from DHIS2 per request.
const PAGE_SIZE: usize = 200;
/// Identifies the sync's PostgreSQL advisory lock: one sync at a time across gateways.
const SYNC_LOCK: i64 = 0x6468_6973_326d_6574;

/// What the sync stores per kind: the `kind` column, DHIS2's collection, and the properties
/// asked for (what [`Snapshot`] reads, and nothing more).
const KINDS: [(&str, &str, &str); 4] = [
    (
        "dataSet",
        "dataSets",
        "id,code,name,periodType,openFuturePeriods,expiryDays,timelyDays,lastUpdated,categoryCombo[id],\
         dataInputPeriods[period[id],openingDate,closingDate],dataSetElements[dataElement[id],categoryCombo[id]],\
         organisationUnits[id]",
    ),
    (
        "dataElement",
        "dataElements",
        "id,code,name,shortName,valueType,zeroIsSignificant,lastUpdated,categoryCombo[id],optionSet[id]",
    ),
    ("categoryCombo", "categoryCombos", "id,code,name,lastUpdated,categoryOptionCombos[id,code,name]"),
    ("optionSet", "optionSets", "id,code,name,valueType,lastUpdated,options[id,code,name]"),
];

/// Pulls the metadata; incremental after the first run. Refuses (409) while another gateway
/// process is syncing. The catalog is reloaded from what is stored, whatever the outcome. A
/// sync someone asked for is audited; the scheduled ones are not.
pub async fn sync(
    db: &PgPool,
    client: &Dhis2Client,
    config: &Config,
    catalog: &Catalog,
    servers: &Registry,
    asked_by: Option<&AuthUser>,
) -> AppResult<MetadataSync> {
    let mut lock = db.begin().await?;
    let locked: bool = sqlx::query_scalar!(r#"SELECT pg_try_advisory_xact_lock($1) AS "locked!""#, SYNC_LOCK)
        .fetch_one(&mut *lock)
        .await?;
    if !locked {
        return Err(AppError::Conflict("A metadata sync is running already; try again when it has finished".into()));
    }
    let result = sync_locked(db, client).await;
    if let Err(e) = &result {
        record_failure(db, &format!("{e:#}")).await?;
    }
    lock.commit().await?;
    catalog.reload(db).await?;
    let mut report = result.map_err(|e| AppError::Unavailable(format!("Metadata sync failed: {e:#}")))?;
    let snapshot = catalog.snapshot();
    super::cc::compare(db, servers, &snapshot).await?;
    report.warnings = super::check::default_warnings(&snapshot, &config.api);
    for warning in &report.warnings {
        tracing::warn!("{warning}");
    }
    if let Some(caller) = asked_by {
        let detail = json!({"incremental": report.incremental, "changed": report.changed, "removed": report.removed});
        audit::record(db, Actor::User(caller), "metadata.sync", "metadata", "", detail).await?;
    }
    Ok(report)
}

async fn sync_locked(db: &PgPool, client: &Dhis2Client) -> anyhow::Result<MetadataSync> {
    let state = db::job_state(db, SYNC_STATE).await?.unwrap_or_default();
    let mut watermarks: BTreeMap<String, String> =
        serde_json::from_value(state["watermarks"].clone()).unwrap_or_default();
    let incremental = !watermarks.is_empty();
    let (mut changed, mut removed) = (BTreeMap::new(), BTreeMap::new());
    for (kind, collection, fields) in KINDS {
        let live = live_uids(client, collection).await?;
        let gone = sqlx::query_scalar!(
            "DELETE FROM dhis2_metadata WHERE kind = $1 AND NOT (uid = ANY($2)) RETURNING uid",
            kind,
            &live
        )
        .fetch_all(db)
        .await?;
        removed.insert(collection.to_string(), gone.len());

        let since = watermarks.get(kind).map(|w| format!("&filter=lastUpdated:gt:{w}")).unwrap_or_default();
        let mut count = 0;
        let mut page = 1;
        loop {
            let path = format!("{collection}?fields={fields}{since}&order=id:asc&page={page}&pageSize={PAGE_SIZE}");
            let body = client.get_json(&path).await?;
            let objects = body[collection].as_array().cloned().unwrap_or_default();
            count += objects.len();
            if let Some(newest) = store(db, kind, &objects).await?
                && watermarks.get(kind).is_none_or(|w| newest > *w)
            {
                watermarks.insert(kind.to_string(), newest);
            }
            let (page_now, pages) = (body["pager"]["page"].as_i64(), body["pager"]["pageCount"].as_i64());
            match (page_now, pages) {
                (Some(p), Some(n)) if p < n => page += 1,
                _ => break,
            }
        }
        changed.insert(collection.to_string(), count);
    }
    let finished_at = Utc::now();
    let state = json!({"watermarks": watermarks, "finished_at": finished_at, "changed": changed, "removed": removed});
    db::set_job_state(db, SYNC_STATE, &state).await?;
    tracing::info!(?changed, ?removed, incremental, "DHIS2 metadata synced");
    Ok(MetadataSync { incremental, changed, removed, finished_at, warnings: Vec::new() })
}

/// Keeps the last success (and its watermarks) and adds why this attempt failed.
async fn record_failure(db: &PgPool, error: &str) -> sqlx::Result<()> {
    sqlx::query!(
        r#"INSERT INTO job_state (name, value) VALUES ($1, jsonb_build_object('error', $2::text))
           ON CONFLICT (name) DO UPDATE SET value = job_state.value || jsonb_build_object('error', $2::text),
               updated = now()"#,
        SYNC_STATE,
        error
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Every UID of a collection that DHIS2 has now.
async fn live_uids(client: &Dhis2Client, collection: &str) -> anyhow::Result<Vec<String>> {
    let body = client.get_json(&format!("{collection}?fields=id&paging=false")).await?;
    let objects = body[collection]
        .as_array()
        .with_context(|| format!("DHIS2's answer to /api/{collection} has no `{collection}` list"))?;
    Ok(objects.iter().filter_map(|o| o["id"].as_str().map(str::to_string)).collect())
}

/// Upserts one page of objects; returns the newest `lastUpdated` among them.
async fn store(db: &PgPool, kind: &str, objects: &[Value]) -> sqlx::Result<Option<String>> {
    let mut newest: Option<String> = None;
    let (mut uids, mut codes, mut names, mut updated) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut kept = Vec::new();
    for object in objects {
        let (Some(uid), Some(name)) = (object["id"].as_str(), object["name"].as_str()) else { continue };
        let last_updated = object["lastUpdated"].as_str().map(str::to_string);
        if let Some(u) = &last_updated
            && newest.as_ref().is_none_or(|n| u > n)
        {
            newest = Some(u.clone());
        }
        uids.push(uid.to_string());
        codes.push(object["code"].as_str().map(str::to_string));
        names.push(name.to_string());
        updated.push(last_updated);
        kept.push(object.clone());
    }
    sqlx::query!(
        r#"INSERT INTO dhis2_metadata (kind, uid, code, name, last_updated, object, synced_at)
           SELECT $1, uid, code, name, updated, object, now()
           FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[]) AS t(uid, code, name, updated, object)
           ON CONFLICT (kind, uid) DO UPDATE SET code = EXCLUDED.code, name = EXCLUDED.name,
               last_updated = EXCLUDED.last_updated, object = EXCLUDED.object, synced_at = now()"#,
        kind,
        &uids,
        &codes as &[Option<String>],
        &names,
        &updated as &[Option<String>],
        &kept,
    )
    .execute(db)
    .await?;
    Ok(newest)
}
