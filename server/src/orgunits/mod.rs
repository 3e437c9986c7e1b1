//! The organisation-unit hierarchy: pulled from the primary DHIS2 under `api.dhis2_tree_i_ds`
//! down to `api.dhis2_facility_level` (all of it the first time, then what changed since), and
//! used to check the org unit of every submission and to translate org-unit codes.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use dhis2gw_wire::{OrgUnit, OrgUnitFilter, OrgUnitLevel, OrgUnitSync, Page};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::infra::config::Config;
use crate::infra::db;
use crate::infra::dhis2::Dhis2Client;
use crate::infra::error::{AppError, AppResult};
use crate::infra::query::{like_pattern, paging};

/// Units read from DHIS2 per request.
const PAGE_SIZE: usize = 500;
/// Identifies the sync's PostgreSQL advisory lock: one sync at a time across gateways.
const SYNC_LOCK: i64 = 0x6468_6973_326f_7573;
/// How long the intake trusts what it looked up in the hierarchy; a sync clears it.
const KNOWN_TTL: Duration = Duration::from_secs(60);
const SYNC_STATE: &str = "orgunit_sync";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemoteUnit {
    id: String,
    code: Option<String>,
    name: String,
    short_name: Option<String>,
    path: String,
    level: i32,
    parent: Option<IdRef>,
    opening_date: Option<String>,
    closed_date: Option<String>,
    last_updated: Option<String>,
}

