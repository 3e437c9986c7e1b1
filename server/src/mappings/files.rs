//! Mapping spreadsheets: reading CSV and Excel files into rows (the original's column names,
//! any case and order), applying them as upserts with a per-row report, and writing the
//! export and the template. An exported file imports back as "unchanged" on every row.

use std::collections::HashMap;
use std::io::Cursor;

use calamine::{Data, Reader};
use dhis2gw_wire::{ImportReport, ImportRow, MappingFields, RowAction};
use sqlx::PgPool;

use super::{MappingRow, normalize, problems};
use crate::error::{ApiError, ApiResult, on_unique};

/// Largest number of data rows one file may hold.
const MAX_ROWS: usize = 100_000;
/// Largest uncompressed size of an Excel file's parts (guards against zip bombs).
const MAX_XLSX_UNCOMPRESSED: u64 = 200 * 1024 * 1024;

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

/// One data row of a file: its row number and its cells by column.
struct FileRow {
    number: usize,
    cells: [String; COLUMNS.len()],
}

impl FileRow {
    fn fields(&self) -> MappingFields {
        let cell = |name: &str| self.cells[COLUMNS.iter().position(|c| *c == name).expect("known column")].clone();
        let what = cell("what");
        MappingFields {
            code: cell("code"),
            what: if what.trim().is_empty() { "de".into() } else { what },
            name: cell("name"),
            description: cell("description"),
            data_set: cell("dataset"),
            data_element: cell("dataelement"),
            category_option_combo: Some(cell("category_option_combo")),
            attribute_option_combo: Some(cell("attribute_option_combo")),
            category_option: cell("category_option"),
            category_combo: cell("category_combo"),
            instance_name: cell("instance_name"),
            source_name: cell("source_name"),
            source_org_unit: cell("source_orgunit"),
            destination_org_unit: cell("destination_orgunit"),
        }
    }
}

fn file_error(problem: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        message: "Cannot read the mapping file".into(),
        detail: vec![format!("file: {}", problem.into())],
    }
}

