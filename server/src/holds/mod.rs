//! The hold queue: values DHIS2 refused only because their period is closed (expiry days,
//! future or input periods) or their data approved wait here instead of failing, grouped by
//! server, data set, period, org unit and attribute option combo, since DHIS2 opens (or keeps
//! closed) such a group as one.
//!
//! A re-check (on `api.hold_recheck_cron`, or on demand) asks DHIS2 about each group with a
//! dry run of one of its values: DHIS2 applies its own rules (lock exceptions, approval
//! state, the data set's current expiry and input periods, the account's authorities), so
//! the gateway never guesses. A group DHIS2 would accept now is released: its destinations
//! are queued again and the workers send only their held values ([`values`]), so nothing
//! already stored is sent twice. Held values older than `api.hold_max_days` fail.

pub mod values;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use dhis2gw_wire::period::Period;
use dhis2gw_wire::{
    HeldGroup, HeldResult, HeldSelection, HeldSummary, RefusalClass, Role, ValueOutcome, refusal_sentence,
};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::access::audit::{self, Actor};
use crate::access::identity::AuthUser;
use crate::app::AppState;
use crate::infra::dhis2::summary::{self, Verdict};
use crate::infra::error::{AppError, AppResult};
use crate::metadata::Snapshot;
use crate::orgunits;
use crate::servers::Connection;

/// The selection as `held_values(jsonb)` takes it (an empty string selects values without
/// one): a partner's own values only.
fn criteria(selection: &HeldSelection, caller: Option<&AuthUser>) -> Value {
    let trimmed = |s: &Option<String>| s.as_deref().map(|s| s.trim().to_string());
    json!({
        "server_id": selection.server_id,
        "data_set": trimmed(&selection.data_set),
        "period": trimmed(&selection.period),
        "org_unit": trimmed(&selection.org_unit),
        "attribute_option_combo": trimmed(&selection.attribute_option_combo),
        "owner": caller.filter(|c| c.role == Role::Partner).map(|c| c.id),
    })
}

/// The held groups the caller may see (a partner its own), oldest first.
pub async fn groups(state: &AppState, caller: &AuthUser, selection: &HeldSelection) -> AppResult<Vec<HeldGroup>> {
    let rows = sqlx::query!(
        r#"SELECT d.server_id, sv.name AS server, v.data_set, v.period AS "period!", v.org_unit AS "org_unit!",
               v.attribute_option_combo, min(v.class) AS "class!", min(v.error_code) AS error_code,
               min(v.message) AS message, count(*) AS "values!", count(DISTINCT v.submission_id) AS "submissions!",
               array_remove(array_agg(DISTINCT u.username), NULL) AS "partners!",
               min(v.held_since) AS "oldest!", max(v.checked_at) AS last_checked_at
           FROM held_values($1) v
           JOIN submission_destinations d ON d.id = v.destination_id
           JOIN dhis2_servers sv ON sv.id = d.server_id
           JOIN submission_log s ON s.id = v.submission_id
           LEFT JOIN users u ON u.id = s.user_id
           WHERE v.period IS NOT NULL AND v.org_unit IS NOT NULL
           GROUP BY d.server_id, sv.name, v.data_set, v.period, v.org_unit, v.attribute_option_combo
           ORDER BY min(v.held_since), d.server_id"#,
        criteria(selection, Some(caller)),
    )
    .fetch_all(&state.db)
    .await?;
    let units: Vec<String> = rows.iter().map(|r| r.org_unit.clone()).collect();
    let names = orgunits::names(&state.db, &units).await?;
    let snapshot = state.metadata.snapshot();
    Ok(rows
        .into_iter()
        .map(|r| {
            let class = r.class.parse().unwrap_or(RefusalClass::ClosedPeriod);
            let data_set = r.data_set.as_deref().and_then(|d| snapshot.data_set(d));
            let org_unit_path = names.get(&r.org_unit).map(|(_, path)| path.clone());
            let period = Period::parse(&r.period).ok();
            let period_label = period.as_ref().map_or_else(|| r.period.clone(), Period::label);
            let place = [org_unit_path.clone().unwrap_or_else(|| r.org_unit.clone()), period_label.clone()]
                .into_iter()
                .chain(data_set.map(|d| d.name.clone()).or_else(|| r.data_set.clone()))
                .collect::<Vec<_>>()
                .join(", ");
            // 2.43 words expiry, future and input periods alike ("Untimely data entry"): the
            // period and the data set tell them apart.
            let situation = Situation {
                not_started: period.is_some_and(|p| p.start() > chrono::Utc::now().date_naive()),
                input_periods: data_set.is_some_and(|d| d.has_input_periods),
                expiry_days: data_set.map_or(0, |d| d.expiry_days),
            };
            let reason = format!("{place}: {}", why_held(class, r.message.as_deref().unwrap_or_default(), situation));
            HeldGroup {
                server_id: r.server_id,
                server: r.server,
                data_set_name: data_set.map(|d| d.name.clone()),
                data_set: r.data_set,
                period: r.period,
                period_label,
                org_unit: r.org_unit,
                org_unit_path,
                attribute_option_combo: r.attribute_option_combo,
                class,
                error_code: r.error_code,
                reason,
                values: r.values,
                submissions: r.submissions,
                partners: r.partners,
                oldest: r.oldest,
                last_checked_at: r.last_checked_at,
            }
        })
        .collect())
}

