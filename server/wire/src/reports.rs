//! Reporting completeness: which expected reports (a data set's assigned org units × its
//! periods) the gateway received on time, late, or not at all, and what became of their values.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Filters of `GET /reports/completeness`. The names DHIS2 users know (`dataSet`,
/// `periodFrom`, …) are accepted too.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct CompletenessFilter {
    /// The data set, by UID or code (required).
    #[serde(alias = "dataSet")]
    pub data_set: Option<String>,
    /// The first period, of the data set's period type; by default five periods before `period_to`.
    #[serde(alias = "periodFrom")]
    pub period_from: Option<String>,
    /// The last period; by default the current one.
    #[serde(alias = "periodTo")]
    pub period_to: Option<String>,
    /// A partner's username or UID: only what its scope expects of it, and only what it sent.
    /// A partner calling sees its own, whatever this says.
    pub partner: Option<String>,
    /// Only this org unit's subtree, by UID or code.
    #[serde(alias = "orgUnit")]
    pub org_unit: Option<String>,
    /// Roll the org units up to their ancestor at this hierarchy level (e.g. 3 for districts).
    pub level: Option<i32>,
    pub page: Option<i64>,
    /// Rows (org units) per page: 1 to 500; 100 by default.
    #[serde(alias = "pageSize")]
    pub page_size: Option<i64>,
    /// For `GET /reports/completeness/export`: `csv` (the default) or `xlsx`.
    pub format: Option<String>,
}

/// What became of one expected report, or (rolled up) the worst of several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    /// Received by the period's end plus the data set's timely days.
    OnTime,
    /// Received after that.
    Late,
    /// Not received, and the timely days are over.
    Missing,
    /// Not received yet, and still timely.
    Due,
    /// Not expected: the org unit was not open during the period.
    NotExpected,
}

impl ReportState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::OnTime => "on_time",
            ReportState::Late => "late",
            ReportState::Missing => "missing",
            ReportState::Due => "due",
            ReportState::NotExpected => "not_expected",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ReportState::OnTime => "On time",
            ReportState::Late => "Late",
            ReportState::Missing => "Missing",
            ReportState::Due => "Not due yet",
            ReportState::NotExpected => "Not expected",
        }
    }
}

/// Expected reports by what became of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportCounts {
    pub expected: i64,
    pub on_time: i64,
    pub late: i64,
    pub missing: i64,
    pub due: i64,
}

impl ReportCounts {
    pub fn received(&self) -> i64 {
        self.on_time + self.late
    }

    pub fn add(&mut self, other: &ReportCounts) {
        self.expected += other.expected;
        self.on_time += other.on_time;
        self.late += other.late;
        self.missing += other.missing;
        self.due += other.due;
    }

    /// The worst state among them: missing, late, due, on time; not expected when none is.
    pub fn state(&self) -> ReportState {
        if self.missing > 0 {
            ReportState::Missing
        } else if self.late > 0 {
            ReportState::Late
        } else if self.due > 0 {
            ReportState::Due
        } else if self.on_time > 0 {
            ReportState::OnTime
        } else {
            ReportState::NotExpected
        }
    }
}

/// The values received for reports, by what DHIS2 (the primary server) made of them.
/// `received` less the others is still on its way (queued, retrying or failed delivery).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValueCounts {
    pub received: i64,
    pub stored: i64,
    pub held: i64,
    pub refused: i64,
}

impl ValueCounts {
    pub fn add(&mut self, other: &ValueCounts) {
        self.received += other.received;
        self.stored += other.stored;
        self.held += other.held;
        self.refused += other.refused;
    }
}

/// One org unit (or rolled-up ancestor) in one period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportCell {
    pub period: String,
    pub reports: ReportCounts,
    pub values: ValueCounts,
    /// When the first value for it arrived.
    pub first_received_at: Option<DateTime<Utc>>,
}

/// A row of the grid: an org unit with assigned data, or an ancestor rolling them up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompletenessRow {
    pub org_unit: String,
    pub name: String,
    /// The parent's name, to tell same-named units apart.
    pub parent: Option<String>,
    /// Org units rolled up into this row (1 for a unit itself).
    pub units: i64,
    pub cells: Vec<ReportCell>,
    pub total: ReportCounts,
}

/// A period of the report, with the day after which it is no longer timely.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportPeriod {
    pub period: String,
    pub label: String,
    /// The last day a report counts as on time (the period's end plus timely days).
    pub timely_until: NaiveDate,
}

/// One partner's share of the expected reports: those its scope covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartnerCompleteness {
    pub partner: String,
    pub name: String,
    pub reports: ReportCounts,
    /// In words: "lab-system: 212 of 240 expected monthly reports for May 2025, 9 late, 19 missing".
    pub summary: String,
}

/// `GET /reports/completeness`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Completeness {
    pub data_set: String,
    pub data_set_name: String,
    pub period_type: String,
    pub timely_days: i64,
    /// The hierarchy level rows are rolled up to, if any.
    pub level: Option<i32>,
    pub periods: Vec<ReportPeriod>,
    pub rows: crate::Page<CompletenessRow>,
    /// Every row's cells summed, on all pages.
    pub total: ReportCounts,
    pub values: ValueCounts,
    /// Per partner whose scope names the data set or that sent values for it.
    pub partners: Vec<PartnerCompleteness>,
    pub generated_at: DateTime<Utc>,
}

/// A submission behind a report: `GET /reports/completeness/submissions` with the same filters
/// (a cell: its period as `period_from` and `period_to`, its row as `org_unit`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportSubmission {
    pub submission_id: i64,
    pub received_at: DateTime<Utc>,
    pub partner: Option<String>,
    pub org_unit: String,
    pub org_unit_name: Option<String>,
    pub period: String,
    /// Values of the data set's elements it carried for that org unit and period.
    pub values: i64,
    /// The submission's status; `None` once retention archived it.
    pub status: Option<String>,
}
