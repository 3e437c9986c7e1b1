//! Reporting completeness. From the metadata copy, a data set expects a report from each org
//! unit it is assigned to (open during the period) for each of its periods; a partner is
//! expected to send those its scope covers (its data sets and org-unit subtrees). A report is
//! received when the gateway got a value of one of the data set's elements for that org unit
//! and period (`report_receipts`, kept by a trigger); it is on time when the first arrived by
//! the period's end plus the data set's `timelyDays` (as DHIS2 counts timeliness from the
//! completion date; derived), in `server.timezone`. DHIS2's own completeness is not read.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use dhis2gw_wire::period::Period;
use dhis2gw_wire::{
    Completeness, CompletenessFilter, CompletenessRow, Page, PartnerCompleteness, PartnerScope, ReportCell,
    ReportCounts, ReportPeriod, ReportState, ReportSubmission, Role, ValueCounts,
};

use crate::access::identity::AuthUser;
use crate::app::AppState;
use crate::infra::error::{AppError, AppResult};
use crate::infra::export::{self, Export, Format};
use crate::infra::query::{paging, start_of_day};
use crate::metadata::catalog::DataSet;

/// Periods one report may span: eight years of months, a year and a bit of days.
const MAX_PERIODS: usize = 400;
/// Periods shown when `period_from` is not given: the last one and these before it.
const DEFAULT_PERIODS_BEFORE: usize = 5;

/// `GET /reports/completeness`: one page of rows, with the totals of all.
pub async fn completeness(state: &AppState, caller: &AuthUser, filter: &CompletenessFilter) -> AppResult<Completeness> {
    let (page, size, offset) = paging(filter.page, filter.page_size, 100)?;
    let report = Report::build(state, caller, filter).await?;
    let total_rows = report.rows.len() as i64;
    let shown = report.rows.into_iter().skip(usize::try_from(offset).unwrap_or(usize::MAX)).take(size as usize);
    Ok(Completeness {
        data_set: report.data_set.uid,
        data_set_name: report.data_set.name,
        period_type: report.data_set.period_type,
        timely_days: report.data_set.timely_days,
        level: filter.level,
        periods: report.periods,
        rows: Page::new(shown.collect(), total_rows, page, size),
        total: report.total,
        values: report.values,
        partners: report.partners,
        generated_at: report.generated_at,
    })
}

/// Columns of the export, one line per row and period.
const EXPORT_COLUMNS: [&str; 16] = [
    "org_unit",
    "name",
    "parent",
    "units",
    "period",
    "state",
    "expected",
    "on_time",
    "late",
    "missing",
    "due",
    "values_received",
    "values_stored",
    "values_held",
    "values_refused",
    "first_received_at",
];

