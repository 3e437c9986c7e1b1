//! `POST /api/metadata` for org units, levels and groups (reference A.5, "Writing to
//! another server"): validation with DHIS2's metadata error codes, the ImportReport, and
//! storing what was imported.
//!
//! | Problem | Code |
//! |---|---|
//! | `id` is not a UID | E4014 |
//! | CREATE of an existing UID / UPDATE or DELETE of a missing one | E5000 / E5001 |
//! | `name`, `shortName`, `openingDate` (units), `name`, `level` (levels), `name`, `shortName` (groups) missing | E4000 |
//! | `name` > 230, `shortName` > 50, `code` > 50 characters | E4001 |
//! | `closedDate` before `openingDate` | E4013 |
//! | level below 1 | E4008 |
//! | `code` (or a level's `level`) already used by another object | E5003 |
//! | the same UID twice in one payload (all but the first are dropped) | E5004 |
//! | `parent{id}` or a group member that is neither stored nor valid in the payload, or a parent cycle | E5002 |
//! | DELETE of a unit that still has children | E4030 |
//!
//! A unit without `parent` is a root. Every property is overwritten on update, nulls too
//! (a missing `code` clears the code, a missing `parent` makes the unit a root); `path`,
//! `level` and group memberships sent with a unit are ignored (derived, or owned by the
//! group). Missing UIDs are generated, as DHIS2 does.
//!
//! `atomicMode=ALL` (default): any error stores nothing, every object counts as ignored and
//! the status is ERROR. `NONE`: the valid objects are stored, status WARNING. VALIDATE
//! checks only: nothing is stored and nothing counts as created or updated.

use crate::stats::Stats;
use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::NaiveDateTime;
use serde_json::{Map, Value, json};

use super::{
    CODE_MAX, GROUP_KLASS, Group, LEVEL_KLASS, Level, NAME_MAX, OrgUnit, Registry, SHORT_NAME_MAX, UNIT_KLASS, is_uid,
};
use crate::common::Version;
use crate::import::query_pairs;
use crate::time;

/// Unit properties stored as sent and echoed back.
const UNIT_EXTRA: [&str; 8] =
    ["description", "comment", "url", "contactPerson", "address", "email", "phoneNumber", "geometry"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    Create,
    Update,
    CreateAndUpdate,
    Delete,
}

impl Strategy {
    fn as_str(self) -> &'static str {
        match self {
            Strategy::Create => "CREATE",
            Strategy::Update => "UPDATE",
            Strategy::CreateAndUpdate => "CREATE_AND_UPDATE",
            Strategy::Delete => "DELETE",
        }
    }
}

/// The query parameters of one metadata import.
pub(crate) struct Params {
    validate_only: bool,
    strategy: Strategy,
    atomic_all: bool,
    /// `importReportMode=FULL|DEBUG`: report every object, not only failed ones.
    report_all: bool,
}

/// Picks one of `allowed` (case-insensitive) or explains the bad value.
fn choice(
    value: Option<&str>,
    name: &str,
    allowed: &[&'static str],
    default: &'static str,
) -> Result<&'static str, String> {
    match value {
        None => Ok(default),
        Some(v) => allowed.iter().find(|a| a.eq_ignore_ascii_case(v)).copied().ok_or_else(|| {
            format!("Value `{v}` is not valid for parameter `{name}`. Valid values are: [{}]", allowed.join(", "))
        }),
    }
}

