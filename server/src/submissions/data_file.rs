//! Data values in a spreadsheet (CSV or Excel, uploaded in the console), read into one
//! [`Part`] per data set, org unit, period and attribute option combo. Each row is one value:
//! a data element code or mapping code, optionally a category option combo (the key is then
//! `CODE.COC`, as `/aggregate` keys name a disaggregation), org unit, period, value, and
//! optionally the attribute option combo, a comment and the data set (else the configured
//! default, else the one its values' mappings name). Each part keeps its rows, with the
//! header, as CSV.

use std::collections::HashMap;

use super::document::{Part, Problem, Resolver};
use crate::infra::sheet::{Layout, SheetRow};

/// The columns, as the template and messages name them.
pub const COLUMNS: [&str; 8] = [
    "data_element",
    "category_option_combo",
    "org_unit",
    "period",
    "value",
    "attribute_option_combo",
    "comment",
    "data_set",
];
const ELEMENT: usize = 0;
const COC: usize = 1;
const ORG_UNIT: usize = 2;
const PERIOD: usize = 3;
const VALUE: usize = 4;
const AOC: usize = 5;
const COMMENT: usize = 6;
const DATA_SET: usize = 7;

/// A header cell → its column: case, spaces, `_` and `-` do not matter, and the usual other
/// names (`code`, `coc`, `orgUnit`, `ou`, `pe`, `aoc`, `dataSet`) are understood.
fn column_of(header: &str) -> Option<usize> {
    let key: String = header.chars().filter(|c| !matches!(c, '_' | ' ' | '-')).collect::<String>().to_lowercase();
    match key.as_str() {
        "dataelement" | "code" | "mappingcode" | "key" | "de" => Some(ELEMENT),
        "categoryoptioncombo" | "coc" => Some(COC),
        "orgunit" | "organisationunit" | "organizationunit" | "ou" => Some(ORG_UNIT),
        "period" | "pe" => Some(PERIOD),
        "value" => Some(VALUE),
        "attributeoptioncombo" | "aoc" => Some(AOC),
        "comment" => Some(COMMENT),
        "dataset" | "ds" => Some(DATA_SET),
        _ => None,
    }
}

pub const LAYOUT: Layout<{ COLUMNS.len() }> = Layout {
    file: "data file",
    columns: &COLUMNS,
    column_of,
    required: &[ELEMENT, ORG_UNIT, PERIOD, VALUE],
    max_rows: 100_000,
};

/// The rows of a file as parts, in the order their first rows come; every problem with a
/// row when some cannot be read.
pub fn parts(rows: Vec<SheetRow<{ COLUMNS.len() }>>, resolver: &Resolver) -> Result<Vec<Part>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut parts: Vec<(Part, Vec<[String; COLUMNS.len()]>)> = Vec::new();
    let mut index: HashMap<[String; 4], usize> = HashMap::new();
    for row in rows {
        let place = format!("row {}", row.number);
        let cell = |column: usize| row.cells[column].trim();
        let missing: Vec<&str> =
            [ELEMENT, ORG_UNIT, PERIOD].into_iter().filter(|c| cell(*c).is_empty()).map(|c| COLUMNS[c]).collect();
        if !missing.is_empty() {
            problems.push(Problem::new(place, format!("{} is required", missing.join(", "))));
            continue;
        }
        let group = [cell(DATA_SET), cell(ORG_UNIT), cell(PERIOD), cell(AOC)].map(str::to_string);
        let at = match index.get(&group) {
            Some(at) => *at,
            None => match new_part(&row, &place, resolver) {
                Ok(part) => {
                    index.insert(group, parts.len());
                    parts.push((part, Vec::new()));
                    parts.len() - 1
                }
                Err(mut found) => {
                    problems.append(&mut found);
                    continue;
                }
            },
        };
        let element = match resolver.data_element(cell(ELEMENT)) {
            Ok(element) => element,
            Err(e) => {
                problems.push(Problem::new(place, format!("{}: {e}", COLUMNS[ELEMENT])));
                continue;
            }
        };
        let key = match cell(COC) {
            "" => element,
            coc => format!("{element}.{coc}"),
        };
        let value = Some(cell(VALUE)).filter(|v| !v.is_empty()).map(str::to_string);
        let comment = Some(cell(COMMENT)).filter(|c| !c.is_empty()).map(str::to_string);
        let (part, kept) = &mut parts[at];
        if let Err(earlier) = part.add_value(key.clone(), value, comment, place.clone()) {
            problems.push(Problem::new(
                place,
                format!("{key} is given twice for this org unit and period (first at {earlier})"),
            ));
            continue;
        }
        kept.push(row.cells);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(parts
        .into_iter()
        .map(|(mut part, rows)| {
            part.text = as_csv(&rows);
            part
        })
        .collect())
}