/// `GET /reports/completeness/export`: every row, a line per row and period.
pub async fn export(state: &AppState, caller: &AuthUser, filter: &CompletenessFilter) -> AppResult<Export> {
    let format = Format::parse(filter.format.as_deref())?;
    let report = Report::build(state, caller, filter).await?;
    let name = format!("dhis2gw_completeness_{}", report.data_set.code.as_deref().unwrap_or(&report.data_set.uid));
    Ok(export::start(format, &name, "Completeness", &EXPORT_COLUMNS, move |mut out| async move {
        for row in report.rows {
            for cell in &row.cells {
                let line = vec![
                    row.org_unit.clone(),
                    row.name.clone(),
                    row.parent.clone().unwrap_or_default(),
                    row.units.to_string(),
                    cell.period.clone(),
                    cell.reports.state().as_str().to_string(),
                    cell.reports.expected.to_string(),
                    cell.reports.on_time.to_string(),
                    cell.reports.late.to_string(),
                    cell.reports.missing.to_string(),
                    cell.reports.due.to_string(),
                    cell.values.received.to_string(),
                    cell.values.stored.to_string(),
                    cell.values.held.to_string(),
                    cell.values.refused.to_string(),
                    cell.first_received_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                ];
                if out.push(line).await.is_err() {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }))
}

/// Submissions listed behind a report at most, the first received first.
const MAX_SUBMISSIONS: i64 = 500;

/// `GET /reports/completeness/submissions`: the submissions that sent the report's values.
pub async fn submissions(
    state: &AppState,
    caller: &AuthUser,
    filter: &CompletenessFilter,
) -> AppResult<Vec<ReportSubmission>> {
    let partner = partner_asked(state, caller, filter).await?;
    let selection = Selection::resolve(state, filter, partner).await?;
    let units: Vec<String> = selection.units.iter().map(|u| u.uid.clone()).collect();
    let rows = sqlx::query!(
        r#"SELECT r.submission_id, r.received_at, u.username AS "partner?", r.org_unit, o.name AS "org_unit_name?",
                  r.period, (SELECT count(*) FROM unnest(r.data_elements) e WHERE e = ANY($3)) AS "values!",
                  s.status AS "status?"
           FROM report_receipts r
           LEFT JOIN submission_log s ON s.id = r.submission_id
           LEFT JOIN users u ON u.id = r.user_id
           LEFT JOIN organisationunit o ON o.uid = r.org_unit
           WHERE r.period = ANY($1) AND r.org_unit = ANY($2)
             AND (r.data_set = $4 OR (r.data_set IS NULL AND r.data_elements && $3))
             AND ($5::bigint IS NULL OR r.user_id = $5)
           ORDER BY r.received_at, r.submission_id LIMIT $6"#,
        &selection.period_names,
        &units,
        &selection.elements,
        selection.data_set.uid,
        partner,
        MAX_SUBMISSIONS,
    )
    .fetch_all(&state.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ReportSubmission {
            submission_id: r.submission_id,
            received_at: r.received_at,
            partner: r.partner,
            org_unit: r.org_unit,
            org_unit_name: r.org_unit_name,
            period: r.period,
            values: r.values,
            status: r.status,
        })
        .collect())
}

/// For the `reports_missing` alert: per partner whose scope names data sets, and per such data
/// set, the reports missing in the last period whose timely days are over.
pub async fn missing_by_partner(state: &AppState) -> AppResult<Vec<MissingReports>> {
    let snapshot = state.metadata.snapshot();
    let partners = sqlx::query!(
        r#"SELECT id, username, scope AS "scope: sqlx::types::Json<PartnerScope>" FROM users
           WHERE role = 'partner' AND is_active AND jsonb_array_length(COALESCE(scope->'data_sets', '[]')) > 0
           ORDER BY username"#
    )
    .fetch_all(&state.db)
    .await?;
    let today = Utc::now().with_timezone(&state.config.server.timezone).date_naive();
    let mut missing = Vec::new();
    for partner in partners {
        for data_set in partner.scope.0.data_sets.iter().filter_map(|d| snapshot.data_sets.get(d)) {
            let Some(period) = last_overdue_period(data_set, today) else { continue };
            let filter = CompletenessFilter {
                data_set: Some(data_set.uid.clone()),
                period_from: Some(period.as_str().to_string()),
                period_to: Some(period.as_str().to_string()),
                ..Default::default()
            };
            let report = Report::compute(state, &filter, Some(partner.id)).await?;
            if report.total.missing > 0 {
                missing.push(MissingReports {
                    partner: partner.username.clone(),
                    data_set: data_set.name.clone(),
                    period: period.label(),
                    missing: report.total.missing,
                    expected: report.total.expected,
                    timely_until: timely_until(&period, data_set.timely_days),
                });
            }
        }
    }
    Ok(missing)
}

/// Reports a partner did not send for a period whose timely days are over.
pub struct MissingReports {
    pub partner: String,
    pub data_set: String,
    pub period: String,
    pub missing: i64,
    pub expected: i64,
    pub timely_until: NaiveDate,
}

/// The latest period of the data set's type whose last timely day is before `today`.
fn last_overdue_period(data_set: &DataSet, today: NaiveDate) -> Option<Period> {
    let mut period = Period::containing(&data_set.period_type, today)?;
    while timely_until(&period, data_set.timely_days) >= today {
        let before = period.previous();
        if before == period {
            return None;
        }
        period = before;
    }
    Some(period)
}

/// The last day a report for `period` counts as on time.
fn timely_until(period: &Period, timely_days: i64) -> NaiveDate {
    period.end().checked_add_days(Days::new(timely_days.max(0).unsigned_abs())).unwrap_or(NaiveDate::MAX)
}

/// An org unit the data set is assigned to, as the grid shows and rolls it up.
#[derive(Clone)]
struct Unit {
    uid: String,
    name: String,
    parent: Option<String>,
    path: String,
    opening: Option<NaiveDate>,
    closed: Option<NaiveDate>,
}

impl Unit {
    fn open_during(&self, period: &Period) -> bool {
        self.opening.is_none_or(|o| o <= period.end()) && self.closed.is_none_or(|c| c >= period.start())
    }

    /// Within one of `roots` (UIDs), or anywhere when there are none.
    fn within(&self, roots: &[String]) -> bool {
        roots.is_empty() || roots.iter().any(|root| self.path.split('/').any(|part| part == root))
    }
}

/// What arrived for one org unit and period from one partner.
#[derive(Clone, Copy, Default)]
struct Received {
    first: Option<DateTime<Utc>>,
    values: ValueCounts,
}

/// The whole report, before paging.
struct Report {
    data_set: DataSetHead,
    periods: Vec<ReportPeriod>,
    rows: Vec<CompletenessRow>,
    total: ReportCounts,
    values: ValueCounts,
    partners: Vec<PartnerCompleteness>,
    generated_at: DateTime<Utc>,
}

struct DataSetHead {
    uid: String,
    code: Option<String>,
    name: String,
    period_type: String,
    timely_days: i64,
}

/// What a report covers: the data set, its periods, the org units expected to report, and
/// the partners expected to (only `partner` when one is asked about).
struct Selection {
    data_set: DataSetHead,
    elements: Vec<String>,
    periods: Vec<Period>,
    /// The periods as DHIS2 names them, for queries.
    period_names: Vec<String>,
    units: Vec<Unit>,
    scopes: BTreeMap<i64, Expected>,
}

/// A partner expected to report the data set: who, and what its scope covers.
struct Expected {
    username: String,
    name: String,
    scope: PartnerScope,
}

impl Selection {
    async fn resolve(state: &AppState, filter: &CompletenessFilter, partner: Option<i64>) -> AppResult<Selection> {
        let snapshot = state.metadata.snapshot();
        let given = filter.data_set.as_deref().map(str::trim).filter(|d| !d.is_empty());
        let given =
            given.ok_or_else(|| AppError::invalid_field("data_set", "is required (a data set's UID or code)"))?;
        let data_set = snapshot.data_set(given).ok_or_else(|| {
            let why = if snapshot.is_loaded() { "" } else { "; DHIS2's metadata has not been synced yet" };
            AppError::invalid_field(
                "data_set",
                format!("'{given}' is neither the UID nor the code of a synced data set{why}"),
            )
        })?;
        let today = Utc::now().with_timezone(&state.config.server.timezone).date_naive();
        let periods = periods(data_set, filter, today)?;
        let elements: Vec<String> = data_set.elements.keys().cloned().collect();
        let period_names: Vec<String> = periods.iter().map(|p| p.as_str().to_string()).collect();
        let scopes = partner_scopes(state, &data_set.uid, &elements, &period_names, partner).await?;
        if let Some(id) = partner
            && !scopes.contains_key(&id)
        {
            return Err(AppError::invalid_field(
                "partner",
                format!("its scope does not include data set '{}'", data_set.name),
            ));
        }
        let within = match filter.org_unit.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
            Some(given) => match state.hierarchy.find(&state.db, given).await? {
                Some(unit) => vec![unit.uid],
                None => {
                    return Err(AppError::invalid_field(
                        "org_unit",
                        format!("'{given}' is neither the UID nor the code of an org unit in the synced hierarchy"),
                    ));
                }
            },
            None => Vec::new(),
        };
        let partner_roots =
            partner.and_then(|id| scopes.get(&id)).map(|e| e.scope.org_units.clone()).unwrap_or_default();
        let units = assigned_units(state, data_set)
            .await?
            .into_iter()
            .filter(|u| u.within(&within) && u.within(&partner_roots))
            .collect();
        Ok(Selection {
            data_set: DataSetHead {
                uid: data_set.uid.clone(),
                code: data_set.code.clone(),
                name: data_set.name.clone(),
                period_type: data_set.period_type.clone(),
                timely_days: data_set.timely_days,
            },
            elements,
            periods,
            period_names,
            units,
            scopes,
        })
    }
}

/// Who asks about whom: a partner only about itself.
async fn partner_asked(state: &AppState, caller: &AuthUser, filter: &CompletenessFilter) -> AppResult<Option<i64>> {
    if caller.role == Role::Partner {
        return Ok(Some(caller.id));
    }
    match filter.partner.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(given) => Ok(Some(partner_id(state, given).await?)),
        None => Ok(None),
    }
}