/// What the gateway knows of a held group's period and data set.
#[derive(Clone, Copy, Default)]
struct Situation {
    /// The period has not started yet.
    not_started: bool,
    /// The data set limits entry to listed input periods.
    input_periods: bool,
    expiry_days: i64,
}

/// Why DHIS2 keeps a group closed and what it needs, from its class, DHIS2's message and the
/// situation.
fn why_held(class: RefusalClass, message: &str, situation: Situation) -> String {
    let text = message.to_ascii_lowercase();
    let says = |words: &[&str]| words.iter().any(|w| text.contains(w));
    let Situation { not_started, input_periods, expiry_days } = situation;
    match class {
        RefusalClass::Approved => {
            "already approved in DHIS2; it needs to be unapproved before DHIS2 accepts changes".into()
        }
        _ if says(&["future"]) || not_started => {
            "not open for entry yet (the data set accepts few future periods); it opens by itself as time passes".into()
        }
        _ if says(&["input period", "open for this data set", "open periods"]) || input_periods => {
            "outside the data set's input periods; DHIS2 needs this period opened for entry".into()
        }
        _ if expiry_days > 0 => format!(
            "closed for entry {expiry_days} days after the period; DHIS2 needs a lock exception or the data set's expiry raised"
        ),
        _ => "closed for entry; DHIS2 needs a lock exception or the data set's expiry raised".into(),
    }
}

/// One group of held values, and one of them to ask DHIS2 about.
struct Group {
    server_id: i64,
    selection: Value,
    describe: String,
    value_index: i32,
    payload: Value,
    query: Option<String>,
}

/// Asks DHIS2 about each selected group (all, when the selection is empty) and releases those
/// it would accept now; fails first what was held longer than `hold_max_days`. `caller` is
/// `None` for the scheduler.
pub async fn recheck(state: &AppState, caller: Option<&AuthUser>, selection: &HeldSelection) -> AppResult<HeldResult> {
    let mut result =
        HeldResult { dropped: expire(&state.db, state.config.api.hold_max_days).await?, ..Default::default() };
    let criteria = criteria(selection, caller);
    let mut servers: HashMap<i64, Result<Connection, String>> = HashMap::new();
    for group in sample_groups(&state.db, &criteria).await? {
        result.checked += 1;
        if let std::collections::hash_map::Entry::Vacant(slot) = servers.entry(group.server_id) {
            slot.insert(state.servers.connection(group.server_id).await.map_err(|e| format!("{e:#}")));
        }
        let open = match &servers[&group.server_id] {
            Ok(server) => door_open(server, &group).await,
            Err(why) => Err(why.clone()),
        };
        match open {
            Ok(true) => {
                result.opened += 1;
                result.released += release_selected(state, &group.selection).await?;
            }
            Ok(false) => {
                sqlx::query!(
                    "UPDATE value_outcomes SET checked_at = now() WHERE id IN (SELECT id FROM held_values($1))",
                    group.selection
                )
                .execute(&state.db)
                .await?;
            }
            Err(why) => result.errors.push(format!("{}: {why}", group.describe)),
        }
    }
    result.still_held = summary(&state.db, &criteria).await?.values as usize;
    if result != HeldResult::default() {
        tracing::info!(?result, "held values re-checked");
    }
    Ok(result)
}

