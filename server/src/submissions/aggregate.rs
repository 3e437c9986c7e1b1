//! `POST /aggregate` bodies: parsed field by field so one answer names every problem, then
//! translated through the mappings into the DHIS2 dataValueSet that will be sent.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use crate::infra::config::MappingScheme;
use crate::infra::error::AppError;
use crate::infra::uid;
use crate::mappings::{Lookup, Target};
use dhis2gw_wire::RegisterCompletion;
use dhis2gw_wire::period::Period;

/// DHIS2 refuses longer comments (E8125) and text values beyond this.
const MAX_COMMENT_CHARS: usize = 5000;
const MAX_VALUE_CHARS: usize = 50_000;

/// A value as the partner sent it, already in DHIS2's string form.
#[derive(Clone, Debug, PartialEq)]
pub struct PartnerValue {
    pub value: String,
    pub comment: Option<String>,
}

/// A syntactically valid submission (the org unit is checked once mappings are known).
#[derive(Clone, Debug)]
pub struct Aggregate {
    pub org_unit: String,
    pub period: Period,
    /// `None`: the configured default data set (`api.dhis2_data_set`).
    pub data_set: Option<String>,
    /// A UID, or the code of an attribute option combo (resolved through the metadata).
    pub attribute_option_combo: Option<String>,
    pub complete_date: Option<NaiveDate>,
    /// `complete: true`: register the data set as complete today.
    pub complete: bool,
    pub dry_run: bool,
    /// In key order, so the payload is deterministic.
    pub values: BTreeMap<String, PartnerValue>,
    /// Keys whose value was null: left out, and said so.
    pub null_keys: Vec<String>,
}

/// Checks every field of the body; a 400 lists all problems at once.
pub fn parse(body: &Value) -> Result<Aggregate, AppError> {
    let Some(obj) = body.as_object() else {
        return Err(AppError::invalid_field("body", "must be a JSON object"));
    };
    let mut problems = Vec::new();
    let mut text = |field: &str, required: bool| -> Option<String> {
        match obj.get(field) {
            None | Some(Value::Null) if required => {
                problems.push(format!("{field}: is required"));
                None
            }
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(other) => {
                problems.push(format!("{field}: must be a string, not {}", type_name(other)));
                None
            }
        }
    };
    let org_unit = text("orgUnit", true);
    let period = text("period", true);
    let data_set = text("dataSet", false).filter(|s| !s.is_empty());
    let aoc = text("attributeOptionCombo", false).filter(|s| !s.is_empty());
    let complete_date = text("completeDate", false).filter(|s| !s.is_empty());
    text("orgUnitName", false);

    if org_unit.as_deref() == Some("") {
        problems.push("orgUnit: must not be empty".into());
    }
    let period = period.and_then(|p| Period::parse(&p).map_err(|e| problems.push(format!("period: {e}"))).ok());
    if let Some(ds) = &data_set
        && !uid::is_valid(ds)
    {
        problems.push(format!("dataSet: '{ds}' is not a DHIS2 UID (a letter, then 10 letters or digits)"));
    }
    if let Some(aoc) = &aoc
        && (aoc.chars().count() > 50 || aoc.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        problems.push(format!("attributeOptionCombo: '{aoc}' is neither a DHIS2 UID nor a code"));
    }
    let complete_date = complete_date.and_then(|d| {
        NaiveDate::parse_from_str(&d, "%Y-%m-%d")
            .map_err(|_| problems.push(format!("completeDate: '{d}' is not a date in the form yyyy-MM-dd")))
            .ok()
    });
    let mut flag = |field: &str| match obj.get(field) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {
            s.eq_ignore_ascii_case("true")
        }
        Some(other) => {
            problems.push(format!("{field}: must be true or false, not {}", type_name(other)));
            false
        }
    };
    let dry_run = flag("dryRun");
    let complete = flag("complete");
    let (values, null_keys) = match obj.get("dataValues") {
        Some(Value::Object(map)) if map.is_empty() => {
            problems.push("dataValues: must hold at least one value".into());
            (BTreeMap::new(), Vec::new())
        }
        Some(Value::Object(map)) => parse_values(map, &mut problems),
        None | Some(Value::Null) => {
            problems.push("dataValues: is required".into());
            (BTreeMap::new(), Vec::new())
        }
        Some(other) => {
            problems.push(format!("dataValues: must be an object of key → value, not {}", type_name(other)));
            (BTreeMap::new(), Vec::new())
        }
    };
    if !problems.is_empty() {
        return Err(AppError::BadRequest {
            message: "Request does not match required schema".into(),
            detail: problems,
        });
    }
    Ok(Aggregate {
        org_unit: org_unit.expect("checked"),
        period: period.expect("checked"),
        data_set,
        attribute_option_combo: aoc,
        complete_date,
        complete,
        dry_run,
        values,
        null_keys,
    })
}

