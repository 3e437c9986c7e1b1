//! Metadata reads that DHIS2 clients make before posting (`/dhis2/api/dataSets`, …), checked
//! before they reach DHIS2 with the gateway's own service account.
//!
//! The service account can read far more than a partner may (users, other partners' data),
//! so a read passes only as an exact, allow-listed resource built from validated path
//! segments and allow-listed query parameters, and its answer loses every property that
//! describes DHIS2's users. A raw path is never joined into a URL: `..`, `.` and encoded
//! separators (`%2e%2e`, `%2f`) are refused before and after decoding, because URL parsing
//! would collapse them into another resource.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::Dhis2Client;
use crate::infra::uid;

/// Collections a client may list or read one object of.
const COLLECTIONS: [&str; 4] = ["dataSets", "dataElements", "categoryCombos", "organisationUnits"];
/// Query parameters of a collection read; any other is refused.
const LIST_PARAMETERS: [&str; 7] = ["fields", "filter", "order", "paging", "page", "pageSize", "rootJunction"];
/// Only organisation units take these (levels of the hierarchy).
const ORG_UNIT_PARAMETERS: [&str; 2] = ["level", "maxLevel"];
/// Properties that describe DHIS2's users or sharing: never filtered or ordered on, and
/// removed from every answer.
const PRIVATE_PROPERTIES: [&str; 10] = [
    "users",
    "user",
    "createdBy",
    "lastUpdatedBy",
    "userAccesses",
    "userGroupAccesses",
    "sharing",
    "userGroups",
    "userCredentials",
    "dataViewOrganisationUnits",
];
/// What `/api/system/info` may tell a partner: the version and calendar, not the server's
/// paths, database or environment.
const SYSTEM_INFO_FIELDS: [&str; 9] = [
    "version",
    "revision",
    "buildTime",
    "serverDate",
    "serverTimeZoneId",
    "serverTimeZoneDisplayName",
    "calendar",
    "dateFormat",
    "systemName",
];

/// Bytes of answers kept, and for how long at most: beyond `server.dhis2_api_cache_ttl` they
/// are served only while DHIS2 is down, and never older than this.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;
const CACHE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// An answer as cached: when it was fetched, its status and its (redacted) body.
pub type CachedAnswer = (Instant, u16, String);

/// The cache of answers, bounded by their size in bytes and by age (not by their number:
/// a few huge answers must not take the memory of thousands of small ones).
pub fn answer_cache() -> moka::sync::Cache<String, CachedAnswer> {
    moka::sync::Cache::builder()
        .max_capacity(CACHE_BYTES)
        .weigher(|key: &String, (_, _, body): &CachedAnswer| u32::try_from(key.len() + body.len()).unwrap_or(u32::MAX))
        .time_to_live(CACHE_MAX_AGE)
        .build()
}

/// Why a read got no answer.
pub enum Unanswered {
    /// No DHIS2 server is configured.
    NoServer,
    /// DHIS2 did not answer usefully (why), and nothing is cached.
    Down(String),
}

/// Reads `read` from DHIS2 through `cache`: an answer younger than `ttl` is served without
/// asking; a redacted 200 is cached; while DHIS2 cannot answer, the cached answer is served
/// however old (up to the cache's own limit).
pub async fn read_through(
    client: Option<&Dhis2Client>,
    cache: &moka::sync::Cache<String, CachedAnswer>,
    ttl: Duration,
    read: &MetadataRead,
    upstream: &Upstream,
) -> Result<(u16, String), Unanswered> {
    let key = read.cache_key();
    let cached = cache.get(&key);
    if let Some((at, status, body)) = &cached
        && at.elapsed() < ttl
    {
        return Ok((*status, body.clone()));
    }
    let client = client.ok_or(Unanswered::NoServer)?;
    let answer = client.get_resource(&upstream.path, &upstream.query).await;
    let redacted =
        answer.as_ref().ok().filter(|a| a.status < 500).and_then(|a| Some((a.status, read.redact(&a.body)?)));
    match (redacted, cached) {
        (Some((status, body)), _) => {
            if status == 200 {
                cache.insert(key, (Instant::now(), 200, body.clone()));
            }
            Ok((status, body))
        }
        (None, Some((_, status, body))) => Ok((status, body)),
        (None, None) => Err(Unanswered::Down(match answer {
            Ok(answer) if answer.status < 500 => "it did not answer JSON".to_string(),
            Ok(answer) => format!("HTTP {}", answer.status),
            Err(e) => e.message,
        })),
    }
}

