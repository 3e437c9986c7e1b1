//! A data value set sent in DHIS2's own terms (through the DHIS2-compatible API): no mapping,
//! so only its shape is checked here; DHIS2 checks the identifiers under the id schemes the
//! client chose.

use serde_json::Value;

use crate::infra::error::{AppError, AppResult};

const SET_FIELDS: [&str; 4] = ["dataSet", "period", "orgUnit", "attributeOptionCombo"];
const VALUE_TEXT_FIELDS: [&str; 6] =
    ["dataElement", "period", "orgUnit", "categoryOptionCombo", "attributeOptionCombo", "comment"];
/// Most values in one request.
const MAX_VALUES: usize = 100_000;
/// Id-scheme parameters, each `uid`, `code`, `name` or `attribute:<uid>`.
const ID_SCHEMES: [&str; 6] = [
    "idScheme",
    "dataElementIdScheme",
    "orgUnitIdScheme",
    "categoryOptionComboIdScheme",
    "attributeOptionComboIdScheme",
    "dataSetIdScheme",
];
/// Flags that only make DHIS2 stricter (or faster), so any caller may set them.
const STRICTER: [&str; 8] = [
    "strictPeriods",
    "strictDataElements",
    "strictCategoryOptionCombos",
    "strictOrganisationUnits",
    "strictAttributeOptionCombos",
    "requireCategoryOptionCombo",
    "requireAttributeOptionCombo",
    "preheatCache",
];
/// Flags that bypass DHIS2's locks, checks or audit trail: never passed on from a client.
const BYPASSES: [&str; 3] = ["force", "skipAudit", "skipExistingCheck"];

/// What a client's query string asks of a data value import, once checked.
#[derive(Debug, Default, PartialEq)]
pub struct ImportOptions {
    /// The query DHIS2 gets (and the log records): only parameters checked here.
    pub dhis2_query: String,
    pub dry_run: bool,
    pub run_async: bool,
    /// CSV only: whether the first row names the columns (DHIS2's default: it does).
    pub first_row_is_header: bool,
    /// The data element id scheme in force (lower case): payload over URL, specific over general.
    pub data_element_scheme: String,
}

impl ImportOptions {
    /// Checks every query parameter. `may_delete`: the caller was granted `importStrategy=DELETE`.
    pub fn parse(pairs: &[(String, String)], may_delete: bool) -> AppResult<ImportOptions> {
        let mut options = ImportOptions { first_row_is_header: true, ..Default::default() };
        let mut forwarded = Vec::new();
        let mut problems = Vec::new();
        for (key, value) in pairs {
            let key = key.as_str();
            if ID_SCHEMES.contains(&key) {
                if id_scheme(value) {
                    forwarded.push((key, value.as_str()));
                } else {
                    problems.push(format!("{key}: '{value}' is not UID, CODE, NAME or ATTRIBUTE:<uid>"));
                }
            } else if STRICTER.contains(&key) || matches!(key, "dryRun" | "async" | "firstRowIsHeader") {
                let Some(on) = boolean(value) else {
                    problems.push(format!("{key}: '{value}' is not true or false"));
                    continue;
                };
                match key {
                    "dryRun" => options.dry_run = on,
                    "async" => options.run_async = on,
                    "firstRowIsHeader" => options.first_row_is_header = on,
                    _ => forwarded.push((key, value.as_str())),
                }
            } else if key == "importStrategy" {
                match value.to_ascii_uppercase().as_str() {
                    "CREATE" | "UPDATE" | "CREATE_AND_UPDATE" | "NEW" | "UPDATES" | "NEW_AND_UPDATES" => {
                        forwarded.push((key, value.as_str()))
                    }
                    "DELETE" | "DELETES" if may_delete => forwarded.push((key, value.as_str())),
                    "DELETE" | "DELETES" => {
                        return Err(AppError::Forbidden(
                            "importStrategy=DELETE deletes data in DHIS2; this account has not been granted it \
                             (server.dhis2_api_delete_allowed)"
                                .into(),
                        ));
                    }
                    _ => problems.push(format!("importStrategy: '{value}' is not CREATE, UPDATE or CREATE_AND_UPDATE")),
                }
            } else if BYPASSES.contains(&key) {
                problems.push(format!(
                    "{key}: bypasses DHIS2's locks, checks or audit trail; the gateway never passes it on"
                ));
            } else {
                problems.push(format!("{key}: not an import parameter the gateway accepts"));
            }
        }
        if !problems.is_empty() {
            return Err(AppError::BadRequest { message: "Invalid query parameters".into(), detail: problems });
        }
        let scheme = |name: &str| forwarded.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_ascii_lowercase());
        options.data_element_scheme =
            scheme("dataElementIdScheme").or_else(|| scheme("idScheme")).unwrap_or_else(|| "uid".into());
        options.dhis2_query = form_urlencoded::Serializer::new(String::new()).extend_pairs(forwarded).finish();
        Ok(options)
    }

    /// Whether the gateway can check this payload against its metadata: every identifier is a
    /// UID (other schemes are DHIS2's to resolve) and it writes values rather than deleting.
    pub fn checkable(&self, body: &Value) -> bool {
        let query: Vec<(String, String)> = form_urlencoded::parse(self.dhis2_query.as_bytes()).into_owned().collect();
        let by_uid = ID_SCHEMES.iter().all(|key| {
            let scheme = body[*key].as_str().or_else(|| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()));
            scheme.is_none_or(|s| s.eq_ignore_ascii_case("uid") || s.eq_ignore_ascii_case("id"))
        });
        let deleting = query.iter().any(|(k, v)| k == "importStrategy" && v.to_ascii_uppercase().starts_with("DELETE"));
        by_uid && !deleting
    }

    /// The data element id scheme of this payload: its own `dataElementIdScheme` or `idScheme`
    /// beats the URL's.
    pub fn data_element_scheme_of(&self, body: &Value) -> String {
        ["dataElementIdScheme", "idScheme"]
            .iter()
            .find_map(|k| body[*k].as_str())
            .map_or_else(|| self.data_element_scheme.clone(), str::to_ascii_lowercase)
    }
}

