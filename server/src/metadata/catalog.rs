//! The copy itself: the objects as the checks read them ([`Snapshot`]), built from what the
//! sync stored, and the [`Catalog`] that holds the current one; and when the last sync
//! finished or why it failed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::infra::db;

/// Where the sync keeps its watermarks, when it last finished and why it last failed.
pub(crate) const SYNC_STATE: &str = "metadata_sync";

/// When the last successful sync finished.
pub async fn last_success(db: &PgPool) -> sqlx::Result<Option<DateTime<Utc>>> {
    let state = db::job_state(db, SYNC_STATE).await?.unwrap_or_default();
    Ok(state["finished_at"].as_str().and_then(|f| DateTime::parse_from_rfc3339(f).ok()).map(|f| f.with_timezone(&Utc)))
}

/// Why the last sync failed, if the last attempt did.
pub async fn last_error(db: &PgPool) -> sqlx::Result<Option<String>> {
    let state = db::job_state(db, SYNC_STATE).await?.unwrap_or_default();
    Ok(state["error"].as_str().map(str::to_string))
}

/// DHIS2's `timelyDays` when a data set does not say.
const DEFAULT_TIMELY_DAYS: i64 = 15;

#[derive(Deserialize)]
struct IdRef {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemoteDataSetElement {
    data_element: IdRef,
    category_combo: Option<IdRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemoteDataSet {
    id: String,
    code: Option<String>,
    name: String,
    period_type: String,
    #[serde(default)]
    open_future_periods: i64,
    #[serde(default)]
    expiry_days: i64,
    /// A number: some DHIS2 versions write it as a double (`15.0`).
    timely_days: Option<f64>,
    #[serde(default)]
    data_input_periods: Vec<serde_json::Value>,
    category_combo: Option<IdRef>,
    #[serde(default)]
    data_set_elements: Vec<RemoteDataSetElement>,
    #[serde(default)]
    organisation_units: Vec<IdRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemoteDataElement {
    id: String,
    code: Option<String>,
    name: String,
    value_type: String,
    #[serde(default)]
    zero_is_significant: bool,
    category_combo: Option<IdRef>,
    option_set: Option<IdRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemoteNamed {
    id: String,
    code: Option<String>,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemoteCategoryCombo {
    id: String,
    name: String,
    #[serde(default)]
    category_option_combos: Vec<RemoteNamed>,
}

#[derive(Deserialize)]
struct RemoteOptionSet {
    id: String,
    name: String,
    #[serde(default)]
    options: Vec<RemoteNamed>,
}

/// A data set as the checks need it.
#[derive(Debug)]
pub struct DataSet {
    pub uid: String,
    pub code: Option<String>,
    pub name: String,
    pub period_type: String,
    pub open_future_periods: i64,
    /// Days after a period's end that DHIS2 still accepts its data (0: no limit).
    pub expiry_days: i64,
    /// Days after a period's end within which a report is timely (DHIS2's default: 15).
    pub timely_days: i64,
    /// Whether entry is limited to listed input periods.
    pub has_input_periods: bool,
    /// The attribute category combo: its option combos are the valid AOCs.
    pub attribute_combo: Option<String>,
    /// Each data element, with the category combo this data set overrides it with (2.43).
    pub elements: HashMap<String, Option<String>>,
    pub org_units: HashSet<String>,
}

#[derive(Debug)]
pub struct DataElement {
    pub uid: String,
    pub code: Option<String>,
    pub name: String,
    pub value_type: String,
    pub zero_is_significant: bool,
    pub combo: Option<String>,
    pub option_set: Option<String>,
}

#[derive(Debug)]
pub struct CategoryCombo {
    pub uid: String,
    pub name: String,
    pub option_combos: Vec<String>,
}

#[derive(Debug)]
pub struct OptionCombo {
    pub uid: String,
    pub code: Option<String>,
    pub name: String,
    pub combo: String,
}

#[derive(Debug)]
pub struct OptionSet {
    pub name: String,
    pub codes: HashSet<String>,
}

/// One consistent copy of the metadata, by UID, with codes resolved to UIDs.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub data_sets: HashMap<String, DataSet>,
    pub data_elements: HashMap<String, DataElement>,
    pub combos: HashMap<String, CategoryCombo>,
    pub option_combos: HashMap<String, OptionCombo>,
    pub option_sets: HashMap<String, OptionSet>,
    /// When the last successful sync finished; `None` before the first.
    pub synced_at: Option<DateTime<Utc>>,
}

impl Snapshot {
    /// Whether there is anything to check against.
    pub fn is_loaded(&self) -> bool {
        self.synced_at.is_some()
    }

    /// A data set by UID or code.
    pub fn data_set(&self, id: &str) -> Option<&DataSet> {
        self.data_sets.get(id).or_else(|| self.data_sets.values().find(|d| d.code.as_deref() == Some(id)))
    }

    /// An option combo (category or attribute) by UID or code.
    pub fn option_combo(&self, id: &str) -> Option<&OptionCombo> {
        self.option_combos.get(id).or_else(|| self.option_combos.values().find(|c| c.code.as_deref() == Some(id)))
    }

    /// The name of any object the gateway shows: data set, data element or option combo.
    pub fn name_of(&self, uid: &str) -> Option<&str> {
        (self.data_sets.get(uid).map(|d| d.name.as_str()))
            .or_else(|| self.data_elements.get(uid).map(|d| d.name.as_str()))
            .or_else(|| self.option_combos.get(uid).map(|c| c.name.as_str()))
    }

    /// `text` with every UID the copy knows (with or without DHIS2's backticks) replaced by
    /// the object's name in quotes.
    pub fn names_in(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic()) {
            let word_end = rest[start..].find(|c: char| !c.is_ascii_alphanumeric()).map_or(rest.len(), |e| start + e);
            let word = &rest[start..word_end];
            out.push_str(&rest[..start]);
            match self.name_of(word).filter(|_| word.len() == 11) {
                Some(name) => {
                    // `DeInteger01` → 'Positives'
                    if out.ends_with('`') && rest[word_end..].starts_with('`') {
                        out.pop();
                        out.push_str(&format!("'{name}'"));
                        rest = &rest[word_end + 1..];
                        continue;
                    }
                    out.push_str(&format!("'{name}'"));
                }
                None => out.push_str(word),
            }
            rest = &rest[word_end..];
        }
        out.push_str(rest);
        out
    }

    /// The category combo a data element is entered with in `data_set`: the data set's
    /// override if it has one, else the element's own.
    pub fn effective_combo<'a>(&'a self, data_set: &'a DataSet, element: &'a DataElement) -> Option<&'a str> {
        match data_set.elements.get(&element.uid) {
            Some(Some(over)) => Some(over.as_str()),
            _ => element.combo.as_deref(),
        }
    }

