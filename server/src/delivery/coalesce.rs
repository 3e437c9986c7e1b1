//! Coalescing: a partner's aggregate submissions waiting for the same DHIS2 server and data
//! set go out in one `dataValueSets` request of up to the server's `coalesce_max_values`
//! values, instead of one request each. DHIS2 servers are overloaded by integrations that send
//! a request per tiny submission; a facility's monthly report split over many posts is the
//! common case.
//!
//! Each submission still gets its own attempt, outcome, counts and conflicts: the answer is
//! divided by the conflicts' value indexes ([`share`]), which DHIS2 gives from 2.38 (before
//! that, coalescing stays off). When DHIS2 refused the request as a whole or a group in it
//! for some member's values, each member is sent again alone at once, without using a retry.
//!
//! Who goes together: the leader (the delivery a worker claimed) and the same partner's other
//! due deliveries to the server with the same data set, import options and data value set
//! fields, none of them a completion (`completeDate`) or a release of held values, and none
//! waiting behind an earlier submission of the same org unit and period (so a correction
//! still reaches DHIS2 after what it corrects). One partner per request: every member's
//! attempt keeps the exact answer DHIS2 gave, and no partner sees another's values in it.

use chrono::Utc;
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

use super::attempt::{Attempted, Claim, ClaimRow, Deliverer, Heartbeat, LEASE, Part, record, renew, send, signal};
use crate::infra::dhis2::share::{self, Member, Regime, Split};
use crate::infra::dhis2::summary;
use crate::servers::Connection;
use crate::servers::flow::Slot;

/// How many of the partner's due deliveries to the server are looked at for company.
const LOOK_AHEAD: i64 = 500;

/// How many members' outcomes are recorded at once (each is a transaction of its own).
const RECORDERS: usize = 4;

/// The set-level fields each value is given explicitly, so that values of several
/// submissions can share one data value set.
const PER_VALUE: [&str; 3] = ["orgUnit", "period", "attributeOptionCombo"];

/// Who goes with a claimed delivery.
pub(super) enum Gathered {
    /// Nobody: it goes as it is.
    Alone(Claim),
    Together(Together),
}

/// The deliveries that go in one request; the leader first.
pub(super) struct Together {
    members: Vec<Claim>,
    regime: Regime,
}

impl Together {
    /// The deliveries, whose leases a heartbeat keeps.
    pub(super) fn destination_ids(&self) -> Vec<i64> {
        self.members.iter().map(|m| m.destination_id).collect()
    }
}

/// The leader and whoever may go with it, claimed under the leader's lease.
pub(super) async fn gather(d: &Deliverer, server: &Connection, leader: Claim, lease: &str) -> anyhow::Result<Gathered> {
    let room = server.coalesce_max_values.saturating_sub(leader.total);
    let eligible = leader.kind == "aggregate" && !leader.release && leader.payload.get("completeDate").is_none();
    if !eligible || room == 0 || server.coalesce_max_values < 2 {
        return Ok(Gathered::Alone(leader));
    }
    let Some(regime) = server.client.version().await.as_deref().and_then(Regime::of) else {
        return Ok(Gathered::Alone(leader));
    };
    let followers = sqlx::query_as!(
        ClaimRow,
        r#"WITH leader AS (
               SELECT d.partner_id, d.server_id, s.data_set, s.dhis2_query,
                      s.dhis2_payload - 'dataValues' - 'orgUnit' - 'period' - 'attributeOptionCombo' AS shell
               FROM submission_destinations d JOIN submission_log s ON s.id = d.submission_id
               WHERE d.id = $1 AND s.data_set IS NOT NULL),
           -- Each step reads only what the one before chose (MATERIALIZED, OFFSET 0): however
           -- the tables' statistics stand, the look-ahead bounds the work.
           due AS MATERIALIZED (
               SELECT d.id, d.submission_id FROM submission_destinations d, leader l
               WHERE d.partner_id = l.partner_id AND d.server_id = l.server_id AND d.id <> $1
                 AND d.status IN ('queued', 'retrying') AND COALESCE(d.next_attempt_at, '-infinity') <= now()
                 AND NOT EXISTS (SELECT 1 FROM value_outcomes v WHERE v.destination_id = d.id AND v.release)
               ORDER BY COALESCE(d.next_attempt_at, '-infinity'), d.id LIMIT $5),
           fitting AS (
               SELECT due.id, sum(alike.values) OVER (ORDER BY due.id) AS running
               FROM due, leader l, LATERAL (
                   SELECT jsonb_array_length(s.dhis2_payload->'dataValues') AS values
                   FROM submission_log s
                   WHERE s.id = due.submission_id AND s.kind = 'aggregate' AND s.data_set = l.data_set
                     AND s.dhis2_query IS NOT DISTINCT FROM l.dhis2_query
                     AND jsonb_typeof(s.dhis2_payload->'dataValues') = 'array'
                     AND NOT s.dhis2_payload ? 'completeDate'
                     AND s.dhis2_payload - 'dataValues' - 'orgUnit' - 'period' - 'attributeOptionCombo' = l.shell
                     -- Not behind an earlier submission of the same values still to go here.
                     AND NOT earlier_delivery_in(l.server_id, s.data_set, s.org_unit, s.period, s.id,
                                                 '{queued,processing,retrying}')
                   OFFSET 0) alike),
           claimed AS (
               UPDATE submission_destinations d
               SET status = 'processing', locked_by = $2, locked_until = now() + make_interval(secs => $3),
                   waits_for = NULL, in_queue = false
               FROM fitting f
               -- Checked again on the row itself: another worker may have claimed it meanwhile.
               WHERE d.id = f.id AND f.running <= $4 AND d.status IN ('queued', 'retrying')
               RETURNING d.id, d.submission_id, d.server_id, d.retry_count)
           UPDATE submission_log s SET status = 'processing'
           FROM claimed c WHERE s.id = c.submission_id
           RETURNING c.id AS destination_id, c.submission_id, c.server_id, c.retry_count, s.kind,
               s.dhis2_payload AS "payload!", s.value_keys, s.dhis2_query,
               (SELECT count(*) FROM delivery_attempts a WHERE a.destination_id = c.id) AS "attempts!",
               ARRAY[]::integer[] AS "held!""#,
        leader.destination_id,
        lease,
        LEASE.as_secs_f64(),
        room as i64,
        LOOK_AHEAD,
    )
    .fetch_all(&d.db)
    .await?;
    if followers.is_empty() {
        return Ok(Gathered::Alone(leader));
    }
    let mut members = vec![leader];
    members.extend(followers.into_iter().map(Claim::from));
    // In the order they were stored: DHIS2 meets them as it would have one by one.
    members[1..].sort_by_key(|m| m.submission_id);
    Ok(Gathered::Together(Together { members, regime }))
}

