//! Fixed metadata of the double: the UIDs, codes and names tests refer to.
//!
//! Data elements, category combos, data sets and the tracker metadata never change, so
//! tests can hard-code these constants. Every UID is a valid DHIS2 UID (11 characters, a
//! letter followed by letters or digits).
//!
//! | Object | UID | Code | Notes |
//! |---|---|---|---|
//! | Category combo "default" | `bjDvmb4bfuf` | `default` | |
//! | COC "default" | `HllvX50cXC0` | `default` | also the only attribute option combo |
//! | Category combo "Sex" | `pBOMPrpg1QX` | `SEX` | |
//! | COC "Male" / "Female" | `Male000000a` / `Female00000` | `MALE` / `FEMALE` | in combo "Sex" |
//! | Data set "Monthly HIV" | `pBOMPrpg1QY` | `MONTHLY_HIV` | Monthly; the four `De…0…` elements below and "Test result" |
//! | Data set "Quarterly TB" | `TbQuarter01` | `QUARTERLY_TB` | Quarterly; `DeInteger01` only |
//! | DE "HIV tests" | `DeNumber001` | `HIV_TESTS` | NUMBER, combo "Sex" |
//! | DE "Positives" | `DeInteger01` | `HIV_POSITIVES` | INTEGER_ZERO_OR_POSITIVE, default combo |
//! | DE "Remarks" | `DeText00001` | `REMARKS` | TEXT, default combo |
//! | DE "On ART" | `DeBool00001` | `ON_ART` | BOOLEAN, default combo |
//! | DE "Orphan" | `DeOrphan001` | `ORPHAN` | NUMBER, in no data set |
//! | DE "Test result" | `DeResult001` | `TEST_RESULT` | TEXT with option set "Test results", in "Monthly HIV" |
//! | Option set "Test results" | `OsResults01` | `TEST_RESULTS` | options `POSITIVE`, `NEGATIVE` |
//! | OU "Root" (level 1, "National") | `OrgRoot0001` | `ROOT` | no data sets, no programs |
//! | OU "District" (level 2) | `OrgDist0001` | `DIST001` | child of root; no data sets, no programs |
//! | OU "District 2" (level 2) | `OrgDist0002` | `DIST002` | child of root |
//! | OU "Sub-county 1" (level 3) | `OrgSubc0001` | `SUBC001` | child of "District" |
//! | OU "Sub-county 2" (level 3) | `OrgSubc0002` | `SUBC002` | child of "District 2" |
//! | OU "Facility 1" (level 4) | `OrgFac00001` | `FAC001` | child of "Sub-county 1"; both data sets and programs; group "Public" |
//! | OU "Facility 2" (level 4) | `OrgFac00002` | `FAC002` | child of "Sub-county 1"; both data sets and programs; group "Private" |
//! | OU "Facility 3" (level 4) | `OrgFac00003` | `FAC003` | child of "Sub-county 2"; both data sets and programs; group "Public" |
//! | OU levels 1–4 | `OulNationl1`, `OulDistrct2`, `OulSubcnty3`, `OulFacilty4` | | "National", "District", "Sub-county", "Facility" |
//! | OU group "Public facilities" | `OugPublic01` | `PUBLIC` | Facility 1 and 3 |
//! | OU group "Private facilities" | `OugPrivat01` | `PRIVATE` | Facility 2 |
//! | Tracked entity type "Person" | `TetPerson01` | | attributes "Patient ID" and "Name" |
//! | Program "Care" | `ProgCare001` | `CARE` | tracker program (with registration) of "Person"; stage "Visit" |
//! | Program stage "Visit" | `StageVisit1` | | repeatable; data element "Weight" |
//! | Program "Events" | `ProgEvent01` | `EVENTS` | event program (without registration); stage "Event" |
//! | Program stage "Event" | `StageEvnt01` | | data element "Weight" |
//! | Attribute "Patient ID" | `AttrPatId01` | `PATIENT_ID` | TEXT, unique |
//! | Attribute "Name" | `AttrName001` | `NAME` | TEXT |
//! | DE "Weight" | `DeWeight001` | `WEIGHT` | NUMBER, tracker domain; in both stages, in no data set |
//!
//! The org units, levels and groups are only the *initial* content of a double: tests and
//! `POST /api/metadata` can add, change and remove them (see
//! [`Dhis2Double::add_org_unit`](crate::Dhis2Double::add_org_unit)). Every fixture
//! metadata object was last updated at [`METADATA_LAST_UPDATED`].