/// The selected held values at a glance (`json!({})`: all, for the overview).
pub async fn summary(db: &PgPool, criteria: &Value) -> sqlx::Result<HeldSummary> {
    sqlx::query_as!(
        HeldSummary,
        r#"SELECT count(*) AS "values!", count(DISTINCT v.submission_id) AS "submissions!",
               count(DISTINCT (d.server_id, v.data_set, v.period, v.org_unit, v.attribute_option_combo)) AS "groups!",
               min(v.held_since) AS oldest
           FROM held_values($1) v JOIN submission_destinations d ON d.id = v.destination_id"#,
        criteria
    )
    .fetch_one(db)
    .await
}

/// Held values by class, for Prometheus.
pub async fn by_class(db: &PgPool) -> sqlx::Result<Vec<(RefusalClass, i64)>> {
    let rows = sqlx::query!(
        r#"SELECT class AS "class!", count(*) AS "n!" FROM held_values('{}') WHERE class IS NOT NULL GROUP BY class"#
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().filter_map(|r| Some((r.class.parse().ok()?, r.n))).collect())
}

/// Sends the selected held values again without asking DHIS2 first ("release anyway").
pub async fn release(state: &AppState, caller: &AuthUser, selection: &HeldSelection) -> AppResult<HeldResult> {
    let criteria = criteria(selection, Some(caller));
    let groups = summary(&state.db, &criteria).await?.groups as usize;
    let released = release_selected(state, &criteria).await?;
    audit::record(&state.db, Actor::User(caller), "held.release", "held", &describe(selection), json!(selection))
        .await?;
    let still_held = summary(&state.db, &criteria).await?.values as usize;
    Ok(HeldResult { checked: 0, opened: groups, released, still_held, ..Default::default() })
}

/// Gives the selected held values up, with the administrator's reason (audited): they fail,
/// and their submissions end `warning` (some values reached DHIS2) or `failed`.
pub async fn discard(state: &AppState, caller: &AuthUser, selection: &HeldSelection) -> AppResult<HeldResult> {
    let reason = selection
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| AppError::invalid_field("reason", "say why the held values are discarded"))?;
    let criteria = criteria(selection, Some(caller));
    let mut tx = state.db.begin().await?;
    let waiting = lock_held(&mut tx, &criteria).await?;
    let destinations = sqlx::query_scalar!(
        r#"UPDATE value_outcomes SET outcome = 'discarded', decided_at = now(), held_since = NULL,
               message = 'Discarded by ' || $2 || ': ' || $3
           WHERE id IN (SELECT id FROM held_values($1)) AND destination_id = ANY($4) RETURNING destination_id"#,
        criteria,
        caller.username,
        reason,
        &waiting,
    )
    .fetch_all(&mut *tx)
    .await?;
    let dropped = destinations.len();
    settle(&mut tx, &destinations, &format!("held values discarded by {}: {reason}", caller.username)).await?;
    let detail = json!({"selection": selection, "values": dropped});
    audit::record(&mut *tx, Actor::User(caller), "held.discard", "held", &describe(selection), detail).await?;
    tx.commit().await?;
    let still_held = summary(&state.db, &criteria).await?.values as usize;
    Ok(HeldResult { dropped, still_held, ..Default::default() })
}

/// Held values older than `max_days` expire; returns how many. Values of a destination being
/// released are left to that delivery.
pub async fn expire(db: &PgPool, max_days: u32) -> sqlx::Result<usize> {
    let days = i32::try_from(max_days).unwrap_or(i32::MAX);
    let mut tx = db.begin().await?;
    let waiting = lock_held(&mut tx, &json!({})).await?;
    let destinations = sqlx::query_scalar!(
        r#"UPDATE value_outcomes SET outcome = 'expired', decided_at = now(), held_since = NULL,
               message = 'Held for more than ' || $1 || ' days: ' || COALESCE(message, '')
           WHERE outcome = 'held' AND held_since < now() - make_interval(days => $1) AND destination_id = ANY($2)
           RETURNING destination_id"#,
        days,
        &waiting,
    )
    .fetch_all(&mut *tx)
    .await?;
    settle(&mut tx, &destinations, &format!("values held for more than {max_days} days (hold_max_days) failed"))
        .await?;
    tx.commit().await?;
    Ok(destinations.len())
}

