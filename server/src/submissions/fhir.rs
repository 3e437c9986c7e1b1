//! FHIR R4 MeasureReports in the shape of mADX (ADX on FHIR), alone or in a `Bundle`, read
//! into one [`Part`] per report:
//! - `measure` (a canonical URL; its last segment) is the data set, by code or UID;
//! - `subject` (else `reporter`), a `Location/…` or `Organization/…` reference or an
//!   identifier, is the org unit;
//! - `period` (`start`, `end`) becomes the DHIS2 period of the data set's type;
//! - each `group`'s `code` is a data element code: its `measureScore` is one value, each
//!   `population`'s `count` another (keyed with `population=CODE`), and each stratifier's
//!   stratum a value disaggregated by its `value` (the stratifier's `code` the category) or
//!   its `component`s. The keys are [`value_key`]s, translated through the mappings.
//!
//! Problems are placed by FHIRPath (`MeasureReport.group[0].stratifier[1].stratum[2]`), as an
//! `OperationOutcome` issue's `expression`.

use chrono::{Months, NaiveDate};
use dhis2gw_wire::period::Period;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::document::{Part, Problem, Resolver, value_key};

/// Reads a MeasureReport, or a Bundle of them (`type` batch, transaction or collection).
pub fn read(text: &str, resolver: &Resolver) -> Result<Vec<Part>, Vec<Problem>> {
    let resource: Value = serde_json::from_str(text).map_err(|e| vec![Problem::new("", format!("not JSON: {e}"))])?;
    match resource["resourceType"].as_str() {
        Some("MeasureReport") => read_report(&resource, "MeasureReport", text).map(|part| vec![part]),
        Some("Bundle") => read_bundle(&resource, text),
        Some(other) => Err(vec![Problem::new(
            "resourceType",
            format!("'{other}' is not taken here; send a MeasureReport or a Bundle of them"),
        )]),
        None => Err(vec![Problem::new("resourceType", "is required (MeasureReport or Bundle)")]),
    }
    .and_then(|parts| resolve(parts, resolver))
}

/// Reads a MeasureReport alone (`POST /fhir/MeasureReport`).
pub fn read_measure_report(text: &str, resolver: &Resolver) -> Result<Vec<Part>, Vec<Problem>> {
    let resource: Value = serde_json::from_str(text).map_err(|e| vec![Problem::new("", format!("not JSON: {e}"))])?;
    if resource["resourceType"].as_str() != Some("MeasureReport") {
        return Err(vec![Problem::new("resourceType", "must be MeasureReport at this endpoint")]);
    }
    resolve(vec![read_report(&resource, "MeasureReport", text)?], resolver)
}

/// A Bundle's entries as sent, to keep each report's text.
#[derive(Deserialize)]
struct RawBundle<'a> {
    #[serde(borrow, default)]
    entry: Vec<RawEntry<'a>>,
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow)]
    resource: Option<&'a RawValue>,
}

fn read_bundle(bundle: &Value, text: &str) -> Result<Vec<Part>, Vec<Problem>> {
    let mut problems = Vec::new();
    match bundle["type"].as_str() {
        Some("batch" | "transaction" | "collection") => {}
        Some(other) => problems.push(Problem::new(
            "Bundle.type",
            format!("'{other}' is not taken here; send a batch, transaction or collection"),
        )),
        None => problems.push(Problem::new("Bundle.type", "is required")),
    }
    let Some(entries) = bundle["entry"].as_array().filter(|e| !e.is_empty()) else {
        problems.push(Problem::new("Bundle.entry", "must hold at least one MeasureReport"));
        return Err(problems);
    };
    let raw: RawBundle = serde_json::from_str(text).map_err(|e| vec![Problem::new("Bundle.entry", e.to_string())])?;
    let mut parts = Vec::new();
    for (i, (entry, raw)) in entries.iter().zip(&raw.entry).enumerate() {
        let path = format!("Bundle.entry[{i}].resource");
        if let Some(request) = entry.get("request") {
            let method = request["method"].as_str().unwrap_or_default();
            let url = request["url"].as_str().unwrap_or_default();
            if method != "POST" || url.trim_start_matches('/') != "MeasureReport" {
                problems.push(Problem::new(
                    format!("Bundle.entry[{i}].request"),
                    format!("'{method} {url}' is not taken here; only POST MeasureReport"),
                ));
            }
        }
        match (entry["resource"]["resourceType"].as_str(), raw.resource) {
            (Some("MeasureReport"), Some(text)) => match read_report(&entry["resource"], &path, text.get()) {
                Ok(part) => parts.push(part),
                Err(mut found) => problems.append(&mut found),
            },
            (Some(other), _) => problems.push(Problem::new(
                format!("{path}.resourceType"),
                format!("'{other}' is not taken here; only MeasureReport"),
            )),
            (None, _) => problems.push(Problem::new(path, "must be a MeasureReport")),
        }
    }
    if problems.is_empty() { Ok(parts) } else { Err(problems) }
}

