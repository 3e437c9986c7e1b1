//! Configuration: one typed struct, layered from built-in defaults, the YAML file, then
//! environment variables, remembering where every value came from.
//!
//! Key and variable names are those of the original service's documentation (typos
//! included, e.g. `DHIS2GW_MIGRATTIONS_DIR`), plus clean spellings and the keys a
//! production gateway needs. Values are read leniently (`"9090"` for a port, `"yes"` for a
//! boolean, `"a,b"` for a list) because environment variables are always strings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use dhis2gw_wire::{AlertRule, IntakeValidation, RegisterCompletion};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const DEFAULT_CONFIG_PATH: &str = "/etc/dhis2gw/dhis2gw.yml";
const MIN_JWT_SECRET_BYTES: usize = 32;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub database: DatabaseConfig,
    pub server: ServerConfig,
    pub api: ApiConfig,
    pub alerts: AlertsConfig,
    pub retention: RetentionConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    pub uri: DatabaseUri,
    #[serde(deserialize_with = "lenient::from_str")]
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            uri: DatabaseUri("postgres://username:password@localhost/dhis2gw?sslmode=disable".into()),
            max_connections: 20,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    #[serde(deserialize_with = "lenient::string")]
    pub host: String,
    #[serde(deserialize_with = "lenient::from_str")]
    pub port: u16,
    /// `host:port` or a `redis://` URL, whose password is printed masked.
    #[serde(deserialize_with = "lenient::from_str")]
    pub redis_address: RedisAddress,
    #[serde(deserialize_with = "lenient::from_str")]
    pub redis_db: u32,
    /// Prefix of every Redis key the gateway's queues use.
    #[serde(deserialize_with = "lenient::string")]
    pub queue_prefix: String,
    #[serde(deserialize_with = "lenient::from_str")]
    pub max_retries: u32,
    #[serde(deserialize_with = "lenient::from_str")]
    pub max_concurrent: u32,
    /// Seconds; the base of the retry back-off.
    #[serde(deserialize_with = "lenient::from_str")]
    pub request_process_interval: u64,
    #[serde(deserialize_with = "lenient::string")]
    pub templates_directory: String,
    #[serde(deserialize_with = "lenient::string")]
    pub static_directory: String,
    /// Serve the web console at `/console/`.
    #[serde(deserialize_with = "lenient::bool")]
    pub console_enabled: bool,
    /// The console's files (what trunk builds into `ui/dist/`); looked at on every request.
    #[serde(deserialize_with = "lenient::string")]
    pub console_directory: String,
    #[serde(deserialize_with = "lenient::string")]
    pub logdir: String,
    #[serde(deserialize_with = "lenient::string")]
    pub docs_directory: String,
    /// A directory (or `file://` URL) of SQL migrations, or `embedded` for the set built into
    /// the binary. The documented default is used when it exists, else the embedded set.
    #[serde(deserialize_with = "lenient::string")]
    pub migrations_dir: String,
    #[serde(deserialize_with = "lenient::from_str", serialize_with = "serialize_display")]
    pub timezone: chrono_tz::Tz,
    /// Signs the access tokens; at least 32 bytes.
    pub jwt_secret: Secret,
    /// A file holding the JWT secret, read when `jwt_secret` is empty (the Debian package
    /// generates one on first install).
    #[serde(deserialize_with = "lenient::string")]
    pub jwt_secret_file: String,
    #[serde(deserialize_with = "lenient::from_str")]
    pub access_token_ttl: u64,
    #[serde(deserialize_with = "lenient::from_str")]
    pub refresh_token_ttl: u64,
    /// Seconds a token from `POST /users/getToken` with Basic credentials and no body lives:
    /// the original's partner tokens, which scripts fetch once and keep sending.
    #[serde(deserialize_with = "lenient::from_str")]
    pub partner_token_ttl: u64,
    /// Seconds a sign-in lasts at most, however often its tokens are refreshed.
    #[serde(deserialize_with = "lenient::from_str")]
    pub session_max_age: u64,
    /// Largest request body accepted, in bytes.
    #[serde(deserialize_with = "lenient::from_str")]
    pub max_body_size: usize,
    #[serde(deserialize_with = "lenient::list")]
    pub cors_allowed_origins: Vec<String>,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For`, `-Proto` and
    /// `-Host` are believed; from anyone else those headers are ignored.
    #[serde(deserialize_with = "lenient::networks")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// PEM certificate (chain) and private key: the gateway then serves HTTPS, and reads
    /// both again on SIGHUP. Both or neither.
    #[serde(deserialize_with = "lenient::string")]
    pub tls_cert_file: String,
    #[serde(deserialize_with = "lenient::string")]
    pub tls_key_file: String,
    /// The gateway's address as clients reach it (`https://gw.example.org`), for the
    /// absolute URLs it answers with; when empty they come from a trusted proxy's headers,
    /// or are relative.
    #[serde(deserialize_with = "lenient::string")]
    pub public_url: String,
    pub log_format: LogFormat,
    #[serde(deserialize_with = "lenient::string")]
    pub log_level: String,
    /// Daily log files kept in `logdir`; 0 keeps them all.
    #[serde(deserialize_with = "lenient::from_str")]
    pub log_retention_days: usize,
    /// Bearer token with which `GET /metrics` may be scraped from anywhere.
    pub metrics_token: Secret,
    /// Client addresses (or CIDR networks) that may scrape `GET /metrics` without the token.
    #[serde(deserialize_with = "lenient::networks")]
    pub metrics_allow: Vec<ipnet::IpNet>,
    /// Encrypts the credentials of DHIS2 servers stored in the database (at least 32 bytes).
    pub credentials_key: Secret,
    /// A file holding `credentials_key`, read when it is empty.
    #[serde(deserialize_with = "lenient::string")]
    pub credentials_key_file: String,
    /// Where the DHIS2-compatible API is served (`<path>/api/...`); empty turns it off.
    #[serde(deserialize_with = "lenient::string")]
    pub dhis2_api_path: String,
    /// Seconds a synchronous `dataValueSets`/`tracker` post through that API waits for DHIS2's
    /// answer before answering "queued" (202 with a job to poll).
    #[serde(deserialize_with = "lenient::from_str")]
    pub dhis2_api_sync_wait: u64,
    /// Seconds metadata read through that API is served from the gateway's cache (older
    /// answers are still served while DHIS2 is down).
    #[serde(deserialize_with = "lenient::from_str")]
    pub dhis2_api_cache_ttl: u64,
    /// Usernames (besides admins) that may send `importStrategy=DELETE` through that API.
    #[serde(deserialize_with = "lenient::list")]
    pub dhis2_api_delete_allowed: Vec<String>,
    /// Directory of `*.yml`/`*.yaml`/`*.json` files defining further DHIS2 servers.
    #[serde(deserialize_with = "lenient::string")]
    pub conf_dir: String,
    /// Let admins point DHIS2 servers (through the API) at private, loopback or link-local
    /// addresses: for a DHIS2 on the gateway's own network. Off, such servers must be public.
    #[serde(deserialize_with = "lenient::bool")]
    pub allow_private_dhis2_addresses: bool,
    /// Accept `Authorization: Basic` on API routes (the original's partners use it).
    #[serde(deserialize_with = "lenient::bool")]
    pub allow_basic_auth: bool,
    /// Seconds to let in-flight requests finish on SIGTERM.
    #[serde(deserialize_with = "lenient::from_str")]
    pub shutdown_timeout: u64,
    /// With the password below: the admin created on a database that has no users yet, for
    /// unattended installs.
    #[serde(deserialize_with = "lenient::string")]
    pub bootstrap_admin_user: String,
    pub bootstrap_admin_password: Secret,
}