/// Sends the members in one request and records each one's part of the answer; a request
/// refused as a whole is recorded for each, and each is then sent alone.
pub(super) async fn deliver(
    d: &Deliverer,
    server: &Connection,
    slot: Slot<'_>,
    together: Together,
    lease: &str,
    heartbeat: Heartbeat,
) -> anyhow::Result<()> {
    let Together { members, regime } = together;
    let slices: Vec<Value> = members.iter().map(|m| explicit(&m.payload)).collect();
    let sizes: Vec<usize> = slices.iter().map(|s| s["dataValues"].as_array().map_or(0, Vec::len)).collect();
    let mut combined = slices[0].clone();
    combined["dataValues"] =
        slices.iter().flat_map(|s| s["dataValues"].as_array().cloned().unwrap_or_default()).collect();
    let (started_at, sent) = send(d, server, &Claim { payload: combined, ..members[0].clone() }).await;
    let version = server.client.version().await;
    let split = match &sent {
        Ok(answer) => {
            let seen = seen_before(d, &members).await?;
            let sharing: Vec<Member> = sizes.iter().zip(seen).map(|(&values, seen)| Member { values, seen }).collect();
            share::split(regime, answer.status, &answer.body, &sharing)
        }
        Err(_) => Split::Same,
    };
    let batch_id = uuid::Uuid::new_v4().to_string();
    let (count, total) = (members.len(), sizes.iter().sum::<usize>());
    let firsts: Vec<usize> = sizes.iter().scan(0, |at, size| Some(std::mem::replace(at, *at + size))).collect();
    let batch = |first: usize, counts_exact: Option<bool>| json!({"id": batch_id, "members": count, "values": total, "first": first, "counts_exact": counts_exact});
    tracing::info!(batch = %batch_id, members = count, values = total, "sent together");
    let parts: Vec<Option<share::Share>> = match (split, &sent) {
        (Split::Shares(shares), _) => shares.into_iter().map(Some).collect(),
        (Split::Alone, Ok(answer)) => {
            for ((member, slice), &first) in members.iter().zip(&slices).zip(&firsts) {
                let refused = Refused { answer, started_at, version: version.as_deref(), batch: batch(first, None) };
                refused_together(d, lease, member, slice, refused).await?;
            }
            let mut heartbeat = Some(heartbeat);
            let mut last = signal(&sent);
            for (i, member) in members.into_iter().enumerate() {
                let (started_at, sent) = send(d, server, &member).await;
                last = signal(&sent);
                if i + 1 == count {
                    // Stopped before the last recording, which releases the last lease.
                    heartbeat.take();
                }
                record(d, lease, &member, Attempted { started_at, sent, version: version.clone(), share: None })
                    .await?;
            }
            slot.finish(last);
            return Ok(());
        }
        // No summary, or no answer at all: the same for everyone.
        _ => members.iter().map(|_| None).collect(),
    };
    slot.finish(signal(&sent));
    // Stopped before recording, which releases the leases one by one: a beat in between would
    // take the released ones for lost. A fresh lease instead covers the recording.
    drop(heartbeat);
    let ids: Vec<i64> = members.iter().map(|m| m.destination_id).collect();
    renew(&d.db, &ids, lease).await?;
    let records = members.into_iter().zip(slices).zip(parts).zip(firsts).map(|(((member, slice), own), first)| {
        let part = Part { batch: batch(first, own.as_ref().map(|own| own.counts_exact)), own };
        let attempted = Attempted { started_at, sent: sent.clone(), version: version.clone(), share: Some(part) };
        async move { record(d, lease, &Claim { payload: slice, ..member }, attempted).await }
    });
    let recorded: Vec<anyhow::Result<()>> = stream::iter(records).buffer_unordered(RECORDERS).collect().await;
    recorded.into_iter().collect()
}

