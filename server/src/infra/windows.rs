//! Weekly time windows, such as a DHIS2 server's maintenance windows: times it is not sent to
//! (its nightly analytics, a backup), written `[days] HH:MM-HH:MM [Area/City]`: `00:00-04:00`, `Sun 02:00-06:00`,
//! `Mon-Fri 22:00-02:00 Africa/Kampala`, `Sat-Sun 00:00-06:00`. The days (one, or a range)
//! are those a window starts on, every day when none are given; a window whose end is not
//! after its start ends the next day. No commas, so a list of windows can be one
//! comma-separated environment variable. Written without a time zone, a window is in the gateway's `server.timezone`, and
//! it is stored with it, so what is shown is what applies.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// The first and last day it starts on; `None`: every day.
    days: Option<(Weekday, Weekday)>,
    start: NaiveTime,
    end: NaiveTime,
    zone: Tz,
}

impl Window {
    /// Reads a window; `zone` is the one it is in unless it names its own.
    pub fn parse(text: &str, zone: Tz) -> Result<Window, String> {
        let mut parts: Vec<&str> = text.split_whitespace().collect();
        let shape = || {
            format!(
                "'{text}' is not a window like '00:00-04:00', 'Sun 02:00-06:00' or 'Mon-Fri 22:00-02:00 Africa/Kampala'"
            )
        };
        let zone = match parts.last().filter(|p| p.contains('/') || p.eq_ignore_ascii_case("UTC")) {
            Some(name) => {
                let zone =
                    Tz::from_str(name).map_err(|_| format!("'{text}': '{name}' is not a time zone (Area/City)"))?;
                parts.pop();
                zone
            }
            None => zone,
        };
        let (days, times) = match parts.as_slice() {
            [times] => (None, *times),
            [days, times] => (days_of(days).map_err(|e| format!("'{text}': {e}"))?, *times),
            _ => return Err(shape()),
        };
        let (start, end) = times.split_once('-').ok_or_else(shape)?;
        let time = |t: &str| NaiveTime::parse_from_str(t, "%H:%M").map_err(|_| shape());
        let (start, end) = (time(start)?, time(end)?);
        if start == end {
            return Err(format!("'{text}' starts and ends at the same time"));
        }
        Ok(Window { days, start, end, zone })
    }

    /// When the window that `now` is in ends; `None` outside it.
    pub fn ends_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&self.zone).date_naive();
        // Begun today, or yesterday when it runs past midnight.
        [local, local.pred_opt()?].into_iter().find_map(|day| {
            let (start, end) = self.span(day)?;
            (start <= now && now < end).then_some(end)
        })
    }

    /// The window begun on `day`, as instants; `None` when it does not start that day (or the
    /// start does not exist, in a clock change).
    fn span(&self, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if let Some((first, last)) = self.days
            && day.weekday().days_since(first) > last.days_since(first)
        {
            return None;
        }
        let end_day = if self.end > self.start { day } else { day.succ_opt()? };
        let at = |d: NaiveDate, t: NaiveTime| self.zone.from_local_datetime(&d.and_time(t)).earliest();
        Some((at(day, self.start)?.with_timezone(&Utc), at(end_day, self.end)?.with_timezone(&Utc)))
    }
}

/// `Mon`, `Mon-Fri`, `Fri-Mon` (over the weekend), `daily`.
fn days_of(text: &str) -> Result<Option<(Weekday, Weekday)>, String> {
    if text.eq_ignore_ascii_case("daily") {
        return Ok(None);
    }
    let day = |d: &str| Weekday::from_str(d).map_err(|_| format!("'{d}' is not a day (Mon, Tue, … Sun)"));
    let (first, last) = match text.split_once('-') {
        Some((first, last)) => (day(first)?, day(last)?),
        None => (day(text)?, day(text)?),
    };
    Ok(Some((first, last)))
}

impl fmt::Display for Window {
    /// The stored form: days (when not every day), times and the time zone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.days {
            Some((first, last)) if first == last => write!(f, "{first} ")?,
            Some((first, last)) => write!(f, "{first}-{last} ")?,
            None => {}
        }
        write!(f, "{}-{} {}", self.start.format("%H:%M"), self.end.format("%H:%M"), self.zone)
    }
}

/// Windows as a server's row stores them (each with its time zone); a stored one that no
/// longer reads (it cannot happen through the gateway) is left out.
pub fn stored(texts: &[String]) -> Vec<Window> {
    texts.iter().filter_map(|t| Window::parse(t, Tz::UTC).ok()).collect()
}