impl ServerConfig {
    /// The certificate and key files when TLS is configured.
    pub fn tls_files(&self) -> Option<(&str, &str)> {
        let (cert, key) = (self.tls_cert_file.trim(), self.tls_key_file.trim());
        (!cert.is_empty()).then_some((cert, key))
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "localhost".into(),
            port: 9090,
            redis_address: "127.0.0.1:6379".parse().expect("the default Redis address is valid"),
            redis_db: 0,
            queue_prefix: "dhis2gw".into(),
            max_retries: 3,
            max_concurrent: 5,
            request_process_interval: 4,
            templates_directory: "./templates".into(),
            static_directory: "./static".into(),
            console_enabled: true,
            console_directory: "/usr/share/dhis2gw/console".into(),
            logdir: "/var/log/dhis2gw".into(),
            docs_directory: "./docs/md_docs".into(),
            migrations_dir: "file:///usr/share/dhis2gw/db/migrations".into(),
            timezone: chrono_tz::Africa::Kampala,
            jwt_secret: Secret::default(),
            jwt_secret_file: String::new(),
            access_token_ttl: 15 * 60,
            refresh_token_ttl: 30 * 24 * 3600,
            partner_token_ttl: 30 * 24 * 3600,
            session_max_age: 7 * 24 * 3600,
            max_body_size: 10 * 1024 * 1024,
            cors_allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            public_url: String::new(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            log_format: LogFormat::Text,
            log_level: "info".into(),
            log_retention_days: 14,
            metrics_token: Secret::default(),
            metrics_allow: [std::net::IpAddr::from([127, 0, 0, 1]), std::net::Ipv6Addr::LOCALHOST.into()]
                .map(ipnet::IpNet::from)
                .into(),
            credentials_key: Secret::default(),
            credentials_key_file: String::new(),
            conf_dir: "/etc/dhis2gw/conf.d".into(),
            dhis2_api_path: "/dhis2".into(),
            dhis2_api_sync_wait: 30,
            dhis2_api_cache_ttl: 300,
            dhis2_api_delete_allowed: Vec::new(),
            allow_private_dhis2_addresses: false,
            allow_basic_auth: true,
            shutdown_timeout: 30,
            bootstrap_admin_user: String::new(),
            bootstrap_admin_password: Secret::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiConfig {
    #[serde(deserialize_with = "lenient::string")]
    pub dhis2_country: String,
    #[serde(deserialize_with = "lenient::string")]
    pub dhis2_base_url: String,
    #[serde(deserialize_with = "lenient::string")]
    pub dhis2_user: String,
    pub dhis2_password: Secret,
    pub dhis2_pat: Secret,
    #[serde(deserialize_with = "lenient::bool")]
    pub save_response: bool,
    pub mapping_scheme: MappingScheme,
    #[serde(deserialize_with = "lenient::string")]
    pub dhis2_data_set: String,
    #[serde(deserialize_with = "lenient::string")]
    pub dhis2_attribute_option_combo: String,
    /// How submissions are checked against the synced DHIS2 metadata (a partner may have its
    /// own setting).
    #[serde(deserialize_with = "lenient::from_str")]
    pub intake_validation: IntakeValidation,
    /// Whether submissions register their data set as complete (a partner may have its own
    /// setting). Unset: `always` on a database adopted from the original dhis2gw (which did
    /// that), else `when_requested`; [`crate::startup`] settles it.
    #[serde(deserialize_with = "lenient::opt_from_str")]
    pub register_completion: Option<RegisterCompletion>,
    /// `basic` or `pat` (`token` is accepted for `pat`); empty means: `pat` when a PAT is
    /// configured, else `basic`.
    #[serde(deserialize_with = "lenient::opt_from_str")]
    pub dhis2_auth_method: Option<AuthMethod>,
    #[serde(deserialize_with = "lenient::list")]
    pub dhis2_tree_i_ds: Vec<String>,
    #[serde(deserialize_with = "lenient::from_str")]
    pub dhis2_facility_level: u32,
    /// Org-unit levels data may be submitted at when DHIS2's metadata does not say which units
    /// a data set is for (no metadata synced for it); empty: `dhis2_facility_level` and below.
    #[serde(deserialize_with = "lenient::numbers")]
    pub submission_levels: Vec<u32>,
    #[serde(deserialize_with = "lenient::string")]
    pub dhis2_district_oulevel_name: String,
    #[serde(deserialize_with = "lenient::list")]
    pub cc_dhis2_servers: Vec<String>,
    #[serde(deserialize_with = "lenient::list")]
    pub cc_dhis2_hierarchy_servers: Vec<String>,
    #[serde(deserialize_with = "lenient::list")]
    pub cc_dhis2_create_servers: Vec<String>,
    #[serde(deserialize_with = "lenient::list")]
    pub cc_dhis2_update_servers: Vec<String>,
    #[serde(deserialize_with = "lenient::list")]
    pub cc_dhis2_ou_group_add_servers: Vec<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub sync_cron_expression: String,
    #[serde(deserialize_with = "lenient::string")]
    pub retry_cron_expression: String,
    /// When values held for a closed period or approval are re-checked with DHIS2.
    #[serde(deserialize_with = "lenient::string")]
    pub hold_recheck_cron: String,
    /// Held values older than this many days fail.
    #[serde(deserialize_with = "lenient::from_str")]
    pub hold_max_days: u32,
    #[serde(deserialize_with = "lenient::from_str")]
    pub metadata_batch_size: u32,
    /// When the primary DHIS2 is not sent to (`[days] HH:MM-HH:MM [Area/City]`, in
    /// `server.timezone` unless one is given): its nightly analytics, say.
    #[serde(deserialize_with = "lenient::list")]
    pub dhis2_maintenance_windows: Vec<String>,
    /// Seconds to wait for DHIS2 to answer one request.
    #[serde(deserialize_with = "lenient::from_str")]
    pub dhis2_timeout: u64,
    /// The primary's `coalesce_max_values`: a partner's waiting submissions of one data set
    /// go to it together, in requests of up to this many values (0: each alone).
    #[serde(deserialize_with = "lenient::from_str")]
    pub dhis2_coalesce_max_values: u32,
    /// Tracker payloads larger than this many bytes are imported as DHIS2 jobs (`async=true`)
    /// and polled; smaller ones synchronously.
    #[serde(deserialize_with = "lenient::from_str")]
    pub tracker_async_threshold: usize,
    /// Requests per second each partner may make (0: no limit); a user's own limit wins.
    #[serde(deserialize_with = "lenient::from_str")]
    pub partner_requests_per_second: u32,
    /// Data values each partner may send per day in `server.timezone` (0: no limit); a
    /// user's own limit wins.
    #[serde(deserialize_with = "lenient::from_str")]
    pub partner_values_per_day: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            dhis2_country: String::new(),
            dhis2_base_url: String::new(),
            dhis2_user: String::new(),
            dhis2_password: Secret::default(),
            dhis2_pat: Secret::default(),
            save_response: true,
            mapping_scheme: MappingScheme::Code,
            dhis2_data_set: String::new(),
            dhis2_attribute_option_combo: String::new(),
            intake_validation: IntakeValidation::Strict,
            register_completion: None,
            dhis2_auth_method: None,
            dhis2_tree_i_ds: Vec::new(),
            dhis2_facility_level: 5,
            submission_levels: Vec::new(),
            dhis2_district_oulevel_name: "District/City".into(),
            cc_dhis2_servers: Vec::new(),
            dhis2_maintenance_windows: Vec::new(),
            cc_dhis2_hierarchy_servers: Vec::new(),
            cc_dhis2_create_servers: Vec::new(),
            cc_dhis2_update_servers: Vec::new(),
            cc_dhis2_ou_group_add_servers: Vec::new(),
            sync_cron_expression: "0 0-23/6 * * *".into(),
            retry_cron_expression: "*/5 * * * *".into(),
            hold_recheck_cron: "*/30 * * * *".into(),
            hold_max_days: 90,
            metadata_batch_size: 50,
            dhis2_timeout: 60,
            dhis2_coalesce_max_values: 0,
            tracker_async_threshold: 256 * 1024,
            partner_requests_per_second: 0,
            partner_values_per_day: 0,
        }
    }
}

/// The `alerts` section: how notifications go out, and rules beyond (or replacing) the
/// built-in ones ([`crate::alerts`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertsConfig {
    /// Seconds between checks of the rules (`90`, `90s`, `5m`).
    #[serde(deserialize_with = "lenient::seconds")]
    pub check_interval: u64,
    /// Seconds between reminders while a rule keeps firing (`6h`).
    #[serde(deserialize_with = "lenient::seconds")]
    pub alert_repeat: u64,
    /// `HH:MM` in `server.timezone` when the daily digest goes out; empty: no digest.
    #[serde(deserialize_with = "lenient::string")]
    pub digest_time: String,
    /// Email addresses and webhook URLs that hear of every rule without recipients of its own,
    /// and get the digest.
    #[serde(deserialize_with = "lenient::list")]
    pub recipients: Vec<String>,
    /// Send each partner with an email address a daily digest of its own refused values.
    #[serde(deserialize_with = "lenient::bool")]
    pub partner_digests: bool,
    /// The SMTP server email goes through; empty: no email.
    #[serde(deserialize_with = "lenient::string")]
    pub smtp_host: String,
    /// 0: the TLS mode's usual port (25, 587 or 465).
    #[serde(deserialize_with = "lenient::from_str")]
    pub smtp_port: u16,
    pub smtp_tls: SmtpTls,
    #[serde(deserialize_with = "lenient::string")]
    pub smtp_user: String,
    pub smtp_password: Secret,
    /// The `From` of every email: `dhis2gw <gateway@moh.example.org>`.
    #[serde(deserialize_with = "lenient::string")]
    pub smtp_from: String,
    /// Signs webhook bodies: `X-Dhis2gw-Signature: sha256=<hex HMAC-SHA256 of the body>`.
    pub webhook_secret: Secret,
    /// Rules (`name`, `kind`, `enabled`, `threshold`, `window`, `after`, `recipients`); one
    /// named like a built-in rule replaces it. As an environment variable: a JSON list.
    #[serde(deserialize_with = "lenient::rules")]
    pub rules: Vec<AlertRule>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            check_interval: 60,
            alert_repeat: 6 * 3600,
            digest_time: "07:00".into(),
            recipients: Vec::new(),
            partner_digests: false,
            smtp_host: String::new(),
            smtp_port: 0,
            smtp_tls: SmtpTls::Starttls,
            smtp_user: String::new(),
            smtp_password: Secret::default(),
            smtp_from: "dhis2gw <dhis2gw@localhost>".into(),
            webhook_secret: Secret::default(),
            rules: Vec::new(),
        }
    }
}