impl Params {
    /// `Err` is a bad request. Parameters the double cannot honour are refused rather than
    /// silently ignored.
    pub(crate) fn from_query(query: &str) -> Result<Params, String> {
        let pairs = query_pairs(query);
        let get = |name: &str| pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let flag = |name: &str| match get(name) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) => Err(format!("Value `{v}` of parameter `{name}` is not a boolean (true or false)")),
        };
        let import_mode = choice(get("importMode"), "importMode", &["COMMIT", "VALIDATE"], "COMMIT")?;
        let strategy = match choice(
            get("importStrategy"),
            "importStrategy",
            &["CREATE", "UPDATE", "CREATE_AND_UPDATE", "DELETE"],
            "CREATE_AND_UPDATE",
        )? {
            "CREATE" => Strategy::Create,
            "UPDATE" => Strategy::Update,
            "DELETE" => Strategy::Delete,
            _ => Strategy::CreateAndUpdate,
        };
        let atomic = choice(get("atomicMode"), "atomicMode", &["ALL", "NONE"], "ALL")?;
        let identifier = choice(get("identifier"), "identifier", &["UID", "CODE", "AUTO"], "UID")?;
        if identifier != "UID" {
            return Err(format!("identifier={identifier} is not supported by the DHIS2 double, only UID"));
        }
        let report = choice(get("importReportMode"), "importReportMode", &["ERRORS", "FULL", "DEBUG"], "ERRORS")?;
        choice(get("preheatMode"), "preheatMode", &["REFERENCE", "ALL", "NONE"], "REFERENCE")?;
        choice(get("flushMode"), "flushMode", &["AUTO", "OBJECT"], "AUTO")?;
        if choice(get("mergeMode"), "mergeMode", &["REPLACE", "MERGE"], "REPLACE")? != "REPLACE" {
            return Err("mergeMode=MERGE is not supported by the DHIS2 double, only REPLACE".to_owned());
        }
        if flag("async")? {
            return Err("async=true is not supported by the DHIS2 double for /api/metadata".to_owned());
        }
        for name in ["skipSharing", "skipTranslation", "skipValidation"] {
            flag(name)?;
        }
        Ok(Params {
            validate_only: import_mode == "VALIDATE" || flag("dryRun")?,
            strategy,
            atomic_all: atomic == "ALL",
            report_all: report != "ERRORS",
        })
    }

    fn to_json(&self) -> Value {
        json!({
            "userOverrideMode": "NONE",
            "importMode": if self.validate_only { "VALIDATE" } else { "COMMIT" },
            "identifier": "UID",
            "preheatMode": "REFERENCE",
            "importStrategy": self.strategy.as_str(),
            "atomicMode": if self.atomic_all { "ALL" } else { "NONE" },
            "mergeMode": "REPLACE",
            "flushMode": "AUTO",
            "skipSharing": false,
            "skipTranslation": false,
            "skipValidation": false,
            "metadataSyncImport": false,
            "firstRowIsHeader": true,
            "username": crate::common::USERNAME,
        })
    }
}

/// One `errorReports[]` entry.
struct ErrorReport {
    code: &'static str,
    message: String,
    main_klass: &'static str,
    main_id: String,
    property: Option<&'static str>,
    args: Vec<String>,
    value: Option<String>,
}

impl ErrorReport {
    fn to_json(&self) -> Value {
        let mut out = json!({
            "message": self.message,
            "mainKlass": self.main_klass,
            "mainId": self.main_id,
            "errorCode": self.code,
            "args": self.args,
            "errorProperties": self.property.into_iter().collect::<Vec<_>>(),
        });
        if let Some(property) = self.property {
            out["errorProperty"] = json!(property);
        }
        if let Some(value) = &self.value {
            out["value"] = json!(value);
        }
        out
    }
}

/// What an import does to one object.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Update,
    Delete,
}

/// One object of the payload with what was found about it.
struct Checked<T> {
    index: usize,
    uid: String,
    name: Option<String>,
    action: Action,
    errors: Vec<ErrorReport>,
    input: T,
}

impl<T> Checked<T> {
    fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// How DHIS2 names an object in messages: `name [uid] (Klass)`.
    fn display(&self, klass: &str) -> String {
        display(self.name.as_deref(), &self.uid, klass)
    }
}

fn display(name: Option<&str>, uid: &str, klass: &str) -> String {
    let short = klass.rsplit('.').next().unwrap_or(klass);
    match name {
        Some(name) => format!("{name} [{uid}] ({short})"),
        None => format!("[{uid}] ({short})"),
    }
}

struct UnitIn {
    short_name: Option<String>,
    code: Option<String>,
    parent: Option<String>,
    opening: Option<NaiveDateTime>,
    closed: Option<NaiveDateTime>,
    extra: Map<String, Value>,
}

struct LevelIn {
    code: Option<String>,
    level: Option<i64>,
}

struct GroupIn {
    short_name: Option<String>,
    code: Option<String>,
    members: Vec<String>,
}

/// Everything one import decided, ready to be reported.
pub(crate) struct Outcome {
    report: Value,
    ok: bool,
}

impl Outcome {
    pub(crate) fn report(&self) -> &Value {
        &self.report
    }

    pub(crate) fn is_ok(&self) -> bool {
        self.ok
    }
}