/// A part for the group of `row`: its data set, org unit, period and attribute option combo.
fn new_part(row: &SheetRow<{ COLUMNS.len() }>, place: &str, resolver: &Resolver) -> Result<Part, Vec<Problem>> {
    let cell = |column: usize| row.cells[column].trim();
    let mut problems = Vec::new();
    let mut part = Part::new(place.to_string(), String::new(), "", cell(ORG_UNIT), cell(PERIOD));
    part.body.as_object_mut().expect("an object").remove("dataSet");
    part.places.push(("period".into(), place.to_string()));
    match resolver.org_unit(cell(ORG_UNIT)) {
        Ok(unit) => part.set("orgUnit", &unit, place),
        Err(e) => problems.push(Problem::new(place, format!("{}: {e}", COLUMNS[ORG_UNIT]))),
    }
    if !cell(DATA_SET).is_empty() {
        match resolver.data_set(cell(DATA_SET)) {
            Ok((uid, _)) => part.set("dataSet", &uid, place),
            Err(e) => problems.push(Problem::new(place, format!("{}: {e}", COLUMNS[DATA_SET]))),
        }
    }
    if !cell(AOC).is_empty() {
        match resolver.attribute_option_combo(cell(AOC)) {
            Ok(aoc) => part.set("attributeOptionCombo", &aoc, place),
            Err(e) => problems.push(Problem::new(place, format!("{}: {e}", COLUMNS[AOC]))),
        }
    }
    if problems.is_empty() { Ok(part) } else { Err(problems) }
}

/// Rows under the header, as CSV.
fn as_csv(rows: &[[String; COLUMNS.len()]]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let written = std::iter::once(writer.write_record(COLUMNS))
        .chain(rows.iter().map(|row| writer.write_record(row)))
        .collect::<Result<(), _>>();
    let bytes = written.and_then(|()| writer.into_inner().map_err(|e| e.into_error().into()));
    String::from_utf8(bytes.expect("CSV into memory")).expect("cells are text")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::sheet::{self, Format};
    use crate::metadata::Snapshot;
    use crate::submissions::document::{Scheme, Schemes};

    fn read(csv: &str) -> Result<Vec<Part>, Vec<Problem>> {
        let snapshot = Snapshot::default();
        let scheme = Scheme::Code;
        let schemes =
            Schemes { data_set: scheme, org_unit: scheme, data_element: scheme, attribute_option_combo: scheme };
        let rows = sheet::read(csv.as_bytes(), Format::Csv, &LAYOUT).expect("readable");
        parts(rows, &Resolver { schemes, snapshot: &snapshot })
    }

    #[test]
    fn rows_group_by_org_unit_and_period() {
        let csv = "Org Unit,Period,Code,COC,Value,Comment\n\
                   FAC001,202401,HIV_TESTS,MALE,10,\n\
                   FAC002,202401,HIV_POSITIVES,,1,\n\
                   FAC001,202401,HIV_TESTS,FEMALE,12,checked\n\
                   FAC001,202401,HIV_POSITIVES,,,\n";
        let parts = read(csv).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].body["orgUnit"], "FAC001");
        assert_eq!(parts[0].body["dataValues"]["HIV_TESTS.FEMALE"]["comment"], "checked");
        assert_eq!(parts[0].body["dataValues"]["HIV_POSITIVES"]["value"], serde_json::Value::Null);
        assert_eq!(parts[0].place_of("dataValues.HIV_TESTS.MALE: no mapping"), "row 2");
        assert_eq!(parts[1].place, "row 3");
        assert_eq!(parts[1].text.lines().count(), 2, "{}", parts[1].text);
        assert!(parts[0].text.starts_with("data_element,category_option_combo,org_unit,period,value"));
    }

    #[test]
    fn every_bad_row_is_named() {
        let csv = "org_unit,period,data_element,value\nFAC001,202401,A,1\n,202401,B,2\nFAC001,202401,A,3\n";
        let problems = read(csv).unwrap_err();
        let named: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.place, p.detail)).collect();
        assert_eq!(
            named,
            ["row 3: org_unit is required", "row 4: A is given twice for this org unit and period (first at row 2)"]
        );
    }
}