impl AlertsConfig {
    /// The digest's time of day, when there is one.
    pub fn digest_at(&self) -> Result<Option<chrono::NaiveTime>, String> {
        let text = self.digest_time.trim();
        if text.is_empty() {
            return Ok(None);
        }
        chrono::NaiveTime::parse_from_str(text, "%H:%M").map(Some).map_err(|_| format!("'{text}' is not HH:MM"))
    }
}

/// The `retention` section: how long finished submissions stay in the database before they are
/// archived and deleted ([`crate::retention`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionConfig {
    /// Days succeeded and partly stored submissions are kept whole (0: forever).
    #[serde(deserialize_with = "lenient::from_str")]
    pub succeeded_days: u32,
    /// Days failed and given-up submissions are kept whole (0: forever).
    #[serde(deserialize_with = "lenient::from_str")]
    pub failed_days: u32,
    /// Where archive files go (`archive-YYYY-MM-DD.jsonl.gz` and its manifest).
    #[serde(deserialize_with = "lenient::string")]
    pub archive_directory: String,
    /// When old submissions are archived and deleted.
    #[serde(deserialize_with = "lenient::string")]
    pub cron: String,
    /// Submissions read, and deleted, per statement.
    #[serde(deserialize_with = "lenient::from_str")]
    pub batch_size: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            succeeded_days: 90,
            failed_days: 365,
            archive_directory: "/var/lib/dhis2gw/archive".into(),
            cron: "30 2 * * *".into(),
            batch_size: 500,
        }
    }
}

/// A value that must not be printed or logged.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Secret(#[serde(deserialize_with = "lenient::string")] String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"********\"" })
    }
}

/// Serialises masked, so the effective configuration can be printed safely.
impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "********" })
    }
}

/// The PostgreSQL URI; printed with its password masked.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct DatabaseUri(#[serde(deserialize_with = "lenient::string")] pub String);

impl DatabaseUri {
    pub fn masked(&self) -> String {
        masked_url(&self.0)
    }
}

/// A URL with its password, if any, replaced by `********`.
fn masked_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("********"));
            u.to_string()
        }
        _ => text.to_string(),
    }
}

impl Serialize for DatabaseUri {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.masked())
    }
}

macro_rules! keyword_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $canon:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $canon),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let s = s.trim();
                $(if s.eq_ignore_ascii_case($canon) $(|| s.eq_ignore_ascii_case($alias))* {
                    return Ok($name::$variant);
                })+
                Err(format!("unknown value '{}' (expected one of: {})", s, [$($canon),+].join(", ")))
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                lenient::from_str(d)
            }
        }
    };
}

keyword_enum!(
    /// How partner keys in `dataValues` are looked up in the mappings.
    MappingScheme { Code => "CODE", Uid => "UID" | "ID", Name => "NAME" }
);
keyword_enum!(
    /// How the gateway authenticates to DHIS2.
    AuthMethod { Basic => "basic", Pat => "pat" | "token" | "apitoken" }
);
keyword_enum!(LogFormat { Text => "text", Json => "json" });
keyword_enum!(
    /// How email reaches the SMTP server: in the clear, upgraded with STARTTLS, or TLS from
    /// the first byte (SMTPS).
    SmtpTls { None => "none", Starttls => "starttls", Tls => "tls" | "ssl" | "smtps" }
);

impl ApiConfig {
    /// The configured auth method, or the one the given credentials imply.
    pub fn effective_auth_method(&self) -> AuthMethod {
        self.dhis2_auth_method.unwrap_or(if self.dhis2_pat.is_empty() { AuthMethod::Basic } else { AuthMethod::Pat })
    }
}

/// What `coalesce_max_values` may be, in words.
pub const COALESCE_MAX_VALUES_RULE: &str = "0 (each submission goes alone) or 2 to 10000 values per request";

/// Whether `values` is a `coalesce_max_values` (the database checks the same).
pub fn valid_coalesce_max_values(values: i32) -> bool {
    values == 0 || (2..=10_000).contains(&values)
}

/// Environment variables and the key each sets. Later rows win over earlier ones for the
/// same key, so a clean spelling overrides the documented legacy one.
const ENV_VARS: &[(&str, &str)] = &[
    ("DHIS2GW_DB", "database.uri"),
    ("DHIS2GW_DB_MAX_CONNECTIONS", "database.max_connections"),
    ("DHIS2GW_HOST", "server.host"),
    ("DHIS2GW_SERVER_PORT", "server.port"),
    ("DHIS2GW_REDIS", "server.redis_address"),
    ("DHIS2GW_REDIS_DB", "server.redis_db"),
    ("DHIS2GW_QUEUE_PREFIX", "server.queue_prefix"),
    ("DHIS2GW_MAX_RETRIES", "server.max_retries"),
    ("DHIS2GW_MAX_CONCURRENT", "server.max_concurrent"),
    ("DHIS2GW_REQUEST_PROCESS_INTERVAL", "server.request_process_interval"),
    ("DHIS2GW_TEMPLATES_DIR", "server.templates_directory"),
    ("DHIS2GW_STATIC_DIR", "server.static_directory"),
    ("DHIS2GW_CONSOLE_ENABLED", "server.console_enabled"),
    ("DHIS2GW_CONSOLE_DIR", "server.console_directory"),
    ("DHIS2GW_LOGDIR", "server.logdir"),
    ("RTC_DOCS_DIR", "server.docs_directory"),
    ("DHIS2GW_DOCS_DIR", "server.docs_directory"),
    ("DHIS2GW_MIGRATTIONS_DIR", "server.migrations_dir"),
    ("DHIS2GW_MIGRATIONS_DIR", "server.migrations_dir"),
    ("DISPATCHER2_TIMEZONE", "server.timezone"),
    ("DHIS2GW_TIMEZONE", "server.timezone"),
    ("DHIS2GW_JWT_SECRET", "server.jwt_secret"),
    ("DHIS2GW_JWT_SECRET_FILE", "server.jwt_secret_file"),
    ("DHIS2GW_ACCESS_TOKEN_TTL", "server.access_token_ttl"),
    ("DHIS2GW_REFRESH_TOKEN_TTL", "server.refresh_token_ttl"),
    ("DHIS2GW_PARTNER_TOKEN_TTL", "server.partner_token_ttl"),
    ("DHIS2GW_SESSION_MAX_AGE", "server.session_max_age"),
    ("DHIS2GW_MAX_BODY_SIZE", "server.max_body_size"),
    ("DHIS2GW_CORS_ALLOWED_ORIGINS", "server.cors_allowed_origins"),
    ("DHIS2GW_TRUSTED_PROXIES", "server.trusted_proxies"),
    ("DHIS2GW_PUBLIC_URL", "server.public_url"),
    ("DHIS2GW_TLS_CERT_FILE", "server.tls_cert_file"),
    ("DHIS2GW_TLS_KEY_FILE", "server.tls_key_file"),
    ("DHIS2GW_LOG_FORMAT", "server.log_format"),
    ("DHIS2GW_LOG_LEVEL", "server.log_level"),
    ("DHIS2GW_LOG_RETENTION_DAYS", "server.log_retention_days"),
    ("DHIS2GW_METRICS_TOKEN", "server.metrics_token"),
    ("DHIS2GW_METRICS_ALLOW", "server.metrics_allow"),
    ("DHIS2GW_CREDENTIALS_KEY", "server.credentials_key"),
    ("DHIS2GW_CREDENTIALS_KEY_FILE", "server.credentials_key_file"),
    ("DHIS2GW_CONF_DIR", "server.conf_dir"),
    ("DHIS2GW_DHIS2_API_PATH", "server.dhis2_api_path"),
    ("DHIS2GW_DHIS2_API_SYNC_WAIT", "server.dhis2_api_sync_wait"),
    ("DHIS2GW_DHIS2_API_CACHE_TTL", "server.dhis2_api_cache_ttl"),
    ("DHIS2GW_DHIS2_API_DELETE_ALLOWED", "server.dhis2_api_delete_allowed"),
    ("DHIS2GW_ALLOW_BASIC_AUTH", "server.allow_basic_auth"),
    ("DHIS2GW_ALLOW_PRIVATE_DHIS2_ADDRESSES", "server.allow_private_dhis2_addresses"),
    ("DHIS2GW_SHUTDOWN_TIMEOUT", "server.shutdown_timeout"),
    ("DHIS2GW_BOOTSTRAP_ADMIN_USER", "server.bootstrap_admin_user"),
    ("DHIS2GW_BOOTSTRAP_ADMIN_PASSWORD", "server.bootstrap_admin_password"),
    ("dhis_2_attribute_option_combo", "api.dhis2_attribute_option_combo"),
];

