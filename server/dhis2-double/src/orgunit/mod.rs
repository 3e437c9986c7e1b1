//! Organisation units, their levels and groups (reference section A.5): the store, its JSON
//! shape, the read endpoints, `POST /api/metadata` and group membership.
//!
//! Unlike the rest of the metadata, org units change while a double runs: tests add and
//! rename them, a metadata import creates, overwrites or deletes them, and
//! `clear_org_units` empties the store (a CC server that has not received the hierarchy
//! yet). The aggregate and tracker importers look org units up here, so units added later
//! are known to them. Which data sets and programs a unit is assigned to is kept with the
//! unit; like in DHIS2 (where the data set owns that relation) a metadata import of an org
//! unit neither sets nor clears it.
//!
//! `path` and `level` are not stored but derived from the parent chain, so they follow
//! any move of an ancestor; the metadata import refuses parent cycles.
//!
//! Submodules: `listing` (the generic `fields`/`filter`/`order`/paging machinery of the
//! list endpoints) and `metadata` (the metadata importer); the handlers are
//! `crate::server::orgunit`'s.

pub(crate) mod listing;
pub(crate) mod metadata;

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;
use serde_json::{Map, Value, json};

use crate::fixture::{METADATA_LAST_UPDATED, OPENING_DATE};
use crate::model::{self, IdScheme};
use crate::time;

/// The JSON class names DHIS2 reports these objects with.
pub(crate) const UNIT_KLASS: &str = "org.hisp.dhis.organisationunit.OrganisationUnit";
pub(crate) const LEVEL_KLASS: &str = "org.hisp.dhis.organisationunit.OrganisationUnitLevel";
pub(crate) const GROUP_KLASS: &str = "org.hisp.dhis.organisationunit.OrganisationUnitGroup";

/// DHIS2's maximum lengths (`OrganisationUnit.hbm.xml`).
pub(crate) const NAME_MAX: usize = 230;
pub(crate) const SHORT_NAME_MAX: usize = 50;
pub(crate) const CODE_MAX: usize = 50;

/// `^[a-zA-Z][a-zA-Z0-9]{10}$` (`CodeGenerator.UID_REGEXP`).
pub(crate) fn is_uid(s: &str) -> bool {
    s.len() == 11 && s.starts_with(|c: char| c.is_ascii_alphabetic()) && s.chars().all(|c| c.is_ascii_alphanumeric())
}

#[derive(Clone, Debug)]
pub(crate) struct OrgUnit {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) short_name: String,
    pub(crate) code: Option<String>,
    pub(crate) parent: Option<String>,
    pub(crate) opening_date: NaiveDateTime,
    pub(crate) closed_date: Option<NaiveDateTime>,
    pub(crate) created: NaiveDateTime,
    pub(crate) last_updated: NaiveDateTime,
    /// Further simple properties a metadata import set (description, geometry, …); they
    /// are echoed back as sent and replaced by the next import.
    pub(crate) extra: Map<String, Value>,
    pub(crate) data_sets: Vec<&'static str>,
    pub(crate) programs: Vec<&'static str>,
}

#[derive(Clone, Debug)]
pub(crate) struct Level {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) code: Option<String>,
    pub(crate) level: u32,
    pub(crate) created: NaiveDateTime,
    pub(crate) last_updated: NaiveDateTime,
}

#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) short_name: String,
    pub(crate) code: Option<String>,
    pub(crate) members: BTreeSet<String>,
    pub(crate) created: NaiveDateTime,
    pub(crate) last_updated: NaiveDateTime,
}

/// Every org unit, level and group of one double, by UID.
#[derive(Clone, Default)]
pub(crate) struct Registry {
    pub(crate) units: BTreeMap<String, OrgUnit>,
    pub(crate) levels: BTreeMap<String, Level>,
    pub(crate) groups: BTreeMap<String, Group>,
    /// When a data set's org-unit assignments last changed (DHIS2 updates the data set's
    /// `lastUpdated` then); absent for data sets untouched since the fixture.
    pub(crate) data_sets_changed: BTreeMap<&'static str, NaiveDateTime>,
    /// Data elements a test deleted (`Dhis2Double::delete_data_element`): gone from the lists
    /// and unknown to imports.
    pub(crate) deleted_elements: BTreeSet<String>,
}

