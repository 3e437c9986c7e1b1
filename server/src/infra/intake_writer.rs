//! Group commit for the intake. Every accepted submission is a row in `submission_log` and one
//! in `submission_destinations` per DHIS2 server, written before the partner gets an answer.
//! One statement per submission, PostgreSQL spends its time on what every statement costs
//! (planning, opening the log's fourteen indexes, a WAL flush per commit): pgbench with the
//! intake's statement did 2,150 submissions/s one at a time and 10,200/s twenty at a time. So
//! submissions that arrive together are stored together, one statement and one commit, each
//! still with its own id and answer. A submission alone waits for nobody: a batch is whatever
//! is waiting when a writer is free. Measured end to end (`benches/performance.rs`, 32 partners):
//! 2,311/s and p99 27 ms one at a time; 64 × 3 writers 2,546/s, p99 60 ms; 16 × 6 3,353/s, p99
//! 22 ms; 8 × 8 3,377/s, p99 19.7 ms. Once the search index was merged outside requests (the
//! scheduler's `search-index` job), on a faster machine: 8 × 8 4,258–4,489/s, p99 16 ms;
//! 16 × 4 4,953/s, p99 13.7 ms; 32 × 2 3,393/s, p99 53 ms.

use std::sync::Arc;

use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::{Mutex, mpsc, oneshot};

/// Most submissions in one statement.
const MAX_BATCH: usize = 16;
/// Statements in progress at once: while some wait for their commit, others are sent.
const WRITERS: usize = 4;

/// A submission as stored.
pub struct NewRow {
    pub kind: &'static str,
    pub user_id: Option<i64>,
    /// As the partner sent it.
    pub payload: Value,
    /// As DHIS2 is to get it.
    pub dhis2_payload: Value,
    pub value_keys: Value,
    pub warnings: Value,
    pub task_id: String,
    pub source_name: String,
    pub instance_name: String,
    pub data_set: Option<String>,
    pub org_unit: Option<String>,
    pub period: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub idempotent_response: Option<Value>,
    pub dhis2_query: Option<String>,
    pub job_uid: Option<String>,
    /// Sent as a standard document: its format, and its part of the document as sent.
    pub source_format: Option<&'static str>,
    pub source_document: Option<String>,
    /// The DHIS2 servers it goes to, each a delivery.
    pub destinations: Vec<i64>,
}

/// Stores `rows` (each with its deliveries) in one statement; their ids, in order.
pub async fn insert(db: impl sqlx::PgExecutor<'_>, rows: &[NewRow]) -> sqlx::Result<Vec<i64>> {
    let column = |f: fn(&NewRow) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
    let json = |f: fn(&NewRow) -> &Value| rows.iter().map(f).collect::<Vec<_>>();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind).collect();
    let users: Vec<Option<i64>> = rows.iter().map(|r| r.user_id).collect();
    let responses: Vec<Option<&Value>> = rows.iter().map(|r| r.idempotent_response.as_ref()).collect();
    // One text per row, the destinations' ids joined: SQL arrays cannot be ragged.
    let destinations: Vec<String> =
        rows.iter().map(|r| r.destinations.iter().map(i64::to_string).collect::<Vec<_>>().join(",")).collect();
    let ids = sqlx::query_scalar!(
        r#"WITH new AS (
               SELECT * FROM unnest($1::text[], $2::bigint[], $3::jsonb[], $4::jsonb[], $5::jsonb[], $6::jsonb[],
                   $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
                   $15::jsonb[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[])
                   WITH ORDINALITY AS n(kind, user_id, payload, dhis2_payload, value_keys, warnings, task_id, source_name,
                       instance_name, data_set, org_unit, period, idempotency_key, request_hash, idempotent_response,
                       dhis2_query, job_uid, destinations, source_format, source_document, position)),
           s AS (
               -- In arrival order, so a later submission of the same values has the higher id.
               INSERT INTO submission_log (kind, user_id, payload, dhis2_payload, value_keys, warnings, task_id, source_name,
                   instance_name, data_set, org_unit, period, idempotency_key, request_hash, idempotent_response,
                   dhis2_query, job_uid, source_format, source_document)
               SELECT kind, user_id, payload, dhis2_payload, value_keys, warnings, task_id, source_name, instance_name,
                   data_set, org_unit, period, idempotency_key, request_hash, idempotent_response, dhis2_query, job_uid,
                   source_format, source_document
               FROM new ORDER BY position
               RETURNING id, task_id, user_id),
           d AS (
               INSERT INTO submission_destinations (submission_id, server_id, partner_id)
               SELECT s.id, server::bigint, COALESCE(s.user_id, 0)
               FROM s JOIN new USING (task_id), unnest(string_to_array(new.destinations, ',')) AS server)
           SELECT s.id AS "id!" FROM s JOIN new USING (task_id) ORDER BY new.position"#,
        &kinds as &[&str],
        &users as &[Option<i64>],
        &json(|r| &r.payload) as &[&Value],
        &json(|r| &r.dhis2_payload) as &[&Value],
        &json(|r| &r.value_keys) as &[&Value],
        &json(|r| &r.warnings) as &[&Value],
        &column(|r| Some(&r.task_id)) as &[Option<&str>],
        &column(|r| Some(&r.source_name)) as &[Option<&str>],
        &column(|r| Some(&r.instance_name)) as &[Option<&str>],
        &column(|r| r.data_set.as_deref()) as &[Option<&str>],
        &column(|r| r.org_unit.as_deref()) as &[Option<&str>],
        &column(|r| r.period.as_deref()) as &[Option<&str>],
        &column(|r| r.idempotency_key.as_deref()) as &[Option<&str>],
        &column(|r| r.request_hash.as_deref()) as &[Option<&str>],
        &responses as &[Option<&Value>],
        &column(|r| r.dhis2_query.as_deref()) as &[Option<&str>],
        &column(|r| r.job_uid.as_deref()) as &[Option<&str>],
        &destinations,
        &column(|r| r.source_format) as &[Option<&str>],
        &column(|r| r.source_document.as_deref()) as &[Option<&str>],
    )
    .fetch_all(db)
    .await?;
    Ok(ids)
}