/// The `api` section: each key is set by its own lower-case name (as documented) and by
/// `DHIS2GW_` + its upper-case name.
const API_KEYS: &[&str] = &[
    "dhis2_country",
    "dhis2_base_url",
    "dhis2_user",
    "dhis2_password",
    "dhis2_pat",
    "save_response",
    "mapping_scheme",
    "dhis2_data_set",
    "dhis2_attribute_option_combo",
    "intake_validation",
    "register_completion",
    "dhis2_auth_method",
    "dhis2_tree_i_ds",
    "dhis2_facility_level",
    "submission_levels",
    "dhis2_district_oulevel_name",
    "cc_dhis2_servers",
    "cc_dhis2_hierarchy_servers",
    "cc_dhis2_create_servers",
    "cc_dhis2_update_servers",
    "cc_dhis2_ou_group_add_servers",
    "sync_cron_expression",
    "retry_cron_expression",
    "hold_recheck_cron",
    "hold_max_days",
    "metadata_batch_size",
    "dhis2_timeout",
    "dhis2_coalesce_max_values",
    "dhis2_maintenance_windows",
    "tracker_async_threshold",
    "partner_requests_per_second",
    "partner_values_per_day",
];

/// The `alerts` section: each key is set by `DHIS2GW_ALERTS_` + its upper-case name.
const ALERTS_KEYS: &[&str] = &[
    "check_interval",
    "alert_repeat",
    "digest_time",
    "recipients",
    "partner_digests",
    "smtp_host",
    "smtp_port",
    "smtp_tls",
    "smtp_user",
    "smtp_password",
    "smtp_from",
    "webhook_secret",
    "rules",
];

/// The `retention` section: each key is set by `DHIS2GW_RETENTION_` + its upper-case name.
const RETENTION_KEYS: &[&str] = &["succeeded_days", "failed_days", "archive_directory", "cron", "batch_size"];

/// YAML keys of the original service (and its sample file's misspellings) → our keys.
const KEY_ALIASES: &[(&str, &str)] = &[
    ("server.http_port", "server.port"),
    ("api.dhis2_tree_ids", "api.dhis2_tree_i_ds"),
    ("api.cc_dhis2_ougroup_add_servers", "api.cc_dhis2_ou_group_add_servers"),
];

/// Keys of the original dhis2gw's configuration (and its sample file) this gateway has no use
/// for: a configuration carried over keeps them, and is told so rather than "misspelled?".
/// A name ending in `.` stands for its whole section.
const ORIGINAL_UNUSED_KEYS: &[&str] = &[
    "pbs.",
    "database.db_host",
    "database.db_port",
    "database.db_username",
    "database.db_password",
    "server.proxy_port",
    "server.start_submission_period",
    "server.end_submission_period",
    "server.skip_request_processing",
    "server.force_sync",
    "server.sync_on",
    "server.fake_sync_to_base_dhis2",
    "server.dhis2_job_status_check_interval",
    "server.use_ssl",
    "server.ssl_client_certkey_file",
    "server.ssl_server_certkey_file",
    "server.ssl_trusted_cafile",
    "api.dhis2_ou_mflid_attribute_id",
    "api.authtoken",
];

/// Where a configuration value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(name) => write!(f, "env {name}"),
        }
    }
}

/// The effective configuration and the origin of every value not left at its default.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    pub sources: BTreeMap<String, Source>,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// Keys in the file that mean nothing here (misspelled?); they are ignored.
    pub unknown_keys: Vec<String>,
    /// Keys of the original dhis2gw's configuration in the file that this gateway does not use.
    pub original_keys: Vec<String>,
    /// What was set but could not be used as it is, and what is used instead (the original
    /// dhis2gw's paths that no longer exist, say).
    pub warnings: Vec<String>,
}

