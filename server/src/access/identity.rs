//! Who is calling: the identity every operation a user starts receives, checked by
//! [`crate::access::auth`] and recorded by [`crate::access::audit`].

use dhis2gw_wire::{IntakeValidation, RegisterCompletion, Role};

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
}
