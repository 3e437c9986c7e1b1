//! Logging through `tracing`: human-readable text or one JSON object per line, to stdout
//! (journald under systemd) and, when `server.logdir` is set, to a daily-rotated file there.

use std::io::IsTerminal;

use anyhow::Context;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{DefaultFields, FormatFields, Writer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::infra::config::{Config, LogFormat};

/// Log files are `dhis2gw.log.YYYY-MM-DD` (UTC dates).
const LOG_FILE_PREFIX: &str = "dhis2gw.log";

/// Lines waiting for the log file's writer thread, which keeps up unless the disk stalls; past
/// this many, lines are dropped rather than slow requests down. The library's default, 128,000,
/// preallocates 4 MB that the gateway then held for good.
const LOG_LINES_BUFFERED: usize = 8_192;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `server.log_level`.
/// Keep the returned guard alive: it flushes the log file when dropped.
pub fn init(config: &Config) -> anyhow::Result<Option<WorkerGuard>> {
    let server = &config.server;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&server.log_level));
    let mut file = None;
    let mut guard = None;
    if !server.logdir.trim().is_empty() {
        let mut appender = RollingFileAppender::builder().rotation(Rotation::DAILY).filename_prefix(LOG_FILE_PREFIX);
        if server.log_retention_days > 0 {
            appender = appender.max_log_files(server.log_retention_days);
        }
        let unwritable = || {
            format!("server.logdir: cannot write log files in {} (set it to \"\" to log to stdout only)", server.logdir)
        };
        // The appender creates a missing folder only after pruning old files from it, and
        // prints an error about reading it first: create it here.
        std::fs::create_dir_all(&server.logdir).with_context(unwritable)?;
        let appender = appender.build(&server.logdir).with_context(unwritable)?;
        let (writer, flush_guard) =
            NonBlockingBuilder::default().buffered_lines_limit(LOG_LINES_BUFFERED).finish(appender);
        file = Some(writer);
        guard = Some(flush_guard);
    }
    // Colour codes only for a person at a terminal, not for journald or a log file.
    let layers = layers(server.log_format, std::io::stdout, std::io::stdout().is_terminal(), file);
    // Tests start several applications in one process; the first subscriber stays.
    let _ = tracing_subscriber::registry().with(layers).with(filter).try_init();
    Ok(guard)
}

/// A layer writing to stdout and, given one, a layer writing to the log file.
fn layers<S, F>(
    format: LogFormat,
    stdout: S,
    ansi: bool,
    file: Option<F>,
) -> Vec<Box<dyn Layer<Registry> + Send + Sync>>
where
    S: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    F: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let mut layers = vec![format_layer(format, stdout, ansi, DefaultFields::new())];
    layers.extend(file.map(|file| format_layer(format, file, false, FileFields::default())));
    layers
}

fn format_layer<W, N>(format: LogFormat, writer: W, ansi: bool, fields: N) -> Box<dyn Layer<Registry> + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    N: for<'w> FormatFields<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi);
    match format {
        LogFormat::Json => layer.json().flatten_event(true).with_current_span(true).with_span_list(false).boxed(),
        LogFormat::Text => layer.fmt_fields(fields).boxed(),
    }
}

/// How the log file writes fields. Layers that write them alike share one copy of each span's
/// fields, and each appends a field recorded later (the user, once authenticated) to it: with
/// stdout and a file, every request's line named its user twice. (JSON fields are merged.)
#[derive(Default)]
struct FileFields(DefaultFields);

impl<'w> FormatFields<'w> for FileFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> std::fmt::Result {
        self.0.format_fields(writer, fields)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// What a layer wrote, kept in memory.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Written {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_user_known_after_the_request_began_is_named_once_on_stdout_and_in_the_file() {
        for format in [LogFormat::Text, LogFormat::Json] {
            let (stdout, file) = (Written::default(), Written::default());
            let (to_stdout, to_file) = (stdout.clone(), file.clone());
            let layers = layers(format, move || to_stdout.clone(), false, Some(move || to_file.clone()));
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layers), || {
                let span = tracing::info_span!("request", user = tracing::field::Empty);
                span.record("user", "someone");
                span.in_scope(|| tracing::info!(status = 200, "request"));
            });
            for written in [stdout, file] {
                let line = String::from_utf8(written.0.lock().unwrap().clone()).unwrap();
                assert_eq!(line.matches("someone").count(), 1, "{format:?}: {line}");
            }
        }
    }
}
