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
