//! In-memory metadata (data elements, COCs, data sets, tracker programs) and lookups by id
//! scheme, plus the initial org units (which live in [`crate::orgunit`] once a double runs).
//!
//! The UIDs, codes and names live in [`crate::fixture`]; this module wires them into the
//! relations the import validation needs.

use chrono::NaiveDateTime;

use crate::fixture::*;
use crate::period::PeriodType;

/// How an identifier in a payload is matched (`idScheme` and friends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdScheme {
    Uid,
    Code,
    Name,
}

impl IdScheme {
    /// Parses a scheme as DHIS2 spells it (case-insensitive). `attribute:…` schemes are
    /// valid in DHIS2 but the fixture has no unique attributes, so they are refused too.
    pub(crate) fn parse(s: &str) -> Option<IdScheme> {
        match s.to_ascii_uppercase().as_str() {
            "UID" | "ID" => Some(IdScheme::Uid),
            "CODE" => Some(IdScheme::Code),
            "NAME" => Some(IdScheme::Name),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            IdScheme::Uid => "UID",
            IdScheme::Code => "CODE",
            IdScheme::Name => "NAME",
        }
    }
}

/// The three identifiers every metadata object can be addressed by.
pub(crate) struct Ident {
    pub(crate) uid: &'static str,
    pub(crate) code: &'static str,
    pub(crate) name: &'static str,
}

impl Ident {
    fn matches(&self, scheme: IdScheme, id: &str) -> bool {
        match scheme {
            IdScheme::Uid => self.uid == id,
            IdScheme::Code => self.code == id,
            IdScheme::Name => self.name == id,
        }
    }
}

/// The value types used by the fixture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueType {
    Number,
    IntegerZeroOrPositive,
    Text,
    Boolean,
}

impl ValueType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ValueType::Number => "NUMBER",
            ValueType::IntegerZeroOrPositive => "INTEGER_ZERO_OR_POSITIVE",
            ValueType::Text => "TEXT",
            ValueType::Boolean => "BOOLEAN",
        }
    }
}

pub(crate) struct DataElement {
    pub(crate) id: Ident,
    pub(crate) value_type: ValueType,
    pub(crate) category_combo: &'static str,
    /// Its values must be the code of an option of this set.
    pub(crate) option_set: Option<&'static OptionSet>,
}

pub(crate) struct OptionSet {
    pub(crate) id: Ident,
    /// (UID, code, name) of each option.
    pub(crate) options: &'static [(&'static str, &'static str, &'static str)],
}

impl OptionSet {
    pub(crate) fn has_code(&self, code: &str) -> bool {
        self.options.iter().any(|(_, c, _)| *c == code)
    }
}

static TEST_RESULTS: OptionSet = OptionSet {
    id: ident(OS_RESULTS, "TEST_RESULTS", OS_RESULTS_NAME),
    options: &[("OptPositiv1", "POSITIVE", "Positive"), ("OptNegativ1", "NEGATIVE", "Negative")],
};

pub(crate) struct CategoryOptionCombo {
    pub(crate) id: Ident,
    /// The category combo this COC belongs to.
    pub(crate) combo: &'static str,
}

pub(crate) struct DataSet {
    pub(crate) id: Ident,
    pub(crate) period_type: PeriodType,
    pub(crate) attribute_combo: &'static str,
    data_elements: &'static [&'static str],
}

impl DataSet {
    pub(crate) fn has_data_element(&self, de: &str) -> bool {
        self.data_elements.contains(&de)
    }
}

/// One `dataInputPeriods` entry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct InputPeriod {
    pub(crate) period: String,
    pub(crate) opening: Option<NaiveDateTime>,
    pub(crate) closing: Option<NaiveDateTime>,
}

/// A data set's entry settings (the fixture starts every data set at 0, 0, none, and DHIS2's
/// default of 15 timely days).
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) expiry_days: i64,
    pub(crate) open_future_periods: i64,
    pub(crate) input_periods: Vec<InputPeriod>,
    /// Days after a period's end within which a report counts as timely; DHIS2 only reports
    /// it (completeness analytics), entry does not depend on it.
    pub(crate) timely_days: u32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { expiry_days: 0, open_future_periods: 0, input_periods: Vec::new(), timely_days: 15 }
    }
}

