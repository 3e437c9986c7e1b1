//! IHE ADX messages (`application/adx+xml`, namespace `urn:ihe:qrph:adx:2015`), read into
//! one [`Part`] per `group`. As in DHIS2's ADX import, a group names its data set, org unit and
//! period (`2024-01-01/P1M`), may give `completeDate` and a whole `attributeOptionCombo`, and
//! every other attribute of it is an attribute category; a `dataValue` names its data element
//! and value, every other attribute is a disaggregation category, and an `annotation` inside
//! it is the value's comment. Categories join the data element's code in the value's key
//! ([`value_key`]), which the mappings translate.

use chrono::{Days, Months, NaiveDate};
use dhis2gw_wire::period::Period;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use super::document::{Part, Problem, Resolver, value_key};

/// The ADX namespace of the IHE profile (2015 edition, the one DHIS2 reads).
pub const NAMESPACE: &str = "urn:ihe:qrph:adx:2015";

/// The group attributes that are not attribute categories.
const GROUP_FIELDS: [&str; 5] = ["dataSet", "orgUnit", "period", "completeDate", "attributeOptionCombo"];

/// Reads a message into its groups; every problem found, each with its line, when it cannot be read.
pub fn read(text: &str, resolver: &Resolver) -> Result<Vec<Part>, Vec<Problem>> {
    let lines = Lines::of(text);
    let mut reader = quick_xml::Reader::from_str(text);
    let mut problems = Vec::new();
    let mut parts = Vec::new();
    // The group being read, where it began, and the value whose annotation may follow.
    let mut group: Option<(Group, usize)> = None;
    let mut value: Option<Value> = None;
    let mut depth = 0usize;
    let mut seen_root = false;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event();
        let empty = matches!(event, Ok(Event::Empty(_)));
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                // Alone: what was read before it may be cut short by it.
                let line = lines.at(reader.error_position() as usize);
                return Err(vec![Problem::new(format!("line {line}"), format!("not well-formed XML: {e}"))]);
            }
        };
        // Where the event begins: its markup, or a text's first visible character.
        let at = before + (text[before..].len() - text[before..].trim_start().len());
        let line = lines.at(at);
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name().as_ref().to_string();
                match (depth, name.as_str()) {
                    (0, "adx") if !seen_root => {
                        seen_root = true;
                        if !declares_namespace(&e) {
                            problems.push(Problem::new(
                                format!("line {line} <adx>"),
                                format!("the root element must be in the ADX namespace {NAMESPACE}"),
                            ));
                        }
                    }
                    (1, "group") => {
                        let mut read = Group::read(&e, line, resolver);
                        problems.append(&mut read.problems);
                        if empty {
                            problems.push(Problem::new(format!("line {line} <group>"), "holds no dataValue"));
                        } else {
                            group = Some((read, at));
                        }
                    }
                    (2, "dataValue") => {
                        // Inside an element that is no group, a problem already.
                        let Some((group, _)) = group.as_mut() else { continue };
                        group.values += 1;
                        match Value::read(&e, line, group, resolver) {
                            Ok(read) if empty => group.add(read, &mut problems),
                            Ok(read) => value = Some(read),
                            Err(mut found) => problems.append(&mut found),
                        }
                    }
                    (3, "annotation") if value.is_some() && !empty => {}
                    _ => problems.push(Problem::new(
                        format!("line {line} <{name}>"),
                        format!("is not an ADX element here; {}", expected(depth)),
                    )),
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match value.as_mut() {
                    Some(value) if depth == 4 => value.comment.get_or_insert_with(String::new).push_str(&content),
                    _ if content.trim().is_empty() => {}
                    _ => {
                        problems.push(Problem::new(format!("line {line}"), "text is allowed only inside <annotation>"))
                    }
                }
            }
            Event::GeneralRef(r) => {
                let reference = format!("&{};", r.xml10_content());
                match (value.as_mut(), quick_xml::escape::unescape(&reference)) {
                    (Some(value), Ok(character)) if depth == 4 => {
                        value.comment.get_or_insert_with(String::new).push_str(&character)
                    }
                    (_, Err(e)) => problems.push(Problem::new(format!("line {line}"), format!("{reference}: {e}"))),
                    _ => {
                        problems.push(Problem::new(format!("line {line}"), "text is allowed only inside <annotation>"))
                    }
                }
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                match (depth, e.local_name().as_ref()) {
                    (2, "dataValue") => {
                        if let (Some((group, _)), Some(read)) = (group.as_mut(), value.take()) {
                            group.add(read, &mut problems);
                        }
                    }
                    (1, "group") => {
                        if let Some((group, start)) = group.take() {
                            let end = reader.buffer_position() as usize;
                            if group.values == 0 {
                                problems.push(Problem::new(group.part.place.clone(), "holds no dataValue"));
                            }
                            let mut part = group.part;
                            part.text = text[start..end].to_string();
                            parts.push(part);
                        }
                    }
                    _ => {}
                }
            }
            Event::CData(_) => problems.push(Problem::new(format!("line {line}"), "CDATA is not part of ADX")),
            Event::Eof => break,
            // The declaration, comments, processing instructions and a doctype carry no data.
            _ => {}
        }
    }
    if !seen_root {
        problems.push(Problem::new("line 1", format!("no <adx> root element in the namespace {NAMESPACE}")));
    } else if parts.is_empty() && problems.is_empty() {
        problems.push(Problem::new("line 1 <adx>", "holds no group"));
    }
    if problems.is_empty() {
        return Ok(parts);
    }
    // In the order of the document.
    problems.sort_by_key(|p| p.place.strip_prefix("line ").and_then(|l| l.split(' ').next()?.parse::<usize>().ok()));
    Err(problems)
}