fn parse_error(message: impl std::fmt::Display) -> String {
    format!("JSON parse error: {message}")
}

fn string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(parse_error(format!("`{key}` must be a string"))),
    }
}

fn date(obj: &Map<String, Value>, key: &str) -> Result<Option<NaiveDateTime>, String> {
    match string(obj, key)? {
        None => Ok(None),
        Some(s) => time::parse(&s)
            .map(Some)
            .ok_or_else(|| parse_error(format!("cannot deserialize `{key}` from String \"{s}\": not a valid date"))),
    }
}

/// `{"id": …}` or null.
fn reference(value: Option<&Value>, key: &str) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(obj)) => string(obj, "id"),
        Some(_) => Err(parse_error(format!("`{key}` must be an object like {{\"id\": …}}"))),
    }
}

fn objects<'a>(root: &'a Map<String, Value>, key: &str) -> Result<Vec<&'a Map<String, Value>>, String> {
    match root.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_object().ok_or_else(|| parse_error(format!("every entry of `{key}` must be an object")))
            })
            .collect(),
        Some(_) => Err(parse_error(format!("`{key}` must be an array"))),
    }
}

/// What the per-object start checks of one type share.
struct Starter<'a> {
    params: &'a Params,
    new_uid: &'a dyn Fn() -> String,
    seen: HashSet<String>,
}

impl Starter<'_> {
    /// Checks shared by every type: the UID, payload duplicates and the strategy.
    fn start<T>(
        &mut self,
        index: usize,
        obj: &Map<String, Value>,
        klass: &'static str,
        exists: impl Fn(&str) -> bool,
        input: T,
    ) -> Result<Checked<T>, String> {
        let given = string(obj, "id")?;
        let name = string(obj, "name")?;
        let uid = given.unwrap_or_else(self.new_uid);
        let mut errors = Vec::new();
        let report = |code, message: String, property, args: Vec<String>| ErrorReport {
            code,
            message,
            main_klass: klass,
            main_id: uid.clone(),
            property,
            args,
            value: None,
        };
        if !is_uid(&uid) {
            errors.push(report(
                "E4014",
                format!("Invalid UID `{uid}` for property `id`"),
                Some("id"),
                vec![uid.clone(), "id".into()],
            ));
        }
        if !self.seen.insert(uid.clone()) {
            let short = klass.rsplit('.').next().unwrap_or(klass);
            errors.push(report(
                "E5004",
                format!(
                    "Id `{uid}` for type `{short}` exists on more than 1 object in the payload, removing all but the first found."
                ),
                Some("id"),
                vec![uid.clone(), short.to_owned()],
            ));
        }
        let found = exists(&uid);
        let strategy = self.params.strategy;
        let action = match (strategy, found) {
            (Strategy::Delete, _) => Action::Delete,
            (Strategy::Create | Strategy::CreateAndUpdate, false) => Action::Create,
            _ => Action::Update,
        };
        let shown = display(name.as_deref(), &uid, klass);
        match (strategy, found) {
            (Strategy::Create, true) => errors.push(report(
                "E5000",
                format!(
                    "Found matching object for reference, but import mode is CREATE. Identifier was UID, and object was {shown}."
                ),
                None,
                vec!["UID".into(), shown.clone()],
            )),
            (Strategy::Update | Strategy::Delete, false) => errors.push(report(
                "E5001",
                format!("No matching object for reference. Identifier was UID, and object was {shown}."),
                None,
                vec!["UID".into(), shown.clone()],
            )),
            _ => {}
        }
        Ok(Checked { index, uid, name, action, errors, input })
    }
}

/// E4000 and E4001 for one string property.
fn require(
    errors: &mut Vec<ErrorReport>,
    version: Version,
    klass: &'static str,
    uid: &str,
    property: &'static str,
    value: Option<&str>,
    max: Option<usize>,
) {
    let report = |code, message, args| ErrorReport {
        code,
        message,
        main_klass: klass,
        main_id: uid.to_owned(),
        property: Some(property),
        args,
        value: None,
    };
    match value {
        None => errors.push(missing(version, klass, uid, property)),
        Some(v) if v.trim().is_empty() => errors.push(missing(version, klass, uid, property)),
        Some(v) => {
            let length = v.chars().count();
            if let Some(max) = max.filter(|max| length > *max) {
                errors.push(report(
                    "E4001",
                    format!("Maximum length of property `{property}`is {max}, but given length was {length}."),
                    vec![property.to_owned(), max.to_string(), length.to_string()],
                ));
            }
        }
    }
}