/// An org unit the double starts with; which data sets and programs are assigned to it is
/// kept with the org unit (the store in [`crate::orgunit`]), since units come and go.
pub(crate) struct SeedOrgUnit {
    pub(crate) id: Ident,
    pub(crate) parent: Option<&'static str>,
    pub(crate) data_sets: &'static [&'static str],
    pub(crate) programs: &'static [&'static str],
}

/// An org unit level the double starts with.
pub(crate) struct SeedLevel {
    pub(crate) uid: &'static str,
    pub(crate) level: u32,
    pub(crate) name: &'static str,
}

/// An org unit group the double starts with.
pub(crate) struct SeedGroup {
    pub(crate) id: Ident,
    pub(crate) members: &'static [&'static str],
}

/// A tracked entity type (its attributes are all the fixture's attributes).
pub(crate) struct TrackedEntityType {
    pub(crate) uid: &'static str,
}

/// A program; `registration` marks a tracker program (enrollments of a tracked entity
/// type), otherwise it is an event program.
pub(crate) struct Program {
    pub(crate) id: Ident,
    pub(crate) registration: bool,
    pub(crate) tracked_entity_type: Option<&'static str>,
    /// The program attributes, the only ones an enrollment may carry.
    pub(crate) attributes: &'static [&'static str],
}

pub(crate) struct ProgramStage {
    pub(crate) uid: &'static str,
    pub(crate) program: &'static str,
    pub(crate) data_elements: &'static [&'static str],
}

pub(crate) struct TrackedEntityAttribute {
    pub(crate) uid: &'static str,
    pub(crate) value_type: ValueType,
    /// A unique attribute's value may be held by one tracked entity only (E1064).
    pub(crate) unique: bool,
}

const fn ident(uid: &'static str, code: &'static str, name: &'static str) -> Ident {
    Ident { uid, code, name }
}

static DATA_ELEMENTS: [DataElement; 17] = [
    DataElement {
        id: ident(DE_HIV_TESTS, DE_HIV_TESTS_CODE, DE_HIV_TESTS_NAME),
        value_type: ValueType::Number,
        category_combo: SEX_CATEGORY_COMBO,
        option_set: None,
    },
    DataElement {
        id: ident(DE_POSITIVES, DE_POSITIVES_CODE, DE_POSITIVES_NAME),
        value_type: ValueType::IntegerZeroOrPositive,
        category_combo: DEFAULT_CATEGORY_COMBO,
        option_set: None,
    },
    DataElement {
        id: ident(DE_REMARKS, DE_REMARKS_CODE, DE_REMARKS_NAME),
        value_type: ValueType::Text,
        category_combo: DEFAULT_CATEGORY_COMBO,
        option_set: None,
    },
    DataElement {
        id: ident(DE_ON_ART, DE_ON_ART_CODE, DE_ON_ART_NAME),
        value_type: ValueType::Boolean,
        category_combo: DEFAULT_CATEGORY_COMBO,
        option_set: None,
    },
    DataElement {
        id: ident(DE_ORPHAN, DE_ORPHAN_CODE, DE_ORPHAN_NAME),
        value_type: ValueType::Number,
        category_combo: DEFAULT_CATEGORY_COMBO,
        option_set: None,
    },
    DataElement {
        id: ident(DE_RESULT, DE_RESULT_CODE, DE_RESULT_NAME),
        value_type: ValueType::Text,
        category_combo: DEFAULT_CATEGORY_COMBO,
        option_set: Some(&TEST_RESULTS),
    },
    lab_element(0),
    lab_element(1),
    lab_element(2),
    lab_element(3),
    lab_element(4),
    lab_element(5),
    lab_element(6),
    lab_element(7),
    lab_element(8),
    lab_element(9),
    // Tracker domain: in the program stages, in no data set.
    DataElement {
        id: ident(DE_WEIGHT, DE_WEIGHT_CODE, DE_WEIGHT_NAME),
        value_type: ValueType::Number,
        category_combo: DEFAULT_CATEGORY_COMBO,
        option_set: None,
    },
];

