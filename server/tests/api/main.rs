//! Black-box tests: each starts the real gateway on port 0 against its own PostgreSQL
//! database and Redis namespace, and talks to it over HTTP only.

mod alerts;
mod audit;
mod auth;
mod browser;
mod cli;
mod coalescing;
mod console;
mod dhis2_api;
mod exports;
mod flow;
mod fuzz;
mod holds;
mod hostile;
mod logs;
mod mappings;
mod metadata;
mod operations;
mod orgunits;
mod overview;
mod partners;
mod pipeline;
mod recovery;
mod reports;
mod retention;
mod roles;
mod security;
mod servers;
mod service;
mod standards;
mod tracker;
mod upgrade;
mod users;
