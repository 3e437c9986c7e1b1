//! ISO period parsing, as DHIS2 accepts it in `period` fields.
//!
//! Every period type of the DHIS2 period table is recognised, with range checks
//! (month 1–12, real calendar days, ISO week numbers that exist in that year, …).
//! Types introduced after a version are unknown to it: QuarterlyNov (2.41),
//! FinancialSep (2.42), FinancialFeb, FinancialAug and WeeklyFriday (2.43).

use chrono::{NaiveDate, Weekday};

use crate::common::Version;

/// A DHIS2 period type, named as in `PeriodTypeEnum`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeriodType {
    Daily,
    Weekly,
    WeeklyWednesday,
    WeeklyThursday,
    WeeklyFriday,
    WeeklySaturday,
    WeeklySunday,
    BiWeekly,
    Monthly,
    BiMonthly,
    Quarterly,
    QuarterlyNov,
    SixMonthly,
    SixMonthlyApril,
    SixMonthlyNov,
    Yearly,
    FinancialApril,
    FinancialJuly,
    FinancialOct,
    FinancialNov,
    FinancialSep,
    FinancialFeb,
    FinancialAug,
}

impl PeriodType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            PeriodType::Daily => "Daily",
            PeriodType::Weekly => "Weekly",
            PeriodType::WeeklyWednesday => "WeeklyWednesday",
            PeriodType::WeeklyThursday => "WeeklyThursday",
            PeriodType::WeeklyFriday => "WeeklyFriday",
            PeriodType::WeeklySaturday => "WeeklySaturday",
            PeriodType::WeeklySunday => "WeeklySunday",
            PeriodType::BiWeekly => "BiWeekly",
            PeriodType::Monthly => "Monthly",
            PeriodType::BiMonthly => "BiMonthly",
            PeriodType::Quarterly => "Quarterly",
            PeriodType::QuarterlyNov => "QuarterlyNov",
            PeriodType::SixMonthly => "SixMonthly",
            PeriodType::SixMonthlyApril => "SixMonthlyApril",
            PeriodType::SixMonthlyNov => "SixMonthlyNov",
            PeriodType::Yearly => "Yearly",
            PeriodType::FinancialApril => "FinancialApril",
            PeriodType::FinancialJuly => "FinancialJuly",
            PeriodType::FinancialOct => "FinancialOct",
            PeriodType::FinancialNov => "FinancialNov",
            PeriodType::FinancialSep => "FinancialSep",
            PeriodType::FinancialFeb => "FinancialFeb",
            PeriodType::FinancialAug => "FinancialAug",
        }
    }

    fn exists_in(self, version: Version) -> bool {
        match self {
            // 2.41 and 2.42 additions are absent from 2.40; 2.43 additions from all others.
            PeriodType::QuarterlyNov
            | PeriodType::FinancialSep
            | PeriodType::FinancialFeb
            | PeriodType::FinancialAug
            | PeriodType::WeeklyFriday => version == Version::V2_43,
            _ => true,
        }
    }
}

/// Parses an ISO period string; `None` if it is not a period `version` knows.
pub(crate) fn parse(iso: &str, version: Version) -> Option<PeriodType> {
    if iso.len() < 4 || !iso.is_char_boundary(4) {
        return None;
    }
    let (year, rest) = iso.split_at(4);
    if !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    let period_type = parse_suffix(year, rest)?;
    period_type.exists_in(version).then_some(period_type)
}