impl Report {
    /// The report `caller` may see: a partner sees only its own.
    async fn build(state: &AppState, caller: &AuthUser, filter: &CompletenessFilter) -> AppResult<Report> {
        Report::compute(state, filter, partner_asked(state, caller, filter).await?).await
    }

    async fn compute(state: &AppState, filter: &CompletenessFilter, partner: Option<i64>) -> AppResult<Report> {
        let tz = state.config.server.timezone;
        let now = Utc::now();
        let Selection { data_set, elements, periods, period_names, units, scopes } =
            Selection::resolve(state, filter, partner).await?;
        let unit_uids: Vec<String> = units.iter().map(|u| u.uid.clone()).collect();
        let received = received(state, &data_set.uid, &elements, &period_names, &unit_uids, partner).await?;

        let report_periods: Vec<ReportPeriod> = periods
            .iter()
            .map(|p| ReportPeriod {
                period: p.as_str().to_string(),
                label: p.label(),
                timely_until: timely_until(p, data_set.timely_days),
            })
            .collect();
        let deadlines: Vec<DateTime<Utc>> = report_periods
            .iter()
            .map(|p| {
                // A midnight a clock change skips: the deadline is that day's start in UTC.
                let next = p.timely_until.succ_opt().unwrap_or(NaiveDate::MAX);
                start_of_day(tz, next).unwrap_or_else(|| next.and_time(NaiveTime::MIN).and_utc())
            })
            .collect();
        let judge = |unit: &Unit, index: usize, from: &dyn Fn(&(String, String)) -> Option<Received>| {
            let period = &periods[index];
            let mut cell = ReportCell { period: period.as_str().to_string(), ..Default::default() };
            if !unit.open_during(period) {
                return cell;
            }
            cell.reports.expected = 1;
            let got = from(&(unit.uid.clone(), period.as_str().to_string())).unwrap_or_default();
            cell.values = got.values;
            cell.first_received_at = got.first;
            match got.first {
                Some(first) if first < deadlines[index] => cell.reports.on_time = 1,
                Some(_) => cell.reports.late = 1,
                None if now >= deadlines[index] => cell.reports.missing = 1,
                None => cell.reports.due = 1,
            }
            cell
        };

        // Every partner's own figures: its scope's units, its own receipts.
        let mut partners = Vec::new();
        for (id, expected) in &scopes {
            let mut counts = ReportCounts::default();
            for unit in units.iter().filter(|u| u.within(&expected.scope.org_units)) {
                for index in 0..periods.len() {
                    let from = |key: &(String, String)| received.get(&(key.0.clone(), key.1.clone(), *id)).copied();
                    counts.add(&judge(unit, index, &from).reports);
                }
            }
            partners.push(PartnerCompleteness {
                summary: summary(&expected.username, &counts, &data_set, &report_periods),
                partner: expected.username.clone(),
                name: expected.name.clone(),
                reports: counts,
            });
        }
        partners.sort_by(|a, b| a.partner.cmp(&b.partner));

        // The grid: whoever sent it (or the partner asked about).
        let mut merged: HashMap<(String, String), Received> = HashMap::new();
        for ((unit, period, _), got) in &received {
            let entry = merged.entry((unit.clone(), period.clone())).or_default();
            entry.first = earliest(entry.first, got.first);
            entry.values.add(&got.values);
        }
        let from = |key: &(String, String)| merged.get(key).copied();
        let mut rows: BTreeMap<String, CompletenessRow> = BTreeMap::new();
        let ancestors = ancestors(state, &units, filter.level).await?;
        for unit in &units {
            let (key, head) = match ancestors.get(&unit.uid) {
                Some(ancestor) => (ancestor.uid.clone(), ancestor),
                None => (unit.uid.clone(), unit),
            };
            let row = rows.entry(key).or_insert_with(|| CompletenessRow {
                org_unit: head.uid.clone(),
                name: head.name.clone(),
                parent: head.parent.clone(),
                units: 0,
                cells: periods
                    .iter()
                    .map(|p| ReportCell { period: p.as_str().to_string(), ..Default::default() })
                    .collect(),
                total: ReportCounts::default(),
            });
            row.units += 1;
            for index in 0..periods.len() {
                let cell = judge(unit, index, &from);
                let into = &mut row.cells[index];
                into.reports.add(&cell.reports);
                into.values.add(&cell.values);
                into.first_received_at = earliest(into.first_received_at, cell.first_received_at);
                row.total.add(&cell.reports);
            }
        }
        let mut rows: Vec<CompletenessRow> = rows.into_values().collect();
        rows.sort_by(|a, b| (&a.parent, a.name.to_lowercase()).cmp(&(&b.parent, b.name.to_lowercase())));
        let (mut total, mut values) = (ReportCounts::default(), ValueCounts::default());
        for row in &rows {
            total.add(&row.total);
            row.cells.iter().for_each(|c| values.add(&c.values));
        }
        Ok(Report { data_set, periods: report_periods, rows, total, values, partners, generated_at: now })
    }
}

