//! Why DHIS2 refused a value and who must act, each value's outcome, and the hold queue of
//! values that wait for DHIS2 to open a closed period or undo an approval.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The reason DHIS2 refused a value, by who must act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RefusalClass {
    /// The value itself: its type, option set, length.
    Data,
    /// A mapping or DHIS2's data set: element not in the set, combo mismatch, org unit not
    /// assigned.
    Mapping,
    /// The period is closed for entry: expiry days passed, not open yet, outside the data
    /// set's input periods.
    ClosedPeriod,
    /// The data is approved in DHIS2.
    Approved,
    /// DHIS2 refused the gateway's account, or the configuration names what it does not know.
    Access,
    /// DHIS2 was unavailable, overloaded or slow.
    Transient,
}

impl RefusalClass {
    pub const ALL: [RefusalClass; 6] = [
        RefusalClass::Data,
        RefusalClass::Mapping,
        RefusalClass::ClosedPeriod,
        RefusalClass::Approved,
        RefusalClass::Access,
        RefusalClass::Transient,
    ];

    /// As in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalClass::Data => "data",
            RefusalClass::Mapping => "mapping",
            RefusalClass::ClosedPeriod => "closed_period",
            RefusalClass::Approved => "approved",
            RefusalClass::Access => "access",
            RefusalClass::Transient => "transient",
        }
    }

    /// A short title for lists and filters.
    pub fn title(self) -> &'static str {
        match self {
            RefusalClass::Data => "Invalid value",
            RefusalClass::Mapping => "Mapping or data set",
            RefusalClass::ClosedPeriod => "Closed period",
            RefusalClass::Approved => "Approved data",
            RefusalClass::Access => "Access or configuration",
            RefusalClass::Transient => "DHIS2 unavailable",
        }
    }

    /// Who must act, ending the sentence that says what went wrong.
    pub fn who_must_act(self) -> &'static str {
        match self {
            RefusalClass::Data => "the partner must correct the value and send it again",
            RefusalClass::Mapping => {
                "an administrator must fix the mapping or the data set in DHIS2, then requeue the refused submissions"
            }
            RefusalClass::ClosedPeriod => {
                "it waits on hold until a DHIS2 administrator opens the period (a lock exception, or longer expiry or input periods)"
            }
            RefusalClass::Approved => "it waits on hold until a DHIS2 approver unapproves the data",
            RefusalClass::Access => {
                "an administrator must fix the gateway's DHIS2 account or the configuration, then requeue"
            }
            RefusalClass::Transient => "the gateway retries on its own",
        }
    }

    /// Values refused for this reason wait in the hold queue instead of failing.
    pub fn is_held(self) -> bool {
        matches!(self, RefusalClass::ClosedPeriod | RefusalClass::Approved)
    }
}

impl std::str::FromStr for RefusalClass {
    /// What to send instead, in words.
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        RefusalClass::ALL.into_iter().find(|c| c.as_str() == text).ok_or_else(|| {
            let known: Vec<&str> = RefusalClass::ALL.iter().map(|c| c.as_str()).collect();
            format!("unknown class '{text}'; use one of {}", known.join(", "))
        })
    }
}

/// One sentence: what went wrong, then who must act.
pub fn refusal_sentence(what: &str, class: RefusalClass) -> String {
    let what = what.trim().trim_end_matches('.');
    format!("{what}: {}.", class.who_must_act())
}

/// What became of a value the gateway sent: `stored` (imported or updated), `unchanged`
/// (DHIS2 already had it), `refused`, `held` (waiting for DHIS2 to open its period or undo an
/// approval), `released` (held, then stored), `discarded` (held, then given up by an
/// administrator) or `expired` (held longer than `hold_max_days`).
pub const VALUE_OUTCOMES: [&str; 7] = ["stored", "unchanged", "refused", "held", "released", "discarded", "expired"];

