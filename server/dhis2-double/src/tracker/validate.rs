//! Tracker validation: every object against the store and the rest of the payload, all
//! errors collected, with DHIS2's `ValidationCode`s and message templates.
//!
//! | Problem | TE | Enrollment | Event | Relationship |
//! |---|---|---|---|---|
//! | uid missing or not a UID | E1048 | E1048 | E1048 | E1048 |
//! | CREATE of an existing uid | E1002 | E1080 | E1030 | E4015 |
//! | UPDATE/DELETE of a missing uid | E1063 | E1081 | E1032 | E4016 |
//! | uid deleted before | E1114 | E1113 | E1082 | |
//! | required property missing | E1121 | E1122 (E1025 `enrolledAt`) | E1123 (E1031 `occurredAt`, E1050 `scheduledAt` when SCHEDULE) | E1124 |
//! | tracked entity type unknown / changed | E1005 / E1126 | | | |
//! | org unit unknown | E1049 | E1070 | E1011 | |
//! | org unit not assigned to the program | | E1041 | E1029 | |
//! | program unknown / without registration | | E1069 / E1014 | E1010 | |
//! | program of another tracked entity type | | E1022 | | |
//! | program or tracked entity changed on update | | E1094 / E1127 | E1110 (`programStage`: E1128) | |
//! | tracked entity not found | | E1068 | | |
//! | second ACTIVE enrollment in the program | | E1015 | | |
//! | enrolledAt / occurredAt in the future | | E1020 / E1021 | | |
//! | stage unknown / of another program | | | E1013 / E1089 | |
//! | enrollment missing or not found (tracker program) / of another program | | | E1033 / E1079 | |
//! | attribute unknown / not a program attribute | E1006 | E1006 / E1019 | | |
//! | unique attribute value held by another tracked entity | E1064 | E1064 | | |
//! | data element unknown / not in the stage / invalid value | | | E1304 / E1305 / E1302 | |
//! | relationship type unknown (the fixture has none) | | | | E4006 |
//! | parent object in the payload is invalid | | E5000 | E5000 | |

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use serde_json::Value;

use super::payload::{Bundle, Object};
use super::store::{Action, Store, Strategy, TrackerType};
use crate::model::{self, ValueType};
use crate::orgunit::{Registry, is_uid};
use crate::{import, time};

/// What validation found about one object.
pub(super) struct Checked {
    pub(super) tracker_type: TrackerType,
    pub(super) uid: Option<String>,
    pub(super) action: Action,
    pub(super) errors: Vec<(&'static str, String)>,
}

impl Checked {
    pub(super) fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The validation results of a bundle, per type in payload order.
pub(super) struct Validated {
    pub(super) tracked_entities: Vec<Checked>,
    pub(super) enrollments: Vec<Checked>,
    pub(super) events: Vec<Checked>,
    pub(super) relationships: Vec<Checked>,
}

fn str_of<'a>(obj: &'a Object, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

fn date_of(obj: &Object, key: &str) -> Option<NaiveDateTime> {
    str_of(obj, key).and_then(time::parse)
}

/// `attributes[]` / `dataValues[]` as (id, value) pairs; a missing id is `None`.
fn entries<'a>(obj: &'a Object, key: &str, id_key: &str) -> Vec<(Option<&'a str>, Option<&'a str>)> {
    obj.get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|i| (i.get(id_key).and_then(Value::as_str), i.get("value").and_then(Value::as_str)))
                .collect()
        })
        .unwrap_or_default()
}

struct Ctx<'a> {
    store: &'a Store,
    registry: &'a Registry,
    strategy: Strategy,
    now: NaiveDateTime,
    payload_tes: HashMap<&'a str, &'a Object>,
    payload_enrollments: HashMap<&'a str, &'a Object>,
    /// (attribute, value) → tracked entity, for unique attributes.
    unique_values: HashMap<(String, String), String>,
}