fn id_scheme(value: &str) -> bool {
    match value.split_once(':') {
        Some((prefix, attribute)) => prefix.eq_ignore_ascii_case("attribute") && crate::infra::uid::is_valid(attribute),
        None => ["uid", "code", "name", "id"].iter().any(|scheme| scheme.eq_ignore_ascii_case(value)),
    }
}

fn boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// DHIS2's CSV data value format (columns dataelement, period, orgunit, categoryoptioncombo,
/// attributeoptioncombo, value, storedby, lastupdated, comment, followup, deleted), as the
/// JSON data value set the gateway stores and sends. The value limit applies while reading:
/// a huge file is refused at its first row too many, not after building every row.
pub fn from_csv(body: &[u8], header_row: bool) -> AppResult<Value> {
    const COLUMNS: [&str; 11] = [
        "dataElement",
        "period",
        "orgUnit",
        "categoryOptionCombo",
        "attributeOptionCombo",
        "value",
        "storedBy",
        "lastUpdated",
        "comment",
        "followup",
        "deleted",
    ];
    let mut reader = csv::ReaderBuilder::new().has_headers(header_row).flexible(true).from_reader(body);
    let mut values = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) if values.len() == MAX_VALUES => {
                return Err(AppError::invalid_field(
                    "body",
                    format!("more than {MAX_VALUES} CSV rows; at most {MAX_VALUES} values per request"),
                ));
            }
            Ok(true) => {
                let value: serde_json::Map<String, Value> = COLUMNS
                    .iter()
                    .zip(record.iter())
                    .filter(|(_, cell)| !cell.is_empty())
                    .map(|(column, cell)| (column.to_string(), Value::String(cell.to_string())))
                    .collect();
                values.push(Value::Object(value));
            }
            Err(e) => return Err(AppError::invalid_field(&format!("CSV row {}", values.len() + 1), e)),
        }
    }
    Ok(serde_json::json!({"dataValues": values}))
}

/// Each distinct org unit the values are for (a value's own, or the set's).
pub fn org_units(body: &Value) -> Vec<String> {
    let mut units: Vec<String> = body["dataValues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["orgUnit"].as_str().or(body["orgUnit"].as_str()))
        .chain(body["orgUnit"].as_str())
        .map(str::to_string)
        .collect();
    units.sort();
    units.dedup();
    units
}

pub fn check(body: &Value) -> AppResult<()> {
    let Some(set) = body.as_object() else {
        return Err(AppError::invalid_field("body", "a JSON object with dataValues"));
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
    Err(AppError::BadRequest { message: "Invalid data value set".into(), detail: problems })
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
            Err(AppError::BadRequest { detail, .. }) => detail,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deleting_needs_a_grant_and_the_refusal_reads_well() {
        let pairs = |strategy: &str| vec![("importStrategy".to_string(), strategy.to_string())];
        match ImportOptions::parse(&pairs("DELETE"), false) {
            Err(AppError::Forbidden(message)) => assert_eq!(
                message,
                "importStrategy=DELETE deletes data in DHIS2; this account has not been granted it \
                 (server.dhis2_api_delete_allowed)"
            ),
            other => panic!("{other:?}"),
        }
        let granted = ImportOptions::parse(&pairs("DELETE"), true).unwrap();
        assert_eq!(granted.dhis2_query, "importStrategy=DELETE");
        assert!(!granted.checkable(&json!({})), "deletions are not checked against the metadata");
        assert!(ImportOptions::parse(&pairs("CREATE_AND_UPDATE"), false).unwrap().checkable(&json!({})));
        let by_code = ImportOptions::parse(&[("orgUnitIdScheme".to_string(), "CODE".to_string())], false).unwrap();
        assert!(!by_code.checkable(&json!({})), "codes are DHIS2's to resolve");
        assert!(!ImportOptions::default().checkable(&json!({"dataElementIdScheme": "NAME"})));
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