/// The periods asked for, checked against the data set's period type.
fn periods(data_set: &DataSet, filter: &CompletenessFilter, today: NaiveDate) -> AppResult<Vec<Period>> {
    let parse = |field: &str, text: Option<&str>| -> AppResult<Option<Period>> {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
        let period = Period::parse(text).map_err(|e| AppError::invalid_field(field, e))?;
        if period.period_type() != data_set.period_type {
            return Err(AppError::invalid_field(
                field,
                format!(
                    "'{text}' is a {} period; data set '{}' has {} periods",
                    period.period_type(),
                    data_set.name,
                    data_set.period_type
                ),
            ));
        }
        Ok(Some(period))
    };
    let to = match parse("period_to", filter.period_to.as_deref())? {
        Some(to) => to,
        None => Period::containing(&data_set.period_type, today).ok_or_else(|| {
            AppError::invalid_field(
                "data_set",
                format!("its period type '{}' is not one DHIS2 has", data_set.period_type),
            )
        })?,
    };
    let from = match parse("period_from", filter.period_from.as_deref())? {
        Some(from) => from,
        None => (0..DEFAULT_PERIODS_BEFORE).fold(to.clone(), |p, _| p.previous()),
    };
    if from.start() > to.start() {
        return Err(AppError::invalid_field(
            "period_from",
            format!("'{}' is after period_to '{}'", from.as_str(), to.as_str()),
        ));
    }
    let mut periods = vec![from];
    while let Some(last) = periods.last()
        && last != &to
    {
        if periods.len() == MAX_PERIODS {
            return Err(AppError::invalid_field("period_to", format!("a report spans at most {MAX_PERIODS} periods")));
        }
        periods.push(last.next());
    }
    Ok(periods)
}