impl Ctx<'_> {
    /// E1048 for the uid, then the existence checks for the strategy; returns what the
    /// import would do with the object.
    fn identify(
        &self,
        tracker_type: TrackerType,
        uid: Option<&str>,
        errors: &mut Vec<(&'static str, String)>,
    ) -> Action {
        let Some(uid) = uid.filter(|u| is_uid(u)) else {
            let shown = uid.unwrap_or("null");
            errors.push(("E1048", format!("Object: `{shown}`, uid: `{shown}`, has an invalid uid format.")));
            return if self.strategy == Strategy::Delete { Action::Delete } else { Action::Create };
        };
        let (exists, deleted) = match tracker_type {
            TrackerType::TrackedEntity => {
                (self.store.tracked_entities.contains_key(uid), self.store.deleted_tracked_entities.contains(uid))
            }
            TrackerType::Enrollment => {
                (self.store.enrollments.contains_key(uid), self.store.deleted_enrollments.contains(uid))
            }
            TrackerType::Event => (self.store.events.contains_key(uid), self.store.deleted_events.contains(uid)),
            TrackerType::Relationship => (false, false),
        };
        let (already, missing, gone) = match tracker_type {
            TrackerType::TrackedEntity => (
                ("E1002", format!("TrackedEntityInstance: `{uid}`, already exists.")),
                ("E1063", format!("TrackedEntityInstance: `{uid}`, does not exist.")),
                ("E1114", format!("TrackedEntity: `{uid}`, is already deleted and cannot be modified.")),
            ),
            TrackerType::Enrollment => (
                ("E1080", format!("Enrollment: `{uid}`, already exists.")),
                ("E1081", format!("Enrollment: `{uid}`, do not exist.")),
                ("E1113", format!("Enrollment: `{uid}`, is already deleted and cannot be modified.")),
            ),
            TrackerType::Event => (
                ("E1030", format!("Event: `{uid}`, already exists.")),
                ("E1032", format!("Event: `{uid}`, do not exist.")),
                ("E1082", format!("Event: `{uid}`, is already deleted and cannot be modified.")),
            ),
            TrackerType::Relationship => (
                ("E4015", format!("Relationship: `{uid}`, already exists.")),
                ("E4016", format!("Relationship: `{uid}`, do not exist.")),
                ("E4017", format!("Relationship: `{uid}`, is already deleted and cannot be modified.")),
            ),
        };
        if deleted {
            errors.push(gone);
        } else {
            match (self.strategy, exists) {
                (Strategy::Create, true) => errors.push(already),
                (Strategy::Update | Strategy::Delete, false) => errors.push(missing),
                _ => {}
            }
        }
        match (self.strategy, exists) {
            (Strategy::Delete, _) => Action::Delete,
            (_, true) => Action::Update,
            (_, false) => Action::Create,
        }
    }

    /// E1006/E1019/E1064 for the attributes of a tracked entity `owner`.
    fn check_attributes(
        &mut self,
        obj: &Object,
        owner: Option<&str>,
        allowed: Option<&[&str]>,
        errors: &mut Vec<(&'static str, String)>,
    ) {
        for (id, value) in entries(obj, "attributes", "attribute") {
            let Some(id) = id else {
                errors.push(("E1075", "Attribute: `null`, is missing uid.".to_owned()));
                continue;
            };
            let Some(attribute) = model::attribute(id) else {
                errors.push(("E1006", format!("Attribute: `{id}`, does not exist.")));
                continue;
            };
            if let Some(allowed) = allowed
                && !allowed.contains(&id)
            {
                errors.push((
                    "E1019",
                    format!("Only Program attributes is allowed for enrollment; Non valid attribute: `{id}`."),
                ));
            }
            let Some(value) = value.filter(|v| !v.is_empty()) else { continue };
            if attribute.value_type == ValueType::Number && !import::is_number(value) {
                errors.push(("E1085", format!("Attribute: `{id}`, value does not match value type: `NUMBER`.")));
            }
            if attribute.unique {
                let key = (id.to_owned(), value.to_owned());
                match self.unique_values.get(&key) {
                    Some(holder) if Some(holder.as_str()) != owner => {
                        errors.push(("E1064", format!("Non-unique attribute value `{value}` for attribute `{id}`")));
                    }
                    _ => {
                        if let Some(owner) = owner {
                            self.unique_values.insert(key, owner.to_owned());
                        }
                    }
                }
            }
        }
    }

    fn org_unit_known(&self, ou: &str) -> bool {
        self.registry.units.contains_key(ou)
    }

    fn assigned(&self, ou: &str, program: &str) -> bool {
        self.registry.units.get(ou).is_some_and(|u| u.programs.contains(&program))
    }

    /// A tracked entity of the payload, else of the store.
    fn tracked_entity(&self, uid: &str) -> Option<&Object> {
        self.payload_tes.get(uid).copied().or_else(|| self.store.tracked_entities.get(uid).and_then(Value::as_object))
    }

    fn enrollment(&self, uid: &str) -> Option<&Object> {
        self.payload_enrollments
            .get(uid)
            .copied()
            .or_else(|| self.store.enrollments.get(uid).and_then(Value::as_object))
    }
}

/// Validates every object of `bundle`.
pub(super) fn validate(store: &Store, registry: &Registry, strategy: Strategy, bundle: &Bundle) -> Validated {
    let index = |list: &'_ [Object], key: &str| -> Vec<(String, usize)> {
        list.iter().enumerate().filter_map(|(i, o)| str_of(o, key).map(|u| (u.to_owned(), i))).collect()
    };
    let te_index = index(&bundle.tracked_entities, "trackedEntity");
    let enrollment_index = index(&bundle.enrollments, "enrollment");
    let mut unique_values = HashMap::new();
    for (uid, te) in &store.tracked_entities {
        let Some(te) = te.as_object() else { continue };
        for (id, value) in entries(te, "attributes", "attribute") {
            if let (Some(id), Some(value)) = (id, value)
                && model::attribute(id).is_some_and(|a| a.unique)
            {
                unique_values.insert((id.to_owned(), value.to_owned()), uid.clone());
            }
        }
    }
    let mut ctx = Ctx {
        store,
        registry,
        strategy,
        now: time::now(),
        payload_tes: te_index.iter().map(|(u, i)| (u.as_str(), &bundle.tracked_entities[*i])).collect(),
        payload_enrollments: enrollment_index.iter().map(|(u, i)| (u.as_str(), &bundle.enrollments[*i])).collect(),
        unique_values,
    };

    let tracked_entities: Vec<Checked> =
        bundle.tracked_entities.iter().map(|te| check_tracked_entity(&mut ctx, te)).collect();
    let mut enrollments = Vec::new();
    let mut active: HashSet<(String, String)> = HashSet::new();
    for (uid, enrollment) in &store.enrollments {
        let payload_has = ctx.payload_enrollments.contains_key(uid.as_str());
        let status = str_of(enrollment.as_object().expect("stored objects"), "status").unwrap_or("ACTIVE");
        if !payload_has && status == "ACTIVE" {
            let (te, program) = (enrollment["trackedEntity"].as_str(), enrollment["program"].as_str());
            if let (Some(te), Some(program)) = (te, program) {
                active.insert((te.to_owned(), program.to_owned()));
            }
        }
    }
    for enrollment in &bundle.enrollments {
        enrollments.push(check_enrollment(&mut ctx, enrollment, &mut active));
    }
    let mut events: Vec<Checked> = bundle.events.iter().map(|event| check_event(&ctx, event)).collect();
    let relationships = bundle.relationships.iter().map(|r| check_relationship(&ctx, r)).collect();

    // Objects whose parent in the same payload is invalid cannot be persisted either.
    let failed_tes: HashSet<&str> =
        tracked_entities.iter().filter(|c| !c.ok()).filter_map(|c| c.uid.as_deref()).collect();
    for (checked, obj) in enrollments.iter_mut().zip(&bundle.enrollments) {
        if let Some(te) = str_of(obj, "trackedEntity").filter(|te| failed_tes.contains(te))
            && checked.ok()
        {
            let uid = checked.uid.clone().unwrap_or_default();
            checked.errors.push(("E5000", cascade(TrackerType::Enrollment, &uid, TrackerType::TrackedEntity, te)));
        }
    }
    let failed_enrollments: HashSet<&str> =
        enrollments.iter().filter(|c| !c.ok()).filter_map(|c| c.uid.as_deref()).collect();
    for (checked, obj) in events.iter_mut().zip(&bundle.events) {
        if let Some(enrollment) = str_of(obj, "enrollment").filter(|e| failed_enrollments.contains(e))
            && checked.ok()
        {
            let uid = checked.uid.clone().unwrap_or_default();
            checked.errors.push(("E5000", cascade(TrackerType::Event, &uid, TrackerType::Enrollment, enrollment)));
        }
    }
    Validated { tracked_entities, enrollments, events, relationships }
}

