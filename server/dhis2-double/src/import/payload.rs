//! The JSON data value set as sent, before any identifier is resolved.
//!
//! DHIS2 sends and expects every field as a string; a `value` of another JSON type is kept
//! aside so validation can reject it, any other non-string field is a bad request.

use serde_json::{Map, Value};

use super::options::{SCHEME_FIELDS, Schemes};

/// A `value` field as sent.
#[derive(Clone)]
pub(super) enum RawValue {
    Missing,
    Text(String),
    /// Any other JSON type, kept as JSON text for messages.
    NotString(String),
}

/// One entry of `dataValues[]`.
pub(super) struct InputValue {
    pub(super) data_element: Option<String>,
    pub(super) period: Option<String>,
    pub(super) org_unit: Option<String>,
    pub(super) coc: Option<String>,
    pub(super) aoc: Option<String>,
    pub(super) value: RawValue,
    pub(super) comment: Option<String>,
}

/// A data value set; its `period`, `orgUnit` and `attributeOptionCombo` are defaults
/// for the values.
pub(super) struct Payload {
    pub(super) data_set: Option<String>,
    pub(super) complete_date: Option<String>,
    pub(super) period: Option<String>,
    pub(super) org_unit: Option<String>,
    pub(super) aoc: Option<String>,
    pub(super) schemes: Result<Schemes, String>,
    pub(super) values: Vec<InputValue>,
}

/// Parses the body; `Err` is a bad request, worded like DHIS2's JSON errors.
pub(super) fn parse_payload(body: &[u8]) -> Result<Payload, String> {
    let root: Value = serde_json::from_slice(body).map_err(|e| format!("JSON parse error: {e}"))?;
    let Value::Object(root) = root else {
        return Err("JSON parse error: a data value set must be a JSON object".to_owned());
    };
    let values = match root.get("dataValues") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(parse_value).collect::<Result<_, _>>()?,
        Some(_) => return Err("JSON parse error: `dataValues` must be an array".to_owned()),
    };
    let schemes = SCHEME_FIELDS.iter().map(|(field, _)| string_field(&root, field)).collect::<Result<Vec<_>, _>>()?;
    Ok(Payload {
        data_set: string_field(&root, "dataSet")?,
        complete_date: string_field(&root, "completeDate")?,
        period: string_field(&root, "period")?,
        org_unit: string_field(&root, "orgUnit")?,
        aoc: string_field(&root, "attributeOptionCombo")?,
        schemes: Schemes::read(|field| {
            let i = SCHEME_FIELDS.iter().position(|(f, _)| *f == field)?;
            schemes[i].clone()
        }),
        values,
    })
}

fn parse_value(item: &Value) -> Result<InputValue, String> {
    let Value::Object(obj) = item else {
        return Err("JSON parse error: every data value must be a JSON object".to_owned());
    };
    let value = match obj.get("value") {
        None | Some(Value::Null) => RawValue::Missing,
        Some(Value::String(s)) => RawValue::Text(s.clone()),
        Some(other) => RawValue::NotString(other.to_string()),
    };
    Ok(InputValue {
        data_element: string_field(obj, "dataElement")?,
        period: string_field(obj, "period")?,
        org_unit: string_field(obj, "orgUnit")?,
        coc: string_field(obj, "categoryOptionCombo")?,
        aoc: string_field(obj, "attributeOptionCombo")?,
        value,
        comment: string_field(obj, "comment")?,
    })
}

fn string_field(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("JSON parse error: `{key}` must be a string")),
    }
}