/// E4000; the message lost its final period in the 2.41+ code base.
fn missing(version: Version, klass: &'static str, uid: &str, property: &'static str) -> ErrorReport {
    let period = if version == Version::V2_43 { "" } else { "." };
    ErrorReport {
        code: "E4000",
        message: format!("Missing required property `{property}`{period}"),
        main_klass: klass,
        main_id: uid.to_owned(),
        property: Some(property),
        args: vec![property.to_owned()],
        value: None,
    }
}

fn max_length(
    errors: &mut Vec<ErrorReport>,
    klass: &'static str,
    uid: &str,
    property: &'static str,
    value: Option<&str>,
    max: usize,
) {
    let Some(value) = value else { return };
    let length = value.chars().count();
    if length > max {
        errors.push(ErrorReport {
            code: "E4001",
            message: format!("Maximum length of property `{property}`is {max}, but given length was {length}."),
            main_klass: klass,
            main_id: uid.to_owned(),
            property: Some(property),
            args: vec![property.to_owned(), max.to_string(), length.to_string()],
            value: None,
        });
    }
}

fn duplicate(
    klass: &'static str,
    uid: &str,
    property: &'static str,
    value: &str,
    this: &str,
    other: &str,
) -> ErrorReport {
    ErrorReport {
        code: "E5003",
        message: format!(
            "Property `{property}` with value `{value}` on object {this} already exists on object {other}."
        ),
        main_klass: klass,
        main_id: uid.to_owned(),
        property: Some(property),
        args: vec![property.to_owned(), value.to_owned(), this.to_owned(), other.to_owned()],
        value: Some(value.to_owned()),
    }
}

fn invalid_reference(
    klass: &'static str,
    uid: &str,
    this: &str,
    target: &str,
    association: &'static str,
) -> ErrorReport {
    let target = display(None, target, UNIT_KLASS);
    ErrorReport {
        code: "E5002",
        message: format!("Invalid reference {target} on object {this} for association `{association}`."),
        main_klass: klass,
        main_id: uid.to_owned(),
        property: Some(association),
        args: vec![target, this.to_owned(), association.to_owned()],
        value: None,
    }
}