fn parse_values(map: &Map<String, Value>, problems: &mut Vec<String>) -> (BTreeMap<String, PartnerValue>, Vec<String>) {
    let mut values = BTreeMap::new();
    let mut null_keys = Vec::new();
    for (key, raw) in map {
        let field = format!("dataValues.{key}");
        if key.trim().is_empty() || key.contains('\0') {
            problems.push("dataValues: keys must be non-empty text".into());
            continue;
        }
        let (value, comment) = match raw {
            Value::Object(inner) => {
                let unknown: Vec<_> = inner.keys().filter(|k| !matches!(k.as_str(), "value" | "comment")).collect();
                if !unknown.is_empty() {
                    problems
                        .push(format!("{field}: unknown field(s) {unknown:?}; expected {{\"value\", \"comment\"}}"));
                    continue;
                }
                let comment = match inner.get("comment") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(c)) if c.chars().count() <= MAX_COMMENT_CHARS && !c.contains('\0') => {
                        Some(c.clone())
                    }
                    Some(Value::String(_)) => {
                        problems.push(format!("{field}.comment: at most {MAX_COMMENT_CHARS} characters"));
                        continue;
                    }
                    Some(other) => {
                        problems.push(format!("{field}.comment: must be a string, not {}", type_name(other)));
                        continue;
                    }
                };
                (inner.get("value").unwrap_or(&Value::Null), comment)
            }
            other => (other, None),
        };
        match scalar(value) {
            Ok(Some(text)) => {
                values.insert(key.clone(), PartnerValue { value: text, comment });
            }
            Ok(None) => null_keys.push(key.clone()),
            Err(problem) => problems.push(format!("{field}: {problem}")),
        }
    }
    (values, null_keys)
}

/// A JSON scalar in DHIS2's string form; numbers in plain decimal (1000000, never 1e+06).
fn scalar(value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.contains('\0') => Err("must not contain NUL characters".into()),
        Value::String(s) if s.chars().count() > MAX_VALUE_CHARS => Err(format!("at most {MAX_VALUE_CHARS} characters")),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Number(n) => Ok(Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            // Rust prints floats in plain decimal: 1e6 → "1000000", 1.5e-7 → "0.00000015".
            (_, _, Some(f)) => f.to_string(),
            _ => return Err("is not a number DHIS2 can store".into()),
        })),
        other => {
            Err(format!("must be a number, string, boolean or {{\"value\", \"comment\"}}, not {}", type_name(other)))
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What a submission gets when it names no data set or attribute option combo
/// (`api.dhis2_data_set`, `api.dhis2_attribute_option_combo`), and whether it registers its
/// data set as complete (`api.register_completion` or the partner's), dated `today` unless it
/// gives `completeDate`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Defaults<'a> {
    pub data_set: Option<&'a str>,
    pub attribute_option_combo: Option<&'a str>,
    pub register_completion: RegisterCompletion,
    pub today: NaiveDate,
}

impl Aggregate {
    /// The `completeDate` to send, if any.
    fn complete_date(&self, policy: RegisterCompletion, today: NaiveDate) -> Option<NaiveDate> {
        let requested = self.complete_date.or(self.complete.then_some(today));
        match policy {
            RegisterCompletion::Always => requested.or(Some(today)),
            RegisterCompletion::WhenRequested => requested,
            RegisterCompletion::Never => None,
        }
    }
}