/// A configuration problem, reported as one line naming the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Reads `path` (missing is fine unless `required`), then the process environment.
    pub fn load(path: &Path, required: bool) -> Result<Loaded, ConfigError> {
        Self::load_with(path, required, |name| std::env::var(name).ok())
    }

    /// As [`Config::load`], with the environment given as a lookup function.
    pub fn load_with(path: &Path, required: bool, env: impl Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
        let mut tree = Map::new();
        let mut sources = BTreeMap::new();
        let file = read_file(path, required)?;
        if let Some(file_tree) = &file {
            let file_leaves = leaves(file_tree);
            for (key, value) in &file_leaves {
                let key = match KEY_ALIASES.iter().find(|(alias, _)| alias == key) {
                    // The real key wins over its alias when a file has both.
                    Some((_, canonical)) if file_leaves.iter().any(|(k, _)| k == canonical) => {
                        continue;
                    }
                    Some((_, canonical)) => canonical.to_string(),
                    None => key.clone(),
                };
                set_path(&mut tree, &key, value.clone());
                sources.insert(key, Source::File(path.to_path_buf()));
            }
        }
        let api_vars = API_KEYS.iter().flat_map(|key| {
            [(key.to_string(), format!("api.{key}")), (format!("DHIS2GW_{}", key.to_uppercase()), format!("api.{key}"))]
        });
        let alerts_vars =
            ALERTS_KEYS.iter().map(|key| (format!("DHIS2GW_ALERTS_{}", key.to_uppercase()), format!("alerts.{key}")));
        let retention_vars = RETENTION_KEYS
            .iter()
            .map(|key| (format!("DHIS2GW_RETENTION_{}", key.to_uppercase()), format!("retention.{key}")));
        let env_vars = ENV_VARS
            .iter()
            .map(|(n, k)| (n.to_string(), k.to_string()))
            .chain(api_vars)
            .chain(alerts_vars)
            .chain(retention_vars);
        for (name, key) in env_vars {
            if let Some(value) = env(&name) {
                set_path(&mut tree, &key, Value::String(value));
                sources.insert(key, Source::Env(name));
            }
        }
        let config: Config = serde_path_to_error::deserialize(Value::Object(tree)).map_err(|e| {
            let key = e.path().to_string();
            let origin = sources.get(&key).map(|s| format!(" (from {s})")).unwrap_or_default();
            ConfigError(format!("{key}: {}{origin}", e.inner()))
        })?;
        let known = leaves(&serde_json::to_value(Config::default()).expect("config serialises"));
        let unknown_keys: Vec<String> = file
            .as_ref()
            .map(leaves)
            .unwrap_or_default()
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| !known.iter().any(|(k, _)| k == key) && !KEY_ALIASES.iter().any(|(alias, _)| alias == key))
            .collect();
        let (original_keys, unknown_keys): (Vec<String>, Vec<String>) =
            unknown_keys.into_iter().partition(|key: &String| {
                ORIGINAL_UNUSED_KEYS.iter().any(|k| if k.ends_with('.') { key.starts_with(k) } else { key == k })
            });
        let file = file.map(|_| path.to_path_buf());
        let mut loaded = Loaded { config, sources, file, unknown_keys, original_keys, warnings: Vec::new() };
        loaded.use_existing_directories();
        loaded.read_secret_files()?;
        loaded.config.validate().map_err(|(key, problem)| loaded.error(key, problem))?;
        Ok(loaded)
    }

    /// Checks what types alone cannot; returns the offending key and the problem.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        let (s, a) = (&self.server, &self.api);
        let uri = url::Url::parse(&self.database.uri.0).map_err(|e| ("database.uri", format!("not a URL: {e}")))?;
        if !matches!(uri.scheme(), "postgres" | "postgresql") {
            return Err(("database.uri", format!("scheme must be postgres://, not {}://", uri.scheme())));
        }
        if self.database.max_connections == 0 {
            return Err(("database.max_connections", "must be at least 1".into()));
        }
        if s.jwt_secret.is_empty() {
            return Err((
                "server.jwt_secret",
                "is required (set DHIS2GW_JWT_SECRET to a random string of at least 32 bytes, e.g. `openssl rand -hex 32`, \
                 or server.jwt_secret_file to a file holding one)"
                    .into(),
            ));
        }
        if s.jwt_secret.expose().len() < MIN_JWT_SECRET_BYTES {
            return Err(("server.jwt_secret", format!("must be at least {MIN_JWT_SECRET_BYTES} bytes long")));
        }
        if !s.credentials_key.is_empty() && s.credentials_key.expose().len() < MIN_JWT_SECRET_BYTES {
            return Err(("server.credentials_key", format!("must be at least {MIN_JWT_SECRET_BYTES} bytes long")));
        }
        let api_path = s.dhis2_api_path.trim();
        let reserved = ["/api", "/docs", "/static", "/swagger", "/health", "/metrics", "/api-docs"];
        if !api_path.is_empty()
            && (!api_path.starts_with('/')
                || api_path.len() < 2
                || api_path.ends_with('/')
                || reserved.iter().any(|r| api_path == *r || api_path.starts_with(&format!("{r}/"))))
        {
            return Err((
                "server.dhis2_api_path",
                format!("'{api_path}' must be like /dhis2 and not a path the gateway uses"),
            ));
        }
        if s.max_concurrent == 0 {
            return Err(("server.max_concurrent", "must be at least 1".into()));
        }
        if s.request_process_interval == 0 {
            return Err(("server.request_process_interval", "must be at least 1 second".into()));
        }
        if s.access_token_ttl < 60 {
            return Err(("server.access_token_ttl", "must be at least 60 seconds".into()));
        }
        if s.refresh_token_ttl < s.access_token_ttl {
            return Err(("server.refresh_token_ttl", "must not be shorter than server.access_token_ttl".into()));
        }
        if s.partner_token_ttl < 60 {
            return Err(("server.partner_token_ttl", "must be at least 60 seconds".into()));
        }
        if s.session_max_age < s.access_token_ttl {
            return Err(("server.session_max_age", "must not be shorter than server.access_token_ttl".into()));
        }
        if s.max_body_size < 1024 {
            return Err(("server.max_body_size", "must be at least 1024 bytes".into()));
        }
        for origin in &s.cors_allowed_origins {
            if origin != "*" && url::Url::parse(origin).map(|u| u.origin().is_tuple()) != Ok(true) {
                return Err((
                    "server.cors_allowed_origins",
                    format!("'{origin}' is not an origin like https://console.example.org"),
                ));
            }
        }
        if s.tls_cert_file.trim().is_empty() != s.tls_key_file.trim().is_empty() {
            let missing =
                if s.tls_cert_file.trim().is_empty() { "server.tls_cert_file" } else { "server.tls_key_file" };
            return Err((missing, "TLS needs both server.tls_cert_file and server.tls_key_file".into()));
        }
        if !s.public_url.is_empty() {
            let u = url::Url::parse(&s.public_url).map_err(|e| ("server.public_url", format!("not a URL: {e}")))?;
            if !matches!(u.scheme(), "http" | "https") || u.query().is_some() || u.fragment().is_some() {
                return Err(("server.public_url", "must be like https://gw.example.org[/prefix]".into()));
            }
        }
        tracing_subscriber::EnvFilter::try_new(&s.log_level)
            .map_err(|e| ("server.log_level", format!("invalid filter '{}': {e}", s.log_level)))?;
        if !a.dhis2_base_url.is_empty() {
            let u =
                url::Url::parse(&a.dhis2_base_url).map_err(|e| ("api.dhis2_base_url", format!("not a URL: {e}")))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err(("api.dhis2_base_url", "must start with http:// or https://".into()));
            }
        }
        parse_cron(&a.sync_cron_expression).map_err(|e| ("api.sync_cron_expression", e))?;
        parse_cron(&a.retry_cron_expression).map_err(|e| ("api.retry_cron_expression", e))?;
        crate::infra::windows::normalise(&a.dhis2_maintenance_windows, s.timezone, "")
            .map_err(|(field, e)| ("api.dhis2_maintenance_windows", format!("{field}: {e}")))?;
        parse_cron(&a.hold_recheck_cron).map_err(|e| ("api.hold_recheck_cron", e))?;
        if a.hold_max_days == 0 {
            return Err(("api.hold_max_days", "must be at least 1".into()));
        }
        if a.dhis2_facility_level == 0 {
            return Err(("api.dhis2_facility_level", "must be at least 1".into()));
        }
        if a.metadata_batch_size == 0 {
            return Err(("api.metadata_batch_size", "must be at least 1".into()));
        }
        if a.dhis2_timeout == 0 {
            return Err(("api.dhis2_timeout", "must be at least 1 second".into()));
        }
        if !i32::try_from(a.dhis2_coalesce_max_values).is_ok_and(valid_coalesce_max_values) {
            let rule = COALESCE_MAX_VALUES_RULE;
            return Err(("api.dhis2_coalesce_max_values", format!("must be {rule}")));
        }
        self.alerts.validate()?;
        let r = &self.retention;
        parse_cron(&r.cron).map_err(|e| ("retention.cron", e))?;
        if r.batch_size == 0 {
            return Err(("retention.batch_size", "must be at least 1".into()));
        }
        if (r.succeeded_days > 0 || r.failed_days > 0) && r.archive_directory.trim().is_empty() {
            return Err(("retention.archive_directory", "is needed while submissions are archived".into()));
        }
        Ok(())
    }

    /// The Redis URL the queues and health checks connect to.
    pub fn redis_url(&self) -> String {
        self.server.redis_address.url(self.server.redis_db)
    }
}

impl AlertsConfig {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.check_interval == 0 {
            return Err(("alerts.check_interval", "must be at least 1 second".into()));
        }
        if self.alert_repeat < 60 {
            return Err(("alerts.alert_repeat", "must be at least 60 seconds".into()));
        }
        self.digest_at().map_err(|e| ("alerts.digest_time", e))?;
        for (i, recipient) in self.recipients.iter().enumerate() {
            dhis2gw_wire::recipient_problem(recipient).map_err(|e| ("alerts.recipients", format!("[{i}]: {e}")))?;
        }
        if !self.smtp_host.trim().is_empty() && !self.smtp_from.contains('@') {
            return Err((
                "alerts.smtp_from",
                format!("'{}' is not an address like dhis2gw <gw@example.org>", self.smtp_from),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            rule.problem().map_err(|(field, e)| ("alerts.rules", format!("[{i}].{field}: {e}")))?;
            if !names.insert(rule.name.as_str()) {
                return Err(("alerts.rules", format!("[{i}].name: '{}' is named twice", rule.name)));
            }
        }
        Ok(())
    }
}

impl Loaded {
    /// `server.jwt_secret_file` and `server.credentials_key_file` supply their secrets unless
    /// those are set directly.
    /// A pages directory the file names that does not exist is replaced by the default where
    /// that exists: the original dhis2gw's configuration names `/usr/share/dhis2gw/docs/…`
    /// folders that installing this package over it removes.
    fn use_existing_directories(&mut self) {
        let defaults = ServerConfig::default();
        let server = &mut self.config.server;
        for (key, dir, default) in [
            ("server.templates_directory", &mut server.templates_directory, defaults.templates_directory),
            ("server.static_directory", &mut server.static_directory, defaults.static_directory),
            ("server.docs_directory", &mut server.docs_directory, defaults.docs_directory),
        ] {
            let from_file = matches!(self.sources.get(key), Some(Source::File(_)));
            if from_file && !Path::new(dir.as_str()).is_dir() && Path::new(&default).is_dir() {
                self.warnings.push(format!("{key}: {dir} does not exist; using {default}"));
                *dir = default;
            }
        }
    }