/// A partner by username or UID.
async fn partner_id(state: &AppState, given: &str) -> AppResult<i64> {
    sqlx::query_scalar!(
        "SELECT id FROM users WHERE role = 'partner' AND (lower(username) = lower($1) OR uid = $1) LIMIT 1",
        given
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| {
        AppError::invalid_field("partner", format!("'{given}' is neither the username nor the UID of a partner"))
    })
}

/// The partners expected to report the data set, with their scopes: those whose scope names
/// it, and those without a data-set scope that sent values for it in `periods`. Only
/// `partner` when given.
async fn partner_scopes(
    state: &AppState,
    data_set: &str,
    elements: &[String],
    periods: &[String],
    partner: Option<i64>,
) -> AppResult<BTreeMap<i64, Expected>> {
    let rows = sqlx::query!(
        r#"SELECT u.id, u.username, u.firstname, u.lastname, u.scope AS "scope: sqlx::types::Json<PartnerScope>"
           FROM users u
           WHERE u.role = 'partner' AND ($2::bigint IS NULL OR u.id = $2)
             AND (u.scope->'data_sets' ? $1
                  OR (jsonb_array_length(COALESCE(u.scope->'data_sets', '[]')) = 0
                      AND ($2::bigint IS NOT NULL
                           OR EXISTS (SELECT 1 FROM report_receipts r
                                      WHERE r.period = ANY($4) AND r.user_id = u.id
                                        AND (r.data_set = $1 OR (r.data_set IS NULL AND r.data_elements && $3))))))"#,
        data_set,
        partner,
        elements,
        periods
    )
    .fetch_all(&state.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let name = format!("{} {}", r.firstname, r.lastname).trim().to_string();
            (r.id, Expected { username: r.username, name, scope: r.scope.0 })
        })
        .collect())
}