/// The DHIS2 payload, and for each of its `dataValues[i]` the partner key it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Built {
    pub payload: Value,
    pub value_keys: Vec<String>,
    pub warnings: Vec<String>,
}

/// Translates through the mappings. Unmapped keys become warnings; a submission with
/// nothing mappable, or with two keys landing on the same DHIS2 value, is refused (422).
pub fn build(
    submission: &Aggregate,
    lookup: &Lookup,
    scheme: MappingScheme,
    defaults: &Defaults,
) -> Result<Built, AppError> {
    let org_unit = match &lookup.org_unit {
        Some(mapped) => mapped.clone(),
        None if uid::is_valid(&submission.org_unit) => submission.org_unit.clone(),
        None => return Err(unmapped_org_unit(&submission.org_unit)),
    };
    let mut warnings: Vec<String> =
        submission.null_keys.iter().map(|k| format!("dataValues.{k}: value is null; left out")).collect();
    let mut data_values = Vec::new();
    let mut value_keys = Vec::new();
    let mut unmapped = Vec::new();
    let mut targets: BTreeMap<(String, Option<String>, Option<String>), &str> = BTreeMap::new();
    for (key, value) in &submission.values {
        let target = match resolve(key, lookup, scheme) {
            Ok(target) => target,
            Err(problem) => {
                unmapped.push(key.clone());
                warnings.push(format!("dataValues.{key}: {problem}; left out"));
                continue;
            }
        };
        let identity =
            (target.data_element.clone(), target.category_option_combo.clone(), target.attribute_option_combo.clone());
        if let Some(first) = targets.insert(identity, key) {
            return Err(AppError::Unprocessable {
                message: "Two keys map to the same DHIS2 value".into(),
                detail: vec![format!(
                    "dataValues.{key}: maps to the same data element and category option combo as dataValues.{first}"
                )],
            });
        }
        let mut dv = Map::new();
        dv.insert("dataElement".into(), json!(target.data_element));
        if let Some(coc) = &target.category_option_combo {
            dv.insert("categoryOptionCombo".into(), json!(coc));
        }
        if let Some(aoc) = &target.attribute_option_combo {
            dv.insert("attributeOptionCombo".into(), json!(aoc));
        }
        dv.insert("value".into(), json!(value.value));
        if let Some(comment) = &value.comment {
            dv.insert("comment".into(), json!(comment));
        }
        data_values.push(Value::Object(dv));
        value_keys.push(key.clone());
    }
    if data_values.is_empty() {
        return Err(AppError::Unprocessable {
            message: "Nothing in dataValues could be mapped to DHIS2".into(),
            detail: if warnings.is_empty() { vec!["dataValues: every value is null".into()] } else { warnings },
        });
    }
    // Known once something is mapped: else it may come from the values' mappings.
    let data_set = match submission.data_set.as_deref().or(defaults.data_set) {
        Some(data_set) => data_set.to_string(),
        None => mapped_data_set(submission, lookup)?,
    };
    let mut payload = Map::new();
    payload.insert("dataSet".into(), json!(data_set));
    payload.insert("period".into(), json!(submission.period.as_str()));
    payload.insert("orgUnit".into(), json!(org_unit));
    if let Some(aoc) = submission.attribute_option_combo.as_deref().or(defaults.attribute_option_combo) {
        payload.insert("attributeOptionCombo".into(), json!(aoc));
    }
    if let Some(date) = submission.complete_date(defaults.register_completion, defaults.today) {
        payload.insert("completeDate".into(), json!(date.format("%Y-%m-%d").to_string()));
    }
    payload.insert("dataValues".into(), Value::Array(data_values));
    Ok(Built { payload: Value::Object(payload), value_keys, warnings })
}

/// An org unit that is neither a UID nor translated by a mapping or the synced hierarchy.
pub fn unmapped_org_unit(org_unit: &str) -> AppError {
    AppError::invalid_field(
        "orgUnit",
        format!("'{org_unit}' is not a DHIS2 UID and no org unit (ou) mapping translates it"),
    )
}

