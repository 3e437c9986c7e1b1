//! Spreadsheets uploaded to the gateway (mapping files, data files): CSV and Excel read into
//! rows of named columns, a header row naming them in any case and order. A hostile file is
//! refused before it is held: too many rows, a zip bomb, a sheet spanning millions of cells.

use std::io::Cursor;

use calamine::{Data, Reader};

use crate::infra::error::{AppError, AppResult};

/// Largest uncompressed size of a workbook's parts together, as really inflated (not as
/// declared: a zip bomb lies).
const MAX_UNCOMPRESSED: u64 = 200 * 1024 * 1024;
/// Most parts a workbook's zip may hold.
const MAX_ZIP_ENTRIES: usize = 10_000;
/// Cells the area holding a sheet's data may span (rows × columns): spreadsheet readers
/// allocate that whole area, so two cells far apart would take hundreds of gigabytes.
/// 100,000 rows of 14 columns fit with room to spare.
const MAX_SHEET_CELLS: u64 = 5_000_000;

/// Which file format an upload is.
#[derive(Clone, Copy, Debug)]
pub enum Format {
    Csv,
    Excel,
}

impl Format {
    /// The format a file's name says it is: `.csv`, else a workbook (`.xlsx`, `.xls`, `.ods`).
    pub fn of_name(name: &str) -> Format {
        if name.to_ascii_lowercase().ends_with(".csv") { Format::Csv } else { Format::Excel }
    }
}

/// The columns a kind of file has, and how its problems are named.
pub struct Layout<const N: usize> {
    /// What the file is, for messages: `mapping file`.
    pub file: &'static str,
    pub columns: &'static [&'static str; N],
    /// The column a header cell names, if any.
    pub column_of: fn(&str) -> Option<usize>,
    /// Columns the header must have.
    pub required: &'static [usize],
    pub max_rows: usize,
}

impl<const N: usize> Layout<N> {
    /// A problem with the file as a whole: 400, `file: …`.
    pub fn error(&self, problem: impl Into<String>) -> AppError {
        AppError::BadRequest {
            message: format!("Cannot read the {}", self.file),
            detail: vec![format!("file: {}", problem.into())],
        }
    }
}

/// One data row of a file: its row number and its cells, one per column of the layout, held in
/// the row itself (a row's own allocation per row would leave 100,000 small blocks behind).
pub struct SheetRow<const N: usize> {
    pub number: usize,
    pub cells: [String; N],
}

impl<const N: usize> SheetRow<N> {
    /// The cell of `column`, moved out of the row.
    pub fn take(&mut self, column: usize) -> String {
        std::mem::take(&mut self.cells[column])
    }
}

/// A workbook of one sheet, `name`, holding the header row of `columns`: a template, or the
/// start of an export.
pub fn with_header(name: &str, columns: &[&str]) -> Result<rust_xlsxwriter::Workbook, rust_xlsxwriter::XlsxError> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name(name)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (c, column) in columns.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *column, &bold)?;
        sheet.set_column_width(c as u16, 22)?;
    }
    Ok(workbook)
}

/// Reads an uploaded file of `layout`. Parsing a large workbook is CPU work: call it off the
/// async runtime's threads.
pub fn read<const N: usize>(bytes: &[u8], format: Format, layout: &Layout<N>) -> AppResult<Vec<SheetRow<N>>> {
    match format {
        Format::Csv => read_csv(bytes, layout),
        Format::Excel => read_excel(bytes, layout),
    }
}