/// The `i`th element of "Monthly lab".
const fn lab_element(i: usize) -> DataElement {
    DataElement {
        id: ident(DE_LAB[i], DE_LAB_CODES[i], DE_LAB_NAMES[i]),
        value_type: ValueType::IntegerZeroOrPositive,
        category_combo: DEFAULT_CATEGORY_COMBO,
        option_set: None,
    }
}

static CATEGORY_OPTION_COMBOS: [CategoryOptionCombo; 3] = [
    CategoryOptionCombo { id: ident(DEFAULT_COC, DEFAULT_CODE, DEFAULT_NAME), combo: DEFAULT_CATEGORY_COMBO },
    CategoryOptionCombo { id: ident(COC_MALE, COC_MALE_CODE, COC_MALE_NAME), combo: SEX_CATEGORY_COMBO },
    CategoryOptionCombo { id: ident(COC_FEMALE, COC_FEMALE_CODE, COC_FEMALE_NAME), combo: SEX_CATEGORY_COMBO },
];

static DATA_SETS: [DataSet; 3] = [
    DataSet {
        id: ident(DS_MONTHLY_HIV, DS_MONTHLY_HIV_CODE, DS_MONTHLY_HIV_NAME),
        period_type: PeriodType::Monthly,
        attribute_combo: DEFAULT_CATEGORY_COMBO,
        data_elements: &[DE_HIV_TESTS, DE_POSITIVES, DE_REMARKS, DE_ON_ART, DE_RESULT],
    },
    DataSet {
        id: ident(DS_QUARTERLY_TB, DS_QUARTERLY_TB_CODE, DS_QUARTERLY_TB_NAME),
        period_type: PeriodType::Quarterly,
        attribute_combo: DEFAULT_CATEGORY_COMBO,
        data_elements: &[DE_POSITIVES],
    },
    DataSet {
        id: ident(DS_MONTHLY_LAB, DS_MONTHLY_LAB_CODE, DS_MONTHLY_LAB_NAME),
        period_type: PeriodType::Monthly,
        attribute_combo: DEFAULT_CATEGORY_COMBO,
        data_elements: &DE_LAB,
    },
];

/// Data sets and programs assigned to every fixture facility.
const FACILITY_DATA_SETS: &[&str] = &[DS_MONTHLY_HIV, DS_QUARTERLY_TB, DS_MONTHLY_LAB];
const FACILITY_PROGRAMS: &[&str] = &[PROGRAM_CARE, PROGRAM_EVENTS];

const fn seed(
    id: Ident,
    parent: Option<&'static str>,
    data_sets: &'static [&'static str],
    programs: &'static [&'static str],
) -> SeedOrgUnit {
    SeedOrgUnit { id, parent, data_sets, programs }
}

/// The initial hierarchy, parents before children.
pub(crate) static SEED_ORG_UNITS: [SeedOrgUnit; 8] = [
    seed(ident(OU_ROOT, OU_ROOT_CODE, OU_ROOT_NAME), None, &[], &[]),
    seed(ident(OU_DISTRICT, OU_DISTRICT_CODE, OU_DISTRICT_NAME), Some(OU_ROOT), &[], &[]),
    seed(ident(OU_DISTRICT_2, OU_DISTRICT_2_CODE, OU_DISTRICT_2_NAME), Some(OU_ROOT), &[], &[]),
    seed(ident(OU_SUBCOUNTY, OU_SUBCOUNTY_CODE, OU_SUBCOUNTY_NAME), Some(OU_DISTRICT), &[], &[]),
    seed(ident(OU_SUBCOUNTY_2, OU_SUBCOUNTY_2_CODE, OU_SUBCOUNTY_2_NAME), Some(OU_DISTRICT_2), &[], &[]),
    seed(
        ident(OU_FACILITY_1, OU_FACILITY_1_CODE, OU_FACILITY_1_NAME),
        Some(OU_SUBCOUNTY),
        FACILITY_DATA_SETS,
        FACILITY_PROGRAMS,
    ),
    seed(
        ident(OU_FACILITY_2, OU_FACILITY_2_CODE, OU_FACILITY_2_NAME),
        Some(OU_SUBCOUNTY),
        FACILITY_DATA_SETS,
        FACILITY_PROGRAMS,
    ),
    seed(
        ident(OU_FACILITY_3, OU_FACILITY_3_CODE, OU_FACILITY_3_NAME),
        Some(OU_SUBCOUNTY_2),
        FACILITY_DATA_SETS,
        FACILITY_PROGRAMS,
    ),
];