/// UID of the default category combo.
pub const DEFAULT_CATEGORY_COMBO: &str = "bjDvmb4bfuf";
/// UID of the default category option combo, used when a value names no COC.
pub const DEFAULT_COC: &str = "HllvX50cXC0";
/// UID of the default attribute option combo (the same object as [`DEFAULT_COC`]).
pub const DEFAULT_AOC: &str = DEFAULT_COC;
/// Code shared by the default category combo and the default COC.
pub const DEFAULT_CODE: &str = "default";
/// Name shared by the default category combo and the default COC.
pub const DEFAULT_NAME: &str = "default";

/// UID of the category combo "Sex" (COCs [`COC_MALE`] and [`COC_FEMALE`]).
pub const SEX_CATEGORY_COMBO: &str = "pBOMPrpg1QX";
/// Code of the category combo "Sex".
pub const SEX_CATEGORY_COMBO_CODE: &str = "SEX";
/// Name of the category combo "Sex".
pub const SEX_CATEGORY_COMBO_NAME: &str = "Sex";
/// UID of the COC "Male" in the "Sex" combo.
pub const COC_MALE: &str = "Male000000a";
/// Code of the COC "Male".
pub const COC_MALE_CODE: &str = "MALE";
/// Name of the COC "Male".
pub const COC_MALE_NAME: &str = "Male";
/// UID of the COC "Female" in the "Sex" combo.
pub const COC_FEMALE: &str = "Female00000";
/// Code of the COC "Female".
pub const COC_FEMALE_CODE: &str = "FEMALE";
/// Name of the COC "Female".
pub const COC_FEMALE_NAME: &str = "Female";

/// UID of the data set "Monthly HIV" (Monthly; the four `De…` elements except the orphan).
pub const DS_MONTHLY_HIV: &str = "pBOMPrpg1QY";
/// Code of the data set "Monthly HIV".
pub const DS_MONTHLY_HIV_CODE: &str = "MONTHLY_HIV";
/// Name of the data set "Monthly HIV".
pub const DS_MONTHLY_HIV_NAME: &str = "Monthly HIV";
/// The data approval workflow of Monthly HIV (Quarterly TB has none).
pub const WF_MONTHLY_HIV: &str = "WfMonthly01";

/// The approval workflow of data set `data_set`, if it has one.
pub fn workflow_of(data_set: &str) -> Option<&'static str> {
    (data_set == DS_MONTHLY_HIV).then_some(WF_MONTHLY_HIV)
}

/// UID of the data set "Quarterly TB" (Quarterly; [`DE_POSITIVES`] only).
pub const DS_QUARTERLY_TB: &str = "TbQuarter01";
/// Code of the data set "Quarterly TB".
pub const DS_QUARTERLY_TB_CODE: &str = "QUARTERLY_TB";
/// Name of the data set "Quarterly TB".
pub const DS_QUARTERLY_TB_NAME: &str = "Quarterly TB";