    /// Secrets from their files. Without a secret or a file named, the file the package makes
    /// beside the configuration file is read if it is there (a configuration of the original
    /// dhis2gw names none).
    fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        let beside = |name: &str| self.file.as_ref().and_then(|f| f.parent()).map(|dir| dir.join(name));
        let (jwt, credentials) = (beside("jwt.secret"), beside("credentials.key"));
        let server = &mut self.config.server;
        for (path, found) in [(&mut server.jwt_secret_file, jwt), (&mut server.credentials_key_file, credentials)] {
            if path.is_empty()
                && let Some(found) = found.filter(|f| f.is_file())
            {
                *path = found.to_string_lossy().into_owned();
            }
        }
        let server = &mut self.config.server;
        let pairs = [
            ("server.jwt_secret", &mut server.jwt_secret, "server.jwt_secret_file", &server.jwt_secret_file),
            (
                "server.credentials_key",
                &mut server.credentials_key,
                "server.credentials_key_file",
                &server.credentials_key_file,
            ),
        ];
        for (key, secret, file_key, path) in pairs {
            if !secret.is_empty() || path.is_empty() {
                continue;
            }
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    *secret = Secret::new(text.trim());
                    self.sources.insert(key.into(), Source::File(path.into()));
                }
                Err(e) => {
                    let origin = self.sources.get(file_key).map(|s| format!(" (from {s})")).unwrap_or_default();
                    return Err(ConfigError(format!("{file_key}: cannot read {path}: {e}{origin}")));
                }
            }
        }
        Ok(())
    }

    fn error(&self, key: &str, problem: String) -> ConfigError {
        let origin = self.sources.get(key).map(|s| format!(" (from {s})")).unwrap_or_default();
        ConfigError(format!("{key}: {problem}{origin}"))
    }

    /// The effective configuration as YAML, secrets masked, each value annotated with its
    /// origin. This is what `dhis2gw config` prints.
    pub fn to_annotated_yaml(&self) -> String {
        let tree = serde_json::to_value(&self.config).expect("config serialises");
        let mut out = String::new();
        if let Value::Object(sections) = tree {
            for (section, fields) in sections {
                out.push_str(&format!("{section}:\n"));
                let Value::Object(fields) = fields else {
                    continue;
                };
                for (field, value) in fields {
                    let key = format!("{section}.{field}");
                    let source = self.sources.get(&key).cloned().unwrap_or(Source::Default);
                    // JSON scalars and arrays are valid YAML flow values.
                    out.push_str(&format!("  {field}: {value}  # {source}\n"));
                }
            }
        }
        out
    }
}

fn read_file(path: &Path, required: bool) -> Result<Option<Value>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => return Err(ConfigError(format!("cannot read {}: {e}", path.display()))),
    };
    if text.trim().is_empty() {
        return Ok(Some(Value::Object(Map::new())));
    }
    let value: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| ConfigError(format!("{} is not valid YAML: {e}", path.display())))?;
    match value {
        Value::Object(_) => Ok(Some(value)),
        Value::Null => Ok(Some(Value::Object(Map::new()))),
        _ => Err(ConfigError(format!("{} must hold a mapping of sections (database, server, api)", path.display()))),
    }
}

/// `section.key` → value for the two levels the configuration has.
fn leaves(tree: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if let Value::Object(sections) = tree {
        for (section, fields) in sections {
            match fields {
                Value::Object(fields) => out.extend(fields.iter().map(|(k, v)| (format!("{section}.{k}"), v.clone()))),
                // A section whose keys are all commented out.
                Value::Null => {}
                other => out.push((section.clone(), other.clone())),
            }
        }
    }
    out
}

fn set_path(tree: &mut Map<String, Value>, key: &str, value: Value) {
    match key.split_once('.') {
        Some((section, field)) => {
            let entry = tree.entry(section).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            entry.as_object_mut().expect("just made an object").insert(field.to_string(), value);
        }
        None => {
            tree.insert(key.to_string(), value);
        }
    }
}

/// Where Redis is: `host:port` (the original's form) or a `redis://` / `rediss://` URL,
/// checked when read; printed as given, with any password masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisAddress {
    given: String,
    /// A URL without a database, or with the one it names.
    url: url::Url,
}

impl FromStr for RedisAddress {
    type Err = String;

    fn from_str(address: &str) -> Result<Self, String> {
        let given = address.trim();
        if given.is_empty() {
            return Err("must not be empty".into());
        }
        let url = if given.starts_with("redis://") || given.starts_with("rediss://") {
            let u = url::Url::parse(given).map_err(|e| format!("not a Redis URL: {e}"))?;
            if u.host_str().is_none_or(str::is_empty) {
                return Err(format!("'{given}' has no host"));
            }
            u
        } else {
            let u = url::Url::parse(&format!("redis://{given}")).map_err(|_| format!("'{given}' is not host:port"))?;
            if u.host_str().is_none_or(str::is_empty) || u.path().len() > 1 {
                return Err(format!("'{given}' is not host:port"));
            }
            u
        };
        Ok(RedisAddress { given: given.to_string(), url })
    }
}

impl RedisAddress {
    /// The URL to connect to: database `db` unless the URL names one.
    pub fn url(&self, db: u32) -> String {
        if self.url.path().len() > 1 {
            self.url.to_string()
        } else {
            format!("{}/{db}", self.url.as_str().trim_end_matches('/'))
        }
    }
}

impl Serialize for RedisAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&masked_url(&self.given))
    }
}