fn cascade(child: TrackerType, uid: &str, parent: TrackerType, parent_uid: &str) -> String {
    format!(
        "\"{}\" `{uid}` cannot be persisted because \"{}\" `{parent_uid}` referenced by it cannot be persisted.",
        child.as_str(),
        parent.as_str()
    )
}

fn check_tracked_entity(ctx: &mut Ctx, te: &Object) -> Checked {
    let mut errors = Vec::new();
    let uid = str_of(te, "trackedEntity");
    let action = ctx.identify(TrackerType::TrackedEntity, uid, &mut errors);
    let checked =
        |errors| Checked { tracker_type: TrackerType::TrackedEntity, uid: uid.map(str::to_owned), action, errors };
    if action == Action::Delete {
        return checked(errors);
    }
    let missing = |property: &str| ("E1121", format!("Missing required trackedEntity property: `{property}`."));
    match str_of(te, "trackedEntityType") {
        None => errors.push(missing("trackedEntityType")),
        Some(tet) if model::tracked_entity_type(tet).is_none() => {
            errors.push(("E1005", format!("Could not find TrackedEntityType: `{tet}`.")));
        }
        Some(tet) => {
            let stored =
                uid.and_then(|u| ctx.store.tracked_entities.get(u)).and_then(|s| s["trackedEntityType"].as_str());
            if stored.is_some_and(|s| s != tet) {
                errors.push(("E1126", "Not allowed to update Tracked Entity property: trackedEntityType.".to_owned()));
            }
        }
    }
    match str_of(te, "orgUnit") {
        None => errors.push(missing("orgUnit")),
        Some(ou) if !ctx.org_unit_known(ou) => {
            errors.push(("E1049", format!("Could not find OrganisationUnit: `{ou}`, linked to Tracked Entity.")));
        }
        Some(_) => {}
    }
    ctx.check_attributes(te, uid, None, &mut errors);
    checked(errors)
}

