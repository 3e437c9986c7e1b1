//! What the console remembers between starts, the same in the browser (local storage) and in
//! the desktop app (a settings file it keeps private).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the console remembers between starts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Gateways signed in to before, most recent first.
    pub gateways: Vec<String>,
    pub username: String,
    /// `light`, `dark`, or empty for the system's choice.
    pub theme: String,
    /// The submission log's filters, sort and page size.
    pub log_filters: BTreeMap<String, String>,
    /// The Reporting screen's data set, periods, org unit, partner and `level`.
    pub report_filters: BTreeMap<String, String>,
    /// Refresh tokens by gateway (desktop only; a browser keeps them for the tab's life).
    pub refresh_tokens: BTreeMap<String, String>,
}

impl Settings {
    /// Puts a gateway first in the list of remembered ones (at most ten).
    pub fn remember_gateway(&mut self, gateway: &str) {
        let gateway = normalise_gateway(gateway);
        self.gateways.retain(|g| *g != gateway);
        self.gateways.insert(0, gateway);
        self.gateways.truncate(10);
    }
}

/// A gateway address as typed, made comparable: scheme added, no trailing slash.
pub fn normalise_gateway(input: &str) -> String {
    let input = input.trim().trim_end_matches('/');
    let input = input.strip_suffix("/console").unwrap_or(input);
    if input.contains("://") { input.to_string() } else { format!("http://{input}") }
}
