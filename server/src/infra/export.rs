//! Exports streamed as they are written, so a million rows never sit in memory: a producer task
//! reads rows from PostgreSQL and hands them to a [`Rows`] sink; CSV leaves in 64 KiB chunks as
//! it is written, XLSX is written by rust_xlsxwriter in constant-memory mode (rows go to a
//! temporary file) on a blocking thread and streamed once the workbook is closed. A full
//! channel makes the query wait for the client.

use std::io::{Read, Write};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::infra::error::{AppError, AppResult};

/// Bytes buffered before a CSV chunk is sent.
const CHUNK: usize = 64 * 1024;
/// Chunks (or rows, for XLSX) waiting for the client (or the writer) at most.
const BACKLOG: usize = 8;
/// Data rows on one worksheet: Excel's limit less the header; more go on the next sheet.
const ROWS_PER_SHEET: u32 = 1_048_575;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    /// `format=csv` (the default) or `format=xlsx`.
    pub fn parse(text: Option<&str>) -> AppResult<Format> {
        match text.map(str::trim).unwrap_or("") {
            "" | "csv" => Ok(Format::Csv),
            "xlsx" => Ok(Format::Xlsx),
            other => Err(AppError::invalid_field("format", format!("'{other}' is neither csv nor xlsx"))),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }
}

/// An export on its way: the file's name and type, and its bytes as they come.
pub struct Export {
    pub file_name: String,
    pub content_type: &'static str,
    pub chunks: mpsc::Receiver<std::io::Result<Bytes>>,
}

/// Where a producer puts rows.
pub struct Rows {
    inner: RowsInner,
}

enum RowsInner {
    Csv { out: Box<csv::Writer<Pending>>, pending: Pending, chunks: mpsc::Sender<std::io::Result<Bytes>> },
    Xlsx { rows: mpsc::Sender<Vec<String>> },
}

/// CSV written and not sent yet, shared by the writer and the sink that sends it.
#[derive(Clone, Default)]
struct Pending(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Pending {
    fn len(&self) -> usize {
        self.0.lock().map_or(0, |b| b.len())
    }

    fn take(&self) -> Bytes {
        self.0.lock().map(|mut b| Bytes::from(std::mem::take(&mut *b))).unwrap_or_default()
    }
}

impl Write for Pending {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The client went away: the producer stops.
#[derive(Debug)]
pub struct Gone;

impl Rows {
    pub async fn push(&mut self, row: Vec<String>) -> Result<(), Gone> {
        match &mut self.inner {
            RowsInner::Csv { out, pending, chunks } => {
                out.write_record(&row).map_err(|_| Gone)?;
                if pending.len() >= CHUNK {
                    out.flush().map_err(|_| Gone)?;
                    chunks.send(Ok(pending.take())).await.map_err(|_| Gone)?;
                }
                Ok(())
            }
            RowsInner::Xlsx { rows } => rows.send(row).await.map_err(|_| Gone),
        }
    }

    async fn finish(self) {
        if let RowsInner::Csv { mut out, pending, chunks } = self.inner
            && out.flush().is_ok()
        {
            let rest = pending.take();
            if !rest.is_empty() {
                let _ = chunks.send(Ok(rest)).await;
            }
        }
        // XLSX: dropping the row sender tells the writer thread the sheet is complete.
    }
}

/// Starts an export named `name` (`dhis2gw_submissions`) with a `header` row; `produce` pushes
/// the rows. A producer failing ends the download early (the client sees it cut short) and is
/// logged.
pub fn start<Fut>(
    format: Format,
    name: &str,
    sheet: &'static str,
    header: &'static [&'static str],
    produce: impl FnOnce(Rows) -> Fut,
) -> Export
where
    Fut: Future<Output = AppResult<Rows>> + Send + 'static,
{
    let (chunks_tx, chunks) = mpsc::channel(BACKLOG);
    let rows = match format {
        Format::Csv => {
            let pending = Pending::default();
            let mut out = Box::new(csv::Writer::from_writer(pending.clone()));
            let _ = out.write_record(header);
            Rows { inner: RowsInner::Csv { out, pending, chunks: chunks_tx.clone() } }
        }
        Format::Xlsx => {
            let (rows_tx, rows_rx) = mpsc::channel(BACKLOG * 256);
            let chunks_tx = chunks_tx.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = write_workbook(sheet, header, rows_rx, &chunks_tx) {
                    tracing::warn!(error = %format!("{e:#}"), "an XLSX export failed");
                    let _ = chunks_tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                }
            });
            Rows { inner: RowsInner::Xlsx { rows: rows_tx } }
        }
    };
    let producing = produce(rows);
    tokio::spawn(async move {
        match producing.await {
            Ok(rows) => rows.finish().await,
            Err(e) => {
                tracing::warn!(error = %e, "an export failed");
                let _ = chunks_tx.send(Err(std::io::Error::other(e.to_string()))).await;
            }
        }
    });
    Export { file_name: format!("{name}.{}", format.extension()), content_type: format.content_type(), chunks }
}

/// Writes rows as they come to a constant-memory workbook, then sends the file in chunks.
fn write_workbook(
    sheet_name: &str,
    header: &[&str],
    mut rows: mpsc::Receiver<Vec<String>>,
    chunks: &mpsc::Sender<std::io::Result<Bytes>>,
) -> anyhow::Result<()> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let add_sheet = |workbook: &mut rust_xlsxwriter::Workbook, number: usize| -> anyhow::Result<()> {
        let s = workbook.add_worksheet_with_constant_memory()?;
        s.set_name(if number == 1 { sheet_name.to_string() } else { format!("{sheet_name} {number}") })?;
        for (c, name) in header.iter().enumerate() {
            s.set_column_width(c as u16, 18)?;
            s.write_string_with_format(0, c as u16, *name, &bold)?;
        }
        Ok(())
    };
    let (mut sheets, mut row) = (1, 0);
    add_sheet(&mut workbook, sheets)?;
    while let Some(cells) = rows.blocking_recv() {
        if row == ROWS_PER_SHEET {
            sheets += 1;
            add_sheet(&mut workbook, sheets)?;
            row = 0;
        }
        row += 1;
        let s = workbook.worksheet_from_index(sheets - 1)?;
        for (c, value) in cells.iter().enumerate() {
            s.write_string(row, c as u16, value)?;
        }
    }
    let mut file = tempfile::tempfile()?;
    workbook.save_to_writer(&mut file)?;
    std::io::Seek::rewind(&mut file)?;
    let mut buffer = vec![0; CHUNK];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(());
        }
        if chunks.blocking_send(Ok(Bytes::copy_from_slice(&buffer[..n]))).is_err() {
            return Ok(());
        }
    }
}
