//! Logging through `tracing`: human-readable text or one JSON object per line, to stdout
//! (journald under systemd) and, when `server.logdir` is set, to a daily-rotated file there.

use std::io::IsTerminal;

use anyhow::Context;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
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
    // Colour codes only for a person at a terminal, not for journald or a log file.
    let mut layers = vec![format_layer(server.log_format, std::io::stdout, std::io::stdout().is_terminal())];
    let mut guard = None;
    if !server.logdir.trim().is_empty() {
        let mut appender = RollingFileAppender::builder().rotation(Rotation::DAILY).filename_prefix(LOG_FILE_PREFIX);
        if server.log_retention_days > 0 {
            appender = appender.max_log_files(server.log_retention_days);
        }
        let appender = appender.build(&server.logdir).with_context(|| {
            format!("server.logdir: cannot write log files in {} (set it to \"\" to log to stdout only)", server.logdir)
        })?;
        let (writer, flush_guard) =
            NonBlockingBuilder::default().buffered_lines_limit(LOG_LINES_BUFFERED).finish(appender);
        layers.push(format_layer(server.log_format, writer, false));
        guard = Some(flush_guard);
    }
    // Tests start several applications in one process; the first subscriber stays.
    let _ = tracing_subscriber::registry().with(layers).with(filter).try_init();
    Ok(guard)
}

fn format_layer<W>(format: LogFormat, writer: W, ansi: bool) -> Box<dyn Layer<Registry> + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi);
    match format {
        LogFormat::Json => layer.json().flatten_event(true).with_current_span(true).with_span_list(false).boxed(),
        LogFormat::Text => layer.boxed(),
    }
}