/// What may appear at `depth`.
fn expected(depth: usize) -> &'static str {
    match depth {
        0 => "expected one <adx> root element",
        1 => "expected <group>",
        2 => "expected <dataValue>",
        3 => "expected <annotation>",
        _ => "<annotation> holds text only",
    }
}

fn declares_namespace(e: &BytesStart) -> bool {
    e.attributes().flatten().any(|a| {
        let key = a.key.as_ref();
        (key == "xmlns" || key.starts_with("xmlns:"))
            && a.normalized_value(XmlVersion::Implicit1_0).is_ok_and(|v| v == NAMESPACE)
    })
}

/// The attributes of an element, unescaped, without namespace declarations and
/// `xsi:` schema hints; a problem for each that cannot be read.
fn attributes(e: &BytesStart, place: &str, problems: &mut Vec<Problem>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for attribute in e.attributes() {
        match attribute {
            Ok(a) => {
                let key = a.key.as_ref();
                if key == "xmlns" || key.starts_with("xmlns:") || key.starts_with("xsi:") {
                    continue;
                }
                match a.normalized_value(XmlVersion::Implicit1_0) {
                    Ok(v) => out.push((a.key.local_name().as_ref().to_string(), v.trim().to_string())),
                    Err(err) => problems.push(Problem::new(place, format!("attribute {key}: {err}"))),
                }
            }
            Err(err) => problems.push(Problem::new(place, format!("malformed attribute: {err}"))),
        }
    }
    out
}

/// A group being read: its part, and its attribute categories.
struct Group {
    part: Part,
    attribution: Vec<(String, String)>,
    /// `dataValue` elements seen, readable or not.
    values: usize,
    problems: Vec<Problem>,
}

impl Group {
    fn read(e: &BytesStart, line: usize, resolver: &Resolver) -> Group {
        let place = format!("line {line} <group>");
        let mut problems = Vec::new();
        let attributes = attributes(e, &place, &mut problems);
        let get = |name: &str| attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let mut required = |name: &str| {
            let found = get(name).filter(|v| !v.is_empty());
            if found.is_none() {
                problems.push(Problem::new(place.clone(), format!("{name} is required")));
            }
            found.unwrap_or_default()
        };
        let (data_set, org_unit, period) = (required("dataSet"), required("orgUnit"), required("period"));
        let mut part = Part::new(place.clone(), String::new(), data_set, org_unit, period);
        let mut problem = |field: &str, e: String| problems.push(Problem::new(place.clone(), format!("{field}: {e}")));
        let mut period_type = None;
        if !data_set.is_empty() {
            match resolver.data_set(data_set) {
                Ok((uid, kind)) => {
                    part.set("dataSet", &uid, format!("{place} dataSet"));
                    period_type = kind;
                }
                Err(e) => problem("dataSet", e),
            }
        }
        if !org_unit.is_empty() {
            match resolver.org_unit(org_unit) {
                Ok(unit) => part.set("orgUnit", &unit, format!("{place} orgUnit")),
                Err(e) => problem("orgUnit", e),
            }
        }
        if !period.is_empty() {
            match dhis2_period(period, period_type.as_deref()) {
                Ok(pe) => part.set("period", pe.as_str(), format!("{place} period")),
                Err(e) => problem("period", e),
            }
        }
        if let Some(date) = get("completeDate").filter(|d| !d.is_empty()) {
            // A dateTime is taken for its date.
            part.set("completeDate", date.get(..10).unwrap_or(date), format!("{place} completeDate"));
        }
        if let Some(aoc) = get("attributeOptionCombo").filter(|a| !a.is_empty()) {
            match resolver.attribute_option_combo(aoc) {
                Ok(aoc) => part.set("attributeOptionCombo", &aoc, format!("{place} attributeOptionCombo")),
                Err(e) => problem("attributeOptionCombo", e),
            }
        }
        let attribution = attributes.into_iter().filter(|(k, _)| !GROUP_FIELDS.contains(&k.as_str())).collect();
        Group { part, attribution, values: 0, problems }
    }

    fn add(&mut self, value: Value, problems: &mut Vec<Problem>) {
        let comment = value.comment.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
        if let Err(earlier) = self.part.add_value(value.key.clone(), Some(value.value), comment, value.place.clone()) {
            problems.push(Problem::new(
                value.place,
                format!("{} is given twice in this group (first at {earlier})", value.key),
            ));
        }
    }
}

