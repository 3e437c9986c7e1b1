//! The validation steps shared by all versions (resolve references, check assignments,
//! check the value) and writing an accepted value to the store.

use super::options::{EffectiveSchemes, Kind, Strategy};
use super::payload::{InputValue, Payload, RawValue};
use super::problem::{COMMENT_MAX_LENGTH, Problem};
use super::store::{Key, Store};
use chrono::NaiveDateTime;

use crate::common::{StoredValue, Version};
use crate::entry::{Closed, Entry};
use crate::fixture::DEFAULT_COC;
use crate::model::{self, CategoryOptionCombo, DataElement, DataSet, IdScheme, ValueType};
use crate::orgunit::Registry;
use crate::period::{self, PeriodType};

/// DHIS2's limit on the length of a data value.
const VALUE_MAX_LENGTH: usize = 50_000;

/// A value whose references all resolved.
pub(super) struct Decoded {
    pub(super) index: usize,
    de: &'static DataElement,
    period: String,
    period_type: PeriodType,
    ou: String,
    /// The data sets assigned to the org unit when the value was decoded.
    ou_data_sets: Vec<&'static str>,
    coc: &'static CategoryOptionCombo,
    aoc: &'static CategoryOptionCombo,
    /// The value (or its data value set) named the attribute option combo.
    aoc_explicit: bool,
    value: RawValue,
    comment: Option<String>,
}

impl Decoded {
    pub(super) fn key(&self) -> Key {
        (
            self.de.id.uid.to_owned(),
            self.period.clone(),
            self.ou.clone(),
            self.coc.id.uid.to_owned(),
            self.aoc.id.uid.to_owned(),
        )
    }
}

/// Resolves a value's references, falling back to the set-level defaults.
pub(super) fn decode(
    index: usize,
    input: &InputValue,
    payload: &Payload,
    schemes: EffectiveSchemes,
    org_units: &Registry,
    version: Version,
) -> Result<Decoded, Problem> {
    let de_id = input.data_element.as_ref().ok_or(Problem::DataElementMissing)?;
    let de = model::data_element(schemes.of(Kind::DataElement), de_id)
        .filter(|de| !org_units.deleted_elements.contains(de.id.uid))
        .ok_or_else(|| Problem::DataElementNotFound(de_id.clone()))?;
    let period = input.period.as_ref().or(payload.period.as_ref()).ok_or(Problem::PeriodMissing)?;
    let period_type = period::parse(period, version).ok_or_else(|| Problem::PeriodInvalid(period.clone()))?;
    let ou_id = input.org_unit.as_ref().or(payload.org_unit.as_ref()).ok_or(Problem::OrgUnitMissing)?;
    let ou = org_units.find(schemes.of(Kind::OrgUnit), ou_id).ok_or_else(|| Problem::OrgUnitNotFound(ou_id.clone()))?;
    let coc = match &input.coc {
        Some(id) => model::category_option_combo(schemes.of(Kind::CategoryOptionCombo), id)
            .ok_or_else(|| Problem::CocNotFound(id.clone()))?,
        None => default_coc(),
    };
    let aoc_explicit = input.aoc.is_some() || payload.aoc.is_some();
    let aoc = match input.aoc.as_ref().or(payload.aoc.as_ref()) {
        Some(id) => model::category_option_combo(schemes.of(Kind::AttributeOptionCombo), id)
            .ok_or_else(|| Problem::AocNotFound(id.clone()))?,
        None => default_coc(),
    };
    Ok(Decoded {
        index,
        de,
        period: period.clone(),
        period_type,
        ou: ou.id.clone(),
        ou_data_sets: ou.data_sets.clone(),
        coc,
        aoc,
        aoc_explicit,
        value: input.value.clone(),
        comment: input.comment.clone(),
    })
}

fn default_coc() -> &'static CategoryOptionCombo {
    model::category_option_combo(IdScheme::Uid, DEFAULT_COC).expect("the fixture has a default COC")
}