/// One value of a submission at one DHIS2 server, and what became of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValueOutcome {
    /// The DHIS2 server's name.
    pub server: String,
    /// Position in the `dataValues` of the submission's DHIS2 payload.
    pub index: i32,
    /// The partner's key the value came from.
    pub partner_key: Option<String>,
    pub data_element: Option<String>,
    pub category_option_combo: Option<String>,
    pub attribute_option_combo: Option<String>,
    pub org_unit: Option<String>,
    pub period: Option<String>,
    /// One of [`VALUE_OUTCOMES`].
    pub outcome: String,
    pub class: Option<RefusalClass>,
    pub error_code: Option<String>,
    /// DHIS2's message (or the administrator's reason for a discard).
    pub message: Option<String>,
    /// For a value not stored: what went wrong and who must act, in one sentence.
    pub sentence: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// Values on hold that share a DHIS2 server, data set, period, org unit and attribute option
/// combo: DHIS2 opens (or keeps closed) all of them together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldGroup {
    pub server_id: i64,
    pub server: String,
    pub data_set: Option<String>,
    pub data_set_name: Option<String>,
    pub period: String,
    /// `May 2025`.
    pub period_label: String,
    pub org_unit: String,
    /// `Kabarole › Bukuku HC III`, where the synced hierarchy knows it.
    pub org_unit_path: Option<String>,
    pub attribute_option_combo: Option<String>,
    pub class: RefusalClass,
    pub error_code: Option<String>,
    /// Why, in words, and what DHIS2 needs.
    pub reason: String,
    pub values: i64,
    pub submissions: i64,
    /// Usernames of the partners whose values these are.
    pub partners: Vec<String>,
    /// When the oldest of them went on hold.
    pub oldest: DateTime<Utc>,
    /// When DHIS2 was last asked whether it would accept them now.
    pub last_checked_at: Option<DateTime<Utc>>,
}

/// Which held values an action applies to: those of one group, or with no field set, all
/// (a partner only ever selects its own). An empty string selects values without one (a
/// group without an attribute option combo, say).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct HeldSelection {
    #[serde(default)]
    pub server_id: Option<i64>,
    #[serde(default)]
    pub data_set: Option<String>,
    #[serde(default)]
    pub period: Option<String>,
    #[serde(default)]
    pub org_unit: Option<String>,
    #[serde(default)]
    pub attribute_option_combo: Option<String>,
    /// Why they are discarded (`POST /held/discard` requires it).
    #[serde(default)]
    pub reason: Option<String>,
}

/// What a re-check, release or discard did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldResult {
    /// Groups DHIS2 was asked about.
    pub checked: usize,
    /// Groups DHIS2 would now accept (or released anyway).
    pub opened: usize,
    /// Held values sent to DHIS2 again.
    pub released: usize,
    /// Held values given up (discarded, or older than `hold_max_days`).
    pub dropped: usize,
    /// Values still on hold afterwards.
    pub still_held: usize,
    /// Groups DHIS2 could not be asked about, and why.
    pub errors: Vec<String>,
}

/// Filters of `GET /logs/refused` and its export: values DHIS2 did not store. Dates are whole
/// days in the gateway's time zone (when the outcome was decided), inclusive.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct RefusedFilter {
    /// data, mapping, closed_period, approved, access or transient.
    pub class: Option<String>,
    /// DHIS2's error code (`E7636`).
    pub code: Option<String>,
    /// A data element (as sent) or the partner's key.
    pub element: Option<String>,
    pub org_unit: Option<String>,
    pub period: Option<String>,
    pub data_set: Option<String>,
    /// refused, held, released, discarded or expired (default: every one but released).
    pub outcome: Option<String>,
    /// Username of the partner.
    pub user: Option<String>,
    /// The DHIS2 server's name.
    pub server: Option<String>,
    pub from_date: Option<String>,
    pub to_date: Option<String>,
    pub page: Option<i64>,
    /// 1 to 500; 50 by default.
    pub page_size: Option<i64>,
    /// For the export: `csv` (the default) or `xlsx`.
    pub format: Option<String>,
}

/// A value DHIS2 did not store, with its submission.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefusedValue {
    pub submission_id: i64,
    pub submitted_at: DateTime<Utc>,
    /// Username of the partner.
    pub user: Option<String>,
    #[serde(flatten)]
    pub value: ValueOutcome,
}