/// Windows given by an operator, in their stored form; the error names the one that does not
/// read, by its position.
pub fn normalise(texts: &[String], zone: Tz, field: &str) -> Result<Vec<String>, (String, String)> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| Window::parse(t, zone).map(|w| w.to_string()).map_err(|e| (format!("{field}[{i}]"), e)))
        .collect()
}

/// When the maintenance `now` falls in ends (windows that follow on at once count as one), and
/// the window that ends it.
pub fn until(windows: &[Window], now: DateTime<Utc>) -> Option<(DateTime<Utc>, &Window)> {
    let mut found = None;
    let mut at = now;
    // Bounded: windows that chain into each other cannot cover more than a week.
    for _ in 0..=windows.len() * 8 {
        let Some((end, window)) =
            windows.iter().filter_map(|w| w.ends_after(at).map(|end| (end, w))).max_by_key(|(end, _)| *end)
        else {
            break;
        };
        found = Some((end, window));
        at = end;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Africa::Kampala;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn windows_are_read_in_the_gateways_zone_or_their_own_and_stored_with_it() {
        let daily = Window::parse("00:00-04:00", Kampala).unwrap();
        assert_eq!(daily.to_string(), "00:00-04:00 Africa/Kampala");
        assert_eq!(Window::parse(&daily.to_string(), Tz::UTC).unwrap(), daily, "the stored form reads back the same");
        let weekdays = Window::parse("mon-fri 22:00-02:00 UTC", Kampala).unwrap();
        assert_eq!(weekdays.to_string(), "Mon-Fri 22:00-02:00 UTC");
        assert_eq!(Window::parse("daily 01:00-02:30", Tz::UTC).unwrap().to_string(), "01:00-02:30 UTC");
        for bad in [
            "",
            "4am",
            "00:00-25:00",
            "Someday 00:00-04:00",
            "Sat,Sun 00:00-04:00",
            "00:00-04:00 Mars/Olympus",
            "01:00-01:00",
            "a b c d",
        ] {
            assert!(Window::parse(bad, Kampala).is_err(), "{bad}");
        }
        let (field, problem) = normalise(&["00:00-04:00".into(), "never".into()], Kampala, "maintenance").unwrap_err();
        assert_eq!(field, "maintenance[1]");
        assert!(problem.contains("'never'"), "{problem}");
    }

    #[test]
    fn a_moment_is_in_a_window_until_it_ends_across_midnight_and_on_its_days_only() {
        // Kampala is UTC+3: 00:00-04:00 there is 21:00-01:00 UTC.
        let nightly = Window::parse("00:00-04:00 Africa/Kampala", Tz::UTC).unwrap();
        assert_eq!(nightly.ends_after(utc("2026-12-03T21:30:00Z")), Some(utc("2026-12-04T01:00:00Z")));
        assert_eq!(nightly.ends_after(utc("2026-12-04T01:00:00Z")), None, "the end is outside");
        assert_eq!(nightly.ends_after(utc("2026-12-04T12:00:00Z")), None);
        // Friday 22:00 to Saturday 02:00 UTC; 2026-12-04 is a Friday.
        let fridays = Window::parse("Fri 22:00-02:00 UTC", Tz::UTC).unwrap();
        assert_eq!(fridays.ends_after(utc("2026-12-05T01:59:00Z")), Some(utc("2026-12-05T02:00:00Z")));
        assert_eq!(fridays.ends_after(utc("2026-12-05T23:00:00Z")), None, "Saturday night is not a Friday");
        // A range over the weekend: Friday to Monday, not Tuesday.
        let weekend = Window::parse("Fri-Mon 10:00-11:00 UTC", Tz::UTC).unwrap();
        for (day, inside) in [("04", true), ("05", true), ("06", true), ("07", true), ("08", false), ("03", false)] {
            let at = utc(&format!("2026-12-{day}T10:30:00Z"));
            assert_eq!(weekend.ends_after(at).is_some(), inside, "2026-12-{day}");
        }
        // Windows that follow on end together.
        let late = Window::parse("01:00-05:00 UTC", Tz::UTC).unwrap();
        let both = [fridays.clone(), late];
        let (end, window) = until(&both, utc("2026-12-04T23:00:00Z")).unwrap();
        assert_eq!((end, window.to_string()), (utc("2026-12-05T05:00:00Z"), "01:00-05:00 UTC".to_string()));
        assert_eq!(until(&[fridays], utc("2026-12-04T12:00:00Z")), None);
    }
}
