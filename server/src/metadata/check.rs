//! Checking a data value set against the metadata as a strict DHIS2 would, before anything is
//! stored: each problem names the field in the partner's terms, says what is wrong in words
//! (with names, not UIDs) and which DHIS2 error code it would have caused.
//!
//! Codes are DHIS2 2.43's (`E80xx`/`E81xx`) with the code of 2.38–2.42 beside them; the
//! checks are those of the DHIS2 reference, A.6.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde_json::Value;

use super::catalog::{DataElement, DataSet, Snapshot};
use crate::infra::config::ApiConfig;
use dhis2gw_wire::period::Period;

/// A DHIS2 error code, as 2.43 and as 2.38–2.42 report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code {
    pub current: &'static str,
    pub legacy: &'static str,
}

const fn code(current: &'static str, legacy: &'static str) -> Code {
    Code { current, legacy }
}

const DATA_SET_NOT_FOUND: Code = code("E8100", "E7600");
const DATA_ELEMENT_NOT_FOUND: Code = code("E8101", "E7610");
const COC_NOT_FOUND: Code = code("E8103", "E7613");
const AOC_NOT_FOUND: Code = code("E8104", "E7615");
const NO_DATA_SET: Code = code("E8003", "E7636");
const NOT_IN_DATA_SET: Code = code("E8020", "E7633");
const PERIOD_TYPE: Code = code("E8021", "E7632");
const NOT_ASSIGNED: Code = code("E8022", "E7636");
const AOC_NOT_IN_COMBO: Code = code("E8023", "E7635");
const COC_NOT_IN_COMBO: Code = code("E8024", "E7634");
const PERIOD_NOT_OPEN: Code = code("E8030", "E7644");
const INVALID_VALUE: Code = code("E8122", "E7619");
const NOT_AN_OPTION: Code = code("E8123", "E7621");

/// One thing DHIS2 would refuse, and the values (`dataValues` positions) it concerns.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// The field in the submission's terms: `period`, `orgUnit`, `dataValues.<key>`, …
    pub field: String,
    pub reason: String,
    pub code: Code,
    pub indexes: Vec<usize>,
}

impl Problem {
    /// `field: reason (DHIS2 E8022; E7636 before 2.43)`.
    pub fn detail(&self) -> String {
        format!("{}: {} (DHIS2 {}; {} before 2.43)", self.field, self.reason, self.code.current, self.code.legacy)
    }
}

/// What the check found.
#[derive(Debug, Default, PartialEq)]
pub struct Findings {
    pub problems: Vec<Problem>,
    /// Zeros of elements whose zeros DHIS2 does not store: left out, with a note each.
    pub insignificant_zeros: Vec<(usize, String)>,
}

/// How a checked payload names its parts: set-level fields as sent, and each value by its
/// partner key (`/aggregate`) or position (the DHIS2-compatible API).
pub struct Labels<'a> {
    pub values: Vec<String>,
    /// Names of the org units the payload refers to, for the messages.
    pub org_units: &'a HashMap<String, String>,
}

