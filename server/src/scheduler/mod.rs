//! The scheduler: named jobs, each on its schedule, one run of a job at a time in this
//! process (a run still going when the next is due makes that one skip), failures logged with
//! the job's name and retried at the next time.
//!
//! - `sweep` ([`sweep`]) on `api.retry_cron_expression`, and at start: PostgreSQL is the
//!   truth, Redis only carries work, so what the queue lost is fed to it again;
//! - `leases` every 5 seconds, and at start: deliveries whose process died mid-way are queued
//!   again as soon as their lease lapses ([`sweep::reclaim`]), and the whole sweep runs at
//!   once when Redis has lost its jobs (restarted without persistence, flushed);
//! - `health` every 15 seconds, and at start: every switched-on DHIS2 server is asked for its
//!   version; one that answers again has its retries brought forward;
//! - `prune` hourly: sign-in attempts whose window is over, refresh tokens that can no
//!   longer be used, and alert notifications older than 90 days;
//! - `orgunit-sync` on `api.sync_cron_expression` when a primary DHIS2 is configured: the
//!   hierarchy, and its pushes to CC servers;
//! - `metadata-sync` on the same schedule: data sets, data elements, combos and option sets,
//!   which the intake checks submissions against;
//! - `hold-recheck` on `api.hold_recheck_cron` when a primary DHIS2 is configured: held
//!   values DHIS2 would accept now are delivered, those held too long fail;
//! - `retention` on `retention.cron`: finished submissions past their retention are archived
//!   to files, then deleted ([`crate::retention`]);
//! - `metadata-reload` every 30 seconds: the in-memory copy of that metadata is rebuilt when
//!   another gateway process synced it;
//! - `search-index` every second: what was stored since joins the log's text-search index
//!   ([`crate::submissions::log::merge_search_index`]);
//! - `memory` every minute: the allocator hands back the pages that a burst (an import, a
//!   rush of submissions) used and freed ([`crate::infra::memory::trim`]).

pub mod sweep;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::app::AppState;
use crate::infra::error::AppError;
use sweep::Swept;

/// Every 15 seconds: a server seen down and then up again has its retries brought forward,
/// so data flows within this long of DHIS2 coming back.
const HEALTH_CHECK: &str = "*/15 * * * * *";

/// How soon a delivery cut by a dead process is queued again after its lease lapses.
const LEASE_CHECK: &str = "*/5 * * * * *";

/// How soon a gateway process sees metadata another process synced.
const METADATA_RELOAD: &str = "*/30 * * * * *";

/// Every second: new submissions join the text-search index here rather than in a request.
const SEARCH_INDEX: &str = "* * * * * *";

/// Every minute: memory a burst freed goes back to the system within a minute of the burst.
const MEMORY: &str = "40 * * * * *";

/// Hourly, at a minute no other job favours.
const PRUNE: &str = "0 17 * * * *";

type Run = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// A job: its name (in the log), its cron expression (seconds first), whether it also runs
/// at start, and what it does.
struct Named {
    name: &'static str,
    schedule: String,
    at_start: bool,
    run: fn(AppState) -> Run,
}

/// Starts the scheduler with every job.
pub async fn start(state: &AppState) -> anyhow::Result<JobScheduler> {
    let api = &state.config.api;
    let mut jobs = vec![
        Named { name: "sweep", schedule: with_seconds(&api.retry_cron_expression), at_start: true, run: sweep },
        Named { name: "leases", schedule: LEASE_CHECK.into(), at_start: true, run: leases },
        Named { name: "health", schedule: HEALTH_CHECK.into(), at_start: true, run: health },
        Named { name: "prune", schedule: PRUNE.into(), at_start: false, run: prune },
        Named { name: "metadata-reload", schedule: METADATA_RELOAD.into(), at_start: false, run: metadata_reload },
        Named { name: "search-index", schedule: SEARCH_INDEX.into(), at_start: false, run: search_index },
        Named { name: "memory", schedule: MEMORY.into(), at_start: false, run: memory },
        Named {
            name: "retention",
            schedule: with_seconds(&state.config.retention.cron),
            at_start: false,
            run: retention,
        },
    ];
    if state.dhis2.is_some() {
        let schedule = with_seconds(&api.sync_cron_expression);
        jobs.push(Named { name: "orgunit-sync", schedule: schedule.clone(), at_start: false, run: orgunit_sync });
        jobs.push(Named { name: "metadata-sync", schedule, at_start: false, run: metadata_sync });
        let schedule = with_seconds(&api.hold_recheck_cron);
        jobs.push(Named { name: "hold-recheck", schedule, at_start: false, run: hold_recheck });
    }
    let scheduler = JobScheduler::new().await?;
    for job in jobs {
        let Named { name, schedule, at_start, run } = job;
        let timezone = state.config.server.timezone;
        let (state, running) = (state.clone(), Arc::new(Mutex::new(())));
        let once = move || {
            let (state, running) = (state.clone(), running.clone());
            async move {
                let Ok(_alone) = running.try_lock() else { return };
                if let Err(e) = run(state).await {
                    tracing::warn!(job = name, error = %format!("{e:#}"), "scheduled job failed; next time then");
                }
            }
        };
        if at_start {
            tokio::spawn(once());
        }
        scheduler.add(Job::new_async_tz(schedule.as_str(), timezone, move |_, _| Box::pin(once()))?).await?;
    }
    scheduler.start().await?;
    Ok(scheduler)
}