#[derive(Deserialize)]
struct IdRef {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UnitsPage {
    #[serde(default)]
    organisation_units: Vec<RemoteUnit>,
    pager: Option<Pager>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pager {
    page: i64,
    page_count: i64,
}

/// DHIS2 dates are `2024-01-31T00:00:00.000` (or with an offset); only the day matters here.
fn day(text: &Option<String>) -> Option<NaiveDate> {
    text.as_deref().and_then(|t| NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok())
}

/// What a sync changed, for the pushes to CC servers.
#[derive(Default)]
pub struct Changes {
    /// The first (full) sync: everything is new to the gateway, not necessarily to DHIS2.
    pub first: bool,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    /// (group, unit) memberships that appeared.
    pub memberships: Vec<(String, String)>,
}

/// Pulls levels, units and groups; incremental after the first run. Refuses (409) while
/// another gateway process is syncing. The intake's `hierarchy` forgets what it looked up.
pub async fn sync(
    db: &PgPool,
    client: &Dhis2Client,
    config: &Config,
    hierarchy: &Hierarchy,
) -> AppResult<(OrgUnitSync, Changes)> {
    // Held by a transaction of its own: however the sync ends (even dropped midway), the
    // transaction ends and the lock with it.
    let mut lock = db.begin().await?;
    let locked: bool = sqlx::query_scalar!(r#"SELECT pg_try_advisory_xact_lock($1) AS "locked!""#, SYNC_LOCK)
        .fetch_one(&mut *lock)
        .await?;
    if !locked {
        return Err(AppError::Conflict("An org-unit sync is running already; try again when it has finished".into()));
    }
    let result = sync_locked(db, client, config).await;
    lock.commit().await?;
    hierarchy.invalidate();
    result.map_err(|e| AppError::Unavailable(format!("Org-unit sync failed: {e:#}")))
}

async fn sync_locked(db: &PgPool, client: &Dhis2Client, config: &Config) -> anyhow::Result<(OrgUnitSync, Changes)> {
    let api = &config.api;
    let watermark = db::job_state(db, SYNC_STATE).await?.and_then(|s| s["watermark"].as_str().map(str::to_string));

    let levels = client.get_json("organisationUnitLevels?fields=id,level,name&paging=false").await?;
    let levels = levels["organisationUnitLevels"].as_array().cloned().unwrap_or_default();
    for level in &levels {
        let (Some(uid), Some(number), Some(name)) =
            (level["id"].as_str(), level["level"].as_i64(), level["name"].as_str())
        else {
            continue;
        };
        sqlx::query!(
            r#"INSERT INTO orgunitlevel (uid, level, name) VALUES ($1, $2, $3)
               ON CONFLICT (level) DO UPDATE SET uid = EXCLUDED.uid, name = EXCLUDED.name, updated = now()"#,
            uid,
            number as i32,
            name
        )
        .execute(db)
        .await?;
    }

    let roots: Vec<Option<&str>> = if api.dhis2_tree_i_ds.is_empty() {
        vec![None]
    } else {
        api.dhis2_tree_i_ds.iter().map(|r| Some(r.as_str())).collect()
    };
    let mut units = 0;
    let mut newest = watermark.clone();
    let mut changes = Changes { first: watermark.is_none(), ..Default::default() };
    let scope = |root: Option<&str>| {
        let mut filters = vec![format!("level:le:{}", api.dhis2_facility_level)];
        filters.extend(root.map(|r| format!("path:like:{r}")));
        filters
    };
    for &root in &roots {
        let mut filters = scope(root);
        filters.extend(watermark.as_ref().map(|w| format!("lastUpdated:gt:{w}")));
        let filters: String = filters.iter().map(|f| format!("&filter={f}")).collect();
        let mut page = 1;
        loop {
            let path = format!(
                "organisationUnits?fields=id,code,name,shortName,path,level,parent[id],openingDate,closedDate,lastUpdated\
                 {filters}&order=level:asc&page={page}&pageSize={PAGE_SIZE}"
            );
            let body: UnitsPage = serde_json::from_value(client.get_json(&path).await?)
                .context("DHIS2's organisationUnits answer has an unexpected shape")?;
            units += body.organisation_units.len();
            for unit in &body.organisation_units {
                if unit.last_updated.as_ref().is_some_and(|u| newest.as_ref().is_none_or(|n| u > n)) {
                    newest = unit.last_updated.clone();
                }
            }
            for (uid, created) in store_units(db, &body.organisation_units).await? {
                if created { changes.created.push(uid) } else { changes.updated.push(uid) }
            }
            match body.pager {
                Some(p) if p.page < p.page_count => page += 1,
                _ => break,
            }
        }
    }

    // A unit deleted in DHIS2, or moved out of the synced subtrees, changes no `lastUpdated`
    // in scope: what DHIS2 still has there is compared with what is stored.
    let mut in_scope: Vec<String> = Vec::new();
    for &root in &roots {
        let filters: String = scope(root).iter().map(|f| format!("&filter={f}")).collect();
        let ids = client.get_json(&format!("organisationUnits?fields=id&paging=false{filters}")).await?;
        let ids = ids["organisationUnits"].as_array().context("DHIS2's organisationUnits answer has no list")?;
        in_scope.extend(ids.iter().filter_map(|u| u["id"].as_str().map(str::to_string)));
    }
    let removed =
        sqlx::query_scalar!("DELETE FROM organisationunit WHERE NOT (uid = ANY($1)) RETURNING uid", &in_scope)
            .fetch_all(db)
            .await?;
    if !removed.is_empty() {
        tracing::info!(removed = removed.len(), units = ?removed, "org units gone from DHIS2 (or out of dhis2_tree_i_ds) removed");
    }

    let groups =
        client.get_json("organisationUnitGroups?fields=id,code,name,organisationUnits[id]&paging=false").await?;
    let groups = groups["organisationUnitGroups"].as_array().cloned().unwrap_or_default();
    for group in &groups {
        let Some(uid) = group["id"].as_str() else { continue };
        let members: Vec<String> = group["organisationUnits"]
            .as_array()
            .map(|m| m.iter().filter_map(|u| u["id"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let mut tx = db.begin().await?;
        sqlx::query!(
            r#"INSERT INTO orgunitgroup (uid, code, name) VALUES ($1, $2, $3)
               ON CONFLICT (uid) DO UPDATE SET code = EXCLUDED.code, name = EXCLUDED.name, updated = now()"#,
            uid,
            group["code"].as_str(),
            group["name"].as_str().unwrap_or(uid),
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "DELETE FROM orgunitgroupmembers WHERE group_uid = $1 AND NOT (orgunit_uid = ANY($2))",
            uid,
            &members
        )
        .execute(&mut *tx)
        .await?;
        let added = sqlx::query_scalar!(
            r#"INSERT INTO orgunitgroupmembers (orgunit_uid, group_uid)
               SELECT u.uid, $1 FROM organisationunit u WHERE u.uid = ANY($2)
               ON CONFLICT DO NOTHING RETURNING orgunit_uid"#,
            uid,
            &members
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        changes.memberships.extend(added.into_iter().map(|unit| (uid.to_string(), unit)));
    }

    let finished_at = Utc::now();
    db::set_job_state(db, SYNC_STATE, &json!({"watermark": newest, "finished_at": finished_at, "units": units}))
        .await?;
    tracing::info!(
        units,
        levels = levels.len(),
        groups = groups.len(),
        incremental = watermark.is_some(),
        "org units synced"
    );
    let report = OrgUnitSync {
        incremental: watermark.is_some(),
        levels: levels.len(),
        units,
        groups: groups.len(),
        removed: removed.len(),
        finished_at,
        pushes: Vec::new(),
    };
    Ok((report, changes))
}

/// Each known unit's name and its path of names from the root (`Root › District › Facility 1`).
pub async fn names(db: &PgPool, uids: &[String]) -> sqlx::Result<HashMap<String, (String, String)>> {
    let rows = sqlx::query!(
        r#"SELECT u.uid, u.name,
               (SELECT string_agg(a.name, ' › ' ORDER BY a.hierarchylevel) FROM organisationunit a
                WHERE a.uid = ANY(string_to_array(trim(both '/' from u.path), '/'))) AS "path!"
           FROM organisationunit u WHERE u.uid = ANY($1)"#,
        uids
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.uid, (r.name, r.path))).collect())
}

/// The levels as `/api/metadata` takes them.
pub async fn level_objects(db: &PgPool) -> sqlx::Result<Vec<Value>> {
    let levels = sqlx::query!("SELECT uid, level, name FROM orgunitlevel ORDER BY level").fetch_all(db).await?;
    Ok(levels.into_iter().map(|l| json!({"id": l.uid, "level": l.level, "name": l.name})).collect())
}

/// The units as `/api/metadata` takes them, parents before children. Every property is
/// sent: DHIS2 overwrites what is left out.
pub async fn unit_objects(db: &PgPool, uids: &[String]) -> sqlx::Result<Vec<Value>> {
    let units = sqlx::query!(
        r#"SELECT uid, code, name, shortname, parent_uid, opening_date, closed_date FROM organisationunit
           WHERE uid = ANY($1) ORDER BY hierarchylevel, name, uid"#,
        uids
    )
    .fetch_all(db)
    .await?;
    Ok(units
        .into_iter()
        .map(|u| {
            let mut unit = json!({
                "id": u.uid, "code": u.code, "name": u.name, "shortName": u.shortname,
                // DHIS2 requires one; a unit synced without it gets the epoch.
                "openingDate": u.opening_date.unwrap_or_default().format("%Y-%m-%d").to_string(),
                "closedDate": u.closed_date.map(|d| d.format("%Y-%m-%d").to_string()),
            });
            if let Some(parent) = u.parent_uid {
                unit["parent"] = json!({"id": parent});
            }
            unit
        })
        .collect())
}

/// Upserts one page of units in one statement; returns each unit and whether it is new.
async fn store_units(db: &PgPool, units: &[RemoteUnit]) -> sqlx::Result<Vec<(String, bool)>> {
    let column = |f: fn(&RemoteUnit) -> Option<String>| units.iter().map(f).collect::<Vec<_>>();
    let uids: Vec<String> = units.iter().map(|u| u.id.clone()).collect();
    let names: Vec<String> = units.iter().map(|u| u.name.clone()).collect();
    let levels: Vec<i32> = units.iter().map(|u| u.level).collect();
    let paths: Vec<String> = units.iter().map(|u| u.path.clone()).collect();
    let opening: Vec<Option<NaiveDate>> = units.iter().map(|u| day(&u.opening_date)).collect();
    let closed: Vec<Option<NaiveDate>> = units.iter().map(|u| day(&u.closed_date)).collect();
    let updated: Vec<Option<DateTime<Utc>>> = units
        .iter()
        .map(|u| {
            let text = u.last_updated.as_deref()?;
            let text = if text.len() == 23 { format!("{text}Z") } else { text.to_string() };
            DateTime::parse_from_rfc3339(&text).ok().map(|d| d.with_timezone(&Utc))
        })
        .collect();
    Ok(sqlx::query!(
        r#"INSERT INTO organisationunit (uid, code, name, shortname, parent_uid, hierarchylevel, path, opening_date,
               closed_date, last_updated, synced_at)
           SELECT uid, NULLIF(code, ''), name, COALESCE(shortname, name), parent, level, path, opening, closed, updated, now()
           FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::date[],
                       $9::date[], $10::timestamptz[])
                AS t(uid, code, name, shortname, parent, level, path, opening, closed, updated)
           ON CONFLICT (uid) DO UPDATE SET code = EXCLUDED.code, name = EXCLUDED.name, shortname = EXCLUDED.shortname,
               parent_uid = EXCLUDED.parent_uid, hierarchylevel = EXCLUDED.hierarchylevel, path = EXCLUDED.path,
               opening_date = EXCLUDED.opening_date, closed_date = EXCLUDED.closed_date,
               last_updated = EXCLUDED.last_updated, synced_at = now()
           RETURNING uid, (xmax = 0) AS "created!""#,
        &uids,
        &column(|u| u.code.clone()) as &[Option<String>],
        &names,
        &column(|u| u.short_name.clone()) as &[Option<String>],
        &column(|u| u.parent.as_ref().map(|p| p.id.clone())) as &[Option<String>],
        &levels,
        &paths,
        &opening as &[Option<NaiveDate>],
        &closed as &[Option<NaiveDate>],
        &updated as &[Option<DateTime<Utc>>],
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.uid, r.created))
    .collect())
}

pub async fn list(db: &PgPool, filter: OrgUnitFilter) -> AppResult<Page<OrgUnit>> {
    let (page, size, offset) = paging(filter.page, filter.page_size, 50)?;
    let q = filter.q.as_deref().map(like_pattern);
    let within = filter.within.as_deref().map(|w| format!("%/{}/%", like_pattern(w).trim_matches('%')));
    let rows = sqlx::query!(
        r#"SELECT u.uid, u.code, u.name, u.shortname, u.parent_uid, u.hierarchylevel, u.path, u.opening_date, u.closed_date,
               COALESCE((SELECT array_agg(m.group_uid ORDER BY m.group_uid) FROM orgunitgroupmembers m
                         WHERE m.orgunit_uid = u.uid), '{}') AS "groups!",
               count(*) OVER () AS "total!"
           FROM organisationunit u
           WHERE ($1::text IS NULL OR u.name ILIKE $1 OR u.code ILIKE $1 OR u.uid = $8)
             AND ($2::text IS NULL OR u.code = $2)
             AND ($3::int IS NULL OR u.hierarchylevel = $3)
             AND ($4::text IS NULL OR u.parent_uid = $4)
             AND ($5::text IS NULL OR u.path LIKE $5)
           ORDER BY u.hierarchylevel, u.name, u.uid
           LIMIT $6 OFFSET $7"#,
        q,
        filter.code,
        filter.level,
        filter.parent,
        within,
        size,
        offset,
        filter.q.as_deref().map(str::trim),
    )
    .fetch_all(db)
    .await?;
    let total = rows.first().map_or(0, |r| r.total);
    let items = rows
        .into_iter()
        .map(|r| OrgUnit {
            uid: r.uid,
            code: r.code,
            name: r.name,
            short_name: r.shortname,
            parent: r.parent_uid,
            level: r.hierarchylevel,
            path: r.path,
            opening_date: r.opening_date,
            closed_date: r.closed_date,
            groups: r.groups,
        })
        .collect();
    Ok(Page::new(items, total, page, size))
}

pub async fn levels(db: &PgPool, config: &Config) -> AppResult<Vec<OrgUnitLevel>> {
    let api = &config.api;
    let rows = sqlx::query!("SELECT uid, level, name FROM orgunitlevel ORDER BY level").fetch_all(db).await?;
    Ok(rows
        .into_iter()
        .map(|r| OrgUnitLevel {
            is_district: r.name.eq_ignore_ascii_case(api.dhis2_district_oulevel_name.trim()),
            is_facility: r.level == api.dhis2_facility_level as i32,
            uid: r.uid,
            level: r.level,
            name: r.name,
        })
        .collect())
}

/// A unit as the intake needs it.
#[derive(Clone, Debug)]
pub struct Known {
    pub uid: String,
    pub name: String,
    pub level: i32,
    /// `/root/…/uid`: the units it is within.
    pub path: String,
}

/// The intake's view of the hierarchy, cached briefly.
/// The levels data may be submitted at where DHIS2's metadata does not say:
/// `api.submission_levels`, or (empty) the facility level and below.
#[derive(Clone, Copy)]
pub struct Levels<'a> {
    pub facility: u32,
    pub allowed: &'a [u32],
}

impl Levels<'_> {
    /// The facility level in a hierarchy `deepest` levels deep: a configured level deeper
    /// than DHIS2's hierarchy (the original dhis2gw never read its own) means its deepest.
    fn facility(&self, deepest: i32) -> i32 {
        (self.facility as i32).min(deepest)
    }