/// Stores one submission (see [`insert`]); its id.
pub async fn insert_one(db: impl sqlx::PgExecutor<'_>, row: &NewRow) -> sqlx::Result<i64> {
    insert(db, std::slice::from_ref(row)).await?.first().copied().ok_or(sqlx::Error::RowNotFound)
}

type Pending = (NewRow, oneshot::Sender<sqlx::Result<i64>>);

/// Stores submissions in batches of whatever arrived together (see the module's notes).
#[derive(Clone)]
pub struct IntakeWriter {
    sender: mpsc::Sender<Pending>,
}

impl IntakeWriter {
    /// Starts the writers, which stop when the last `IntakeWriter` is dropped.
    pub fn start(db: PgPool) -> IntakeWriter {
        let (sender, receiver) = mpsc::channel::<Pending>(MAX_BATCH * WRITERS * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..WRITERS {
            tokio::spawn(write_batches(db.clone(), receiver.clone()));
        }
        IntakeWriter { sender }
    }

    /// Stores one submission, committed with whatever else is being accepted now; its id.
    pub async fn store(&self, row: NewRow) -> sqlx::Result<i64> {
        let (answer, stored) = oneshot::channel();
        let gone = || sqlx::Error::WorkerCrashed;
        self.sender.send((row, answer)).await.map_err(|_| gone())?;
        stored.await.map_err(|_| gone())?
    }
}

/// One writer: takes what is waiting (at least one, at most [`MAX_BATCH`]) and stores it.
async fn write_batches(db: PgPool, receiver: Arc<Mutex<mpsc::Receiver<Pending>>>) {
    loop {
        let mut batch = Vec::new();
        {
            let mut waiting = receiver.lock().await;
            if waiting.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return;
            }
        }
        let (rows, answers): (Vec<NewRow>, Vec<_>) = batch.into_iter().unzip();
        match insert(&db, &rows).await {
            Ok(ids) => {
                for (answer, id) in answers.into_iter().zip(ids) {
                    // A partner that hung up still has its submission stored.
                    let _ = answer.send(Ok(id));
                }
            }
            // One bad row must not cost the others theirs: each alone, each its own answer.
            Err(e) if rows.len() > 1 => {
                tracing::warn!(error = %e, submissions = rows.len(), "a batch of submissions failed; storing each alone");
                for (row, answer) in rows.into_iter().zip(answers) {
                    let _ = answer.send(insert_one(&db, &row).await);
                }
            }
            Err(e) => {
                let _ = answers.into_iter().next().map(|answer| answer.send(Err(e)));
            }
        }
    }
}