pub(crate) static SEED_LEVELS: [SeedLevel; 4] = [
    SeedLevel { uid: OU_LEVEL_NATIONAL, level: 1, name: OU_LEVEL_NATIONAL_NAME },
    SeedLevel { uid: OU_LEVEL_DISTRICT, level: 2, name: OU_LEVEL_DISTRICT_NAME },
    SeedLevel { uid: OU_LEVEL_SUBCOUNTY, level: 3, name: OU_LEVEL_SUBCOUNTY_NAME },
    SeedLevel { uid: OU_LEVEL_FACILITY, level: 4, name: OU_LEVEL_FACILITY_NAME },
];

pub(crate) static SEED_GROUPS: [SeedGroup; 2] = [
    SeedGroup { id: ident(OUG_PUBLIC, OUG_PUBLIC_CODE, OUG_PUBLIC_NAME), members: &[OU_FACILITY_1, OU_FACILITY_3] },
    SeedGroup { id: ident(OUG_PRIVATE, OUG_PRIVATE_CODE, OUG_PRIVATE_NAME), members: &[OU_FACILITY_2] },
];

/// What a unit added with `Dhis2Double::add_org_unit` gets assigned, so data can be
/// delivered to it.
pub(crate) fn added_unit_assignments() -> (&'static [&'static str], &'static [&'static str]) {
    (FACILITY_DATA_SETS, FACILITY_PROGRAMS)
}

static TRACKED_ENTITY_TYPES: [TrackedEntityType; 1] = [TrackedEntityType { uid: TET_PERSON }];

static PROGRAMS: [Program; 2] = [
    Program {
        id: ident(PROGRAM_CARE, PROGRAM_CARE_CODE, PROGRAM_CARE_NAME),
        registration: true,
        tracked_entity_type: Some(TET_PERSON),
        attributes: &[ATTR_PATIENT_ID, ATTR_NAME],
    },
    Program {
        id: ident(PROGRAM_EVENTS, PROGRAM_EVENTS_CODE, PROGRAM_EVENTS_NAME),
        registration: false,
        tracked_entity_type: None,
        attributes: &[],
    },
];

static PROGRAM_STAGES: [ProgramStage; 2] = [
    ProgramStage { uid: STAGE_VISIT, program: PROGRAM_CARE, data_elements: &[DE_WEIGHT] },
    ProgramStage { uid: STAGE_EVENT, program: PROGRAM_EVENTS, data_elements: &[DE_WEIGHT] },
];

static ATTRIBUTES: [TrackedEntityAttribute; 2] = [
    TrackedEntityAttribute { uid: ATTR_PATIENT_ID, value_type: ValueType::Text, unique: true },
    TrackedEntityAttribute { uid: ATTR_NAME, value_type: ValueType::Text, unique: false },
];

pub(crate) fn data_element(scheme: IdScheme, id: &str) -> Option<&'static DataElement> {
    DATA_ELEMENTS.iter().find(|x| x.id.matches(scheme, id))
}

pub(crate) fn category_option_combo(scheme: IdScheme, id: &str) -> Option<&'static CategoryOptionCombo> {
    CATEGORY_OPTION_COMBOS.iter().find(|x| x.id.matches(scheme, id))
}

pub(crate) fn data_set(scheme: IdScheme, id: &str) -> Option<&'static DataSet> {
    DATA_SETS.iter().find(|x| x.id.matches(scheme, id))
}

/// The data set whose approval workflow is `workflow`.
pub(crate) fn data_set_of_workflow(workflow: &str) -> Option<&'static DataSet> {
    DATA_SETS.iter().find(|d| crate::fixture::workflow_of(d.id.uid) == Some(workflow))
}

pub(crate) fn tracked_entity_type(uid: &str) -> Option<&'static TrackedEntityType> {
    TRACKED_ENTITY_TYPES.iter().find(|x| x.uid == uid)
}

pub(crate) fn program(uid: &str) -> Option<&'static Program> {
    PROGRAMS.iter().find(|x| x.id.uid == uid)
}