/// Runs one import against `registry`. `Err` is a payload that cannot be read (HTTP 400).
pub(crate) fn run(
    registry: &mut Registry,
    version: Version,
    params: &Params,
    body: &Value,
    new_uid: &dyn Fn() -> String,
) -> Result<Outcome, String> {
    let root = body.as_object().ok_or_else(|| parse_error("the metadata payload must be a JSON object"))?;
    let deleting = params.strategy == Strategy::Delete;

    // Units: per-object checks.
    let mut starter = Starter { params, new_uid, seen: HashSet::new() };
    let mut units = Vec::new();
    for (index, obj) in objects(root, "organisationUnits")?.into_iter().enumerate() {
        let mut extra = Map::new();
        for key in UNIT_EXTRA {
            if let Some(value) = obj.get(key).filter(|v| !v.is_null()) {
                extra.insert(key.to_owned(), value.clone());
            }
        }
        let input = UnitIn {
            short_name: string(obj, "shortName")?,
            code: string(obj, "code")?,
            parent: reference(obj.get("parent"), "parent")?,
            opening: date(obj, "openingDate")?,
            closed: date(obj, "closedDate")?,
            extra,
        };
        let mut unit = starter.start(index, obj, UNIT_KLASS, |u| registry.units.contains_key(u), input)?;
        if !deleting {
            let (uid, errors, input) = (&unit.uid, &mut unit.errors, &unit.input);
            require(errors, version, UNIT_KLASS, uid, "name", unit.name.as_deref(), Some(NAME_MAX));
            require(errors, version, UNIT_KLASS, uid, "shortName", input.short_name.as_deref(), Some(SHORT_NAME_MAX));
            if input.opening.is_none() {
                errors.push(missing(version, UNIT_KLASS, uid, "openingDate"));
            }
            max_length(errors, UNIT_KLASS, uid, "code", input.code.as_deref(), CODE_MAX);
            if let (Some(opening), Some(closed)) = (input.opening, input.closed)
                && closed < opening
            {
                let (closed, opening) = (time::format(closed), time::format(opening));
                errors.push(ErrorReport {
                    code: "E4013",
                    message: format!("Invalid Closing date `{closed}`, must be after Opening date `{opening}`"),
                    main_klass: UNIT_KLASS,
                    main_id: uid.clone(),
                    property: Some("closedDate"),
                    args: vec![closed, opening],
                    value: None,
                });
            }
        }
        units.push(unit);
    }
    if !deleting {
        // Codes are unique among units: against the store and within the payload.
        let mut codes: HashMap<String, String> = HashMap::new();
        for unit in &mut units {
            let Some(code) = unit.input.code.clone() else { continue };
            let this = unit.display(UNIT_KLASS);
            let uid = unit.uid.clone();
            let other = registry
                .units
                .values()
                .find(|u| u.code.as_deref() == Some(&code) && u.id != uid)
                .map(|u| display(Some(&u.name), &u.id, UNIT_KLASS))
                .or_else(|| codes.get(&code).filter(|o| **o != this).cloned());
            match other {
                Some(other) => unit.errors.push(duplicate(UNIT_KLASS, &uid, "code", &code, &this, &other)),
                None => {
                    codes.insert(code, this);
                }
            }
        }
        resolve_parents(registry, &mut units);
    } else {
        // A unit with children stays, unless the children go in the same import.
        let going: HashSet<String> = units.iter().filter(|u| u.ok()).map(|u| u.uid.clone()).collect();
        for unit in units.iter_mut().filter(|u| u.ok()) {
            let has_children = registry
                .units
                .values()
                .any(|u| u.parent.as_deref() == Some(unit.uid.as_str()) && !going.contains(&u.id));
            if has_children {
                unit.errors.push(ErrorReport {
                    code: "E4030",
                    message:
                        "Object could not be deleted because it is associated with another object: OrganisationUnit"
                            .to_owned(),
                    main_klass: UNIT_KLASS,
                    main_id: unit.uid.clone(),
                    property: None,
                    args: vec!["OrganisationUnit".into()],
                    value: None,
                });
            }
        }
    }

    // Levels.
    let mut starter = Starter { params, new_uid, seen: HashSet::new() };
    let mut levels = Vec::new();
    for (index, obj) in objects(root, "organisationUnitLevels")?.into_iter().enumerate() {
        let level = match obj.get("level") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n.as_i64().ok_or_else(|| parse_error("`level` must be an integer"))?),
            Some(Value::String(s)) => Some(s.parse().map_err(|_| parse_error("`level` must be an integer"))?),
            Some(_) => return Err(parse_error("`level` must be an integer")),
        };
        let input = LevelIn { code: string(obj, "code")?, level };
        let mut checked = starter.start(index, obj, LEVEL_KLASS, |u| registry.levels.contains_key(u), input)?;
        if !deleting {
            let uid = checked.uid.clone();
            require(&mut checked.errors, version, LEVEL_KLASS, &uid, "name", checked.name.as_deref(), Some(NAME_MAX));
            max_length(&mut checked.errors, LEVEL_KLASS, &uid, "code", checked.input.code.as_deref(), CODE_MAX);
            match checked.input.level {
                None => checked.errors.push(missing(version, LEVEL_KLASS, &uid, "level")),
                Some(n) if !(1..=i64::from(i32::MAX)).contains(&n) => checked.errors.push(ErrorReport {
                    code: "E4008",
                    message: format!(
                        "Allowed range for numeric property `level` is [1 to 2147483647], but number given was {n}."
                    ),
                    main_klass: LEVEL_KLASS,
                    main_id: uid.clone(),
                    property: Some("level"),
                    args: vec!["level".into(), "1".into(), "2147483647".into(), n.to_string()],
                    value: Some(n.to_string()),
                }),
                Some(_) => {}
            }
        }
        levels.push(checked);
    }
    if !deleting {
        let mut taken: HashMap<i64, String> = HashMap::new();
        for level in &mut levels {
            let Some(n) = level.input.level else { continue };
            let this = level.display(LEVEL_KLASS);
            let uid = level.uid.clone();
            let other = registry
                .levels
                .values()
                .find(|l| i64::from(l.level) == n && l.id != uid)
                .map(|l| display(Some(&l.name), &l.id, LEVEL_KLASS))
                .or_else(|| taken.get(&n).filter(|o| **o != this).cloned());
            match other {
                Some(other) => level.errors.push(duplicate(LEVEL_KLASS, &uid, "level", &n.to_string(), &this, &other)),
                None => {
                    taken.insert(n, this);
                }
            }
        }
    }

    // Groups.
    let valid_units: HashSet<String> = units.iter().filter(|u| u.ok()).map(|u| u.uid.clone()).collect();
    let mut starter = Starter { params, new_uid, seen: HashSet::new() };
    let mut groups = Vec::new();
    for (index, obj) in objects(root, "organisationUnitGroups")?.into_iter().enumerate() {
        let mut members = Vec::new();
        match obj.get("organisationUnits") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    let id = reference(Some(item), "organisationUnits")?
                        .ok_or_else(|| parse_error("every entry of `organisationUnits` needs an `id`"))?;
                    members.push(id);
                }
            }
            Some(_) => return Err(parse_error("`organisationUnits` must be an array")),
        }
        let input = GroupIn { short_name: string(obj, "shortName")?, code: string(obj, "code")?, members };
        let mut checked = starter.start(index, obj, GROUP_KLASS, |u| registry.groups.contains_key(u), input)?;
        if !deleting {
            let uid = checked.uid.clone();
            let this = checked.display(GROUP_KLASS);
            let errors = &mut checked.errors;
            require(errors, version, GROUP_KLASS, &uid, "name", checked.name.as_deref(), Some(NAME_MAX));
            require(
                errors,
                version,
                GROUP_KLASS,
                &uid,
                "shortName",
                checked.input.short_name.as_deref(),
                Some(SHORT_NAME_MAX),
            );
            max_length(errors, GROUP_KLASS, &uid, "code", checked.input.code.as_deref(), CODE_MAX);
            if let Some(code) = &checked.input.code
                && let Some(other) = registry.groups.values().find(|g| g.code.as_ref() == Some(code) && g.id != uid)
            {
                let other = display(Some(&other.name), &other.id, GROUP_KLASS);
                errors.push(duplicate(GROUP_KLASS, &uid, "code", code, &this, &other));
            }
            for member in &checked.input.members {
                let known = registry.units.contains_key(member) || valid_units.contains(member);
                if !known {
                    errors.push(invalid_reference(GROUP_KLASS, &uid, &this, member, "organisationUnits"));
                }
            }
        }
        groups.push(checked);
    }

    let failed = units.iter().any(|u| !u.ok()) || levels.iter().any(|l| !l.ok()) || groups.iter().any(|g| !g.ok());
    let commit = !(params.validate_only || (failed && params.atomic_all));
    if commit {
        apply(registry, &units, &levels, &groups);
    }

    let mut type_reports = Vec::new();
    let mut totals = Stats::default();
    let reports = [
        type_report(UNIT_KLASS, &units, params, failed, commit),
        type_report(LEVEL_KLASS, &levels, params, failed, commit),
        type_report(GROUP_KLASS, &groups, params, failed, commit),
    ];
    for (report, stats) in reports.into_iter().flatten() {
        totals.add(stats);
        type_reports.push(report);
    }
    let status = match (failed, params.atomic_all) {
        (false, _) => "OK",
        (true, true) => "ERROR",
        (true, false) => "WARNING",
    };
    let report = json!({
        "responseType": "ImportReport",
        "importParams": params.to_json(),
        "status": status,
        "typeReports": type_reports,
        "stats": totals.to_json(),
    });
    Ok(Outcome { report, ok: !failed })
}

