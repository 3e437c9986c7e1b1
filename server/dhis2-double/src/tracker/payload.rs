//! The tracker payload as sent: flat or nested, flattened into four lists (reference A.3.1
//! "Payload"), with the JSON types checked.
//!
//! A nested enrollment gets its tracked entity's `trackedEntity`, a nested event its
//! enrollment's `enrollment` and `program`, overriding what they said themselves (as
//! DHIS2's flattening does); nested relationships join the top-level ones.
//!
//! What DHIS2 could not even deserialise is a bad request (HTTP 400, also for async
//! imports): a field of the wrong JSON type, a date that is not ISO, an unknown `status`.

use serde_json::{Map, Value};

use crate::time;

pub(super) type Object = Map<String, Value>;

/// The four lists of one import, in payload order (nested objects before the top-level
/// ones of their type).
#[derive(Default)]
pub(crate) struct Bundle {
    pub(super) tracked_entities: Vec<Object>,
    pub(super) enrollments: Vec<Object>,
    pub(super) events: Vec<Object>,
    pub(super) relationships: Vec<Object>,
}

const ENROLLMENT_STATUSES: [&str; 3] = ["ACTIVE", "COMPLETED", "CANCELLED"];
pub(super) const EVENT_STATUSES: [&str; 6] = ["ACTIVE", "COMPLETED", "VISITED", "SCHEDULE", "OVERDUE", "SKIPPED"];

fn parse_error(message: impl std::fmt::Display) -> String {
    format!("JSON parse error: {message}")
}

/// Parses and flattens a body; `Err` is a bad request.
pub(crate) fn parse(body: &[u8]) -> Result<Bundle, String> {
    let root: Value = serde_json::from_slice(body).map_err(parse_error)?;
    let Value::Object(mut root) = root else {
        return Err(parse_error("a tracker payload must be a JSON object"));
    };
    let mut bundle = Bundle::default();
    for mut te in take_objects(&mut root, "trackedEntities")? {
        let uid = te.get("trackedEntity").cloned().unwrap_or(Value::Null);
        for mut enrollment in take_objects(&mut te, "enrollments")? {
            enrollment.insert("trackedEntity".into(), uid.clone());
            flatten_enrollment(enrollment, &mut bundle)?;
        }
        bundle.relationships.extend(take_objects(&mut te, "relationships")?);
        bundle.tracked_entities.push(te);
    }
    for enrollment in take_objects(&mut root, "enrollments")? {
        flatten_enrollment(enrollment, &mut bundle)?;
    }
    for event in take_objects(&mut root, "events")? {
        flatten_event(event, &mut bundle)?;
    }
    bundle.relationships.extend(take_objects(&mut root, "relationships")?);

    for te in &mut bundle.tracked_entities {
        check_strings(te, &["trackedEntity", "trackedEntityType", "orgUnit"])?;
        normalise_values(te, "attributes", "attribute")?;
    }
    for enrollment in &mut bundle.enrollments {
        check_strings(enrollment, &["enrollment", "program", "trackedEntity", "orgUnit"])?;
        check_dates(enrollment, &["enrolledAt", "occurredAt", "completedAt"])?;
        check_status(enrollment, &ENROLLMENT_STATUSES)?;
        normalise_values(enrollment, "attributes", "attribute")?;
    }
    for event in &mut bundle.events {
        check_strings(event, &["event", "programStage", "program", "enrollment", "orgUnit", "attributeOptionCombo"])?;
        check_dates(event, &["occurredAt", "scheduledAt", "completedAt"])?;
        check_status(event, &EVENT_STATUSES)?;
        normalise_values(event, "dataValues", "dataElement")?;
    }
    for relationship in &bundle.relationships {
        check_strings(relationship, &["relationship", "relationshipType"])?;
    }
    Ok(bundle)
}

fn flatten_enrollment(mut enrollment: Object, bundle: &mut Bundle) -> Result<(), String> {
    let uid = enrollment.get("enrollment").cloned().unwrap_or(Value::Null);
    let program = enrollment.get("program").cloned().unwrap_or(Value::Null);
    for mut event in take_objects(&mut enrollment, "events")? {
        event.insert("enrollment".into(), uid.clone());
        event.insert("program".into(), program.clone());
        flatten_event(event, bundle)?;
    }
    bundle.relationships.extend(take_objects(&mut enrollment, "relationships")?);
    bundle.enrollments.push(enrollment);
    Ok(())
}

fn flatten_event(mut event: Object, bundle: &mut Bundle) -> Result<(), String> {
    bundle.relationships.extend(take_objects(&mut event, "relationships")?);
    bundle.events.push(event);
    Ok(())
}

