//! Logging: `tracing` events, written by `tracing-subscriber` in the tool's own line format.
//!
//! Output goes to stderr with a UTC wall-clock time, so a user can line our log up with the site's
//! responses and with their own clock; stdout is kept for what a person or a pipe needs to act on
//! (checkout URL, cookies, console script). The helpers here keep call sites one line long. Our
//! own lines show at info (debug with `-v`, warnings only with `-q`); the libraries' diagnostics
//! (hyper, zbus, …) only under `-v`, named by their target.

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
/// The live status line on a terminal: the text, when one is shown.
static STATUS: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
/// 0: text lines; 1: one JSON object per line (`--log-format json`).
static JSON: AtomicU8 = AtomicU8::new(0);

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `HH:MM:SS.mmm level message`, for people.
    #[default]
    Text,
    /// One JSON object per line (`ts`, `level`, `msg`, and the event's fields), for log shippers.
    Json,
}

fn json() -> bool {
    JSON.load(Ordering::Relaxed) == 1
}

/// Writes `line` (ending in a newline) above the status line, if one is shown: clear it, the
/// line, then the status again, in one write.
fn write_line(line: &[u8]) {
    use std::io::Write;
    let status = STATUS.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = Vec::with_capacity(line.len() + 96);
    if let Some(st) = status.as_ref() {
        out.extend_from_slice(b"\r\x1b[2K");
        out.extend_from_slice(line);
        out.extend_from_slice(st.as_bytes());
    } else {
        out.extend_from_slice(line);
    }
    let _ = std::io::stderr().lock().write_all(&out);
}

/// Writes `text` to stdout as it is. What goes there is for a person or a pipe to act on; a
/// closed one (a pipe whose reader left, a terminal gone with SIGHUP) must never panic and never
/// change how the run ends: the cookie files and the alerts still go out. So errors are dropped.
pub fn out(text: &str) {
    out_bytes(text.as_bytes());
}

/// [`out`] for bytes (a man page, a completion script).
pub fn out_bytes(bytes: &[u8]) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(bytes);
    let _ = o.flush();
}

/// `print!` through [`out`]: never panics on a closed stdout.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => { $crate::log::out(&format!($($t)*)) };
}

/// `println!` through [`out`]: never panics on a closed stdout.
#[macro_export]
macro_rules! outln {
    () => { $crate::log::out("\n") };
    ($($t:tt)*) => { $crate::log::out(&format!("{}\n", format_args!($($t)*))) };
}