/// UID of the data set "Monthly lab" (Monthly; the ten [`DE_LAB`] elements): a wide form, as
/// a lab or HMIS monthly report sends ten or more values at once.
pub const DS_MONTHLY_LAB: &str = "LabMonthly1";
/// Code of the data set "Monthly lab".
pub const DS_MONTHLY_LAB_CODE: &str = "MONTHLY_LAB";
/// Name of the data set "Monthly lab".
pub const DS_MONTHLY_LAB_NAME: &str = "Monthly lab";
/// UIDs of the ten data elements of "Monthly lab": INTEGER_ZERO_OR_POSITIVE, default combo,
/// coded `LAB_01`..`LAB_10`, named "Lab test 1".."Lab test 10".
pub const DE_LAB: [&str; 10] = [
    "DeLabTest01",
    "DeLabTest02",
    "DeLabTest03",
    "DeLabTest04",
    "DeLabTest05",
    "DeLabTest06",
    "DeLabTest07",
    "DeLabTest08",
    "DeLabTest09",
    "DeLabTest10",
];
/// Codes of [`DE_LAB`], in order.
pub const DE_LAB_CODES: [&str; 10] =
    ["LAB_01", "LAB_02", "LAB_03", "LAB_04", "LAB_05", "LAB_06", "LAB_07", "LAB_08", "LAB_09", "LAB_10"];
/// Names of [`DE_LAB`], in order.
pub const DE_LAB_NAMES: [&str; 10] = [
    "Lab test 1",
    "Lab test 2",
    "Lab test 3",
    "Lab test 4",
    "Lab test 5",
    "Lab test 6",
    "Lab test 7",
    "Lab test 8",
    "Lab test 9",
    "Lab test 10",
];

/// UID of the data element "HIV tests": NUMBER, disaggregated by the "Sex" combo.
pub const DE_HIV_TESTS: &str = "DeNumber001";
/// Code of the data element "HIV tests".
pub const DE_HIV_TESTS_CODE: &str = "HIV_TESTS";
/// Name of the data element "HIV tests".
pub const DE_HIV_TESTS_NAME: &str = "HIV tests";
/// UID of the data element "Positives": INTEGER_ZERO_OR_POSITIVE, default combo.
pub const DE_POSITIVES: &str = "DeInteger01";
/// Code of the data element "Positives".
pub const DE_POSITIVES_CODE: &str = "HIV_POSITIVES";
/// Name of the data element "Positives".
pub const DE_POSITIVES_NAME: &str = "Positives";
/// UID of the data element "Remarks": TEXT, default combo.
pub const DE_REMARKS: &str = "DeText00001";
/// Code of the data element "Remarks".
pub const DE_REMARKS_CODE: &str = "REMARKS";
/// Name of the data element "Remarks".
pub const DE_REMARKS_NAME: &str = "Remarks";
/// UID of the data element "On ART": BOOLEAN, default combo.
pub const DE_ON_ART: &str = "DeBool00001";
/// Code of the data element "On ART".
pub const DE_ON_ART_CODE: &str = "ON_ART";
/// Name of the data element "On ART".
pub const DE_ON_ART_NAME: &str = "On ART";
/// UID of a NUMBER data element that exists but belongs to no data set.
pub const DE_ORPHAN: &str = "DeOrphan001";
/// Code of the orphan data element.
pub const DE_ORPHAN_CODE: &str = "ORPHAN";
/// Name of the orphan data element.
pub const DE_ORPHAN_NAME: &str = "Orphan";

/// UID of the data element "Test result": TEXT, its values the codes of [`OS_RESULTS`].
pub const DE_RESULT: &str = "DeResult001";
/// Code of the data element "Test result".
pub const DE_RESULT_CODE: &str = "TEST_RESULT";
/// Name of the data element "Test result".
pub const DE_RESULT_NAME: &str = "Test result";
/// UID of the option set "Test results" (options `POSITIVE` and `NEGATIVE`).
pub const OS_RESULTS: &str = "OsResults01";
/// Name of the option set "Test results".
pub const OS_RESULTS_NAME: &str = "Test results";

