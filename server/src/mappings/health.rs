//! Mappings against DHIS2's synced metadata: whether each one would deliver (and if not, the
//! fix in words), the names of what it points at, and targets given by code or name in an
//! imported sheet resolved to UIDs.

use dhis2gw_wire::{HealthState, Mapping, MappingFields, MappingHealth, TargetNames};

use crate::infra::uid;
use crate::metadata::Snapshot;

/// The mapping with its health and names filled in.
pub fn describe(snapshot: &Snapshot, mut mapping: Mapping) -> Mapping {
    mapping.health = health(snapshot, &mapping.fields);
    mapping.names = names(snapshot, &mapping.fields);
    mapping
}

/// What DHIS2 would make of values sent through a data element mapping; org-unit mappings,
/// and everything before the first metadata sync, are unchecked.
pub fn health(snapshot: &Snapshot, f: &MappingFields) -> MappingHealth {
    if !snapshot.is_loaded() || f.what != "de" {
        return MappingHealth::default();
    }
    match problem(snapshot, f) {
        Some(problem) => MappingHealth { state: HealthState::Broken, problem: Some(problem) },
        None => MappingHealth { state: HealthState::Ok, problem: None },
    }
}

fn problem(snapshot: &Snapshot, f: &MappingFields) -> Option<String> {
    let Some(element) = snapshot.data_elements.get(&f.data_element) else {
        return Some(format!(
            "data element {} is not in DHIS2: choose one DHIS2 has (it may have been deleted or the UID mistyped)",
            f.data_element
        ));
    };
    let holding: Vec<&str> = {
        let mut names: Vec<&str> = snapshot
            .data_sets
            .values()
            .filter(|d| d.elements.contains_key(&element.uid))
            .map(|d| d.name.as_str())
            .collect();
        names.sort_unstable();
        names
    };
    let data_set = match f.data_set.as_str() {
        "" if holding.is_empty() => {
            return Some(format!(
                "'{}' is in no data set, so DHIS2 stores none of its values: add it to one",
                element.name
            ));
        }
        "" => snapshot.data_sets.values().filter(|d| d.elements.contains_key(&element.uid)).min_by_key(|d| &d.uid)?,
        id => match snapshot.data_set(id) {
            Some(data_set) => data_set,
            None => return Some(format!("data set {id} is not in DHIS2: choose one DHIS2 has")),
        },
    };
    if !data_set.elements.contains_key(&element.uid) {
        let fix = if holding.is_empty() {
            format!("add it to '{}' in DHIS2", data_set.name)
        } else {
            format!("use a data set that holds it ({}) or add it to '{}'", holding.join(", "), data_set.name)
        };
        return Some(format!("'{}' is not in data set '{}': {fix}", element.name, data_set.name));
    }
    let combo = snapshot.effective_combo(data_set, element);
    let coc = f.category_option_combo.clone().or_else(|| snapshot.default_option_combo().map(str::to_string));
    if let Some(coc) = coc {
        let allowed = || {
            combo
                .and_then(|c| snapshot.combos.get(c))
                .map(|c| {
                    let names: Vec<&str> = c
                        .option_combos
                        .iter()
                        .filter_map(|o| snapshot.option_combos.get(o))
                        .map(|o| o.name.as_str())
                        .collect();
                    format!("'{}' has {}", c.name, names.join(", "))
                })
                .unwrap_or_default()
        };
        match snapshot.option_combos.get(&coc) {
            None => return Some(format!("category option combo {coc} is not in DHIS2: choose one of {}", allowed())),
            Some(found) if Some(found.combo.as_str()) != combo => {
                return Some(format!(
                    "'{}' is not a category option combo of '{}': choose one of its combo's ({})",
                    found.name,
                    element.name,
                    allowed()
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(aoc) = &f.attribute_option_combo {
        match snapshot.option_combos.get(aoc) {
            None => return Some(format!("attribute option combo {aoc} is not in DHIS2")),
            Some(found) if data_set.attribute_combo.as_deref() != Some(found.combo.as_str()) => {
                return Some(format!(
                    "attribute option combo '{}' is not one of data set '{}''s: leave it empty or choose one of the data set's",
                    found.name, data_set.name
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// The names DHIS2 gives a mapping's targets.
pub fn names(snapshot: &Snapshot, f: &MappingFields) -> TargetNames {
    let name = |id: &str| snapshot.name_of(id).map(str::to_string);
    TargetNames {
        data_set: name(&f.data_set),
        data_element: name(&f.data_element),
        category_option_combo: f.category_option_combo.as_deref().and_then(name),
        attribute_option_combo: f.attribute_option_combo.as_deref().and_then(name),
    }
}

/// Targets an imported row gives by code or name instead of UID, replaced by their UIDs; one
/// note per target says what it was resolved to and how. Unknown ones are left for the
/// row's own checks to refuse.
pub fn resolve(snapshot: &Snapshot, f: &mut MappingFields) -> Vec<String> {
    let mut notes = Vec::new();
    if !snapshot.is_loaded() || f.what != "de" {
        return notes;
    }
    let mut one = |field: &str, value: &mut String, candidates: Vec<(&str, Option<&str>, &str)>| {
        if value.is_empty() || uid::is_valid(value) {
            return;
        }
        let by_code = candidates.iter().find(|(_, code, _)| *code == Some(value.as_str()));
        let by_name = || candidates.iter().find(|(_, _, name)| name.eq_ignore_ascii_case(value));
        let (found, how) = match by_code {
            Some(found) => (found, "code"),
            None => match by_name() {
                Some(found) => (found, "name"),
                None => return,
            },
        };
        notes.push(format!("{field}: '{value}' resolved by {how} to {} ('{}')", found.0, found.2));
        *value = found.0.to_string();
    };
    let data_sets = snapshot.data_sets.values().map(|d| (d.uid.as_str(), d.code.as_deref(), d.name.as_str())).collect();
    let elements =
        snapshot.data_elements.values().map(|d| (d.uid.as_str(), d.code.as_deref(), d.name.as_str())).collect();
    one("dataSet", &mut f.data_set, data_sets);
    one("dataElement", &mut f.data_element, elements);
    // Option combo names repeat across combos ("Female" in several): look only in the combo
    // the value will be checked against, when it is known.
    let element = snapshot.data_elements.get(&f.data_element);
    let data_set = snapshot.data_set(&f.data_set);
    let element_combo = match (data_set, element) {
        (Some(d), Some(e)) => snapshot.effective_combo(d, e),
        (None, Some(e)) => e.combo.as_deref(),
        _ => None,
    };
    let attribute_combo = data_set.and_then(|d| d.attribute_combo.as_deref());
    let combos = |within: Option<&str>| {
        snapshot
            .option_combos
            .values()
            .filter(|c| within.is_none_or(|w| c.combo == w))
            .map(|c| (c.uid.as_str(), c.code.as_deref(), c.name.as_str()))
            .collect::<Vec<_>>()
    };
    if let Some(value) = &mut f.category_option_combo {
        one("categoryOptionCombo", value, combos(element_combo));
    }
    if let Some(value) = &mut f.attribute_option_combo {
        one("attributeOptionCombo", value, combos(attribute_combo));
    }
    notes
}
