//! Everything an import can reject, and how each version words and codes it.
//!
//! 2.37 conflicts carry no code, only `{object, value}`. The E76xx messages are DHIS2's
//! templates; the E80xx/E81xx assignment (which number means what) follows the ranges in
//! the reference, the message texts are ours.
//!
//! | Problem | 2.40 | 2.43 | 2.43 scope |
//! |---|---|---|---|
//! | `dataSet` not found | E7600 (ERROR) | E8100 | request |
//! | set-level `orgUnit` not found | E7603 (ERROR) | E8102 | request |
//! | set-level `attributeOptionCombo` not found | E7604 (ERROR) | E8104 | request |
//! | data element not found / missing | E7610 | E8101 / E8106 | request |
//! | period not a valid ISO period / missing | E7611 | E8105 / E8107 | request |
//! | org unit not found / missing | E7612 | E8102 / E8108 | request |
//! | COC not found | E7613 | E8103 | request |
//! | AOC not found | E7615 | E8104 | request |
//! | no data set holds the data element (no `dataSet` given) | E7636 | E8003 | group |
//! | data element not in the given data set | E7633 | E8020 | group |
//! | period type differs from the data set's | E7632 | E8021 | group |
//! | org unit not assigned to the data set | E7636 | E8022 | group |
//! | AOC not in the data set's attribute combo | E7635 | E8023 | group |
//! | COC not in the data element's category combo | E7634 | E8024 | group |
//! | same (DE, period, OU, COC, AOC) twice in one request | — (last wins) | E8128 | group |
//! | value and comment both missing or empty | E7618 | E8120 | value |
//! | value not a JSON string, or invalid for its value type | E7619 | E8122 | value |
//! | value not an option code of the element's option set | E7621 | E8123 | value |
//! | comment longer than 5000 characters | E7620 | E8125 | value |
//! | past the data set's expiry days (no lock exception) | E7640 | E8030 | value / data set |
//! | after the latest open future period | E7641 | E8030 | value / data set |
//! | data approved | E7642 | E8033 (explicit AOC only) | value / data set |
//! | not in the data set's input periods now | E7643 | E8030 | value / data set |
//!
//! The E7640–E7643 and E8030/E8033 templates and arguments are DHIS2's (`ErrorCode`,
//! `DataValueSetImportValidator`, `DefaultDataEntryService`); 2.43 rejects the whole data set
//! group, its conflict listing every index of the group. The 2.37 texts of these are derived.

use std::collections::BTreeMap;

use serde::Serialize;

use super::store::Key;
use crate::common::Version;
use crate::model::ValueType;
use crate::period::PeriodType;

/// DHIS2's limit on the length of a data value comment.
pub(super) const COMMENT_MAX_LENGTH: usize = 5_000;

/// Everything the double can reject, independent of how a version reports it.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Problem {
    DataSetNotFound(String),
    SetOrgUnitNotFound(String),
    SetAocNotFound(String),
    DataElementMissing,
    DataElementNotFound(String),
    PeriodMissing,
    PeriodInvalid(String),
    OrgUnitMissing,
    OrgUnitNotFound(String),
    CocNotFound(String),
    AocNotFound(String),
    DataSetUndetectable {
        de: String,
        ou: String,
    },
    DataElementNotInDataSet {
        de: String,
        ds: String,
    },
    PeriodTypeMismatch {
        period: String,
        de: String,
        ds: String,
        expected: PeriodType,
    },
    OrgUnitNotAssigned {
        ou: String,
        de: String,
        ds: String,
    },
    AocNotInCombo {
        aoc: String,
        de: String,
        ds: String,
    },
    CocNotInCombo {
        coc: String,
        de: String,
    },
    Duplicate {
        key: Key,
    },
    ValueMissing {
        de: String,
    },
    ValueNotString {
        de: String,
        json: String,
    },
    ValueInvalid {
        de: String,
        value: String,
        value_type: ValueType,
        reason: &'static str,
    },
    ValueNotOption {
        de: String,
        value: String,
        option_set: String,
    },
    CommentTooLong {
        de: String,
    },
    Expired {
        period: String,
        ds: String,
    },
    NotYetOpen {
        period: String,
        de: String,
        ds: String,
        latest: String,
    },
    Approved {
        ou: String,
        period: String,
        aoc: String,
        ds: String,
    },
    NotInputPeriod {
        period: String,
        ds: String,
    },
    /// 2.43: the group's periods that are expired, not yet open or outside input periods.
    Untimely {
        ds: String,
        periods: Vec<String>,
    },
    /// 2.43: the group's approved periods, for one attribute option combo and org unit.
    ApprovedPeriods {
        aoc: String,
        ou: String,
        periods: Vec<String>,
    },
}