/// A program stage; its program is [`ProgramStage::program`].
pub(crate) fn program_stage(uid: &str) -> Option<&'static ProgramStage> {
    PROGRAM_STAGES.iter().find(|x| x.uid == uid)
}

pub(crate) fn attribute(uid: &str) -> Option<&'static TrackedEntityAttribute> {
    ATTRIBUTES.iter().find(|x| x.uid == uid)
}

/// The UIDs of the data sets holding data element `de`.
pub(crate) fn data_sets_holding(de: &str) -> Vec<&'static str> {
    DATA_SETS.iter().filter(|ds| ds.has_data_element(de)).map(|ds| ds.id.uid).collect()
}

/// The data set a value belongs to when the payload names none: among the data sets
/// holding the data element, the first whose period type fits, else the first at all.
pub(crate) fn detect_data_set(de: &str, period_type: PeriodType) -> Option<&'static DataSet> {
    let mut candidates = DATA_SETS.iter().filter(|ds| ds.has_data_element(de));
    let first = candidates.clone().next();
    candidates.find(|ds| ds.period_type == period_type).or(first)
}

/// Every data set, data element, category combo and option set as DHIS2 renders it with the
/// fields a metadata client asks for (`fields=*` and the nested references), for the list
/// endpoints. A data set's `organisationUnits` are the units `assignment` says hold it, and
/// its `lastUpdated` moves when they last changed.
pub(crate) fn metadata_objects(
    kind: &str,
    assignment: impl Fn(&str) -> (Vec<String>, Option<NaiveDateTime>),
    settings: impl Fn(&str) -> Settings,
    deleted: &std::collections::BTreeSet<String>,
) -> Option<Vec<serde_json::Value>> {
    use serde_json::json;
    let render = |i: &Ident| {
        json!({"id": i.uid, "code": i.code, "name": i.name, "displayName": i.name,
               "created": METADATA_LAST_UPDATED, "lastUpdated": METADATA_LAST_UPDATED})
    };
    let combo_cocs = |combo: &str| -> Vec<serde_json::Value> {
        CATEGORY_OPTION_COMBOS
            .iter()
            .filter(|c| c.combo == combo)
            .map(|c| json!({"id": c.id.uid, "code": c.id.code, "name": c.id.name}))
            .collect()
    };
    Some(match kind {
        "dataSets" => DATA_SETS
            .iter()
            .map(|d| {
                let mut v = render(&d.id);
                v["shortName"] = json!(d.id.name);
                v["periodType"] = json!(d.period_type.name());
                let entry = settings(d.id.uid);
                v["openFuturePeriods"] = json!(entry.open_future_periods);
                v["expiryDays"] = json!(entry.expiry_days);
                v["timelyDays"] = json!(entry.timely_days);
                v["dataInputPeriods"] = entry
                    .input_periods
                    .iter()
                    .map(|p| {
                        json!({"period": {"id": p.period}, "openingDate": p.opening.map(crate::time::format),
                               "closingDate": p.closing.map(crate::time::format)})
                    })
                    .collect();
                if let Some(workflow) = crate::fixture::workflow_of(d.id.uid) {
                    v["workflow"] = json!({"id": workflow});
                }
                v["categoryCombo"] = json!({"id": d.attribute_combo});
                v["dataSetElements"] = d
                    .data_elements
                    .iter()
                    .filter(|de| !deleted.contains(**de))
                    .map(|de| json!({"dataElement": {"id": de}, "dataSet": {"id": d.id.uid}}))
                    .collect();
                let (units, changed) = assignment(d.id.uid);
                v["organisationUnits"] = units.into_iter().map(|ou| json!({"id": ou})).collect();
                if let Some(changed) = changed {
                    v["lastUpdated"] = json!(crate::time::format(changed));
                }
                v
            })
            .collect(),
        "dataElements" => DATA_ELEMENTS
            .iter()
            .filter(|d| !deleted.contains(d.id.uid))
            .map(|d| {
                let mut v = render(&d.id);
                v["shortName"] = json!(d.id.name);
                v["valueType"] = json!(d.value_type.as_str());
                v["domainType"] = json!(if d.id.uid == DE_WEIGHT { "TRACKER" } else { "AGGREGATE" });
                v["aggregationType"] = json!("SUM");
                v["zeroIsSignificant"] = json!(false);
                v["categoryCombo"] = json!({"id": d.category_combo});
                if let Some(set) = d.option_set {
                    v["optionSet"] = json!({"id": set.id.uid});
                }
                v
            })
            .collect(),
        "categoryCombos" => [
            ident(DEFAULT_CATEGORY_COMBO, DEFAULT_CODE, DEFAULT_NAME),
            ident(SEX_CATEGORY_COMBO, SEX_CATEGORY_COMBO_CODE, SEX_CATEGORY_COMBO_NAME),
        ]
        .iter()
        .map(|combo| {
            let mut v = render(combo);
            v["dataDimensionType"] = json!("DISAGGREGATION");
            v["categoryOptionCombos"] = json!(combo_cocs(combo.uid));
            v
        })
        .collect(),
        "optionSets" => [&TEST_RESULTS]
            .iter()
            .map(|set| {
                let mut v = render(&set.id);
                v["valueType"] = json!("TEXT");
                v["options"] = set
                    .options
                    .iter()
                    .map(|(uid, code, name)| json!({"id": uid, "code": code, "name": name}))
                    .collect();
                v
            })
            .collect(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_uid(s: &str) -> bool {
        s.len() == 11
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric())
    }

    #[test]
    fn every_fixture_uid_is_a_valid_dhis2_uid() {
        let uids = DATA_ELEMENTS
            .iter()
            .map(|x| x.id.uid)
            .chain(CATEGORY_OPTION_COMBOS.iter().map(|x| x.id.uid))
            .chain(DATA_SETS.iter().map(|x| x.id.uid))
            .chain(TEST_RESULTS.options.iter().map(|(uid, _, _)| *uid))
            .chain([TEST_RESULTS.id.uid])
            .chain(SEED_ORG_UNITS.iter().map(|x| x.id.uid))
            .chain(SEED_LEVELS.iter().map(|x| x.uid))
            .chain(SEED_GROUPS.iter().map(|x| x.id.uid))
            .chain(TRACKED_ENTITY_TYPES.iter().map(|x| x.uid))
            .chain(PROGRAMS.iter().map(|x| x.id.uid))
            .chain(PROGRAM_STAGES.iter().map(|x| x.uid))
            .chain(ATTRIBUTES.iter().map(|x| x.uid))
            .chain([DEFAULT_CATEGORY_COMBO, SEX_CATEGORY_COMBO, USER_ID]);
        for uid in uids {
            assert!(is_uid(uid), "{uid} is not a valid UID");
        }
    }

    #[test]
    fn lookups_honour_the_id_scheme() {
        assert!(data_element(IdScheme::Code, DE_HIV_TESTS_CODE).is_some());
        assert!(data_element(IdScheme::Uid, DE_HIV_TESTS_CODE).is_none());
        assert!(category_option_combo(IdScheme::Code, COC_FEMALE_CODE).is_some());
        assert!(data_set(IdScheme::Code, DS_QUARTERLY_TB_CODE).is_some());
    }

    #[test]
    fn seed_hierarchy_lists_parents_first_and_stages_match_their_programs() {
        for (i, unit) in SEED_ORG_UNITS.iter().enumerate() {
            if let Some(parent) = unit.parent {
                assert!(SEED_ORG_UNITS[..i].iter().any(|p| p.id.uid == parent), "{}", unit.id.uid);
            }
        }
        assert_eq!(program_stage(STAGE_VISIT).unwrap().program, PROGRAM_CARE);
        assert_eq!(program_stage(STAGE_EVENT).unwrap().program, PROGRAM_EVENTS);
        assert!(program(PROGRAM_CARE).unwrap().registration);
        assert!(!program(PROGRAM_EVENTS).unwrap().registration);
    }

    #[test]
    fn data_set_detection_prefers_the_matching_period_type() {
        let quarterly = detect_data_set(DE_POSITIVES, PeriodType::Quarterly).unwrap();
        assert_eq!(quarterly.id.uid, DS_QUARTERLY_TB);
        let monthly = detect_data_set(DE_POSITIVES, PeriodType::Monthly).unwrap();
        assert_eq!(monthly.id.uid, DS_MONTHLY_HIV);
        assert!(detect_data_set(DE_ORPHAN, PeriodType::Monthly).is_none());
    }
}
