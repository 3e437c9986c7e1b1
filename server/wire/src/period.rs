//! DHIS2 ISO period strings, parsed at the edge so the rest of the gateway only holds valid
//! ones. The grammar covers every period type of DHIS2 2.37–2.43 (see the DHIS2 reference,
//! A.2): daily, the weekly variants, bi-weekly, monthly, bi-monthly, quarterly (and
//! QuarterlyNov), six-monthly (and April/Nov), yearly and every financial year.

use chrono::{Days, Months, NaiveDate, Weekday};

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

    /// The first day of the period. Weeks that start on another day than Monday count from
    /// the ISO week's Monday, moved to that day (derived; DHIS2 numbers such weeks from the
    /// first one with four days in the year, which differs by at most one week).
    pub fn start(&self) -> NaiveDate {
        let text = self.0.as_str();
        let year: i32 = text[..4].parse().expect("validated at parse");
        let rest = &text[4..];
        let month = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).expect("a valid month");
        let months_after = |d: NaiveDate, n: u32| d.checked_add_months(Months::new(n)).expect("in range");
        let digit = |s: &str| s.parse::<u32>().expect("validated at parse");
        let iso_monday = |week: u32| {
            NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).unwrap_or_else(|| month(year, 12) + Days::new(27))
        };
        match self.period_type() {
            "Yearly" => month(year, 1),
            "Monthly" => month(year, digit(rest)),
            "Daily" => NaiveDate::from_ymd_opt(year, digit(&rest[..2]), digit(&rest[2..])).expect("validated"),
            "BiMonthly" => month(year, (digit(&rest[..2]) - 1) * 2 + 1),
            "Quarterly" => month(year, (digit(&rest[1..]) - 1) * 3 + 1),
            "QuarterlyNov" => months_after(month(year - 1, 11), (digit(&rest[4..]) - 1) * 3),
            "SixMonthly" => month(year, (digit(&rest[1..]) - 1) * 6 + 1),
            "SixMonthlyApril" => months_after(month(year, 4), (digit(&rest[6..]) - 1) * 6),
            "SixMonthlyNov" => months_after(month(year - 1, 11), (digit(&rest[4..]) - 1) * 6),
            "Weekly" => iso_monday(digit(&rest[1..])),
            "BiWeekly" => iso_monday(digit(&rest[3..]) * 2 - 1),
            weekly if weekly.starts_with("Weekly") => {
                let (prefix, _) = WEEKLY_PREFIXES.iter().find(|(_, name)| *name == weekly).expect("a weekly type");
                let monday = iso_monday(digit(&rest[prefix.len() + 1..]));
                let shift: i64 = match *prefix {
                    "Wed" => 2,
                    "Thu" => 3,
                    "Fri" => 4,
                    "Sat" => -2,
                    _ => -1,
                };
                monday + chrono::TimeDelta::days(shift)
            }
            _ => {
                let names = ["Jan", "Feb", "Mar", "April", "May", "Jun", "July", "Aug", "Sep", "Oct", "Nov", "Dec"];
                let m = names.iter().position(|n| *n == rest).expect("a financial year") as u32 + 1;
                month(year, m)
            }
        }
    }

    /// The last day of the period.
    pub fn end(&self) -> NaiveDate {
        // The 27th bi-week of a 53-week year is its last week alone (derived): the next
        // year's first bi-week starts on its own ISO week 1.
        if self.period_type() == "BiWeekly" && self.0.ends_with("BiW27") {
            return self.start() + Days::new(6);
        }
        self.step().after(self.start(), 1) - Days::new(1)
    }

    /// The period in words: `May 2025`, `15 May 2025`, `2025`, or for other types the ISO
    /// name with its dates (`2025Q2, 1 Apr – 30 Jun 2025`).
    pub fn label(&self) -> String {
        match self.period_type() {
            "Monthly" => self.start().format("%B %Y").to_string(),
            "Daily" => self.start().format("%-d %B %Y").to_string(),
            "Yearly" => self.0.clone(),
            _ => format!("{}, {} – {}", self.0, self.start().format("%-d %b"), self.end().format("%-d %b %Y")),
        }
    }

    /// Whether data may be entered for the period today when the data set opens
    /// `open_future` periods after the current one: it must start no later than `open_future`
    /// periods from today.
    pub fn is_open(&self, today: NaiveDate, open_future: i64) -> bool {
        let n = u32::try_from(open_future.max(0)).unwrap_or(u32::MAX).min(1000);
        self.start() <= self.step().after(today, n)
    }

    /// The period of type `period_type` (a DHIS2 `periodType`) that holds `day`, or `None`
    /// for a type DHIS2 does not have.
    pub fn containing(period_type: &str, day: NaiveDate) -> Option<Period> {
        use chrono::Datelike;
        let months = |anchor: u32, length: u32| {
            // Months since year 0, counted from the type's first month.
            let index = day.year() * 12 + day.month0() as i32 - (anchor as i32 - 1);
            let start = index - index.rem_euclid(length as i32) + (anchor as i32 - 1);
            NaiveDate::from_ymd_opt(start.div_euclid(12), start.rem_euclid(12) as u32 + 1, 1)
        };
        let week_name = |monday: NaiveDate, prefix: &str| {
            let week = monday.iso_week();
            format!("{}{prefix}W{}", week.year(), week.week())
        };
        let name = match period_type {
            "Daily" => day.format("%Y%m%d").to_string(),
            "Weekly" => week_name(day, ""),
            "BiWeekly" => {
                let week = day.iso_week();
                format!("{}BiW{}", week.year(), week.week().div_ceil(2))
            }
            weekly if weekly.starts_with("Weekly") => {
                let (prefix, _) = WEEKLY_PREFIXES.iter().find(|(_, name)| *name == weekly)?;
                let first_day = match *prefix {
                    "Wed" => Weekday::Wed,
                    "Thu" => Weekday::Thu,
                    "Fri" => Weekday::Fri,
                    "Sat" => Weekday::Sat,
                    _ => Weekday::Sun,
                };
                let start = day - Days::new(u64::from(day.weekday().days_since(first_day)));
                // Named after the ISO week whose Monday `start` moves to (see `start`).
                let monday = match *prefix {
                    "Sat" => start + Days::new(2),
                    "Sun" => start + Days::new(1),
                    _ => start - Days::new(u64::from(start.weekday().days_since(Weekday::Mon))),
                };
                week_name(monday, prefix)
            }
            "Monthly" => day.format("%Y%m").to_string(),
            "BiMonthly" => format!("{}{:02}B", day.year(), day.month0() / 2 + 1),
            "Quarterly" => format!("{}Q{}", day.year(), day.month0() / 3 + 1),
            "SixMonthly" => format!("{}S{}", day.year(), day.month0() / 6 + 1),
            "Yearly" => day.year().to_string(),
            "QuarterlyNov" | "SixMonthlyNov" => {
                let length = if period_type == "QuarterlyNov" { 3 } else { 6 };
                let start = months(11, length)?;
                // Named after the year most of it falls in: November 2024 opens 2025NovQ1.
                let year = start.year() + i32::from(start.month() >= 11);
                let number = (start.month() + 1) % 12 / length + 1;
                let kind = if length == 3 { "Q" } else { "S" };
                format!("{year}Nov{kind}{number}")
            }
            "SixMonthlyApril" => {
                let start = months(4, 6)?;
                let year = if start.month() >= 4 { start.year() } else { start.year() - 1 };
                format!("{year}AprilS{}", if start.month() == 4 { 1 } else { 2 })
            }
            financial => {
                let (suffix, _) = FINANCIAL.iter().find(|(_, name)| *name == financial)?;
                let names = ["Jan", "Feb", "Mar", "April", "May", "Jun", "July", "Aug", "Sep", "Oct", "Nov", "Dec"];
                let anchor = names.iter().position(|n| n == suffix)? as u32 + 1;
                format!("{}{suffix}", months(anchor, 12)?.year())
            }
        };
        Period::parse(&name).ok()
    }

    /// The period that runs exactly from `start` to `end` (both included), of `period_type`
    /// when that is known (the data set's), else of the first type whose period fits: the
    /// period of a standard (ADX, FHIR) that gives dates where DHIS2 wants a name.
    pub fn spanning(start: NaiveDate, end: NaiveDate, period_type: Option<&str>) -> Option<Period> {
        let fits = |kind: &str| Period::containing(kind, start).filter(|p| p.start() == start && p.end() == end);
        match period_type {
            Some(kind) => fits(kind),
            None => SPANNING_ORDER.iter().find_map(|kind| fits(kind)),
        }
    }

    /// The period of the same type that follows this one.
    pub fn next(&self) -> Period {
        let after = self.end().succ_opt().unwrap_or(NaiveDate::MAX);
        Period::containing(self.period_type(), after).expect("every period type has a next period")
    }

    /// The period of the same type before this one (the first one stays itself).
    pub fn previous(&self) -> Period {
        match self.start().pred_opt() {
            Some(before) => {
                Period::containing(self.period_type(), before).expect("every period type has a previous period")
            }
            None => self.clone(),
        }
    }

    /// How long one period of this type lasts.
    fn step(&self) -> Step {
        match self.period_type() {
            "Daily" => Step::Days(1),
            "BiWeekly" => Step::Days(14),
            t if t.starts_with("Weekly") => Step::Days(7),
            "Monthly" => Step::Months(1),
            "BiMonthly" => Step::Months(2),
            "Quarterly" | "QuarterlyNov" => Step::Months(3),
            "SixMonthly" | "SixMonthlyApril" | "SixMonthlyNov" => Step::Months(6),
            _ => Step::Months(12),
        }
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

/// The length of one period.
#[derive(Clone, Copy)]
enum Step {
    Days(u64),
    Months(u32),
}

impl Step {
    /// `from` moved on by `n` periods (saturating at the end of the calendar).
    fn after(self, from: NaiveDate, n: u32) -> NaiveDate {
        match self {
            Step::Days(days) => from.checked_add_days(Days::new(days * u64::from(n))),
            Step::Months(months) => from.checked_add_months(Months::new(months.saturating_mul(n))),
        }
        .unwrap_or(NaiveDate::MAX)
    }
}

/// Every period type, in the order [`Period::spanning`] tries them when the data set's is not
/// known: the common ones first, so a calendar quarter is `2024Q1`, not a QuarterlyNov or
/// financial period.
const SPANNING_ORDER: [&str; 23] = [
    "Daily",
    "Weekly",
    "Monthly",
    "BiMonthly",
    "Quarterly",
    "SixMonthly",
    "Yearly",
    "BiWeekly",
    "WeeklyWednesday",
    "WeeklyThursday",
    "WeeklyFriday",
    "WeeklySaturday",
    "WeeklySunday",
    "QuarterlyNov",
    "SixMonthlyApril",
    "SixMonthlyNov",
    "FinancialApril",
    "FinancialJuly",
    "FinancialOct",
    "FinancialNov",
    "FinancialSep",
    "FinancialFeb",
    "FinancialAug",
];

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
    fn dates_become_the_period_they_span() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let span = |a, b, kind| Period::spanning(d(a), d(b), kind).map(|p| p.as_str().to_string());
        assert_eq!(span("2024-01-01", "2024-01-31", None).as_deref(), Some("202401"));
        assert_eq!(span("2024-01-01", "2024-03-31", None).as_deref(), Some("2024Q1"));
        assert_eq!(span("2024-01-01", "2024-12-31", None).as_deref(), Some("2024"));
        assert_eq!(span("2024-07-01", "2025-06-30", None).as_deref(), Some("2024July"));
        assert_eq!(span("2024-01-15", "2024-01-15", None).as_deref(), Some("20240115"));
        assert_eq!(span("2024-01-01", "2024-01-07", None).as_deref(), Some("2024W1"));
        // The data set's type decides: a month is no quarter, and a quarter of it no month.
        assert_eq!(span("2024-01-01", "2024-01-31", Some("Quarterly")), None);
        assert_eq!(span("2024-01-01", "2024-03-31", Some("Quarterly")).as_deref(), Some("2024Q1"));
        assert_eq!(span("2024-01-02", "2024-01-31", None), None);
    }

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
    fn periods_start_where_dhis2_starts_them() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let cases = [
            ("2024", day(2024, 1, 1)),
            ("202407", day(2024, 7, 1)),
            ("20240229", day(2024, 2, 29)),
            ("2024W1", day(2024, 1, 1)),
            ("2026W01", day(2025, 12, 29)),
            ("2024BiW2", day(2024, 1, 15)),
            ("2024WedW1", day(2024, 1, 3)),
            ("2024SunW1", day(2023, 12, 31)),
            ("202403B", day(2024, 5, 1)),
            ("2024Q3", day(2024, 7, 1)),
            ("2024NovQ1", day(2023, 11, 1)),
            ("2024NovQ2", day(2024, 2, 1)),
            ("2024S2", day(2024, 7, 1)),
            ("2024AprilS2", day(2024, 10, 1)),
            ("2024NovS1", day(2023, 11, 1)),
            ("2024April", day(2024, 4, 1)),
            ("2024Feb", day(2024, 2, 1)),
        ];
        for (text, start) in cases {
            assert_eq!(Period::parse(text).unwrap().start(), start, "{text}");
        }
    }

    #[test]
    fn future_periods_are_open_only_as_far_as_the_data_set_allows() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let open = |text: &str, n| Period::parse(text).unwrap().is_open(today, n);
        assert!(open("202612", 0), "the current period");
        assert!(open("202601", 0), "a past period");
        assert!(!open("202701", 0), "next month with none open");
        assert!(open("202701", 1));
        assert!(!open("202702", 1));
        assert!(open("2026W49", 0));
        assert!(!open("2026W50", 0));
        assert!(open("2027", 1));
    }

    #[test]
    fn periods_end_on_their_last_day_and_read_in_words() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let ends = [
            ("202402", day(2024, 2, 29)),
            ("20240115", day(2024, 1, 15)),
            ("2024W1", day(2024, 1, 7)),
            ("2024BiW1", day(2024, 1, 14)),
            ("202406B", day(2024, 12, 31)),
            ("2024Q2", day(2024, 6, 30)),
            ("2024NovQ1", day(2024, 1, 31)),
            ("2024AprilS2", day(2025, 3, 31)),
            ("2024July", day(2025, 6, 30)),
            ("2024", day(2024, 12, 31)),
        ];
        for (text, end) in ends {
            assert_eq!(Period::parse(text).unwrap().end(), end, "{text}");
        }
        let label = |text: &str| Period::parse(text).unwrap().label();
        assert_eq!(label("202505"), "May 2025");
        assert_eq!(label("20250515"), "15 May 2025");
        assert_eq!(label("2025"), "2025");
        assert_eq!(label("2025Q2"), "2025Q2, 1 Apr – 30 Jun 2025");
    }

    #[test]
    fn every_day_lies_in_the_period_containing_it_and_periods_follow_each_other() {
        // Every period type DHIS2 has.
        let types = SPANNING_ORDER;
        let first = NaiveDate::from_ymd_opt(2019, 12, 20).unwrap();
        for kind in types {
            let mut period = Period::containing(kind, first).unwrap_or_else(|| panic!("{kind}"));
            for offset in 0..(6 * 366) {
                let day = first + Days::new(offset);
                if day > period.end() {
                    let next = period.next();
                    assert_eq!(
                        next.start(),
                        period.end() + Days::new(1),
                        "{kind}: {} → {}",
                        period.as_str(),
                        next.as_str()
                    );
                    assert_eq!(next.previous(), period, "{kind}");
                    period = next;
                }
                let found = Period::containing(kind, day).unwrap();
                assert_eq!(found, period, "{kind} on {day}");
                assert!(found.start() <= day && day <= found.end(), "{kind} on {day}: {}", found.as_str());
                assert_eq!(found.period_type(), kind);
            }
        }
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let name = |kind: &str, d| Period::containing(kind, d).unwrap().as_str().to_string();
        assert_eq!(name("QuarterlyNov", day(2024, 11, 3)), "2025NovQ1");
        assert_eq!(name("SixMonthlyApril", day(2025, 2, 1)), "2024AprilS2");
        assert_eq!(name("FinancialJuly", day(2025, 6, 30)), "2024July");
        assert_eq!(name("BiMonthly", day(2025, 12, 1)), "202506B");
        assert_eq!(name("Weekly", day(2026, 1, 1)), "2026W1");
        assert!(Period::containing("Fortnightly", day(2025, 1, 1)).is_none());
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
