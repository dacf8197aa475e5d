//! Lua errors as miette reports that point into the user's file.
//!
//! Every chunk is named `@<path>`, so Lua prefixes errors with `path:line:`. A Rust-raised error
//! (bad argument, misuse) carries no location of its own; the traceback does, so the first frame
//! that belongs to a script we know names the line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use miette::{NamedSource, SourceSpan};

/// Sources of every chunk we loaded, by chunk name (without the `@`).
#[derive(Clone, Default)]
pub struct Chunks(Arc<Mutex<HashMap<String, String>>>);

impl Chunks {
    pub fn add(&self, name: &str, source: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), source.to_string());
    }

    fn get(&self, name: &str) -> Option<String> {
        let known = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned();
        // Modules a script `require`s are loaded by Lua itself: read them from disk.
        known.or_else(|| std::fs::read_to_string(name).ok())
    }
}

/// When the error happened: before the strategy started (load) or while it ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Load,
    Run,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{headline}")]
pub struct ScriptError {
    pub headline: String,
    pub phase: Phase,
    /// `file:line` of the error, when known.
    pub location: Option<String>,
    #[source_code]
    src: Option<NamedSource<String>>,
    #[label("{label}")]
    span: Option<SourceSpan>,
    label: String,
    #[help]
    help: Option<String>,
}

impl ScriptError {
    /// An error with no Lua behind it (e.g. the VM could not be set up).
    pub fn plain(phase: Phase, headline: impl Into<String>, help: Option<String>) -> Self {
        Self {
            headline: headline.into(),
            phase,
            location: None,
            src: None,
            span: None,
            label: String::new(),
            help,
        }
    }
}

/// Finds `name:line:` in `text` for a chunk we can show; returns (name, line, rest of text).
fn locate<'a>(text: &'a str, chunks: &Chunks) -> Option<(String, usize, &'a str)> {
    for (i, _) in text.match_indices(':') {
        // Walk back to the start of the token before this colon.
        let start = text[..i]
            .rfind(|c: char| c.is_whitespace() || c == '\'' || c == '"')
            .map_or(0, |p| p + 1);
        let name = &text[start..i];
        if name.is_empty() || name.starts_with('[') {
            continue;
        }
        let after = &text[i + 1..];
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() || !after[digits.len()..].starts_with(':') {
            continue;
        }
        if chunks.get(name).is_none() {
            continue;
        }
        let line = digits.parse().ok()?;
        let rest = after[digits.len() + 1..].trim_start();
        return Some((name.to_string(), line, rest));
    }
    None
}

/// The first `file:line:` in `text` that names a chunk we know: (file, line, the text after it).
pub fn location<'a>(text: &'a str, chunks: &Chunks) -> Option<(String, usize, &'a str)> {
    locate(text, chunks)
}

fn span_of_line(src: &str, line: usize) -> SourceSpan {
    let mut offset = 0;
    for (n, l) in src.split_inclusive('\n').enumerate() {
        if n + 1 == line {
            let trimmed = l.trim_end_matches(['\n', '\r']);
            let indent = trimmed.len() - trimmed.trim_start().len();
            return SourceSpan::new((offset + indent).into(), trimmed.trim_start().len().max(1));
        }
        offset += l.len();
    }
    SourceSpan::new(src.len().saturating_sub(1).into(), 0)
}

/// A report at `file:line` for a problem found by checking what the script returned.
pub fn at_line(file: &str, source: &str, line: usize, message: &str, help: &str) -> ScriptError {
    ScriptError {
        headline: format!("script error in {file}:{line}: {message}"),
        phase: Phase::Load,
        location: Some(format!("{file}:{line}")),
        span: Some(span_of_line(source, line)),
        src: Some(NamedSource::new(file, source.to_string()).with_language("lua")),
        label: message.to_string(),
        help: Some(help.to_string()),
    }
}