/// UID of the root org unit (level 1); no data sets are assigned to it.
pub const OU_ROOT: &str = "OrgRoot0001";
/// Code of the root org unit.
pub const OU_ROOT_CODE: &str = "ROOT";
/// Name of the root org unit.
pub const OU_ROOT_NAME: &str = "Root";
/// UID of the district (level 2, child of [`OU_ROOT`]); no data sets or programs are
/// assigned to it.
pub const OU_DISTRICT: &str = "OrgDist0001";
/// Code of the district.
pub const OU_DISTRICT_CODE: &str = "DIST001";
/// Name of the district.
pub const OU_DISTRICT_NAME: &str = "District";
/// UID of facility 1 (level 4, child of [`OU_SUBCOUNTY`]); both data sets and both programs
/// are assigned; member of [`OUG_PUBLIC`].
pub const OU_FACILITY_1: &str = "OrgFac00001";
/// Code of facility 1.
pub const OU_FACILITY_1_CODE: &str = "FAC001";
/// Name of facility 1.
pub const OU_FACILITY_1_NAME: &str = "Facility 1";
/// UID of facility 2 (level 4, child of [`OU_SUBCOUNTY`]); both data sets and both programs
/// are assigned; member of [`OUG_PRIVATE`].
pub const OU_FACILITY_2: &str = "OrgFac00002";
/// Code of facility 2.
pub const OU_FACILITY_2_CODE: &str = "FAC002";
/// Name of facility 2.
pub const OU_FACILITY_2_NAME: &str = "Facility 2";

/// UID of the second district (level 2, child of [`OU_ROOT`]).
pub const OU_DISTRICT_2: &str = "OrgDist0002";
/// Code of the second district.
pub const OU_DISTRICT_2_CODE: &str = "DIST002";
/// Name of the second district.
pub const OU_DISTRICT_2_NAME: &str = "District 2";
/// UID of sub-county 1 (level 3, child of [`OU_DISTRICT`]), parent of facilities 1 and 2.
pub const OU_SUBCOUNTY: &str = "OrgSubc0001";
/// Code of sub-county 1.
pub const OU_SUBCOUNTY_CODE: &str = "SUBC001";
/// Name of sub-county 1.
pub const OU_SUBCOUNTY_NAME: &str = "Sub-county 1";
/// UID of sub-county 2 (level 3, child of [`OU_DISTRICT_2`]), parent of facility 3.
pub const OU_SUBCOUNTY_2: &str = "OrgSubc0002";
/// Code of sub-county 2.
pub const OU_SUBCOUNTY_2_CODE: &str = "SUBC002";
/// Name of sub-county 2.
pub const OU_SUBCOUNTY_2_NAME: &str = "Sub-county 2";
/// UID of facility 3 (level 4, child of [`OU_SUBCOUNTY_2`]); both data sets and both programs
/// are assigned; member of [`OUG_PUBLIC`].
pub const OU_FACILITY_3: &str = "OrgFac00003";
/// Code of facility 3.
pub const OU_FACILITY_3_CODE: &str = "FAC003";
/// Name of facility 3.
pub const OU_FACILITY_3_NAME: &str = "Facility 3";

/// UID of org unit level 1.
pub const OU_LEVEL_NATIONAL: &str = "OulNationl1";
/// Name of org unit level 1.
pub const OU_LEVEL_NATIONAL_NAME: &str = "National";
/// UID of org unit level 2.
pub const OU_LEVEL_DISTRICT: &str = "OulDistrct2";
/// Name of org unit level 2.
pub const OU_LEVEL_DISTRICT_NAME: &str = "District";
/// UID of org unit level 3.
pub const OU_LEVEL_SUBCOUNTY: &str = "OulSubcnty3";
/// Name of org unit level 3.
pub const OU_LEVEL_SUBCOUNTY_NAME: &str = "Sub-county";
/// UID of org unit level 4.
pub const OU_LEVEL_FACILITY: &str = "OulFacilty4";
/// Name of org unit level 4.
pub const OU_LEVEL_FACILITY_NAME: &str = "Facility";

