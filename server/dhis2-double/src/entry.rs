//! When DHIS2 accepts data for a period: a data set's expiry days, open future periods and
//! data input periods, lock exceptions, and data approval (reference: DHIS2 core
//! `DataValueSetImportValidator` ≤ 2.42, `DefaultDataEntryService.validateEntryTimeliness`
//! 2.43).
//!
//! - **Expiry.** With `expiryDays` > 0 a period locks once today is after its end plus that
//!   many days (monthly 2024-01, 10 days: open through 2024-02-10). 0 never expires. A lock
//!   exception for exactly (data set, org unit, period) lifts the expiry, nothing else.
//! - **Future periods.** The latest open period is the current one moved by
//!   `openFuturePeriods − 1`: with 0, the current period is not open yet either.
//! - **Input periods.** A data set that lists `dataInputPeriods` accepts only those periods,
//!   between their opening and closing dates (inclusive; ≤ 2.42 by day, 2.43 to the moment).
//!   On 2.43 they replace the expiry and future-period checks; ≤ 2.42 checks those first.
//! - **Approval.** Data approved for (data set's workflow, period, org unit, attribute option
//!   combo) is refused. ≤ 2.42 checks the default attribute option combo too; 2.43 only values
//!   that name one explicitly (as its code reads; it looks like a bug).
//!
//! The gateway's account is not a superuser and has no `F_EDIT_EXPIRED`, so neither `force`
//! nor authorities lift anything.
//!
//! Derived rather than verified: approvals count only at the org unit itself (DHIS2 ≤ 2.42
//! looks up the workflow level's ancestor); the latest open period is computed for daily,
//! weekly, monthly, quarterly and yearly data sets (other types skip the future check); 2.43.0
//! has the input-period window check inverted (fixed on its branch, DHIS2-21981): the double
//! follows the fix; E7644 (no data set of the element open) is not emulated, E7643 comes first
//! for the fixture's one-data-set elements.

use std::collections::HashMap;

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime};
use dhis2gw_wire::period::Period;

use crate::common::Version;
use crate::model::{DataSet, Settings};
use crate::period::PeriodType;

#[derive(Clone, Debug)]
pub(crate) struct LockException {
    pub(crate) data_set: String,
    pub(crate) org_unit: String,
    pub(crate) period: String,
    pub(crate) created: NaiveDateTime,
}

#[derive(Clone, Debug)]
pub(crate) struct Approval {
    pub(crate) data_set: String,
    pub(crate) period: String,
    pub(crate) org_unit: String,
    pub(crate) aoc: String,
    pub(crate) created: NaiveDateTime,
}

/// Why data for a period is not accepted now.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Closed {
    /// Past the data set's expiry days, without a lock exception.
    Expired,
    /// After the latest open period (given as ISO).
    NotYetOpen {
        latest: String,
    },
    /// Not among the data set's input periods, or not between their dates now.
    NotInputPeriod,
    Approved,
}

#[derive(Default)]
pub(crate) struct Entry {
    settings: HashMap<String, Settings>,
    pub(crate) exceptions: Vec<LockException>,
    pub(crate) approvals: Vec<Approval>,
}

impl Entry {
    pub(crate) fn settings(&self, data_set: &str) -> Settings {
        self.settings.get(data_set).cloned().unwrap_or_default()
    }

    pub(crate) fn settings_mut(&mut self, data_set: &str) -> &mut Settings {
        self.settings.entry(data_set.to_owned()).or_default()
    }

    /// Adds a lock exception; `false` when it exists already.
    pub(crate) fn add_exception(&mut self, data_set: &str, org_unit: &str, period: &str, now: NaiveDateTime) -> bool {
        if self.has_exception(data_set, org_unit, period) {
            return false;
        }
        self.exceptions.push(LockException {
            data_set: data_set.to_owned(),
            org_unit: org_unit.to_owned(),
            period: period.to_owned(),
            created: now,
        });
        true
    }

    fn has_exception(&self, data_set: &str, org_unit: &str, period: &str) -> bool {
        self.exceptions.iter().any(|e| e.data_set == data_set && e.org_unit == org_unit && e.period == period)
    }

    pub(crate) fn approve(&mut self, data_set: &str, period: &str, org_unit: &str, aoc: &str, now: NaiveDateTime) {
        if self.approval(data_set, period, org_unit, aoc).is_none() {
            self.approvals.push(Approval {
                data_set: data_set.to_owned(),
                period: period.to_owned(),
                org_unit: org_unit.to_owned(),
                aoc: aoc.to_owned(),
                created: now,
            });
        }
    }

