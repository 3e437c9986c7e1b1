//! A data value set sent in DHIS2's own terms (through the DHIS2-compatible API): no mapping,
//! so only its shape is checked here; DHIS2 checks the identifiers under the id schemes the
//! client chose.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

const SET_FIELDS: [&str; 4] = ["dataSet", "period", "orgUnit", "attributeOptionCombo"];
const VALUE_TEXT_FIELDS: [&str; 6] =
    ["dataElement", "period", "orgUnit", "categoryOptionCombo", "attributeOptionCombo", "comment"];
/// Most values in one request.
const MAX_VALUES: usize = 100_000;

pub fn check(body: &Value) -> ApiResult<()> {
    let Some(set) = body.as_object() else {
        return Err(ApiError::invalid_field("body", "a JSON object with dataValues"));
    };
    let mut problems = Vec::new();
    // Text, or absent; a combo may also be a category → option object (2.43+).
    let acceptable = |v: Option<&Value>, object_ok: bool| {
        v.is_none_or(|v| v.is_null() || v.is_string() || (object_ok && v.is_object()))
    };
    for field in SET_FIELDS {
        if !acceptable(set.get(field), field == "attributeOptionCombo") {
            problems.push(format!("{field}: must be text"));
        }
    }
    match set.get("dataValues") {
        Some(Value::Array(values)) if values.len() > MAX_VALUES => {
            problems.push(format!("dataValues: {} values; at most {MAX_VALUES} per request", values.len()))
        }
        Some(Value::Array(values)) => {
            for (i, value) in values.iter().enumerate() {
                let Some(v) = value.as_object() else {
                    problems.push(format!("dataValues[{i}]: must be an object"));
                    continue;
                };
                if v.get("dataElement").and_then(Value::as_str).is_none_or(str::is_empty) {
                    problems.push(format!("dataValues[{i}].dataElement: is required"));
                }
                for inherited in ["period", "orgUnit"] {
                    if v.get(inherited).is_none() && set.get(inherited).is_none() {
                        problems.push(format!("dataValues[{i}].{inherited}: is required (here or on the set)"));
                    }
                }
                for field in VALUE_TEXT_FIELDS {
                    if !acceptable(v.get(field), matches!(field, "categoryOptionCombo" | "attributeOptionCombo")) {
                        problems.push(format!("dataValues[{i}].{field}: must be text"));
                    }
                }
                if v.get("value").is_some_and(|x| x.is_object() || x.is_array()) {
                    problems.push(format!("dataValues[{i}].value: a text, number or boolean"));
                }
            }
        }
        Some(_) => problems.push("dataValues: must be a list".into()),
        None if set.contains_key("deletion") => {}
        None => problems.push("dataValues: is required".into()),
    }
    if problems.is_empty() {
        return Ok(());
    }
    problems.truncate(100);
    Err(ApiError::BadRequest { message: "Invalid data value set".into(), detail: problems })
}

/// The data element of each value, to name DHIS2's conflicts by position.
pub fn keys(body: &Value) -> Vec<String> {
    body["dataValues"]
        .as_array()
        .map(|values| values.iter().map(|v| v["dataElement"].as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(body: Value) -> Vec<String> {
        match check(&body) {
            Err(ApiError::BadRequest { detail, .. }) => detail,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_shape_is_checked_and_codes_are_fine() {
        let by_code = json!({"dataSet": "MONTHLY_HIV", "period": "202401", "orgUnit": "FAC001",
            "dataValues": [{"dataElement": "HIV_TESTS", "categoryOptionCombo": "MALE", "value": "5"}]});
        assert!(check(&by_code).is_ok());
        let found = problems(json!({"period": 202401, "dataValues": [{"value": {"x": 1}}, 3]}));
        for expected in [
            "period: must be text",
            "dataValues[0].dataElement: is required",
            "dataValues[0].orgUnit: is required (here or on the set)",
            "dataValues[0].value: a text, number or boolean",
            "dataValues[1]: must be an object",
        ] {
            assert!(found.iter().any(|p| p == expected), "{expected} in {found:#?}");
        }
        assert_eq!(problems(json!({})), ["dataValues: is required"]);
    }
}
