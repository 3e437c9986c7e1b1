//! Mappings: partner codes → DHIS2 data elements (`what = de`, with optional category and
//! attribute option combos) and org units (`what = ou`), scoped by `source_name` and
//! `instance_name` (both `default` unless a partner says otherwise).
//!
//! CRUD and filtered listing here; spreadsheet import and export in [`files`]; the lookup
//! the intake uses in [`Lookup`].

pub mod files;
pub mod health;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use dhis2gw_wire::{HealthState, Mapping, MappingFields, MappingFilter, Page};
use serde_json::json;
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};

use crate::access::audit::{self, Actor};
use crate::infra::config::MappingScheme;
use crate::infra::error::{AppError, AppResult, on_unique};
use crate::infra::query::{like_pattern, paging};
use crate::infra::uid;
use crate::metadata::Snapshot;

pub(crate) struct MappingRow {
    pub(crate) id: i64,
    uid: String,
    code: String,
    what: String,
    name: String,
    description: String,
    dataset: String,
    dataelement: String,
    category_option_combo: Option<String>,
    attribute_option_combo: Option<String>,
    category_option: String,
    category_combo: String,
    instance_name: String,
    source_name: String,
    source_orgunit: String,
    dest_orgunit: String,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
}

impl From<MappingRow> for Mapping {
    fn from(r: MappingRow) -> Self {
        Mapping {
            id: r.id,
            uid: r.uid,
            fields: MappingFields {
                code: r.code,
                what: r.what,
                name: r.name,
                description: r.description,
                data_set: r.dataset,
                data_element: r.dataelement,
                category_option_combo: r.category_option_combo,
                attribute_option_combo: r.attribute_option_combo,
                category_option: r.category_option,
                category_combo: r.category_combo,
                instance_name: r.instance_name,
                source_name: r.source_name,
                source_org_unit: r.source_orgunit,
                destination_org_unit: r.dest_orgunit,
            },
            created: r.created,
            updated: r.updated,
            health: Default::default(),
            names: Default::default(),
        }
    }
}

/// Trims every field and turns empty optional UIDs into `None`, so equal rows compare equal.
pub fn normalize(mut f: MappingFields) -> MappingFields {
    let trim = |s: &mut String| *s = s.trim().to_string();
    for s in [
        &mut f.code,
        &mut f.name,
        &mut f.description,
        &mut f.data_set,
        &mut f.data_element,
        &mut f.category_option,
        &mut f.category_combo,
        &mut f.source_org_unit,
        &mut f.destination_org_unit,
    ] {
        trim(s);
    }
    f.what = f.what.trim().to_ascii_lowercase();
    f.instance_name = Some(f.instance_name.trim()).filter(|s| !s.is_empty()).unwrap_or("default").to_string();
    f.source_name = Some(f.source_name.trim()).filter(|s| !s.is_empty()).unwrap_or("default").to_string();
    let blank_to_none = |o: Option<String>| o.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    f.category_option_combo = blank_to_none(f.category_option_combo);
    f.attribute_option_combo = blank_to_none(f.attribute_option_combo);
    f
}

/// Every problem with a (normalized) mapping, as `field: problem`.
pub fn problems(f: &MappingFields) -> Vec<String> {
    let mut out = Vec::new();
    let uid_field = |out: &mut Vec<String>, name: &str, value: &str, required: bool| {
        if value.is_empty() {
            if required {
                out.push(format!("{name}: is required"));
            }
        } else if !uid::is_valid(value) {
            out.push(format!("{name}: '{value}' is not a DHIS2 UID (a letter, then 10 letters or digits)"));
        }
    };
    if f.code.is_empty() {
        out.push("code: is required".into());
    }
    match f.what.as_str() {
        "de" => {
            uid_field(&mut out, "dataElement", &f.data_element, true);
            uid_field(&mut out, "dataSet", &f.data_set, false);
            uid_field(&mut out, "categoryOptionCombo", f.category_option_combo.as_deref().unwrap_or(""), false);
            uid_field(&mut out, "attributeOptionCombo", f.attribute_option_combo.as_deref().unwrap_or(""), false);
        }
        "ou" => uid_field(&mut out, "destinationOrgUnit", &f.destination_org_unit, true),
        other => out.push(format!("what: '{other}' must be de (data element) or ou (org unit)")),
    }
    for (name, value) in [("code", &f.code), ("name", &f.name), ("description", &f.description)] {
        if value.chars().count() > 1000 || value.contains('\0') {
            out.push(format!("{name}: at most 1000 characters, no NUL"));
        }
    }
    out
}

