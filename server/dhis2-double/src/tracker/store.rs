//! What the tracker importer keeps and how it classifies work: the stored objects, their
//! types, and the strategy and per-object action of an import.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TrackerType {
    TrackedEntity,
    Enrollment,
    Event,
    Relationship,
}

impl TrackerType {
    pub(crate) const ALL: [TrackerType; 4] =
        [TrackerType::TrackedEntity, TrackerType::Enrollment, TrackerType::Event, TrackerType::Relationship];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TrackerType::TrackedEntity => "TRACKED_ENTITY",
            TrackerType::Enrollment => "ENROLLMENT",
            TrackerType::Event => "EVENT",
            TrackerType::Relationship => "RELATIONSHIP",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    Create,
    Update,
    CreateAndUpdate,
    Delete,
}

/// What an import does (or would do) with one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Create,
    Update,
    Delete,
}

/// The stored tracker data, flattened, by UID.
#[derive(Default)]
pub(crate) struct Store {
    pub(crate) tracked_entities: BTreeMap<String, Value>,
    pub(crate) enrollments: BTreeMap<String, Value>,
    pub(crate) events: BTreeMap<String, Value>,
    pub(crate) deleted_tracked_entities: BTreeSet<String>,
    pub(crate) deleted_enrollments: BTreeSet<String>,
    pub(crate) deleted_events: BTreeSet<String>,
}