fn check_enrollment(ctx: &mut Ctx, enrollment: &Object, active: &mut HashSet<(String, String)>) -> Checked {
    let mut errors = Vec::new();
    let uid = str_of(enrollment, "enrollment");
    let action = ctx.identify(TrackerType::Enrollment, uid, &mut errors);
    let checked =
        |errors| Checked { tracker_type: TrackerType::Enrollment, uid: uid.map(str::to_owned), action, errors };
    if action == Action::Delete {
        return checked(errors);
    }
    let missing = |property: &str| ("E1122", format!("Missing required enrollment property: `{property}`."));
    let program = match str_of(enrollment, "program") {
        None => {
            errors.push(missing("program"));
            None
        }
        Some(p) => match model::program(p) {
            None => {
                errors.push(("E1069", format!("Could not find Program: `{p}`, linked to Enrollment.")));
                None
            }
            Some(program) if !program.registration => {
                errors.push((
                    "E1014",
                    format!(
                        "Provided Program: `{p}`, is a Program without registration. An Enrollment cannot be created into Program without registration."
                    ),
                ));
                None
            }
            Some(program) => Some(program),
        },
    };
    let te = str_of(enrollment, "trackedEntity");
    match te {
        None => errors.push(missing("trackedEntity")),
        Some(te_uid) => match ctx.tracked_entity(te_uid) {
            None => errors
                .push(("E1068", format!("Could not find TrackedEntityInstance: `{te_uid}`, linked to Enrollment."))),
            Some(te) => {
                if let Some(program) = program
                    && program.tracked_entity_type != str_of(te, "trackedEntityType")
                {
                    errors.push((
                        "E1022",
                        format!(
                            "TrackedEntityInstance: `{te_uid}`, must have same TrackedEntityType as Program `{}`.",
                            program.id.uid
                        ),
                    ));
                }
            }
        },
    }
    match str_of(enrollment, "orgUnit") {
        None => errors.push(missing("orgUnit")),
        Some(ou) if !ctx.org_unit_known(ou) => {
            errors.push(("E1070", format!("Could not find OrganisationUnit: `{ou}`, linked to Enrollment.")));
        }
        Some(ou) => {
            if let Some(program) = program
                && !ctx.assigned(ou, program.id.uid)
            {
                errors.push((
                    "E1041",
                    format!("Enrollment OrganisationUnit: `{ou}`, and Program: `{}`, don't match.", program.id.uid),
                ));
            }
        }
    }
    match date_of(enrollment, "enrolledAt") {
        None => errors.push(("E1025", "Property enrolledAt is null or has an invalid format: `null`.".to_owned())),
        Some(at) if at > ctx.now => {
            let shown = str_of(enrollment, "enrolledAt").unwrap_or_default();
            errors.push(("E1020", format!("Enrollment date: `{shown}`, cannot be a future date.")));
        }
        Some(_) => {}
    }
    if date_of(enrollment, "occurredAt").is_some_and(|at| at > ctx.now) {
        let shown = str_of(enrollment, "occurredAt").unwrap_or_default();
        errors.push(("E1021", format!("Incident date: `{shown}`, cannot be a future date.")));
    }
    if let Some(stored) = uid.and_then(|u| ctx.store.enrollments.get(u)) {
        let (old_program, old_te) = (stored["program"].as_str(), stored["trackedEntity"].as_str());
        if let (Some(old), Some(new)) = (old_program, str_of(enrollment, "program"))
            && old != new
        {
            errors.push((
                "E1094",
                format!("Not allowed to update Enrollment: `{}`, existing Program `{old}`.", uid.unwrap_or_default()),
            ));
        }
        if let (Some(old), Some(new)) = (old_te, te)
            && old != new
        {
            errors.push(("E1127", "Not allowed to update Enrollment property: trackedEntity.".to_owned()));
        }
    }
    let allowed = program.map(|p| p.attributes);
    ctx.check_attributes(enrollment, te, allowed, &mut errors);
    let status = str_of(enrollment, "status").unwrap_or("ACTIVE");
    if let (Some(te), Some(program)) = (te, program)
        && status == "ACTIVE"
        && !active.insert((te.to_owned(), program.id.uid.to_owned()))
    {
        errors.push((
            "E1015",
            format!("TrackedEntityInstance: `{te}`, already has an active Enrollment in Program `{}`.", program.id.uid),
        ));
    }
    checked(errors)
}