/// The one data set the mappings of a submission's values name, for a submission that names
/// none where no default is configured.
fn mapped_data_set(submission: &Aggregate, lookup: &Lookup) -> Result<String, AppError> {
    let mut named: Vec<&str> = submission
        .values
        .keys()
        .filter_map(|key| match lookup.data_elements.get(key).map(Vec::as_slice) {
            Some([target]) => target.data_set.as_deref(),
            _ => None,
        })
        .collect();
    named.sort_unstable();
    named.dedup();
    match named.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(AppError::invalid_field(
            "dataSet",
            "is required (no default data set is configured, and the values' mappings name none)",
        )),
        several => Err(AppError::invalid_field(
            "dataSet",
            format!("is required: the values' mappings name several data sets ({})", several.join(", ")),
        )),
    }
}

/// The DHIS2 target of one partner key.
fn resolve(key: &str, lookup: &Lookup, scheme: MappingScheme) -> Result<Target, String> {
    match lookup.data_elements.get(key).map(Vec::as_slice) {
        Some([target]) if uid::is_valid(&target.data_element) => Ok(target.clone()),
        Some([target]) => Err(format!("its mapping has no valid data element ('{}')", target.data_element)),
        Some([_, _, ..]) => Err("more than one mapping matches it; make the mappings unambiguous".into()),
        _ if scheme == MappingScheme::Uid => {
            uid_key(key).ok_or_else(|| "no mapping, and not a data element UID".into())
        }
        _ => Err("no mapping".into()),
    }
}

/// With the UID scheme a key may name DHIS2 directly: `dataElement` or `dataElement.categoryOptionCombo`.
fn uid_key(key: &str) -> Option<Target> {
    let (de, coc) = match key.split_once('.') {
        Some((de, coc)) => (de, Some(coc)),
        None => (key, None),
    };
    (uid::is_valid(de) && coc.is_none_or(uid::is_valid)).then(|| Target {
        data_element: de.to_string(),
        category_option_combo: coc.map(str::to_string),
        attribute_option_combo: None,
        data_set: None,
    })
}

