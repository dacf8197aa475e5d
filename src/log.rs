//! The tool's own small logger.
//!
//! Output goes to stderr with a UTC wall-clock time, so a user can line our log up with the site's
//! responses and with their own clock; stdout is kept for what a person or a pipe needs to act on
//! (checkout URL, cookies, console script). A global level keeps call sites one line long, and a
//! filter drops the one known-harmless warning chromiumoxide prints against newer Chromium.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info ",
            Level::Warn => "warn ",
            Level::Error => "error",
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// `-v` shows debug lines, `-q` only warnings and errors.
pub fn set_verbosity(verbose: bool, quiet: bool) {
    set_level(if verbose {
        Level::Debug
    } else if quiet {
        Level::Warn
    } else {
        Level::Info
    });
}

pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

pub fn log(level: Level, message: &str) {
    if !enabled(level) {
        return;
    }
    let line = format!(
        "{} {} {}\n",
        crate::core::clock::utc_hms(std::time::SystemTime::now()),
        level.label(),
        message
    );
    // One write per line, so lines from concurrent tasks never interleave.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
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
