//! Logging, set up once per binary.
//!
//! - stderr for people: `LEVEL program: message key=value`, colored only on a terminal
//!   (and never with `NO_COLOR`), level from `-v`/`-q` (info by default);
//! - a plain-text file for the record, under `$PHOENIX_SYSROOT/var/log/phoenix_hypervisor/`,
//!   with timestamp and PID, at debug level; when it cannot be written that is a warning on
//!   stderr, never a failure (the shell version died on an unwritable log);
//! - `PHOENIX_LOG` (an `EnvFilter`, e.g. `debug` or `phoenix_core=trace`) overrides both.
//!
//! stdout is never used for logs: it carries data (plans, JSON, status).

use std::fmt;
use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use phoenix_paths::Layout;

/// What to set up.
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// Program name shown in every line.
    pub program: &'static str,
    /// `-v` count minus `-q` count.
    pub verbosity: i8,
    /// Log file; `None` uses the default under the system root.
    pub file: Option<PathBuf>,
    /// Do not write a log file at all.
    pub no_file: bool,
}

/// The default log file for a layout.
pub fn default_file(layout: &Layout) -> PathBuf {
    layout.log_dir().join(phoenix_paths::host::LOG_FILE)
}

fn stderr_level(verbosity: i8) -> &'static str {
    match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    }
}

struct Plain {
    program: &'static str,
    pid: u32,
    timestamps: bool,
}

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = *event.metadata().level();
        if self.timestamps {
            write!(
                w,
                "{} {:>5} {}[{}]: ",
                humantime::format_rfc3339_seconds(SystemTime::now()),
                level,
                self.program,
                self.pid
            )?;
        } else {
            let (on, off) = if w.has_ansi_escapes() {
                let c = match level {
                    Level::ERROR => "\x1b[31m",
                    Level::WARN => "\x1b[1;33m",
                    Level::INFO => "\x1b[32m",
                    Level::DEBUG => "\x1b[34m",
                    Level::TRACE => "\x1b[2m",
                };
                (c, "\x1b[0m")
            } else {
                ("", "")
            };
            write!(
                w,
                "{on}{}{off} {}: ",
                level.as_str().to_ascii_lowercase(),
                self.program
            )?;
        }
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init(opts: &LogOptions, layout: &Layout) {
    let env = std::env::var(phoenix_paths::ENV_LOG)
        .ok()
        .filter(|s| !s.trim().is_empty());
    let filter = |default: &str| match &env {
        Some(spec) => EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new(default)),
        None => EnvFilter::new(default),
    };
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .event_format(Plain {
            program: opts.program,
            pid: std::process::id(),
            timestamps: false,
        })
        .with_filter(filter(stderr_level(opts.verbosity)));

    let mut file_warning = None;
    let file_layer = if opts.no_file {
        None
    } else {
        let path = opts.file.clone().unwrap_or_else(|| default_file(layout));
        let opened = path
            .parent()
            .map_or(Ok(()), |d| {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o750)
                    .create(d)
            })
            .and_then(|()| {
                use std::os::unix::fs::OpenOptionsExt;
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o640)
                    .open(&path)
            });
        match opened {
            Ok(f) => Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(Mutex::new(f))
                    .with_ansi(false)
                    .event_format(Plain {
                        program: opts.program,
                        pid: std::process::id(),
                        timestamps: true,
                    })
                    .with_filter(filter("debug")),
            ),
            Err(e) => {
                file_warning = Some(format!(
                    "cannot write the log file {}: {e}; logging to stderr only",
                    path.display()
                ));
                None
            }
        }
    };
    let installed = tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .try_init()
        .is_ok();
    if let (true, Some(w)) = (installed, file_warning) {
        tracing::warn!("{w}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_maps_to_levels() {
        assert_eq!(stderr_level(-3), "error");
        assert_eq!(stderr_level(-1), "warn");
        assert_eq!(stderr_level(0), "info");
        assert_eq!(stderr_level(1), "debug");
        assert_eq!(stderr_level(5), "trace");
    }
}
