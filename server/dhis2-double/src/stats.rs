//! Import statistics as DHIS2's tracker and metadata ImportReports count them.

use serde_json::{Value, json};

#[derive(Clone, Copy, Default)]
pub(crate) struct Stats {
    pub(crate) created: usize,
    pub(crate) updated: usize,
    pub(crate) deleted: usize,
    pub(crate) ignored: usize,
    pub(crate) total: usize,
}

impl Stats {
    pub(crate) fn add(&mut self, other: Stats) {
        self.created += other.created;
        self.updated += other.updated;
        self.deleted += other.deleted;
        self.ignored += other.ignored;
        self.total += other.total;
    }

    pub(crate) fn to_json(self) -> Value {
        json!({
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "ignored": self.ignored,
            "total": self.total,
        })
    }
}
