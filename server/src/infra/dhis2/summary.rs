//! Reading DHIS2's answer to `POST /api/dataValueSets` in every version's shape, and
//! deciding what it means for the submission.
//!
//! - ≤ 2.37: a bare ImportSummary, HTTP 200 whatever its status.
//! - 2.38–2.42: a WebMessage envelope with the summary under `response`; WARNING *and*
//!   ERROR are HTTP 409, so a 409 may be a partial success.
//! - 2.43+: the same envelope; WARNING is 200, and reference or assignment errors reject a
//!   whole group (conflict index -1).
//!
//! A 409 with an import summary is a data outcome, never a transport failure: retrying it
//! would resend values DHIS2 already stored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the gateway does with a submission after this answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every value was stored.
    Succeeded,
    /// Some values were stored, others rejected (conflicts kept).
    Warning,
    /// DHIS2 rejected the data; sending it again unchanged cannot help.
    Failed,
    /// The problem was on the way (server error, credentials, a proxy page, a timeout): try
    /// again later, at most `max_retries` times.
    Retry,
    /// The server is not there (connection refused or dropped, 502/503/504 from its proxy) or
    /// asks for less (429): wait for it as long as it takes, without using up retries. Its
    /// health check wakes the deliveries.
    Unavailable,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCount {
    #[serde(default)]
    pub imported: i64,
    #[serde(default)]
    pub updated: i64,
    #[serde(default)]
    pub ignored: i64,
    #[serde(default)]
    pub deleted: i64,
}

impl ImportCount {
    /// An `importCount`: counts that are missing or not numbers read as 0.
    fn read(count: &Value) -> Self {
        let n = |k: &str| count[k].as_i64().or_else(|| count[k].as_str()?.parse().ok()).unwrap_or(0);
        ImportCount { imported: n("imported"), updated: n("updated"), ignored: n("ignored"), deleted: n("deleted") }
    }

    /// From the `stats` of a tracker or metadata ImportReport (`created` counts as imported).
    fn from_stats(stats: &Value) -> Self {
        let count = |k: &str| stats[k].as_i64().unwrap_or(0);
        ImportCount {
            imported: count("created"),
            updated: count("updated"),
            ignored: count("ignored"),
            deleted: count("deleted"),
        }
    }
}

/// One conflict as DHIS2 reported it. `value` holds DHIS2's message text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    #[serde(default)]
    pub object: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default, rename = "errorCode")]
    pub error_code: Option<String>,
    #[serde(default)]
    pub property: Option<String>,
    /// Zero-based positions in `dataValues[]`; `-1` means the whole group.
    #[serde(default)]
    pub indexes: Vec<i64>,
}

impl Conflict {
    /// One entry of `conflicts`, keeping what can be read; `None` when it is not an object.
    fn read(c: &Value) -> Option<Conflict> {
        let text = |k: &str| c[k].as_str().map(str::to_string);
        c.is_object().then(|| Conflict {
            object: text("object"),
            value: text("value").or_else(|| text("message")),
            error_code: text("errorCode"),
            property: text("property"),
            indexes: c["indexes"].as_array().into_iter().flatten().filter_map(Value::as_i64).collect(),
        })
    }
}

/// The meaning of one answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Interpretation {
    pub verdict: Verdict,
    /// The ImportSummary status: SUCCESS, WARNING or ERROR.
    pub import_status: Option<String>,
    pub import_count: Option<ImportCount>,
    pub conflicts: Vec<Conflict>,
    /// What went wrong, in words, when something did.
    pub error: Option<String>,
}

/// An ImportSummary as far as it could be read.
struct Summary {
    status: Option<String>,
    description: Option<String>,
    import_count: Option<ImportCount>,
    conflicts: Vec<Conflict>,
}

/// Interprets the HTTP status and body DHIS2 answered with.
pub fn interpret(http_status: u16, body: &str) -> Interpretation {
    let json: Option<Value> = serde_json::from_str(body).ok();
    let summary = json.as_ref().and_then(find_summary);
    match summary {
        Some(summary) => from_summary(summary, json.as_ref()),
        None => without_summary(http_status, json.as_ref(), body),
    }
}

