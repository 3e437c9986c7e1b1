//! The gateway's REST routes below `/api/v2`, as the gateway mounts them and the console
//! calls them. `{name}` marks a path parameter; [`fill`] puts values in.

pub const ADX: &str = "/adx";
pub const AGGREGATE: &str = "/aggregate";
pub const AGGREGATE_FILE: &str = "/aggregate/file";
pub const AGGREGATE_FILE_PREVIEW: &str = "/aggregate/file/preview";
pub const AGGREGATE_FILE_TEMPLATE: &str = "/aggregate/file/template";
pub const REQUEUE_BATCH: &str = "/aggregate/reenqueue/batch";
pub const REQUEUE_TASK: &str = "/aggregate/reenqueue/{task_id}";
pub const ALERTS: &str = "/alerts";
pub const ALERT_NOTIFICATIONS: &str = "/alerts/notifications";
pub const ALERT_RULES: &str = "/alerts/rules";
pub const ALERT_RULE: &str = "/alerts/rules/{name}";
pub const ALERT_RULE_CHECK: &str = "/alerts/rules/{name}/check";
pub const ALERT_TEST: &str = "/alerts/test";
pub const AUDIT: &str = "/audit";
pub const AUDIT_ACTIONS: &str = "/audit/actions";
pub const AUDIT_EXPORT: &str = "/audit/export";
pub const FHIR: &str = "/fhir";
pub const FHIR_MEASURE_REPORT: &str = "/fhir/MeasureReport";
pub const HELD: &str = "/held";
pub const HELD_DISCARD: &str = "/held/discard";
pub const HELD_RECHECK: &str = "/held/recheck";
pub const HELD_RELEASE: &str = "/held/release";
pub const LOGS: &str = "/logs";
pub const LOGS_EXPORT: &str = "/logs/export";
pub const LOGS_REFUSED_EXPORT: &str = "/logs/refused/export";
pub const LOGS_REFUSED: &str = "/logs/refused";
pub const LOGS_DELETE: &str = "/logs/delete";
pub const LOGS_PURGE: &str = "/logs/purge";
pub const LOG: &str = "/logs/{id}";
pub const LOG_RESTART: &str = "/logs/{id}/restart";
pub const MAPPINGS: &str = "/mappings";
pub const MAPPINGS_EXPORT: &str = "/mappings/export/excel";
pub const MAPPINGS_IMPORT_CSV: &str = "/mappings/import/csv";
pub const MAPPINGS_IMPORT_EXCEL: &str = "/mappings/import/excel";
pub const MAPPINGS_TEMPLATE: &str = "/mappings/template";
pub const MAPPING: &str = "/mappings/{id}";
pub const MAPPING_REQUEUE_REFUSED: &str = "/mappings/{id}/requeue-refused";
pub const ME: &str = "/me";
pub const METADATA: &str = "/metadata";
pub const METADATA_OBJECTS: &str = "/metadata/objects";
pub const METADATA_SYNC: &str = "/metadata/sync";
pub const ORGUNITS: &str = "/orgunits";
pub const ORGUNIT_LEVELS: &str = "/orgunits/levels";
pub const ORGUNITS_SYNC: &str = "/orgunits/sync";
pub const OVERVIEW: &str = "/overview";
pub const REPORTS_COMPLETENESS: &str = "/reports/completeness";
pub const REPORTS_COMPLETENESS_EXPORT: &str = "/reports/completeness/export";
pub const REPORTS_COMPLETENESS_SUBMISSIONS: &str = "/reports/completeness/submissions";
pub const SERVERS: &str = "/servers";
pub const SERVER: &str = "/servers/{uid}";
pub const TRACKER: &str = "/tracker";
pub const USER_LEGACY: &str = "/user";
pub const USERS: &str = "/users";
pub const SIGN_IN: &str = "/users/getToken";
pub const REFRESH: &str = "/users/refreshToken";
pub const SIGN_OUT: &str = "/users/signOut";
pub const USER: &str = "/users/{uid}";
pub const USER_TOKENS: &str = "/users/{uid}/tokens";
pub const USER_TOKEN: &str = "/users/{uid}/tokens/{id}";
pub const USER_TOKEN_ROTATE: &str = "/users/{uid}/tokens/{id}/rotate";
pub const USER_ACCESS: &str = "/users/{uid}/access";

/// `route` with its `{…}` parameters replaced by `values`, in order.
pub fn fill(route: &str, values: &[&dyn std::fmt::Display]) -> String {
    let mut path = String::with_capacity(route.len() + 16);
    let (mut rest, mut values) = (route, values.iter());
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        path.push_str(&rest[..open]);
        match values.next() {
            Some(value) => path.push_str(&value.to_string()),
            None => path.push_str(&rest[open..close]),
        }
        rest = &rest[close..];
    }
    path.push_str(rest);
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_filled_in_order() {
        assert_eq!(fill(USER_TOKEN, &[&"Abc", &7]), "/users/Abc/tokens/7");
        assert_eq!(fill(LOGS, &[]), "/logs");
        assert_eq!(fill(LOG, &[]), "/logs/{id}", "a missing value leaves the parameter");
    }
}