    pub(crate) fn unapprove(&mut self, data_set: &str, period: &str, org_unit: &str, aoc: &str) {
        self.approvals
            .retain(|a| !(a.data_set == data_set && a.period == period && a.org_unit == org_unit && a.aoc == aoc));
    }

    pub(crate) fn approval(&self, data_set: &str, period: &str, org_unit: &str, aoc: &str) -> Option<&Approval> {
        self.approvals
            .iter()
            .find(|a| a.data_set == data_set && a.period == period && a.org_unit == org_unit && a.aoc == aoc)
    }

    /// Why `version` refuses data of `ds` for (period, org unit, AOC) at `now`, if it does.
    /// `explicit_aoc`: the value named its attribute option combo.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn closed(
        &self,
        version: Version,
        ds: &DataSet,
        period: &str,
        period_type: PeriodType,
        org_unit: &str,
        aoc: &str,
        explicit_aoc: bool,
        now: NaiveDateTime,
    ) -> Option<Closed> {
        let settings = self.settings(ds.id.uid);
        let Ok(parsed) = Period::parse(period) else { return None };
        let today = now.date();
        let expired = || {
            settings.expiry_days > 0
                && today > parsed.end() + chrono::Days::new(settings.expiry_days.unsigned_abs())
                && !self.has_exception(ds.id.uid, org_unit, period)
        };
        let not_yet_open = || {
            latest_open(period_type, today, settings.open_future_periods)
                .filter(|(start, _)| parsed.start() > *start)
                .map(|(_, latest)| Closed::NotYetOpen { latest })
        };
        let outside_input = || {
            !settings.input_periods.is_empty()
                && !settings.input_periods.iter().any(|p| {
                    let (opening, closing, at) = match version {
                        // ≤ 2.42 compares whole days.
                        Version::V2_43 => (p.opening, p.closing, now),
                        _ => (p.opening.map(day), p.closing.map(|c| day(c) + chrono::Days::new(1)), now),
                    };
                    p.period == period && opening.is_none_or(|o| o <= at) && closing.is_none_or(|c| at <= c)
                })
        };
        let approved =
            || (version != Version::V2_43 || explicit_aoc) && self.approval(ds.id.uid, period, org_unit, aoc).is_some();
        if version == Version::V2_43 && !settings.input_periods.is_empty() {
            return outside_input()
                .then_some(Closed::NotInputPeriod)
                .or_else(|| approved().then_some(Closed::Approved));
        }
        if expired() {
            return Some(Closed::Expired);
        }
        if let Some(closed) = not_yet_open() {
            return Some(closed);
        }
        if approved() {
            return Some(Closed::Approved);
        }
        outside_input().then_some(Closed::NotInputPeriod)
    }
}

fn day(t: NaiveDateTime) -> NaiveDateTime {
    t.date().and_hms_opt(0, 0, 0).expect("midnight exists")
}