/// Every partner key a DHIS2 conflict refers to (`-1` is the whole group).
pub fn keys_of(indexes: &[i64], value_keys: &[String]) -> Vec<String> {
    if indexes.contains(&-1) {
        return value_keys.to_vec();
    }
    indexes.iter().filter_map(|&i| usize::try_from(i).ok().and_then(|i| value_keys.get(i)).cloned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(entries: &[(&str, &str, Option<&str>)]) -> Lookup {
        let mut l = Lookup::default();
        for (key, de, coc) in entries {
            l.data_elements.entry(key.to_string()).or_default().push(Target {
                data_element: de.to_string(),
                category_option_combo: coc.map(str::to_string),
                attribute_option_combo: None,
                data_set: None,
            });
        }
        l
    }

    fn detail_fields(e: AppError) -> Vec<String> {
        match e {
            AppError::BadRequest { detail, .. } | AppError::Unprocessable { detail, .. } => {
                detail.iter().map(|d| d.split(':').next().unwrap().to_string()).collect()
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let body = json!({"orgUnit": 5, "period": "2024-13", "dataSet": "bad", "completeDate": "26/11/2026",
                          "attributeOptionCombo": "not a code", "dryRun": "sometimes",
                          "dataValues": {"a": [1], "b": {"value": 1, "comment": 3}, "c": {"value": 1, "extra": 1}}});
        let fields = detail_fields(parse(&body).unwrap_err());
        assert_eq!(
            fields,
            [
                "orgUnit",
                "period",
                "dataSet",
                "attributeOptionCombo",
                "completeDate",
                "dryRun",
                "dataValues.a",
                "dataValues.b.comment",
                "dataValues.c"
            ]
        );
        assert_eq!(detail_fields(parse(&json!({})).unwrap_err()), ["orgUnit", "period", "dataValues"]);
        assert_eq!(detail_fields(parse(&json!([])).unwrap_err()), ["body"]);
    }

    #[test]
    fn numbers_are_plain_decimal_strings() {
        let v = |n: Value| scalar(&n).unwrap().unwrap();
        assert_eq!(v(json!(1000000)), "1000000");
        assert_eq!(v(serde_json::from_str("1e6").unwrap()), "1000000");
        assert_eq!(v(serde_json::from_str("1.234567e6").unwrap()), "1234567");
        assert_eq!(v(json!(0.5)), "0.5");
        assert_eq!(v(json!(-12)), "-12");
        assert_eq!(v(json!(18446744073709551615u64)), "18446744073709551615");
        assert_eq!(v(json!(true)), "true");
        assert_eq!(scalar(&Value::Null).unwrap(), None);
    }

    fn submission(values: Value) -> Aggregate {
        parse(&json!({"orgUnit": "OrgFac00001", "period": "202401", "dataSet": "pBOMPrpg1QY", "dataValues": values}))
            .unwrap()
    }

    #[test]
    fn completion_is_registered_as_the_gateway_or_partner_says() {
        use RegisterCompletion::*;
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let l = lookup(&[("positives", "DeInteger01", None)]);
        let body = |extra: Value| {
            let mut body = json!({"orgUnit": "OrgFac00001", "period": "202401", "dataSet": "pBOMPrpg1QY",
                                  "dataValues": {"positives": 1}});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            parse(&body).unwrap()
        };
        let cases = [
            (Always, json!({}), Some("2026-12-04")),
            (Always, json!({"completeDate": "2024-02-01"}), Some("2024-02-01")),
            (WhenRequested, json!({}), None),
            (WhenRequested, json!({"complete": true}), Some("2026-12-04")),
            (WhenRequested, json!({"complete": "false"}), None),
            (WhenRequested, json!({"completeDate": "2024-02-01"}), Some("2024-02-01")),
            (Never, json!({"complete": true, "completeDate": "2024-02-01"}), None),
        ];
        for (policy, extra, expected) in cases {
            let defaults = Defaults { register_completion: policy, today, ..Default::default() };
            let built = build(&body(extra.clone()), &l, MappingScheme::Code, &defaults).unwrap();
            assert_eq!(built.payload["completeDate"].as_str(), expected, "{policy:?} {extra}");
        }
        let wrong =
            parse(&json!({"orgUnit": "OrgFac00001", "period": "202401", "complete": 1, "dataValues": {"a": 1}}));
        assert!(detail_fields(wrong.unwrap_err()).contains(&"complete".to_string()));
    }

    #[test]
    fn mapped_values_build_the_dhis2_payload_and_unmapped_ones_are_warned_about() {
        let s = submission(
            json!({"tests_male": 1000000, "positives": {"value": "3", "comment": "checked"}, "unknown": 1, "nothing": null}),
        );
        let l = lookup(&[("tests_male", "DeNumber001", Some("Male000000a")), ("positives", "DeInteger01", None)]);
        let built = build(&s, &l, MappingScheme::Code, &Defaults::default()).unwrap();
        assert_eq!(
            built.payload,
            json!({"dataSet": "pBOMPrpg1QY", "period": "202401", "orgUnit": "OrgFac00001", "dataValues": [
                {"dataElement": "DeInteger01", "value": "3", "comment": "checked"},
                {"dataElement": "DeNumber001", "categoryOptionCombo": "Male000000a", "value": "1000000"},
            ]})
        );
        assert_eq!(built.value_keys, ["positives", "tests_male"]);
        assert!(built.payload.get("completeDate").is_none(), "never today's date by default");
        assert_eq!(built.warnings.len(), 2, "{:?}", built.warnings);
        assert!(built.warnings.iter().any(|w| w.starts_with("dataValues.unknown: no mapping")));
        assert!(built.warnings.iter().any(|w| w.starts_with("dataValues.nothing: value is null")));
    }

    #[test]
    fn nothing_mappable_and_colliding_keys_are_unprocessable() {
        let s = submission(json!({"unknown": 1}));
        assert!(matches!(
            build(&s, &Lookup::default(), MappingScheme::Code, &Defaults::default()),
            Err(AppError::Unprocessable { .. })
        ));
        let s = submission(json!({"a": 1, "b": 2}));
        let l = lookup(&[("a", "DeNumber001", None), ("b", "DeNumber001", None)]);
        let fields = detail_fields(build(&s, &l, MappingScheme::Code, &Defaults::default()).unwrap_err());
        assert_eq!(fields, ["dataValues.b"]);
    }

    #[test]
    fn uid_scheme_passes_dhis2_identifiers_through() {
        let s = submission(json!({"DeNumber001.Male000000a": 4, "DeInteger01": 2, "not-a-uid": 1}));
        let built = build(
            &s,
            &Lookup::default(),
            MappingScheme::Uid,
            &Defaults { attribute_option_combo: Some("HllvX50cXC0"), ..Default::default() },
        )
        .unwrap();
        assert_eq!(
            built.payload["dataValues"][1],
            json!({"dataElement": "DeNumber001", "categoryOptionCombo": "Male000000a", "value": "4"})
        );
        assert_eq!(built.payload["attributeOptionCombo"], "HllvX50cXC0");
        assert_eq!(built.warnings.len(), 1);
    }

    #[test]
    fn org_units_are_uids_or_mapped_codes() {
        let by_code = parse(&json!({"orgUnit": "FAC001", "period": "2024Q1", "dataSet": "TbQuarter01", "completeDate": "2024-04-02", "dataValues": {"DeInteger01": 1}})).unwrap();
        let err = build(&by_code, &Lookup::default(), MappingScheme::Uid, &Defaults::default()).unwrap_err();
        assert_eq!(detail_fields(err), ["orgUnit"]);
        let mapped = Lookup { org_unit: Some("OrgFac00002".into()), ..Default::default() };
        let built = build(&by_code, &mapped, MappingScheme::Uid, &Defaults::default()).unwrap();
        assert_eq!(
            (built.payload["orgUnit"].as_str(), built.payload["completeDate"].as_str()),
            (Some("OrgFac00002"), Some("2024-04-02"))
        );
    }

    #[test]
    fn a_submission_without_a_data_set_takes_the_configured_one() {
        let s =
            parse(&json!({"orgUnit": "OrgFac00001", "period": "202401", "dataValues": {"DeInteger01": 1}})).unwrap();
        let err = build(&s, &Lookup::default(), MappingScheme::Uid, &Defaults::default()).unwrap_err();
        assert_eq!(detail_fields(err), ["dataSet"]);
        let defaults = Defaults {
            data_set: Some("pBOMPrpg1QY"),
            attribute_option_combo: Some("HllvX50cXC0"),
            ..Default::default()
        };
        let built = build(&s, &Lookup::default(), MappingScheme::Uid, &defaults).unwrap();
        assert_eq!(built.payload["dataSet"], "pBOMPrpg1QY");
        assert_eq!(built.payload["attributeOptionCombo"], "HllvX50cXC0");
    }

    #[test]
    fn else_the_data_set_its_mappings_name() {
        let s = parse(&json!({"orgUnit": "OrgFac00001", "period": "202401", "dataValues": {"a": 1, "b": 2, "c": 3}}))
            .unwrap();
        let mut l = lookup(&[("a", "DeInteger01", None), ("b", "DeNumber001", None), ("c", "DeNumber002", None)]);
        let mut name = |key: &str, data_set: Option<&str>| {
            l.data_elements.get_mut(key).unwrap()[0].data_set = data_set.map(str::to_string);
        };
        name("a", Some("pBOMPrpg1QY"));
        name("b", Some("pBOMPrpg1QY"));
        let built = build(&s, &l, MappingScheme::Code, &Defaults::default()).unwrap();
        assert_eq!(built.payload["dataSet"], "pBOMPrpg1QY");
        l.data_elements.get_mut("c").unwrap()[0].data_set = Some("TbQuarter01".into());
        let err = build(&s, &l, MappingScheme::Code, &Defaults::default()).unwrap_err();
        assert!(format!("{err:?}").contains("several data sets (TbQuarter01, pBOMPrpg1QY)"), "{err:?}");
    }

    #[test]
    fn conflict_indexes_point_back_to_partner_keys() {
        let keys = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        assert_eq!(keys_of(&[2, 0], &keys), ["c", "a"]);
        assert_eq!(keys_of(&[-1], &keys), keys);
        assert!(keys_of(&[7], &keys).is_empty());
    }
}