impl Problem {
    /// The offending identifiers, named by payload property; the first is the `object`.
    fn objects(&self) -> Vec<(&'static str, String)> {
        use Problem::*;
        match self {
            DataSetNotFound(id) => vec![("dataSet", id.clone())],
            SetOrgUnitNotFound(id) | OrgUnitNotFound(id) => vec![("orgUnit", id.clone())],
            SetAocNotFound(id) | AocNotFound(id) => vec![("attributeOptionCombo", id.clone())],
            DataElementMissing => vec![("dataElement", "null".to_owned())],
            DataElementNotFound(id) => vec![("dataElement", id.clone())],
            PeriodMissing => vec![("period", "null".to_owned())],
            PeriodInvalid(id) => vec![("period", id.clone())],
            OrgUnitMissing => vec![("orgUnit", "null".to_owned())],
            CocNotFound(id) => vec![("categoryOptionCombo", id.clone())],
            DataSetUndetectable { de, ou } => {
                vec![("dataElement", de.clone()), ("orgUnit", ou.clone())]
            }
            DataElementNotInDataSet { de, ds } => {
                vec![("dataElement", de.clone()), ("dataSet", ds.clone())]
            }
            PeriodTypeMismatch { period, de, .. } => {
                vec![("period", period.clone()), ("dataElement", de.clone())]
            }
            OrgUnitNotAssigned { ou, de, .. } => {
                vec![("orgUnit", ou.clone()), ("dataElement", de.clone())]
            }
            AocNotInCombo { aoc, de, .. } => vec![("attributeOptionCombo", aoc.clone()), ("dataElement", de.clone())],
            CocNotInCombo { coc, de } => vec![("categoryOptionCombo", coc.clone()), ("dataElement", de.clone())],
            Duplicate { key } => vec![("dataElement", key.0.clone())],
            ValueMissing { de }
            | ValueNotString { de, .. }
            | ValueInvalid { de, .. }
            | ValueNotOption { de, .. }
            | CommentTooLong { de } => vec![("dataElement", de.clone())],
            Expired { period, ds } | NotInputPeriod { period, ds } => {
                vec![("period", period.clone()), ("dataSet", ds.clone())]
            }
            NotYetOpen { period, de, ds, .. } => {
                vec![("period", period.clone()), ("dataElement", de.clone()), ("dataSet", ds.clone())]
            }
            Approved { ou, period, aoc, ds } => vec![
                ("organisationUnit", ou.clone()),
                ("period", period.clone()),
                ("categoryOptionCombo", aoc.clone()),
                ("dataSet", ds.clone()),
            ],
            Untimely { ds, .. } => vec![("dataSet", ds.clone())],
            ApprovedPeriods { aoc, .. } => vec![("attributeOptionCombo", aoc.clone())],
        }
    }

