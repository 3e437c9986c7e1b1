//! What the domain stands on, knowing nothing of it: the configuration ([`config`]),
//! PostgreSQL ([`db`], and the intake's group commit: [`intake_writer`]) and the Redis queue
//! ([`queue`]), the DHIS2 Web API client ([`dhis2`]), the one error type ([`error`]), logs
//! ([`telemetry`]), metrics ([`metrics`]) and the allocator ([`memory`]), and small shared
//! rules: UIDs ([`uid`]), paging and search ([`query`]), uploaded spreadsheets ([`sheet`]),
//! weekly time windows ([`windows`]: a DHIS2 server's maintenance); DHIS2 periods are in the
//! wire crate.

pub mod config;
pub mod db;
pub mod dhis2;
pub mod error;
pub mod export;
pub mod intake_writer;
pub mod memory;
pub mod metrics;
pub mod notify;
pub mod query;
pub mod queue;
pub mod sheet;
pub mod telemetry;
pub mod uid;
pub mod windows;