/// The data set a value is checked against: the payload's, else one detected from the
/// data element.
pub(super) fn data_set_of(d: &Decoded, explicit: Option<&'static DataSet>) -> Option<&'static DataSet> {
    explicit.or_else(|| model::detect_data_set(d.de.id.uid, d.period_type))
}

/// Checks that the value's metadata fit together and belong to `ds`.
pub(super) fn check_assignment(d: &Decoded, ds: Option<&DataSet>) -> Result<(), Problem> {
    let de = d.de.id.uid.to_owned();
    let Some(ds) = ds else {
        return Err(Problem::DataSetUndetectable { de, ou: d.ou.clone() });
    };
    let ds_uid = ds.id.uid.to_owned();
    if !ds.has_data_element(&de) {
        return Err(Problem::DataElementNotInDataSet { de, ds: ds_uid });
    }
    if d.coc.combo != d.de.category_combo {
        return Err(Problem::CocNotInCombo { coc: d.coc.id.uid.to_owned(), de });
    }
    if d.aoc.combo != ds.attribute_combo {
        return Err(Problem::AocNotInCombo { aoc: d.aoc.id.uid.to_owned(), de, ds: ds_uid });
    }
    if d.period_type != ds.period_type {
        return Err(Problem::PeriodTypeMismatch { period: d.period.clone(), de, ds: ds_uid, expected: ds.period_type });
    }
    if !d.ou_data_sets.contains(&ds.id.uid) {
        return Err(Problem::OrgUnitNotAssigned { ou: d.ou.clone(), de, ds: ds_uid });
    }
    Ok(())
}

/// Whether `version` accepts data of `ds` for the value's period, org unit and attribute
/// option combo at `now` ([`crate::entry`]).
pub(super) fn entry_closed(
    d: &Decoded,
    ds: &DataSet,
    entry: &Entry,
    version: Version,
    now: NaiveDateTime,
) -> Option<Closed> {
    entry.closed(version, ds, &d.period, d.period_type, &d.ou, d.aoc.id.uid, d.aoc_explicit, now)
}

/// ≤ 2.42: the value's own conflict when its period is closed for `ds`.
pub(super) fn check_entry(
    d: &Decoded,
    ds: &DataSet,
    entry: &Entry,
    version: Version,
    now: NaiveDateTime,
) -> Result<(), Problem> {
    let (period, ds_uid) = (d.period.clone(), ds.id.uid.to_owned());
    match entry_closed(d, ds, entry, version, now) {
        None => Ok(()),
        Some(Closed::Expired) => Err(Problem::Expired { period, ds: ds_uid }),
        Some(Closed::NotYetOpen { latest }) => {
            Err(Problem::NotYetOpen { period, de: d.de.id.uid.to_owned(), ds: ds_uid, latest })
        }
        Some(Closed::Approved) => {
            Err(Problem::Approved { ou: d.ou.clone(), period, aoc: d.aoc.id.uid.to_owned(), ds: ds_uid })
        }
        Some(Closed::NotInputPeriod) => Err(Problem::NotInputPeriod { period, ds: ds_uid }),
    }
}

impl Decoded {
    pub(super) fn period(&self) -> &str {
        &self.period
    }

    pub(super) fn org_unit(&self) -> &str {
        &self.ou
    }

    pub(super) fn aoc(&self) -> &str {
        self.aoc.id.uid
    }
}

/// Validates value and comment; returns the value to store (booleans normalised).
pub(super) fn check_value(d: &Decoded) -> Result<String, Problem> {
    let de = || d.de.id.uid.to_owned();
    let text = match &d.value {
        RawValue::NotString(json) => {
            return Err(Problem::ValueNotString { de: de(), json: json.clone() });
        }
        RawValue::Missing => "",
        RawValue::Text(text) => text.as_str(),
    };
    let has_comment = d.comment.as_deref().is_some_and(|c| !c.is_empty());
    if text.is_empty() && !has_comment {
        return Err(Problem::ValueMissing { de: de() });
    }
    let invalid =
        |reason| Problem::ValueInvalid { de: de(), value: text.to_owned(), value_type: d.de.value_type, reason };
    let value = if text.is_empty() {
        // A comment-only data value.
        String::new()
    } else if text.chars().count() > VALUE_MAX_LENGTH {
        return Err(invalid("value_length_greater_than_max_length"));
    } else {
        match d.de.value_type {
            ValueType::Number if is_number(text) => text.to_owned(),
            ValueType::Number => return Err(invalid("value_not_numeric")),
            ValueType::IntegerZeroOrPositive if is_zero_or_positive_int(text) => text.to_owned(),
            ValueType::IntegerZeroOrPositive => {
                return Err(invalid("value_not_zero_or_positive_integer"));
            }
            ValueType::Text => text.to_owned(),
            ValueType::Boolean => normalise_bool(text).ok_or_else(|| invalid("value_not_bool"))?.to_owned(),
        }
    };
    if let Some(set) = d.de.option_set
        && !value.is_empty()
        && !set.has_code(&value)
    {
        return Err(Problem::ValueNotOption { de: de(), value, option_set: set.id.uid.to_owned() });
    }
    if d.comment.as_deref().is_some_and(|c| c.chars().count() > COMMENT_MAX_LENGTH) {
        return Err(Problem::CommentTooLong { de: de() });
    }
    Ok(value)
}

/// Digits without superfluous leading zeros (`0`, `7`, `120`; not `007`).
fn is_plain_integer(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

/// DHIS2's numeric pattern `-?(0|[1-9]\d*)(\.\d+)?`: no `+`, exponent, NaN or bare dot.
pub(crate) fn is_number(s: &str) -> bool {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    match unsigned.split_once('.') {
        Some((int, frac)) => is_plain_integer(int) && !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()),
        None => is_plain_integer(unsigned),
    }
}

/// Integer value types are Java `int`s in DHIS2.
fn is_zero_or_positive_int(s: &str) -> bool {
    is_plain_integer(s) && s.parse::<i32>().is_ok()
}

/// The BOOLEAN spellings DHIS2 accepts, normalised to what it stores.
fn normalise_bool(s: &str) -> Option<&'static str> {
    match s {
        "true" | "True" | "TRUE" | "1" | "t" => Some("true"),
        "false" | "False" | "FALSE" | "0" | "f" => Some("false"),
        _ => None,
    }
}

