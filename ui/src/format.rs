//! Turning what the gateway returns into words and numbers for people.

use chrono::{DateTime, Local, Utc};
use dhis2gw_wire::ConflictView;
use serde_json::Value;

/// A DHIS2 conflict in plain words, against the partner's own keys.
pub fn describe_conflict(c: &ConflictView) -> String {
    let message =
        c.described.clone().or_else(|| c.message.clone()).unwrap_or_else(|| "rejected without a message".into());
    let code = c.error_code.as_deref().map(|code| format!(" ({code})")).unwrap_or_default();
    let whole = c.indexes.is_empty() || c.indexes.contains(&-1);
    let subject = match (whole, c.partner_keys.as_slice()) {
        (_, []) => "DHIS2 rejected the whole submission".to_string(),
        (true, [key]) => format!("DHIS2 rejected the whole submission, so '{key}' was not stored"),
        (true, keys) => format!("DHIS2 rejected the whole submission, so none of {} was stored", quoted_list(keys)),
        (false, [key]) => format!("DHIS2 rejected the value of '{key}'"),
        (false, keys) => format!("DHIS2 rejected the values of {}", quoted_list(keys)),
    };
    match c.class {
        // One sentence: what went wrong, then who must act.
        Some(class) => format!("{subject}: {message}{code}; {}.", class.who_must_act()),
        None => format!("{subject}: {message}{code}"),
    }
}

fn quoted_list(keys: &[String]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("'{k}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

/// DHIS2's import count (`{"imported":1,"updated":0,…}`) as a sentence.
pub fn describe_counts(count: &Value) -> String {
    let n = |k: &str| count.get(k).and_then(Value::as_i64).unwrap_or(0);
    format!("{} imported, {} updated, {} ignored, {} deleted", n("imported"), n("updated"), n("ignored"), n("deleted"))
}

/// Where an attempt's request, shared with other submissions, stands beside this one's part.
pub fn describe_batch(batch: &dhis2gw_wire::AttemptBatch) -> String {
    let others = batch.members - 1;
    let mut text = format!(
        "Sent in one request with {others} other submission{} of this partner ({} values; this submission's from value {} on). \
         The counts and conflicts are this submission's; DHIS2's raw answer is the whole request's.",
        if others == 1 { "" } else { "s" },
        count(batch.values as i64),
        batch.first + 1,
    );
    if batch.counts_exact == Some(false) {
        text.push_str(
            " DHIS2 stored some of the request's values as new and others as updates without saying which, \
             so how this submission's stored values divide between the two is an estimate.",
        );
    }
    text
}

/// A time in the viewer's local zone, to the second.
pub fn local_time(t: &DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S").to_string()
}

pub fn local_time_opt(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref().map(local_time).unwrap_or_default()
}

/// JSON indented for reading.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// DHIS2's raw answer, indented when it is JSON.
pub fn pretty_text(text: &str) -> String {
    serde_json::from_str::<Value>(text).map(|v| pretty(&v)).unwrap_or_else(|_| text.to_string())
}

/// The file name in a `Content-Disposition: attachment; filename="…"` header.
pub fn attachment_name(header: &str) -> Option<String> {
    let (_, rest) = header.split_once("filename=")?;
    let name = rest.split(';').next()?.trim().trim_matches('"');
    (!name.is_empty()).then(|| name.to_string())
}

/// How a status reads, for badges and the chart.
pub fn status_label(status: &str) -> &'static str {
    match status {
        "queued" => "Queued",
        "processing" => "Processing",
        "succeeded" => "Succeeded",
        "warning" => "Partly stored",
        "failed" => "Rejected",
        "retrying" => "Retrying",
        "dead" => "Gave up",
        "held" => "On hold",
        _ => "Other",
    }
}

/// What became of one value, in words.
pub fn outcome_label(outcome: &str) -> &'static str {
    match outcome {
        "stored" => "Stored",
        "unchanged" => "Already there",
        "refused" => "Refused",
        "held" => "On hold",
        "released" => "Released",
        "discarded" => "Discarded",
        "expired" => "Held too long",
        _ => "Other",
    }
}

/// The badge style of a value's outcome (as a submission status).
pub fn outcome_badge(outcome: &str) -> &'static str {
    match outcome {
        "stored" | "unchanged" | "released" => "succeeded",
        "held" => "held",
        _ => "failed",
    }
}

/// A number with thousands separators.
pub fn count(n: i64) -> String {
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// "1 submission" / "3 submissions".
pub fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// A standard a submission was sent in, in words.
pub fn source_format(format: &str) -> &str {
    match format {
        "adx" => "ADX",
        "fhir" => "FHIR MeasureReport",
        "spreadsheet" => "a spreadsheet uploaded in the console",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn conflict(indexes: Vec<i64>, keys: &[&str]) -> ConflictView {
        ConflictView {
            error_code: Some("E7633".into()),
            object: Some("DeInteger01".into()),
            property: None,
            message: Some("Value must be an integer".into()),
            indexes,
            partner_keys: keys.iter().map(|k| k.to_string()).collect(),
            described: None,
            class: None,
        }
    }

    #[wasm_bindgen_test]
    fn conflicts_name_the_partner_keys() {
        assert_eq!(
            describe_conflict(&conflict(vec![0], &["positives"])),
            "DHIS2 rejected the value of 'positives': Value must be an integer (E7633)"
        );
        assert_eq!(
            describe_conflict(&conflict(vec![0, 2, 3], &["a", "b", "c"])),
            "DHIS2 rejected the values of 'a', 'b' and 'c': Value must be an integer (E7633)"
        );
        let named = ConflictView {
            described: Some("Positives: value must be an integer".into()),
            ..conflict(vec![0], &["positives"])
        };
        assert_eq!(
            describe_conflict(&named),
            "DHIS2 rejected the value of 'positives': Positives: value must be an integer (E7633)",
            "names, when the gateway knows them, instead of UIDs"
        );
        assert_eq!(
            describe_conflict(&conflict(vec![-1], &[])),
            "DHIS2 rejected the whole submission: Value must be an integer (E7633)"
        );
        assert_eq!(
            describe_conflict(&conflict(vec![-1], &["a", "b"])),
            "DHIS2 rejected the whole submission, so none of 'a' and 'b' was stored: Value must be an integer (E7633)"
        );
        let classed =
            ConflictView { class: Some(dhis2gw_wire::RefusalClass::Data), ..conflict(vec![0], &["positives"]) };
        assert_eq!(
            describe_conflict(&classed),
            "DHIS2 rejected the value of 'positives': Value must be an integer (E7633); the partner must correct the value and send it again.",
            "and who must act"
        );
    }

    #[wasm_bindgen_test]
    fn numbers_and_headers_read_well() {
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(999), "999");
        assert_eq!(plural(1, "row", "rows"), "1 row");
        assert_eq!(attachment_name(r#"attachment; filename="mappings.xlsx""#).as_deref(), Some("mappings.xlsx"));
        assert_eq!(attachment_name("inline"), None);
        assert_eq!(
            describe_counts(&serde_json::json!({"imported": 2, "updated": 1, "ignored": 3, "deleted": 0})),
            "2 imported, 1 updated, 3 ignored, 0 deleted"
        );
    }
}