/// The ImportSummary inside a WebMessage (2.38+) or at the root (≤ 2.37).
fn find_summary(json: &Value) -> Option<Summary> {
    let is_summary = |v: &Value| v.get("importCount").is_some() || v["responseType"] == "ImportSummary";
    let candidate = if json.get("response").is_some_and(is_summary) { &json["response"] } else { json };
    if !is_summary(candidate) {
        return None;
    }
    // Field by field: a field of an unexpected type (a newer DHIS2, a proxy's rewrite) loses
    // only itself, never the whole summary (which would make the answer look like no answer).
    let text = |v: &Value| v.as_str().map(str::to_string);
    Some(Summary {
        status: text(&candidate["status"]),
        description: text(&candidate["description"]),
        import_count: candidate["importCount"].is_object().then(|| ImportCount::read(&candidate["importCount"])),
        conflicts: candidate["conflicts"].as_array().into_iter().flatten().filter_map(Conflict::read).collect(),
    })
}

fn from_summary(summary: Summary, envelope: Option<&Value>) -> Interpretation {
    let count = summary.import_count.clone().unwrap_or_default();
    let stored = count.imported + count.updated + count.deleted;
    let status = summary.status.clone().unwrap_or_default().to_ascii_uppercase();
    // Ignored values that no conflict names were unchanged: DHIS2 already had them (≤ 2.42
    // counts them as ignored; 2.43 as updated).
    let unchanged = (count.ignored - refused_count(&summary.conflicts, count.ignored)).max(0);
    let verdict = match status.as_str() {
        "SUCCESS" | "OK" => Verdict::Succeeded,
        // ≤ 2.42 says WARNING even when every value was rejected: nothing in DHIS2 is a failure.
        "WARNING" if stored + unchanged == 0 && (count.ignored > 0 || !summary.conflicts.is_empty()) => Verdict::Failed,
        "WARNING" => Verdict::Warning,
        // 2.43 says ERROR when a data-set group was rejected, although others were stored.
        "ERROR" if stored > 0 => Verdict::Warning,
        _ => Verdict::Failed,
    };
    if verdict == Verdict::Succeeded && stored == 0 && unchanged > 0 {
        return Interpretation {
            verdict,
            import_status: Some(status),
            import_count: summary.import_count,
            conflicts: summary.conflicts,
            error: Some(NOTHING_NEW.to_string()),
        };
    }
    let error = (verdict != Verdict::Succeeded).then(|| {
        let message = envelope.and_then(|e| e["message"].as_str());
        let first_conflict = summary.conflicts.first().and_then(|c| c.value.clone());
        [summary.description.clone(), first_conflict, message.map(str::to_string)]
            .into_iter()
            .flatten()
            .find(|s| !s.is_empty())
            .unwrap_or_else(|| format!("DHIS2 import status {status}"))
    });
    Interpretation {
        verdict,
        import_status: Some(status).filter(|s| !s.is_empty()),
        import_count: summary.import_count,
        conflicts: summary.conflicts,
        error,
    }
}

/// What a successful answer that stored nothing means.
pub const NOTHING_NEW: &str = "Nothing new: DHIS2 already had these values";

/// How many values the conflicts refuse: the positions they name (a whole-group `-1` refuses
/// every ignored value); a conflict without positions (2.37) counts as one.
fn refused_count(conflicts: &[Conflict], ignored: i64) -> i64 {
    if conflicts.iter().any(|c| c.indexes.contains(&-1)) {
        return ignored;
    }
    let positions: std::collections::BTreeSet<i64> = conflicts.iter().flat_map(|c| c.indexes.iter().copied()).collect();
    let unplaced = conflicts.iter().filter(|c| c.indexes.is_empty()).count();
    positions.len() as i64 + unplaced as i64
}

/// Tracker error codes that say an object exists already: a CREATE retried after it had
/// succeeded. The data is in DHIS2, so the delivery is done.
const ALREADY_EXISTS: [&str; 3] = ["E1002", "E1030", "E1080"];

