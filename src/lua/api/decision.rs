//! `race.decision_call(name, fn, ...)` and `race.decision_error(name, fn, problem, must_return,
//! instead)`: how a strategy runs a decision under its time budget (`lua::budget`) and reports a
//! bug in one without losing the race. The built-in strategies call every decision a user
//! overrides through a guard (`guard` in scripts/default.lua); when one raises, returns the wrong
//! thing or runs over its budget, this reports it at the user's own file and line (not at the
//! default's), and the guard's fallback stands in for that moment (`instead` says which). Under
//! `--strict` it raises instead, and the run stops there.
//!
//! The line is the one that went wrong: where the decision raised, or the `return` that gave
//! the wrong value. Lua keeps no trace of a frame once it has returned, so a decision runs in a
//! thread of its own whose hook notes the line of the decision's last `return` (a return hook,
//! only in that thread: the built-ins and the rest of the script pay nothing). When none was
//! seen (it was cut off, or returned through a tail call), the report names the function itself
//! ("decision `choose` (defined at x.lua:2) failed").
//!
//! A decision fails the same way on poll after poll: each distinct report is said once per
//! target (per task: each target is watched in a task of its own), and the repeats are counted
//! for the run's end ("choose failed on 18 polls", the summary).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use mlua::debug::DebugEvent;
use mlua::{Function, HookTriggers, Lua, MultiValue, Table, Value, VmState};

use crate::lua::Context;
use crate::lua::DEFAULT_CHUNK;
use crate::lua::diagnostics::location;
use crate::lua::prelude::{CHECK_EVERY, stop_check};

/// What the reports of failed decisions remember.
#[derive(Default)]
pub struct Reports {
    /// The function of the decision that returned last, and the line of its `return` (0: none
    /// seen). The guard asks right after the call, before anything else can run.
    returned: Mutex<(usize, usize)>,
    /// The reports said so far, by the task that said them.
    said: Mutex<HashSet<(usize, String)>>,
}

/// Where a decision went wrong, as closely as is known.
enum Place {
    /// `file:line` of the fault itself: where it raised, or the `return` that gave the wrong value.
    Line(String),
    /// `file:line` where the decision's function is defined.
    Defined(String),
    Unknown,
}

/// A function's `file:line` of definition.
fn defined(f: &Function) -> Option<String> {
    let info = f.info();
    info.source
        .as_deref()
        .and_then(|s| s.strip_prefix('@'))
        .zip(info.line_defined)
        .map(|(file, line)| format!("{file}:{line}"))
}

/// Where the problem is: a location in the message that is the user's, else the line of the
/// decision's `return` (`returned`), else where its function is defined.
fn place(ctx: &Context, f: &Function, problem: &str, returned: Option<usize>) -> (Place, String) {
    let head = problem.lines().next().unwrap_or("").trim();
    let head = head.strip_prefix("runtime error: ").unwrap_or(head);
    let user = |file: &str| file != DEFAULT_CHUNK && file != crate::lua::SHOP_CHUNK;
    if let Some((file, line, rest)) = location(head, &ctx.chunks).filter(|l| user(&l.0)) {
        return (Place::Line(format!("{file}:{line}")), rest.to_string());
    }
    // A Rust error carries its place in the traceback: the first frame in a user's file.
    let from_trace = problem
        .lines()
        .skip(1)
        .filter_map(|l| location(l, &ctx.chunks))
        .find(|l| user(&l.0));
    if let Some((file, line, _)) = from_trace {
        return (Place::Line(format!("{file}:{line}")), head.to_string());
    }
    let file = f
        .info()
        .source
        .and_then(|s| s.strip_prefix('@').map(str::to_string));
    let at = match (file, returned) {
        (Some(file), Some(line)) => Place::Line(format!("{file}:{line}")),
        _ => defined(f).map_or(Place::Unknown, Place::Defined),
    };
    (at, head.to_string())
}

