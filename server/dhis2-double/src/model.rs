//! In-memory metadata (data elements, COCs, data sets, org units) and lookups by id scheme.
//!
//! The UIDs, codes and names live in [`crate::fixture`]; this module wires them into the
//! relations the import validation needs.

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
    code: &'static str,
    name: &'static str,
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
}

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
    org_units: &'static [&'static str],
}

impl DataSet {
    pub(crate) fn has_data_element(&self, de: &str) -> bool {
        self.data_elements.contains(&de)
    }

    pub(crate) fn has_org_unit(&self, ou: &str) -> bool {
        self.org_units.contains(&ou)
    }
}

pub(crate) struct OrgUnit {
    pub(crate) id: Ident,
}

const fn ident(uid: &'static str, code: &'static str, name: &'static str) -> Ident {
    Ident { uid, code, name }
}

static DATA_ELEMENTS: [DataElement; 5] = [
    DataElement {
        id: ident(DE_HIV_TESTS, DE_HIV_TESTS_CODE, DE_HIV_TESTS_NAME),
        value_type: ValueType::Number,
        category_combo: SEX_CATEGORY_COMBO,
    },
    DataElement {
        id: ident(DE_POSITIVES, DE_POSITIVES_CODE, DE_POSITIVES_NAME),
        value_type: ValueType::IntegerZeroOrPositive,
        category_combo: DEFAULT_CATEGORY_COMBO,
    },
    DataElement {
        id: ident(DE_REMARKS, DE_REMARKS_CODE, DE_REMARKS_NAME),
        value_type: ValueType::Text,
        category_combo: DEFAULT_CATEGORY_COMBO,
    },
    DataElement {
        id: ident(DE_ON_ART, DE_ON_ART_CODE, DE_ON_ART_NAME),
        value_type: ValueType::Boolean,
        category_combo: DEFAULT_CATEGORY_COMBO,
    },
    DataElement {
        id: ident(DE_ORPHAN, DE_ORPHAN_CODE, DE_ORPHAN_NAME),
        value_type: ValueType::Number,
        category_combo: DEFAULT_CATEGORY_COMBO,
    },
];

static CATEGORY_OPTION_COMBOS: [CategoryOptionCombo; 3] = [
    CategoryOptionCombo { id: ident(DEFAULT_COC, DEFAULT_CODE, DEFAULT_NAME), combo: DEFAULT_CATEGORY_COMBO },
    CategoryOptionCombo { id: ident(COC_MALE, COC_MALE_CODE, COC_MALE_NAME), combo: SEX_CATEGORY_COMBO },
    CategoryOptionCombo { id: ident(COC_FEMALE, COC_FEMALE_CODE, COC_FEMALE_NAME), combo: SEX_CATEGORY_COMBO },
];

const FACILITIES: &[&str] = &[OU_FACILITY_1, OU_FACILITY_2];

static DATA_SETS: [DataSet; 2] = [
    DataSet {
        id: ident(DS_MONTHLY_HIV, DS_MONTHLY_HIV_CODE, DS_MONTHLY_HIV_NAME),
        period_type: PeriodType::Monthly,
        attribute_combo: DEFAULT_CATEGORY_COMBO,
        data_elements: &[DE_HIV_TESTS, DE_POSITIVES, DE_REMARKS, DE_ON_ART],
        org_units: FACILITIES,
    },
    DataSet {
        id: ident(DS_QUARTERLY_TB, DS_QUARTERLY_TB_CODE, DS_QUARTERLY_TB_NAME),
        period_type: PeriodType::Quarterly,
        attribute_combo: DEFAULT_CATEGORY_COMBO,
        data_elements: &[DE_POSITIVES],
        org_units: FACILITIES,
    },
];

static ORG_UNITS: [OrgUnit; 4] = [
    OrgUnit { id: ident(OU_ROOT, OU_ROOT_CODE, OU_ROOT_NAME) },
    OrgUnit { id: ident(OU_DISTRICT, OU_DISTRICT_CODE, OU_DISTRICT_NAME) },
    OrgUnit { id: ident(OU_FACILITY_1, OU_FACILITY_1_CODE, OU_FACILITY_1_NAME) },
    OrgUnit { id: ident(OU_FACILITY_2, OU_FACILITY_2_CODE, OU_FACILITY_2_NAME) },
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

pub(crate) fn org_unit(scheme: IdScheme, id: &str) -> Option<&'static OrgUnit> {
    ORG_UNITS.iter().find(|x| x.id.matches(scheme, id))
}

/// The data set a value belongs to when the payload names none: among the data sets
/// holding the data element, the first whose period type fits, else the first at all.
pub(crate) fn detect_data_set(de: &str, period_type: PeriodType) -> Option<&'static DataSet> {
    let mut candidates = DATA_SETS.iter().filter(|ds| ds.has_data_element(de));
    let first = candidates.clone().next();
    candidates.find(|ds| ds.period_type == period_type).or(first)
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
            .chain(ORG_UNITS.iter().map(|x| x.id.uid))
            .chain([DEFAULT_CATEGORY_COMBO, SEX_CATEGORY_COMBO, USER_ID]);
        for uid in uids {
            assert!(is_uid(uid), "{uid} is not a valid UID");
        }
    }

    #[test]
    fn lookups_honour_the_id_scheme() {
        assert!(data_element(IdScheme::Code, DE_HIV_TESTS_CODE).is_some());
        assert!(data_element(IdScheme::Uid, DE_HIV_TESTS_CODE).is_none());
        assert!(org_unit(IdScheme::Name, OU_FACILITY_2_NAME).is_some());
        assert!(category_option_combo(IdScheme::Code, COC_FEMALE_CODE).is_some());
        assert!(data_set(IdScheme::Code, DS_QUARTERLY_TB_CODE).is_some());
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