/// Locks the destinations still waiting on the selected held values, so a release (or a
/// worker) cannot take them up meanwhile; returns their ids.
async fn lock_held(tx: &mut sqlx::PgConnection, criteria: &Value) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        r#"SELECT id FROM submission_destinations
           WHERE status = 'held' AND id IN (SELECT destination_id FROM held_values($1))
           ORDER BY id FOR UPDATE"#,
        criteria
    )
    .fetch_all(&mut *tx)
    .await
}

/// Destinations with nothing left on hold get their final status, and their submissions too.
async fn settle(tx: &mut sqlx::PgConnection, destinations: &[i64], reason: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "SELECT refresh_submission_status(sub) FROM (SELECT DISTINCT settle_held($1, $2) AS sub) s",
        destinations,
        reason
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(())
}

/// Queues the destinations that hold selected values, marking just those values for their
/// next delivery (others of the same destination keep waiting). Returns how many go out.
async fn release_selected(state: &AppState, criteria: &Value) -> AppResult<usize> {
    let mut tx = state.db.begin().await?;
    let waiting = lock_held(&mut tx, criteria).await?;
    let released = sqlx::query!(
        r#"WITH chosen AS (
               UPDATE value_outcomes SET release = true
               WHERE id IN (SELECT id FROM held_values($1)) AND destination_id = ANY($2)
               RETURNING destination_id),
           released AS (
               UPDATE submission_destinations
               SET status = 'queued', retry_count = 0, next_attempt_at = NULL
               WHERE id IN (SELECT destination_id FROM chosen)
               RETURNING id, submission_id)
           SELECT r.id, r.submission_id,
               (SELECT count(*) FROM chosen c WHERE c.destination_id = r.id) AS "values!"
           FROM released r"#,
        criteria,
        &waiting,
    )
    .fetch_all(&mut *tx)
    .await?;
    for r in &released {
        sqlx::query_scalar!("SELECT refresh_submission_status($1)", r.submission_id).fetch_one(&mut *tx).await?;
    }
    tx.commit().await?;
    state.queue.nudge();
    Ok(released.iter().map(|r| r.values as usize).sum())
}

/// Each held group of the selection with its oldest value, to ask DHIS2 about.
async fn sample_groups(db: &PgPool, criteria: &Value) -> sqlx::Result<Vec<Group>> {
    let rows = sqlx::query!(
        r#"SELECT g.server_id AS "server_id!", g.data_set, g.period, g.org_unit, g.attribute_option_combo,
               v.value_index, s.dhis2_payload AS "payload!", s.dhis2_query
           FROM (SELECT d.server_id, h.data_set, h.period, h.org_unit, h.attribute_option_combo, min(h.id) AS sample
                 FROM held_values($1) h JOIN submission_destinations d ON d.id = h.destination_id
                 -- A server an admin paused is not asked either.
                 JOIN dhis2_servers sv ON sv.id = d.server_id AND sv.enabled
                 GROUP BY d.server_id, h.data_set, h.period, h.org_unit, h.attribute_option_combo) g
           JOIN value_outcomes v ON v.id = g.sample
           JOIN submission_log s ON s.id = v.submission_id
           WHERE s.dhis2_payload IS NOT NULL
           ORDER BY g.sample"#,
        criteria
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut selection = criteria.clone();
            selection["server_id"] = json!(r.server_id);
            for (key, value) in [
                ("data_set", &r.data_set),
                ("period", &r.period),
                ("org_unit", &r.org_unit),
                ("attribute_option_combo", &r.attribute_option_combo),
            ] {
                // Exactly this group: "" selects values without one.
                selection[key] = json!(value.as_deref().unwrap_or_default());
            }
            let describe = [&r.org_unit, &r.period, &r.data_set].into_iter().flatten().cloned().collect::<Vec<_>>();
            Group {
                server_id: r.server_id,
                selection,
                describe: describe.join(" "),
                value_index: r.value_index,
                payload: r.payload,
                query: r.dhis2_query,
            }
        })
        .collect())
}

