//! Which values of a data value set DHIS2 refused, why and who must act, and writing each
//! refused value's outcome beside the attempt: held when it was refused only for a closed
//! period or an approval, refused otherwise.

use dhis2gw_wire::RefusalClass;
use serde_json::Value;
use sqlx::PgConnection;

use crate::infra::dhis2::refusal;
use crate::infra::dhis2::summary::{Interpretation, Verdict};

/// A value DHIS2 did not store.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    /// Position in the payload that was sent.
    pub position: usize,
    pub class: RefusalClass,
    pub code: Option<String>,
    pub message: String,
}

/// The refused values of `payload` (a data value set) by the answer's conflicts: their
/// positions, a whole group (`-1`), or (2.37, set-level conflicts) the values whose
/// identifiers the conflict's `object` names. An answer that failed without conflicts (HTTP
/// 400, say) refuses every value for the reason it gave. Retries refuse nothing yet.
pub fn refusals(payload: &Value, meaning: &Interpretation, http_status: Option<u16>) -> Vec<Refusal> {
    let values = payload["dataValues"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut refused: Vec<Option<Refusal>> = vec![None; values.len()];
    match meaning.verdict {
        Verdict::Retry | Verdict::Unavailable | Verdict::Succeeded => return Vec::new(),
        Verdict::Failed if meaning.conflicts.is_empty() => {
            let class = refusal::classify_status(http_status);
            let message = meaning.error.clone().unwrap_or_else(|| "DHIS2 refused the data".into());
            return (0..values.len())
                .map(|position| Refusal { position, class, code: None, message: message.clone() })
                .collect();
        }
        Verdict::Warning | Verdict::Failed => {}
    }
    // A request DHIS2 refused as a whole (nothing stored) refused the values its conflicts do
    // not name too, for their reason (2.43 names only the first value it could not decode).
    let stored = meaning.import_count.as_ref().is_some_and(|c| c.imported + c.updated + c.deleted > 0);
    let whole = (meaning.verdict == Verdict::Failed && !stored).then(|| {
        let first = &meaning.conflicts[0];
        let message = meaning.error.clone().unwrap_or_else(|| "DHIS2 refused the whole request".into());
        (refusal::classify(first.error_code.as_deref(), first.value.as_deref().unwrap_or_default()), message)
    });
    for conflict in &meaning.conflicts {
        let message = conflict.value.clone().or_else(|| conflict.error_code.clone()).unwrap_or_default();
        let class = refusal::classify(conflict.error_code.as_deref(), &message);
        let positions: Vec<usize> = if conflict.indexes.contains(&-1) {
            (0..values.len()).collect()
        } else if !conflict.indexes.is_empty() {
            conflict.indexes.iter().filter_map(|&i| usize::try_from(i).ok()).filter(|&i| i < values.len()).collect()
        } else {
            let object = conflict.object.as_deref().unwrap_or_default();
            (0..values.len()).filter(|&i| !object.is_empty() && identity(payload, i).names(object)).collect()
        };
        for position in positions {
            // A value that would be refused anyway must not wait for a period to open.
            let replace = match &refused[position] {
                None => true,
                Some(earlier) => earlier.class.is_held() && !class.is_held(),
            };
            if replace {
                refused[position] =
                    Some(Refusal { position, class, code: conflict.error_code.clone(), message: message.clone() });
            }
        }
    }
    if let Some((class, message)) = whole {
        for (position, slot) in refused.iter_mut().enumerate() {
            slot.get_or_insert_with(|| Refusal { position, class, code: None, message: message.clone() });
        }
    }
    refused.into_iter().flatten().collect()
}

/// What a data value is about, with the data value set's own fields filling in what the
/// value leaves out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Identity {
    pub data_set: Option<String>,
    pub data_element: Option<String>,
    pub category_option_combo: Option<String>,
    pub attribute_option_combo: Option<String>,
    pub org_unit: Option<String>,
    pub period: Option<String>,
}

impl Identity {
    fn names(&self, object: &str) -> bool {
        [&self.data_set, &self.data_element, &self.category_option_combo, &self.attribute_option_combo]
            .into_iter()
            .chain([&self.org_unit, &self.period])
            .any(|id| id.as_deref() == Some(object))
    }
}

/// The identity of `dataValues[position]` of `payload`.
pub fn identity(payload: &Value, position: usize) -> Identity {
    let value = &payload["dataValues"][position];
    let field = |name: &str| value[name].as_str().or_else(|| payload[name].as_str()).map(str::to_string);
    Identity {
        data_set: payload["dataSet"].as_str().map(str::to_string),
        data_element: value["dataElement"].as_str().map(str::to_string),
        category_option_combo: value["categoryOptionCombo"].as_str().map(str::to_string),
        attribute_option_combo: field("attributeOptionCombo"),
        org_unit: field("orgUnit"),
        period: field("period"),
    }
}