/// The type report of one object type and its stats; `None` if the payload had none.
fn type_report<T>(
    klass: &'static str,
    objects: &[Checked<T>],
    params: &Params,
    failed: bool,
    commit: bool,
) -> Option<(Value, Stats)> {
    if objects.is_empty() {
        return None;
    }
    let mut stats = Stats::default();
    let mut reports = Vec::new();
    for object in objects {
        stats.total += 1;
        if (failed && params.atomic_all) || !object.ok() {
            stats.ignored += 1;
        } else if commit {
            match object.action {
                Action::Create => stats.created += 1,
                Action::Update => stats.updated += 1,
                Action::Delete => stats.deleted += 1,
            }
        }
        if params.report_all || !object.ok() {
            let mut report = json!({
                "klass": klass,
                "index": object.index,
                "uid": object.uid,
                "errorReports": object.errors.iter().map(ErrorReport::to_json).collect::<Vec<_>>(),
            });
            if let Some(name) = &object.name {
                report["displayName"] = json!(name);
            }
            reports.push(report);
        }
    }
    Some((json!({ "klass": klass, "stats": stats.to_json(), "objectReports": reports }), stats))
}

/// Marks units whose parent is neither stored nor a valid unit of the payload, and units
/// whose parent chain loops, until nothing changes.
fn resolve_parents(registry: &Registry, units: &mut [Checked<UnitIn>]) {
    loop {
        let valid: HashMap<String, Option<String>> =
            units.iter().filter(|u| u.ok()).map(|u| (u.uid.clone(), u.input.parent.clone())).collect();
        let parent_of = |uid: &str| -> Option<Option<String>> {
            valid.get(uid).cloned().or_else(|| registry.units.get(uid).map(|u| u.parent.clone()))
        };
        let mut changed = false;
        for unit in units.iter_mut().filter(|u| u.ok()) {
            let this = unit.display(UNIT_KLASS);
            let Some(parent) = unit.input.parent.clone() else { continue };
            let resolvable = parent_of(&parent).is_some();
            // Walk up from the parent; meeting the unit itself again is a cycle.
            let mut cycle = false;
            let mut steps = 0;
            let mut current = Some(parent.clone());
            while let Some(uid) = current {
                if uid == unit.uid || steps > valid.len() + registry.units.len() {
                    cycle = true;
                    break;
                }
                steps += 1;
                current = parent_of(&uid).flatten();
            }
            if !resolvable || cycle {
                unit.errors.push(invalid_reference(UNIT_KLASS, &unit.uid, &this, &parent, "parent"));
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

/// Stores the valid objects.
fn apply(registry: &mut Registry, units: &[Checked<UnitIn>], levels: &[Checked<LevelIn>], groups: &[Checked<GroupIn>]) {
    let now = time::now();
    for unit in units.iter().filter(|u| u.ok()) {
        if unit.action == Action::Delete {
            registry.units.remove(&unit.uid);
            for group in registry.groups.values_mut() {
                if group.members.remove(&unit.uid) {
                    group.last_updated = now;
                }
            }
            continue;
        }
        let input = &unit.input;
        let previous = registry.units.remove(&unit.uid);
        let stored = OrgUnit {
            id: unit.uid.clone(),
            name: unit.name.clone().unwrap_or_default(),
            short_name: input.short_name.clone().unwrap_or_default(),
            code: input.code.clone(),
            parent: input.parent.clone(),
            opening_date: input.opening.unwrap_or(now),
            closed_date: input.closed,
            created: previous.as_ref().map_or(now, |p| p.created),
            last_updated: now,
            extra: input.extra.clone(),
            data_sets: previous.as_ref().map(|p| p.data_sets.clone()).unwrap_or_default(),
            programs: previous.map(|p| p.programs).unwrap_or_default(),
        };
        registry.units.insert(stored.id.clone(), stored);
    }
    for level in levels.iter().filter(|l| l.ok()) {
        if level.action == Action::Delete {
            registry.levels.remove(&level.uid);
            continue;
        }
        let created = registry.levels.get(&level.uid).map_or(now, |l| l.created);
        let stored = Level {
            id: level.uid.clone(),
            name: level.name.clone().unwrap_or_default(),
            code: level.input.code.clone(),
            level: u32::try_from(level.input.level.unwrap_or(1)).unwrap_or(1),
            created,
            last_updated: now,
        };
        registry.levels.insert(stored.id.clone(), stored);
    }
    for group in groups.iter().filter(|g| g.ok()) {
        if group.action == Action::Delete {
            registry.groups.remove(&group.uid);
            continue;
        }
        let created = registry.groups.get(&group.uid).map_or(now, |g| g.created);
        let stored = Group {
            id: group.uid.clone(),
            name: group.name.clone().unwrap_or_default(),
            short_name: group.input.short_name.clone().unwrap_or_default(),
            code: group.input.code.clone(),
            members: group.input.members.iter().cloned().collect::<BTreeSet<_>>(),
            created,
            last_updated: now,
        };
        registry.groups.insert(stored.id.clone(), stored);
    }
}