/// A metadata read the gateway will make on a client's behalf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataRead {
    /// `/api/me`: answered by the gateway with the caller's own identity, never DHIS2's.
    Me,
    /// `/api/system/info`.
    SystemInfo,
    /// `/api/<collection>[/<uid>]` with checked query parameters.
    Collection { name: &'static str, uid: Option<String>, query: Vec<(String, String)> },
}

/// The DHIS2 API request a read becomes: path segments below `/api` and query pairs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Upstream {
    pub path: Vec<String>,
    pub query: Vec<(String, String)>,
}

/// Why a read is refused; `NotSupported` is answered like any unknown route.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    NotSupported,
    BadParameter(String),
}

impl MetadataRead {
    /// Checks a read: `raw_path` as it came on the wire (still percent-encoded) below
    /// `/api/`, and the raw query string.
    pub fn parse(raw_path: &str, raw_query: Option<&str>) -> Result<MetadataRead, Refusal> {
        let segments: Vec<&str> = raw_path.trim_start_matches('/').split('/').collect();
        // Plain names and UIDs only: no '%' (so nothing is decoded), no dots, no empty segment.
        if !segments.iter().all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')) {
            return Err(Refusal::NotSupported);
        }
        let query: Vec<(String, String)> =
            form_urlencoded::parse(raw_query.unwrap_or_default().as_bytes()).into_owned().collect();
        match segments.as_slice() {
            ["me"] => Ok(MetadataRead::Me),
            ["system", "info"] => {
                only_parameters(&query, &["fields"])?;
                Ok(MetadataRead::SystemInfo)
            }
            [collection, rest @ ..] if rest.len() <= 1 => {
                let name = *COLLECTIONS.iter().find(|c| *c == collection).ok_or(Refusal::NotSupported)?;
                let uid = match rest {
                    [] => None,
                    [id] if uid::is_valid(id) => Some(id.to_string()),
                    _ => return Err(Refusal::NotSupported),
                };
                let extra: &[&str] = if name == "organisationUnits" { &ORG_UNIT_PARAMETERS } else { &[] };
                let allowed: Vec<&str> = LIST_PARAMETERS.iter().chain(extra).copied().collect();
                only_parameters(&query, &allowed)?;
                check_values(&query)?;
                Ok(MetadataRead::Collection { name, uid, query })
            }
            _ => Err(Refusal::NotSupported),
        }
    }

    /// The DHIS2 API path segments and query to ask for; `None` for `/me`.
    pub fn upstream(&self) -> Option<Upstream> {
        match self {
            MetadataRead::Me => None,
            MetadataRead::SystemInfo => {
                Some(Upstream { path: vec!["system".into(), "info".into()], query: Vec::new() })
            }
            MetadataRead::Collection { name, uid, query } => {
                let mut path = vec![name.to_string()];
                path.extend(uid.clone());
                Some(Upstream { path, query: query.clone() })
            }
        }
    }

    /// One key per distinct read. Every caller gets the same answer for it (DHIS2 sees one
    /// account, the gateway's; `/me` is never cached), so the cache is shared.
    pub fn cache_key(&self) -> String {
        let Upstream { path, mut query } = self.upstream().unwrap_or_default();
        query.sort();
        let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
        format!("{}?{query}", path.join("/"))
    }

    /// DHIS2's answer with what a partner may not read taken out; `None` when the answer
    /// is not JSON (passed on as an error instead).
    pub fn redact(&self, body: &str) -> Option<String> {
        let mut answer: Value = serde_json::from_str(body).ok()?;
        match self {
            MetadataRead::SystemInfo => {
                if let Value::Object(info) = &mut answer {
                    info.retain(|key, _| SYSTEM_INFO_FIELDS.contains(&key.as_str()));
                }
            }
            _ => remove_private(&mut answer),
        }
        Some(answer.to_string())
    }
}

