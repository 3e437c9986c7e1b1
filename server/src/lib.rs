//! dhis2gw: partner systems submit health data; the gateway validates and stores it, queues
//! it, and delivers it to DHIS2, keeping every attempt and DHIS2's answer.
//!
//! Reading order: [`config`] (what an operator sets), [`app`] (the context every part
//! shares), [`startup`] (how the process comes up), [`http`] (the routes), then the domain modules they call ([`submissions`],
//! [`mappings`], [`users`], [`auth`]) and the delivery side ([`queue`], [`delivery`],
//! [`dhis2`], [`scheduler`]).

pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod db;
pub mod delivery;
pub mod dhis2;
pub mod error;
pub mod http;
pub mod identity;
pub mod mappings;
pub mod metrics;
pub mod orgunits;
pub mod overview;
pub mod period;
pub mod query;
pub mod queue;
pub mod scheduler;
pub mod secrets;
pub mod servers;
pub mod startup;
pub mod submissions;
pub mod telemetry;
pub mod uid;
pub mod users;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
