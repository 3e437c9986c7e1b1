//! Mapping spreadsheets: reading CSV and Excel files into rows (the original's column names,
//! any case and order), applying them as upserts with a per-row report, and writing the
//! export and the template. An exported file imports back as "unchanged" on every row.

use std::collections::HashMap;
use std::io::Cursor;

use calamine::{Data, Reader};
use dhis2gw_wire::{ImportReport, ImportRow, MappingFields, RowAction};
use serde_json::json;
use sqlx::PgPool;

use super::{MappingCache, health, normalize, problems};
use crate::access::audit::{self, Actor};
use crate::infra::error::{AppError, AppResult};
use crate::metadata::Snapshot;

/// Largest number of data rows one file may hold.
const MAX_ROWS: usize = 100_000;
/// Largest uncompressed size of a workbook's parts together, as really inflated (not as
/// declared: a zip bomb lies).
const MAX_UNCOMPRESSED: u64 = 200 * 1024 * 1024;
/// Most parts a workbook's zip may hold.
const MAX_ZIP_ENTRIES: usize = 10_000;
/// Cells the area holding a sheet's data may span (rows × columns): spreadsheet readers
/// allocate that whole area, so two cells far apart would take hundreds of gigabytes.
/// 100,000 mapping rows of 14 columns fit with room to spare.
const MAX_SHEET_CELLS: u64 = 5_000_000;

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
    /// The row as mapping fields, its cells moved rather than copied: a 100,000-row file
    /// is held once, not twice.
    fn into_fields(self) -> MappingFields {
        let mut cells = self.cells;
        let mut take =
            |name: &str| std::mem::take(&mut cells[COLUMNS.iter().position(|c| *c == name).expect("known column")]);
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
}

fn file_error(problem: impl Into<String>) -> AppError {
    AppError::BadRequest {
        message: "Cannot read the mapping file".into(),
        detail: vec![format!("file: {}", problem.into())],
    }
}