/// Turns the header and data rows of a sheet into [`FileRow`]s.
fn rows_from(mut records: impl Iterator<Item = Vec<String>>) -> ApiResult<Vec<FileRow>> {
    let mut header_row = 0;
    let header = loop {
        header_row += 1;
        match records.next() {
            Some(cells) if cells.iter().all(|c| c.trim().is_empty()) => continue,
            Some(cells) => break cells,
            None => {
                return Err(file_error("it is empty; the first row must be the header (code, what, dataelement, …)"));
            }
        }
    };
    let columns: Vec<Option<usize>> = header.iter().map(|h| column_of(h)).collect();
    if !columns.contains(&Some(0)) {
        return Err(file_error(format!(
            "row {header_row} has no 'code' column; expected headers: {}",
            COLUMNS.join(", ")
        )));
    }
    let mut rows = Vec::new();
    for (offset, cells) in records.enumerate() {
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if rows.len() == MAX_ROWS {
            return Err(file_error(format!("more than {MAX_ROWS} rows; split the file")));
        }
        let mut row = FileRow { number: header_row + offset + 1, cells: Default::default() };
        for (cell, column) in cells.into_iter().zip(&columns) {
            if let Some(c) = column {
                row.cells[*c] = cell;
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Reads a CSV file (UTF-8, with or without BOM; rows may be shorter than the header).
fn read_csv(bytes: &[u8]) -> ApiResult<Vec<FileRow>> {
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(file_error("this is an Excel (xlsx) file, not CSV; use /mappings/import/excel"));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| file_error(format!("not UTF-8 text (byte {}); save it as \"CSV UTF-8\"", e.valid_up_to())))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains('\0') {
        return Err(file_error("contains NUL characters; it is not a CSV file"));
    }
    let delimiter = sniff_delimiter(text);
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(text.as_bytes());
    let records = reader
        .records()
        .map(|r| r.map(|rec| rec.iter().map(str::to_string).collect::<Vec<_>>()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(format!("not valid CSV: {e}")))?;
    rows_from(records.into_iter())
}

/// Comma, or semicolon (what spreadsheet programs write in many locales), by the header line.
fn sniff_delimiter(text: &str) -> u8 {
    let first = text.lines().next().unwrap_or_default();
    if first.matches(';').count() > first.matches(',').count() { b';' } else { b',' }
}

/// Reads the first sheet that has a header row with a `code` column.
fn read_excel(bytes: &[u8]) -> ApiResult<Vec<FileRow>> {
    check_zip_size(bytes)?;
    let mut workbook = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| file_error(format!("not a readable Excel workbook: {e}")))?;
    let mut last_error = file_error("the workbook has no sheets");
    for name in workbook.sheet_names() {
        let range = workbook.worksheet_range(&name).map_err(|e| file_error(format!("sheet '{name}': {e}")))?;
        let records = range.rows().map(|row| row.iter().map(cell_text).collect::<Vec<_>>());
        match rows_from(records) {
            Ok(rows) => return Ok(rows),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// An xlsx is a zip: refuse one whose parts would decompress to more than the limit.
fn check_zip_size(bytes: &[u8]) -> ApiResult<()> {
    if !bytes.starts_with(b"PK\x03\x04") {
        // Old .xls and .ods are read by calamine directly; they are bounded by the body limit.
        return Ok(());
    }
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| file_error(format!("corrupt Excel file: {e}")))?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|e| file_error(format!("corrupt Excel file: {e}")))?;
        total += entry.size();
        if total > MAX_XLSX_UNCOMPRESSED {
            return Err(file_error("the workbook is too large once uncompressed"));
        }
    }
    Ok(())
}

/// A cell as text; whole numbers without a decimal point (a code typed as 1001 stays "1001").
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// Which file format an upload is.
#[derive(Clone, Copy, Debug)]
pub enum Format {
    Csv,
    Excel,
}

/// Applies a file as upserts on (code, source_name, instance_name, what): every row is
/// created, updated, unchanged or rejected (with reasons). With `dry_run` nothing is written.
pub async fn import(db: &PgPool, format: Format, bytes: Vec<u8>, dry_run: bool) -> ApiResult<ImportReport> {
    // Parsing a large workbook is CPU work: keep it off the async runtime's threads.
    let rows = tokio::task::spawn_blocking(move || match format {
        Format::Csv => read_csv(&bytes),
        Format::Excel => read_excel(&bytes),
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))??;
    let mut tx = db.begin().await?;
    let mut seen: HashMap<(String, String, String, String), usize> = HashMap::new();
    let mut report = ImportReport {
        dry_run,
        total: rows.len(),
        created: 0,
        updated: 0,
        unchanged: 0,
        rejected: 0,
        rows: Vec::new(),
    };
    for row in &rows {
        let fields = normalize(row.fields());
        let mut errors = problems(&fields);
        let key = (fields.code.clone(), fields.source_name.clone(), fields.instance_name.clone(), fields.what.clone());
        if let Some(first) = seen.get(&key) {
            errors.push(format!("code: duplicate of row {first} (same code, what, source_name and instance_name)"));
        } else {
            seen.insert(key, row.number);
        }
        let action = if errors.is_empty() { upsert(&mut tx, &fields).await? } else { RowAction::Rejected };
        match action {
            RowAction::Created => report.created += 1,
            RowAction::Updated => report.updated += 1,
            RowAction::Unchanged => report.unchanged += 1,
            RowAction::Rejected => report.rejected += 1,
        }
        report.rows.push(ImportRow { row: row.number, code: fields.code, what: fields.what, action, errors });
    }
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(report)
}

async fn upsert(tx: &mut sqlx::PgConnection, fields: &MappingFields) -> ApiResult<RowAction> {
    let existing = sqlx::query_as!(
        MappingRow,
        "SELECT * FROM dhis2_mappings WHERE code = $1 AND source_name = $2 AND instance_name = $3 AND what = $4",
        fields.code,
        fields.source_name,
        fields.instance_name,
        fields.what,
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(match existing {
        None => {
            // A parallel import may have created the same row a moment ago.
            super::insert(&mut *tx, fields).await.map_err(|e| on_unique(e, super::UNIQUE, super::UNIQUE_FIELD))?;
            RowAction::Created
        }
        Some(row) => {
            let id = row.id;
            if dhis2gw_wire::Mapping::from(row).fields == *fields {
                RowAction::Unchanged
            } else {
                super::overwrite(&mut *tx, id, fields).await?;
                RowAction::Updated
            }
        }
    })
}

/// An xlsx with one sheet, `Mappings`: the header row, then `rows`.
pub fn workbook(rows: &[MappingFields]) -> anyhow::Result<Vec<u8>> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Mappings")?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (c, name) in COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *name, &bold)?;
        sheet.set_column_width(c as u16, 22)?;
    }
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
pub async fn export(db: &PgPool) -> ApiResult<Vec<u8>> {
    let rows: Vec<MappingFields> =
        super::all(db).await?.into_iter().map(|r| dhis2gw_wire::Mapping::from(r).fields).collect();
    Ok(workbook(&rows)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(bytes: &[u8], format: Format) -> Result<Vec<MappingFields>, Vec<String>> {
        let rows = match format {
            Format::Csv => read_csv(bytes),
            Format::Excel => read_excel(bytes),
        };
        match rows {
            Ok(rows) => Ok(rows.iter().map(|r| normalize(r.fields())).collect()),
            Err(ApiError::BadRequest { detail, .. }) => Err(detail),
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
    fn numeric_cells_keep_whole_numbers_whole() {
        assert_eq!(cell_text(&Data::Float(1001.0)), "1001");
        assert_eq!(cell_text(&Data::Float(2.5)), "2.5");
        assert_eq!(cell_text(&Data::Int(7)), "7");
    }
}
