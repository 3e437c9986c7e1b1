//! Standard documents (an ADX message, FHIR MeasureReports, rows of an uploaded spreadsheet)
//! as ordinary submissions. A document is read into parts, one per data set, org unit and
//! period, each in the `/aggregate` JSON form with where in the document every field came
//! from; the intake takes the parts like any submission, and problems are named by those places.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::infra::error::AppError;
use crate::infra::uid;
use crate::metadata::Snapshot;
use crate::submissions::Scope;

/// The standard a document is in, as stored with its submissions (`source_format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Adx,
    Fhir,
    Spreadsheet,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Adx => "adx",
            Format::Fhir => "fhir",
            Format::Spreadsheet => "spreadsheet",
        }
    }
}

/// One submission's worth of a document.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    /// The `/aggregate` body it becomes.
    pub body: Value,
    /// Where the part is in the document (`line 3`, `Bundle.entry[2].resource`).
    pub place: String,
    /// Fields of `body` (`orgUnit`, `dataValues.KEY`) and where each came from.
    pub places: Vec<(String, String)>,
    /// Its part of the document, as sent.
    pub text: String,
}

impl Part {
    /// A part at `place` whose text is `text`, for `data_set`, `org_unit` and `period`.
    pub fn new(place: String, text: String, data_set: &str, org_unit: &str, period: &str) -> Part {
        let body = json!({"dataSet": data_set, "orgUnit": org_unit, "period": period, "dataValues": {}});
        Part { body, place, places: Vec::new(), text }
    }

    /// Sets a field of the body, remembering where it came from.
    pub fn set(&mut self, field: &str, value: &str, place: impl Into<String>) {
        self.body[field] = json!(value);
        self.places.push((field.to_string(), place.into()));
    }

    /// Adds a value under `key` (none: an empty cell, left out with a warning, as a JSON
    /// null is); the place of an earlier value with the same key when there is one.
    pub fn add_value(
        &mut self,
        key: String,
        value: Option<String>,
        comment: Option<String>,
        place: String,
    ) -> Result<(), String> {
        let field = format!("dataValues.{key}");
        if let Some((_, earlier)) = self.places.iter().find(|(f, _)| *f == field) {
            return Err(earlier.clone());
        }
        let mut entry = Map::new();
        entry.insert("value".into(), value.map_or(Value::Null, Value::String));
        if let Some(comment) = comment {
            entry.insert("comment".into(), json!(comment));
        }
        self.body["dataValues"][&key] = Value::Object(entry);
        self.places.push((field, place));
        Ok(())
    }

    /// Warnings or problems (`field: what`), each at its place.
    pub fn placed(&self, details: &[String]) -> Vec<Problem> {
        details.iter().map(|d| Problem::new(self.place_of(d), d.clone())).collect()
    }

    /// Where the problem `detail` (`field: problem`, in the words of `/aggregate`) lies: the
    /// place of the longest field it begins with, or the part's own.
    pub fn place_of(&self, detail: &str) -> &str {
        self.places
            .iter()
            .filter(|(field, _)| {
                detail.strip_prefix(field.as_str()).is_some_and(|rest| rest.starts_with(':') || rest.starts_with('.'))
            })
            .max_by_key(|(field, _)| field.len())
            .map_or(self.place.as_str(), |(_, place)| place.as_str())
    }
}

/// The partner key of a value: the data element's code, then every category and option it
/// carries (its disaggregation and its group's attribution) sorted by category, as in
/// `MAL01[AGE=0-4,SEX=F]`. A mapping with that code says which data element, category option
/// combo and attribute option combo it is in DHIS2.
pub fn value_key(element: &str, mut dimensions: Vec<(String, String)>) -> String {
    if dimensions.is_empty() {
        return element.to_string();
    }
    dimensions.sort();
    let inside: Vec<String> = dimensions.into_iter().map(|(category, option)| format!("{category}={option}")).collect();
    format!("{element}[{}]", inside.join(","))
}

