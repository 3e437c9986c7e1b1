//! Import options: query parameters (`dryRun`, `async`, `importStrategy`) and the id
//! schemes that say how payload identifiers are matched.

use serde_json::{Map, Value, json};

use crate::model::IdScheme;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Strategy {
    Create,
    Update,
    CreateAndUpdate,
    Delete,
}

impl Strategy {
    fn parse(s: &str) -> Option<Strategy> {
        match s.to_ascii_uppercase().as_str() {
            "CREATE" => Some(Strategy::Create),
            "UPDATE" => Some(Strategy::Update),
            "CREATE_AND_UPDATE" => Some(Strategy::CreateAndUpdate),
            "DELETE" => Some(Strategy::Delete),
            _ => None,
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Strategy::Create => "CREATE",
            Strategy::Update => "UPDATE",
            Strategy::CreateAndUpdate => "CREATE_AND_UPDATE",
            Strategy::Delete => "DELETE",
        }
    }
}

/// The object types an id scheme can be set for, in `Schemes::specific` order.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    DataElement,
    OrgUnit,
    CategoryOptionCombo,
    AttributeOptionCombo,
    DataSet,
}

/// Id-scheme parameter names, shared by the URL and the payload; `None` is `idScheme`.
pub(super) const SCHEME_FIELDS: [(&str, Option<Kind>); 6] = [
    ("idScheme", None),
    ("dataElementIdScheme", Some(Kind::DataElement)),
    ("orgUnitIdScheme", Some(Kind::OrgUnit)),
    ("categoryOptionComboIdScheme", Some(Kind::CategoryOptionCombo)),
    ("attributeOptionComboIdScheme", Some(Kind::AttributeOptionCombo)),
    ("dataSetIdScheme", Some(Kind::DataSet)),
];

/// Id schemes given in one place (URL or payload).
#[derive(Clone, Copy, Default)]
pub(super) struct Schemes {
    general: Option<IdScheme>,
    specific: [Option<IdScheme>; 5],
}

impl Schemes {
    /// Reads every id-scheme field through `get`; `Err` describes the first unsupported one.
    pub(super) fn read(get: impl Fn(&str) -> Option<String>) -> Result<Schemes, String> {
        let mut schemes = Schemes::default();
        for (field, kind) in SCHEME_FIELDS {
            let Some(raw) = get(field) else { continue };
            let scheme = IdScheme::parse(&raw)
                .ok_or_else(|| format!("Id scheme `{raw}` of `{field}` is not supported; use UID, CODE or NAME"))?;
            match kind {
                Some(kind) => schemes.specific[kind as usize] = Some(scheme),
                None => schemes.general = Some(scheme),
            }
        }
        Ok(schemes)
    }
}

/// The scheme in force for each object type: specific beats general, and within the
/// same specificity the payload beats the URL.
#[derive(Clone, Copy)]
pub(super) struct EffectiveSchemes {
    general: Option<IdScheme>,
    per_kind: [IdScheme; 5],
}

impl EffectiveSchemes {
    pub(super) fn new(payload: &Schemes, url: &Schemes) -> EffectiveSchemes {
        let general = payload.general.or(url.general);
        let per_kind =
            std::array::from_fn(|k| payload.specific[k].or(url.specific[k]).or(general).unwrap_or(IdScheme::Uid));
        EffectiveSchemes { general, per_kind }
    }

    pub(super) fn of(&self, kind: Kind) -> IdScheme {
        self.per_kind[kind as usize]
    }

    /// `importOptions.idSchemes` as DHIS2 echoes it: only the schemes that were set.
    fn to_json(self) -> Value {
        let mut out = Map::new();
        for (field, kind) in SCHEME_FIELDS {
            let scheme = match kind {
                Some(kind) => Some(self.of(kind)).filter(|s| *s != IdScheme::Uid),
                None => self.general,
            };
            if let Some(scheme) = scheme {
                out.insert(field.to_owned(), json!({ "type": scheme.as_str() }));
            }
        }
        Value::Object(out)
    }
}

/// Options of one import, from the query string.
pub(crate) struct Options {
    pub(crate) dry_run: bool,
    pub(crate) is_async: bool,
    /// An unknown strategy fails the import (ERROR summary), it is not a bad request.
    pub(super) strategy: Result<Strategy, String>,
    pub(super) url_schemes: Result<Schemes, String>,
}

impl Options {
    /// Reads the query string; `Err` is a bad request (a boolean that is not one).
    pub(crate) fn from_query(query: &str) -> Result<Options, String> {
        let pairs = query_pairs(query);
        let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let flag = |name: &str| match get(name) {
            None => Ok(false),
            Some(v) if v.is_empty() || v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) => Err(format!("Value `{v}` of parameter `{name}` is not a boolean (true or false)")),
        };
        let strategy = match get("importStrategy") {
            None => Ok(Strategy::CreateAndUpdate),
            Some(s) => Strategy::parse(&s).ok_or_else(|| {
                format!("Import strategy `{s}` is not one of CREATE, UPDATE, CREATE_AND_UPDATE, DELETE")
            }),
        };
        Ok(Options { dry_run: flag("dryRun")?, is_async: flag("async")?, strategy, url_schemes: Schemes::read(get) })
    }

    fn strategy_or_default(&self) -> Strategy {
        *self.strategy.as_ref().unwrap_or(&Strategy::CreateAndUpdate)
    }

    /// `importOptions` as DHIS2 echoes it in the summary (defaults of `ImportOptions`).
    pub(super) fn to_json(&self, schemes: EffectiveSchemes) -> Value {
        json!({
            "idSchemes": schemes.to_json(),
            "dryRun": self.dry_run,
            "async": self.is_async,
            "importStrategy": self.strategy_or_default().as_str(),
            "mergeMode": "REPLACE",
            "reportMode": "FULL",
            "skipExistingCheck": false,
            "sharing": false,
            "skipNotifications": false,
            "skipAudit": false,
            "datasetAllowsPeriods": false,
            "strictPeriods": false,
            "strictDataElements": false,
            "strictCategoryOptionCombos": false,
            "strictAttributeOptionCombos": false,
            "strictOrganisationUnits": false,
            "requireCategoryOptionCombo": false,
            "requireAttributeOptionCombo": false,
            "skipPatternValidation": false,
            "ignoreEmptyCollection": false,
            "force": false,
            "firstRowIsHeader": true,
            "skipLastUpdated": false,
            "mergeDataValues": false,
            "skipCache": false
        })
    }
}

/// Splits and percent-decodes a query string (`+` is a space).
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_percent_decoded() {
        let pairs = query_pairs("a=1&dataElementIdScheme=c%4Fde&x=y+z&flag");
        assert_eq!(pairs[1], ("dataElementIdScheme".into(), "cOde".into()));
        assert_eq!(pairs[2], ("x".into(), "y z".into()));
        assert_eq!(pairs[3], ("flag".into(), String::new()));
    }

    #[test]
    fn options_reject_non_booleans_but_defer_unknown_strategies() {
        assert!(Options::from_query("dryRun=yes").is_err());
        let opts = Options::from_query("importStrategy=MERGE&dryRun=TRUE").unwrap();
        assert!(opts.dry_run);
        assert!(opts.strategy.is_err());
    }
}
