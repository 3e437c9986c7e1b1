//! Dividing DHIS2's answer to one `dataValueSets` request that carried several submissions
//! (coalesced, [`crate::delivery::coalesce`]) into the answer each would have had alone.
//!
//! Only versions that judge values one by one and place each conflict (`indexes`, from
//! 2.38) can be divided. A request refused as a whole, or a group refused for one member's
//! values (2.43 rejects a data-set group for one unassigned org unit or closed period), says
//! nothing about the others: each member is then sent again alone.

use serde_json::{Map, Value, json};

/// How DHIS2 answers a data value set, from its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Regime {
    /// 2.38–2.42: every value judged alone; WARNING and ERROR are HTTP 409.
    Legacy,
    /// 2.43+: the import pipeline; WARNING is HTTP 200, a set of values all rejected is ERROR.
    Pipeline,
}

impl Regime {
    /// The regime of a reported version (`2.40.3`, `2.43-SNAPSHOT`); `None` before 2.38,
    /// whose conflicts do not say which value they are about.
    pub fn of(version: &str) -> Option<Regime> {
        let mut parts = version.split(['.', '-']);
        let major: u32 = parts.next()?.trim().parse().ok()?;
        let minor: u32 = parts.next()?.trim().parse().ok()?;
        match (major, minor) {
            (2, 38..=42) => Some(Regime::Legacy),
            (2, 43..) => Some(Regime::Pipeline),
            (3.., _) => Some(Regime::Pipeline),
            _ => None,
        }
    }
}

/// What one request's answer means for its members.
#[derive(Debug, PartialEq)]
pub enum Split {
    /// Each member's own answer, in order.
    Shares(Vec<Share>),
    /// DHIS2 refused the request, or a group in it, as a whole: each member goes again alone.
    Alone,
    /// No import summary (a server error, credentials, a proxy page): the answer is every
    /// member's.
    Same,
}

/// One member's answer: what DHIS2 would have said to its values alone.
#[derive(Debug, PartialEq)]
pub struct Share {
    pub status: u16,
    pub body: String,
    /// Its imported / updated / unchanged counts are DHIS2's own. `false` when the request
    /// stored values in more than one way (some new, some updated), which DHIS2 does not say
    /// value by value: the counts were then divided as the members' histories suggest, and
    /// only their sum is certain.
    pub counts_exact: bool,
}

/// A member of a request: how many values it sent, and whether DHIS2 is known to hold values
/// of its org unit and period already (an earlier submission of them was stored), so that
/// its values are more likely updates than new.
#[derive(Clone, Copy, Debug)]
pub struct Member {
    pub values: usize,
    pub seen: bool,
}