impl Registry {
    /// The fixture hierarchy, levels and groups.
    pub(crate) fn fixture() -> Registry {
        let stamp = time::parse(METADATA_LAST_UPDATED).expect("a valid fixture timestamp");
        let opening = time::parse(OPENING_DATE).expect("a valid fixture opening date");
        let mut registry = Registry::default();
        for seed in &model::SEED_ORG_UNITS {
            let unit = OrgUnit {
                id: seed.id.uid.to_owned(),
                name: seed.id.name.to_owned(),
                short_name: seed.id.name.to_owned(),
                code: Some(seed.id.code.to_owned()),
                parent: seed.parent.map(str::to_owned),
                opening_date: opening,
                closed_date: None,
                created: stamp,
                last_updated: stamp,
                extra: Map::new(),
                data_sets: seed.data_sets.to_vec(),
                programs: seed.programs.to_vec(),
            };
            registry.units.insert(unit.id.clone(), unit);
        }
        for seed in &model::SEED_LEVELS {
            let level = Level {
                id: seed.uid.to_owned(),
                name: seed.name.to_owned(),
                code: None,
                level: seed.level,
                created: stamp,
                last_updated: stamp,
            };
            registry.levels.insert(level.id.clone(), level);
        }
        for seed in &model::SEED_GROUPS {
            let group = Group {
                id: seed.id.uid.to_owned(),
                name: seed.id.name.to_owned(),
                short_name: seed.id.name.to_owned(),
                code: Some(seed.id.code.to_owned()),
                members: seed.members.iter().map(|m| (*m).to_owned()).collect(),
                created: stamp,
                last_updated: stamp,
            };
            registry.groups.insert(group.id.clone(), group);
        }
        registry
    }

    /// Looks a unit up by UID, code or name (the first match by UID for names, which need
    /// not be unique).
    pub(crate) fn find(&self, scheme: IdScheme, id: &str) -> Option<&OrgUnit> {
        match scheme {
            IdScheme::Uid => self.units.get(id),
            IdScheme::Code => self.units.values().find(|u| u.code.as_deref() == Some(id)),
            IdScheme::Name => self.units.values().find(|u| u.name == id),
        }
    }

    /// The UIDs from the root down to `uid` itself. A broken chain (which the importer
    /// prevents) ends at the last known unit.
    pub(crate) fn ancestry(&self, uid: &str) -> Vec<String> {
        let mut chain = vec![uid.to_owned()];
        let mut current = self.units.get(uid).and_then(|u| u.parent.clone());
        while let Some(parent) = current {
            if chain.contains(&parent) || chain.len() > self.units.len() {
                break;
            }
            current = self.units.get(&parent).and_then(|u| u.parent.clone());
            chain.push(parent);
        }
        chain.reverse();
        chain
    }

    /// `/rootUid/…/uid`.
    pub(crate) fn path(&self, uid: &str) -> String {
        self.ancestry(uid).iter().map(|id| format!("/{id}")).collect()
    }

    /// 1 for a root.
    pub(crate) fn level(&self, uid: &str) -> usize {
        self.ancestry(uid).len()
    }

    /// The groups `uid` is a member of, by group UID.
    fn groups_of(&self, uid: &str) -> Vec<&str> {
        self.groups.values().filter(|g| g.members.contains(uid)).map(|g| g.id.as_str()).collect()
    }

    /// The full JSON of a unit, as `GET /api/organisationUnits` shows it. Like DHIS2, null
    /// properties are left out.
    pub(crate) fn unit_json(&self, unit: &OrgUnit) -> Value {
        let ids = |ids: Vec<&str>| ids.into_iter().map(|id| json!({ "id": id })).collect::<Vec<_>>();
        let mut out = Map::new();
        for (key, value) in &unit.extra {
            out.insert(key.clone(), value.clone());
        }
        out.insert("id".into(), json!(unit.id));
        out.insert("name".into(), json!(unit.name));
        out.insert("displayName".into(), json!(unit.name));
        out.insert("shortName".into(), json!(unit.short_name));
        if let Some(code) = &unit.code {
            out.insert("code".into(), json!(code));
        }
        out.insert("path".into(), json!(self.path(&unit.id)));
        out.insert("level".into(), json!(self.level(&unit.id)));
        if let Some(parent) = &unit.parent {
            out.insert("parent".into(), json!({ "id": parent }));
        }
        out.insert("openingDate".into(), json!(time::format(unit.opening_date)));
        if let Some(closed) = unit.closed_date {
            out.insert("closedDate".into(), json!(time::format(closed)));
        }
        out.insert("created".into(), json!(time::format(unit.created)));
        out.insert("lastUpdated".into(), json!(time::format(unit.last_updated)));
        out.insert("organisationUnitGroups".into(), json!(ids(self.groups_of(&unit.id))));
        out.insert("dataSets".into(), json!(ids(unit.data_sets.clone())));
        out.insert("programs".into(), json!(ids(unit.programs.clone())));
        Value::Object(out)
    }

