//! The audit log: who did what, to what, and when.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One entry of `GET /audit`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    pub created: DateTime<Utc>,
    /// The username, or `cli` for the command line.
    pub actor: String,
    /// What was done, e.g. `submission.delete`, `mapping.update`, `user.create`.
    pub action: String,
    /// What kind of thing it was done to (`submission`, `mapping`, `user`, `server`, …).
    pub target_type: String,
    /// Which one; empty when the action concerned many.
    pub target_id: String,
    /// Particulars of the action.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: Value,
}

/// Filters of `GET /audit`. Dates are whole days in the gateway's time zone, inclusive, or
/// RFC 3339 instants, as in `GET /logs`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AuditFilter {
    /// Username of whoever acted (any case), or `cli`.
    pub actor: Option<String>,
    /// Exactly this action, e.g. `submission.delete` (`GET /audit/actions` lists them).
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub from_date: Option<String>,
    pub to_date: Option<String>,
    /// Text anywhere in the actor, action, target or detail, in any case.
    pub q: Option<String>,
    pub page: Option<i64>,
    /// 1 to 500; 50 by default.
    pub page_size: Option<i64>,
    /// For `GET /audit/export`: `csv` (the default) or `xlsx`.
    pub format: Option<String>,
}
