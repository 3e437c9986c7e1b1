//! DHIS2 metadata as the gateway knows it: the state of its copy, what a sync did, and how
//! strictly submissions are checked against it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How submissions are checked against the synced DHIS2 metadata (`api.intake_validation`,
/// or per partner).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum IntakeValidation {
    /// A submission with any value DHIS2 would refuse is refused whole (422).
    #[default]
    Strict,
    /// The values DHIS2 would take are accepted; the others are left out and reported.
    Partial,
    /// Nothing is checked against the metadata; DHIS2 decides.
    Off,
}

impl IntakeValidation {
    pub const ALL: [IntakeValidation; 3] = [IntakeValidation::Strict, IntakeValidation::Partial, IntakeValidation::Off];

    pub fn as_str(self) -> &'static str {
        match self {
            IntakeValidation::Strict => "strict",
            IntakeValidation::Partial => "partial",
            IntakeValidation::Off => "off",
        }
    }
}

impl std::str::FromStr for IntakeValidation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        one_of(IntakeValidation::ALL, IntakeValidation::as_str, s)
    }
}

/// The choice named `s` (any case), or what the choices are.
fn one_of<T: Copy, const N: usize>(all: [T; N], name: fn(T) -> &'static str, s: &str) -> Result<T, String> {
    all.into_iter().find(|v| name(*v).eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
        let names: Vec<&str> = all.into_iter().map(name).collect();
        format!("unknown value '{}' (expected one of: {})", s.trim(), names.join(", "))
    })
}

/// Whether a submission also registers its data set as complete in DHIS2 (`completeDate`,
/// which DHIS2's reporting rates count), `api.register_completion` or per partner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RegisterCompletion {
    /// Every submission, dated the day it is sent unless it gives `completeDate` (what the
    /// original dhis2gw did).
    Always,
    /// Only a submission that gives `completeDate` or `complete: true`.
    #[default]
    WhenRequested,
    /// Never, even when a submission asks.
    Never,
}

impl RegisterCompletion {
    pub const ALL: [RegisterCompletion; 3] =
        [RegisterCompletion::Always, RegisterCompletion::WhenRequested, RegisterCompletion::Never];

    pub fn as_str(self) -> &'static str {
        match self {
            RegisterCompletion::Always => "always",
            RegisterCompletion::WhenRequested => "when_requested",
            RegisterCompletion::Never => "never",
        }
    }
}

impl std::str::FromStr for RegisterCompletion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        one_of(RegisterCompletion::ALL, RegisterCompletion::as_str, s)
    }
}

/// What one metadata sync did (`POST /metadata/sync`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetadataSync {
    /// `false` for the first (full) sync, `true` when only what changed since was read.
    pub incremental: bool,
    /// Objects read because they were new or changed, per kind (`dataSets`, …).
    pub changed: std::collections::BTreeMap<String, usize>,
    /// Objects gone from DHIS2 and so forgotten, per kind.
    pub removed: std::collections::BTreeMap<String, usize>,
    pub finished_at: DateTime<Utc>,
    /// Problems found with the configured defaults (`api.dhis2_data_set`, …).
    pub warnings: Vec<String>,
}

/// The gateway's copy of DHIS2's metadata, as the overview shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetadataStatus {
    /// Whether submissions are checked against the metadata now.
    pub validation_on: bool,
    /// The configured default mode (`api.intake_validation`).
    pub validation: IntakeValidation,
    /// Why validation is off, in words, when it is.
    pub reason: Option<String>,
    /// When the last successful sync finished; `None` before the first.
    pub synced_at: Option<DateTime<Utc>>,
    /// Why the last sync failed, when it did (the copy from before is still used).
    pub last_error: Option<String>,
    pub data_sets: usize,
    pub data_elements: usize,
    pub category_combos: usize,
    pub option_sets: usize,
    /// `api.dhis2_country`, or the root org unit's name when that is unset.
    pub country: Option<String>,
    /// Problems with the configured defaults (`api.dhis2_data_set`, …).
    pub warnings: Vec<String>,
}

/// Kinds of DHIS2 objects `GET /metadata/objects` searches.
pub const METADATA_KINDS: [&str; 4] = ["dataSet", "dataElement", "categoryOptionCombo", "attributeOptionCombo"];

/// A DHIS2 object as pickers show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetadataObject {
    pub uid: String,
    pub code: Option<String>,
    pub name: String,
    /// Where it belongs: a data element's value type, an option combo's category combo.
    pub detail: Option<String>,
}

/// `GET /metadata/objects` filters.
#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct MetadataFilter {
    /// `dataSet`, `dataElement`, `categoryOptionCombo` or `attributeOptionCombo`.
    pub kind: String,
    /// Part of the name or code, or the UID; any case.
    pub q: Option<String>,
    /// Option combos of this data element (in `data_set`, whose overrides count); for
    /// attribute option combos, those of this data set.
    pub data_element: Option<String>,
    pub data_set: Option<String>,
    pub page: Option<i64>,
    /// 1 to 500; 50 by default.
    pub page_size: Option<i64>,
}