/// The org units the data set is assigned to, with where they sit in the synced hierarchy;
/// one not synced (yet) is shown by its UID.
async fn assigned_units(state: &AppState, data_set: &DataSet) -> AppResult<Vec<Unit>> {
    let uids: Vec<String> = data_set.org_units.iter().cloned().collect();
    let known = sqlx::query!(
        r#"SELECT o.uid AS "uid!", o.name AS "name!", p.name AS "parent?", o.path AS "path!", o.opening_date, o.closed_date
           FROM organisationunit o LEFT JOIN organisationunit p ON p.uid = o.parent_uid
           WHERE o.uid = ANY($1)"#,
        &uids
    )
    .fetch_all(&state.db)
    .await?;
    let mut units: Vec<Unit> = known
        .into_iter()
        .map(|o| Unit {
            uid: o.uid,
            name: o.name,
            parent: o.parent,
            path: o.path,
            opening: o.opening_date,
            closed: o.closed_date,
        })
        .collect();
    let found: HashSet<String> = units.iter().map(|u| u.uid.clone()).collect();
    for uid in uids.into_iter().filter(|u| !found.contains(u)) {
        let path = format!("/{uid}");
        units.push(Unit { name: uid.clone(), uid, parent: None, path, opening: None, closed: None });
    }
    Ok(units)
}

/// Each unit's ancestor at `level`, for rolling rows up (units at or above it stay themselves).
async fn ancestors(state: &AppState, units: &[Unit], level: Option<i32>) -> AppResult<HashMap<String, Unit>> {
    let Some(level) = level else { return Ok(HashMap::new()) };
    let deepest: i32 =
        sqlx::query_scalar!("SELECT COALESCE(max(hierarchylevel), 0) AS \"deepest!\" FROM organisationunit")
            .fetch_one(&state.db)
            .await?;
    if !(1..=deepest.max(1)).contains(&level) {
        return Err(AppError::invalid_field("level", format!("must be a hierarchy level, 1 to {}", deepest.max(1))));
    }
    let index = usize::try_from(level).unwrap_or(0);
    let of: HashMap<&str, &str> = units
        .iter()
        .filter_map(|u| u.path.split('/').filter(|p| !p.is_empty()).nth(index - 1).map(|a| (u.uid.as_str(), a)))
        .filter(|(unit, ancestor)| unit != ancestor)
        .collect();
    let wanted: Vec<String> = of.values().map(|a| a.to_string()).collect::<HashSet<_>>().into_iter().collect();
    let heads = sqlx::query!(
        r#"SELECT o.uid AS "uid!", o.name AS "name!", p.name AS "parent?", o.path AS "path!" FROM organisationunit o
           LEFT JOIN organisationunit p ON p.uid = o.parent_uid WHERE o.uid = ANY($1)"#,
        &wanted
    )
    .fetch_all(&state.db)
    .await?;
    let heads: HashMap<String, Unit> = heads
        .into_iter()
        .map(|h| {
            let unit =
                Unit { uid: h.uid.clone(), name: h.name, parent: h.parent, path: h.path, opening: None, closed: None };
            (h.uid, unit)
        })
        .collect();
    Ok(of.into_iter().filter_map(|(unit, ancestor)| Some((unit.to_string(), heads.get(ancestor)?.clone()))).collect())
}