    fn admits(&self, level: i32, deepest: i32) -> bool {
        if self.allowed.is_empty() {
            level >= self.facility(deepest)
        } else {
            self.allowed.iter().any(|l| *l as i32 == level)
        }
    }
}

pub struct Hierarchy {
    units: moka::sync::Cache<String, Option<Known>>,
    /// The deepest level synced; `None` before any sync.
    deepest: moka::sync::Cache<(), Option<i32>>,
}

impl Default for Hierarchy {
    fn default() -> Self {
        Hierarchy {
            units: moka::sync::Cache::builder().max_capacity(100_000).time_to_live(KNOWN_TTL).build(),
            deepest: moka::sync::Cache::builder().time_to_live(KNOWN_TTL).build(),
        }
    }
}

impl Hierarchy {
    pub fn invalidate(&self) {
        self.units.invalidate_all();
        self.deepest.invalidate_all();
    }

    /// The deepest level of the synced hierarchy; `None` before a sync, when nothing is checked.
    async fn deepest(&self, db: &PgPool) -> sqlx::Result<Option<i32>> {
        if let Some(deepest) = self.deepest.get(&()) {
            return Ok(deepest);
        }
        let deepest = sqlx::query_scalar!("SELECT max(hierarchylevel) FROM organisationunit").fetch_one(db).await?;
        self.deepest.insert((), deepest);
        Ok(deepest)
    }