/// Something wrong in a document: where, and what.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub place: String,
    pub detail: String,
}

impl Problem {
    pub fn new(place: impl Into<String>, detail: impl Into<String>) -> Problem {
        Problem { place: place.into(), detail: detail.into() }
    }
}

/// A document the intake refused: its refusal (status and message), with each problem placed.
#[derive(Debug)]
pub struct Refused {
    pub error: AppError,
    pub problems: Vec<Problem>,
}

impl<E: Into<AppError>> From<E> for Refused {
    fn from(error: E) -> Refused {
        Refused { error: error.into(), problems: Vec::new() }
    }
}

impl Refused {
    /// A document that cannot be read: 400 with every problem found.
    pub fn unreadable(problems: Vec<Problem>) -> Refused {
        let error = AppError::BadRequest { message: "The document is not valid".into(), detail: Vec::new() };
        Refused { error, problems }
    }
}

/// How the objects of a document are identified, as DHIS2's import parameters say it
/// (`idScheme` for all, or one per kind). Data elements and their disaggregations are always
/// the partner's codes, translated through the mappings; `uid` there asks that each be a UID.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Options {
    /// The partner system's mapping scope; `default` when omitted.
    #[serde(rename = "source_name")]
    pub source_name: Option<String>,
    /// The DHIS2 instance's mapping scope; `default` when omitted.
    #[serde(rename = "instance_name")]
    pub instance_name: Option<String>,
    /// `code` (the default, as in DHIS2's ADX import) or `uid`, for every kind not named below.
    pub id_scheme: Option<String>,
    /// Data sets: `code` (through DHIS2's synced metadata) or `uid`.
    pub data_set_id_scheme: Option<String>,
    /// Org units: `code` (org-unit mappings, then DHIS2's codes) or `uid`.
    pub org_unit_id_scheme: Option<String>,
    /// Data elements: `code` or `uid`; either way the key goes through the mappings.
    pub data_element_id_scheme: Option<String>,
    /// Attribute option combos given whole: `code` or `uid`.
    pub attribute_option_combo_id_scheme: Option<String>,
    /// Check every part as it would be taken and ask DHIS2 to import each with `dryRun=true`;
    /// nothing is stored, by the gateway or by DHIS2.
    #[serde(default)]
    pub dry_run: bool,
}

/// Identified by UID, or by code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Uid,
    Code,
}

/// The scheme of each kind of object, checked.
#[derive(Clone, Copy, Debug)]
pub struct Schemes {
    pub data_set: Scheme,
    pub org_unit: Scheme,
    pub data_element: Scheme,
    pub attribute_option_combo: Scheme,
}

impl Options {
    /// The mapping scope.
    pub fn scope(&self) -> Scope {
        let or_default = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty()).unwrap_or("default".into());
        Scope { source_name: or_default(&self.source_name), instance_name: or_default(&self.instance_name) }
    }

    /// The schemes, or a 400 naming each parameter with a scheme the gateway does not take.
    pub fn schemes(&self) -> Result<Schemes, AppError> {
        let mut problems = Vec::new();
        let mut scheme = |name: &str, given: &Option<String>, fallback: Scheme| match given.as_deref() {
            None => fallback,
            Some(s) if s.eq_ignore_ascii_case("uid") => Scheme::Uid,
            Some(s) if s.eq_ignore_ascii_case("code") => Scheme::Code,
            Some(other) => {
                problems.push(format!(
                    "{name}: '{other}' is not taken here; use code or uid (names and attributes are not unique \
                     enough to translate data by)"
                ));
                fallback
            }
        };
        let general = scheme("idScheme", &self.id_scheme, Scheme::Code);
        let schemes = Schemes {
            data_set: scheme("dataSetIdScheme", &self.data_set_id_scheme, general),
            org_unit: scheme("orgUnitIdScheme", &self.org_unit_id_scheme, general),
            data_element: scheme("dataElementIdScheme", &self.data_element_id_scheme, general),
            attribute_option_combo: scheme(
                "attributeOptionComboIdScheme",
                &self.attribute_option_combo_id_scheme,
                general,
            ),
        };
        if problems.is_empty() {
            Ok(schemes)
        } else {
            Err(AppError::BadRequest { message: "Invalid import parameters".into(), detail: problems })
        }
    }
}

