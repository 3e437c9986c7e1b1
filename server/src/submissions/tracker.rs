//! Tracker submissions: a DHIS2 tracker import payload (nested or flat), checked at the edge
//! the way DHIS2 would, with UIDs assigned where the partner sent only its own record ids.
//!
//! An object without a UID carries `ref`, the partner's id of that record; its UID is derived
//! from the partner and the ref, so sending the same record again updates it in DHIS2 instead
//! of creating a duplicate. Flat payloads refer to a parent the same way
//! (`trackedEntityRef`, `enrollmentRef`). Refs never reach DHIS2.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::infra::error::{AppError, AppResult};
use crate::infra::uid;

/// The kinds of tracker object, as DHIS2 names them in reports.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    TrackedEntity,
    Enrollment,
    Event,
    Relationship,
}

impl Kind {
    /// The property holding the object's UID.
    fn id_field(self) -> &'static str {
        match self {
            Kind::TrackedEntity => "trackedEntity",
            Kind::Enrollment => "enrollment",
            Kind::Event => "event",
            Kind::Relationship => "relationship",
        }
    }

    fn required(self) -> &'static [&'static str] {
        match self {
            Kind::TrackedEntity => &["trackedEntityType", "orgUnit"],
            Kind::Enrollment => &["program", "orgUnit", "enrolledAt"],
            Kind::Event => &["programStage", "orgUnit"],
            Kind::Relationship => &["relationshipType", "from", "to"],
        }
    }
}

/// Properties that hold metadata UIDs (the gateway sends `idScheme=UID`).
const METADATA_REFERENCES: [&str; 6] =
    ["trackedEntityType", "program", "programStage", "orgUnit", "relationshipType", "attributeOptionCombo"];
const DATE_FIELDS: [&str; 5] = ["enrolledAt", "occurredAt", "scheduledAt", "completedAt", "followUpAt"];
const ENROLLMENT_STATUSES: [&str; 3] = ["ACTIVE", "COMPLETED", "CANCELLED"];
const EVENT_STATUSES: [&str; 6] = ["ACTIVE", "COMPLETED", "VISITED", "SCHEDULE", "OVERDUE", "SKIPPED"];
const TOP_LEVEL: [&str; 4] = ["trackedEntities", "enrollments", "events", "relationships"];
/// Most objects in one submission; larger loads belong in several.
const MAX_OBJECTS: usize = 50_000;

/// Records `uids` as the partner's tracker objects, unless another partner sent them first:
/// then 403 naming them, so a UID learnt elsewhere cannot update another partner's records.
pub async fn claim(db: &sqlx::PgPool, partner: i64, uids: &[String]) -> AppResult<()> {
    // Two statements: the check must see claims that parallel requests committed meanwhile.
    sqlx::query!(
        "INSERT INTO tracker_owners (uid, user_id) SELECT unnest($1::text[]), $2 ON CONFLICT (uid) DO NOTHING",
        uids,
        partner
    )
    .execute(db)
    .await?;
    let foreign = sqlx::query_scalar!(
        "SELECT uid FROM tracker_owners WHERE uid = ANY($1) AND user_id <> $2 ORDER BY uid LIMIT 20",
        uids,
        partner
    )
    .fetch_all(db)
    .await?;
    if foreign.is_empty() {
        return Ok(());
    }
    Err(AppError::Forbidden(format!(
        "These tracker objects were sent by another partner and cannot be changed or referred to by you: {}",
        foreign.join(", ")
    )))
}

/// What a client's query string asks of a tracker import through the DHIS2-compatible API.
#[derive(Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// `importMode=VALIDATE`: DHIS2 checks, nothing is stored.
    pub validate_only: bool,
    /// DHIS2's default for `/api/tracker` is asynchronous.
    pub run_async: bool,
}