/// Whether DHIS2 would accept the group's values now: a dry run of one of them, with the
/// submission's own import options, is refused for no closed period or approval.
async fn door_open(server: &Connection, group: &Group) -> Result<bool, String> {
    let position = usize::try_from(group.value_index).map_err(|_| "a held value without a position".to_string())?;
    let probe = values::subset(&group.payload, &[position]);
    let answer = server
        .client
        .post_data_value_set(&probe, &dry_run_query(group.query.as_deref()))
        .await
        .map_err(|e| e.message)?;
    let meaning = summary::interpret(answer.status, &answer.body);
    // Only an import summary says what DHIS2 thinks of the value; anything else (a retry, a
    // 400 about the request) is reported, not taken for an open door.
    if matches!(meaning.verdict, Verdict::Retry | Verdict::Unavailable) || meaning.import_status.is_none() {
        return Err(meaning.error.unwrap_or_else(|| format!("DHIS2 answered HTTP {}", answer.status)));
    }
    Ok(!values::refusals(&probe, &meaning, Some(answer.status)).iter().any(|r| r.class.is_held()))
}

/// The submission's import options (its id schemes matter) as a synchronous dry run.
fn dry_run_query(query: Option<&str>) -> String {
    let kept = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(key, _)| !matches!(key.as_ref(), "dryRun" | "async"))
        .collect::<Vec<_>>();
    form_urlencoded::Serializer::new(String::new()).extend_pairs(kept).append_pair("dryRun", "true").finish()
}

fn describe(selection: &HeldSelection) -> String {
    let parts: Vec<String> = [&selection.org_unit, &selection.period, &selection.data_set]
        .into_iter()
        .flatten()
        .cloned()
        .chain(selection.server_id.map(|s| format!("server {s}")))
        .collect();
    if parts.is_empty() { "all".into() } else { parts.join(" ") }
}

/// Every value of a submission at each server that answered for it: what DHIS2 did not store
/// (with why and who must act, in words), and what it stored or already had.
pub async fn outcomes(
    state: &AppState,
    submission_id: i64,
    payload: Option<&Value>,
    keys: &[String],
) -> AppResult<Vec<ValueOutcome>> {
    let rows = sqlx::query_as!(
        OutcomeRow,
        r#"SELECT v.destination_id, sv.name AS server, v.value_index, v.partner_key, v.data_element,
               v.category_option_combo, v.attribute_option_combo, v.org_unit, v.period, v.outcome, v.class,
               v.error_code, v.message, v.decided_at, s.id AS submission_id, s.submitted_at, u.username AS "username?"
           FROM value_outcomes v JOIN submission_destinations d ON d.id = v.destination_id
           JOIN dhis2_servers sv ON sv.id = d.server_id
           JOIN submission_log s ON s.id = v.submission_id LEFT JOIN users u ON u.id = s.user_id
           WHERE v.submission_id = $1 ORDER BY d.id, v.value_index"#,
        submission_id
    )
    .fetch_all(&state.db)
    .await?;
    // Destinations DHIS2 answered: what their last answer stored, or found unchanged.
    let answered = sqlx::query!(
        r#"SELECT DISTINCT ON (d.id) d.id, sv.name AS server, a.import_count, a.started_at
           FROM submission_destinations d JOIN dhis2_servers sv ON sv.id = d.server_id
           JOIN delivery_attempts a ON a.destination_id = d.id
           WHERE d.submission_id = $1 AND a.outcome IN ('succeeded', 'warning', 'held', 'failed')
           ORDER BY d.id, a.attempt DESC"#,
        submission_id
    )
    .fetch_all(&state.db)
    .await?;
    let snapshot = state.metadata.snapshot();
    let mut by_destination: HashMap<i64, Vec<ValueOutcome>> = HashMap::new();
    for r in rows {
        by_destination.entry(r.destination_id).or_default().push(r.into_outcome(&snapshot));
    }
    let payload = payload.unwrap_or(&Value::Null);
    let count = payload["dataValues"].as_array().map_or(0, Vec::len);
    let mut all = Vec::new();
    for destination in answered {
        let mut decided = by_destination.remove(&destination.id).unwrap_or_default();
        let stored = destination
            .import_count
            .as_ref()
            .is_some_and(|c| ["imported", "updated", "deleted"].iter().any(|k| c[k].as_i64().unwrap_or(0) > 0));
        let accepted = if stored { "stored" } else { "unchanged" };
        for index in 0..count {
            if decided.iter().any(|v| v.index as usize == index) {
                continue;
            }
            let identity = values::identity(payload, index);
            decided.push(ValueOutcome {
                server: destination.server.clone(),
                index: index as i32,
                partner_key: keys.get(index).cloned(),
                data_element: identity.data_element,
                category_option_combo: identity.category_option_combo,
                attribute_option_combo: identity.attribute_option_combo,
                org_unit: identity.org_unit,
                period: identity.period,
                outcome: accepted.into(),
                class: None,
                error_code: None,
                message: None,
                sentence: None,
                decided_at: Some(destination.started_at),
            });
        }
        decided.sort_by_key(|v| v.index);
        all.extend(decided);
    }
    Ok(all)
}

