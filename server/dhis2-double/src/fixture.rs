//! Fixed metadata of the double: the UIDs, codes and names tests refer to.
//!
//! The metadata never changes, so tests can hard-code these constants. Every UID
//! is a valid DHIS2 UID (11 characters, a letter followed by letters or digits).
//!
//! | Object | UID | Code | Notes |
//! |---|---|---|---|
//! | Category combo "default" | `bjDvmb4bfuf` | `default` | |
//! | COC "default" | `HllvX50cXC0` | `default` | also the only attribute option combo |
//! | Category combo "Sex" | `pBOMPrpg1QX` | `SEX` | |
//! | COC "Male" / "Female" | `Male000000a` / `Female00000` | `MALE` / `FEMALE` | in combo "Sex" |
//! | Data set "Monthly HIV" | `pBOMPrpg1QY` | `MONTHLY_HIV` | Monthly; all four `De…0…` elements below |
//! | Data set "Quarterly TB" | `TbQuarter01` | `QUARTERLY_TB` | Quarterly; `DeInteger01` only |
//! | DE "HIV tests" | `DeNumber001` | `HIV_TESTS` | NUMBER, combo "Sex" |
//! | DE "Positives" | `DeInteger01` | `HIV_POSITIVES` | INTEGER_ZERO_OR_POSITIVE, default combo |
//! | DE "Remarks" | `DeText00001` | `REMARKS` | TEXT, default combo |
//! | DE "On ART" | `DeBool00001` | `ON_ART` | BOOLEAN, default combo |
//! | DE "Orphan" | `DeOrphan001` | `ORPHAN` | NUMBER, in no data set |
//! | OU "Root" (level 1) | `OrgRoot0001` | `ROOT` | no data sets |
//! | OU "District" (level 2) | `OrgDist0001` | `DIST001` | child of root; no data sets |
//! | OU "Facility 1" (level 3) | `OrgFac00001` | `FAC001` | child of district; both data sets |
//! | OU "Facility 2" (level 3) | `OrgFac00002` | `FAC002` | child of district; both data sets |

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
/// UID of the data set "Quarterly TB" (Quarterly; [`DE_POSITIVES`] only).
pub const DS_QUARTERLY_TB: &str = "TbQuarter01";
/// Code of the data set "Quarterly TB".
pub const DS_QUARTERLY_TB_CODE: &str = "QUARTERLY_TB";
/// Name of the data set "Quarterly TB".
pub const DS_QUARTERLY_TB_NAME: &str = "Quarterly TB";

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

/// UID of the root org unit (level 1); no data sets are assigned to it.
pub const OU_ROOT: &str = "OrgRoot0001";
/// Code of the root org unit.
pub const OU_ROOT_CODE: &str = "ROOT";
/// Name of the root org unit.
pub const OU_ROOT_NAME: &str = "Root";
/// UID of the district (level 2, child of [`OU_ROOT`]); no data sets are assigned to it.
pub const OU_DISTRICT: &str = "OrgDist0001";
/// Code of the district.
pub const OU_DISTRICT_CODE: &str = "DIST001";
/// Name of the district.
pub const OU_DISTRICT_NAME: &str = "District";
/// UID of facility 1 (level 3, child of [`OU_DISTRICT`]); both data sets are assigned.
pub const OU_FACILITY_1: &str = "OrgFac00001";
/// Code of facility 1.
pub const OU_FACILITY_1_CODE: &str = "FAC001";
/// Name of facility 1.
pub const OU_FACILITY_1_NAME: &str = "Facility 1";
/// UID of facility 2 (level 3, child of [`OU_DISTRICT`]); both data sets are assigned.
pub const OU_FACILITY_2: &str = "OrgFac00002";
/// Code of facility 2.
pub const OU_FACILITY_2_CODE: &str = "FAC002";
/// Name of facility 2.
pub const OU_FACILITY_2_NAME: &str = "Facility 2";

/// UID of the only user, answered by `GET /api/me`.
pub const USER_ID: &str = "UserAdmin01";