/// What arrived per (org unit, period, partner): the first value's time and the values by
/// what the primary DHIS2 made of them. A submission retention removed counts as stored.
async fn received(
    state: &AppState,
    data_set: &str,
    elements: &[String],
    periods: &[String],
    units: &[String],
    partner: Option<i64>,
) -> AppResult<HashMap<(String, String, i64), Received>> {
    let primary = state.primary_server_id.unwrap_or_default();
    let rows = sqlx::query!(
        r#"WITH r AS (
               SELECT r.submission_id, r.org_unit, r.period, COALESCE(r.user_id, 0) AS partner, r.received_at,
                      (SELECT count(*) FROM unnest(r.data_elements) e WHERE e = ANY($3)) AS "values"
               FROM report_receipts r
               WHERE r.period = ANY($1) AND r.org_unit = ANY($2)
                 AND (r.data_set = $4 OR (r.data_set IS NULL AND r.data_elements && $3))
                 AND ($5::bigint IS NULL OR r.user_id = $5)),
           o AS (
               SELECT o.submission_id, o.org_unit, o.period,
                      count(*) FILTER (WHERE o.outcome = 'held') AS held,
                      count(*) FILTER (WHERE o.outcome IN ('refused', 'discarded', 'expired')) AS refused
               FROM value_outcomes o JOIN submission_destinations d ON d.id = o.destination_id AND d.server_id = $6
               WHERE o.period = ANY($1) AND o.org_unit = ANY($2) AND o.data_element = ANY($3)
                 AND o.submission_id IN (SELECT submission_id FROM r)
               GROUP BY 1, 2, 3)
           SELECT r.org_unit AS "org_unit!", r.period AS "period!", r.partner AS "partner!",
                  min(r.received_at) AS "first!",
                  sum(r."values")::bigint AS "received!",
                  COALESCE(sum(r."values") FILTER (WHERE d.status IS NULL OR d.status IN ('succeeded', 'warning', 'held')), 0)::bigint
                      AS "delivered!",
                  COALESCE(sum(o.held), 0)::bigint AS "held!",
                  COALESCE(sum(o.refused), 0)::bigint AS "refused!"
           FROM r
           LEFT JOIN submission_destinations d ON d.submission_id = r.submission_id AND d.server_id = $6
           LEFT JOIN o ON o.submission_id = r.submission_id AND o.org_unit = r.org_unit AND o.period = r.period
           GROUP BY 1, 2, 3"#,
        periods,
        units,
        elements,
        data_set,
        partner,
        primary,
    )
    .fetch_all(&state.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let values = ValueCounts {
                received: r.received,
                // Delivered and neither refused nor on hold; a value can be both delivered and
                // held only when DHIS2 held part of a delivery.
                stored: (r.delivered - r.held - r.refused).max(0),
                held: r.held,
                refused: r.refused,
            };
            ((r.org_unit, r.period, r.partner), Received { first: Some(r.first), values })
        })
        .collect())
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// "lab-system: 212 of 240 expected monthly reports for May 2025, 9 late, 19 missing".
fn summary(partner: &str, counts: &ReportCounts, data_set: &DataSetHead, periods: &[ReportPeriod]) -> String {
    let kind = words(&data_set.period_type);
    let span = match (periods.first(), periods.last()) {
        (Some(first), Some(last)) if first.period == last.period => first.label.clone(),
        (Some(first), Some(last)) => format!("{} to {}", first.label, last.label),
        _ => String::new(),
    };
    let mut text = format!(
        "{partner}: {} of {} expected {kind} reports of {} for {span}, {} late, {} missing",
        counts.received(),
        counts.expected,
        data_set.name,
        counts.late,
        counts.missing
    );
    if counts.due > 0 {
        text.push_str(&format!(", {} {}", counts.due, ReportState::Due.label().to_lowercase()));
    }
    text
}

/// `SixMonthlyApril` → `six-monthly April`: a period type as a phrase.
fn words(period_type: &str) -> String {
    let mut out = String::new();
    for (i, c) in period_type.char_indices() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c);
    }
    let lower = out.to_lowercase();
    lower.replace("six monthly", "six-monthly").replace("bi ", "bi-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_types_read_as_words() {
        assert_eq!(words("Monthly"), "monthly");
        assert_eq!(words("SixMonthlyApril"), "six-monthly april");
        assert_eq!(words("BiWeekly"), "bi-weekly");
        assert_eq!(words("WeeklyWednesday"), "weekly wednesday");
    }
}