/// Turns the header and data rows of a sheet into [`SheetRow`]s, reading one row at a time
/// so that a file with too many rows is refused at the first one too many.
fn rows_from<const N: usize>(
    layout: &Layout<N>,
    mut records: impl Iterator<Item = AppResult<Vec<String>>>,
) -> AppResult<Vec<SheetRow<N>>> {
    let mut header_row = 0;
    let header = loop {
        header_row += 1;
        match records.next().transpose()? {
            Some(cells) if cells.iter().all(|c| c.trim().is_empty()) => continue,
            Some(cells) => break cells,
            None => {
                let first: Vec<&str> = layout.columns.iter().take(3).copied().collect();
                return Err(
                    layout.error(format!("it is empty; the first row must be the header ({}, …)", first.join(", ")))
                );
            }
        }
    };
    let columns: Vec<Option<usize>> = header.iter().map(|h| (layout.column_of)(h)).collect();
    if let Some(missing) = layout.required.iter().find(|r| !columns.contains(&Some(**r))) {
        return Err(layout.error(format!(
            "row {header_row} has no '{}' column; expected headers: {}",
            layout.columns[*missing],
            layout.columns.join(", ")
        )));
    }
    let mut rows = Vec::new();
    for (offset, cells) in records.enumerate() {
        let cells = cells?;
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if rows.len() == layout.max_rows {
            return Err(layout.error(format!("more than {} rows; split the file", layout.max_rows)));
        }
        let mut row = SheetRow { number: header_row + offset + 1, cells: std::array::from_fn(|_| String::new()) };
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
fn read_csv<const N: usize>(bytes: &[u8], layout: &Layout<N>) -> AppResult<Vec<SheetRow<N>>> {
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(layout.error("this is an Excel (xlsx) file, not CSV; upload it as Excel"));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| layout.error(format!("not UTF-8 text (byte {}); save it as \"CSV UTF-8\"", e.valid_up_to())))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains('\0') {
        return Err(layout.error("contains NUL characters; it is not a CSV file"));
    }
    let delimiter = sniff_delimiter(text);
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(text.as_bytes());
    let records = reader.records().map(|r| {
        r.map(|record| record.iter().map(str::to_string).collect())
            .map_err(|e| layout.error(format!("not valid CSV: {e}")))
    });
    rows_from(layout, records)
}

/// Comma, or semicolon (what spreadsheet programs write in many locales), by the header line.
fn sniff_delimiter(text: &str) -> u8 {
    let first = text.lines().next().unwrap_or_default();
    if first.matches(';').count() > first.matches(',').count() { b';' } else { b',' }
}

/// Reads the first sheet that has a header row with the layout's required columns. A hostile workbook
/// (a zip bomb, a sheet spanning millions of rows and columns) is refused before the
/// spreadsheet reader holds it: `.xlsx` and `.ods` are zips whose parts are inflated with a
/// bound first; an `.xlsx` is then read a cell at a time, its extent checked as it goes; the
/// extent of an `.ods` or `.xls` is read before the reader expands it.
fn read_excel<const N: usize>(bytes: &[u8], layout: &Layout<N>) -> AppResult<Vec<SheetRow<N>>> {
    if bytes.starts_with(b"PK\x03\x04") {
        match inflate_checked(bytes, "content.xml", layout)? {
            Some(content) => ods_extent(&content, layout)?.check(layout)?,
            None => {
                let workbook = calamine::Xlsx::new(Cursor::new(bytes))
                    .map_err(|e| layout.error(format!("not a readable Excel workbook: {e}")))?;
                return read_xlsx(workbook, layout);
            }
        }
    } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        xls_extent(bytes, layout)?.check(layout)?;
    }
    let mut workbook = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| layout.error(format!("not a readable Excel workbook: {e}")))?;
    let mut last_error = layout.error("the workbook has no sheets");
    for name in workbook.sheet_names() {
        let range = workbook.worksheet_range(&name).map_err(|e| layout.error(format!("sheet '{name}': {e}")))?;
        let records = range.rows().map(|row| Ok(row.iter().map(cell_text).collect()));
        match rows_from(layout, records) {
            Ok(rows) => return Ok(rows),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// Reads an `.xlsx` a cell at a time, a row at a time: a 100,000-row sheet is held once, as
/// the rows it holds, not also as the spreadsheet reader's grid of cells or as rows of text.
fn read_xlsx<const N: usize>(
    mut workbook: calamine::Xlsx<Cursor<&[u8]>>,
    layout: &Layout<N>,
) -> AppResult<Vec<SheetRow<N>>> {
    let unreadable = |e: calamine::XlsxError| layout.error(format!("not a readable Excel workbook: {e}"));
    let mut last_error = layout.error("the workbook has no sheets");
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
                                if let Err(e) = extent.check(layout) {
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
        match rows_from(layout, records) {
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

    fn check<const N: usize>(&self, layout: &Layout<N>) -> AppResult<()> {
        if self.rows.saturating_mul(self.columns) > MAX_SHEET_CELLS {
            return Err(layout.error(format!(
                "a sheet spans {} rows × {} columns; at most {MAX_SHEET_CELLS} cells (delete what lies far outside the table)",
                self.rows, self.columns
            )));
        }
        Ok(())
    }
}

/// Inflates every part of a zip with a bound on the total actually produced, keeping only
/// the part named `keep` (if there is one): the others are counted, not held.
fn inflate_checked<const N: usize>(bytes: &[u8], keep: &str, layout: &Layout<N>) -> AppResult<Option<Vec<u8>>> {
    use std::io::Read;
    let corrupt = |e: zip::result::ZipError| layout.error(format!("corrupt workbook: {e}"));
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(corrupt)?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(layout.error(format!("the workbook has {} parts; at most {MAX_ZIP_ENTRIES}", archive.len())));
    }
    let mut kept = None;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(corrupt)?;
        let name = entry.name().map_err(corrupt)?.to_string();
        let mut bounded = entry.take(MAX_UNCOMPRESSED - total + 1);
        let unreadable = |e: std::io::Error| layout.error(format!("corrupt workbook part {name}: {e}"));
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
            return Err(
                layout.error(format!("the workbook inflates to more than {} MiB", MAX_UNCOMPRESSED / 1024 / 1024))
            );
        }
    }
    Ok(kept)
}

/// The extent of an `.ods` spreadsheet's data: rows and cells may say they repeat a million
/// times, so the repeats are added up before any reader expands them.
fn ods_extent<const N: usize>(content: &[u8], layout: &Layout<N>) -> AppResult<Extent> {
    use quick_xml::events::{BytesStart, Event};
    let repeats = |e: &BytesStart, attribute: &str| -> u64 {
        e.try_get_attribute(attribute).ok().flatten().and_then(|a| a.value.parse().ok()).unwrap_or(1)
    };
    let mut reader = quick_xml::Reader::from_reader(content);
    let mut buffer = Vec::new();
    let (mut extent, mut row, mut row_repeats, mut column) = (Extent::default(), 0u64, 1u64, 0u64);
    loop {
        let event =
            reader.read_event_into(&mut buffer).map_err(|e| layout.error(format!("corrupt spreadsheet: {e}")))?;
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
                        extent.check(layout)?;
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
fn xls_extent<const N: usize>(bytes: &[u8], layout: &Layout<N>) -> AppResult<Extent> {
    use std::io::Read;
    let corrupt = |e: std::io::Error| layout.error(format!("corrupt Excel 97-2003 workbook: {e}"));
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
        extent.check(layout)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_cells_keep_whole_numbers_whole() {
        assert_eq!(cell_text(&Data::Float(1001.0)), "1001");
        assert_eq!(cell_text(&Data::Float(2.5)), "2.5");
        assert_eq!(cell_text(&Data::Int(7)), "7");
    }
}
