//! Mapping spreadsheets: reading CSV and Excel files into rows (the original's column names,
//! any case and order), applying them as upserts with a per-row report, and writing the
//! export and the template. An exported file imports back as "unchanged" on every row.

use std::collections::HashMap;

use dhis2gw_wire::{ImportReport, ImportRow, MappingFields, RowAction};
use serde_json::json;
use sqlx::PgPool;

use super::{MappingCache, health, normalize, problems};
use crate::access::audit::{self, Actor};
use crate::infra::error::{AppError, AppResult};
use crate::infra::sheet::{self, Layout, SheetRow};
use crate::metadata::Snapshot;

pub use crate::infra::sheet::Format;

/// Export and template columns, in the original service's order (plus the AOC it lacked).
pub const COLUMNS: [&str; 14] = [
    "code",
    "what",
    "name",
    "description",
    "dataset",
    "dataelement",
    "category_option_combo",
    "category_option",
    "category_combo",
    "instance_name",
    "source_name",
    "source_orgunit",
    "destination_orgunit",
    "attribute_option_combo",
];

/// A header cell → the column it names: case, spaces, `_` and `-` do not matter, and the
/// API's camelCase names (`dataElement`, `destinationOrgUnit`…) are understood too.
fn column_of(header: &str) -> Option<usize> {
    let key: String = header.chars().filter(|c| !matches!(c, '_' | ' ' | '-')).collect::<String>().to_lowercase();
    let key = match key.as_str() {
        "destorgunit" => "destinationorgunit",
        "source" => "sourcename",
        other => other,
    };
    COLUMNS.iter().position(|c| c.replace('_', "") == key)
}

/// A mapping file: its `code` column must be there.
const LAYOUT: Layout<{ COLUMNS.len() }> =
    Layout { file: "mapping file", columns: &COLUMNS, column_of, required: &[0], max_rows: 100_000 };

/// A row as mapping fields, its cells moved rather than copied: a 100,000-row file is held
/// once, not twice.
fn into_fields(mut row: SheetRow<{ COLUMNS.len() }>) -> MappingFields {
    let mut take = |name: &str| row.take(COLUMNS.iter().position(|c| *c == name).expect("known column"));
    let what = take("what");
    MappingFields {
        code: take("code"),
        what: if what.trim().is_empty() { "de".into() } else { what },
        name: take("name"),
        description: take("description"),
        data_set: take("dataset"),
        data_element: take("dataelement"),
        category_option_combo: Some(take("category_option_combo")),
        attribute_option_combo: Some(take("attribute_option_combo")),
        category_option: take("category_option"),
        category_combo: take("category_combo"),
        instance_name: take("instance_name"),
        source_name: take("source_name"),
        source_org_unit: take("source_orgunit"),
        destination_org_unit: take("destination_orgunit"),
    }
}

/// A mapping file as uploaded.
pub struct Upload {
    pub name: String,
    pub format: Format,
    pub bytes: Vec<u8>,
}

