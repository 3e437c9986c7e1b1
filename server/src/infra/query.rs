//! What every list and search of the API shares: paging, literal text search, and date
//! ranges in the gateway's time zone.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};

use crate::infra::error::{AppError, AppResult};

pub const MAX_PAGE_SIZE: i64 = 500;

/// Checks `page` and `page_size`; returns (page, page_size, offset).
pub fn paging(page: Option<i64>, page_size: Option<i64>, default_size: i64) -> AppResult<(i64, i64, i64)> {
    let page = page.unwrap_or(1);
    let size = page_size.unwrap_or(default_size);
    if page < 1 {
        return Err(AppError::invalid_field("page", "must be 1 or more"));
    }
    if !(1..=MAX_PAGE_SIZE).contains(&size) {
        return Err(AppError::invalid_field("page_size", format!("must be between 1 and {MAX_PAGE_SIZE}")));
    }
    let offset = (page - 1).checked_mul(size).ok_or_else(|| AppError::invalid_field("page", "is too large"))?;
    Ok((page, size, offset))
}

/// `%` and `_` in a filter are literal characters, not wildcards.
pub fn like_pattern(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

type Instant = DateTime<Utc>;

/// `from_date` and `to_date` as the log's filters (and the audit log's) take them: whole
/// days in the gateway's time zone, both inclusive, or RFC 3339 instants. A bad one is a 400
/// naming it. The range is `from <= t < to`.
pub fn date_range(
    from_date: Option<&str>,
    to_date: Option<&str>,
    tz: chrono_tz::Tz,
) -> AppResult<(Option<Instant>, Option<Instant>)> {
    let from = from_date.map(|d| instant("from_date", d, tz, false)).transpose()?;
    // A whole day is inclusive: up to (not including) the start of the next.
    let to = to_date.map(|d| instant("to_date", d, tz, true)).transpose()?;
    Ok((from, to))
}

/// A day (its start in the gateway's time zone) or an RFC 3339 instant; a bad one is a 400
/// naming `field`.
pub fn day_or_instant(field: &str, text: &str, tz: chrono_tz::Tz) -> AppResult<Instant> {
    instant(field, text, tz, false)
}

/// `from` is the start of its day, `to` the end of its day, in the gateway's time zone.
fn instant(field: &str, text: &str, tz: chrono_tz::Tz, end_of_day: bool) -> AppResult<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| AppError::invalid_field(field, format!("'{text}' is neither yyyy-MM-dd nor an RFC 3339 time")))?;
    let day = if end_of_day { day.succ_opt().unwrap_or(day) } else { day };
    start_of_day(tz, day).ok_or_else(|| AppError::invalid_field(field, "does not exist in the gateway's time zone"))
}

/// The first instant of `day` in `tz`; `None` when a clock change skips that midnight.
pub fn start_of_day(tz: chrono_tz::Tz, day: NaiveDate) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&day.and_time(NaiveTime::MIN)).earliest().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_rejects_out_of_range_values_by_name() {
        assert_eq!(paging(None, None, 50).unwrap(), (1, 50, 0));
        assert_eq!(paging(Some(3), Some(10), 50).unwrap(), (3, 10, 20));
        for (page, size, field) in
            [(Some(0), None, "page"), (None, Some(0), "page_size"), (None, Some(501), "page_size")]
        {
            match paging(page, size, 50) {
                Err(AppError::BadRequest { detail, .. }) => {
                    assert!(detail[0].starts_with(field), "{detail:?}")
                }
                other => panic!("expected 400 for {field}, got {other:?}"),
            }
        }
        assert!(paging(Some(i64::MAX), Some(500), 50).is_err());
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }

    #[test]
    fn whole_days_are_inclusive_in_the_gateway_time_zone() {
        let tz: chrono_tz::Tz = "Africa/Kampala".parse().unwrap();
        let from = instant("from_date", "2024-01-31", tz, false).unwrap();
        let to = instant("to_date", "2024-01-31", tz, true).unwrap();
        assert_eq!(from.to_rfc3339(), "2024-01-30T21:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2024-01-31T21:00:00+00:00");
        let exact = instant("from_date", "2024-01-31T10:00:00Z", tz, false).unwrap();
        assert_eq!(exact.to_rfc3339(), "2024-01-31T10:00:00+00:00");
        assert!(instant("to_date", "31/01/2024", tz, true).is_err());
    }
}