    /// The unit with this UID, or else this code.
    pub async fn find(&self, db: &PgPool, text: &str) -> sqlx::Result<Option<Known>> {
        if let Some(known) = self.units.get(text) {
            return Ok(known);
        }
        let found = sqlx::query_as!(
            Known,
            r#"SELECT uid, name, hierarchylevel AS level, path FROM organisationunit
               WHERE uid = $1 OR code = $1 ORDER BY (uid = $1) DESC LIMIT 1"#,
            text
        )
        .fetch_optional(db)
        .await?;
        self.units.insert(text.to_string(), found.clone());
        Ok(found)
    }

    /// Checks that a submission's org unit is a synced unit, at a level `levels` admits (none:
    /// any level, where DHIS2's metadata says which units a data set is for).
    pub async fn check(&self, db: &PgPool, org_unit: &str, levels: Option<Levels<'_>>) -> AppResult<()> {
        let Some(deepest) = self.deepest(db).await? else {
            return Ok(());
        };
        match self.find(db, org_unit).await? {
            None => Err(AppError::invalid_field(
                "orgUnit",
                format!("'{org_unit}' is not in the organisation-unit hierarchy synced from DHIS2"),
            )),
            Some(unit) if levels.as_ref().is_some_and(|l| !l.admits(unit.level, deepest)) => {
                let levels = levels.expect("checked");
                let allowed = if levels.allowed.is_empty() {
                    format!("above the facility level {}; data goes to facilities", levels.facility(deepest))
                } else {
                    format!(
                        "not one of the levels data may be submitted at ({:?}, api.submission_levels)",
                        levels.allowed
                    )
                };
                Err(AppError::invalid_field(
                    "orgUnit",
                    format!("'{}' ({}) is at level {}, {allowed}", unit.uid, unit.name, unit.level),
                ))
            }
            Some(_) => Ok(()),
        }
    }
}