impl ImportOptions {
    /// Only what the gateway acts on is accepted: the gateway always imports with
    /// `CREATE_AND_UPDATE` (never deletes) and never forwards a client's other options.
    pub fn parse(pairs: &[(String, String)]) -> AppResult<ImportOptions> {
        let mut options = ImportOptions { validate_only: false, run_async: true };
        let mut problems = Vec::new();
        for (key, value) in pairs {
            let upper = value.to_ascii_uppercase();
            match (key.as_str(), upper.as_str()) {
                ("async", "TRUE" | "FALSE") => options.run_async = upper == "TRUE",
                ("importMode", "COMMIT" | "VALIDATE") => options.validate_only = upper == "VALIDATE",
                ("importStrategy", "CREATE_AND_UPDATE") => {}
                ("importStrategy", _) => problems.push(format!(
                    "importStrategy: '{value}': the gateway imports tracker data with CREATE_AND_UPDATE only"
                )),
                ("async" | "importMode", _) => problems.push(format!("{key}: '{value}' is not a valid value")),
                _ => problems.push(format!("{key}: not an import parameter the gateway accepts")),
            }
        }
        if problems.is_empty() {
            Ok(options)
        } else {
            Err(AppError::BadRequest { message: "Invalid query parameters".into(), detail: problems })
        }
    }
}

/// A checked tracker payload, ready for DHIS2.
pub struct Built {
    pub payload: Value,
    /// `uid=ref` for every UID derived from a partner ref, to name objects in DHIS2's errors.
    pub refs: Vec<String>,
    pub objects: usize,
}

impl Built {
    /// Every tracker object the payload writes or hangs its records on: each object's own UID
    /// and each UID it names as parent or relationship end.
    pub fn object_uids(&self) -> Vec<String> {
        strings_under(&self.payload, &OBJECT_IDS)
    }

    /// Every org unit the payload's objects are in.
    pub fn org_units(&self) -> Vec<String> {
        strings_under(&self.payload, &["orgUnit"])
    }
}