/// The start and ISO name of the latest period open for entry: the current one moved by
/// `open_future − 1` periods. `None` for period types the double does not compute.
fn latest_open(period_type: PeriodType, today: NaiveDate, open_future: i64) -> Option<(NaiveDate, String)> {
    let shift = open_future - 1;
    let months = |start: NaiveDate, n: i64| {
        let moved = if n >= 0 {
            start.checked_add_months(Months::new(n as u32))
        } else {
            start.checked_sub_months(Months::new(n.unsigned_abs() as u32))
        };
        moved.expect("within the calendar")
    };
    let days = |d: NaiveDate, n: i64| d + chrono::TimeDelta::days(n);
    Some(match period_type {
        PeriodType::Daily => {
            let d = days(today, shift);
            (d, d.format("%Y%m%d").to_string())
        }
        PeriodType::Weekly => {
            let monday = days(today, -i64::from(today.weekday().num_days_from_monday()));
            let d = days(monday, 7 * shift);
            let week = d.iso_week();
            (d, format!("{}W{}", week.year(), week.week()))
        }
        PeriodType::Monthly => {
            let d = months(today.with_day(1).expect("day 1"), shift);
            (d, d.format("%Y%m").to_string())
        }
        PeriodType::Quarterly => {
            let first = NaiveDate::from_ymd_opt(today.year(), (today.month0() / 3) * 3 + 1, 1).expect("a quarter");
            let d = months(first, 3 * shift);
            (d, format!("{}Q{}", d.year(), d.month0() / 3 + 1))
        }
        PeriodType::Yearly => {
            let d = NaiveDate::from_ymd_opt(today.year() + shift as i32, 1, 1)?;
            (d, d.year().to_string())
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IdScheme, InputPeriod, data_set};

    fn at(date: &str) -> NaiveDateTime {
        crate::time::parse(date).unwrap()
    }

    fn monthly() -> &'static DataSet {
        data_set(IdScheme::Uid, crate::fixture::DS_MONTHLY_HIV).unwrap()
    }

    fn closed(entry: &Entry, version: Version, period: &str, now: &str) -> Option<Closed> {
        let aoc = crate::fixture::DEFAULT_AOC;
        entry.closed(
            version,
            monthly(),
            period,
            PeriodType::Monthly,
            crate::fixture::OU_FACILITY_1,
            aoc,
            false,
            at(now),
        )
    }

    #[test]
    fn expiry_days_close_a_period_the_day_after_and_a_lock_exception_opens_it() {
        let mut entry = Entry::default();
        entry.settings_mut(monthly().id.uid).expiry_days = 10;
        entry.settings_mut(monthly().id.uid).open_future_periods = 1;
        for version in [Version::V2_37, Version::V2_40, Version::V2_43] {
            assert_eq!(closed(&entry, version, "202401", "2024-02-10T23:59:00"), None);
            assert_eq!(closed(&entry, version, "202401", "2024-02-11T00:00:00"), Some(Closed::Expired));
        }
        assert!(entry.add_exception(monthly().id.uid, crate::fixture::OU_FACILITY_1, "202401", at("2024-03-01")));
        assert!(!entry.add_exception(monthly().id.uid, crate::fixture::OU_FACILITY_1, "202401", at("2024-03-01")));
        assert_eq!(closed(&entry, Version::V2_40, "202401", "2024-03-01"), None);
        assert_eq!(closed(&entry, Version::V2_40, "202402", "2024-03-20"), Some(Closed::Expired));
    }

    #[test]
    fn with_no_open_future_periods_the_current_period_is_not_open_yet() {
        let entry = Entry::default();
        let latest = Some(Closed::NotYetOpen { latest: "202402".into() });
        assert_eq!(closed(&entry, Version::V2_40, "202403", "2024-03-15"), latest);
        assert_eq!(closed(&entry, Version::V2_40, "202402", "2024-03-15"), None);
        assert_eq!(latest_open(PeriodType::Quarterly, at("2024-05-02").date(), 2).unwrap().1, "2024Q3");
        assert_eq!(latest_open(PeriodType::Weekly, at("2024-01-03").date(), 1).unwrap().1, "2024W1");
    }

    #[test]
    fn input_periods_replace_expiry_on_2_43_and_follow_it_before() {
        let mut entry = Entry::default();
        let settings = entry.settings_mut(monthly().id.uid);
        settings.expiry_days = 5;
        settings.input_periods = vec![InputPeriod {
            period: "202401".into(),
            opening: Some(at("2024-02-01")),
            closing: Some(at("2024-03-31")),
        }];
        assert_eq!(closed(&entry, Version::V2_43, "202401", "2024-03-20"), None, "2.43: the window alone decides");
        assert_eq!(closed(&entry, Version::V2_40, "202401", "2024-03-20"), Some(Closed::Expired));
        assert_eq!(closed(&entry, Version::V2_43, "202402", "2024-03-02"), Some(Closed::NotInputPeriod));
        // ≤ 2.42 counts the closing day whole.
        entry.settings_mut(monthly().id.uid).expiry_days = 0;
        assert_eq!(closed(&entry, Version::V2_40, "202401", "2024-03-31T18:00:00"), None);
        assert_eq!(closed(&entry, Version::V2_43, "202401", "2024-03-31T18:00:00"), Some(Closed::NotInputPeriod));
    }

    #[test]
    fn approval_refuses_the_default_combo_only_before_2_43() {
        let mut entry = Entry::default();
        entry.settings_mut(monthly().id.uid).open_future_periods = 1;
        entry.approvals.push(Approval {
            data_set: monthly().id.uid.into(),
            period: "202401".into(),
            org_unit: crate::fixture::OU_FACILITY_1.into(),
            aoc: crate::fixture::DEFAULT_AOC.into(),
            created: at("2024-02-02"),
        });
        assert_eq!(closed(&entry, Version::V2_40, "202401", "2024-02-05"), Some(Closed::Approved));
        assert_eq!(closed(&entry, Version::V2_43, "202401", "2024-02-05"), None);
        let aoc = crate::fixture::DEFAULT_AOC;
        let explicit = entry.closed(
            Version::V2_43,
            monthly(),
            "202401",
            PeriodType::Monthly,
            crate::fixture::OU_FACILITY_1,
            aoc,
            true,
            at("2024-02-05"),
        );
        assert_eq!(explicit, Some(Closed::Approved));
    }
}
