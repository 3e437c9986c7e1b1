//! DHIS2 ISO period strings, parsed at the edge so the rest of the gateway only holds valid
//! ones. The grammar covers every period type of DHIS2 2.37–2.43 (see the DHIS2 reference,
//! A.2): daily, the weekly variants, bi-weekly, monthly, bi-monthly, quarterly (and
//! QuarterlyNov), six-monthly (and April/Nov), yearly and every financial year.

use chrono::NaiveDate;

/// A valid DHIS2 period, kept as the string DHIS2 expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period(String);

impl Period {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The DHIS2 period type name of this period (as in `dataSet.periodType`).
    pub fn period_type(&self) -> &'static str {
        classify(&self.0).expect("validated at parse")
    }

    pub fn parse(text: &str) -> Result<Period, String> {
        let text = text.trim();
        classify(text).map(|_| Period(text.to_string())).ok_or_else(|| {
            format!(
                "'{text}' is not a DHIS2 period (e.g. 2024, 202401, 20240115, 2024W3, 2024Q1, 2024S1, 2024July, 202401B, 2024BiW1, 2024NovQ1, 2024AprilS1)"
            )
        })
    }
}

const WEEKLY_PREFIXES: [(&str, &str); 6] = [
    ("Wed", "WeeklyWednesday"),
    ("Thu", "WeeklyThursday"),
    ("Fri", "WeeklyFriday"),
    ("Sat", "WeeklySaturday"),
    ("Sun", "WeeklySunday"),
    ("Bi", "BiWeekly"),
];

const FINANCIAL: [(&str, &str); 7] = [
    ("April", "FinancialApril"),
    ("July", "FinancialJuly"),
    ("Oct", "FinancialOct"),
    ("Nov", "FinancialNov"),
    ("Sep", "FinancialSep"),
    ("Feb", "FinancialFeb"),
    ("Aug", "FinancialAug"),
];

/// The period type of `text`, or `None` when it is not a valid period.
fn classify(text: &str) -> Option<&'static str> {
    if !text.is_ascii() || text.len() < 4 {
        return None;
    }
    let (year, rest) = text.split_at(4);
    let year: i32 = year.parse().ok().filter(|y| (1000..=9999).contains(y))?;
    let number = |s: &str, max: u32| s.parse::<u32>().ok().filter(|n| (1..=max).contains(n) && !s.starts_with('+'));
    match rest {
        "" => return Some("Yearly"),
        _ if rest.len() == 2 && rest.bytes().all(|b| b.is_ascii_digit()) => {
            return number(rest, 12).map(|_| "Monthly");
        }
        _ if rest.len() == 4 && rest.bytes().all(|b| b.is_ascii_digit()) => {
            let (m, d) = rest.split_at(2);
            return NaiveDate::from_ymd_opt(year, m.parse().ok()?, d.parse().ok()?).map(|_| "Daily");
        }
        _ if rest.len() == 3 && rest.ends_with('B') => {
            // The two digits number the bi-month (01 = Jan–Feb … 06 = Nov–Dec), as DHIS2 writes it.
            return number(&rest[..2], 6).map(|_| "BiMonthly");
        }
        _ => {}
    }
    let digits_ok = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    // The named weekly variants first: "WedW5" also starts with W.
    for (prefix, name) in WEEKLY_PREFIXES {
        if let Some(n) = rest.strip_prefix(prefix).and_then(|r| r.strip_prefix('W')) {
            let max = if prefix == "Bi" { 27 } else { 53 };
            return (digits_ok(n) && number(n, max).is_some()).then_some(name);
        }
    }
    if let Some(n) = rest.strip_prefix('W') {
        return (digits_ok(n) && number(n, weeks_in_year(year)).is_some()).then_some("Weekly");
    }
    // Financial years before the prefixed kinds: "Sep" starts like six-monthly "S1".
    if let Some((_, name)) = FINANCIAL.iter().find(|(suffix, _)| rest == *suffix) {
        return Some(name);
    }
    let simple: [(&str, u32, &'static str); 5] = [
        ("NovQ", 4, "QuarterlyNov"),
        ("AprilS", 2, "SixMonthlyApril"),
        ("NovS", 2, "SixMonthlyNov"),
        ("Q", 4, "Quarterly"),
        ("S", 2, "SixMonthly"),
    ];
    for (prefix, max, name) in simple {
        if let Some(n) = rest.strip_prefix(prefix) {
            return (n.len() == 1 && number(n, max).is_some()).then_some(name);
        }
    }
    None
}

/// ISO weeks in a year: 53 when 1 January is a Thursday, or a Wednesday in a leap year.
fn weeks_in_year(year: i32) -> u32 {
    NaiveDate::from_ymd_opt(year, 12, 28).map_or(52, |d| chrono::Datelike::iso_week(&d).week())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_period_type_parses() {
        let cases = [
            ("2024", "Yearly"),
            ("202401", "Monthly"),
            ("202412", "Monthly"),
            ("20240229", "Daily"),
            ("2024W1", "Weekly"),
            ("2024W01", "Weekly"),
            ("2020W53", "Weekly"),
            ("2024WedW5", "WeeklyWednesday"),
            ("2024ThuW5", "WeeklyThursday"),
            ("2024FriW5", "WeeklyFriday"),
            ("2024SatW5", "WeeklySaturday"),
            ("2024SunW5", "WeeklySunday"),
            ("2024BiW1", "BiWeekly"),
            ("202401B", "BiMonthly"),
            ("202406B", "BiMonthly"),
            ("2024Q4", "Quarterly"),
            ("2024NovQ1", "QuarterlyNov"),
            ("2024S2", "SixMonthly"),
            ("2024AprilS1", "SixMonthlyApril"),
            ("2024NovS2", "SixMonthlyNov"),
            ("2024April", "FinancialApril"),
            ("2024July", "FinancialJuly"),
            ("2024Oct", "FinancialOct"),
            ("2024Nov", "FinancialNov"),
            ("2024Sep", "FinancialSep"),
            ("2024Feb", "FinancialFeb"),
            ("2024Aug", "FinancialAug"),
        ];
        for (text, kind) in cases {
            let period = Period::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(period.period_type(), kind, "{text}");
        }
    }

    #[test]
    fn malformed_periods_are_rejected() {
        for text in [
            "",
            "24",
            "2024-01",
            "202413",
            "202400",
            "20240230",
            "2023W53",
            "2024W0",
            "2024Q5",
            "2024S3",
            "202407B",
            "202400B",
            "2024BiW28",
            "2024March",
            "2024q1",
            "2024W+1",
            "２０２４",
            "2024Q1 extra",
            "0999",
        ] {
            assert!(Period::parse(text).is_err(), "{text:?} should be rejected");
        }
    }
}