/// Checks every value of a data value set (`dataSet`, `period`, `orgUnit`,
/// `attributeOptionCombo` at the top or on each value).
pub fn data_value_set(snapshot: &Snapshot, payload: &Value, labels: &Labels, today: NaiveDate) -> Findings {
    let mut findings = Findings::default();
    let values = payload["dataValues"].as_array().map(Vec::as_slice).unwrap_or_default();
    let text = |v: &Value, key: &str| v[key].as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let set_data_set = text(payload, "dataSet");
    let default_coc = snapshot.default_option_combo().map(str::to_string);
    let mut zeros = Vec::new();
    for (index, value) in values.iter().enumerate() {
        let label = labels.values.get(index).cloned().unwrap_or_else(|| format!("dataValues[{index}]"));
        let mut report = |field: Option<&str>, reason: String, code: Code| {
            let field = field.map_or_else(|| label.clone(), str::to_string);
            match findings.problems.iter_mut().find(|p| p.field == field && p.reason == reason) {
                Some(problem) => problem.indexes.push(index),
                None => findings.problems.push(Problem { field, reason, code, indexes: vec![index] }),
            }
        };
        // Which field a set-level property came from: the value's own, or the set's.
        let inherited = |key: &'static str| if value.get(key).is_some_and(|v| !v.is_null()) { None } else { Some(key) };
        let element_uid = text(value, "dataElement").unwrap_or_default();
        let Some(element) = snapshot.data_elements.get(&element_uid) else {
            report(None, format!("data element {element_uid} is not in DHIS2"), DATA_ELEMENT_NOT_FOUND);
            continue;
        };
        let period_text = text(value, "period").or_else(|| text(payload, "period")).unwrap_or_default();
        let period = Period::parse(&period_text).ok();
        let data_set = match text(value, "dataSet").or_else(|| set_data_set.clone()) {
            Some(id) => match snapshot.data_set(&id) {
                Some(data_set) => data_set,
                None => {
                    report(Some("dataSet"), format!("data set {id} is not in DHIS2"), DATA_SET_NOT_FOUND);
                    continue;
                }
            },
            None => match detect(snapshot, element, period.as_ref()) {
                Some(data_set) => data_set,
                None => {
                    let reason = format!("no data set holds {}", quoted(&element.name));
                    report(None, reason, NO_DATA_SET);
                    continue;
                }
            },
        };
        if !data_set.elements.contains_key(&element.uid) {
            let reason = format!("{} is not in data set {}", quoted(&element.name), quoted(&data_set.name));
            report(None, reason, NOT_IN_DATA_SET);
        } else {
            let combo = snapshot.effective_combo(data_set, element);
            if let Some(coc) = text(value, "categoryOptionCombo").or_else(|| default_coc.clone()) {
                match snapshot.option_combos.get(&coc) {
                    None => report(None, format!("category option combo {coc} is not in DHIS2"), COC_NOT_FOUND),
                    Some(found) if Some(found.combo.as_str()) != combo => {
                        let combo_name = combo.and_then(|c| snapshot.combos.get(c)).map_or("?", |c| c.name.as_str());
                        let reason = format!(
                            "{} is not a category option combo of {} (its combo is {})",
                            quoted(&found.name),
                            quoted(&element.name),
                            quoted(combo_name)
                        );
                        report(None, reason, COC_NOT_IN_COMBO);
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(aoc) = text(value, "attributeOptionCombo")
            .or_else(|| text(payload, "attributeOptionCombo"))
            .or_else(|| default_coc.clone())
        {
            let field = inherited("attributeOptionCombo");
            match snapshot.option_combos.get(&aoc) {
                None => report(field, format!("attribute option combo {aoc} is not in DHIS2"), AOC_NOT_FOUND),
                Some(found) if data_set.attribute_combo.as_deref() != Some(found.combo.as_str()) => {
                    let reason = format!(
                        "attribute option combo {} is not one of data set {}'s",
                        quoted(&found.name),
                        quoted(&data_set.name)
                    );
                    report(field, reason, AOC_NOT_IN_COMBO);
                }
                Some(_) => {}
            }
        }
        let org_unit = text(value, "orgUnit").or_else(|| text(payload, "orgUnit")).unwrap_or_default();
        if !data_set.org_units.contains(&org_unit) {
            let name = labels.org_units.get(&org_unit).map_or_else(|| org_unit.clone(), |n| quoted(n));
            let reason = format!("{name} is not assigned to data set {}", quoted(&data_set.name));
            report(inherited("orgUnit"), reason, NOT_ASSIGNED);
        }
        if let Some(period) = &period {
            if period.period_type() != data_set.period_type {
                let reason = format!(
                    "{} is a {} period; data set {} takes {} periods",
                    period.as_str(),
                    period.period_type(),
                    quoted(&data_set.name),
                    data_set.period_type
                );
                report(inherited("period"), reason, PERIOD_TYPE);
            } else if !period.is_open(today, data_set.open_future_periods) {
                let reason = format!(
                    "{} is in the future; data set {} is open for {} future period(s)",
                    period.as_str(),
                    quoted(&data_set.name),
                    data_set.open_future_periods
                );
                report(inherited("period"), reason, PERIOD_NOT_OPEN);
            }
        }
        let raw = text(value, "value").unwrap_or_default();
        if raw.is_empty() {
            continue;
        }
        if let Some(option_set) = element.option_set.as_ref().and_then(|o| snapshot.option_sets.get(o)) {
            if !option_set.codes.contains(&raw) {
                let reason = format!("'{raw}' is not one of the options of {}", quoted(&option_set.name));
                report(None, reason, NOT_AN_OPTION);
            }
        } else if let Some(expected) = value_problem(&element.value_type, &raw) {
            report(None, format!("'{raw}' is not {expected}, as {} needs", quoted(&element.name)), INVALID_VALUE);
        } else if !element.zero_is_significant && is_numeric_type(&element.value_type) && is_zero(&raw) {
            let note = format!(
                "a zero for {} is not stored by DHIS2 (zero is not significant); left out",
                quoted(&element.name)
            );
            zeros.push((index, format!("{label}: {note}")));
        }
    }
    findings.insignificant_zeros = zeros;
    findings
}

fn quoted(name: &str) -> String {
    format!("'{name}'")
}

/// When a payload names no data set, DHIS2 takes one holding the element, preferring one of
/// the period's type.
fn detect<'a>(snapshot: &'a Snapshot, element: &DataElement, period: Option<&Period>) -> Option<&'a DataSet> {
    let mut holding: Vec<&DataSet> =
        snapshot.data_sets.values().filter(|d| d.elements.contains_key(&element.uid)).collect();
    holding.sort_by(|a, b| a.uid.cmp(&b.uid));
    let wanted = period.map(Period::period_type);
    holding.iter().find(|d| Some(d.period_type.as_str()) == wanted).or(holding.first()).copied()
}

fn is_numeric_type(value_type: &str) -> bool {
    matches!(
        value_type,
        "NUMBER"
            | "INTEGER"
            | "INTEGER_POSITIVE"
            | "INTEGER_NEGATIVE"
            | "INTEGER_ZERO_OR_POSITIVE"
            | "PERCENTAGE"
            | "UNIT_INTERVAL"
    )
}

fn is_zero(raw: &str) -> bool {
    raw.parse::<f64>().is_ok_and(|n| n == 0.0)
}

/// Digits without superfluous leading zeros, as DHIS2's integer pattern.
fn is_plain_integer(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

/// DHIS2's numeric pattern `-?(0|[1-9]\d*)(\.\d+)?`: no `+`, exponent or bare dot.
fn is_number(s: &str) -> bool {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    match unsigned.split_once('.') {
        Some((int, frac)) => is_plain_integer(int) && !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()),
        None => is_plain_integer(unsigned),
    }
}

/// What the value should have been, in words, when it does not fit the value type; DHIS2's
/// integer types are Java `int`s.
fn value_problem(value_type: &str, raw: &str) -> Option<&'static str> {
    let int = || {
        let unsigned = raw.strip_prefix('-').unwrap_or(raw);
        is_plain_integer(unsigned).then(|| raw.parse::<i32>().ok()).flatten()
    };
    let number = || is_number(raw).then(|| raw.parse::<f64>().ok()).flatten();
    let fits = match value_type {
        "INTEGER" => int().is_some(),
        "INTEGER_POSITIVE" => int().is_some_and(|n| n > 0),
        "INTEGER_NEGATIVE" => int().is_some_and(|n| n < 0),
        "INTEGER_ZERO_OR_POSITIVE" => int().is_some_and(|n| n >= 0),
        "NUMBER" => number().is_some(),
        "PERCENTAGE" => number().is_some_and(|n| (0.0..=100.0).contains(&n)),
        "UNIT_INTERVAL" => number().is_some_and(|n| (0.0..=1.0).contains(&n)),
        "BOOLEAN" => matches!(raw, "true" | "True" | "TRUE" | "false" | "False" | "FALSE" | "1" | "0" | "t" | "f"),
        "TRUE_ONLY" => matches!(raw, "true" | "True" | "TRUE" | "1" | "t"),
        "DATE" => raw.len() == 10 && NaiveDate::parse_from_str(raw, "%Y-%m-%d").is_ok(),
        "TEXT" => raw.chars().count() <= 50_000,
        "LETTER" => raw.chars().count() == 1 && raw.chars().all(char::is_alphabetic),
        _ => true,
    };
    if fits {
        return None;
    }
    Some(match value_type {
        "INTEGER" => "a whole number",
        "INTEGER_POSITIVE" => "a whole number above zero",
        "INTEGER_NEGATIVE" => "a whole number below zero",
        "INTEGER_ZERO_OR_POSITIVE" => "a whole number, zero or above",
        "NUMBER" => "a number",
        "PERCENTAGE" => "a percentage between 0 and 100",
        "UNIT_INTERVAL" => "a number between 0 and 1",
        "BOOLEAN" => "true or false",
        "TRUE_ONLY" => "true (the only value this element takes)",
        "DATE" => "a date in the form yyyy-MM-dd",
        "TEXT" => "a text of at most 50,000 characters",
        _ => "a single letter",
    })
}

/// Problems with the configured defaults: `api.dhis2_data_set` must exist, and
/// `api.dhis2_attribute_option_combo` must be one of its attribute option combos.
pub fn default_warnings(snapshot: &Snapshot, api: &ApiConfig) -> Vec<String> {
    let mut warnings = Vec::new();
    if !snapshot.is_loaded() {
        return warnings;
    }
    let data_set = match api.dhis2_data_set.as_str() {
        "" => None,
        id => {
            let found = snapshot.data_set(id);
            if found.is_none() {
                warnings
                    .push(format!("api.dhis2_data_set: data set {id} is not in DHIS2; submissions must name theirs"));
            }
            found
        }
    };
    let aoc = api.dhis2_attribute_option_combo.as_str();
    if !aoc.is_empty() {
        match (snapshot.option_combo(aoc), data_set) {
            (None, _) => warnings.push(format!("api.dhis2_attribute_option_combo: {aoc} is not in DHIS2")),
            (Some(found), Some(data_set)) if data_set.attribute_combo.as_deref() != Some(found.combo.as_str()) => {
                warnings.push(format!(
                    "api.dhis2_attribute_option_combo: '{}' is not an attribute option combo of data set '{}'",
                    found.name, data_set.name
                ))
            }
            _ => {}
        }
    }
    warnings
}
