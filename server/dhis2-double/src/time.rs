//! Timestamps as DHIS2 writes and reads them: `yyyy-MM-dd'T'HH:mm:ss.SSS`, server time
//! (the double runs on UTC), millisecond precision.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Now, truncated to milliseconds like DHIS2's stored timestamps.
pub(crate) fn now() -> NaiveDateTime {
    let millis = Utc::now().timestamp_millis();
    DateTime::from_timestamp_millis(millis).expect("the clock is within chrono's range").naive_utc()
}

/// `2024-01-31T08:15:00.000`.
pub(crate) fn format(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}

/// Reads what DHIS2 accepts for dates and timestamps: `yyyy-MM-dd`, or a local date-time
/// with optional fractional seconds, optionally with `Z` or an offset (converted to UTC).
pub(crate) fn parse(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if s.len() == 10 {
        return NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.naive_utc());
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_local_and_zoned_timestamps() {
        let midnight = parse("2024-03-01").unwrap();
        assert_eq!(format(midnight), "2024-03-01T00:00:00.000");
        assert_eq!(format(parse("2024-03-01T10:20:30").unwrap()), "2024-03-01T10:20:30.000");
        assert_eq!(format(parse("2024-03-01T10:20:30.5").unwrap()), "2024-03-01T10:20:30.500");
        assert_eq!(format(parse("2024-03-01T10:20:30.123Z").unwrap()), "2024-03-01T10:20:30.123");
        assert_eq!(format(parse("2024-03-01T10:20:30+02:00").unwrap()), "2024-03-01T08:20:30.000");
        for bad in ["", "2024-3-1", "2024-02-30", "yesterday", "2024-03-01 10:20"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn now_has_millisecond_precision() {
        let t = now();
        assert_eq!(parse(&format(t)), Some(t));
    }
}