/// What writing one accepted value did to the store.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Written {
    Imported,
    Updated,
    /// Same value and comment as stored; DHIS2 ≤2.42 reports it as ignored.
    Unchanged,
    Deleted,
    /// The strategy forbade it (CREATE of an existing key, UPDATE or DELETE of a missing one).
    Skipped,
}

/// Applies one accepted value. Every accepted delivery of a key (even an unchanged one)
/// bumps `times_written`, so tests can see a value that was sent twice.
pub(super) fn write(store: &mut Store, d: &Decoded, value: &str, strategy: Strategy) -> Written {
    let key = d.key();
    match (strategy, store.get_mut(&key)) {
        (Strategy::Delete, Some(_)) => {
            store.remove(&key);
            Written::Deleted
        }
        (Strategy::Delete | Strategy::Update, None) | (Strategy::Create, Some(_)) => Written::Skipped,
        (Strategy::Update | Strategy::CreateAndUpdate, Some(stored)) => {
            stored.times_written += 1;
            if stored.value == value && stored.comment == d.comment {
                Written::Unchanged
            } else {
                stored.value = value.to_owned();
                stored.comment = d.comment.clone();
                Written::Updated
            }
        }
        (Strategy::Create | Strategy::CreateAndUpdate, None) => {
            let (data_element, period, org_unit, category_option_combo, attribute_option_combo) = key.clone();
            store.insert(
                key,
                StoredValue {
                    data_element,
                    period,
                    org_unit,
                    category_option_combo,
                    attribute_option_combo,
                    value: value.to_owned(),
                    comment: d.comment.clone(),
                    times_written: 1,
                },
            );
            Written::Imported
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_dhis2_numeric_pattern() {
        for ok in ["0", "-0", "12", "-12", "3.25", "-0.5", "100000000000000000000.1"] {
            assert!(is_number(ok), "{ok}");
        }
        for bad in ["", "+1", "1e5", "1E5", "NaN", "Infinity", ".5", "5.", "007", "1,5", " 1", "-", "0x1"] {
            assert!(!is_number(bad), "{bad}");
        }
    }

    #[test]
    fn zero_or_positive_integers_are_java_ints() {
        assert!(is_zero_or_positive_int("0"));
        assert!(is_zero_or_positive_int("2147483647"));
        for bad in ["-1", "1.0", "2147483648", "01", "+3", ""] {
            assert!(!is_zero_or_positive_int(bad), "{bad}");
        }
    }

    #[test]
    fn booleans_accept_dhis2_spellings_and_normalise() {
        for (raw, normal) in [("True", "true"), ("1", "true"), ("f", "false"), ("FALSE", "false")] {
            assert_eq!(normalise_bool(raw), Some(normal));
        }
        for bad in ["yes", "no", "tRUE", "2", ""] {
            assert_eq!(normalise_bool(bad), None, "{bad}");
        }
    }
}
