//! Users, roles and partner API tokens.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a user may do. `admin`: everything; `operator`: submissions, requeue, mappings;
/// `viewer`: read only; `partner`: submit data and read its own submissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Operator,
    Viewer,
    Partner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Operator, Role::Viewer, Role::Partner];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
            Role::Partner => "partner",
        }
    }

    /// May read everything the gateway holds (not only its own submissions).
    pub fn is_staff(self) -> bool {
        self != Role::Partner
    }

    /// May change submissions and mappings (requeue, delete, import).
    pub fn can_operate(self) -> bool {
        matches!(self, Role::Admin | Role::Operator)
    }

    /// May submit data (partners, and admins and operators, e.g. to test or to upload a file).
    pub fn can_submit(self) -> bool {
        self != Role::Viewer
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown role '{s}' (expected admin, operator, viewer or partner)"))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user as the API shows it. The password hash never leaves the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub uid: String,
    pub username: String,
    pub firstname: String,
    pub lastname: String,
    pub email: Option<String>,
    pub telephone: String,
    pub role: Role,
    pub is_active: bool,
    /// `role == admin`, kept for clients of the original service.
    pub is_admin_user: bool,
    /// How this user's submissions are checked against DHIS2's metadata; `None` follows the
    /// gateway's `api.intake_validation`.
    #[serde(default)]
    pub intake_validation: Option<crate::IntakeValidation>,
    /// Whether this user's submissions register their data set as complete; `None` follows
    /// the gateway's `api.register_completion`.
    #[serde(default)]
    pub register_completion: Option<crate::RegisterCompletion>,
    pub last_login: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// Body of `POST /user` and `POST /users`. The original's camelCase keys are accepted too.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    #[serde(default, alias = "firstName")]
    pub firstname: String,
    #[serde(default, alias = "lastName")]
    pub lastname: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub telephone: String,
    /// Defaults to `admin` when the original's `isAdminUser` is true, else `viewer`.
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default = "yes", alias = "isActive")]
    pub is_active: bool,
    #[serde(default, alias = "isAdminUser")]
    pub is_admin_user: bool,
}

fn yes() -> bool {
    true
}

/// Body of `POST /user`: the original's acknowledgement plus the created user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserCreated {
    pub message: String,
    pub uid: String,
    pub user: User,
}

/// Body of `PUT /users/{uid}`: a partial update, omitted fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, alias = "firstName", skip_serializing_if = "Option::is_none")]
    pub firstname: Option<String>,
    #[serde(default, alias = "lastName", skip_serializing_if = "Option::is_none")]
    pub lastname: Option<String>,
    /// An empty string clears the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, alias = "isActive", skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    /// `strict`, `partial` or `off` for this user's submissions; an empty string makes them
    /// follow the gateway's `api.intake_validation` again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intake_validation: Option<String>,
    /// `always`, `when_requested` or `never` for this user's submissions; an empty string
    /// makes them follow the gateway's `api.register_completion` again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_completion: Option<String>,
}

/// Body of `POST /users/{uid}/tokens`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiToken {
    /// What the token is for, e.g. the partner system's name.
    #[serde(default)]
    pub name: String,
    /// When the token stops working; never when omitted.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// What the token may submit and from where, within its user's own scope.
    #[serde(default)]
    pub scope: PartnerScope,
}

/// What a partner's submissions may touch and where they may come from: a user's scope and
/// its token's both apply. An empty list allows everything of its kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PartnerScope {
    /// Data sets, by DHIS2 UID or code (stored as UIDs).
    #[serde(default)]
    pub data_sets: Vec<String>,
    /// Org-unit subtrees, by UID or code in the synced hierarchy (stored as UIDs).
    #[serde(default)]
    pub org_units: Vec<String>,
    /// Client addresses allowed, as CIDR networks or single addresses (`10.0.0.0/8`,
    /// `2001:db8::/32`); behind a proxy, the `X-Forwarded-For` of `server.trusted_proxies`.
    #[serde(default)]
    pub networks: Vec<String>,
}

impl PartnerScope {
    pub fn is_empty(&self) -> bool {
        self.data_sets.is_empty() && self.org_units.is_empty() && self.networks.is_empty()
    }
}

/// A partner's limits, scope and expiry: `GET` and `PUT /users/{uid}/access`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PartnerAccess {
    #[serde(default)]
    pub scope: PartnerScope,
    /// Requests per second; `None` follows `api.partner_requests_per_second`.
    #[serde(default)]
    pub requests_per_second: Option<u32>,
    /// Data values accepted per day (in `server.timezone`); `None` follows
    /// `api.partner_values_per_day`.
    #[serde(default)]
    pub values_per_day: Option<i64>,
    /// When the user stops being able to sign in or submit; never when `None`.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// `GET /users/{uid}/access`: the settings, what is in force, and today's use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartnerAccessView {
    #[serde(flatten)]
    pub access: PartnerAccess,
    /// The limits in force (the user's own, else the configuration's); `None`: unlimited.
    pub effective_requests_per_second: Option<u32>,
    pub effective_values_per_day: Option<i64>,
    /// Values accepted today.
    pub values_today: i64,
    /// Requests refused over a limit since this process started.
    pub refused_over_limit: u64,
    /// Where the user last signed in from.
    pub last_login_ip: Option<String>,
}

/// Body of `POST /users/{uid}/tokens/{id}/rotate`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateApiToken {
    /// How long the old token keeps working beside the new one (at most 30 days).
    pub overlap_secs: u64,
}

/// A partner API token as listed: the secret itself is never shown again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    pub is_active: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The client address of that last use.
    #[serde(default)]
    pub last_used_ip: Option<String>,
    #[serde(default)]
    pub scope: PartnerScope,
    /// The token this one was rotated into (it works until its `expires_at`).
    #[serde(default)]
    pub rotated_to: Option<i64>,
    pub created: DateTime<Utc>,
}

/// Answer of `POST /users/{uid}/tokens`: the only time the token is shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiToken {
    /// Send as `Authorization: Token <token>`.
    pub token: String,
    #[serde(flatten)]
    pub info: ApiToken,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_case_insensitively_and_reject_unknown_names() {
        assert_eq!("Operator".parse::<Role>(), Ok(Role::Operator));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn create_user_accepts_the_original_camel_case_keys() {
        let body =
            r#"{"username":"a","password":"p","firstName":"A","lastName":"B","isActive":false,"isAdminUser":true}"#;
        let u: CreateUser = serde_json::from_str(body).unwrap();
        assert_eq!((u.firstname.as_str(), u.lastname.as_str()), ("A", "B"));
        assert!(!u.is_active && u.is_admin_user);
    }

    #[test]
    fn update_user_rejects_unknown_fields() {
        assert!(serde_json::from_str::<UpdateUser>(r#"{"pasword":"x"}"#).is_err());
    }
}

/// Filters of `GET /users`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct UserFilter {
    /// Part of the username, any case.
    pub username: Option<String>,
    /// Part of the email address, any case.
    pub email: Option<String>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    /// From 1.
    pub page: Option<i64>,
    /// 1 to 500; 50 by default.
    pub page_size: Option<i64>,
}