/// Applies a file as upserts on (code, source_name, instance_name, what): every row is
/// created, updated, unchanged or rejected (with reasons). With `dry_run` nothing is written;
/// otherwise the import is audited with its counts and the intake reads mappings afresh.
pub async fn import(
    db: &PgPool,
    cache: &MappingCache,
    snapshot: &Snapshot,
    actor: Actor<'_>,
    upload: Upload,
    dry_run: bool,
) -> AppResult<ImportReport> {
    let Upload { name, format, bytes } = upload;
    // Parsing a large workbook is CPU work: keep it off the async runtime's threads.
    let rows = tokio::task::spawn_blocking(move || sheet::read(&bytes, format, &LAYOUT))
        .await
        .map_err(|e| AppError::Internal(e.into()))??;
    let mut checked = Vec::with_capacity(rows.len());
    let mut seen: HashMap<MappingKey, usize> = HashMap::new();
    for row in rows {
        let number = row.number;
        let mut fields = normalize(into_fields(row));
        let resolved = health::resolve(snapshot, &mut fields);
        let mut errors = problems(&fields);
        match seen.entry(MappingKey::of(&fields)) {
            std::collections::hash_map::Entry::Occupied(first) => errors.push(format!(
                "code: duplicate of row {} (same code, what, source_name and instance_name)",
                first.get()
            )),
            std::collections::hash_map::Entry::Vacant(place) => {
                place.insert(number);
            }
        }
        checked.push((number, fields, resolved, errors));
    }
    drop(seen);
    let mut tx = db.begin().await?;
    // Each part's statement is the same prepared one: after five runs PostgreSQL may settle on
    // one plan for any arrays, made guessing ten rows a part (re-importing 100,000 mappings
    // then took over 16 s a part instead of a quarter of a second). Planned with each part's own.
    sqlx::query!("SET LOCAL plan_cache_mode = force_custom_plan").execute(&mut *tx).await?;
    // The valid rows compared with what was stored before this import, then (unless a dry
    // run) only the new and changed ones written: a statement per 10,000 rows rather than a
    // few per row (100,000 rows take seconds, not minutes), and no statement holds a second
    // copy of the whole file. One transaction: all or nothing.
    let valid: Vec<usize> = (0..checked.len()).filter(|i| checked[*i].3.is_empty()).collect();
    let mut actions: Vec<RowAction> = checked
        .iter()
        .map(|(_, _, _, errors)| if errors.is_empty() { RowAction::Created } else { RowAction::Rejected })
        .collect();
    for part in valid.chunks(ROWS_PER_STATEMENT) {
        let columns = Columns::of(part.iter().map(|i| &checked[*i].1));
        for (position, same) in columns.compare(&mut tx).await? {
            actions[part[position]] = if same { RowAction::Unchanged } else { RowAction::Updated };
        }
    }
    if !dry_run {
        let to_write: Vec<usize> = valid.into_iter().filter(|i| actions[*i] != RowAction::Unchanged).collect();
        for part in to_write.chunks(ROWS_PER_STATEMENT) {
            Columns::of(part.iter().map(|i| &checked[*i].1)).write(&mut tx).await?;
        }
    }
    let count = |action: RowAction| actions.iter().filter(|a| **a == action).count();
    let mut report = ImportReport {
        dry_run,
        total: checked.len(),
        created: count(RowAction::Created),
        updated: count(RowAction::Updated),
        unchanged: count(RowAction::Unchanged),
        rejected: count(RowAction::Rejected),
        rows: Vec::with_capacity(checked.len()),
    };
    for ((row, fields, resolved, errors), action) in checked.into_iter().zip(actions) {
        let (health, names) = (health::health(snapshot, &fields), health::names(snapshot, &fields));
        report.rows.push(ImportRow {
            row,
            code: fields.code,
            what: fields.what,
            action,
            errors,
            resolved,
            health,
            names,
        });
    }
    if dry_run {
        tx.rollback().await?;
        return Ok(report);
    }
    let detail = json!({"file": name, "created": report.created, "updated": report.updated,
                        "unchanged": report.unchanged, "rejected": report.rejected});
    audit::record(&mut *tx, actor, "mapping.import", "mapping", "", detail).await?;
    tx.commit().await?;
    cache.invalidate();
    Ok(report)
}

/// Mappings compared and written by one statement.
const ROWS_PER_STATEMENT: usize = 10_000;

/// What makes a mapping unique: (code, source_name, instance_name, what).
#[derive(PartialEq, Eq, Hash)]
struct MappingKey(String, String, String, String);

impl MappingKey {
    fn of(f: &MappingFields) -> MappingKey {
        MappingKey(f.code.clone(), f.source_name.clone(), f.instance_name.clone(), f.what.clone())
    }
}

/// Many mappings, a column at a time, for one `unnest` statement; borrowed from the rows.
#[derive(Default)]
struct Columns<'a> {
    code: Vec<&'a str>,
    what: Vec<&'a str>,
    name: Vec<&'a str>,
    description: Vec<&'a str>,
    data_set: Vec<&'a str>,
    data_element: Vec<&'a str>,
    category_option_combo: Vec<Option<&'a str>>,
    attribute_option_combo: Vec<Option<&'a str>>,
    category_option: Vec<&'a str>,
    category_combo: Vec<&'a str>,
    instance_name: Vec<&'a str>,
    source_name: Vec<&'a str>,
    source_org_unit: Vec<&'a str>,
    destination_org_unit: Vec<&'a str>,
}