/// A data value being read.
struct Value {
    key: String,
    value: String,
    comment: Option<String>,
    place: String,
}

impl Value {
    fn read(e: &BytesStart, line: usize, group: &Group, resolver: &Resolver) -> Result<Value, Vec<Problem>> {
        let place = format!("line {line} <dataValue>");
        let mut problems = Vec::new();
        let mut attributes = attributes(e, &place, &mut problems);
        let mut take = |name: &str| {
            let at = attributes.iter().position(|(k, _)| k == name);
            let found = at.map(|i| attributes.remove(i).1).filter(|v| !v.is_empty());
            if found.is_none() {
                problems.push(Problem::new(place.clone(), format!("{name} is required")));
            }
            found
        };
        let (element, value) = (take("dataElement"), take("value"));
        let element = element.and_then(|el| {
            resolver
                .data_element(&el)
                .map_err(|e| problems.push(Problem::new(place.clone(), format!("dataElement: {e}"))))
                .ok()
        });
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut dimensions = group.attribution.clone();
        dimensions.extend(attributes);
        let key = value_key(&element.expect("checked"), dimensions);
        Ok(Value { key, value: value.expect("checked"), comment: None, place })
    }
}

/// The DHIS2 period an ADX period (`start/duration`, as `2024-01-01/P1M`) is, of the data
/// set's period type when that is known.
fn dhis2_period(adx: &str, period_type: Option<&str>) -> Result<Period, String> {
    let malformed = || format!("'{adx}' is not an ADX period (a start date and an ISO 8601 duration: 2024-01-01/P1M)");
    let (start, duration) = adx.split_once('/').ok_or_else(malformed)?;
    let start = NaiveDate::parse_from_str(start, "%Y-%m-%d").map_err(|_| malformed())?;
    let amount = |unit: char| duration.strip_prefix('P')?.strip_suffix(unit)?.parse::<u32>().ok().filter(|n| *n > 0);
    let after = match (amount('D'), amount('W'), amount('M'), amount('Y')) {
        (Some(days), ..) => start.checked_add_days(Days::new(days.into())),
        (_, Some(weeks), ..) => start.checked_add_days(Days::new(u64::from(weeks) * 7)),
        (_, _, Some(months), _) => start.checked_add_months(Months::new(months)),
        (.., Some(years)) => start.checked_add_months(Months::new(years.saturating_mul(12))),
        _ => None,
    }
    .ok_or_else(malformed)?;
    let end = after.pred_opt().ok_or_else(malformed)?;
    Period::spanning(start, end, period_type).ok_or_else(|| match period_type {
        Some(kind) => format!("'{adx}' is not a {kind} period, as the data set's are"),
        None => format!("'{adx}' is no DHIS2 period"),
    })
}

/// Line numbers of byte offsets.
struct Lines(Vec<usize>);

impl Lines {
    fn of(text: &str) -> Lines {
        Lines(text.match_indices('\n').map(|(i, _)| i).collect())
    }

    /// The line (from 1) of the byte at `offset`.
    fn at(&self, offset: usize) -> usize {
        self.0.partition_point(|&newline| newline < offset) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adx_periods_become_dhis2_periods() {
        let period = |adx: &str, kind: Option<&str>| dhis2_period(adx, kind).map(|p| p.as_str().to_string());
        assert_eq!(period("2024-01-01/P1M", None).unwrap(), "202401");
        assert_eq!(period("2024-01-01/P1M", Some("Monthly")).unwrap(), "202401");
        assert_eq!(period("2024-04-01/P3M", None).unwrap(), "2024Q2");
        assert_eq!(period("2024-01-01/P1Y", None).unwrap(), "2024");
        assert_eq!(period("2024-07-01/P1Y", None).unwrap(), "2024July");
        assert_eq!(period("2024-01-01/P1W", None).unwrap(), "2024W1");
        assert_eq!(period("2024-01-01/P7D", None).unwrap(), "2024W1");
        assert_eq!(period("2024-03-05/P1D", None).unwrap(), "20240305");
        assert!(period("2024-01-01/P3M", Some("Monthly")).unwrap_err().contains("not a Monthly period"));
        for bad in ["2024-01", "2024-01-01", "2024-01-01/P0M", "2024-01-01/1M", "2024-13-01/P1M", "2024-01-01/P1X"] {
            assert!(period(bad, None).unwrap_err().contains("is not an ADX period"), "{bad}");
        }
        assert!(period("2024-01-02/P1M", None).unwrap_err().contains("is no DHIS2 period"));
    }

    #[test]
    fn lines_count_from_one() {
        let lines = Lines::of("a\nbc\n\nd");
        assert_eq!([0, 1, 2, 3, 5, 6].map(|at| lines.at(at)), [1, 1, 2, 2, 3, 4]);
    }
}