fn checked(fields: MappingFields) -> AppResult<MappingFields> {
    let fields = normalize(fields);
    let detail = problems(&fields);
    if detail.is_empty() { Ok(fields) } else { Err(AppError::BadRequest { message: "Invalid mapping".into(), detail }) }
}

pub(crate) const UNIQUE: &str = "unique_code_source_instance_what";
pub(crate) const UNIQUE_FIELD: &str = "code (for this what, sourceName and instanceName)";

/// Creates a mapping; its audit entry is written with it and the intake sees it at once.
pub async fn create(db: &PgPool, cache: &MappingCache, actor: Actor<'_>, fields: MappingFields) -> AppResult<Mapping> {
    let f = checked(fields)?;
    let mut tx = db.begin().await?;
    let mapping = Mapping::from(insert(&mut *tx, &f).await.map_err(|e| on_unique(e, UNIQUE, UNIQUE_FIELD))?);
    changed(tx, cache, actor, "mapping.create", &mapping).await?;
    Ok(mapping)
}

/// Records a change to one mapping, commits it, and makes the intake read mappings afresh.
async fn changed(
    mut tx: Transaction<'_, Postgres>,
    cache: &MappingCache,
    actor: Actor<'_>,
    action: &str,
    mapping: &Mapping,
) -> AppResult<()> {
    audit::record(&mut *tx, actor, action, "mapping", &mapping.id.to_string(), json!(mapping.fields)).await?;
    tx.commit().await?;
    cache.invalidate();
    Ok(())
}

pub(crate) async fn insert<'e>(db: impl PgExecutor<'e>, f: &MappingFields) -> sqlx::Result<MappingRow> {
    sqlx::query_as!(
        MappingRow,
        r#"INSERT INTO dhis2_mappings (uid, code, what, name, description, dataset, dataelement, category_option_combo,
               attribute_option_combo, category_option, category_combo, instance_name, source_name, source_orgunit, dest_orgunit)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
           RETURNING *"#,
        uid::generate(),
        f.code,
        f.what,
        f.name,
        f.description,
        f.data_set,
        f.data_element,
        f.category_option_combo,
        f.attribute_option_combo,
        f.category_option,
        f.category_combo,
        f.instance_name,
        f.source_name,
        f.source_org_unit,
        f.destination_org_unit,
    )
    .fetch_one(db)
    .await
}

/// Replaces a mapping's fields.
pub async fn update(
    db: &PgPool,
    cache: &MappingCache,
    actor: Actor<'_>,
    id: i64,
    fields: MappingFields,
) -> AppResult<Mapping> {
    let f = checked(fields)?;
    let mut tx = db.begin().await?;
    let mapping = overwrite(&mut *tx, id, &f)
        .await
        .map_err(|e| on_unique(e, UNIQUE, UNIQUE_FIELD))?
        .map(Mapping::from)
        .ok_or_else(|| not_found(id))?;
    changed(tx, cache, actor, "mapping.update", &mapping).await?;
    Ok(mapping)
}

fn not_found(id: i64) -> AppError {
    AppError::NotFound(format!("Mapping {id} not found"))
}

pub(crate) async fn overwrite<'e>(
    db: impl PgExecutor<'e>,
    id: i64,
    f: &MappingFields,
) -> sqlx::Result<Option<MappingRow>> {
    sqlx::query_as!(
        MappingRow,
        r#"UPDATE dhis2_mappings SET code = $2, what = $3, name = $4, description = $5, dataset = $6, dataelement = $7,
               category_option_combo = $8, attribute_option_combo = $9, category_option = $10, category_combo = $11,
               instance_name = $12, source_name = $13, source_orgunit = $14, dest_orgunit = $15
           WHERE id = $1
           RETURNING *"#,
        id,
        f.code,
        f.what,
        f.name,
        f.description,
        f.data_set,
        f.data_element,
        f.category_option_combo,
        f.attribute_option_combo,
        f.category_option,
        f.category_combo,
        f.instance_name,
        f.source_name,
        f.source_org_unit,
        f.destination_org_unit,
    )
    .fetch_optional(db)
    .await
}

pub async fn get(db: &PgPool, id: i64) -> AppResult<Mapping> {
    sqlx::query_as!(MappingRow, "SELECT * FROM dhis2_mappings WHERE id = $1", id)
        .fetch_optional(db)
        .await?
        .map(Mapping::from)
        .ok_or_else(|| not_found(id))
}