/// `payload` with only the data values at `positions`.
pub fn subset(payload: &Value, positions: &[usize]) -> Value {
    let mut part = payload.clone();
    part["dataValues"] = positions.iter().map(|&i| payload["dataValues"][i].clone()).collect();
    part
}

/// What was sent in one attempt: the payload, and for each of its values the position in the
/// submission's payload and the partner's key.
pub struct Sent<'a> {
    pub payload: &'a Value,
    pub origin: &'a [usize],
    pub keys: &'a [String],
    /// Only held values were sent (a release), not the whole submission.
    pub release: bool,
}

/// How a destination's values stand after an attempt was recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub held: i64,
    /// Refused, discarded or expired: not in DHIS2, and not waiting.
    pub dropped: i64,
}

/// Writes the outcome of each refused value of an attempt (inside the attempt's transaction;
/// `decided_at` is the transaction's time, which links the rows to the attempt recorded in
/// it): a whole delivery replaces earlier outcomes, a release marks what went through as
/// released. Returns how the destination's values stand now.
pub async fn record(
    tx: &mut PgConnection,
    submission_id: i64,
    destination_id: i64,
    sent: &Sent<'_>,
    refused: &[Refusal],
) -> sqlx::Result<Tally> {
    let refused_at: Vec<usize> = refused.iter().map(|r| sent.origin[r.position]).collect();
    if sent.release {
        let through: Vec<i32> = sent
            .origin
            .iter()
            .filter(|i| !refused_at.contains(i))
            .map(|&i| i32::try_from(i).unwrap_or(i32::MAX))
            .collect();
        sqlx::query!(
            r#"UPDATE value_outcomes SET outcome = 'released', decided_at = now(), held_since = NULL, release = false
               WHERE destination_id = $1 AND value_index = ANY($2) AND outcome = 'held'"#,
            destination_id,
            &through,
        )
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query!("DELETE FROM value_outcomes WHERE destination_id = $1", destination_id).execute(&mut *tx).await?;
    }
    let identities: Vec<Identity> = refused.iter().map(|r| identity(sent.payload, r.position)).collect();
    let column = |pick: fn(&Identity) -> &Option<String>| -> Vec<Option<String>> {
        identities.iter().map(|i| pick(i).clone()).collect()
    };
    sqlx::query!(
        r#"INSERT INTO value_outcomes (submission_id, destination_id, value_index, partner_key, data_set, data_element,
               category_option_combo, attribute_option_combo, org_unit, period, outcome, class, error_code, message,
               held_since)
           SELECT $1, $2, r.*, CASE WHEN r.outcome = 'held' THEN now() END
           FROM UNNEST($3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                       $11::text[], $12::text[], $13::text[], $14::text[])
                AS r(value_index, partner_key, data_set, data_element, category_option_combo, attribute_option_combo,
                     org_unit, period, outcome, class, error_code, message)
           ON CONFLICT (destination_id, value_index) DO UPDATE
           SET outcome = excluded.outcome, class = excluded.class, error_code = excluded.error_code,
               message = excluded.message, decided_at = now(), release = false,
               held_since = CASE WHEN excluded.outcome = 'held' THEN COALESCE(value_outcomes.held_since, now()) END"#,
        submission_id,
        destination_id,
        &refused_at.iter().map(|&i| i32::try_from(i).unwrap_or(i32::MAX)).collect::<Vec<_>>(),
        &refused.iter().map(|r| sent.keys.get(r.position).cloned()).collect::<Vec<_>>() as &[Option<String>],
        &column(|i| &i.data_set) as &[Option<String>],
        &column(|i| &i.data_element) as &[Option<String>],
        &column(|i| &i.category_option_combo) as &[Option<String>],
        &column(|i| &i.attribute_option_combo) as &[Option<String>],
        &column(|i| &i.org_unit) as &[Option<String>],
        &column(|i| &i.period) as &[Option<String>],
        &refused.iter().map(|r| if r.class.is_held() { "held" } else { "refused" }.to_string()).collect::<Vec<_>>(),
        &refused.iter().map(|r| r.class.as_str().to_string()).collect::<Vec<_>>(),
        &refused.iter().map(|r| r.code.clone()).collect::<Vec<_>>() as &[Option<String>],
        &refused.iter().map(|r| r.message.clone()).collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    tally(tx, destination_id).await
}

/// How `destination_id`'s values stand.
async fn tally(tx: &mut PgConnection, destination_id: i64) -> sqlx::Result<Tally> {
    let row = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE outcome = 'held') AS "held!",
                  count(*) FILTER (WHERE outcome IN ('refused', 'discarded', 'expired')) AS "dropped!"
           FROM value_outcomes WHERE destination_id = $1"#,
        destination_id
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(Tally { held: row.held, dropped: row.dropped })
}