/// An error message as it is said (once per distinct message): a value raised without a message
/// (`error({ code = 1 })`, "table: 0x7f…") is named by its type, and any address in a message is
/// left out, so the same failure reads the same on every poll.
fn steady(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(i) = rest.find(": 0x") {
        let (head, tail) = rest.split_at(i);
        let hex = tail[4..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(tail.len() - 4);
        let kind = ["table", "userdata", "function", "thread"]
            .into_iter()
            .find(|k| head.ends_with(k));
        match kind {
            Some(k) if hex > 0 => {
                out.push_str(&head[..head.len() - k.len()]);
                out.push_str(&format!("a {k}"));
                rest = &tail[4 + hex..];
            }
            _ => {
                out.push_str(&tail[..4]);
                out.insert_str(out.len() - 4, head);
                rest = &tail[4..];
            }
        }
    }
    out.push_str(rest);
    if ["a table", "a userdata", "a function", "a thread"].contains(&out.trim()) {
        return format!(
            "it raised {} without a message (error(\"what went wrong\") says what went wrong)",
            out.trim()
        );
    }
    out
}

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    // Like pcall, under the decision time budget: `true, ...` or `false, message`. A cut-off is
    // caught here only (no pcall inside the decision can swallow it: see `lua::budget`).
    let c = ctx.clone();
    race.set(
        "decision_call",
        lua.create_async_function(
            move |lua, (name, f, args): (String, Function, MultiValue)| {
                let c = c.clone();
                async move {
                    // Its own thread, by which its time budget knows it (`lua::budget`), and whose
                    // hook notes where `f` returns (and checks for a stop, as the global hook it
                    // replaces there does).
                    let thread = lua.create_thread(f.clone())?;
                    let returned = Arc::new(AtomicUsize::new(0));
                    let fp = f.to_pointer() as usize;
                    let defined_at = f.info().line_defined;
                    let (ctx, seen) = (c.clone(), returned.clone());
                    thread.set_hook(
                        HookTriggers::new()
                            .on_returns()
                            .every_nth_instruction(CHECK_EVERY),
                        move |lua, debug| {
                            if debug.event() != DebugEvent::Ret {
                                return stop_check(&ctx, lua, debug);
                            }
                            if debug.source().line_defined == defined_at
                                && debug.function().to_pointer() as usize == fp
                            {
                                seen.store(debug.current_line().unwrap_or(0), Relaxed);
                            }
                            Ok(VmState::Continue)
                        },
                    )?;
                    let token = c.decisions.begin(&name, thread.to_pointer() as usize);
                    let r = thread.into_async::<MultiValue>(args)?.await;
                    let cut = c.decisions.end(token);
                    *c.reports.returned.lock().unwrap_or_else(|e| e.into_inner()) =
                        (fp, returned.load(Relaxed));
                    let mut out = MultiValue::new();
                    match (r, cut) {
                        (_, Some(why)) => {
                            out.push_back(Value::Boolean(false));
                            out.push_back(Value::String(lua.create_string(&why)?));
                        }
                        (Ok(values), None) => {
                            out.push_back(Value::Boolean(true));
                            out.extend(values);
                        }
                        (Err(e), None) => {
                            out.push_back(Value::Boolean(false));
                            out.push_back(Value::String(
                                lua.create_string(steady(&e.to_string()))?,
                            ));
                        }
                    }
                    Ok(out)
                }
            },
        )?,
    )?;
    let c = ctx.clone();
    race.set(
        "decision_error",
        lua.create_function(
            move |lua,
                  (name, f, problem, must, instead): (
                String,
                Function,
                String,
                String,
                Option<String>,
            )| {
                let returned = {
                    let (fp, line) = *c.reports.returned.lock().unwrap_or_else(|e| e.into_inner());
                    (fp == f.to_pointer() as usize && line > 0).then_some(line)
                };
                let (at, text) = place(&c, &f, &problem, returned);
                let first = text.lines().next().unwrap_or("").trim();
                if c.config.strict {
                    // Raised with the place first, so the report shows that line.
                    return Err(mlua::Error::runtime(match &at {
                        Place::Line(at) => format!(
                            "{at}: decision `{name}` failed: {first}; it must return {must}"
                        ),
                        Place::Defined(at) => format!(
                            "{at}: decision `{name}` (defined here) failed: {first}; it must return {must}"
                        ),
                        Place::Unknown => format!(
                            "the strategy: decision `{name}` failed: {first}; it must return {must}"
                        ),
                    }));
                }
                let (head, short) = match &at {
                    Place::Line(at) => (
                        format!("{at}: decision `{name}` failed"),
                        format!("{at}: {first}"),
                    ),
                    Place::Defined(at) => (
                        format!("decision `{name}` (defined at {at}) failed"),
                        format!("`{name}` defined at {at}: {first}"),
                    ),
                    Place::Unknown => (
                        format!("the strategy: decision `{name}` failed"),
                        first.to_string(),
                    ),
                };
                c.net.stats.decision_failed(&name, short);
                let instead =
                    instead.unwrap_or_else(|| format!("using the built-in `{name}` this time"));
                let message = format!(
                    "{head}: {first}; it must return {must}. {}{} (--strict stops instead)",
                    instead[..1].to_uppercase(),
                    &instead[1..]
                );
                // Once per target (its task): the same failure on every poll is counted, not
                // said again.
                let fresh = c
                    .reports
                    .said
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert((crate::lua::budget::thread_of(lua), message.clone()));
                if fresh {
                    crate::log::warn(message);
                } else {
                    crate::log::debug(message);
                }
                Ok(())
            },
        )?,
    )
}

#[cfg(test)]
mod tests {
    use super::steady;

    #[test]
    fn a_message_reads_the_same_on_every_poll() {
        assert_eq!(
            steady("table: 0x7fa5d81beee0"),
            "it raised a table without a message (error(\"what went wrong\") says what went wrong)"
        );
        assert_eq!(
            steady("s.lua:3: bad thing near table: 0x55d0 in x"),
            "s.lua:3: bad thing near a table in x"
        );
        assert_eq!(steady("plain: 0xZZ and ok"), "plain: 0xZZ and ok");
        assert_eq!(steady("no address"), "no address");
    }
}