/// Divides the answer (`http_status`, `body`) to a request whose `members` sent their
/// values one after the other.
pub fn split(regime: Regime, http_status: u16, body: &str, members: &[Member]) -> Split {
    let Ok(json) = serde_json::from_str::<Value>(body) else { return Split::Same };
    let wrapped = json.get("response").is_some_and(|r| r.get("importCount").is_some());
    let summary = if wrapped { &json["response"] } else { &json };
    let Some(summary) = summary.as_object().filter(|s| s.contains_key("importCount")) else { return Split::Same };
    let status = summary.get("status").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase();
    if !matches!(status.as_str(), "SUCCESS" | "OK" | "WARNING") || !(200..500).contains(&http_status) {
        return Split::Alone;
    }
    let total: usize = members.iter().map(|m| m.values).sum();
    let conflicts: Vec<&Value> = summary.get("conflicts").and_then(Value::as_array).into_iter().flatten().collect();
    let placed = |c: &Value| -> Option<Vec<usize>> {
        let indexes = c["indexes"].as_array().filter(|i| !i.is_empty())?;
        indexes.iter().map(|i| i.as_u64().and_then(|i| usize::try_from(i).ok()).filter(|&i| i < total)).collect()
    };
    let Some(placements) = conflicts.iter().map(|c| placed(c)).collect::<Option<Vec<_>>>() else {
        return Split::Alone;
    };
    let mut rejected = vec![false; total];
    for &i in placements.iter().flatten() {
        rejected[i] = true;
    }
    // 2.41+ lists what it rejected: a value rejected without a conflict naming it was
    // rejected with its group.
    let listed = summary.get("rejectedIndexes").and_then(Value::as_array);
    if listed
        .into_iter()
        .flatten()
        .any(|i| i.as_u64().and_then(|i| usize::try_from(i).ok()).is_none_or(|i| i >= total || !rejected[i]))
    {
        return Split::Alone;
    }
    let count = |k: &str| summary["importCount"][k].as_u64().unwrap_or(0) as usize;
    let refused_total = rejected.iter().filter(|r| **r).count();
    // ≤ 2.42 counts unchanged values as ignored; 2.43 as updated.
    let unchanged = count("ignored").saturating_sub(refused_total);
    let kinds = [count("imported"), count("updated"), count("deleted"), unchanged];
    let exact = kinds.iter().filter(|k| **k > 0).count() <= 1 && kinds.iter().sum::<usize>() == total - refused_total;
    let ranges: Vec<std::ops::Range<usize>> = members
        .iter()
        .scan(0, |at, m| {
            let first = std::mem::replace(at, *at + m.values);
            Some(first..*at)
        })
        .collect();
    let refused: Vec<usize> = ranges.iter().map(|r| rejected[r.clone()].iter().filter(|x| **x).count()).collect();
    let needs: Vec<usize> = members.iter().zip(&refused).map(|(m, r)| m.values - r).collect();
    let stored = divide(kinds, members, &needs);

    let mut shares = Vec::with_capacity(members.len());
    for (range, stored) in ranges.into_iter().zip(stored) {
        let (offset, size) = (range.start, range.len());
        let own: Vec<Value> = conflicts
            .iter()
            .zip(&placements)
            .filter_map(|(c, at)| {
                let mine: Vec<usize> = at.iter().filter(|i| range.contains(i)).map(|i| i - offset).collect();
                (!mine.is_empty()).then(|| {
                    let mut c = (*c).clone();
                    c["indexes"] = json!(mine);
                    c
                })
            })
            .collect();
        let own_rejected: Vec<usize> = range.clone().filter(|&i| rejected[i]).map(|i| i - offset).collect();
        shares.push(share(regime, summary, &own, &own_rejected, size, stored, listed.is_some(), wrapped, exact));
    }
    Split::Shares(shares)
}

/// Divides the request's stored values, `[imported, updated, deleted, unchanged]`, among
/// members that each stored `needs` values: each first from the kind its history suggests
/// (updated or unchanged when seen, imported otherwise), then from whatever is left, in order.
/// When DHIS2 stored values in one way only, this is exact.
fn divide(mut kinds: [usize; 4], members: &[Member], needs: &[usize]) -> Vec<[usize; 4]> {
    const NEW: [usize; 4] = [0, 2, 1, 3];
    const SEEN: [usize; 4] = [1, 3, 2, 0];
    let mut stored = vec![[0usize; 4]; members.len()];
    let mut left: Vec<usize> = needs.to_vec();
    for preferred_only in [true, false] {
        for ((member, taken), need) in members.iter().zip(&mut stored).zip(&mut left) {
            let order = if member.seen { SEEN } else { NEW };
            let kinds_to_take = if preferred_only { &order[..2] } else { &order[..] };
            for &kind in kinds_to_take {
                let take = (*need).min(kinds[kind]);
                taken[kind] += take;
                kinds[kind] -= take;
                *need -= take;
            }
        }
    }
    stored
}

