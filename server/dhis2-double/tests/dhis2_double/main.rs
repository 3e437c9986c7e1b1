//! Black-box tests of the DHIS2 double over real HTTP connections.

mod entry;
mod http;
mod imports;
mod metadata;
mod orgunits;
mod tracker;
mod transport;