pub async fn delete(db: &PgPool, cache: &MappingCache, actor: Actor<'_>, id: i64) -> AppResult<Mapping> {
    let mut tx = db.begin().await?;
    let mapping = sqlx::query_as!(MappingRow, "DELETE FROM dhis2_mappings WHERE id = $1 RETURNING *", id)
        .fetch_optional(&mut *tx)
        .await?
        .map(Mapping::from)
        .ok_or_else(|| not_found(id))?;
    changed(tx, cache, actor, "mapping.delete", &mapping).await?;
    Ok(mapping)
}

/// Mappings matching `filter`, each with its health and names; broken ones first. Health is
/// computed from the in-memory metadata, so the matching rows are read whole and paged here.
pub async fn list(db: &PgPool, snapshot: &Snapshot, filter: MappingFilter) -> AppResult<Page<Mapping>> {
    let (page, size, offset) = paging(filter.page, filter.page_size, 50)?;
    let code = filter.code.as_deref().map(like_pattern);
    let name = filter.name.as_deref().map(like_pattern);
    let f = &filter;
    let rows = sqlx::query_as!(
        MappingRow,
        r#"SELECT * FROM dhis2_mappings
           WHERE ($1::text IS NULL OR code ILIKE $1) AND ($2::text IS NULL OR name ILIKE $2)
             AND ($3::text IS NULL OR dataset = $3) AND ($4::text IS NULL OR dataelement = $4)
             AND ($5::text IS NULL OR category_option_combo = $5) AND ($6::text IS NULL OR what = $6)
             AND ($7::text IS NULL OR source_name = $7) AND ($8::text IS NULL OR instance_name = $8)
           ORDER BY source_name, instance_name, what, code, id"#,
        code,
        name,
        f.data_set,
        f.data_element,
        f.category_option_combo,
        f.what,
        f.source,
        f.instance_name,
    )
    .fetch_all(db)
    .await?;
    let mut mappings: Vec<Mapping> = rows
        .into_iter()
        .map(|row| health::describe(snapshot, Mapping::from(row)))
        .filter(|m| filter.health.is_none_or(|wanted| m.health.state == wanted))
        .collect();
    mappings.sort_by_key(|m| m.health.state != HealthState::Broken);
    let total = mappings.len() as i64;
    let shown =
        mappings.into_iter().skip(usize::try_from(offset).unwrap_or(0)).take(usize::try_from(size).unwrap_or(0));
    Ok(Page::new(shown.collect(), total, page, size))
}

/// Every mapping, in export order.
pub(crate) async fn all(db: &PgPool) -> sqlx::Result<Vec<MappingRow>> {
    sqlx::query_as!(MappingRow, "SELECT * FROM dhis2_mappings ORDER BY source_name, instance_name, what, code, id")
        .fetch_all(db)
        .await
}

/// A data element a partner key translates to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub data_element: String,
    pub category_option_combo: Option<String>,
    pub attribute_option_combo: Option<String>,
    /// The data set its mapping names, if any: a submission that names none and has no
    /// default goes to this one.
    pub data_set: Option<String>,
}

/// The mappings one submission needs.
#[derive(Debug, Default)]
pub struct Lookup {
    /// Partner key → every data element mapping that matches it.
    pub data_elements: HashMap<String, Vec<Target>>,
    /// The org unit UID the submission's org unit maps to, if an `ou` mapping exists.
    pub org_unit: Option<String>,
}

/// Every mapping of one (source, instance) scope, keyed for the mapping scheme.
#[derive(Debug, Default)]
pub struct ScopeMappings {
    data_elements: HashMap<String, Vec<Target>>,
    /// Every data element UID some mapping of the scope translates to.
    targets: std::collections::HashSet<String>,
    org_units_by_code: HashMap<String, String>,
    org_units_by_source: HashMap<String, String>,
}

