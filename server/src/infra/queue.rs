//! The Redis work queue (apalis-redis). PostgreSQL holds the truth about every delivery;
//! a queue job only says "deliver destination N now", and only due deliveries have one: the
//! feeder ([`crate::delivery::feed`]) moves them from PostgreSQL to Redis a few per partner at a
//! time, whenever it is [nudged](Queue::nudge). Jobs are named after the delivery's
//! generation, so pushing one that is still queued does nothing, while one lost with a
//! flushed or restarted Redis is fed again after the sweep ([`crate::scheduler::sweep`]).

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_redis::{Config as RedisQueueConfig, RedisStorage};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, OnceCell};

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
fn job(installation: &str, destination_id: i64, generation: i32) -> apalis::prelude::Task<DeliveryJob> {
    TaskBuilder::new(DeliveryJob { destination_id })
        .idempotency_key(format!("{installation}-d{destination_id}-g{generation}"))
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
    /// Deliveries became due (stored, requeued, released, woken) or left Redis (claimed).
    waiting: Arc<Notify>,
}

impl Queue {
    pub fn new(config: &Config, installation: &str) -> Queue {
        let queue_config = RedisQueueConfig::default()
            // One fetch can fill every delivery slot, and leaves the rest of a partner's share
            // (twice that, see delivery::feed) to the other gateway processes.
            .batch_size(config.server.max_concurrent as usize)
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
            waiting: Arc::new(Notify::new()),
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

    /// Tells this process's feeder that deliveries may be waiting for Redis: it looks at once
    /// rather than at its next tick. Many nudges before it looks make one look.
    pub fn nudge(&self) {
        self.waiting.notify_one();
    }

    /// Resolves at the next [`Queue::nudge`] (or at once for one given since the last look).
    pub async fn nudged(&self) {
        self.waiting.notified().await;
    }

    /// Pushes the jobs of (destination, generation) pairs, due now, in this order.
    pub async fn push_due(&self, due: &[(i64, i32)]) -> anyhow::Result<()> {
        let mut storage = self.storage().await?;
        let tasks: Vec<_> = due.iter().map(|&(id, generation)| job(&self.installation, id, generation)).collect();
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

    /// Jobs waiting in Redis (all due: later retries wait in PostgreSQL).
    pub async fn depth(&self) -> anyhow::Result<i64> {
        let mut storage = self.storage().await?;
        let active = storage.get_config().active_jobs_list();
        let due: i64 = redis::cmd("LLEN").arg(&active).query_async(storage.get_connection()).await?;
        Ok(due)
    }
}