fn only_parameters(query: &[(String, String)], allowed: &[&str]) -> Result<(), Refusal> {
    match query.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        Some((key, _)) => Err(Refusal::BadParameter(format!(
            "Query parameter '{key}' is not accepted by the gateway here; allowed: {}",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

fn check_values(query: &[(String, String)]) -> Result<(), Refusal> {
    for (key, value) in query {
        let valid = match key.as_str() {
            "paging" => matches!(value.as_str(), "true" | "false"),
            "page" | "pageSize" | "level" | "maxLevel" => value.parse::<u32>().is_ok(),
            "rootJunction" => matches!(value.to_ascii_uppercase().as_str(), "AND" | "OR"),
            // `filter=users.username:eq:x` would probe who exists: the property path (before
            // the first ':') must not touch a private property.
            "filter" | "order" => {
                let property = value.split(':').next().unwrap_or_default();
                !property.split(['.', ',']).any(is_private)
            }
            _ => true,
        };
        if !valid {
            return Err(Refusal::BadParameter(format!(
                "Query parameter '{key}' has a value the gateway does not accept: '{value}'"
            )));
        }
    }
    Ok(())
}

fn is_private(property: &str) -> bool {
    PRIVATE_PROPERTIES.iter().any(|p| p.eq_ignore_ascii_case(property.trim()))
}

fn remove_private(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !is_private(key));
            map.values_mut().for_each(remove_private);
        }
        Value::Array(items) => items.iter_mut().for_each(remove_private),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(path: &str) -> bool {
        MetadataRead::parse(path, None).is_err()
    }

    #[test]
    fn traversal_and_encoded_separators_are_refused_before_and_after_decoding() {
        for path in [
            "dataSets/../me",
            "dataSets/%2e%2e/me",
            "dataSets/%2E%2E/users",
            "dataSets/%252e%252e/me",
            "dataSets%2f..%2fusers",
            "dataSets/./x",
            "dataSets//users",
            "dataSets/..%5cusers",
            "dataSets/abc.def",
            "users",
            "dataValueSets",
            "trackedEntities",
            "dataSets/NotAUid/dataValues",
            "organisationUnits/OrgFac00001/users",
            "me/authorization/ALL",
            "system/info/x",
        ] {
            assert!(refused(path), "{path} must be refused");
        }
    }

    #[test]
    fn exact_resources_pass_with_their_parameters() {
        let read = MetadataRead::parse("dataSets/pBOMPrpg1QY", Some("fields=id,name&paging=false")).unwrap();
        assert_eq!(read.upstream().unwrap().path, vec!["dataSets", "pBOMPrpg1QY"]);
        assert_eq!(MetadataRead::parse("me", None), Ok(MetadataRead::Me));
        assert!(MetadataRead::parse("organisationUnits", Some("filter=level:eq:4&fields=id&level=2")).is_ok());
        assert_eq!(
            MetadataRead::parse("dataSets", Some("level=2")),
            Err(Refusal::BadParameter(
                "Query parameter 'level' is not accepted by the gateway here; allowed: fields, filter, order, paging, page, pageSize, rootJunction"
                    .into()
            ))
        );
        for query in ["userOnly=true", "filter=users.username:eq:admin", "order=createdBy:asc", "pageSize=lots"] {
            assert!(
                matches!(MetadataRead::parse("organisationUnits", Some(query)), Err(Refusal::BadParameter(_))),
                "{query}"
            );
        }
    }

    #[test]
    fn answers_lose_user_properties_and_system_info_its_internals() {
        let read = MetadataRead::parse("organisationUnits", None).unwrap();
        let body = r#"{"organisationUnits":[{"id":"OrgFac00001","users":[{"id":"U1"}],"createdBy":{"username":"admin"},"children":[{"id":"x","user":{"id":"U2"}}]}]}"#;
        let redacted: Value = serde_json::from_str(&read.redact(body).unwrap()).unwrap();
        assert_eq!(redacted, serde_json::json!({"organisationUnits":[{"id":"OrgFac00001","children":[{"id":"x"}]}]}));
        let info = MetadataRead::SystemInfo
            .redact(r#"{"version":"2.40.5","databaseInfo":{"user":"dhis"},"externalDirectory":"/opt/dhis2"}"#)
            .unwrap();
        assert_eq!(info, r#"{"version":"2.40.5"}"#);
    }

    #[test]
    fn the_answer_cache_is_bounded_by_bytes_and_age() {
        let cache = answer_cache();
        let megabyte = "x".repeat(1024 * 1024);
        for i in 0..200 {
            cache.insert(format!("dataSets?page={i}"), (std::time::Instant::now(), 200, megabyte.clone()));
        }
        cache.run_pending_tasks();
        assert!(cache.weighted_size() <= CACHE_BYTES, "{} bytes kept", cache.weighted_size());
        assert!(cache.entry_count() < 100, "{} answers of 1 MiB kept", cache.entry_count());
        assert_eq!(cache.policy().time_to_live(), Some(CACHE_MAX_AGE));
    }

    #[test]
    fn the_cache_key_does_not_depend_on_parameter_order() {
        let a = MetadataRead::parse("dataSets", Some("fields=id&paging=false")).unwrap();
        let b = MetadataRead::parse("dataSets", Some("paging=false&fields=id")).unwrap();
        assert_eq!(a.cache_key(), b.cache_key());
    }
}