/// Turns the header and data rows of a sheet into [`FileRow`]s, reading one row at a time
/// so that a file with too many rows is refused at the first one too many.
fn rows_from(mut records: impl Iterator<Item = AppResult<Vec<String>>>) -> AppResult<Vec<FileRow>> {
    let mut header_row = 0;
    let header = loop {
        header_row += 1;
        match records.next().transpose()? {
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
        let cells = cells?;
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
fn read_csv(bytes: &[u8]) -> AppResult<Vec<FileRow>> {
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
    let records = reader.records().map(|r| {
        r.map(|record| record.iter().map(str::to_string).collect())
            .map_err(|e| file_error(format!("not valid CSV: {e}")))
    });
    rows_from(records)
}

/// Comma, or semicolon (what spreadsheet programs write in many locales), by the header line.
fn sniff_delimiter(text: &str) -> u8 {
    let first = text.lines().next().unwrap_or_default();
    if first.matches(';').count() > first.matches(',').count() { b';' } else { b',' }
}

/// Reads the first sheet that has a header row with a `code` column. A hostile workbook
/// (a zip bomb, a sheet spanning millions of rows and columns) is refused before the
/// spreadsheet reader holds it: `.xlsx` and `.ods` are zips whose parts are inflated with a
/// bound first; an `.xlsx` is then read a cell at a time, its extent checked as it goes; the
/// extent of an `.ods` or `.xls` is read before the reader expands it.
fn read_excel(bytes: &[u8]) -> AppResult<Vec<FileRow>> {
    if bytes.starts_with(b"PK\x03\x04") {
        match inflate_checked(bytes, "content.xml")? {
            Some(content) => ods_extent(&content)?.check()?,
            None => {
                let workbook = calamine::Xlsx::new(Cursor::new(bytes))
                    .map_err(|e| file_error(format!("not a readable Excel workbook: {e}")))?;
                return read_xlsx(workbook);
            }
        }
    } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        xls_extent(bytes)?.check()?;
    }
    let mut workbook = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| file_error(format!("not a readable Excel workbook: {e}")))?;
    let mut last_error = file_error("the workbook has no sheets");
    for name in workbook.sheet_names() {
        let range = workbook.worksheet_range(&name).map_err(|e| file_error(format!("sheet '{name}': {e}")))?;
        let records = range.rows().map(|row| Ok(row.iter().map(cell_text).collect()));
        match rows_from(records) {
            Ok(rows) => return Ok(rows),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// Reads an `.xlsx` a cell at a time, a row at a time: a 100,000-row sheet is held once, as
/// the mapping rows it holds, not also as the spreadsheet reader's grid of cells or as rows
/// of text.
fn read_xlsx(mut workbook: calamine::Xlsx<Cursor<&[u8]>>) -> AppResult<Vec<FileRow>> {
    let unreadable = |e: calamine::XlsxError| file_error(format!("not a readable Excel workbook: {e}"));
    let mut last_error = file_error("the workbook has no sheets");
    for name in workbook.sheet_names() {
        let mut cells = workbook.worksheet_cells_reader(&name).map_err(unreadable)?;
        // The sheet's next non-empty cell, read but not yet placed: (row, column, text).
        let mut ahead: Option<(usize, usize, String)> = None;
        let mut finished = false;
        let mut row_number = 0;
        // The sheet's own `dimension` may lie: its extent is that of the cells read so far.
        let mut extent = Extent::default();
        // Row after row, empty ones included (cells come row by row, left to right).
        let records = std::iter::from_fn(|| {
            let mut record: Vec<String> = Vec::new();
            loop {
                while ahead.is_none() && !finished {
                    match cells.next_cell() {
                        Err(e) => return Some(Err(unreadable(e))),
                        Ok(None) => finished = true,
                        Ok(Some(cell)) => {
                            let (row, column) = cell.get_position();
                            let text = match Data::from(cell.get_value().clone()) {
                                Data::String(s) => s,
                                other => cell_text(&other),
                            };
                            if !text.is_empty() {
                                extent.include(row.into(), column.into());
                                if let Err(e) = extent.check() {
                                    return Some(Err(e));
                                }
                                ahead = Some((row as usize, column as usize, text));
                            }
                        }
                    }
                }
                match ahead.take() {
                    Some((row, column, text)) if row <= row_number => {
                        if record.len() <= column {
                            record.resize_with(column + 1, String::new);
                        }
                        record[column] = text;
                    }
                    later => {
                        if later.is_none() && record.is_empty() {
                            return None;
                        }
                        ahead = later;
                        row_number += 1;
                        return Some(Ok(record));
                    }
                }
            }
        });
        match rows_from(records) {
            Ok(rows) => return Ok(rows),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// Where a sheet's data lies: the rows and columns up to its last non-empty cell.
#[derive(Default)]
struct Extent {
    rows: u64,
    columns: u64,
}

impl Extent {
    fn include(&mut self, row: u64, column: u64) {
        self.rows = self.rows.max(row + 1);
        self.columns = self.columns.max(column + 1);
    }

    fn check(&self) -> AppResult<()> {
        if self.rows.saturating_mul(self.columns) > MAX_SHEET_CELLS {
            return Err(file_error(format!(
                "a sheet spans {} rows × {} columns; at most {MAX_SHEET_CELLS} cells (delete what lies far outside the table)",
                self.rows, self.columns
            )));
        }
        Ok(())
    }
}

/// Inflates every part of a zip with a bound on the total actually produced, keeping only
/// the part named `keep` (if there is one): the others are counted, not held.
fn inflate_checked(bytes: &[u8], keep: &str) -> AppResult<Option<Vec<u8>>> {
    use std::io::Read;
    let corrupt = |e: zip::result::ZipError| file_error(format!("corrupt workbook: {e}"));
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(corrupt)?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(file_error(format!("the workbook has {} parts; at most {MAX_ZIP_ENTRIES}", archive.len())));
    }
    let mut kept = None;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(corrupt)?;
        let name = entry.name().map_err(corrupt)?.to_string();
        let mut bounded = entry.take(MAX_UNCOMPRESSED - total + 1);
        let unreadable = |e: std::io::Error| file_error(format!("corrupt workbook part {name}: {e}"));
        let inflated = if name == keep {
            let mut part = Vec::new();
            bounded.read_to_end(&mut part).map_err(unreadable)?;
            let size = part.len() as u64;
            kept = Some(part);
            size
        } else {
            std::io::copy(&mut bounded, &mut std::io::sink()).map_err(unreadable)?
        };
        total += inflated;
        if total > MAX_UNCOMPRESSED {
            return Err(file_error(format!(
                "the workbook inflates to more than {} MiB",
                MAX_UNCOMPRESSED / 1024 / 1024
            )));
        }
    }
    Ok(kept)
}

/// The extent of an `.ods` spreadsheet's data: rows and cells may say they repeat a million
/// times, so the repeats are added up before any reader expands them.
fn ods_extent(content: &[u8]) -> AppResult<Extent> {
    use quick_xml::events::{BytesStart, Event};
    let repeats = |e: &BytesStart, attribute: &str| -> u64 {
        e.try_get_attribute(attribute).ok().flatten().and_then(|a| a.value.parse().ok()).unwrap_or(1)
    };
    let mut reader = quick_xml::Reader::from_reader(content);
    let mut buffer = Vec::new();
    let (mut extent, mut row, mut row_repeats, mut column) = (Extent::default(), 0u64, 1u64, 0u64);
    loop {
        let event = reader.read_event_into(&mut buffer).map_err(|e| file_error(format!("corrupt spreadsheet: {e}")))?;
        match &event {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                "table:table" => row = 0,
                "table:table-row" => {
                    row_repeats = repeats(e, "table:number-rows-repeated");
                    column = 0;
                    if matches!(event, Event::Empty(_)) {
                        row = row.saturating_add(row_repeats);
                    }
                }
                "table:table-cell" | "table:covered-table-cell" => {
                    let width = repeats(e, "table:number-columns-repeated");
                    // A cell with a value, or with content inside it, holds data; the empty
                    // runs that close every row and sheet do not count.
                    let holds_data = matches!(event, Event::Start(_))
                        || e.try_get_attribute("office:value-type").ok().flatten().is_some();
                    if holds_data {
                        extent.include(row.saturating_add(row_repeats) - 1, column.saturating_add(width) - 1);
                        extent.check()?;
                    }
                    column = column.saturating_add(width);
                }
                _ => {}
            },
            Event::End(e) if e.name().as_ref() == "table:table-row" => row = row.saturating_add(row_repeats),
            Event::Eof => break,
            _ => {}
        }
        buffer.clear();
    }
    Ok(extent)
}

/// The extent of an `.xls` workbook's data, from the BIFF records of its `Workbook` stream:
/// each sheet's declared dimensions and every cell record's position.
fn xls_extent(bytes: &[u8]) -> AppResult<Extent> {
    use std::io::Read;
    let corrupt = |e: std::io::Error| file_error(format!("corrupt Excel 97-2003 workbook: {e}"));
    let mut file = cfb::CompoundFile::open(Cursor::new(bytes)).map_err(corrupt)?;
    let mut stream = file.open_stream("/Workbook").or_else(|_| file.open_stream("/Book")).map_err(corrupt)?;
    let mut data = Vec::new();
    stream.read_to_end(&mut data).map_err(corrupt)?;
    let u16_at =
        |record: &[u8], at: usize| record.get(at..at + 2).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as u64);
    let u32_at = |record: &[u8], at: usize| {
        record.get(at..at + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64)
    };
    let mut extent = Extent::default();
    let mut at = 0;
    while at + 4 <= data.len() {
        let kind = u16_at(&data, at);
        let length = u16_at(&data, at + 2) as usize;
        let record = &data[(at + 4).min(data.len())..(at + 4 + length).min(data.len())];
        at += 4 + length;
        match kind {
            // DIMENSIONS: first row, last row + 1, first column, last column + 1.
            0x0200 => {
                let (rows, columns) = if record.len() >= 14 {
                    (u32_at(record, 4), u16_at(record, 10))
                } else {
                    (u16_at(record, 2), u16_at(record, 6))
                };
                if rows > 0 && columns > 0 {
                    extent.include(rows - 1, columns - 1);
                }
            }
            // Cells: NUMBER, LABEL, RSTRING, BOOLERR, RK, LABELSST, FORMULA, BLANK.
            0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD | 0x0006 | 0x0201 => {
                extent.include(u16_at(record, 0), u16_at(record, 2));
            }
            // MULRK, MULBLANK: a row of cells up to the column in the last two bytes.
            0x00BD | 0x00BE if record.len() >= 6 => {
                extent.include(u16_at(record, 0), u16_at(record, record.len() - 2));
            }
            _ => continue,
        }
        extent.check()?;
    }
    Ok(extent)
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
    let rows = tokio::task::spawn_blocking(move || match format {
        Format::Csv => read_csv(&bytes),
        Format::Excel => read_excel(&bytes),
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))??;
    let mut checked = Vec::with_capacity(rows.len());
    let mut seen: HashMap<MappingKey, usize> = HashMap::new();
    for row in rows {
        let number = row.number;
        let mut fields = normalize(row.into_fields());
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
    // The valid rows compared with what is stored and (unless a dry run) written, in one
    // statement rather than a few per row: 100,000 rows take seconds, not minutes.
    let valid: Vec<usize> = (0..checked.len()).filter(|i| checked[*i].3.is_empty()).collect();
    let mut valid_rows = Columns::default();
    for i in &valid {
        valid_rows.push(&checked[*i].1);
    }
    let mut actions: Vec<RowAction> = checked
        .iter()
        .map(|(_, _, _, errors)| if errors.is_empty() { RowAction::Created } else { RowAction::Rejected })
        .collect();
    for (position, same) in valid_rows.apply(&mut tx, !dry_run).await? {
        actions[valid[position]] = if same { RowAction::Unchanged } else { RowAction::Updated };
    }
    drop(valid_rows);
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
    fn push(&mut self, f: &'a MappingFields) {
        self.code.push(&f.code);
        self.what.push(&f.what);
        self.name.push(&f.name);
        self.description.push(&f.description);
        self.data_set.push(&f.data_set);
        self.data_element.push(&f.data_element);
        self.category_option_combo.push(f.category_option_combo.as_deref());
        self.attribute_option_combo.push(f.attribute_option_combo.as_deref());
        self.category_option.push(&f.category_option);
        self.category_combo.push(&f.category_combo);
        self.instance_name.push(&f.instance_name);
        self.source_name.push(&f.source_name);
        self.source_org_unit.push(&f.source_org_unit);
        self.destination_org_unit.push(&f.destination_org_unit);
    }

    /// Compares the mappings with those stored under the same keys (code, what, source_name,
    /// instance_name) and, with `write`, stores the new and changed ones: new ones with a new
    /// UID each, changed ones overwritten (also if a parallel import made them a moment ago).
    /// Returns (position here, whether stored exactly so) for those stored before.
    async fn apply(&self, tx: &mut sqlx::PgConnection, write: bool) -> sqlx::Result<Vec<(usize, bool)>> {
        if self.code.is_empty() {
            return Ok(Vec::new());
        }
        let uids: Vec<String> = self.code.iter().map(|_| crate::infra::uid::generate()).collect();
        // Every part of one statement sees the table as it was before it: `before` is
        // what was stored, whatever `written` does.
        let rows = sqlx::query!(
            r#"WITH u AS (
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
                       $14::text[], $15::text[])
                       WITH ORDINALITY AS u(uid, code, what, name, description, dataset, dataelement, coc, aoc,
                           category_option, category_combo, instance_name, source_name, source_orgunit, dest_orgunit,
                           position)),
               before AS (
                   SELECT u.position,
                       (m.name = u.name AND m.description = u.description AND m.dataset = u.dataset
                        AND m.dataelement = u.dataelement AND m.category_option_combo IS NOT DISTINCT FROM u.coc
                        AND m.attribute_option_combo IS NOT DISTINCT FROM u.aoc AND m.category_option = u.category_option
                        AND m.category_combo = u.category_combo AND m.source_orgunit = u.source_orgunit
                        AND m.dest_orgunit = u.dest_orgunit) AS same
                   FROM u JOIN dhis2_mappings m ON m.code = u.code AND m.source_name = u.source_name
                       AND m.instance_name = u.instance_name AND m.what = u.what),
               written AS (
                   INSERT INTO dhis2_mappings (uid, code, what, name, description, dataset, dataelement,
                       category_option_combo, attribute_option_combo, category_option, category_combo, instance_name,
                       source_name, source_orgunit, dest_orgunit)
                   SELECT uid, code, what, name, description, dataset, dataelement, coc, aoc, category_option,
                       category_combo, instance_name, source_name, source_orgunit, dest_orgunit
                   FROM u WHERE $16 AND u.position NOT IN (SELECT position FROM before WHERE same)
                   ON CONFLICT (code, source_name, instance_name, what) DO UPDATE SET name = EXCLUDED.name,
                       description = EXCLUDED.description, dataset = EXCLUDED.dataset,
                       dataelement = EXCLUDED.dataelement, category_option_combo = EXCLUDED.category_option_combo,
                       attribute_option_combo = EXCLUDED.attribute_option_combo,
                       category_option = EXCLUDED.category_option, category_combo = EXCLUDED.category_combo,
                       source_orgunit = EXCLUDED.source_orgunit, dest_orgunit = EXCLUDED.dest_orgunit)
               SELECT position AS "position!", same AS "same!" FROM before"#,
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
            write,
        )
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows.into_iter().map(|r| (r.position as usize - 1, r.same)).collect())
    }
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
pub async fn export(db: &PgPool) -> AppResult<Vec<u8>> {
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
            Ok(rows) => Ok(rows.into_iter().map(|r| normalize(r.into_fields())).collect()),
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
        let rows = read_excel(&bytes).unwrap();
        let numbered: Vec<(usize, &str, &str)> =
            rows.iter().map(|r| (r.number, r.cells[0].as_str(), r.cells[5].as_str())).collect();
        assert_eq!(numbered, [(3, "a", "DeNumber001"), (5, "b", ""), (6, "c", "12")]);
    }

    #[test]
    fn numeric_cells_keep_whole_numbers_whole() {
        assert_eq!(cell_text(&Data::Float(1001.0)), "1001");
        assert_eq!(cell_text(&Data::Float(2.5)), "2.5");
        assert_eq!(cell_text(&Data::Int(7)), "7");
    }
}