fn parse_suffix(year: i32, rest: &str) -> Option<PeriodType> {
    let financial = [
        ("April", PeriodType::FinancialApril),
        ("July", PeriodType::FinancialJuly),
        ("Oct", PeriodType::FinancialOct),
        ("Nov", PeriodType::FinancialNov),
        ("Sep", PeriodType::FinancialSep),
        ("Feb", PeriodType::FinancialFeb),
        ("Aug", PeriodType::FinancialAug),
    ];
    if rest.is_empty() {
        return Some(PeriodType::Yearly);
    }
    if let Some((_, t)) = financial.iter().find(|(suffix, _)| *suffix == rest) {
        return Some(*t);
    }
    if rest.bytes().all(|b| b.is_ascii_digit()) {
        return match rest.len() {
            2 => in_range(rest, 1, 12).map(|_| PeriodType::Monthly),
            4 => {
                let month = in_range(&rest[..2], 1, 12)?;
                let day = in_range(&rest[2..], 1, 31)?;
                NaiveDate::from_ymd_opt(year, month, day).map(|_| PeriodType::Daily)
            }
            _ => None,
        };
    }
    let prefixed: [(&str, PeriodType, u32); 11] = [
        ("AprilS", PeriodType::SixMonthlyApril, 2),
        ("NovS", PeriodType::SixMonthlyNov, 2),
        ("NovQ", PeriodType::QuarterlyNov, 4),
        ("BiW", PeriodType::BiWeekly, 27),
        ("WedW", PeriodType::WeeklyWednesday, 53),
        ("ThuW", PeriodType::WeeklyThursday, 53),
        ("FriW", PeriodType::WeeklyFriday, 53),
        ("SatW", PeriodType::WeeklySaturday, 53),
        ("SunW", PeriodType::WeeklySunday, 53),
        ("Q", PeriodType::Quarterly, 4),
        ("S", PeriodType::SixMonthly, 2),
    ];
    for (prefix, period_type, max) in prefixed {
        if let Some(n) = rest.strip_prefix(prefix) {
            // Quarters and halves take one digit; week numbers may be zero-padded.
            let max_digits = if max < 10 { 1 } else { 2 };
            return (n.len() <= max_digits).then(|| in_range(n, 1, max)).flatten().map(|_| period_type);
        }
    }
    if let Some(n) = rest.strip_prefix('W') {
        // ISO weeks: week 53 only exists in long years.
        let week = (n.len() <= 2).then(|| in_range(n, 1, 53)).flatten()?;
        return NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).map(|_| PeriodType::Weekly);
    }
    if let Some(n) = rest.strip_suffix('B') {
        return (n.len() == 2).then(|| in_range(n, 1, 6)).flatten().map(|_| PeriodType::BiMonthly);
    }
    None
}

/// Parses a non-empty string of ASCII digits within `min..=max`.
fn in_range(digits: &str, min: u32, max: u32) -> Option<u32> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| (min..=max).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(iso: &str) -> Option<PeriodType> {
        parse(iso, Version::V2_43)
    }

    #[test]
    fn recognises_every_period_type() {
        let cases = [
            ("2024", PeriodType::Yearly),
            ("202401", PeriodType::Monthly),
            ("20240229", PeriodType::Daily),
            ("2024Q4", PeriodType::Quarterly),
            ("2024S2", PeriodType::SixMonthly),
            ("2024W1", PeriodType::Weekly),
            ("2024W01", PeriodType::Weekly),
            ("2020W53", PeriodType::Weekly),
            ("2024BiW27", PeriodType::BiWeekly),
            ("202406B", PeriodType::BiMonthly),
            ("2024AprilS1", PeriodType::SixMonthlyApril),
            ("2024NovS2", PeriodType::SixMonthlyNov),
            ("2024NovQ1", PeriodType::QuarterlyNov),
            ("2024April", PeriodType::FinancialApril),
            ("2024July", PeriodType::FinancialJuly),
            ("2024Oct", PeriodType::FinancialOct),
            ("2024Nov", PeriodType::FinancialNov),
            ("2024Sep", PeriodType::FinancialSep),
            ("2024Feb", PeriodType::FinancialFeb),
            ("2024Aug", PeriodType::FinancialAug),
            ("2024WedW5", PeriodType::WeeklyWednesday),
            ("2024ThuW5", PeriodType::WeeklyThursday),
            ("2024FriW5", PeriodType::WeeklyFriday),
            ("2024SatW52", PeriodType::WeeklySaturday),
            ("2024SunW1", PeriodType::WeeklySunday),
        ];
        for (iso, expected) in cases {
            assert_eq!(ok(iso), Some(expected), "{iso}");
        }
    }

    #[test]
    fn rejects_malformed_and_out_of_range_periods() {
        let bad = [
            "",
            "202",
            "20240",
            "202413",
            "202400",
            "20230229",
            "2024Q0",
            "2024Q5",
            "2024Q01",
            "2024S3",
            "2024W0",
            "2024W54",
            "2021W53",
            "2024W001",
            "2024BiW28",
            "202407B",
            "2024-01",
            "2024-01-01",
            "24Q1",
            "2024q1",
            "2024March",
            "2024NovQ5",
            "abcd",
            "2024\u{e9}",
            "\u{e9}2024",
        ];
        for iso in bad {
            assert_eq!(ok(iso), None, "{iso}");
        }
    }

    #[test]
    fn newer_period_types_are_unknown_to_older_versions() {
        for iso in ["2024NovQ1", "2024Sep", "2024Feb", "2024Aug", "2024FriW1"] {
            assert_eq!(parse(iso, Version::V2_40), None, "{iso}");
            assert_eq!(parse(iso, Version::V2_37), None, "{iso}");
            assert!(parse(iso, Version::V2_43).is_some(), "{iso}");
        }
        assert_eq!(parse("2024NovS1", Version::V2_37), Some(PeriodType::SixMonthlyNov));
    }
}