/// A report read, its references not yet resolved.
fn read_report(report: &Value, path: &str, text: &str) -> Result<Part, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut problem = |at: String, detail: String| problems.push(Problem::new(at, detail));
    match report["status"].as_str() {
        Some("complete") => {}
        Some(status @ ("pending" | "error")) => {
            problem(format!("{path}.status"), format!("is {status}; only complete reports are taken"))
        }
        Some(other) => problem(format!("{path}.status"), format!("'{other}' is not a MeasureReport status")),
        None => problem(format!("{path}.status"), "is required".into()),
    }
    match report["type"].as_str() {
        Some("summary" | "data-collection") => {}
        Some(kind @ ("individual" | "subject-list")) => problem(
            format!("{path}.type"),
            format!("{kind} reports hold no aggregate data; send summary or data-collection"),
        ),
        Some(other) => problem(format!("{path}.type"), format!("'{other}' is not a MeasureReport type")),
        None => problem(format!("{path}.type"), "is required".into()),
    }
    let measure = report["measure"].as_str().map(measure_id);
    if measure.as_deref().is_none_or(str::is_empty) {
        problem(format!("{path}.measure"), "is required: the canonical URL of the data set's Measure".into());
    }
    let (unit_path, unit) = match (org_unit_of(&report["subject"]), org_unit_of(&report["reporter"])) {
        (Some(unit), _) => (format!("{path}.subject"), unit),
        (None, Some(unit)) => (format!("{path}.reporter"), unit),
        (None, None) => {
            problem(
                format!("{path}.subject"),
                "is required: a Location or Organization reference, or an identifier, naming the org unit".into(),
            );
            (String::new(), String::new())
        }
    };
    let span = dates(&report["period"]).map_err(|e| problem(format!("{path}.period"), e)).ok();
    let groups = report["group"].as_array().filter(|g| !g.is_empty());
    if groups.is_none() {
        problem(format!("{path}.group"), "must hold at least one group".into());
    }
    let mut part = Part::new(path.to_string(), text.to_string(), "", &unit, "");
    part.places.push(("orgUnit".into(), unit_path));
    if let Some(measure) = &measure {
        part.set("dataSet", measure, format!("{path}.measure"));
    }
    if let Some((start, end)) = span {
        // Resolved to a DHIS2 period once the data set's type is known.
        part.set("period", &format!("{start}/{end}"), format!("{path}.period"));
    }
    for (g, group) in groups.into_iter().flatten().enumerate() {
        let at = format!("{path}.group[{g}]");
        let Some(element) = code_of(&group["code"]) else {
            problems.push(Problem::new(format!("{at}.code"), "is required: the data element's code"));
            continue;
        };
        let mut values = Values { part: &mut part, problems: &mut problems };
        values.scored(group, &at, &element, Vec::new());
        for (s, stratifier) in group["stratifier"].as_array().into_iter().flatten().enumerate() {
            let at = format!("{at}.stratifier[{s}]");
            // R4 gives a stratifier a list of codes; the first names its category.
            let category = stratifier["code"].as_array().and_then(|c| c.first()).and_then(code_of);
            for (t, stratum) in stratifier["stratum"].as_array().into_iter().flatten().enumerate() {
                let at = format!("{at}.stratum[{t}]");
                match stratum_dimensions(stratum, category.as_deref(), &at) {
                    Ok(dimensions) => values.scored(stratum, &at, &element, dimensions),
                    Err(problem) => values.problems.push(problem),
                }
            }
        }
    }
    if problems.is_empty() { Ok(part) } else { Err(problems) }
}

/// Adds the values one element of a report carries.
struct Values<'a> {
    part: &'a mut Part,
    problems: &'a mut Vec<Problem>,
}