/// Interprets an answer to `POST /api/tracker` (or a job's report): a bare ImportReport,
/// HTTP 409 when its status is ERROR.
pub fn interpret_tracker(http_status: u16, body: &str) -> Interpretation {
    let json: Option<Value> = serde_json::from_str(body).ok();
    let report = json.as_ref().filter(|j| j.get("validationReport").is_some() || j.get("stats").is_some());
    let Some(report) = report else {
        return without_summary(http_status, json.as_ref(), body);
    };
    let import_count = ImportCount::from_stats(&report["stats"]);
    let errors = report["validationReport"]["errorReports"].as_array().cloned().unwrap_or_default();
    let conflicts: Vec<Conflict> = errors
        .iter()
        .map(|e| Conflict {
            object: e["uid"].as_str().map(str::to_string),
            value: e["message"].as_str().map(str::to_string),
            error_code: e["errorCode"].as_str().map(str::to_string),
            property: e["trackerType"].as_str().map(str::to_string),
            indexes: Vec::new(),
        })
        .collect();
    let status = report["status"].as_str().unwrap_or_default().to_ascii_uppercase();
    let only_existing = !conflicts.is_empty()
        && conflicts.iter().all(|c| c.error_code.as_deref().is_some_and(|code| ALREADY_EXISTS.contains(&code)));
    let stored = import_count.imported + import_count.updated + import_count.deleted;
    let verdict = match status.as_str() {
        "OK" => Verdict::Succeeded,
        "WARNING" => Verdict::Warning,
        "ERROR" if only_existing => Verdict::Succeeded,
        // atomicMode OBJECT stores the valid objects and still says ERROR.
        "ERROR" if stored > 0 => Verdict::Warning,
        _ => Verdict::Failed,
    };
    let error = (verdict != Verdict::Succeeded).then(|| {
        let first = conflicts.first().and_then(|c| c.value.clone());
        let message = report["message"].as_str().map(str::to_string);
        first.or(message).unwrap_or_else(|| format!("DHIS2 tracker import status {status}"))
    });
    Interpretation {
        verdict,
        import_status: Some(status).filter(|s| !s.is_empty()),
        import_count: Some(import_count),
        conflicts,
        error,
    }
}

/// The metadata ImportReport in an answer to `POST /api/metadata`: bare (≤ 2.37) or under
/// `response` (2.38+).
pub fn metadata_report(body: &str) -> Option<Value> {
    let json: Value = serde_json::from_str(body).ok()?;
    let report = if json["response"].get("typeReports").is_some() { json["response"].clone() } else { json };
    report.get("typeReports").is_some().then_some(report)
}

/// Interprets a metadata ImportReport (the gateway's combined report of a batched push, or
/// DHIS2's own); every object's errors become conflicts named by the object's UID.
pub fn interpret_metadata(http_status: u16, body: &str) -> Interpretation {
    let Some(report) = metadata_report(body) else {
        return without_summary(http_status, serde_json::from_str(body).ok().as_ref(), body);
    };
    let import_count = ImportCount::from_stats(&report["stats"]);
    let conflicts: Vec<Conflict> = report["typeReports"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["objectReports"].as_array().cloned().unwrap_or_default())
        .flat_map(|o| {
            let uid = o["uid"].as_str().map(str::to_string);
            o["errorReports"].as_array().cloned().unwrap_or_default().into_iter().map(move |e| Conflict {
                object: e["mainId"].as_str().map(str::to_string).or(uid.clone()),
                value: e["message"].as_str().map(str::to_string),
                error_code: e["errorCode"].as_str().map(str::to_string),
                property: e["errorProperty"].as_str().map(str::to_string),
                indexes: Vec::new(),
            })
        })
        .collect();
    let status = report["status"].as_str().unwrap_or_default().to_ascii_uppercase();
    let stored = import_count.imported + import_count.updated + import_count.deleted;
    let verdict = match status.as_str() {
        "OK" if conflicts.is_empty() => Verdict::Succeeded,
        _ if stored > 0 => Verdict::Warning,
        _ => Verdict::Failed,
    };
    let error = (verdict != Verdict::Succeeded).then(|| {
        conflicts
            .first()
            .and_then(|c| c.value.clone())
            .unwrap_or_else(|| format!("DHIS2 metadata import status {status}"))
    });
    Interpretation {
        verdict,
        import_status: Some(status).filter(|s| !s.is_empty()),
        import_count: Some(import_count),
        conflicts,
        error,
    }
}

fn without_summary(http_status: u16, json: Option<&Value>, body: &str) -> Interpretation {
    let message = json.and_then(|j| j["message"].as_str()).map(str::to_string);
    let verdict = match http_status {
        200..=299 => Verdict::Retry,
        401 | 403 | 404 | 407 | 408 => Verdict::Retry,
        // "Not now" from a server that is there: waiting for it uses up no retries.
        429 | 502..=504 => Verdict::Unavailable,
        500..=599 => Verdict::Retry,
        _ => Verdict::Failed,
    };
    let what = match http_status {
        200..=299 => "an answer without an import summary (a proxy or login page?)".to_string(),
        401 | 403 => "refused the gateway's credentials (check the server's user and password or PAT)".to_string(),
        404 => "has no such API at the configured address (check api.dhis2_base_url)".to_string(),
        _ => "an error".to_string(),
    };
    let detail = message.unwrap_or_else(|| snippet(body));
    let error = if detail.is_empty() {
        format!("DHIS2 answered HTTP {http_status}: {what}")
    } else {
        format!("DHIS2 answered HTTP {http_status}: {what}: {detail}")
    };
    Interpretation { verdict, import_status: None, import_count: None, conflicts: Vec::new(), error: Some(error) }
}