/// Links the outcomes decided in this transaction to the attempt recorded in it.
pub async fn link_attempt(tx: &mut PgConnection, destination_id: i64, attempt_id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE value_outcomes SET attempt_id = $2 WHERE destination_id = $1 AND decided_at = now()",
        destination_id,
        attempt_id
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::dhis2::summary::interpret;

    fn payload() -> Value {
        serde_json::json!({"dataSet": "DsMonthly01", "period": "202401", "orgUnit": "OuFacil0001", "dataValues": [
            {"dataElement": "DeA", "value": "1"},
            {"dataElement": "DeB", "value": "x"},
            {"dataElement": "DeC", "value": "3"}]})
    }

    fn wrapped(status: &str, counts: &str, conflicts: &str) -> String {
        format!(
            r#"{{"httpStatusCode":409,"status":"{status}","response":{{"responseType":"ImportSummary","status":"{status}","importCount":{counts},"conflicts":{conflicts}}}}}"#
        )
    }

    #[test]
    fn each_refused_position_gets_its_class_and_a_value_refused_anyway_does_not_wait() {
        let body = wrapped(
            "WARNING",
            r#"{"imported":1,"updated":0,"ignored":2,"deleted":0}"#,
            r#"[{"value":"Current date is past expiry days","errorCode":"E7640","indexes":[1,2]},
                {"value":"Value must match data element's `DeB` type constraints","errorCode":"E7619","indexes":[1]}]"#,
        );
        let refused = refusals(&payload(), &interpret(409, &body), Some(409));
        let by_position: Vec<(usize, RefusalClass)> = refused.iter().map(|r| (r.position, r.class)).collect();
        assert_eq!(by_position, [(1, RefusalClass::Data), (2, RefusalClass::ClosedPeriod)]);
    }

    #[test]
    fn a_whole_group_and_a_set_level_object_refuse_every_value() {
        let group = wrapped(
            "ERROR",
            r#"{"imported":0,"updated":0,"ignored":3,"deleted":0}"#,
            r#"[{"value":"approved","errorCode":"E8033","indexes":[-1]}]"#,
        );
        let refused = refusals(&payload(), &interpret(409, &group), Some(409));
        assert_eq!(refused.len(), 3);
        assert!(refused.iter().all(|r| r.class == RefusalClass::Approved));
        // 2.37: no indexes; the object is the period every value shares.
        let plain = r#"{"responseType":"ImportSummary","status":"WARNING","importCount":{"imported":0,"ignored":3},
            "conflicts":[{"object":"202401","value":"Current date is past expiry days for period 202401 and data set DsMonthly01"}]}"#;
        let refused = refusals(&payload(), &interpret(200, plain), Some(200));
        assert_eq!(refused.iter().map(|r| r.position).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(refused.iter().all(|r| r.class == RefusalClass::ClosedPeriod));
    }

    #[test]
    fn a_failure_without_conflicts_refuses_everything_for_its_reason_and_retries_refuse_nothing() {
        let bad = interpret(400, r#"{"httpStatusCode":400,"status":"ERROR","message":"Unexpected character"}"#);
        let refused = refusals(&payload(), &bad, Some(400));
        assert_eq!(refused.len(), 3);
        assert!(refused[0].message.contains("Unexpected character"));
        assert!(refusals(&payload(), &interpret(503, "down"), Some(503)).is_empty());
    }

    #[test]
    fn a_request_refused_as_a_whole_refuses_the_values_its_conflicts_do_not_name() {
        // 2.43: the first value that could not be decoded is named, nothing is stored.
        let body = r#"{"httpStatusCode":409,"status":"ERROR","response":{"responseType":"ImportSummary","status":"ERROR",
            "description":"Import failed, the data values could not be decoded",
            "importCount":{"imported":0,"updated":0,"ignored":3,"deleted":0},
            "conflicts":[{"value":"Data element `X` does not exist","errorCode":"E8101","indexes":[1]}]}}"#;
        let refused = refusals(&payload(), &interpret(409, body), Some(409));
        assert_eq!(refused.iter().map(|r| r.position).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(refused[1].code.as_deref(), Some("E8101"));
        assert!(refused[0].message.contains("could not be decoded"), "{:?}", refused[0]);
        assert!(refused.iter().all(|r| r.class == RefusalClass::Mapping));
    }

    #[test]
    fn a_subset_keeps_the_set_fields_and_the_chosen_values() {
        let part = subset(&payload(), &[2]);
        assert_eq!(part["dataValues"], serde_json::json!([{"dataElement": "DeC", "value": "3"}]));
        assert_eq!(identity(&part, 0).period.as_deref(), Some("202401"));
    }
}