/// The distinct text values of the properties named `keys`, at any depth.
fn strings_under(payload: &Value, keys: &[&str]) -> Vec<String> {
    fn collect(value: &Value, keys: &[&str], found: &mut Vec<String>) {
        match value {
            Value::Object(fields) => {
                for (key, value) in fields {
                    match value.as_str() {
                        Some(text) if keys.contains(&key.as_str()) => found.push(text.to_string()),
                        _ => collect(value, keys, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| collect(item, keys, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    collect(payload, keys, &mut found);
    found.sort();
    found.dedup();
    found
}

/// The properties that hold a tracker object's UID, its own or another's it refers to.
const OBJECT_IDS: [&str; 4] = ["trackedEntity", "enrollment", "event", "relationship"];

struct Checker {
    partner: i64,
    problems: Vec<String>,
    refs: Vec<String>,
    objects: usize,
}

/// Checks the whole payload and assigns UIDs; every problem is named by its path.
pub fn build(body: &Value, partner: i64) -> AppResult<Built> {
    let Some(top) = body.as_object() else {
        return Err(AppError::invalid_field(
            "body",
            "a JSON object with trackedEntities, enrollments, events or relationships",
        ));
    };
    let mut checker = Checker { partner, problems: Vec::new(), refs: Vec::new(), objects: 0 };
    let mut payload = Map::new();
    for (key, value) in top {
        if !TOP_LEVEL.contains(&key.as_str()) {
            checker.problems.push(format!("{key}: unknown property (expected {})", TOP_LEVEL.join(", ")));
            continue;
        }
        let kind = match key.as_str() {
            "trackedEntities" => Kind::TrackedEntity,
            "enrollments" => Kind::Enrollment,
            "events" => Kind::Event,
            _ => Kind::Relationship,
        };
        payload.insert(key.clone(), Value::Array(checker.list(key, value, kind, None)));
    }
    if checker.objects == 0 && checker.problems.is_empty() {
        checker.problems.push("body: no trackedEntities, enrollments, events or relationships".into());
    }
    if checker.objects > MAX_OBJECTS {
        checker.problems.push(format!("body: {} objects; at most {MAX_OBJECTS} per submission", checker.objects));
    }
    if !checker.problems.is_empty() {
        checker.problems.truncate(100);
        return Err(AppError::BadRequest { message: "Invalid tracker payload".into(), detail: checker.problems });
    }
    Ok(Built { payload: Value::Object(payload), refs: checker.refs, objects: checker.objects })
}

/// The parent a nested object belongs to: its kind and UID.
type Parent<'p> = Option<(Kind, &'p str)>;

impl Checker {
    fn list(&mut self, path: &str, value: &Value, kind: Kind, parent: Parent) -> Vec<Value> {
        let Some(items) = value.as_array() else {
            self.problems.push(format!("{path}: must be a list"));
            return Vec::new();
        };
        items.iter().enumerate().map(|(i, item)| self.object(&format!("{path}[{i}]"), item, kind, parent)).collect()
    }

    fn object(&mut self, path: &str, value: &Value, kind: Kind, parent: Parent) -> Value {
        self.objects += 1;
        let Some(fields) = value.as_object() else {
            self.problems.push(format!("{path}: must be an object"));
            return Value::Null;
        };
        let mut out = fields.clone();
        let own = self.identify(path, &mut out, kind);
        // A nested object belongs to its parent; a flat one names it, by UID or by ref.
        match (kind, parent) {
            (Kind::Enrollment, Some((Kind::TrackedEntity, te))) => {
                out.insert("trackedEntity".into(), te.into());
            }
            (Kind::Event, Some((Kind::Enrollment, en))) => {
                out.insert("enrollment".into(), en.into());
            }
            (Kind::Enrollment, _) => self.reference(path, &mut out, Kind::TrackedEntity, true),
            (Kind::Event, _) => self.reference(path, &mut out, Kind::Enrollment, false),
            _ => {}
        }
        for field in kind.required() {
            if out.get(*field).is_none_or(|v| v.is_null() || v.as_str() == Some("")) {
                self.problems.push(format!("{path}.{field}: is required"));
            }
        }
        if kind == Kind::Event
            && !out.contains_key("occurredAt")
            && out.get("status").and_then(Value::as_str) != Some("SCHEDULE")
        {
            self.problems.push(format!("{path}.occurredAt: is required (unless the status is SCHEDULE)"));
        }
        for field in METADATA_REFERENCES {
            if let Some(v) = out.get(field).filter(|v| !v.is_null()) {
                self.uid(&format!("{path}.{field}"), v);
            }
        }
        for field in DATE_FIELDS {
            if let Some(v) = out.get(field).filter(|v| !v.is_null()) {
                self.date(&format!("{path}.{field}"), v);
            }
        }
        match kind {
            Kind::Enrollment => self.one_of(path, &out, "status", &ENROLLMENT_STATUSES),
            Kind::Event => self.one_of(path, &out, "status", &EVENT_STATUSES),
            _ => {}
        }
        self.values(path, &out, "attributes", "attribute");
        self.values(path, &out, "dataValues", "dataElement");
        let children = match kind {
            Kind::TrackedEntity => Some(("enrollments", Kind::Enrollment)),
            Kind::Enrollment => Some(("events", Kind::Event)),
            _ => None,
        };
        if let Some((key, child_kind)) = children
            && let Some(nested) = fields.get(key)
        {
            let me = own.as_deref().map(|uid| (kind, uid));
            let list = self.list(&format!("{path}.{key}"), nested, child_kind, me);
            out.insert(key.into(), Value::Array(list));
        }
        Value::Object(out)
    }

    /// The object's UID: given, or derived from its `ref` (which is removed).
    fn identify(&mut self, path: &str, out: &mut Map<String, Value>, kind: Kind) -> Option<String> {
        let field = kind.id_field();
        let reference = out.remove("ref");
        match (out.get(field).filter(|v| !v.is_null()), reference) {
            (Some(given), _) => {
                self.uid(&format!("{path}.{field}"), given);
                given.as_str().map(str::to_string)
            }
            (None, Some(Value::String(r))) if !r.trim().is_empty() && r.len() <= 255 => {
                let derived = self.derive(kind, r.trim());
                out.insert(field.into(), derived.clone().into());
                Some(derived)
            }
            (None, Some(_)) => {
                self.problems.push(format!("{path}.ref: the partner's record id, a string of 1 to 255 characters"));
                None
            }
            (None, None) => {
                self.problems
                    .push(format!("{path}.{field}: is required (a DHIS2 UID), or send ref: your own record id"));
                None
            }
        }
    }

    /// A flat object's parent: `trackedEntity` / `enrollment` as a UID, or `…Ref` as a ref.
    fn reference(&mut self, path: &str, out: &mut Map<String, Value>, parent: Kind, required: bool) {
        let field = parent.id_field();
        let ref_field = format!("{field}Ref");
        match (out.get(field).filter(|v| !v.is_null()).cloned(), out.remove(&ref_field)) {
            (Some(given), _) => self.uid(&format!("{path}.{field}"), &given),
            (None, Some(Value::String(r))) if !r.trim().is_empty() => {
                let derived = self.derive(parent, r.trim());
                out.insert(field.into(), derived.into());
            }
            (None, Some(_)) => self.problems.push(format!("{path}.{ref_field}: a non-empty string")),
            (None, None) if required => {
                self.problems.push(format!("{path}.{field}: is required (a UID, or {ref_field}), or nest it"));
            }
            (None, None) => {}
        }
    }

    /// The UID of a partner's record: the same partner and ref always give the same UID.
    fn derive(&mut self, kind: Kind, reference: &str) -> String {
        let digest = Sha256::digest(format!("{}|{}|{reference}", self.partner, kind.id_field()));
        let derived = uid::from_bytes(&digest);
        self.refs.push(format!("{derived}={reference}"));
        derived
    }

    fn uid(&mut self, path: &str, value: &Value) {
        if !value.as_str().is_some_and(uid::is_valid) {
            self.problems.push(format!("{path}: not a DHIS2 UID (11 letters and digits, starting with a letter)"));
        }
    }

    fn date(&mut self, path: &str, value: &Value) {
        let text = value.as_str().unwrap_or_default();
        let valid = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
            || chrono::DateTime::parse_from_rfc3339(text).is_ok()
            || chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok();
        if !valid {
            self.problems.push(format!("{path}: a date like 2024-01-31 or 2024-01-31T10:00:00"));
        }
    }

    fn one_of(&mut self, path: &str, out: &Map<String, Value>, field: &str, allowed: &[&str]) {
        if let Some(v) = out.get(field).filter(|v| !v.is_null())
            && !v.as_str().is_some_and(|s| allowed.contains(&s))
        {
            self.problems.push(format!("{path}.{field}: one of {}", allowed.join(", ")));
        }
    }

    /// `attributes` / `dataValues`: lists of `{<id_field>: UID, value}`.
    fn values(&mut self, path: &str, out: &Map<String, Value>, list: &str, id_field: &str) {
        let Some(items) = out.get(list).filter(|v| !v.is_null()) else { return };
        let Some(items) = items.as_array() else {
            self.problems.push(format!("{path}.{list}: must be a list"));
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let at = format!("{path}.{list}[{i}]");
            match item.get(id_field) {
                Some(id) => self.uid(&format!("{at}.{id_field}"), id),
                None => self.problems.push(format!("{at}.{id_field}: is required")),
            }
            if item.get("value").is_some_and(|v| v.is_object() || v.is_array()) {
                self.problems.push(format!("{at}.value: a text, number or boolean"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(body: Value) -> Vec<String> {
        match build(&body, 1) {
            Err(AppError::BadRequest { detail, .. }) => detail,
            Err(other) => panic!("{other}"),
            Ok(_) => Vec::new(),
        }
    }

    #[test]
    fn refs_become_the_same_uids_every_time_and_per_partner() {
        let body = json!({"trackedEntities": [{"ref": "P-1", "trackedEntityType": "TetPerson01", "orgUnit": "OrgFac00001",
            "enrollments": [{"ref": "E-1", "program": "ProgCare001", "orgUnit": "OrgFac00001", "enrolledAt": "2024-01-02",
                "events": [{"ref": "V-1", "programStage": "StageVisit1", "orgUnit": "OrgFac00001", "occurredAt": "2024-01-02"}]}]}]});
        let first = build(&body, 7).unwrap();
        let again = build(&body, 7).unwrap();
        assert_eq!(first.payload, again.payload);
        let te = &first.payload["trackedEntities"][0];
        let uid = te["trackedEntity"].as_str().unwrap();
        assert!(uid::is_valid(uid) && te.get("ref").is_none(), "{te}");
        assert_eq!(te["enrollments"][0]["trackedEntity"], uid, "a nested enrollment names its parent");
        let enrollment = te["enrollments"][0]["enrollment"].as_str().unwrap();
        assert_eq!(te["enrollments"][0]["events"][0]["enrollment"], enrollment);
        assert_eq!(first.refs.len(), 3);
        assert!(first.refs.contains(&format!("{uid}=P-1")));
        let other_partner = build(&body, 8).unwrap();
        assert_ne!(other_partner.payload["trackedEntities"][0]["trackedEntity"], uid);
        // A flat enrollment naming its tracked entity by ref gets the same UID.
        let flat = json!({"enrollments": [{"ref": "E-1", "trackedEntityRef": "P-1", "program": "ProgCare001",
            "orgUnit": "OrgFac00001", "enrolledAt": "2024-01-02"}]});
        assert_eq!(build(&flat, 7).unwrap().payload["enrollments"][0]["trackedEntity"], uid);
    }

    #[test]
    fn every_problem_is_named_by_its_path() {
        let found = problems(json!({"trackedEntities": [{"trackedEntity": "bad", "orgUnit": "OrgFac00001",
            "attributes": [{"attribute": "AttrName001", "value": {"x": 1}}, {"value": "y"}],
            "enrollments": [{"ref": "E", "program": "ProgCare001", "orgUnit": "OrgFac00001", "enrolledAt": "31/01/2024",
                "status": "DONE", "events": [{"ref": "V", "orgUnit": "OrgFac00001"}]}]}], "extra": []}));
        for expected in [
            "extra: unknown property",
            "trackedEntities[0].trackedEntity: not a DHIS2 UID",
            "trackedEntities[0].trackedEntityType: is required",
            "trackedEntities[0].attributes[0].value: a text, number or boolean",
            "trackedEntities[0].attributes[1].attribute: is required",
            "trackedEntities[0].enrollments[0].enrolledAt: a date",
            "trackedEntities[0].enrollments[0].status: one of ACTIVE",
            "trackedEntities[0].enrollments[0].events[0].programStage: is required",
            "trackedEntities[0].enrollments[0].events[0].occurredAt: is required",
        ] {
            assert!(found.iter().any(|p| p.starts_with(expected)), "{expected} in {found:#?}");
        }
        assert!(problems(json!({"events": [{"programStage": "StageEvnt01", "orgUnit": "OrgFac00001", "occurredAt": "2024-01-01"}]}))
            .iter()
            .any(|p| p.starts_with("events[0].event: is required")));
        assert_eq!(problems(json!({}))[0], "body: no trackedEntities, enrollments, events or relationships");
        assert!(problems(json!([]))[0].starts_with("body:"));
    }
}
