//! The organisation-unit hierarchy the gateway keeps in step with the primary DHIS2.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgUnit {
    pub uid: String,
    pub code: Option<String>,
    pub name: String,
    pub short_name: String,
    pub parent: Option<String>,
    pub level: i32,
    /// `/rootUid/…/thisUid`.
    pub path: String,
    pub opening_date: Option<NaiveDate>,
    pub closed_date: Option<NaiveDate>,
    /// UIDs of the groups it belongs to.
    pub groups: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgUnitLevel {
    pub uid: String,
    pub level: i32,
    pub name: String,
    /// The level named by `api.dhis2_district_oulevel_name`.
    pub is_district: bool,
    /// `api.dhis2_facility_level`: submissions name units of this level.
    pub is_facility: bool,
}

/// What one hierarchy sync did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgUnitSync {
    /// `false` for the first (full) sync, `true` when only changes since the last one were read.
    pub incremental: bool,
    pub levels: usize,
    /// Units created or changed.
    pub units: usize,
    pub groups: usize,
    /// Units removed: deleted in DHIS2, or moved out of `dhis2_tree_i_ds`.
    #[serde(default)]
    pub removed: usize,
    pub finished_at: DateTime<Utc>,
    /// Submissions (kind `metadata`) queued to push the changes to CC servers.
    pub pushes: Vec<i64>,
}

/// `GET /orgunits` filters.
#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct OrgUnitFilter {
    /// Text in the name or code, or the whole UID.
    pub q: Option<String>,
    pub code: Option<String>,
    pub level: Option<i32>,
    /// Only the children of this unit.
    pub parent: Option<String>,
    /// Only units below this one (any depth).
    pub within: Option<String>,
    pub page: Option<i64>,
    /// 1 to 500; 50 by default.
    pub page_size: Option<i64>,
}
