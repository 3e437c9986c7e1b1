//! What the [`Picker`](crate::components::Picker)s offer: DHIS2 objects from the gateway's
//! synced metadata and org units from its synced hierarchy, by name or code.

use dhis2gw_wire::MetadataFilter;

use crate::api::ApiResult;
use crate::components::Choice;
use crate::endpoints;
use crate::session::Session;

/// Objects of `kind` (`dataSet`, `dataElement`, `categoryOptionCombo`,
/// `attributeOptionCombo`), option combos narrowed to `data_element` in `data_set`.
pub async fn metadata(
    session: Session,
    kind: &'static str,
    q: String,
    data_element: Option<String>,
    data_set: Option<String>,
) -> ApiResult<Vec<Choice>> {
    let filter = MetadataFilter {
        kind: kind.into(),
        q: Some(q).filter(|q| !q.trim().is_empty()),
        data_element: data_element.filter(|d| !d.is_empty()),
        data_set: data_set.filter(|d| !d.is_empty()),
        page_size: Some(50),
        ..Default::default()
    };
    let page = endpoints::metadata_objects(session, filter).await?;
    Ok(page
        .items
        .into_iter()
        .map(|o| {
            let code = o.code.map(|c| format!(" [{c}]")).unwrap_or_default();
            let detail = o.detail.map(|d| format!(" · {d}")).unwrap_or_default();
            Choice { uid: o.uid, label: format!("{}{code}{detail}", o.name) }
        })
        .collect())
}

/// Org units whose name or code holds `q`, each with its level.
pub async fn org_units(session: Session, q: String) -> ApiResult<Vec<Choice>> {
    let page = endpoints::org_units(session, q).await?;
    Ok(page
        .items
        .into_iter()
        .map(|u| {
            let code = u.code.map(|c| format!(" [{c}]")).unwrap_or_default();
            Choice { uid: u.uid, label: format!("{}{code} · level {}", u.name, u.level) }
        })
        .collect())
}
