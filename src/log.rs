//! Logging: `tracing` events, written by `tracing-subscriber` in the tool's own line format.
//!
//! Output goes to stderr with a UTC wall-clock time, so a user can line our log up with the site's
//! responses and with their own clock; stdout is kept for what a person or a pipe needs to act on
//! (checkout URL, cookies, console script). The helpers here keep call sites one line long. Our
//! own lines show at info (debug with `-v`, warnings only with `-q`); the libraries' diagnostics
//! (chromiumoxide, hyper, zbus, …) only under `-v`, named by their target.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

/// The target our own lines carry.
const OURS: &str = "pretix_race";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// `HH:MM:SS.mmm level message`, and the library's name before the message of a line that is
/// not ours.
struct Line;

impl<S, N> FormatEvent<S, N> for Line
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
        let meta = event.metadata();
        let label = match *meta.level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warn ",
            tracing::Level::INFO => "info ",
            _ => "debug",
        };
        write!(
            w,
            "{} {label} ",
            crate::core::clock::utc_hms(std::time::SystemTime::now())
        )?;
        if !meta.target().starts_with(OURS) {
            write!(w, "{}: ", meta.target())?;
        }
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// Installs the subscriber (once; later calls only change nothing). `-v` shows debug lines and
/// the libraries' diagnostics, `-q` only warnings and errors.
pub fn set_verbosity(verbose: bool, quiet: bool) {
    let level = if verbose {
        Level::Debug
    } else if quiet {
        Level::Warn
    } else {
        Level::Info
    };
    LEVEL.store(level as u8, Ordering::Relaxed);
    let ours = match level {
        Level::Debug => LevelFilter::DEBUG,
        Level::Info => LevelFilter::INFO,
        Level::Warn => LevelFilter::WARN,
        Level::Error => LevelFilter::ERROR,
    };
    let filter = Targets::new()
        .with_target(OURS, ours)
        .with_default(if verbose {
            LevelFilter::INFO
        } else {
            LevelFilter::OFF
        });
    // One write per line (the layer formats a line, then writes it whole), so lines from
    // concurrent tasks never interleave.
    let fmt = tracing_subscriber::fmt::layer()
        .event_format(Line)
        .with_writer(std::io::stderr);
    let subscriber = tracing_subscriber::registry().with(fmt.with_filter(filter));
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Whether lines of `level` are shown.
pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

pub fn log(level: Level, message: &str) {
    if !enabled(level) {
        return;
    }
    match level {
        Level::Debug => tracing::debug!(target: OURS, "{message}"),
        Level::Info => tracing::info!(target: OURS, "{message}"),
        Level::Warn => tracing::warn!(target: OURS, "{message}"),
        Level::Error => tracing::error!(target: OURS, "{message}"),
    }
}

pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message.as_ref());
}
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message.as_ref());
}
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message.as_ref());
}
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message.as_ref());
}
