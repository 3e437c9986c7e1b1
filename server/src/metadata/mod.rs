//! DHIS2's metadata, as the primary server last gave it: data sets (with their elements,
//! attribute combo, assigned org units and open future periods), data elements (value type,
//! category combo, option set), category combos with their option combos, and option sets.
//!
//! [`sync`] pulls it into PostgreSQL (all of it the first time, then what changed since, and
//! forgets what DHIS2 no longer has); [`Catalog`] keeps an in-memory copy built from that
//! table, so the intake checks every value ([`check`]) without a query, and while DHIS2 is
//! down. Before the first successful sync the copy is empty and nothing is checked.

pub mod catalog;
pub mod cc;
pub mod check;
pub mod sync;

pub use catalog::{Catalog, Snapshot};

use dhis2gw_wire::{IntakeValidation, MetadataFilter, MetadataObject, MetadataStatus, Page};
use sqlx::PgPool;

use crate::infra::config::Config;
use crate::infra::error::{AppError, AppResult};
use crate::infra::query::paging;

/// The state of the copy, for the overview: whether values are checked now, and if not why.
pub async fn status(db: &PgPool, catalog: &Catalog, config: &Config) -> sqlx::Result<MetadataStatus> {
    let snapshot = catalog.snapshot();
    let validation = config.api.intake_validation;
    let reason = if config.api.dhis2_base_url.is_empty() {
        Some("no DHIS2 server is configured (api.dhis2_base_url)".to_string())
    } else if validation == IntakeValidation::Off {
        Some("api.intake_validation is off".to_string())
    } else if !snapshot.is_loaded() {
        Some(format!(
            "DHIS2's metadata has not been synced yet; it syncs on api.sync_cron_expression ({}) or now with POST /metadata/sync",
            config.api.sync_cron_expression
        ))
    } else {
        None
    };
    let country = match config.api.dhis2_country.as_str() {
        "" => {
            sqlx::query_scalar!("SELECT name FROM organisationunit WHERE hierarchylevel = 1 ORDER BY name LIMIT 1")
                .fetch_optional(db)
                .await?
        }
        country => Some(country.to_string()),
    };
    Ok(MetadataStatus {
        validation_on: reason.is_none(),
        validation,
        reason,
        synced_at: snapshot.synced_at,
        last_error: catalog::last_error(db).await?,
        data_sets: snapshot.data_sets.len(),
        data_elements: snapshot.data_elements.len(),
        category_combos: snapshot.combos.len(),
        option_sets: snapshot.option_sets.len(),
        country,
        warnings: check::default_warnings(&snapshot, &config.api),
    })
}

/// Objects of one kind whose name, code or UID contains `q`, by name: what pickers offer.
pub fn search(snapshot: &Snapshot, filter: &MetadataFilter) -> AppResult<Page<MetadataObject>> {
    let (page, size, offset) = paging(filter.page, filter.page_size, 50)?;
    let object = |uid: &str, code: Option<&str>, name: &str, detail: Option<String>| MetadataObject {
        uid: uid.to_string(),
        code: code.map(str::to_string),
        name: name.to_string(),
        detail,
    };
    let combo_name = |combo: &str| snapshot.combos.get(combo).map(|c| c.name.clone());
    let option_combos = |within: Option<&str>| -> Vec<MetadataObject> {
        snapshot
            .option_combos
            .values()
            .filter(|c| within.is_none_or(|w| c.combo == w))
            .map(|c| object(&c.uid, c.code.as_deref(), &c.name, combo_name(&c.combo)))
            .collect()
    };
    let data_set = filter.data_set.as_deref().and_then(|d| snapshot.data_set(d));
    let mut found: Vec<MetadataObject> = match filter.kind.as_str() {
        "dataSet" => snapshot
            .data_sets
            .values()
            .map(|d| object(&d.uid, d.code.as_deref(), &d.name, Some(d.period_type.clone())))
            .collect(),
        "dataElement" => snapshot
            .data_elements
            .values()
            .filter(|e| data_set.is_none_or(|d| d.elements.contains_key(&e.uid)))
            .map(|e| object(&e.uid, e.code.as_deref(), &e.name, Some(e.value_type.clone())))
            .collect(),
        "categoryOptionCombo" => {
            let element = filter.data_element.as_deref().and_then(|e| snapshot.data_elements.get(e));
            let combo = match (data_set, element) {
                (Some(d), Some(e)) => snapshot.effective_combo(d, e),
                (None, Some(e)) => e.combo.as_deref(),
                _ => None,
            };
            option_combos(combo)
        }
        "attributeOptionCombo" => option_combos(data_set.and_then(|d| d.attribute_combo.as_deref())),
        other => {
            let kinds = dhis2gw_wire::METADATA_KINDS.join(", ");
            return Err(AppError::invalid_field("kind", format!("'{other}' is not one of {kinds}")));
        }
    };
    if let Some(q) = filter.q.as_deref().map(str::to_lowercase).filter(|q| !q.is_empty()) {
        found.retain(|o| {
            o.name.to_lowercase().contains(&q)
                || o.code.as_deref().is_some_and(|c| c.to_lowercase().contains(&q))
                || o.uid.to_lowercase() == q
        });
    }
    found.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then_with(|| a.uid.cmp(&b.uid)));
    let total = found.len() as i64;
    let shown = found.into_iter().skip(usize::try_from(offset).unwrap_or(0)).take(usize::try_from(size).unwrap_or(0));
    Ok(Page::new(shown.collect(), total, page, size))
}
