//! The Redis work queue (apalis-redis). PostgreSQL holds the truth about every delivery;
//! a queue job only says "deliver destination N now". Jobs are named after the delivery's
//! generation, so pushing one that is still queued does nothing, while one lost with a
//! flushed or restarted Redis is pushed again by the sweep ([`crate::scheduler::sweep`]).

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_redis::{Config as RedisQueueConfig, RedisStorage};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::infra::config::Config;

/// The one kind of job: deliver a submission to one destination.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub destination_id: i64,
}

/// How long Redis remembers a pushed job's name, so a repeated push is a no-op.
const JOB_NAME_TTL: Duration = Duration::from_secs(2 * 24 * 3600);

pub type Storage = RedisStorage<DeliveryJob>;

/// The job of a destination's generation: its name makes a repeated push a no-op. The name
/// starts with the database's installation id, so a database created anew (ids restarting at
/// 1) never meets the names of the old one still remembered by Redis.
fn job(
    installation: &str,
    destination_id: i64,
    generation: i32,
    delay: Duration,
) -> apalis::prelude::Task<DeliveryJob> {
    TaskBuilder::new(DeliveryJob { destination_id })
        .idempotency_key(format!("{installation}-d{destination_id}-g{generation}"))
        // The whole delay: Redis keeps whole seconds, so the job falls due less than a second
        // early, which a claim allows. Cut to whole seconds first it came up to two seconds
        // early, the claim found the retry not yet due, and it waited for the sweep.
        .run_after(delay)
        .build()
}

/// A handle to the queue; connects in the background so the gateway starts (and accepts
/// submissions into PostgreSQL) even while Redis is down.
#[derive(Clone)]
pub struct Queue {
    storage: Arc<OnceCell<Storage>>,
    config: RedisQueueConfig,
    url: String,
    installation: Arc<str>,
    /// A key that vanishes with the jobs when Redis restarts without persistence or is flushed.
    marker: Arc<str>,
}

impl Queue {
    pub fn new(config: &Config, installation: &str) -> Queue {
        let queue_config = RedisQueueConfig::default()
            // One fetch can fill every delivery slot.
            .batch_size(2 * config.server.max_concurrent as usize)
            .queue(format!("{}:deliveries", config.server.queue_prefix))
            // A worker that stops heart-beating for 15 s has its jobs taken over.
            .heartbeat_interval(Duration::from_secs(5))
            .missed_heartbeats(3)
            .emit_events(false)
            .persist_results(false)
            .idempotency_ttl(Some(JOB_NAME_TTL));
        Queue {
            storage: Arc::new(OnceCell::new()),
            config: queue_config,
            url: config.redis_url(),
            installation: installation.into(),
            marker: format!("{}:deliveries:marker", config.server.queue_prefix).into(),
        }
    }

    /// The storage, connecting first if needed.
    pub async fn storage(&self) -> Result<Storage, apalis_redis::RedisError> {
        self.storage
            .get_or_try_init(|| async {
                let connection = apalis_redis::connect(self.url.as_str()).await?;
                Ok(RedisStorage::new(connection).with_config(self.config.clone()))
            })
            .await
            .cloned()
    }

    /// Pushes the job of a destination's current generation, after `delay`.
    pub async fn push(&self, destination_id: i64, generation: i32, delay: Duration) -> anyhow::Result<()> {
        let mut storage = self.storage().await?;
        storage
            .push_task(job(&self.installation, destination_id, generation, delay))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }

    /// Pushes the jobs of many (destination, generation) pairs, due now, in batches.
    pub async fn push_due(&self, due: &[(i64, i32)]) -> anyhow::Result<()> {
        let mut storage = self.storage().await?;
        let tasks: Vec<_> =
            due.iter().map(|&(id, generation)| job(&self.installation, id, generation, Duration::ZERO)).collect();
        storage.push_all(futures_util::stream::iter(tasks)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }

    /// Whether Redis lost this gateway's jobs since the last look (restarted without
    /// persistence, flushed): the marker set at each look is gone. A Redis new to this gateway
    /// answers yes once.
    pub async fn lost_jobs(&self) -> anyhow::Result<bool> {
        let mut storage = self.storage().await?;
        let set: Option<String> =
            redis::cmd("SET").arg(&*self.marker).arg(1).arg("NX").query_async(storage.get_connection()).await?;
        Ok(set.is_some())
    }

    /// Drops the bookkeeping of finished jobs (their outcome lives in PostgreSQL).
    pub async fn tidy(&self) -> anyhow::Result<()> {
        use apalis_core::backend::Vacuum;
        let mut storage = self.storage().await?;
        let done = storage.get_config().done_jobs_set();
        let dead = storage.get_config().dead_jobs_set();
        let _: () = redis::pipe().del(&done).del(&dead).query_async(storage.get_connection()).await?;
        storage.vacuum().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }

    /// Jobs waiting in Redis (due now, and scheduled for later).
    pub async fn depth(&self) -> anyhow::Result<(i64, i64)> {
        let mut storage = self.storage().await?;
        let active = storage.get_config().active_jobs_list();
        let scheduled = storage.get_config().scheduled_jobs_set();
        let (due, later): (i64, i64) =
            redis::pipe().llen(&active).zcard(&scheduled).query_async(storage.get_connection()).await?;
        Ok((due, later))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_falls_due_less_than_a_second_before_its_retry() {
        for millis in [0, 400, 999, 1_000, 1_900, 4_999] {
            let delay = Duration::from_millis(millis);
            let due = std::time::SystemTime::now() + delay;
            let run_at = job("i", 1, 1, delay).ctx().run_at().expect("scheduled");
            let due = due.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
            assert!(due - (run_at as f64) < 1.0, "{millis} ms: due {due}, falls due at {run_at}");
        }
    }
}