impl Values<'_> {
    /// The `measureScore` and each population `count` of a group or stratum at `at`.
    fn scored(&mut self, node: &Value, at: &str, element: &str, dimensions: Vec<(String, String)>) {
        let mut found = false;
        if let Some(score) = node.get("measureScore") {
            found = true;
            match decimal(&score["value"]) {
                Some(value) => self.add(value_key(element, dimensions.clone()), value, format!("{at}.measureScore")),
                None => self.problems.push(Problem::new(format!("{at}.measureScore.value"), "must be a number")),
            }
        }
        for (p, population) in node["population"].as_array().into_iter().flatten().enumerate() {
            found = true;
            let here = format!("{at}.population[{p}]");
            let (Some(code), Some(count)) = (code_of(&population["code"]), population["count"].as_i64()) else {
                self.problems.push(Problem::new(here, "needs a code and an integer count"));
                continue;
            };
            let mut dimensions = dimensions.clone();
            dimensions.push(("population".into(), code));
            self.add(value_key(element, dimensions), count.to_string(), here);
        }
        // A group may hold only stratifiers; a stratum must carry a value.
        if !found && node.get("stratifier").is_none() {
            self.problems.push(Problem::new(at, "holds no measureScore or population count"));
        }
    }

    fn add(&mut self, key: String, value: String, place: String) {
        if let Err(earlier) = self.part.add_value(key.clone(), Some(value), None, place.clone()) {
            self.problems
                .push(Problem::new(place, format!("{key} is given twice in this report (first at {earlier})")));
        }
    }
}

/// The categories and options of a stratum: its `value` in the stratifier's category, or its
/// `component`s.
fn stratum_dimensions(stratum: &Value, category: Option<&str>, at: &str) -> Result<Vec<(String, String)>, Problem> {
    if let Some(components) = stratum["component"].as_array() {
        return components
            .iter()
            .enumerate()
            .map(|(c, component)| match (code_of(&component["code"]), code_of(&component["value"])) {
                (Some(category), Some(option)) => Ok((category, option)),
                _ => Err(Problem::new(format!("{at}.component[{c}]"), "needs a code and a value, each with a coding")),
            })
            .collect();
    }
    match (category, code_of(&stratum["value"])) {
        (Some(category), Some(option)) => Ok(vec![(category.to_string(), option)]),
        (None, _) => Err(Problem::new(at, "its stratifier has no code to name the category")),
        (_, None) => Err(Problem::new(format!("{at}.value"), "is required: the option, as a coding")),
    }
}

/// The code of a CodeableConcept: its first coding's.
fn code_of(concept: &Value) -> Option<String> {
    let codings = concept["coding"].as_array()?;
    codings.iter().find_map(|c| c["code"].as_str()).map(str::trim).filter(|c| !c.is_empty()).map(str::to_string)
}