impl<'a> Columns<'a> {
    fn of(rows: impl Iterator<Item = &'a MappingFields>) -> Columns<'a> {
        let mut columns = Columns::default();
        for f in rows {
            columns.code.push(&f.code);
            columns.what.push(&f.what);
            columns.name.push(&f.name);
            columns.description.push(&f.description);
            columns.data_set.push(&f.data_set);
            columns.data_element.push(&f.data_element);
            columns.category_option_combo.push(f.category_option_combo.as_deref());
            columns.attribute_option_combo.push(f.attribute_option_combo.as_deref());
            columns.category_option.push(&f.category_option);
            columns.category_combo.push(&f.category_combo);
            columns.instance_name.push(&f.instance_name);
            columns.source_name.push(&f.source_name);
            columns.source_org_unit.push(&f.source_org_unit);
            columns.destination_org_unit.push(&f.destination_org_unit);
        }
        columns
    }

    /// Compares the mappings with those stored under the same keys (code, what, source_name,
    /// instance_name): (position here, whether stored exactly so) for those stored before.
    async fn compare(&self, tx: &mut sqlx::PgConnection) -> sqlx::Result<Vec<(usize, bool)>> {
        let rows = sqlx::query!(
            r#"SELECT u.position AS "position!",
                   (m.name = u.name AND m.description = u.description AND m.dataset = u.dataset
                    AND m.dataelement = u.dataelement AND m.category_option_combo IS NOT DISTINCT FROM u.coc
                    AND m.attribute_option_combo IS NOT DISTINCT FROM u.aoc AND m.category_option = u.category_option
                    AND m.category_combo = u.category_combo AND m.source_orgunit = u.source_orgunit
                    AND m.dest_orgunit = u.dest_orgunit) AS "same!"
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                   $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])
                   WITH ORDINALITY AS u(code, what, name, description, dataset, dataelement, coc, aoc,
                       category_option, category_combo, instance_name, source_name, source_orgunit, dest_orgunit,
                       position)
               JOIN dhis2_mappings m ON m.code = u.code AND m.source_name = u.source_name
                   AND m.instance_name = u.instance_name AND m.what = u.what"#,
            &self.code as &[&str],
            &self.what as &[&str],
            &self.name as &[&str],
            &self.description as &[&str],
            &self.data_set as &[&str],
            &self.data_element as &[&str],
            &self.category_option_combo as &[Option<&str>],
            &self.attribute_option_combo as &[Option<&str>],
            &self.category_option as &[&str],
            &self.category_combo as &[&str],
            &self.instance_name as &[&str],
            &self.source_name as &[&str],
            &self.source_org_unit as &[&str],
            &self.destination_org_unit as &[&str],
        )
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows.into_iter().map(|r| (r.position as usize - 1, r.same)).collect())
    }

    /// Stores the mappings: new ones with a new UID each, those under a stored key overwritten
    /// (also if a parallel import made them a moment ago).
    async fn write(&self, tx: &mut sqlx::PgConnection) -> sqlx::Result<()> {
        let uids: Vec<String> = self.code.iter().map(|_| crate::infra::uid::generate()).collect();
        sqlx::query!(
            r#"INSERT INTO dhis2_mappings (uid, code, what, name, description, dataset, dataelement,
                   category_option_combo, attribute_option_combo, category_option, category_combo, instance_name,
                   source_name, source_orgunit, dest_orgunit)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                   $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
                   $14::text[], $15::text[])
               ON CONFLICT (code, source_name, instance_name, what) DO UPDATE SET name = EXCLUDED.name,
                   description = EXCLUDED.description, dataset = EXCLUDED.dataset,
                   dataelement = EXCLUDED.dataelement, category_option_combo = EXCLUDED.category_option_combo,
                   attribute_option_combo = EXCLUDED.attribute_option_combo,
                   category_option = EXCLUDED.category_option, category_combo = EXCLUDED.category_combo,
                   source_orgunit = EXCLUDED.source_orgunit, dest_orgunit = EXCLUDED.dest_orgunit"#,
            &uids,
            &self.code as &[&str],
            &self.what as &[&str],
            &self.name as &[&str],
            &self.description as &[&str],
            &self.data_set as &[&str],
            &self.data_element as &[&str],
            &self.category_option_combo as &[Option<&str>],
            &self.attribute_option_combo as &[Option<&str>],
            &self.category_option as &[&str],
            &self.category_combo as &[&str],
            &self.instance_name as &[&str],
            &self.source_name as &[&str],
            &self.source_org_unit as &[&str],
            &self.destination_org_unit as &[&str],
        )
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// An xlsx with one sheet, `Mappings`: the header row, then `rows`.
pub fn workbook(rows: &[MappingFields]) -> anyhow::Result<Vec<u8>> {
    let mut workbook = sheet::with_header("Mappings", &COLUMNS)?;
    let sheet = workbook.worksheet_from_index(0)?;
    for (r, f) in rows.iter().enumerate() {
        let cells = [
            f.code.as_str(),
            &f.what,
            &f.name,
            &f.description,
            &f.data_set,
            &f.data_element,
            f.category_option_combo.as_deref().unwrap_or_default(),
            &f.category_option,
            &f.category_combo,
            &f.instance_name,
            &f.source_name,
            &f.source_org_unit,
            &f.destination_org_unit,
            f.attribute_option_combo.as_deref().unwrap_or_default(),
        ];
        for (c, value) in cells.into_iter().enumerate() {
            // Strings always, so a code such as 007 keeps its zeros.
            sheet.write_string(r as u32 + 1, c as u16, value)?;
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(workbook.save_to_buffer()?)
}

/// The export of every mapping.
pub async fn export(db: &PgPool) -> AppResult<Vec<u8>> {
    let rows: Vec<MappingFields> =
        super::all(db).await?.into_iter().map(|r| dhis2gw_wire::Mapping::from(r).fields).collect();
    Ok(workbook(&rows)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(bytes: &[u8], format: Format) -> Result<Vec<MappingFields>, Vec<String>> {
        match sheet::read(bytes, format, &LAYOUT) {
            Ok(rows) => Ok(rows.into_iter().map(|r| normalize(into_fields(r))).collect()),
            Err(AppError::BadRequest { detail, .. }) => Err(detail),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn headers_match_in_any_case_and_order_and_short_rows_are_fine() {
        let csv = "DataElement;Code;WHAT;category_option_combo\nDeNumber001;hiv;de;Male000000a\nDeInteger01;pos\n";
        let rows = parsed(csv.as_bytes(), Format::Csv).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].code.as_str(), rows[0].data_element.as_str()), ("hiv", "DeNumber001"));
        assert_eq!(rows[0].category_option_combo.as_deref(), Some("Male000000a"));
        assert_eq!((rows[1].what.as_str(), rows[1].category_option_combo.as_deref()), ("de", None));
        let bom = "\u{feff}code,dataElement,sourceOrgUnit,destinationOrgUnit\nx,DeNumber001,,\n";
        assert_eq!(parsed(bom.as_bytes(), Format::Csv).unwrap()[0].code, "x");
    }

    #[test]
    fn broken_files_name_the_problem() {
        let cases: [(&[u8], &str); 5] = [
            (b"", "empty"),
            (b"name,dataelement\na,b\n", "no 'code' column"),
            (b"code\n\xff\xfe\n", "not UTF-8"),
            (b"PK\x03\x04rest", "Excel"),
            (b"code\nnul\0byte\n", "NUL"),
        ];
        for (bytes, expected) in cases {
            let detail = parsed(bytes, Format::Csv).expect_err(expected);
            assert!(detail[0].starts_with("file:") && detail[0].contains(expected), "{detail:?} should say {expected}");
        }
        let detail = parsed(b"not a zip at all", Format::Excel).unwrap_err();
        assert!(detail[0].contains("not a readable Excel workbook"), "{detail:?}");
        let detail = parsed(b"PK\x03\x04garbage", Format::Excel).unwrap_err();
        assert!(detail[0].contains("corrupt"), "{detail:?}");
    }

    #[test]
    fn the_export_workbook_reads_back_to_the_same_rows() {
        let rows = vec![
            MappingFields {
                code: "007".into(),
                what: "de".into(),
                data_element: "DeNumber001".into(),
                category_option_combo: Some("Male000000a".into()),
                instance_name: "default".into(),
                source_name: "emr".into(),
                ..Default::default()
            },
            MappingFields {
                code: "FAC1".into(),
                what: "ou".into(),
                destination_org_unit: "OrgFac00001".into(),
                instance_name: "default".into(),
                source_name: "default".into(),
                ..Default::default()
            },
        ];
        let bytes = workbook(&rows).unwrap();
        assert_eq!(parsed(&bytes, Format::Excel).unwrap(), rows);
        let template = workbook(&[]).unwrap();
        assert!(parsed(&template, Format::Excel).unwrap().is_empty());
    }

    #[test]
    fn a_sheet_keeps_its_row_numbers_across_empty_rows_and_cells() {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        // Row 1 empty, the header on row 2 in another order, row 4 empty, a gap of columns.
        for (c, name) in ["dataelement", "", "code"].iter().enumerate() {
            sheet.write_string(1, c as u16, *name).unwrap();
        }
        sheet.write_string(2, 0, "DeNumber001").unwrap();
        sheet.write_string(2, 2, "a").unwrap();
        sheet.write_string(4, 2, "b").unwrap();
        sheet.write_number(5, 0, 12.0).unwrap();
        sheet.write_string(5, 2, "c").unwrap();
        let bytes = workbook.save_to_buffer().unwrap();
        let rows = sheet::read(&bytes, Format::Excel, &LAYOUT).unwrap();
        let numbered: Vec<(usize, &str, &str)> =
            rows.iter().map(|r| (r.number, r.cells[0].as_str(), r.cells[5].as_str())).collect();
        assert_eq!(numbered, [(3, "a", "DeNumber001"), (5, "b", ""), (6, "c", "12")]);
    }
}
