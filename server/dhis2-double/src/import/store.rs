//! The data values an import writes to.

use std::collections::BTreeMap;

use crate::common::StoredValue;

/// Store key: (data element, period, org unit, COC, AOC), all UIDs.
pub(crate) type Key = (String, String, String, String, String);
/// The stored data values, ordered by key.
pub(crate) type Store = BTreeMap<Key, StoredValue>;