fn serialize_display<S: serde::Serializer>(value: &impl std::fmt::Display, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// Standard 5-field cron expressions, and 6-field ones with seconds first.
pub fn parse_cron(expression: &str) -> Result<croner::Cron, String> {
    expression.parse::<croner::Cron>().map_err(|e| format!("invalid cron expression '{expression}': {e}"))
}

/// Deserializers that take a value as the YAML file or an environment variable gives it.
mod lenient {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;
    use std::str::FromStr;

    fn scalar_text(value: Value) -> Result<String, String> {
        match value {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Null => Ok(String::new()),
            other => Err(format!("expected a single value, found {other}")),
        }
    }

    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        scalar_text(Value::deserialize(d)?).map_err(D::Error::custom)
    }

    pub fn from_str<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<T, D::Error>
    where
        T::Err: std::fmt::Display,
    {
        let text = scalar_text(Value::deserialize(d)?).map_err(D::Error::custom)?;
        text.trim().parse().map_err(|e| D::Error::custom(format!("invalid value '{text}': {e}")))
    }

    pub fn opt_from_str<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<Option<T>, D::Error>
    where
        T::Err: std::fmt::Display,
    {
        let text = scalar_text(Value::deserialize(d)?).map_err(D::Error::custom)?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        text.trim().parse().map(Some).map_err(|e| D::Error::custom(format!("invalid value '{text}': {e}")))
    }

    pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        let text = scalar_text(Value::deserialize(d)?).map_err(D::Error::custom)?;
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => Err(D::Error::custom(format!("invalid boolean '{text}' (expected true or false)"))),
        }
    }

    /// A list of IP addresses or CIDR networks (`10.0.0.0/8`, `::1`).
    pub fn networks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
        list(d)?
            .into_iter()
            .map(|item| {
                item.parse::<ipnet::IpNet>()
                    .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| D::Error::custom(format!("'{item}' is not an IP address or CIDR network")))
            })
            .collect()
    }

    /// A YAML list, or a comma-separated string.
    pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let items = match Value::deserialize(d)? {
            Value::Array(items) => {
                items.into_iter().map(scalar_text).collect::<Result<Vec<_>, _>>().map_err(D::Error::custom)?
            }
            other => scalar_text(other).map_err(D::Error::custom)?.split(',').map(str::to_string).collect(),
        };
        Ok(items.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
    }

    /// Seconds: a number, or a duration like `90s`, `15m`, `6h`, `1day`.
    pub fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = scalar_text(Value::deserialize(d)?).map_err(D::Error::custom)?;
        duration_seconds(&text).map_err(D::Error::custom)
    }

    fn duration_seconds(text: &str) -> Result<u64, String> {
        let text = text.trim();
        text.parse::<u64>()
            .or_else(|_| humantime::parse_duration(text).map(|d| d.as_secs()))
            .map_err(|e| format!("invalid duration '{text}': {e} (seconds, or like 90s, 15m, 6h, 1day)"))
    }

    /// Alert rules: a YAML list, or that list as JSON text (an environment variable). Their
    /// `window` and `after` may be written as durations.
    pub fn rules<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<dhis2gw_wire::AlertRule>, D::Error> {
        let mut value = match Value::deserialize(d)? {
            Value::String(text) if text.trim().is_empty() => Value::Array(Vec::new()),
            Value::String(text) => {
                serde_yaml_ng::from_str(&text).map_err(|e| D::Error::custom(format!("not a list of rules: {e}")))?
            }
            Value::Null => Value::Array(Vec::new()),
            other => other,
        };
        for (i, rule) in value.as_array_mut().into_iter().flatten().enumerate() {
            for field in ["window", "after"] {
                if let Some(text) = rule.get(field).and_then(Value::as_str) {
                    let seconds =
                        duration_seconds(text).map_err(|e| D::Error::custom(format!("[{i}].{field}: {e}")))?;
                    rule[field] = seconds.into();
                }
            }
        }
        serde_path_to_error::deserialize(value).map_err(|e| D::Error::custom(format!("{}: {}", e.path(), e.inner())))
    }

    /// A list of numbers, written as [`list`] reads lists.
    pub fn numbers<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<Vec<T>, D::Error>
    where
        T::Err: std::fmt::Display,
    {
        list(d)?.into_iter().map(|s| s.parse().map_err(|e| D::Error::custom(format!("'{s}': {e}")))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn load(yaml: &str, env: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let dir = std::env::temp_dir().join(format!("dhis2gw-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dhis2gw.yml");
        std::fs::write(&path, yaml).unwrap();
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let result = Config::load_with(&path, true, |name| env.get(name).cloned());
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    #[test]
    fn documented_defaults_apply_when_nothing_is_set() {
        let c = load("", &[("DHIS2GW_JWT_SECRET", SECRET)]).unwrap().config;
        assert_eq!(c.server.port, 9090);
        assert_eq!(c.server.host, "localhost");
        assert_eq!(c.server.redis_address, "127.0.0.1:6379".parse().unwrap());
        assert_eq!((c.server.max_retries, c.server.max_concurrent, c.server.request_process_interval), (3, 5, 4));
        assert_eq!(c.server.timezone.name(), "Africa/Kampala");
        assert_eq!(c.server.docs_directory, "./docs/md_docs");
        assert!(c.server.console_enabled);
        assert_eq!(c.server.console_directory, "/usr/share/dhis2gw/console");
        assert!(c.api.save_response);
        assert_eq!(c.api.mapping_scheme, MappingScheme::Code);
        assert_eq!(c.api.dhis2_facility_level, 5);
        assert_eq!(c.api.dhis2_district_oulevel_name, "District/City");
        assert_eq!(c.api.sync_cron_expression, "0 0-23/6 * * *");
        assert_eq!(c.api.retry_cron_expression, "*/5 * * * *");
    }

    #[test]
    fn environment_overrides_the_file_and_clean_names_override_legacy_ones() {
        let yaml = "server:\n  http_port: 8000\n  timezone: UTC\napi:\n  dhis2_user: file-user\n";
        let l = load(
            yaml,
            &[
                ("DHIS2GW_JWT_SECRET", SECRET),
                ("DHIS2GW_SERVER_PORT", "8111"),
                ("DISPATCHER2_TIMEZONE", "Africa/Nairobi"),
                ("DHIS2GW_TIMEZONE", "Europe/Oslo"),
                ("dhis2_user", "env-user"),
            ],
        )
        .unwrap();
        assert_eq!(l.config.server.port, 8111);
        assert_eq!(l.config.server.timezone.name(), "Europe/Oslo");
        assert_eq!(l.config.api.dhis2_user, "env-user");
        assert_eq!(l.sources["server.timezone"], Source::Env("DHIS2GW_TIMEZONE".into()));
        assert_eq!(l.sources["api.dhis2_user"], Source::Env("dhis2_user".into()));
    }

    #[test]
    fn the_console_is_switched_and_placed_by_file_or_environment() {
        let yaml = "server:\n  console_enabled: no\n  console_directory: /srv/console\n";
        let from_file = load(yaml, &[("DHIS2GW_JWT_SECRET", SECRET)]).unwrap().config;
        assert!(!from_file.server.console_enabled);
        assert_eq!(from_file.server.console_directory, "/srv/console");
        let l = load(
            yaml,
            &[("DHIS2GW_JWT_SECRET", SECRET), ("DHIS2GW_CONSOLE_ENABLED", "true"), ("DHIS2GW_CONSOLE_DIR", "ui/dist")],
        )
        .unwrap();
        assert!(l.config.server.console_enabled);
        assert_eq!(l.config.server.console_directory, "ui/dist");
        assert_eq!(l.sources["server.console_directory"], Source::Env("DHIS2GW_CONSOLE_DIR".into()));
        let e = load("", &[("DHIS2GW_JWT_SECRET", SECRET), ("DHIS2GW_CONSOLE_ENABLED", "sometimes")]).unwrap_err();
        assert!(e.to_string().contains("server.console_enabled: invalid boolean"), "{e}");
    }

    #[test]
    fn http_port_is_an_alias_of_port_and_port_wins_when_both_are_given() {
        let only_alias = load("server:\n  http_port: 8000\n", &[("DHIS2GW_JWT_SECRET", SECRET)]).unwrap();
        assert_eq!(only_alias.config.server.port, 8000);
        let both = load("server:\n  port: 7000\n  http_port: 8000\n", &[("DHIS2GW_JWT_SECRET", SECRET)]).unwrap();
        assert_eq!(both.config.server.port, 7000);
    }

    #[test]
    fn booleans_numbers_and_lists_are_read_from_strings() {
        let yaml = "api:\n  save_response: \"false\"\n  dhis2_tree_i_ds: [a1, b2]\n  dhis2_password: 12345\n";
        let c = load(yaml, &[("DHIS2GW_JWT_SECRET", SECRET), ("cc_dhis2_servers", "x, y,,z")]).unwrap().config;
        assert!(!c.api.save_response);
        assert_eq!(c.api.dhis2_tree_i_ds, ["a1", "b2"]);
        assert_eq!(c.api.cc_dhis2_servers, ["x", "y", "z"]);
        assert_eq!(c.api.dhis2_password.expose(), "12345");
        let windows =
            [("DHIS2GW_JWT_SECRET", SECRET), ("DHIS2GW_DHIS2_MAINTENANCE_WINDOWS", "00:00-04:00, Sun 02:00-06:00 UTC")];
        let c = load("", &windows).unwrap().config;
        assert_eq!(c.api.dhis2_maintenance_windows, ["00:00-04:00", "Sun 02:00-06:00 UTC"]);
    }

    #[test]
    fn invalid_values_name_the_key_and_where_they_came_from() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("", &[], "server.jwt_secret: is required"),
            ("", &[("DHIS2GW_JWT_SECRET", "short")], "server.jwt_secret: must be at least 32 bytes"),
            (
                "",
                &[("DHIS2GW_JWT_SECRET", SECRET), ("DHIS2GW_SERVER_PORT", "99999")],
                "server.port: invalid value '99999'",
            ),
            (
                "api:\n  sync_cron_expression: 'every day'\n",
                &[("DHIS2GW_JWT_SECRET", SECRET)],
                "api.sync_cron_expression",
            ),
            ("", &[("DHIS2GW_JWT_SECRET", SECRET), ("dhis2_auth_method", "oauth")], "api.dhis2_auth_method"),
            ("", &[("DHIS2GW_JWT_SECRET", SECRET), ("dhis2_base_url", "not a url")], "api.dhis2_base_url: not a URL"),
            ("", &[("DHIS2GW_JWT_SECRET", SECRET), ("DHIS2GW_DB", "mysql://x/y")], "database.uri: scheme"),
            ("", &[("DHIS2GW_JWT_SECRET", SECRET), ("DISPATCHER2_TIMEZONE", "Mars/Olympus")], "server.timezone"),
            ("", &[("DHIS2GW_JWT_SECRET", SECRET), ("save_response", "maybe")], "api.save_response: invalid boolean"),
            (
                "",
                &[("DHIS2GW_JWT_SECRET", SECRET), ("dhis2_maintenance_windows", "00:00-04:00, nightly")],
                "api.dhis2_maintenance_windows: [1]: 'nightly' is not a window",
            ),
        ];
        for (yaml, env, expected) in cases {
            let err = load(yaml, env).expect_err(expected).to_string();
            assert!(err.contains(expected), "{err:?} should contain {expected:?}");
            assert_eq!(err.lines().count(), 1, "{err:?} should be one line");
        }
        let err = load("", &[("DHIS2GW_JWT_SECRET", SECRET), ("DHIS2GW_SERVER_PORT", "x")]).unwrap_err().to_string();
        assert!(err.contains("(from env DHIS2GW_SERVER_PORT)"), "{err}");
    }

    #[test]
    fn both_cron_forms_are_accepted() {
        for expr in ["0 0-23/6 * * *", "*/5 * * * *", "30 */5 * * * *"] {
            parse_cron(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        }
    }

    #[test]
    fn redis_addresses_become_urls_with_the_database_number() {
        let redis_url = |address: &str, db| address.parse::<RedisAddress>().map(|a| a.url(db));
        assert_eq!(redis_url("127.0.0.1:6379", 2).unwrap(), "redis://127.0.0.1:6379/2");
        assert_eq!(redis_url("redis://:pw@h:1", 3).unwrap(), "redis://:pw@h:1/3");
        assert_eq!(redis_url("redis://h:1/4", 0).unwrap(), "redis://h:1/4");
        assert!(redis_url("", 0).is_err());
        assert!(redis_url("redis://", 0).is_err());
    }

    #[test]
    fn alerts_take_durations_and_rules_from_the_file_or_a_json_environment_variable() {
        let yaml = "alerts:\n  alert_repeat: 6h\n  check_interval: 90s\n  recipients: ops@moh.example.org, https://hooks.example.org/x\n  rules:\n    - {name: slow-queue, kind: queue_age, after: 30m, recipients: [oncall@moh.example.org]}\n";
        let l = load(yaml, &[("DHIS2GW_JWT_SECRET", SECRET)]).unwrap();
        let a = &l.config.alerts;
        assert_eq!((a.alert_repeat, a.check_interval), (6 * 3600, 90));
        assert_eq!(a.recipients, ["ops@moh.example.org", "https://hooks.example.org/x"]);
        assert_eq!((a.rules[0].name.as_str(), a.rules[0].after), ("slow-queue", Some(1800)));
        let env = r#"[{"name": "big-db", "kind": "database_size", "threshold": 2048}]"#;
        let l = load(
            "",
            &[("DHIS2GW_JWT_SECRET", SECRET), ("DHIS2GW_ALERTS_RULES", env), ("DHIS2GW_ALERTS_SMTP_TLS", "ssl")],
        )
        .unwrap();
        assert_eq!((l.config.alerts.rules[0].threshold, l.config.alerts.smtp_tls), (Some(2048.0), SmtpTls::Tls));
        for (yaml, key) in [
            ("alerts:\n  alert_repeat: soon\n", "alerts.alert_repeat"),
            ("alerts:\n  digest_time: '7am'\n", "alerts.digest_time"),
            ("alerts:\n  recipients: [ops]\n", "alerts.recipients"),
            ("alerts:\n  rules: [{name: x, kind: disk}]\n", "alerts.rules"),
            ("alerts:\n  rules: [{name: x, kind: queue_age, after: 1h, colour: red}]\n", "alerts.rules"),
            ("alerts:\n  rules: [{name: x, kind: queue_age}, {name: x, kind: held_age}]\n", "alerts.rules"),
            ("alerts:\n  smtp_host: mail\n  smtp_from: dhis2gw\n", "alerts.smtp_from"),
        ] {
            let e = load(yaml, &[("DHIS2GW_JWT_SECRET", SECRET)]).unwrap_err().to_string();
            assert!(e.contains(key), "{yaml}: {e}");
        }
    }

    #[test]
    fn the_packaged_configuration_loads_and_names_every_key() {
        let shipped = include_str!("../../../packaging/deb/dhis2gw.yml");
        let l = load(shipped, &[("DHIS2GW_JWT_SECRET", SECRET), ("DHIS2GW_CREDENTIALS_KEY", SECRET)]).unwrap();
        assert_eq!(l.config.server.logdir, "/var/log/dhis2gw");
        assert_eq!(l.config.server.jwt_secret_file, "/etc/dhis2gw/jwt.secret");
        let tree = serde_json::to_value(Config::default()).unwrap();
        for (key, _) in leaves(&tree) {
            let field = key.split_once('.').unwrap().1;
            let mentioned = shipped.lines().any(|line| {
                let line = line.trim_start().trim_start_matches("# ");
                line.starts_with(&format!("{field}:"))
            });
            assert!(mentioned, "{key} is missing from packaging/deb/dhis2gw.yml");
        }
    }

    #[test]
    fn the_dhis2_api_path_must_not_shadow_the_gateways_own_routes() {
        for (path, ok) in [
            ("/dhis2", true),
            ("", true),
            ("/gw/dhis2", true),
            ("dhis2", false),
            ("/api", false),
            ("/docs/x", false),
            ("/dhis2/", false),
        ] {
            let result = load("", &[("DHIS2GW_JWT_SECRET", SECRET), ("DHIS2GW_DHIS2_API_PATH", path)]);
            assert_eq!(result.is_ok(), ok, "{path}: {:?}", result.err());
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_reported_not_fatal() {
        let yaml = "server:\n  http_port: 8000\n  max_concurent: 9\napi:\n  dhis2_base_ulr: https://x\n";
        let l = load(yaml, &[("DHIS2GW_JWT_SECRET", SECRET)]).unwrap();
        assert_eq!(l.unknown_keys, ["api.dhis2_base_ulr", "server.max_concurent"]);
        assert_eq!(l.config.server.port, 8000, "aliases are known keys");
    }

    #[test]
    fn the_jwt_secret_can_come_from_a_file_unless_set_directly() {
        let file = std::env::temp_dir().join(format!("dhis2gw-jwt-{}", uuid::Uuid::new_v4()));
        std::fs::write(&file, format!("{SECRET}\n")).unwrap();
        let yaml = format!("server:\n  jwt_secret_file: {}\n", file.display());
        let l = load(&yaml, &[]).unwrap();
        assert_eq!(l.config.server.jwt_secret.expose(), SECRET, "the trailing newline is not part of the secret");
        assert_eq!(l.sources["server.jwt_secret"], Source::File(file.clone()));
        let direct = "x".repeat(40);
        let l = load(&yaml, &[("DHIS2GW_JWT_SECRET", direct.as_str())]).unwrap();
        assert_eq!(l.config.server.jwt_secret.expose(), direct);
        std::fs::remove_file(&file).unwrap();
        let e = load(&yaml, &[]).unwrap_err().to_string();
        assert!(e.contains("server.jwt_secret_file: cannot read") && e.contains("(from file "), "{e}");
    }

    #[test]
    fn printed_configuration_masks_secrets_and_names_sources() {
        let l = load(
            "database:\n  uri: postgres://gw:hunter2@db/gw\nserver:\n  redis_address: redis://:swordfish@cache:6379\n",
            &[("DHIS2GW_JWT_SECRET", SECRET), ("dhis2_pat", "d2pat_secret")],
        )
        .unwrap();
        let yaml = l.to_annotated_yaml();
        assert!(!yaml.contains("hunter2") && !yaml.contains(SECRET) && !yaml.contains("d2pat_secret"), "{yaml}");
        assert!(!yaml.contains("swordfish") && yaml.contains("redis://:********@cache:6379"), "{yaml}");
        assert!(yaml.contains("jwt_secret: \"********\"  # env DHIS2GW_JWT_SECRET"), "{yaml}");
        assert!(yaml.contains("# file "), "{yaml}");
        assert!(yaml.contains("port: 9090  # default"), "{yaml}");
        let reparsed: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(reparsed["server"]["port"], 9090);
    }
}
