//! Request and response bodies of the dhis2gw REST API.
//!
//! Defined once here and used by the gateway (which derives OpenAPI schemas from them with
//! the `openapi` feature) and by the console (compiled to wasm32), so both sides always agree
//! on the wire format.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod common;
pub mod console;
pub mod holds;
pub mod mappings;
pub mod metadata;
pub mod orgunits;
pub mod overview;
pub mod period;
pub mod reports;
pub mod routes;
pub mod servers;
pub mod submissions;
pub mod users;

pub use alerts::*;
pub use audit::*;
pub use auth::*;
pub use common::*;
pub use holds::*;
pub use mappings::*;
pub use metadata::*;
pub use orgunits::*;
pub use overview::*;
pub use reports::*;
pub use servers::*;
pub use submissions::*;
pub use users::*;
