//! Who may do what, and who did: users and their partner API tokens ([`users`]), signing in
//! and checking credentials ([`auth`]), the caller every operation receives ([`identity`]),
//! the hashes secrets are kept as ([`secrets`]), the audit log ([`audit`]), and partners'
//! scopes and limits ([`partners`]).

pub mod audit;
pub mod auth;
pub mod identity;
pub mod partners;
pub mod secrets;
pub mod users;