fn check_event(ctx: &Ctx, event: &Object) -> Checked {
    let mut errors = Vec::new();
    let uid = str_of(event, "event");
    let action = ctx.identify(TrackerType::Event, uid, &mut errors);
    let checked = |errors| Checked { tracker_type: TrackerType::Event, uid: uid.map(str::to_owned), action, errors };
    if action == Action::Delete {
        return checked(errors);
    }
    let shown_uid = uid.unwrap_or("null");
    let missing = |property: &str| ("E1123", format!("Missing required event property: `{property}`."));
    let stage = match str_of(event, "programStage") {
        None => {
            errors.push(missing("programStage"));
            None
        }
        Some(s) => {
            let stage = model::program_stage(s);
            if stage.is_none() {
                errors.push(("E1013", format!("Could not find ProgramStage: `{s}`, linked to Event.")));
            }
            stage
        }
    };
    let program = match str_of(event, "program") {
        Some(p) => match model::program(p) {
            None => {
                errors.push(("E1010", format!("Could not find Program: `{p}`, linked to Event.")));
                None
            }
            Some(program) => {
                if let Some(stage) = stage
                    && stage.program != program.id.uid
                {
                    errors.push((
                        "E1089",
                        format!("Event: `{shown_uid}`, references a Program Stage `{}` that does not belong to Program `{p}`.", stage.uid),
                    ));
                }
                Some(program)
            }
        },
        None => stage.and_then(|s| model::program(s.program)),
    };
    match str_of(event, "orgUnit") {
        None => errors.push(missing("orgUnit")),
        Some(ou) if !ctx.org_unit_known(ou) => {
            errors.push(("E1011", format!("Could not find OrganisationUnit: `{ou}`, linked to Event.")));
        }
        Some(ou) => {
            if let Some(program) = program
                && !ctx.assigned(ou, program.id.uid)
            {
                errors.push((
                    "E1029",
                    format!("Event OrganisationUnit: `{ou}`, and Program: `{}`, don't match.", program.id.uid),
                ));
            }
        }
    }
    let status = str_of(event, "status").unwrap_or("ACTIVE");
    if !matches!(status, "SCHEDULE" | "SKIPPED") && str_of(event, "occurredAt").is_none() {
        errors.push(("E1031", "Event OccurredAt date is missing.".to_owned()));
    }
    if status == "SCHEDULE" && str_of(event, "scheduledAt").is_none() {
        errors.push(("E1050", "Event ScheduledAt date is missing.".to_owned()));
    }
    if let Some(program) = program.filter(|p| p.registration) {
        match str_of(event, "enrollment").and_then(|e| ctx.enrollment(e)) {
            None => errors.push(("E1033", format!("Event: `{shown_uid}`, Enrollment value is null."))),
            Some(enrollment) => {
                let enrolled_in = str_of(enrollment, "program").unwrap_or_default();
                if enrolled_in != program.id.uid {
                    let enrollment_uid = str_of(enrollment, "enrollment").unwrap_or_default();
                    errors.push((
                        "E1079",
                        format!(
                            "Event: `{shown_uid}`, program: `{}` is different from program defined in enrollment `{enrollment_uid}`.",
                            program.id.uid
                        ),
                    ));
                }
            }
        }
    }
    for (de, value) in entries(event, "dataValues", "dataElement") {
        let Some(de) = de else {
            errors.push(("E1304", "DataElement `null` is not a valid data element".to_owned()));
            continue;
        };
        let Some(element) = model::data_element(model::IdScheme::Uid, de) else {
            errors.push(("E1304", format!("DataElement `{de}` is not a valid data element")));
            continue;
        };
        if let Some(stage) = stage
            && !stage.data_elements.contains(&de)
        {
            errors.push(("E1305", format!("DataElement `{de}` is not part of `{}` program stage", stage.uid)));
            continue;
        }
        let Some(value) = value.filter(|v| !v.is_empty()) else { continue };
        let reason = match element.value_type {
            ValueType::Number if !import::is_number(value) => Some("value_not_numeric"),
            _ => None,
        };
        if let Some(reason) = reason {
            errors.push(("E1302", format!("DataElement `{de}` is not valid: `{reason}`")));
        }
    }
    if let Some(stored) = uid.and_then(|u| ctx.store.events.get(u)) {
        if let (Some(old), Some(new)) = (stored["program"].as_str(), program.map(|p| p.id.uid))
            && old != new
        {
            errors.push(("E1110", format!("Not allowed to update Event: `{shown_uid}`, existing Program `{old}`.")));
        }
        if let (Some(old), Some(new)) = (stored["programStage"].as_str(), str_of(event, "programStage"))
            && old != new
        {
            errors.push(("E1128", "Not allowed to update Event property: programStage.".to_owned()));
        }
    }
    checked(errors)
}

fn check_relationship(ctx: &Ctx, relationship: &Object) -> Checked {
    let mut errors = Vec::new();
    let uid = str_of(relationship, "relationship");
    let action = ctx.identify(TrackerType::Relationship, uid, &mut errors);
    if action != Action::Delete {
        let missing = |property: &str| ("E1124", format!("Missing required relationship property: `{property}`."));
        match str_of(relationship, "relationshipType") {
            None => errors.push(missing("relationshipType")),
            // The fixture has no relationship types.
            Some(rt) => errors.push(("E4006", format!("Could not find relationship type: `{rt}`."))),
        }
        for side in ["from", "to"] {
            if relationship.get(side).is_none_or(Value::is_null) {
                errors.push(missing(side));
            }
        }
    }
    Checked { tracker_type: TrackerType::Relationship, uid: uid.map(str::to_owned), action, errors }
}