/// [`out`] for stderr: the final report, written whether or not anyone still reads it.
pub fn err_out(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// While set, the status line stays away (stdout is printing the hand-over).
static PAUSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Takes the status line away until [`resume_status`]: what follows on stdout reads whole.
pub fn pause_status() {
    PAUSED.store(true, Ordering::Relaxed);
    clear_status();
}

pub fn resume_status() {
    PAUSED.store(false, Ordering::Relaxed);
}

/// Shows (or updates) the one status line at the bottom of a terminal.
pub fn set_status(text: &str) {
    use std::io::Write;
    if PAUSED.load(Ordering::Relaxed) {
        return;
    }
    let mut status = STATUS.lock().unwrap_or_else(|e| e.into_inner());
    *status = Some(text.to_string());
    let _ = std::io::stderr()
        .lock()
        .write_all(format!("\r\x1b[2K{text}").as_bytes());
}

/// Removes the status line (before the summary and the exit).
pub fn clear_status() {
    use std::io::Write;
    if STATUS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .is_some()
    {
        let _ = std::io::stderr().lock().write_all(b"\r\x1b[2K");
    }
}

/// Whether a status line is shown: routine per-request lines then need `-v`.
pub fn status_shown() -> bool {
    STATUS.lock().unwrap_or_else(|e| e.into_inner()).is_some()
}

/// The writer our log layer writes through: every line goes above the status line.
struct AboveStatus;

impl std::io::Write for AboveStatus {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_line(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether lines are JSON (`--log-format json`): the run's final report is one too.
pub fn is_json() -> bool {
    json()
}

/// The run's final error as one JSON line (`--log-format json`).
pub fn json_error(message: &str, help: Option<&str>, exit_code: u8) {
    let mut f = serde_json::Map::new();
    if let Some(h) = help {
        f.insert("help".into(), h.into());
    }
    f.insert("exit_code".into(), exit_code.into());
    write_json("error", message, f);
}

/// Writes one JSON line: `ts`, `level`, `msg`, then `fields`.
fn write_json(level: &str, msg: &str, fields: serde_json::Map<String, serde_json::Value>) {
    use std::io::Write;
    let mut m = serde_json::Map::new();
    m.insert(
        "ts".into(),
        crate::clock::rfc3339(std::time::SystemTime::now()).into(),
    );
    m.insert("level".into(), level.into());
    m.insert("msg".into(), msg.into());
    m.extend(fields);
    let mut line = serde_json::Value::Object(m).to_string();
    line.push('\n');
    // One write per line, so lines from concurrent tasks never interleave.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Collects an event's fields (a library's, under -v) for a JSON line.
#[derive(Default)]
struct Fields(serde_json::Map<String, serde_json::Value>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}

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
        if json() {
            let mut f = Fields::default();
            event.record(&mut f);
            let msg =
                f.0.remove("message")
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
            f.0.insert("target".into(), meta.target().into());
            let level = meta.level().as_str().to_ascii_lowercase();
            write_json(&level, &msg, f.0);
            return Ok(());
        }
        let label = match *meta.level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warn ",
            tracing::Level::INFO => "info ",
            _ => "debug",
        };
        write!(
            w,
            "{} {label} ",
            crate::clock::utc_hms(std::time::SystemTime::now())
        )?;
        if !meta.target().starts_with(OURS) {
            write!(w, "{}: ", meta.target())?;
        }
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// Where h2 reports the frames a connection receives.
const H2_CONNECTION: &str = "h2::proto::connection";

/// Turns h2's trace event for a received GOAWAY into a debug line of ours: the server is closing
/// the connection (a front end's limit of requests per connection, a restart), and requests move
/// to a fresh one. Everything else h2 traces is dropped here.
struct Goaway;

impl<S: Subscriber> Layer<S> for Goaway {
    fn on_event(&self, event: &Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        if f.0.get("message").and_then(|m| m.as_str()) != Some("recv GOAWAY") {
            return;
        }
        let frame =
            f.0.get("frame")
                .and_then(|v| v.as_str())
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
        // Written directly: an event sent from inside the subscriber would not be dispatched.
        let msg = format!(
            "the server is closing the connection (HTTP/2 GOAWAY{frame}); the next request opens a fresh one"
        );
        if json() {
            write_json("debug", &msg, serde_json::Map::new());
        } else {
            let ts = crate::clock::utc_hms(std::time::SystemTime::now());
            write_line(format!("{ts} debug {msg}\n").as_bytes());
        }
    }
}

/// Installs the subscriber (once; later calls only change nothing). `-v` shows debug lines and
/// the libraries' diagnostics, `-q` only warnings and errors.
pub fn set_verbosity(verbose: bool, quiet: bool) {
    set_up(verbose, quiet, Format::Text);
}

/// [`set_verbosity`], and the lines' format.
pub fn set_up(verbose: bool, quiet: bool, format: Format) {
    JSON.store(u8::from(format == Format::Json), Ordering::Relaxed);
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
        .with_writer(|| AboveStatus);
    // Under -v, a server's GOAWAY (h2 reports it only at trace level) becomes one line of ours.
    let goaway = verbose
        .then(|| Goaway.with_filter(Targets::new().with_target(H2_CONNECTION, LevelFilter::TRACE)));
    let subscriber = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(goaway);
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Whether lines of `level` are shown.
/// A count as a line says it: "1 poll", "2 polls", "0 listings seen" (every count the log, the
/// status line and the run's end give goes through here).
pub fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

pub fn log(level: Level, message: &str) {
    if !enabled(level) {
        return;
    }
    if json() {
        write_json(level.name(), message, serde_json::Map::new());
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

/// A request's log line: as text, the line; as JSON, the line as `msg` with its fields (request
/// number, status, timings, size, result), built only then: the text path on every poll pays for
/// the line alone.
pub fn request(
    level: Level,
    line: &str,
    fields: impl FnOnce() -> serde_json::Map<String, serde_json::Value>,
) {
    if !enabled(level) {
        return;
    }
    if json() {
        write_json(level.name(), line, fields());
    } else {
        log(level, line);
    }
}