/// Removes `key` (an array of objects) from `obj`.
fn take_objects(obj: &mut Object, key: &str) -> Result<Vec<Object>, String> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(o) => Ok(o),
                _ => Err(parse_error(format!("every entry of `{key}` must be a JSON object"))),
            })
            .collect(),
        Some(_) => Err(parse_error(format!("`{key}` must be an array"))),
    }
}

fn check_strings(obj: &Object, keys: &[&str]) -> Result<(), String> {
    for key in keys {
        if let Some(v) = obj.get(*key)
            && !(v.is_string() || v.is_null())
        {
            return Err(parse_error(format!("`{key}` must be a string, found {v}")));
        }
    }
    Ok(())
}

fn check_dates(obj: &Object, keys: &[&str]) -> Result<(), String> {
    check_strings(obj, keys)?;
    for key in keys {
        if let Some(Value::String(s)) = obj.get(*key)
            && time::parse(s).is_none()
        {
            return Err(parse_error(format!("cannot deserialize `{key}` from String \"{s}\": not an ISO date")));
        }
    }
    Ok(())
}

fn check_status(obj: &Object, allowed: &[&str]) -> Result<(), String> {
    check_strings(obj, &["status"])?;
    if let Some(Value::String(s)) = obj.get("status")
        && !allowed.contains(&s.as_str())
    {
        return Err(parse_error(format!("`status` `{s}` is not one of [{}]", allowed.join(", "))));
    }
    Ok(())
}

/// Checks `attributes[]`/`dataValues[]` entries and turns number and boolean values into
/// strings, as DHIS2 stores them.
fn normalise_values(obj: &mut Object, key: &str, id_key: &str) -> Result<(), String> {
    let Some(list) = obj.get_mut(key) else { return Ok(()) };
    let Value::Array(items) = list else {
        return if list.is_null() { Ok(()) } else { Err(parse_error(format!("`{key}` must be an array"))) };
    };
    for item in items {
        let Value::Object(entry) = item else {
            return Err(parse_error(format!("every entry of `{key}` must be a JSON object")));
        };
        check_strings(entry, &[id_key])?;
        match entry.get("value") {
            None | Some(Value::Null | Value::String(_)) => {}
            Some(Value::Number(n)) => {
                let text = n.to_string();
                entry.insert("value".into(), Value::String(text));
            }
            Some(Value::Bool(b)) => {
                let text = b.to_string();
                entry.insert("value".into(), Value::String(text));
            }
            Some(other) => return Err(parse_error(format!("`value` of `{key}` must be a string, found {other}"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_payloads_are_flattened_with_parent_links() {
        let body = json!({
            "trackedEntities": [{
                "trackedEntity": "Te000000001",
                "enrollments": [{
                    "enrollment": "En000000001",
                    "trackedEntity": "SomethingEl",
                    "program": "ProgCare001",
                    "events": [{ "event": "Ev000000001", "dataValues": [{ "dataElement": "D", "value": 72.5 }] }],
                }],
            }],
            "events": [{ "event": "Ev000000002" }],
        });
        let bundle = parse(body.to_string().as_bytes()).unwrap();
        let sizes = [&bundle.tracked_entities, &bundle.enrollments, &bundle.events].map(Vec::len);
        assert_eq!(sizes, [1, 1, 2]);
        assert!(bundle.tracked_entities[0].get("enrollments").is_none());
        assert_eq!(bundle.enrollments[0]["trackedEntity"], "Te000000001");
        assert!(bundle.enrollments[0].get("events").is_none());
        let nested = &bundle.events[0];
        assert_eq!((&nested["enrollment"], &nested["program"]), (&json!("En000000001"), &json!("ProgCare001")));
        assert_eq!(nested["dataValues"][0]["value"], "72.5");
        assert_eq!(bundle.events[1]["event"], "Ev000000002");
    }

    #[test]
    fn undeserialisable_payloads_are_refused() {
        for body in [
            json!([]),
            json!({ "trackedEntities": {} }),
            json!({ "trackedEntities": [1] }),
            json!({ "trackedEntities": [{ "orgUnit": 5 }] }),
            json!({ "enrollments": [{ "enrolledAt": "yesterday" }] }),
            json!({ "enrollments": [{ "status": "DONE" }] }),
            json!({ "events": [{ "dataValues": [{ "value": [1] }] }] }),
        ] {
            assert!(parse(body.to_string().as_bytes()).is_err(), "{body}");
        }
        assert!(parse(b"{oops").is_err());
    }
}