    pub(crate) fn level_json(level: &Level) -> Value {
        let mut out = json!({
            "id": level.id,
            "name": level.name,
            "displayName": level.name,
            "level": level.level,
            "created": time::format(level.created),
            "lastUpdated": time::format(level.last_updated),
        });
        if let Some(code) = &level.code {
            out["code"] = json!(code);
        }
        out
    }

    pub(crate) fn group_json(group: &Group) -> Value {
        let members: Vec<Value> = group.members.iter().map(|id| json!({ "id": id })).collect();
        let mut out = json!({
            "id": group.id,
            "name": group.name,
            "displayName": group.name,
            "shortName": group.short_name,
            "created": time::format(group.created),
            "lastUpdated": time::format(group.last_updated),
            "organisationUnits": members,
        });
        if let Some(code) = &group.code {
            out["code"] = json!(code);
        }
        out
    }

    /// Every unit's JSON, by level, then name, then UID.
    pub(crate) fn units_json(&self) -> Vec<Value> {
        let mut units: Vec<(usize, &OrgUnit)> = self.units.values().map(|u| (self.level(&u.id), u)).collect();
        units.sort_by(|(la, a), (lb, b)| la.cmp(lb).then_with(|| a.name.cmp(&b.name)).then_with(|| a.id.cmp(&b.id)));
        units.into_iter().map(|(_, u)| self.unit_json(u)).collect()
    }

    /// Adds a unit for a test (`Dhis2Double::add_org_unit`). `Err` says why it cannot.
    pub(crate) fn add(&mut self, uid: &str, name: &str, code: &str, parent: Option<&str>) -> Result<(), String> {
        if !is_uid(uid) {
            return Err(format!("`{uid}` is not a valid DHIS2 UID"));
        }
        if self.units.contains_key(uid) {
            return Err(format!("org unit `{uid}` already exists"));
        }
        if let Some(parent) = parent.filter(|p| !self.units.contains_key(*p)) {
            return Err(format!("parent org unit `{parent}` does not exist"));
        }
        if let Some(other) = self.units.values().find(|u| u.code.as_deref() == Some(code)) {
            return Err(format!("code `{code}` is already used by org unit `{}`", other.id));
        }
        let now = time::now();
        let (data_sets, programs) = model::added_unit_assignments();
        let unit = OrgUnit {
            id: uid.to_owned(),
            name: name.to_owned(),
            short_name: name.chars().take(SHORT_NAME_MAX).collect(),
            code: Some(code.to_owned()),
            parent: parent.map(str::to_owned),
            opening_date: time::parse(OPENING_DATE).expect("a valid fixture opening date"),
            closed_date: None,
            created: now,
            last_updated: now,
            extra: Map::new(),
            data_sets: data_sets.to_vec(),
            programs: programs.to_vec(),
        };
        self.units.insert(unit.id.clone(), unit);
        for data_set in data_sets {
            self.data_sets_changed.insert(data_set, now);
        }
        Ok(())
    }

    /// Takes data set `data_set` away from unit `uid` for a test
    /// (`Dhis2Double::withdraw_data_set`).
    pub(crate) fn withdraw_data_set(&mut self, uid: &str, data_set: &str) -> Result<(), String> {
        let unit = self.units.get_mut(uid).ok_or_else(|| format!("org unit `{uid}` does not exist"))?;
        let Some(at) = unit.data_sets.iter().position(|d| *d == data_set) else {
            return Err(format!("data set `{data_set}` is not assigned to org unit `{uid}`"));
        };
        let data_set = unit.data_sets.remove(at);
        self.data_sets_changed.insert(data_set, time::now());
        Ok(())
    }

    /// Assigns a data set to a unit, as an admin ticking it in the maintenance app.
    pub(crate) fn assign_data_set(&mut self, uid: &str, data_set: &'static str) -> Result<(), String> {
        let unit = self.units.get_mut(uid).ok_or_else(|| format!("org unit `{uid}` does not exist"))?;
        if unit.data_sets.contains(&data_set) {
            return Err(format!("data set `{data_set}` is already assigned to org unit `{uid}`"));
        }
        unit.data_sets.push(data_set);
        self.data_sets_changed.insert(data_set, time::now());
        Ok(())
    }

    /// The units a data set is assigned to, and when that last changed.
    pub(crate) fn data_set_assignment(&self, data_set: &str) -> (Vec<String>, Option<NaiveDateTime>) {
        let units = self.units.values().filter(|u| u.data_sets.contains(&data_set)).map(|u| u.id.clone()).collect();
        (units, self.data_sets_changed.get(data_set).copied())
    }

    /// Renames a unit for a test (`Dhis2Double::rename_org_unit`).
    pub(crate) fn rename(&mut self, uid: &str, name: &str) -> Result<(), String> {
        let unit = self.units.get_mut(uid).ok_or_else(|| format!("org unit `{uid}` does not exist"))?;
        unit.name = name.to_owned();
        unit.last_updated = time::now();
        Ok(())
    }