/// UID of the org unit group "Public facilities" (facilities 1 and 3).
pub const OUG_PUBLIC: &str = "OugPublic01";
/// Code of the group "Public facilities".
pub const OUG_PUBLIC_CODE: &str = "PUBLIC";
/// Name (and short name) of the group "Public facilities".
pub const OUG_PUBLIC_NAME: &str = "Public facilities";
/// UID of the org unit group "Private facilities" (facility 2).
pub const OUG_PRIVATE: &str = "OugPrivat01";
/// Code of the group "Private facilities".
pub const OUG_PRIVATE_CODE: &str = "PRIVATE";
/// Name (and short name) of the group "Private facilities".
pub const OUG_PRIVATE_NAME: &str = "Private facilities";

/// `lastUpdated` (and `created`) of every fixture org unit, level and group, in DHIS2's
/// timestamp format; anything added or changed later is newer.
pub const METADATA_LAST_UPDATED: &str = "2024-01-01T00:00:00.000";
/// `openingDate` of every fixture org unit.
pub const OPENING_DATE: &str = "1990-01-01T00:00:00.000";

/// UID of the tracked entity type "Person".
pub const TET_PERSON: &str = "TetPerson01";
/// Name of the tracked entity type "Person".
pub const TET_PERSON_NAME: &str = "Person";

/// UID of the tracker program "Care" (with registration, for [`TET_PERSON`]; stage
/// [`STAGE_VISIT`]; attributes [`ATTR_PATIENT_ID`] and [`ATTR_NAME`]).
pub const PROGRAM_CARE: &str = "ProgCare001";
/// Code of the program "Care".
pub const PROGRAM_CARE_CODE: &str = "CARE";
/// Name of the program "Care".
pub const PROGRAM_CARE_NAME: &str = "Care";
/// UID of the repeatable program stage "Visit" of [`PROGRAM_CARE`] (data element [`DE_WEIGHT`]).
pub const STAGE_VISIT: &str = "StageVisit1";
/// Name of the program stage "Visit".
pub const STAGE_VISIT_NAME: &str = "Visit";
/// UID of the event program "Events" (without registration; stage [`STAGE_EVENT`]).
pub const PROGRAM_EVENTS: &str = "ProgEvent01";
/// Code of the program "Events".
pub const PROGRAM_EVENTS_CODE: &str = "EVENTS";
/// Name of the program "Events".
pub const PROGRAM_EVENTS_NAME: &str = "Events";
/// UID of the program stage "Event" of [`PROGRAM_EVENTS`] (data element [`DE_WEIGHT`]).
pub const STAGE_EVENT: &str = "StageEvnt01";
/// Name of the program stage "Event".
pub const STAGE_EVENT_NAME: &str = "Event";

/// UID of the tracked entity attribute "Patient ID": TEXT, unique (a value held by another
/// tracked entity is rejected with E1064).
pub const ATTR_PATIENT_ID: &str = "AttrPatId01";
/// Code of the attribute "Patient ID".
pub const ATTR_PATIENT_ID_CODE: &str = "PATIENT_ID";
/// Name of the attribute "Patient ID".
pub const ATTR_PATIENT_ID_NAME: &str = "Patient ID";
/// UID of the tracked entity attribute "Name": TEXT.
pub const ATTR_NAME: &str = "AttrName001";
/// Code of the attribute "Name".
pub const ATTR_NAME_CODE: &str = "NAME";
/// Name of the attribute "Name".
pub const ATTR_NAME_NAME: &str = "Name";

/// UID of the tracker data element "Weight": NUMBER, in stages [`STAGE_VISIT`] and
/// [`STAGE_EVENT`], in no data set.
pub const DE_WEIGHT: &str = "DeWeight001";
/// Code of the data element "Weight".
pub const DE_WEIGHT_CODE: &str = "WEIGHT";
/// Name of the data element "Weight".
pub const DE_WEIGHT_NAME: &str = "Weight";

/// UID of the only user, answered by `GET /api/me`.
pub const USER_ID: &str = "UserAdmin01";