    /// The payload property at fault (2.40 `property`).
    fn property(&self) -> &'static str {
        use Problem::*;
        match self {
            ValueMissing { .. } | ValueNotString { .. } | ValueInvalid { .. } | ValueNotOption { .. } => "value",
            CommentTooLong { .. } => "comment",
            _ => self.objects()[0].0,
        }
    }

    /// 2.37: a short message without code.
    pub(super) fn message_v37(&self) -> String {
        use Problem::*;
        match self {
            DataSetNotFound(_) => "Data set not found or not accessible".to_owned(),
            SetOrgUnitNotFound(_) => "Org unit not found or not accessible".to_owned(),
            SetAocNotFound(_) => "Attribute option combo not found or not accessible".to_owned(),
            DataElementMissing | DataElementNotFound(_) => "Data element not found or not accessible".to_owned(),
            PeriodMissing | PeriodInvalid(_) => "Period not valid".to_owned(),
            OrgUnitMissing | OrgUnitNotFound(_) => "Organisation unit not found or not accessible".to_owned(),
            CocNotFound(_) => "Category option combo not found or not accessible for writing data".to_owned(),
            AocNotFound(_) => "Attribute option combo not found or not accessible for writing data".to_owned(),
            DataSetUndetectable { .. } | OrgUnitNotAssigned { .. } => {
                "Data element must be assigned through data sets to organisation unit".to_owned()
            }
            DataElementNotInDataSet { ds, .. } => format!("Data element not part of dataset: {ds}"),
            PeriodTypeMismatch { .. } => "Period type of period not valid for data element".to_owned(),
            AocNotInCombo { .. } => {
                "Attribute option combo must be part of category combo of data sets of data element".to_owned()
            }
            CocNotInCombo { .. } => "Category option combo must be part of category combo of data element".to_owned(),
            Duplicate { .. } => "Duplicate data value".to_owned(),
            ValueMissing { .. } => "Data value or comment not specified".to_owned(),
            ValueNotString { de, .. } => {
                format!("Value must be a string, must match data element type: {de}")
            }
            ValueInvalid { de, reason, .. } => {
                format!("{}, must match data element type: {de}", reason_text(reason))
            }
            ValueNotOption { .. } => "Data value is not a valid option of the data element option set".to_owned(),
            CommentTooLong { .. } => "Comment is longer than 5000 characters".to_owned(),
            Expired { .. } => "Current date is past expiry days for period and data set".to_owned(),
            NotYetOpen { .. } => "Period is after latest open future period for data element".to_owned(),
            Approved { .. } => "Data is already approved for data set, period and organisation unit".to_owned(),
            NotInputPeriod { .. } => "Period is not open for this data set at this time".to_owned(),
            Untimely { .. } | ApprovedPeriods { .. } => unreachable!("group timeliness is only checked by 2.43"),
        }
    }

    /// 2.38–2.42: E76xx code and DHIS2's message template.
    pub(super) fn describe_v40(&self) -> (&'static str, String) {
        use Problem::*;
        match self {
            DataSetNotFound(id) => ("E7600", format!("Data set not found or not accessible: `{id}`")),
            SetOrgUnitNotFound(id) => ("E7603", format!("Org unit not found or not accessible: `{id}`")),
            SetAocNotFound(id) => ("E7604", format!("Attribute option combo not found or not accessible: `{id}`")),
            DataElementMissing => ("E7610", "Data element not found or not accessible: `null`".to_owned()),
            DataElementNotFound(id) => ("E7610", format!("Data element not found or not accessible: `{id}`")),
            PeriodMissing => ("E7611", "Period not valid: `null`".to_owned()),
            PeriodInvalid(id) => ("E7611", format!("Period not valid: `{id}`")),
            OrgUnitMissing => ("E7612", "Organisation unit not found or not accessible: `null`".to_owned()),
            OrgUnitNotFound(id) => ("E7612", format!("Organisation unit not found or not accessible: `{id}`")),
            CocNotFound(id) => {
                ("E7613", format!("Category option combo not found or not accessible for writing data: `{id}`"))
            }
            AocNotFound(id) => {
                ("E7615", format!("Attribute option combo not found or not accessible for writing data: `{id}`"))
            }
            DataSetUndetectable { de, ou } | OrgUnitNotAssigned { ou, de, .. } => (
                "E7636",
                format!("Data element: `{de}` must be assigned through data sets to organisation unit: `{ou}`"),
            ),
            DataElementNotInDataSet { de, ds } => {
                ("E7633", format!("Data element: `{de}` is not part of dataset: `{ds}`"))
            }
            PeriodTypeMismatch { period, de, .. } => {
                ("E7632", format!("Period type of period: `{period}` not valid for data element: `{de}`"))
            }
            AocNotInCombo { aoc, de, .. } => (
                "E7635",
                format!(
                    "Attribute option combo: `{aoc}` must be part of category combo of data sets of data element: `{de}`"
                ),
            ),
            CocNotInCombo { coc, de } => (
                "E7634",
                format!("Category option combo: `{coc}` must be part of category combo of data element: `{de}`"),
            ),
            // ≤2.42 lets the last of several equal keys win; it never reports duplicates.
            Duplicate { .. } => unreachable!("duplicates are only checked by 2.43"),
            ValueMissing { de } => ("E7618", format!("Data value or comment not specified for data element: `{de}`")),
            ValueNotString { de, .. } => {
                ("E7619", format!("Value must match data element's `{de}` type constraints: value_not_string"))
            }
            ValueInvalid { de, reason, .. } => {
                ("E7619", format!("Value must match data element's `{de}` type constraints: {reason}"))
            }
            ValueNotOption { de, .. } => {
                ("E7621", format!("Data value is not a valid option of the data element option set: `{de}`"))
            }
            CommentTooLong { .. } => ("E7620", "Invalid comment: comment_length_greater_than_max_length".to_owned()),
            // Two spaces before "and", as DHIS2's template has them.
            Expired { period, ds } => {
                ("E7640", format!("Current date is past expiry days for period: `{period}`  and data set: `{ds}`"))
            }
            NotYetOpen { period, de, ds, latest } => (
                "E7641",
                format!(
                    "Period: `{period}` is after latest open future period: `{latest}` for data element: `{de}` and data set: `{ds}`"
                ),
            ),
            Approved { ou, period, aoc, ds } => (
                "E7642",
                format!(
                    "Data already approved for data set: `{ds}` period: `{period}` org unit: `{ou}` attribute option combo: `{aoc}`"
                ),
            ),
            NotInputPeriod { period, ds } => {
                ("E7643", format!("Period: `{period}` is not open for this data set at this time: `{ds}`"))
            }
            Untimely { .. } | ApprovedPeriods { .. } => unreachable!("group timeliness is only checked by 2.43"),
        }
    }

    /// 2.43+: E80xx/E81xx code and the message arguments.
    pub(super) fn describe_v43(&self) -> (&'static str, Vec<String>, String) {
        use Problem::*;
        match self {
            DataSetNotFound(id) => ("E8100", vec![id.clone()], format!("Data set `{id}` does not exist")),
            DataElementNotFound(id) => ("E8101", vec![id.clone()], format!("Data element `{id}` does not exist")),
            SetOrgUnitNotFound(id) | OrgUnitNotFound(id) => {
                ("E8102", vec![id.clone()], format!("Organisation unit `{id}` does not exist"))
            }
            CocNotFound(id) => ("E8103", vec![id.clone()], format!("Category option combo `{id}` does not exist")),
            SetAocNotFound(id) | AocNotFound(id) => {
                ("E8104", vec![id.clone()], format!("Attribute option combo `{id}` does not exist"))
            }
            PeriodInvalid(id) => ("E8105", vec![id.clone()], format!("Period `{id}` is not a valid ISO period")),
            DataElementMissing => ("E8106", vec![], "Data value has no data element".to_owned()),
            PeriodMissing => ("E8107", vec![], "Data value has no period".to_owned()),
            OrgUnitMissing => ("E8108", vec![], "Data value has no organisation unit".to_owned()),
            DataSetUndetectable { de, ou } => (
                "E8003",
                vec![de.clone(), ou.clone()],
                format!("No data set could be detected for data element `{de}` and organisation unit `{ou}`"),
            ),
            DataElementNotInDataSet { de, ds } => {
                ("E8020", vec![de.clone(), ds.clone()], format!("Data element `{de}` is not part of data set `{ds}`"))
            }
            PeriodTypeMismatch { period, ds, expected, .. } => (
                "E8021",
                vec![period.clone(), ds.clone(), expected.name().to_owned()],
                format!("Period `{period}` is not usable in data set `{ds}` of period type {}", expected.name()),
            ),
            OrgUnitNotAssigned { ou, ds, .. } => (
                "E8022",
                vec![ou.clone(), ds.clone()],
                format!("Organisation unit `{ou}` is not assigned to data set `{ds}`"),
            ),
            AocNotInCombo { aoc, ds, .. } => (
                "E8023",
                vec![aoc.clone(), ds.clone()],
                format!("Attribute option combo `{aoc}` is not usable in data set `{ds}`"),
            ),
            CocNotInCombo { coc, de } => (
                "E8024",
                vec![coc.clone(), de.clone()],
                format!("Category option combo `{coc}` is not part of the category combo of data element `{de}`"),
            ),
            Duplicate { key } => {
                let (de, pe, ou, coc, aoc) = key.clone();
                let message = format!(
                    "Data value for data element `{de}`, period `{pe}`, organisation unit `{ou}`, category option combo `{coc}` and attribute option combo `{aoc}` occurs more than once"
                );
                ("E8128", vec![de, pe, ou, coc, aoc], message)
            }
            ValueMissing { de } => ("E8120", vec![de.clone()], format!("Value for data element `{de}` is required")),
            ValueNotString { de, json } => (
                "E8122",
                vec![json.clone(), de.clone()],
                format!("Value `{json}` of data element `{de}` must be a JSON string"),
            ),
            ValueInvalid { de, value, value_type, .. } => (
                "E8122",
                vec![value.clone(), de.clone(), value_type.as_str().to_owned()],
                format!("Value `{value}` is not a valid {} value for data element `{de}`", value_type.as_str()),
            ),
            ValueNotOption { de, value, option_set } => (
                "E8123",
                vec![value.clone(), option_set.clone(), de.clone()],
                format!("Value `{value}` is not an option of option set `{option_set}` of data element `{de}`"),
            ),
            CommentTooLong { de } => (
                "E8125",
                vec![de.clone(), COMMENT_MAX_LENGTH.to_string()],
                format!("Comment of data element `{de}` is longer than {COMMENT_MAX_LENGTH} characters"),
            ),
            Untimely { ds, periods } => {
                let periods = format!("[{}]", periods.join(", "));
                let message = format!("Untimely data entry for data set {ds} and period(s): `{periods}`");
                ("E8030", vec![ds.clone(), periods], message)
            }
            ApprovedPeriods { aoc, ou, periods } => {
                let periods = format!("[{}]", periods.join(", "));
                let message = format!(
                    "Untimely data entry (already approved) for attribute option combo {aoc}, org unit {ou} and periods: `{periods}`"
                );
                ("E8033", vec![aoc.clone(), ou.clone(), periods], message)
            }
            Expired { .. } | NotYetOpen { .. } | Approved { .. } | NotInputPeriod { .. } => {
                unreachable!("2.43 reports timeliness per data set group")
            }
        }
    }

    /// The conflict in `version`'s shape; empty `indexes` are left out (set level).
    pub(super) fn conflict(&self, version: Version, indexes: &[i64]) -> Conflict {
        let objects = self.objects();
        match version {
            Version::V2_37 => Conflict {
                object: Some(objects[0].1.clone()),
                objects: None,
                value: self.message_v37(),
                error_code: None,
                property: None,
                indexes: None,
            },
            Version::V2_40 => {
                let (code, message) = self.describe_v40();
                Conflict {
                    object: Some(objects[0].1.clone()),
                    objects: Some(objects.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()),
                    value: message,
                    error_code: Some(code),
                    property: Some(self.property()),
                    indexes: (!indexes.is_empty()).then(|| indexes.to_vec()),
                }
            }
            Version::V2_43 => {
                let (code, args, message) = self.describe_v43();
                Conflict {
                    // 2.43 builds its conflicts without an object.
                    object: None,
                    objects: Some(BTreeMap::from([("args".to_owned(), args.join("-"))])),
                    value: message,
                    error_code: Some(code),
                    property: None,
                    indexes: Some(indexes.to_vec()),
                }
            }
        }
    }
}

/// DHIS2's `ImportConflict`; absent fields are those the emulated version does not have.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Conflict {
    /// Serialised as `null` when absent: 2.43 sends `"object": null`.
    object: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    objects: Option<BTreeMap<String, String>>,
    /// The message text (DHIS2 kept the old field name).
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    property: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    indexes: Option<Vec<i64>>,
}

/// The English text of DHIS2's value-validation i18n keys (2.37 wording).
fn reason_text(reason: &str) -> &'static str {
    match reason {
        "value_not_numeric" => "Value is not numeric",
        "value_not_zero_or_positive_integer" => "Value is not zero or positive integer",
        "value_not_bool" => "Value is not boolean",
        _ => "Value length is greater than max length",
    }
}
