//! dhis2gw: partner systems submit health data; the gateway validates and stores it, queues
//! it, and delivers it to DHIS2, keeping every attempt and DHIS2's answer.
//!
//! The layers, each using only those below it (the test command checks there is no cycle):
//!
//! ```text
//! main, startup            the process: CLI, wiring, serving
//! http, scheduler          routes that parse, call one operation and shape the answer; named jobs
//! delivery                 the workers that send queued work to DHIS2
//! submissions, holds,      intake, the log, requeue, the hold queue, completeness reports:
//!   reports                operations that need the whole context
//! upgrade                  adopting the original dhis2gw's database beside ours
//! app                      that context: pools, clients, and the caches of the areas below
//! mappings, servers,       domain areas that own their state, their audit entries and caches
//!   orgunits, metadata,
//!   access
//! infra                    configuration, PostgreSQL, the Redis queue, the DHIS2 client, errors
//! ```
//!
//! Reading order: [`infra::config`] (what an operator sets), [`app`], [`startup`], [`http`],
//! then [`submissions`], [`holds`], [`mappings`], [`access`], [`servers`], [`orgunits`], [`metadata`], and the
//! delivery side: [`delivery`], [`infra::dhis2`], [`scheduler`].

pub mod access;
pub mod alerts;
pub mod app;
pub mod delivery;
pub mod holds;
pub mod http;
pub mod infra;
pub mod mappings;
pub mod metadata;
pub mod orgunits;
pub mod reports;
pub mod retention;
pub mod scheduler;
pub mod servers;
pub mod startup;
pub mod submissions;
pub mod upgrade;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