/// The start of a non-JSON body, on one line.
fn snippet(body: &str) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUMMARY_237_WARNING: &str = r#"{"responseType":"ImportSummary","status":"WARNING","description":"Import process completed successfully",
        "importCount":{"imported":1,"updated":0,"ignored":1,"deleted":0},
        "conflicts":[{"object":"XXX","value":"Data element not found or not accessible"}],"dataSetComplete":"false"}"#;

    fn wrapped(status: &str, summary_status: &str, counts: &str, conflicts: &str) -> String {
        format!(
            r#"{{"httpStatus":"Conflict","httpStatusCode":409,"status":"{status}","message":"m",
            "response":{{"responseType":"ImportSummary","status":"{summary_status}","importCount":{counts},"conflicts":{conflicts}}}}}"#
        )
    }

    fn tracker_report(status: &str, stats: &str, errors: &str) -> String {
        format!(
            r#"{{"status":"{status}","stats":{stats},"validationReport":{{"errorReports":{errors},"warningReports":[]}}}}"#
        )
    }

    #[test]
    fn tracker_reports_say_what_was_stored_and_why_not() {
        let ok = interpret_tracker(
            200,
            &tracker_report("OK", r#"{"created":2,"updated":1,"deleted":0,"ignored":0,"total":3}"#, "[]"),
        );
        assert_eq!((ok.verdict, ok.import_count.unwrap().imported), (Verdict::Succeeded, 2));
        let rejected = tracker_report(
            "ERROR",
            r#"{"created":0,"updated":0,"deleted":0,"ignored":1,"total":1}"#,
            r#"[{"message":"Org unit not assigned","errorCode":"E1029","trackerType":"ENROLLMENT","uid":"Enrol000001"}]"#,
        );
        let failed = interpret_tracker(409, &rejected);
        assert_eq!(failed.verdict, Verdict::Failed);
        assert_eq!(failed.conflicts[0].object.as_deref(), Some("Enrol000001"));
        assert_eq!(failed.error.as_deref(), Some("Org unit not assigned"));
        let existing = tracker_report(
            "ERROR",
            r#"{"created":0,"updated":0,"deleted":0,"ignored":2,"total":2}"#,
            r#"[{"message":"exists","errorCode":"E1002","uid":"Te000000001"},{"message":"exists","errorCode":"E1030","uid":"Ev000000001"}]"#,
        );
        assert_eq!(interpret_tracker(409, &existing).verdict, Verdict::Succeeded, "already there is done");
        assert_eq!(interpret_tracker(503, "Service Unavailable").verdict, Verdict::Unavailable);
        assert_eq!(interpret_tracker(500, "oops").verdict, Verdict::Retry);
    }

    #[test]
    fn plain_summary_of_2_37_is_read_at_the_root() {
        let r = interpret(200, SUMMARY_237_WARNING);
        assert_eq!(r.verdict, Verdict::Warning);
        assert_eq!(r.import_status.as_deref(), Some("WARNING"));
        assert_eq!(r.import_count.unwrap().imported, 1);
        assert_eq!(r.conflicts[0].object.as_deref(), Some("XXX"));
        assert!(r.conflicts[0].indexes.is_empty());
    }

    #[test]
    fn a_409_with_a_warning_summary_is_a_partial_success_not_a_failure() {
        let body = wrapped(
            "WARNING",
            "WARNING",
            r#"{"imported":2,"updated":1,"ignored":1,"deleted":0}"#,
            r#"[{"object":"DeX","objects":{},"value":"bad value","errorCode":"E7619","property":"value","indexes":[3]}]"#,
        );
        let r = interpret(409, &body);
        assert_eq!(r.verdict, Verdict::Warning);
        assert_eq!(r.conflicts[0].indexes, vec![3]);
        assert_eq!(r.conflicts[0].error_code.as_deref(), Some("E7619"));
    }

    #[test]
    fn a_warning_that_stored_nothing_is_a_failure() {
        let body = wrapped(
            "WARNING",
            "WARNING",
            r#"{"imported":0,"updated":0,"ignored":2,"deleted":0}"#,
            r#"[{"value":"bad","indexes":[0,1]}]"#,
        );
        assert_eq!(interpret(409, &body).verdict, Verdict::Failed);
    }

    #[test]
    fn a_resend_dhis2_already_had_is_a_success_with_nothing_new() {
        // ≤ 2.42: unchanged values are ignored, without conflicts.
        let plain = r#"{"responseType":"ImportSummary","status":"SUCCESS","importCount":{"imported":0,"updated":0,"ignored":3}}"#;
        let r = interpret(200, plain);
        assert_eq!((r.verdict, r.error.as_deref()), (Verdict::Succeeded, Some(NOTHING_NEW)));
        // One value refused, the two others unchanged: a partial success, not a failure.
        let body = wrapped(
            "WARNING",
            "WARNING",
            r#"{"imported":0,"updated":0,"ignored":3,"deleted":0}"#,
            r#"[{"object":"DeX","value":"bad","errorCode":"E7619","indexes":[1]}]"#,
        );
        assert_eq!(interpret(409, &body).verdict, Verdict::Warning);
    }

    #[test]
    fn error_summaries_fail_and_name_the_reason() {
        let body = wrapped(
            "ERROR",
            "ERROR",
            r#"{"imported":0,"updated":0,"ignored":3,"deleted":0}"#,
            r#"[{"object":null,"objects":{"args":"DeX"},"value":"Data element DeX not in data set","errorCode":"E8020","indexes":[-1]}]"#,
        );
        let r = interpret(409, &body);
        assert_eq!(r.verdict, Verdict::Failed);
        assert!(r.error.unwrap().contains("not in data set"));
        assert_eq!(r.conflicts[0].indexes, vec![-1]);
    }

    #[test]
    fn a_summary_with_unexpected_fields_still_yields_what_can_be_read() {
        let body = r#"{"httpStatusCode":409,"status":"WARNING","response":{"responseType":"ImportSummary",
            "status":"WARNING","importCount":{"imported":"2","updated":1,"ignored":1,"deleted":null,"skipped":4},
            "conflicts":[{"object":"DeX","value":"Current date is past expiry days","errorCode":"E7640",
                          "indexes":["2",2],"extra":{"nested":true}}, "not an object"],
            "rejectedIndexes":"2","somethingNew":[1,2,3]}}"#;
        let r = interpret(409, body);
        assert_eq!(r.verdict, Verdict::Warning, "read as a partial success, not as no answer");
        assert_eq!(r.import_count, Some(ImportCount { imported: 2, updated: 1, ignored: 1, deleted: 0 }));
        assert_eq!(r.conflicts.len(), 1);
        assert_eq!(
            (r.conflicts[0].error_code.as_deref(), r.conflicts[0].indexes.as_slice()),
            (Some("E7640"), &[2][..])
        );
    }

    #[test]
    fn success_of_every_version_succeeds() {
        let counts = r#"{"imported":0,"updated":3,"ignored":0,"deleted":0}"#;
        assert_eq!(interpret(200, &wrapped("OK", "SUCCESS", counts, "[]")).verdict, Verdict::Succeeded);
        let plain = r#"{"responseType":"ImportSummary","status":"SUCCESS","importCount":{"imported":3}}"#;
        let r = interpret(200, plain);
        assert_eq!((r.verdict, r.error), (Verdict::Succeeded, None));
    }

    #[test]
    fn transport_level_answers_are_retried_and_other_errors_fail() {
        for status in [500, 401, 404] {
            assert_eq!(interpret(status, "<html>busy</html>").verdict, Verdict::Retry, "{status}");
        }
        // A proxy saying its DHIS2 is not there, or a server asking for less: waited for, not
        // retried against a limit.
        for status in [429, 502, 503, 504] {
            assert_eq!(interpret(status, "<html>busy</html>").verdict, Verdict::Unavailable, "{status}");
        }
        assert_eq!(interpret(200, "<html>login</html>").verdict, Verdict::Retry);
        let bad = interpret(400, r#"{"httpStatusCode":400,"status":"ERROR","message":"Unexpected character"}"#);
        assert_eq!(bad.verdict, Verdict::Failed);
        assert!(bad.error.unwrap().contains("Unexpected character"));
        assert!(
            interpret(503, "<h1>Service\n  Unavailable</h1>").error.unwrap().contains("<h1>Service Unavailable</h1>")
        );
    }
}