/// A value DHIS2 did not store, with its submission, as the log reads it.
pub struct OutcomeRow {
    pub destination_id: i64,
    /// The DHIS2 server's name.
    pub server: String,
    pub value_index: i32,
    pub partner_key: Option<String>,
    pub data_element: Option<String>,
    pub category_option_combo: Option<String>,
    pub attribute_option_combo: Option<String>,
    pub org_unit: Option<String>,
    pub period: Option<String>,
    pub outcome: String,
    pub class: Option<String>,
    pub error_code: Option<String>,
    pub message: Option<String>,
    pub decided_at: DateTime<Utc>,
    pub submission_id: i64,
    pub submitted_at: DateTime<Utc>,
    pub username: Option<String>,
}

impl OutcomeRow {
    /// The value's outcome; one refused or held says what went wrong (with the UIDs the synced
    /// metadata knows named) and who must act in one sentence, one released why it had waited.
    pub fn into_outcome(self, snapshot: &Snapshot) -> ValueOutcome {
        let class = self.class.as_deref().and_then(|c| c.parse::<RefusalClass>().ok());
        let named = snapshot.names_in(self.message.as_deref().unwrap_or_default());
        let sentence = match (class, self.outcome.as_str()) {
            (Some(class), "refused" | "held") => Some(refusal_sentence(&named, class)),
            (_, "released") => {
                Some(format!("Held ({}), then stored once DHIS2 accepted it.", named.trim_end_matches('.')))
            }
            _ => None,
        };
        ValueOutcome {
            server: self.server,
            index: self.value_index,
            partner_key: self.partner_key,
            data_element: self.data_element,
            category_option_combo: self.category_option_combo,
            attribute_option_combo: self.attribute_option_combo,
            org_unit: self.org_unit,
            period: self.period,
            outcome: self.outcome,
            class,
            error_code: self.error_code,
            message: self.message,
            sentence,
            decided_at: Some(self.decided_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dry_run_keeps_the_submissions_id_schemes_and_is_synchronous() {
        assert_eq!(dry_run_query(None), "dryRun=true");
        assert_eq!(
            dry_run_query(Some("dataElementIdScheme=CODE&async=true&dryRun=false")),
            "dataElementIdScheme=CODE&dryRun=true"
        );
    }

    #[test]
    fn held_reasons_say_what_dhis2_needs() {
        let expiring = Situation { expiry_days: 10, ..Default::default() };
        let expired = why_held(RefusalClass::ClosedPeriod, "Current date is past expiry days for period", expiring);
        assert_eq!(
            expired,
            "closed for entry 10 days after the period; DHIS2 needs a lock exception or the data set's expiry raised"
        );
        // 2.43's one wording for all three: the situation tells.
        let untimely = "Untimely data entry for data set DsMonthly01 and period(s): `[202401]`";
        assert_eq!(why_held(RefusalClass::ClosedPeriod, untimely, expiring), expired);
        let future = Situation { not_started: true, ..expiring };
        assert!(why_held(RefusalClass::ClosedPeriod, untimely, future).contains("opens by itself"));
        let listed = Situation { input_periods: true, ..expiring };
        assert!(why_held(RefusalClass::ClosedPeriod, untimely, listed).contains("input periods"));
        assert!(why_held(RefusalClass::Approved, "Data is already approved", expiring).contains("unapproved"));
        let legacy_future = "Period: `202701` is after latest open future period: `202612` for data element: `De`";
        assert!(why_held(RefusalClass::ClosedPeriod, legacy_future, expiring).contains("opens by itself"));
    }
}
