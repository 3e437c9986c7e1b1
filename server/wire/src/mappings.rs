//! Mappings from partner codes to DHIS2 identifiers, and their spreadsheet import.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a mapping row maps: a data element (`de`) or an org unit (`ou`).
pub const MAPPING_KINDS: [&str; 2] = ["de", "ou"];

/// A mapping row, in the original service's JSON keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Mapping {
    pub id: i64,
    pub uid: String,
    #[serde(flatten)]
    pub fields: MappingFields,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// Whether DHIS2's synced metadata accepts what the mapping sends to.
    #[serde(default)]
    pub health: MappingHealth,
    /// The names DHIS2 gives the mapping's targets, where the synced metadata knows them.
    #[serde(default)]
    pub names: TargetNames,
}

/// A mapping checked against DHIS2's synced metadata.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// DHIS2 would take values sent through this mapping.
    Ok,
    /// DHIS2 would refuse them; `problem` says why and how to fix it.
    Broken,
    /// Not checked: no metadata synced yet, or an org-unit mapping.
    #[default]
    Unchecked,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MappingHealth {
    pub state: HealthState,
    /// What is wrong, and the fix, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Names of the DHIS2 objects a mapping (or an import row) refers to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TargetNames {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_set: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_element: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_option_combo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_option_combo: Option<String>,
}

/// The editable part of a mapping; the body of `POST /mappings` and `PUT /mappings/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MappingFields {
    /// The partner's key (with `mapping_scheme` CODE).
    #[serde(default)]
    pub code: String,
    /// `de` (data element) or `ou` (org unit).
    #[serde(default = "default_kind")]
    pub what: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub data_set: String,
    #[serde(default)]
    pub data_element: String,
    #[serde(default)]
    pub category_option_combo: Option<String>,
    #[serde(default)]
    pub attribute_option_combo: Option<String>,
    #[serde(default)]
    pub category_option: String,
    #[serde(default)]
    pub category_combo: String,
    #[serde(default = "default_scope")]
    pub instance_name: String,
    #[serde(default = "default_scope")]
    pub source_name: String,
    #[serde(default)]
    pub source_org_unit: String,
    #[serde(default)]
    pub destination_org_unit: String,
}

fn default_kind() -> String {
    "de".into()
}

fn default_scope() -> String {
    "default".into()
}

/// What an import did (or, with `dryRun`, would do) with one row of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RowAction {
    Created,
    Updated,
    Unchanged,
    Rejected,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRow {
    /// Row number in the file, counting the header as row 1.
    pub row: usize,
    pub code: String,
    pub what: String,
    pub action: RowAction,
    /// Why a row was rejected, one entry per problem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Targets given by code or name, and the UID each was resolved to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved: Vec<String>,
    /// Whether the mapping this row makes would be broken in DHIS2.
    #[serde(default)]
    pub health: MappingHealth,
    #[serde(default)]
    pub names: TargetNames,
}

/// Answer of `POST /mappings/import/{csv,excel}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    pub dry_run: bool,
    /// Data rows read from the file.
    pub total: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: usize,
    pub rows: Vec<ImportRow>,
}

/// Filters of `GET /mappings` (the original's parameter names). Text filters match parts,
/// any case; UID filters match exactly.
#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct MappingFilter {
    pub code: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "dataSet")]
    #[cfg_attr(feature = "openapi", param(rename = "dataSet"))]
    pub data_set: Option<String>,
    #[serde(rename = "dataElement")]
    #[cfg_attr(feature = "openapi", param(rename = "dataElement"))]
    pub data_element: Option<String>,
    #[serde(rename = "categoryOptionCombo")]
    #[cfg_attr(feature = "openapi", param(rename = "categoryOptionCombo"))]
    pub category_option_combo: Option<String>,
    /// `de` or `ou`.
    pub what: Option<String>,
    /// The source system (`source_name`).
    pub source: Option<String>,
    pub instance_name: Option<String>,
    /// `ok`, `broken` or `unchecked`. Broken mappings are listed first whatever the filter.
    pub health: Option<HealthState>,
    pub page: Option<i64>,
    /// 1 to 500; 50 by default.
    pub page_size: Option<i64>,
}