    /// The default category option combo: the only one of the combo named `default`.
    pub fn default_option_combo(&self) -> Option<&str> {
        let combo = self.combos.values().find(|c| c.name == "default")?;
        combo.option_combos.first().map(String::as_str)
    }

    /// Builds the copy from the stored objects (`kind`, `object`); an object that does not
    /// read is skipped with a warning rather than losing the rest.
    fn build(rows: Vec<(String, Value)>, synced_at: Option<DateTime<Utc>>) -> Snapshot {
        let mut snapshot = Snapshot { synced_at, ..Default::default() };
        for (kind, object) in rows {
            let read = match kind.as_str() {
                "dataSet" => serde_json::from_value::<RemoteDataSet>(object).map(|d| {
                    let data_set = DataSet {
                        uid: d.id.clone(),
                        code: d.code,
                        name: d.name,
                        period_type: d.period_type,
                        open_future_periods: d.open_future_periods,
                        expiry_days: d.expiry_days,
                        timely_days: d.timely_days.map_or(DEFAULT_TIMELY_DAYS, |t| t.max(0.0).round() as i64),
                        has_input_periods: !d.data_input_periods.is_empty(),
                        attribute_combo: d.category_combo.map(|c| c.id),
                        elements: d
                            .data_set_elements
                            .into_iter()
                            .map(|e| (e.data_element.id, e.category_combo.map(|c| c.id)))
                            .collect(),
                        org_units: d.organisation_units.into_iter().map(|o| o.id).collect(),
                    };
                    snapshot.data_sets.insert(d.id, data_set);
                }),
                "dataElement" => serde_json::from_value::<RemoteDataElement>(object).map(|d| {
                    let element = DataElement {
                        uid: d.id.clone(),
                        code: d.code,
                        name: d.name,
                        value_type: d.value_type,
                        zero_is_significant: d.zero_is_significant,
                        combo: d.category_combo.map(|c| c.id),
                        option_set: d.option_set.map(|o| o.id),
                    };
                    snapshot.data_elements.insert(d.id, element);
                }),
                "categoryCombo" => serde_json::from_value::<RemoteCategoryCombo>(object).map(|c| {
                    for coc in &c.category_option_combos {
                        let option_combo = OptionCombo {
                            uid: coc.id.clone(),
                            code: coc.code.clone(),
                            name: coc.name.clone(),
                            combo: c.id.clone(),
                        };
                        snapshot.option_combos.insert(coc.id.clone(), option_combo);
                    }
                    let option_combos = c.category_option_combos.into_iter().map(|o| o.id).collect();
                    snapshot.combos.insert(c.id.clone(), CategoryCombo { uid: c.id, name: c.name, option_combos });
                }),
                "optionSet" => serde_json::from_value::<RemoteOptionSet>(object).map(|o| {
                    let codes = o.options.into_iter().filter_map(|option| option.code).collect();
                    snapshot.option_sets.insert(o.id, OptionSet { name: o.name, codes });
                }),
                _ => Ok(()),
            };
            if let Err(e) = read {
                tracing::warn!(kind, error = %e, "a stored DHIS2 metadata object does not read; it is left out");
            }
        }
        snapshot
    }
}

/// The in-memory copy the intake checks against; replaced whole after each sync, so a check
/// never sees half of one sync and half of another.
#[derive(Default)]
pub struct Catalog {
    current: RwLock<Arc<Snapshot>>,
}

impl Catalog {
    /// The copy as it is now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reloads the copy when another gateway process has synced since it was built.
    pub async fn refresh(&self, db: &PgPool) -> sqlx::Result<bool> {
        let stale = last_success(db).await? != self.snapshot().synced_at;
        if stale {
            self.reload(db).await?;
        }
        Ok(stale)
    }

    /// Reads the stored metadata into a new copy.
    pub async fn reload(&self, db: &PgPool) -> sqlx::Result<()> {
        let rows = sqlx::query!("SELECT kind, object FROM dhis2_metadata").fetch_all(db).await?;
        let synced_at = last_success(db).await?;
        let snapshot = Snapshot::build(rows.into_iter().map(|r| (r.kind, r.object)).collect(), synced_at);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
        Ok(())
    }
}
