//! Who is calling: the identity every operation a user starts receives, checked by
//! [`crate::access::auth`] and recorded by [`crate::access::audit`].

use dhis2gw_wire::{IntakeValidation, PartnerScope, RegisterCompletion, Role};
use serde_json::Value;

/// Who is calling, and how they proved it.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub id: i64,
    pub uid: String,
    pub username: String,
    pub role: Role,
    /// The user's own intake validation; `None` follows the configuration.
    pub intake_validation: Option<IntakeValidation>,
    /// Whether the user's submissions register completion; `None` follows the configuration.
    pub register_completion: Option<RegisterCompletion>,
    /// The scopes that bound what this caller may submit and from where: the user's and, when
    /// calling with an API token, the token's (each must allow it); none set, none here.
    pub scopes: Vec<PartnerScope>,
    /// The user's own limits; `None` follows the configuration (see `access::partners`).
    pub requests_per_second: Option<u32>,
    pub values_per_day: Option<i64>,
}

/// A scope as stored (`users.scope`, `user_apitoken.scope`); an unreadable one allows nothing
/// rather than everything.
pub fn stored_scope(value: &Value) -> PartnerScope {
    serde_json::from_value(value.clone()).unwrap_or_else(|_| PartnerScope {
        data_sets: vec![String::new()],
        org_units: vec![String::new()],
        networks: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_unreadable_stored_scope_allows_nothing() {
        let scope = stored_scope(&json!({"data_sets": "not a list"}));
        assert!(!scope.data_sets.is_empty() && !scope.org_units.is_empty());
        assert_eq!(stored_scope(&json!({})), PartnerScope::default());
    }
}
