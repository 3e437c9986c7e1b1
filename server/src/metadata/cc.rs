//! CC servers against the primary: each one is asked which data sets, data elements and
//! option combos it has, and what it lacks of those the mappings use is recorded on its row
//! (and so shown on its card), instead of surfacing later as refused deliveries.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;
use sqlx::PgPool;

use super::catalog::Snapshot;
use crate::servers::Registry;

/// Compares every switched-on CC server. A server that cannot be asked keeps what was found
/// before (its health check reports why it is unreachable).
pub async fn compare(db: &PgPool, servers: &Registry, snapshot: &Snapshot) -> sqlx::Result<()> {
    let used = used_by_mappings(db, snapshot).await?;
    let others = sqlx::query!("SELECT id, name FROM dhis2_servers WHERE NOT is_primary AND enabled ORDER BY name")
        .fetch_all(db)
        .await?;
    for server in others {
        let found = match servers.connection(server.id).await {
            Ok(connection) => uids_of(&connection.client).await,
            Err(e) => Err(e),
        };
        let held = match found {
            Ok(held) => held,
            Err(e) => {
                tracing::info!(server = server.name, error = %format!("{e:#}"), "CC server's metadata not compared");
                continue;
            }
        };
        let missing: Vec<String> =
            used.iter().filter(|(uid, _)| !held.contains(*uid)).map(|(uid, what)| format!("{what} ({uid})")).collect();
        let problem = (!missing.is_empty()).then(|| {
            format!(
                "lacks {} of the primary's metadata that mappings use, so values for {} would be refused there: {}",
                missing.len(),
                if missing.len() == 1 { "it" } else { "them" },
                missing.join(", ")
            )
        });
        if let Some(problem) = &problem {
            tracing::warn!(server = server.name, "{problem}");
        }
        sqlx::query!("UPDATE dhis2_servers SET metadata_problem = $2 WHERE id = $1", server.id, problem)
            .execute(db)
            .await?;
    }
    Ok(())
}

/// The UIDs the mappings send to that the primary has, each with what it is, in words.
async fn used_by_mappings(db: &PgPool, snapshot: &Snapshot) -> sqlx::Result<BTreeMap<String, String>> {
    let rows = sqlx::query!(
        r#"SELECT dataset, dataelement, category_option_combo, attribute_option_combo
           FROM dhis2_mappings WHERE what = 'de'"#
    )
    .fetch_all(db)
    .await?;
    let mut used = BTreeMap::new();
    let mut add = |uid: &str, kind: &str| {
        if let Some(name) = snapshot.name_of(uid) {
            used.insert(uid.to_string(), format!("{kind} '{name}'"));
        }
    };
    for row in rows {
        add(&row.dataset, "data set");
        add(&row.dataelement, "data element");
        for coc in [row.category_option_combo, row.attribute_option_combo].into_iter().flatten() {
            add(&coc, "option combo");
        }
    }
    Ok(used)
}

/// Every data set, data element and category option combo UID a server has.
async fn uids_of(client: &crate::infra::dhis2::Dhis2Client) -> anyhow::Result<HashSet<String>> {
    let mut held = HashSet::new();
    for (collection, fields) in
        [("dataSets", "id"), ("dataElements", "id"), ("categoryCombos", "id,categoryOptionCombos[id]")]
    {
        let body = client.get_json(&format!("{collection}?fields={fields}&paging=false")).await?;
        for object in body[collection].as_array().into_iter().flatten() {
            held.extend(object["id"].as_str().map(str::to_string));
            let combos = object["categoryOptionCombos"].as_array().into_iter().flatten();
            held.extend(combos.filter_map(|c: &Value| c["id"].as_str().map(str::to_string)));
        }
    }
    Ok(held)
}