/// What a document's references resolve against: the schemes and DHIS2's synced metadata.
pub struct Resolver<'a> {
    pub schemes: Schemes,
    pub snapshot: &'a Snapshot,
}

impl Resolver<'_> {
    /// A data set's UID and, where the metadata knows it, its period type.
    pub fn data_set(&self, given: &str) -> Result<(String, Option<String>), String> {
        let known = self.snapshot.data_set(given);
        match (self.schemes.data_set, known) {
            (Scheme::Uid, _) if !uid::is_valid(given) => Err(format!("'{given}' is not a DHIS2 UID")),
            (Scheme::Uid, _) => {
                Ok((given.to_string(), self.snapshot.data_sets.get(given).map(|d| d.period_type.clone())))
            }
            (Scheme::Code, Some(set)) => Ok((set.uid.clone(), Some(set.period_type.clone()))),
            (Scheme::Code, None) if uid::is_valid(given) => Ok((given.to_string(), None)),
            (Scheme::Code, None) if self.snapshot.is_loaded() => {
                Err(format!("'{given}' is not the code of a data set in DHIS2"))
            }
            (Scheme::Code, None) => {
                Err(format!("'{given}' is not a UID; data set codes can be used once DHIS2's metadata has been synced"))
            }
        }
    }

    /// An org unit as the intake takes it: a UID, or (with the code scheme) a code that the
    /// org-unit mappings or DHIS2's hierarchy translate.
    pub fn org_unit(&self, given: &str) -> Result<String, String> {
        self.uid_if_asked(self.schemes.org_unit, given)
    }

    /// An attribute option combo given whole: a UID, or a code of one in DHIS2.
    pub fn attribute_option_combo(&self, given: &str) -> Result<String, String> {
        self.uid_if_asked(self.schemes.attribute_option_combo, given)
    }

    /// A data element's code as part of a key.
    pub fn data_element(&self, given: &str) -> Result<String, String> {
        self.uid_if_asked(self.schemes.data_element, given)
    }

    fn uid_if_asked(&self, scheme: Scheme, given: &str) -> Result<String, String> {
        match scheme {
            Scheme::Uid if !uid::is_valid(given) => Err(format!("'{given}' is not a DHIS2 UID")),
            _ => Ok(given.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_their_dimensions() {
        let dims = vec![("SEX".to_string(), "F".to_string()), ("AGE".to_string(), "0-4".to_string())];
        assert_eq!(value_key("MAL01", dims), "MAL01[AGE=0-4,SEX=F]");
        assert_eq!(value_key("MAL01", Vec::new()), "MAL01");
    }

    #[test]
    fn a_problem_is_placed_by_the_longest_field_it_names() {
        let mut part = Part::new("line 2".into(), String::new(), "ds", "ou", "202401");
        part.set("orgUnit", "FAC1", "line 2, orgUnit");
        part.add_value("A".into(), Some("1".into()), None, "line 3".into()).unwrap();
        part.add_value("A[SEX=F]".into(), Some("2".into()), None, "line 4".into()).unwrap();
        assert_eq!(part.add_value("A".into(), Some("5".into()), None, "line 9".into()), Err("line 3".into()));
        assert_eq!(part.place_of("dataValues.A[SEX=F]: no mapping"), "line 4");
        assert_eq!(part.place_of("dataValues.A.comment: too long"), "line 3");
        assert_eq!(part.place_of("orgUnit: not found"), "line 2, orgUnit");
        assert_eq!(part.place_of("period: closed"), "line 2");
    }
}