/// For each member, whether an earlier submission of its data set, org unit and period was
/// stored on the server: its values are then more likely updates than new.
async fn seen_before(d: &Deliverer, members: &[Claim]) -> sqlx::Result<Vec<bool>> {
    let ids: Vec<i64> = members.iter().map(|m| m.destination_id).collect();
    sqlx::query_scalar!(
        r#"SELECT earlier_delivery_in(d.server_id, s.data_set, s.org_unit, s.period, s.id, '{succeeded,warning}') AS "seen!"
           FROM unnest($1::bigint[]) WITH ORDINALITY AS m(id, position)
           JOIN submission_destinations d ON d.id = m.id
           JOIN submission_log s ON s.id = d.submission_id
           ORDER BY m.position"#,
        &ids
    )
    .fetch_all(&d.db)
    .await
}

/// A data value set's values with the set's org unit, period and attribute option combo
/// written into each (a value's own win), and those set fields gone: what this submission's
/// values look like inside a request shared with others.
fn explicit(payload: &Value) -> Value {
    let mut slice = payload.clone();
    if let Some(values) = slice["dataValues"].as_array_mut() {
        for value in values.iter_mut().filter(|v| v.is_object()) {
            for field in PER_VALUE {
                if value[field].is_null() && !payload[field].is_null() {
                    value[field] = payload[field].clone();
                }
            }
        }
    }
    if let Some(set) = slice.as_object_mut() {
        for field in PER_VALUE {
            set.remove(field);
        }
    }
    slice
}

/// A request DHIS2 refused as a whole, as one member's attempt records it.
struct Refused<'a> {
    answer: &'a crate::infra::dhis2::Answer,
    started_at: chrono::DateTime<Utc>,
    version: Option<&'a str>,
    batch: Value,
}

/// Records, for one member, the shared request DHIS2 refused as a whole: an attempt that
/// stored nothing and is followed at once by the member's own. Its state is left to that one.
async fn refused_together(
    d: &Deliverer,
    lease: &str,
    member: &Claim,
    slice: &Value,
    refused: Refused<'_>,
) -> sqlx::Result<()> {
    let Refused { answer, started_at, version, batch } = refused;
    let meaning = summary::interpret(answer.status, &answer.body);
    let others = batch["members"].as_u64().unwrap_or(1).saturating_sub(1);
    let reason = meaning.error.unwrap_or_else(|| format!("HTTP {}", answer.status));
    let error = format!(
        "Sent in one request with {others} other submission(s); DHIS2 refused that request as a whole ({reason}), so each was sent again on its own"
    );
    sqlx::query!(
        r#"INSERT INTO delivery_attempts (submission_id, destination_id, attempt, started_at, duration_ms, request_url,
               request_payload, http_status, dhis2_version, response_body, import_status, conflicts, outcome, error, batch)
           SELECT $1, $2, (SELECT count(*) + 1 FROM delivery_attempts WHERE destination_id = $2), $3, $4, $5, $6, $7, $8,
               $9, $10, '[]', 'retry', $11, $12
           WHERE EXISTS (SELECT 1 FROM submission_destinations WHERE id = $2 AND locked_by = $13)"#,
        member.submission_id,
        member.destination_id,
        started_at,
        answer.duration.as_millis().min(i32::MAX as u128) as i32,
        answer.url,
        slice,
        answer.status as i32,
        version,
        Some(&answer.body).filter(|_| d.config.api.save_response),
        meaning.import_status,
        error,
        batch,
        lease,
    )
    .execute(&d.db)
    .await?;
    Ok(())
}
