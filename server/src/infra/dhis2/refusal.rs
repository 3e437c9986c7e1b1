//! Who must act on a refusal, from DHIS2's error code, or, for a code this table does not
//! know (a newer DHIS2) and for 2.37's conflicts without codes, from the code's number range
//! and the message.
//!
//! | codes | class |
//! |---|---|
//! | E7600, E7601, E7614, E7616, E7617; E8010–E8019; E8100 | access / configuration |
//! | E7603, E7604, E7610, E7612, E7613, E7615, E7630–E7636, E7639; E8003, E8020, E8022–E8025, E8101–E8104, E8106, E8108, E8128 | mapping |
//! | E7611, E7618–E7621, E7632, E7637, E7645; E8021, E8034, E8035, E8105, E8107, E8120–E8127 | data |
//! | E7638, E7640, E7641, E7643, E7644; E8030–E8032 | closed period |
//! | E7642; E8033 | approved |
//!
//! E7632 (the period's type is not the data set's) and E8021 are the partner's: it sent a
//! period of the wrong kind. E7638 (the period is outside the attribute option's dates) waits
//! like a closed period: DHIS2's administrator opens it by moving those dates. 2.43 words
//! expiry, future and input periods alike as E8030 ("Untimely data entry …"), E8031 an org
//! unit closed for the period, E8032 the attribute option's dates; E8034/E8035 are about a
//! deletion scope, not time.

use dhis2gw_wire::RefusalClass;

/// The class of a conflict with `code` (`E7640`) and `message`.
pub fn classify(code: Option<&str>, message: &str) -> RefusalClass {
    code.and_then(by_code).unwrap_or_else(|| by_words(code.and_then(number), message))
}

/// The class of an answer that refused everything without conflicts (no import summary).
pub fn classify_status(http_status: Option<u16>) -> RefusalClass {
    match http_status {
        None | Some(408 | 429 | 500..=599) => RefusalClass::Transient,
        Some(401 | 403 | 404 | 407) => RefusalClass::Access,
        Some(_) => RefusalClass::Data,
    }
}

fn number(code: &str) -> Option<u32> {
    code.strip_prefix('E')?.parse().ok()
}

fn by_code(code: &str) -> Option<RefusalClass> {
    use RefusalClass::*;
    Some(match number(code)? {
        7600 | 7601 | 7614 | 7616 | 7617 | 8010..=8019 | 8100 => Access,
        7603 | 7604 | 7610 | 7612 | 7613 | 7615 | 7630 | 7631 | 7633..=7636 | 7639 => Mapping,
        8003 | 8020 | 8022..=8025 | 8101..=8104 | 8106 | 8108 | 8128 => Mapping,
        7611 | 7618..=7621 | 7632 | 7637 | 7645 | 8021 | 8034 | 8035 | 8105 | 8107 | 8120..=8127 => Data,
        7638 | 7640 | 7641 | 7643 | 7644 | 8030..=8032 => ClosedPeriod,
        7642 | 8033 => Approved,
        _ => return None,
    })
}

/// For unknown codes and 2.37: the message first (it names approval and locks plainly), then
/// the range the code falls in, then data.
fn by_words(number: Option<u32>, message: &str) -> RefusalClass {
    use RefusalClass::*;
    let text = message.to_ascii_lowercase();
    let says = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if says(&["approved"]) {
        return Approved;
    }
    if says(&["expiry", "expired", "locked", "not open", "future period", "open periods", "input period", "untimely"]) {
        return ClosedPeriod;
    }
    match number {
        Some(7600..=7609 | 8010..=8019) => return Access,
        Some(7610..=7617 | 7630..=7639 | 8000..=8029 | 8100..=8119) => return Mapping,
        Some(7618..=7629 | 8120..=8139) => return Data,
        Some(7640..=7649 | 8030..=8039) => return ClosedPeriod,
        _ => {}
    }
    if says(&["not accessible", "access", "authority", "not allowed"]) {
        return Access;
    }
    if says(&["not part of", "assigned", "category combo", "not found", "does not exist", "combo"]) {
        return Mapping;
    }
    Data
}

#[cfg(test)]
mod tests {
    use super::*;
    use RefusalClass::*;

    #[test]
    fn known_codes_of_both_eras_say_who_must_act() {
        let cases = [
            ("E7619", Data),
            ("E7621", Data),
            ("E8122", Data),
            ("E7633", Mapping),
            ("E7636", Mapping),
            ("E8020", Mapping),
            ("E8022", Mapping),
            ("E7640", ClosedPeriod),
            ("E7641", ClosedPeriod),
            ("E7643", ClosedPeriod),
            ("E7644", ClosedPeriod),
            ("E8030", ClosedPeriod),
            ("E8031", ClosedPeriod),
            ("E8034", Data),
            ("E7642", Approved),
            ("E8033", Approved),
            ("E7600", Access),
            ("E8010", Access),
        ];
        for (code, class) in cases {
            assert_eq!(classify(Some(code), "whatever"), class, "{code}");
        }
    }

    #[test]
    fn unknown_codes_and_codeless_conflicts_are_classed_by_words_then_range() {
        // 2.37 conflicts carry no code.
        assert_eq!(classify(None, "Current date is past expiry days for period 202401 and data set X"), ClosedPeriod);
        assert_eq!(classify(None, "Data is already approved for data set X"), Approved);
        assert_eq!(classify(None, "Data element not part of dataset: X"), Mapping);
        assert_eq!(classify(None, "Value is not numeric, must match data element type: X"), Data);
        // A newer DHIS2's codes fall back on their range.
        assert_eq!(classify(Some("E8039"), "Something new"), ClosedPeriod);
        assert_eq!(classify(Some("E8131"), "Something new"), Data);
        assert_eq!(classify(Some("E7609"), "Something new"), Access);
        assert_eq!(classify(Some("E8029"), "Something new about the data set"), Mapping);
        // The words win over the range: an approval code in an unexpected place.
        assert_eq!(classify(Some("E8099"), "Data is approved"), Approved);
    }

    #[test]
    fn answers_without_conflicts_are_classed_by_their_status() {
        assert_eq!(classify_status(None), Transient);
        assert_eq!(classify_status(Some(503)), Transient);
        assert_eq!(classify_status(Some(429)), Transient);
        assert_eq!(classify_status(Some(401)), Access);
        assert_eq!(classify_status(Some(400)), Data);
    }
}