/// Turns a Lua error into a report. `help` is the hint for this phase.
pub fn report(err: &mlua::Error, phase: Phase, chunks: &Chunks) -> ScriptError {
    if let mlua::Error::MemoryError(_) = root(err) {
        return ScriptError::plain(
            phase,
            "the strategy used more memory than it may (the limit is --memory-limit-mb, 512 MB by default), so it was stopped",
            Some(
                "a table that only ever grows is the usual cause: keep what you remember bounded"
                    .into(),
            ),
        );
    }
    let (message, traceback) = flatten(err);
    let syntax = matches!(root(err), mlua::Error::SyntaxError { .. });
    let found = locate(&message, chunks)
        .map(|(n, l, rest)| (n, l, rest.to_string()))
        .or_else(|| {
            traceback
                .as_deref()
                .and_then(|t| locate(t, chunks))
                .map(|(n, l, _)| (n, l, message.clone()))
        });
    let help = Some(
        match (syntax, phase) {
            (true, _) => "the script does not parse: fix the marked line (a missing `end`, `then` or `)` is the usual cause)",
            (false, Phase::Load) => "the error came while the file's top level ran (a strategy table's `run` had not started); the Lua API reference is in scripts/types/race.lua",
            (false, Phase::Run) => "the strategy raised an error; the Lua API reference is in scripts/types/race.lua",
        }
        .to_string(),
    );
    let kind = if syntax {
        "syntax error"
    } else {
        "script error"
    };
    match found {
        Some((name, line, text)) => {
            let src = chunks.get(&name).unwrap_or_default();
            ScriptError {
                headline: format!("{kind} in {name}:{line}: {}", first_line(&text)),
                phase,
                location: Some(format!("{name}:{line}")),
                span: Some(span_of_line(&src, line)),
                src: Some(NamedSource::new(name, src).with_language("lua")),
                label: first_line(&text).to_string(),
                help,
            }
        }
        None => ScriptError::plain(phase, format!("{kind}: {}", first_line(&message)), help),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

fn root(err: &mlua::Error) -> &mlua::Error {
    match err {
        mlua::Error::CallbackError { cause, .. } => root(cause),
        mlua::Error::WithContext { cause, .. } => root(cause),
        e => e,
    }
}

/// The API's userdata classes: the Rust type mlua names a method by, and the class a script
/// knows it as (the stubs' name).
const CLASSES: &[(&str, &str)] = &[
    ("LuaSession", "race.Session"),
    ("Task", "race.Task"),
    ("Document", "race.Document"),
];

/// A userdata method as mlua names it (`LuaSession.get`), as the class and method a script calls
/// (`race.Session`, `get`). Its argument positions count `self` first, which a script's `s:get(x)`
/// does not write.
fn method_of(to: &str) -> Option<(&'static str, &str)> {
    let (ty, method) = to.split_once('.')?;
    CLASSES
        .iter()
        .find(|(rust, _)| *rust == ty)
        .map(|(_, class)| (*class, method))
}

/// The innermost message and the outermost traceback.
fn flatten(err: &mlua::Error) -> (String, Option<String>) {
    match err {
        mlua::Error::CallbackError { traceback, cause } => {
            let (m, t) = flatten(cause);
            (m, t.or_else(|| Some(traceback.clone())))
        }
        mlua::Error::WithContext { context, cause } => {
            let (m, t) = flatten(cause);
            (format!("{context}: {m}"), t)
        }
        mlua::Error::SyntaxError { message, .. } => (message.clone(), None),
        mlua::Error::RuntimeError(m) => {
            // Lua appends its own traceback to runtime errors raised through our error handler.
            match m.split_once("\nstack traceback:") {
                Some((msg, tb)) => (msg.to_string(), Some(tb.to_string())),
                None => (m.clone(), None),
            }
        }
        mlua::Error::BadArgument {
            to,
            pos,
            name,
            cause,
        } => {
            let (m, t) = flatten(cause);
            // `race.session.get(url)`: the dot passed the URL where the session belongs.
            if let (Some(Some((class, method))), 1) = (to.as_deref().map(method_of), *pos) {
                return (
                    format!(
                        "{class}:{method} is a method: call it with a colon (session:{method}(…)), not a dot ({m})"
                    ),
                    t,
                );
            }
            let (f, pos) = match to.as_deref().map(method_of) {
                Some(Some((class, method))) => (format!("{class}:{method}"), pos.saturating_sub(1)),
                Some(None) => (to.clone().unwrap_or_default(), *pos),
                None => ("function".into(), *pos),
            };
            let n = name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            (format!("bad argument #{pos}{n} to {f}: {m}"), t)
        }
        e => (e.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_point_at_the_line() {
        let chunks = Chunks::default();
        let src = "local x = 1\nif x then\n  print(x\nend\n";
        chunks.add("my.lua", src);
        let lua = mlua::Lua::new();
        let err = lua
            .load(src)
            .set_name("@my.lua")
            .into_function()
            .unwrap_err();
        let r = report(&err, Phase::Load, &chunks);
        assert_eq!(r.location.as_deref(), Some("my.lua:4"), "{}", r.headline);
        assert!(
            r.headline.starts_with("syntax error in my.lua:4:"),
            "{}",
            r.headline
        );
    }

    #[test]
    fn runtime_errors_point_at_the_line() {
        let chunks = Chunks::default();
        let src = "local t = nil\n\nreturn t.field\n";
        chunks.add("strategy.lua", src);
        let lua = mlua::Lua::new();
        let err = lua.load(src).set_name("@strategy.lua").exec().unwrap_err();
        let r = report(&err, Phase::Run, &chunks);
        assert_eq!(r.location.as_deref(), Some("strategy.lua:3"));
        assert!(r.headline.contains("attempt to index"), "{}", r.headline);
    }

    #[test]
    fn span_covers_the_trimmed_line() {
        let s = "a\n  bb\nccc";
        assert_eq!(span_of_line(s, 2), SourceSpan::new(4.into(), 2));
        assert_eq!(span_of_line(s, 3), SourceSpan::new(7.into(), 3));
    }
}