impl ScopeMappings {
    pub async fn load(db: &PgPool, scheme: MappingScheme, source: &str, instance: &str) -> sqlx::Result<ScopeMappings> {
        let rows = sqlx::query!(
            r#"SELECT what, code, name, dataelement, category_option_combo, attribute_option_combo, dest_orgunit, source_orgunit,
                   dataset
               FROM dhis2_mappings WHERE source_name = $1 AND instance_name = $2 ORDER BY id"#,
            source,
            instance,
        )
        .fetch_all(db)
        .await?;
        let mut scope = ScopeMappings::default();
        for row in rows {
            if row.what == "ou" {
                scope.org_units_by_code.entry(row.code).or_insert_with(|| row.dest_orgunit.clone());
                if !row.source_orgunit.is_empty() {
                    scope.org_units_by_source.entry(row.source_orgunit).or_insert(row.dest_orgunit);
                }
                continue;
            }
            let key = match scheme {
                MappingScheme::Code => row.code,
                MappingScheme::Uid => row.dataelement.clone(),
                MappingScheme::Name => row.name,
            };
            scope.targets.insert(row.dataelement.clone());
            scope.data_elements.entry(key).or_default().push(Target {
                data_element: row.dataelement,
                category_option_combo: row.category_option_combo,
                attribute_option_combo: row.attribute_option_combo,
                data_set: Some(row.dataset).filter(|d| !d.trim().is_empty()),
            });
        }
        Ok(scope)
    }

    /// Whether a mapping of this scope translates to the data element `uid`.
    pub fn targets(&self, uid: &str) -> bool {
        self.targets.contains(uid)
    }

    /// What `keys` and `org_unit` map to. An `ou` mapping's code wins over its source_orgunit.
    pub fn lookup<'a>(&self, keys: impl IntoIterator<Item = &'a String>, org_unit: &str) -> Lookup {
        Lookup {
            data_elements: keys
                .into_iter()
                .filter_map(|k| self.data_elements.get(k).map(|t| (k.clone(), t.clone())))
                .collect(),
            org_unit: self.org_units_by_code.get(org_unit).or_else(|| self.org_units_by_source.get(org_unit)).cloned(),
        }
    }
}

/// How long the intake may use a scope's mappings before reading them again. Changes made
/// through this process are seen at once; changes through another gateway process within this.
const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// The intake's cache of [`ScopeMappings`], so a submission does not read the mappings again.
pub struct MappingCache {
    scheme: MappingScheme,
    scopes: moka::sync::Cache<(String, String), std::sync::Arc<ScopeMappings>>,
}

impl MappingCache {
    pub fn new(scheme: MappingScheme) -> MappingCache {
        MappingCache { scheme, scopes: moka::sync::Cache::builder().max_capacity(1000).time_to_live(CACHE_TTL).build() }
    }

    pub async fn scope(
        &self,
        db: &PgPool,
        source: &str,
        instance: &str,
    ) -> sqlx::Result<std::sync::Arc<ScopeMappings>> {
        let key = (source.to_string(), instance.to_string());
        if let Some(scope) = self.scopes.get(&key) {
            return Ok(scope);
        }
        let scope = std::sync::Arc::new(ScopeMappings::load(db, self.scheme, source, instance).await?);
        self.scopes.insert(key, scope.clone());
        Ok(scope)
    }

    /// After any change to the mappings.
    pub fn invalidate(&self) {
        self.scopes.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn de(code: &str, element: &str) -> MappingFields {
        MappingFields {
            code: code.into(),
            what: "de".into(),
            data_element: element.into(),
            instance_name: String::new(),
            source_name: " ".into(),
            category_option_combo: Some("  ".into()),
            ..Default::default()
        }
    }

    #[test]
    fn normalize_trims_and_defaults_the_scope() {
        let f = normalize(MappingFields { what: " DE ".into(), ..de(" hiv_tests ", "DeNumber001") });
        assert_eq!((f.code.as_str(), f.what.as_str()), ("hiv_tests", "de"));
        assert_eq!((f.source_name.as_str(), f.instance_name.as_str()), ("default", "default"));
        assert_eq!(f.category_option_combo, None);
    }

    #[test]
    fn problems_name_each_field() {
        assert!(problems(&normalize(de("a", "DeNumber001"))).is_empty());
        let p = problems(&normalize(MappingFields { category_option_combo: Some("bad".into()), ..de("", "1bad") }));
        let fields: Vec<_> = p.iter().map(|s| s.split(':').next().unwrap()).collect();
        assert_eq!(fields, ["code", "dataElement", "categoryOptionCombo"]);
        let ou = normalize(MappingFields { what: "ou".into(), ..de("FAC1", "") });
        assert_eq!(problems(&ou), ["destinationOrgUnit: is required"]);
        let other = normalize(MappingFields { what: "coc".into(), ..de("x", "") });
        assert!(problems(&other)[0].starts_with("what:"));
    }
}