/// The answer DHIS2 gives to a request of `size` values of which `rejected` were refused by
/// `conflicts` and the rest stored as `[imported, updated, deleted, unchanged]`.
#[allow(clippy::too_many_arguments)]
fn share(
    regime: Regime,
    batch: &Map<String, Value>,
    conflicts: &[Value],
    rejected: &[usize],
    size: usize,
    [imported, updated, deleted, unchanged]: [usize; 4],
    lists_rejected: bool,
    wrapped: bool,
    counts_exact: bool,
) -> Share {
    let status = match (rejected.len(), regime) {
        (0, _) => "SUCCESS",
        (n, Regime::Pipeline) if n == size => "ERROR",
        _ => "WARNING",
    };
    let mut summary = batch.clone();
    summary.insert("status".into(), json!(status));
    summary.insert(
        "importCount".into(),
        json!({"imported": imported, "updated": updated, "deleted": deleted, "ignored": rejected.len() + unchanged}),
    );
    summary.insert("conflicts".into(), json!(conflicts));
    if lists_rejected {
        summary.insert("rejectedIndexes".into(), json!(rejected));
    }
    if status == "ERROR" {
        summary.insert("description".into(), json!("Import failed, no data values were imported"));
    }
    let (code, envelope_status, message) = match (status, regime) {
        ("SUCCESS", _) => (200, "OK", "Import was successful."),
        ("WARNING", Regime::Pipeline) => {
            (200, "WARNING", "Import completed with warnings, please check import summary.")
        }
        ("WARNING", Regime::Legacy) => (409, "WARNING", "One more conflicts encountered, please check import summary."),
        _ => (409, "ERROR", "An error occurred, please check import summary."),
    };
    let body = if wrapped {
        json!({
            "httpStatus": if code == 200 { "OK" } else { "Conflict" },
            "httpStatusCode": code,
            "status": envelope_status,
            "message": message,
            "response": summary,
        })
    } else {
        Value::Object(summary)
    };
    Share { status: code, body: body.to_string(), counts_exact }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::dhis2::summary::{Verdict, interpret};

    fn answer(status: &str, counts: Value, conflicts: Value, rejected: Option<Value>) -> String {
        let mut summary = json!({"responseType": "ImportSummary", "status": status, "importCount": counts,
            "conflicts": conflicts, "description": "Import process completed successfully"});
        if let Some(rejected) = rejected {
            summary["rejectedIndexes"] = rejected;
        }
        json!({"httpStatus": "Conflict", "httpStatusCode": 409, "status": status, "response": summary}).to_string()
    }

    fn new(sizes: &[usize]) -> Vec<Member> {
        sizes.iter().map(|&values| Member { values, seen: false }).collect()
    }

    fn shares(split: Split) -> Vec<Share> {
        match split {
            Split::Shares(shares) => shares,
            other => panic!("expected shares, got {other:?}"),
        }
    }

    #[test]
    fn versions_before_2_38_are_not_divided() {
        assert_eq!(Regime::of("2.37.9"), None);
        assert_eq!(Regime::of("2.38.0"), Some(Regime::Legacy));
        assert_eq!(Regime::of("2.42.1-EMBARGOED"), Some(Regime::Legacy));
        assert_eq!(Regime::of("2.43-SNAPSHOT"), Some(Regime::Pipeline));
        assert_eq!(Regime::of("2.41"), Some(Regime::Legacy));
        assert_eq!(Regime::of("unknown"), None);
    }

    #[test]
    fn each_member_gets_its_own_conflicts_renumbered_and_its_counts() {
        // Members of 3, 2 and 2 values; value 1 of the first and value 0 of the third refused
        // with one merged conflict (2.40 merges equal messages).
        let conflicts =
            json!([{"object": "x", "value": "Value must be a number", "errorCode": "E7619", "indexes": [1, 5]}]);
        let body = answer("WARNING", json!({"imported": 5, "updated": 0, "ignored": 2, "deleted": 0}), conflicts, None);
        let parts = shares(split(Regime::Legacy, 409, &body, &new(&[3, 2, 2])));
        let meanings: Vec<_> = parts.iter().map(|s| interpret(s.status, &s.body)).collect();
        assert_eq!(
            meanings.iter().map(|m| m.verdict).collect::<Vec<_>>(),
            [Verdict::Warning, Verdict::Succeeded, Verdict::Warning]
        );
        assert_eq!(meanings[0].conflicts[0].indexes, [1]);
        assert_eq!(meanings[2].conflicts[0].indexes, [0]);
        assert!(meanings[1].conflicts.is_empty());
        let imported: Vec<i64> = meanings.iter().map(|m| m.import_count.as_ref().unwrap().imported).collect();
        assert_eq!(imported, [2, 2, 1]);
        assert!(parts.iter().all(|s| s.counts_exact));
        assert_eq!(parts[1].status, 200);
        assert_eq!(parts[0].status, 409);
    }

    #[test]
    fn a_member_whose_values_were_all_unchanged_hears_nothing_new() {
        let body = answer("SUCCESS", json!({"imported": 0, "updated": 0, "ignored": 4, "deleted": 0}), json!([]), None);
        let parts = shares(split(Regime::Legacy, 200, &body, &new(&[1, 3])));
        let meaning = interpret(parts[1].status, &parts[1].body);
        assert_eq!(meaning.verdict, Verdict::Succeeded);
        assert_eq!(meaning.error.as_deref(), Some(crate::infra::dhis2::summary::NOTHING_NEW));
    }

    #[test]
    fn counts_stored_in_several_ways_follow_the_members_histories_and_say_so() {
        let body = answer("SUCCESS", json!({"imported": 3, "updated": 2, "ignored": 1, "deleted": 0}), json!([]), None);
        // A new report of 3, a correction of 2 (its org unit and period were sent before), and
        // a second correction of 1 whose value was unchanged.
        let members =
            [Member { values: 3, seen: false }, Member { values: 2, seen: true }, Member { values: 1, seen: true }];
        let parts = shares(split(Regime::Legacy, 200, &body, &members));
        assert!(parts.iter().all(|s| !s.counts_exact));
        let count = |s: &Share| {
            let c = interpret(s.status, &s.body).import_count.unwrap();
            (c.imported, c.updated, c.ignored)
        };
        assert_eq!(parts.iter().map(count).collect::<Vec<_>>(), [(3, 0, 0), (0, 2, 0), (0, 0, 1)]);
        // Histories that do not fit: the counts still add up to DHIS2's.
        let wrong = [Member { values: 3, seen: true }, Member { values: 3, seen: false }];
        let parts = shares(split(Regime::Legacy, 200, &body, &wrong));
        let sums = parts.iter().map(count).fold((0, 0, 0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
        assert_eq!(sums, (3, 2, 1));
    }

    #[test]
    fn on_2_43_a_member_with_every_value_rejected_failed_and_lists_them() {
        let conflicts = json!([{"object": "x", "value": "bad", "errorCode": "E7619", "indexes": [2]},
                               {"object": "y", "value": "bad", "errorCode": "E7619", "indexes": [3]}]);
        let body = answer(
            "WARNING",
            json!({"imported": 0, "updated": 2, "ignored": 2, "deleted": 0}),
            conflicts,
            Some(json!([2, 3])),
        );
        let parts = shares(split(Regime::Pipeline, 200, &body, &new(&[2, 2])));
        assert_eq!(parts[1].status, 409);
        let meaning = interpret(parts[1].status, &parts[1].body);
        assert_eq!(meaning.verdict, Verdict::Failed);
        assert_eq!(meaning.import_status.as_deref(), Some("ERROR"));
        let body: Value = serde_json::from_str(&parts[1].body).unwrap();
        assert_eq!(body["response"]["rejectedIndexes"], json!([0, 1]));
        assert_eq!(interpret(parts[0].status, &parts[0].body).verdict, Verdict::Succeeded);
    }

    #[test]
    fn what_cannot_be_placed_sends_each_member_alone() {
        let counts = json!({"imported": 0, "updated": 0, "ignored": 4, "deleted": 0});
        // A group rejected as a whole (2.43).
        let group = answer(
            "ERROR",
            counts.clone(),
            json!([{"value": "not assigned", "indexes": [-1]}]),
            Some(json!([0, 1, 2, 3])),
        );
        assert_eq!(split(Regime::Pipeline, 409, &group, &new(&[2, 2])), Split::Alone);
        // A conflict without a place, one out of range, a rejection no conflict names.
        let unplaced = answer("WARNING", counts.clone(), json!([{"value": "?"}]), None);
        assert_eq!(split(Regime::Legacy, 409, &unplaced, &new(&[2, 2])), Split::Alone);
        let beyond = answer("WARNING", counts.clone(), json!([{"value": "?", "indexes": [4]}]), None);
        assert_eq!(split(Regime::Legacy, 409, &beyond, &new(&[2, 2])), Split::Alone);
        let silent = answer("WARNING", counts, json!([{"value": "?", "indexes": [0]}]), Some(json!([0, 1])));
        assert_eq!(split(Regime::Pipeline, 200, &silent, &new(&[2, 2])), Split::Alone);
    }

    #[test]
    fn an_answer_without_a_summary_is_everyones() {
        assert_eq!(split(Regime::Legacy, 500, "<html>Internal error</html>", &new(&[1, 1])), Split::Same);
        assert_eq!(
            split(Regime::Legacy, 401, r#"{"httpStatusCode": 401, "message": "Unauthorized"}"#, &new(&[1])),
            Split::Same
        );
    }
}
