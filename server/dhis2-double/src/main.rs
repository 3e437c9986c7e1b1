//! `dhis2-double`: runs the DHIS2 test double as a standalone server, for manual runs and
//! benchmarks.
//!
//! ```text
//! dhis2-double [--port N] [--version 2.37|2.40|2.43] [--latency-ms N]
//!              [--tracker-job-delay-ms N] [--expiry-days N] [--no-org-units]
//! ```
//!
//! `--no-org-units` starts without org units, levels and groups, like a fresh server that is
//! to receive the hierarchy through `POST /api/metadata`. `--expiry-days N` closes every data
//! set's periods N days after they end (lock exceptions through `/api/lockExceptions` open them).
//!
//! It listens on 127.0.0.1 only (the credentials are public) and prints the base URL.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use dhis2_double::{DEFAULT_TRACKER_JOB_DELAY, Dhis2Double, PASSWORD, USERNAME, Version, fixture};

const USAGE: &str = "usage: dhis2-double [--port N] [--version 2.37|2.40|2.43] [--latency-ms N] \
                     [--tracker-job-delay-ms N] [--expiry-days N] [--no-org-units]";

struct Args {
    port: u16,
    version: Version,
    latency: Duration,
    tracker_job_delay: Duration,
    expiry_days: u32,
    org_units: bool,
}

/// `Ok(None)` asks for the usage text.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        port: 8080,
        version: Version::V2_40,
        latency: Duration::ZERO,
        tracker_job_delay: DEFAULT_TRACKER_JOB_DELAY,
        expiry_days: 0,
        org_units: true,
    };
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        if flag == "--no-org-units" {
            parsed.org_units = false;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => {
                parsed.port = value.parse().map_err(|_| format!("invalid port `{value}`"))?;
            }
            "--version" => {
                parsed.version = match value.as_str() {
                    "2.37" => Version::V2_37,
                    "2.40" => Version::V2_40,
                    "2.43" => Version::V2_43,
                    _ => return Err(format!("unsupported version `{value}`")),
                };
            }
            "--latency-ms" => {
                let ms = value.parse().map_err(|_| format!("invalid latency `{value}`"))?;
                parsed.latency = Duration::from_millis(ms);
            }
            "--tracker-job-delay-ms" => {
                let ms = value.parse().map_err(|_| format!("invalid tracker job delay `{value}`"))?;
                parsed.tracker_job_delay = Duration::from_millis(ms);
            }
            "--expiry-days" => {
                parsed.expiry_days = value.parse().map_err(|_| format!("invalid expiry days `{value}`"))?;
            }
            _ => return Err(format!("unknown argument `{flag}`")),
        }
    }
    Ok(Some(parsed))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("dhis2-double: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let dhis2 = match Dhis2Double::start_on(addr, args.version).await {
        Ok(dhis2) => dhis2,
        Err(e) => {
            eprintln!("dhis2-double: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    dhis2.set_latency(args.latency);
    dhis2.set_tracker_job_delay(args.tracker_job_delay);
    if !args.org_units {
        dhis2.clear_org_units();
    }
    if args.expiry_days > 0 {
        for data_set in [fixture::DS_MONTHLY_HIV, fixture::DS_QUARTERLY_TB, fixture::DS_MONTHLY_LAB] {
            dhis2.set_expiry_days(data_set, args.expiry_days);
        }
    }
    println!("{}", dhis2.base_url());
    eprintln!("DHIS2 {} double ready (user {USERNAME}/{PASSWORD}); Ctrl-C stops it", args.version.as_str());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("dhis2-double: cannot wait for Ctrl-C: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        parse_args(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn flags_are_parsed() {
        let args = parse(&[
            "--version",
            "2.43",
            "--tracker-job-delay-ms",
            "50",
            "--no-org-units",
            "--port",
            "9",
            "--expiry-days",
            "10",
        ])
        .unwrap()
        .unwrap();
        assert_eq!((args.port, args.version, args.expiry_days), (9, Version::V2_43, 10));
        assert_eq!(args.tracker_job_delay, Duration::from_millis(50));
        assert!(!args.org_units);
        let defaults = parse(&[]).unwrap().unwrap();
        assert_eq!(defaults.tracker_job_delay, DEFAULT_TRACKER_JOB_DELAY);
        assert!(defaults.org_units);
        assert!(parse(&["--help"]).unwrap().is_none());
        for bad in [&["--tracker-job-delay-ms", "soon"][..], &["--version", "2.41"], &["--port"], &["--colour", "red"]]
        {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