    /// Deletes a unit for a test (`Dhis2Double::delete_org_unit`): like DHIS2, only one
    /// without children; it leaves its groups too.
    pub(crate) fn delete(&mut self, uid: &str) -> Result<(), String> {
        if !self.units.contains_key(uid) {
            return Err(format!("org unit `{uid}` does not exist"));
        }
        if let Some(child) = self.units.values().find(|u| u.parent.as_deref() == Some(uid)) {
            return Err(format!("org unit `{uid}` has a child (`{}`); DHIS2 deletes only leaves", child.id));
        }
        self.units.remove(uid);
        for group in self.groups.values_mut() {
            group.members.remove(uid);
        }
        Ok(())
    }

    /// Moves a unit under another parent for a test (`Dhis2Double::move_org_unit`): its
    /// path, level and `lastUpdated` change, and its descendants' paths with it (their
    /// `lastUpdated` stays: DHIS2 rewrites paths without touching the rows' timestamps).
    pub(crate) fn move_under(&mut self, uid: &str, parent: &str) -> Result<(), String> {
        if !self.units.contains_key(parent) {
            return Err(format!("parent org unit `{parent}` does not exist"));
        }
        if self.ancestry(parent).iter().any(|a| a == uid) {
            return Err(format!("`{parent}` is `{uid}` or below it"));
        }
        let unit = self.units.get_mut(uid).ok_or_else(|| format!("org unit `{uid}` does not exist"))?;
        unit.parent = Some(parent.to_owned());
        unit.last_updated = time::now();
        Ok(())
    }

    /// Deletes a data element for a test: the data sets holding it change too (DHIS2 updates
    /// their `lastUpdated`).
    pub(crate) fn delete_data_element(&mut self, uid: &str) {
        self.deleted_elements.insert(uid.to_owned());
        let now = time::now();
        for data_set in crate::model::data_sets_holding(uid) {
            self.data_sets_changed.insert(data_set, now);
        }
    }

    /// Forgets every unit, level and group (not the data sets' and elements' changes).
    pub(crate) fn clear(&mut self) {
        self.units.clear();
        self.levels.clear();
        self.groups.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::*;

    #[test]
    fn fixture_hierarchy_has_four_levels_with_paths() {
        let registry = Registry::fixture();
        assert_eq!(registry.units.len(), 8);
        assert_eq!(registry.path(OU_FACILITY_1), format!("/{OU_ROOT}/{OU_DISTRICT}/{OU_SUBCOUNTY}/{OU_FACILITY_1}"));
        assert_eq!(registry.level(OU_FACILITY_3), 4);
        assert_eq!(registry.level(OU_DISTRICT_2), 2);
        assert_eq!(registry.level(OU_ROOT), 1);
        let fac3 = registry.unit_json(&registry.units[OU_FACILITY_3]);
        assert_eq!(fac3["parent"]["id"], OU_SUBCOUNTY_2);
        assert_eq!(fac3["organisationUnitGroups"], json!([{ "id": OUG_PUBLIC }]));
        assert_eq!(fac3["lastUpdated"], METADATA_LAST_UPDATED);
        let root = registry.unit_json(&registry.units[OU_ROOT]);
        assert!(root.get("parent").is_none() && root.get("closedDate").is_none());
    }

    #[test]
    fn units_are_listed_by_level_then_name() {
        let ids: Vec<String> =
            Registry::fixture().units_json().iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect();
        let expected = [
            OU_ROOT,
            OU_DISTRICT,
            OU_DISTRICT_2,
            OU_SUBCOUNTY,
            OU_SUBCOUNTY_2,
            OU_FACILITY_1,
            OU_FACILITY_2,
            OU_FACILITY_3,
        ];
        assert_eq!(ids, expected);
    }

    #[test]
    fn added_units_are_validated_and_found_by_code() {
        let mut registry = Registry::fixture();
        assert!(registry.add("bad", "X", "X", None).is_err());
        assert!(registry.add("OrgNew00001", "New", "NEW", Some("OrgMissing1")).is_err());
        assert!(registry.add("OrgNew00001", "New", OU_ROOT_CODE, None).is_err());
        registry.add("OrgNew00001", "New", "NEW", Some(OU_SUBCOUNTY)).unwrap();
        assert!(registry.add("OrgNew00001", "New", "NEW2", None).is_err());
        assert_eq!(registry.find(IdScheme::Code, "NEW").unwrap().id, "OrgNew00001");
        assert_eq!(registry.level("OrgNew00001"), 4);
        assert!(registry.units["OrgNew00001"].last_updated > time::parse(METADATA_LAST_UPDATED).unwrap());
    }
}