fn memory(_: AppState) -> Run {
    Box::pin(async {
        tokio::task::spawn_blocking(crate::infra::memory::trim).await?;
        Ok(())
    })
}

fn search_index(state: AppState) -> Run {
    Box::pin(async move { Ok(crate::submissions::log::merge_search_index(&state.db).await?) })
}

fn sweep(state: AppState) -> Run {
    Box::pin(async move {
        let swept = sweep::sweep(&state.db, &state.queue, false).await?;
        if swept != Swept::default() {
            tracing::info!(?swept, "sweep");
        }
        Ok(())
    })
}

fn leases(state: AppState) -> Run {
    Box::pin(async move {
        sweep::reclaim(&state.db, &state.queue).await?;
        if state.queue.lost_jobs().await? {
            let swept = sweep::sweep(&state.db, &state.queue, true).await?;
            tracing::info!(
                ?swept,
                "Redis holds no jobs of this gateway (new, restarted or flushed): pending deliveries are queued again"
            );
        }
        Ok(())
    })
}

fn health(state: AppState) -> Run {
    Box::pin(async move {
        for server in state.servers.check_health().await? {
            if let Ok(connection) = state.servers.connection(server).await {
                connection.flow.reachable();
            }
            match crate::servers::wake_retrying(&state.db, server).await {
                Ok(woken) => {
                    tracing::info!(server, deliveries = woken, "DHIS2 server is back; its retries go now");
                    state.queue.nudge();
                }
                Err(e) => tracing::warn!(server, error = %e, "could not bring the retries forward"),
            }
        }
        Ok(())
    })
}

fn retention(state: AppState) -> Run {
    Box::pin(async move {
        crate::retention::run(&state.db, &state.config).await?;
        Ok(())
    })
}

fn hold_recheck(state: AppState) -> Run {
    Box::pin(async move {
        crate::holds::recheck(&state, None, &Default::default()).await?;
        Ok(())
    })
}

fn prune(state: AppState) -> Run {
    Box::pin(async move {
        let (attempts, tokens) = crate::access::auth::prune(&state.db).await?;
        if attempts + tokens > 0 {
            tracing::info!(attempts, tokens, "forgot old sign-in attempts and unusable refresh tokens");
        }
        let notifications = crate::alerts::prune(&state.db).await?;
        if notifications > 0 {
            tracing::info!(notifications, "forgot alert notifications older than 90 days");
        }
        Ok(())
    })
}

fn orgunit_sync(state: AppState) -> Run {
    Box::pin(async move {
        match crate::submissions::org_unit_push::sync_and_push(&state, None).await {
            // Another gateway process is syncing: nothing to do here.
            Ok(_) | Err(AppError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    })
}

fn metadata_reload(state: AppState) -> Run {
    Box::pin(async move {
        if state.metadata.refresh(&state.db).await? {
            tracing::info!("DHIS2 metadata reloaded: another gateway process synced it");
        }
        Ok(())
    })
}

fn metadata_sync(state: AppState) -> Run {
    Box::pin(async move {
        let client = state.primary()?;
        match crate::metadata::sync::sync(&state.db, client, &state.config, &state.metadata, &state.servers, None).await
        {
            // Another gateway process is syncing: nothing to do here.
            Ok(_) | Err(AppError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    })
}

/// A 5-field expression runs at second 0; tokio-cron-scheduler wants the seconds field.
fn with_seconds(expression: &str) -> String {
    if expression.split_whitespace().count() == 5 { format!("0 {expression}") } else { expression.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_field_expressions_get_a_seconds_field() {
        assert_eq!(with_seconds("*/5 * * * *"), "0 */5 * * * *");
        assert_eq!(with_seconds("*/2 * * * * *"), "*/2 * * * * *");
    }
}
