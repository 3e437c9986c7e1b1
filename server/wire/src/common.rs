//! Shapes shared by every resource: errors, pages, plain messages.

use serde::{Deserialize, Serialize};

/// Every error the API answers with. `detail` names each bad field as `"<field>: <problem>"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detail: Vec<String>,
}

/// One page of a listing. Pages count from 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: i64,
    pub total_pages: i64,
    pub page_size: i64,
    /// `total` (and so `total_pages`) is PostgreSQL's estimate, not a count: lists that would
    /// take too long to count past some thousands say so.
    #[serde(default)]
    pub total_is_estimate: bool,
    /// Where this page ends, for listings read by position (the log): give it as `after` for
    /// the page after this one. Absent on a listing's last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, total: i64, page: i64, page_size: i64) -> Self {
        let total_pages = if total == 0 { 0 } else { (total + page_size - 1) / page_size };
        Page { items, total, page, total_pages, page_size, total_is_estimate: false, next: None }
    }

    /// A page whose `total` is an estimate.
    pub fn estimated(items: Vec<T>, total: i64, page: i64, page_size: i64) -> Self {
        Page { total_is_estimate: true, ..Page::new(items, total, page, page_size) }
    }
}

/// A plain acknowledgement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub message: String,
}

/// Readiness of the gateway and what it depends on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// The gateway's version; the fields below it too are given only to a caller on the
    /// gateway's host, with the metrics token, or signed-in staff.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Each dependency (`postgres`, `redis`) with `ok` or the reason it is down.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub checks: std::collections::BTreeMap<String, String>,
    /// When unavailable: which dependencies are down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_pages_rounds_up_and_is_zero_for_no_rows() {
        assert_eq!(Page::<u8>::new(vec![], 0, 1, 10).total_pages, 0);
        assert_eq!(Page::<u8>::new(vec![], 10, 1, 10).total_pages, 1);
        assert_eq!(Page::<u8>::new(vec![], 11, 1, 10).total_pages, 2);
    }
}
