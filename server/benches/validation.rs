//! What checking submissions against DHIS2's metadata costs the intake: `POST /aggregate`
//! throughput with `api.intake_validation` off and strict (metadata synced), in rounds on
//! fresh gateways, each mode first in every other round so the machine's drift falls on both
//! alike. Run with
//! `cargo bench -p dhis2gw --bench validation`.
//!
//! Target: throughput with validation within 10 % of throughput without (the check reads an
//! in-memory copy of the metadata, never PostgreSQL per value). DHIS2 answers nothing during
//! the run, so deliveries take no CPU from the intake in either mode.

mod common;

use std::time::Duration;

use dhis2_double::{Dhis2Double, Version};
use dhis2gw_test_support::TestDatabase;

const CLIENTS: usize = 32;
const SECONDS: u64 = 6;
const ROUNDS: usize = 4;
const MODES: [&str; 2] = ["off", "strict"];

#[tokio::main]
async fn main() {
    let dhis2 = Dhis2Double::start(Version::V2_43).await;
    let mut rates = vec![Vec::new(); MODES.len()];
    for round in 0..ROUNDS {
        // Each mode goes first in every other round, so a machine slowing down (or warming
        // up) over the run weighs on both alike.
        let order: Vec<usize> = if round % 2 == 0 { vec![0, 1] } else { vec![1, 0] };
        for m in order {
            let mode = &MODES[m];
            // DHIS2 answers the metadata sync, then nothing while the intake runs.
            dhis2.set_latency(Duration::ZERO);
            let run = format!("{}{round}{mode}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
            let database = TestDatabase::new();
            let env = [("DHIS2GW_INTAKE_VALIDATION", *mode)];
            let gateway = common::start_gateway(&dhis2, &run, &database, 5, &env).await;
            let token = common::prepare(&gateway).await;
            let jwt = common::admin_jwt(&gateway).await;
            let sync = reqwest::Client::new().post(format!("{}/api/v2/metadata/sync", gateway.base)).bearer_auth(&jwt);
            common::call(sync).await;
            dhis2.set_latency(Duration::from_secs(3600));
            let (latencies, elapsed) = common::intake(&gateway, &token, CLIENTS, SECONDS, common::Form::Hiv).await;
            let rate = latencies.len() as f64 / elapsed;
            println!(
                "round {} validation {mode:>6}: {rate:.0} req/s, p99 {:.1} ms, peak RSS {:.0} MB",
                round + 1,
                common::percentile(&latencies, 0.99).as_secs_f64() * 1e3,
                gateway.peak_rss_mb()
            );
            rates[m].push(rate);
        }
    }
    let mean = |r: &[f64]| r.iter().sum::<f64>() / r.len() as f64;
    let (off, strict) = (mean(&rates[0]), mean(&rates[1]));
    println!(
        "intake with validation: {strict:.0} req/s, without: {off:.0} req/s, difference {:+.1}% (target within 10%)",
        100.0 * (strict - off) / off
    );
}