/// The org unit a Reference names: the id of a `Location/…` or `Organization/…` reference,
/// or its identifier's value.
fn org_unit_of(reference: &Value) -> Option<String> {
    if let Some(target) = reference["reference"].as_str() {
        let id = target.rsplit('/').next().unwrap_or(target).trim();
        return (!id.is_empty()).then(|| id.to_string());
    }
    reference["identifier"]["value"].as_str().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

/// A Measure's id in its canonical URL: the last path segment, without `|version`.
fn measure_id(canonical: &str) -> String {
    let without_version = canonical.split('|').next().unwrap_or(canonical);
    without_version.trim_end_matches('/').rsplit('/').next().unwrap_or_default().trim().to_string()
}

/// A FHIR decimal in DHIS2's plain form.
fn decimal(value: &Value) -> Option<String> {
    let number = value.as_number()?;
    Some(match (number.as_i64(), number.as_f64()) {
        (Some(i), _) => i.to_string(),
        (None, Some(f)) => f.to_string(),
        _ => return None,
    })
}

/// The first and last day of a Period. FHIR dates may be partial (`2024`, `2024-01`): a start
/// is then the first day, an end the last; a dateTime counts for its date.
fn dates(period: &Value) -> Result<(NaiveDate, NaiveDate), String> {
    let (Some(start), Some(end)) = (period["start"].as_str(), period["end"].as_str()) else {
        return Err("needs a start and an end".into());
    };
    let start = date(start, false).ok_or_else(|| format!("start '{start}' is not a FHIR date"))?;
    let end = date(end, true).ok_or_else(|| format!("end '{end}' is not a FHIR date"))?;
    if end < start {
        return Err("ends before it starts".into());
    }
    Ok((start, end))
}

fn date(text: &str, last: bool) -> Option<NaiveDate> {
    let day = text.get(..10).unwrap_or(text);
    match day.len() {
        10 => NaiveDate::parse_from_str(day, "%Y-%m-%d").ok(),
        7 => {
            let first = NaiveDate::parse_from_str(&format!("{day}-01"), "%Y-%m-%d").ok()?;
            if last { first.checked_add_months(Months::new(1))?.pred_opt() } else { Some(first) }
        }
        4 => {
            let year: i32 = day.parse().ok()?;
            if last { NaiveDate::from_ymd_opt(year, 12, 31) } else { NaiveDate::from_ymd_opt(year, 1, 1) }
        }
        _ => None,
    }
}

/// Resolves the references of read parts: the data set, the org unit's scheme, and the
/// period of the data set's type.
fn resolve(mut parts: Vec<Part>, resolver: &Resolver) -> Result<Vec<Part>, Vec<Problem>> {
    let mut problems = Vec::new();
    for part in &mut parts {
        let place = |part: &Part, field: &str| part.place_of(&format!("{field}:")).to_string();
        let mut period_type = None;
        if let Some(measure) = part.body["dataSet"].as_str().map(str::to_string) {
            match resolver.data_set(&measure) {
                Ok((uid, kind)) => {
                    part.body["dataSet"] = uid.into();
                    period_type = kind;
                }
                Err(e) => problems.push(Problem::new(place(part, "dataSet"), format!("measure: {e}"))),
            }
        }
        if let Some(unit) = part.body["orgUnit"].as_str().map(str::to_string)
            && let Err(e) = resolver.org_unit(&unit)
        {
            problems.push(Problem::new(place(part, "orgUnit"), format!("orgUnit: {e}")));
        }
        let span =
            part.body["period"].as_str().and_then(|p| p.split_once('/')).map(|(a, b)| (a.to_string(), b.to_string()));
        if let Some((start, end)) = span {
            let (start, end) =
                (start.parse::<NaiveDate>().expect("written above"), end.parse::<NaiveDate>().expect("written above"));
            match Period::spanning(start, end, period_type.as_deref()) {
                Some(period) => part.body["period"] = period.as_str().into(),
                None => problems.push(Problem::new(
                    place(part, "period"),
                    match period_type {
                        Some(kind) => format!("period: {start} to {end} is not a {kind} period, as the data set's are"),
                        None => format!("period: {start} to {end} is no DHIS2 period"),
                    },
                )),
            }
        }
    }
    if problems.is_empty() { Ok(parts) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_dates_and_date_times_bound_a_period() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let span = |start: &str, end: &str| dates(&serde_json::json!({"start": start, "end": end}));
        assert_eq!(span("2024-02", "2024-02"), Ok((d("2024-02-01"), d("2024-02-29"))));
        assert_eq!(span("2024", "2024"), Ok((d("2024-01-01"), d("2024-12-31"))));
        assert_eq!(span("2024-01-01T00:00:00Z", "2024-01-31T23:59:59Z"), Ok((d("2024-01-01"), d("2024-01-31"))));
        assert!(span("2024-02-01", "2024-01-01").unwrap_err().contains("ends before"));
        assert!(span("1 Jan", "2024-01-01").unwrap_err().contains("not a FHIR date"));
    }

    #[test]
    fn references_and_measures_name_their_objects() {
        assert_eq!(
            org_unit_of(&serde_json::json!({"reference": "Location/OrgFac00001"})).as_deref(),
            Some("OrgFac00001")
        );
        assert_eq!(org_unit_of(&serde_json::json!({"identifier": {"value": " FAC001 "}})).as_deref(), Some("FAC001"));
        assert_eq!(org_unit_of(&serde_json::json!({"display": "Facility"})), None);
        assert_eq!(measure_id("http://moh.example.org/Measure/MONTHLY_HIV|1.2"), "MONTHLY_HIV");
        assert_eq!(measure_id("Measure/pBOMPrpg1QY/"), "pBOMPrpg1QY");
    }
}
