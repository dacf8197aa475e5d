//! `race.decision_error(name, fn, problem, must_return)`: how a strategy reports a bug in one of
//! its decisions without losing the race. The default strategy calls every decision a user
//! overrides through a guard; when one raises or returns the wrong thing, this reports it at the
//! user's own file and line (not at the default's), and the guard uses the built-in decision for
//! that moment. Under `--strict` it raises instead, and the run stops there.

use std::sync::Arc;

use mlua::{Function, Lua, Table};

use crate::lua::Context;
use crate::lua::DEFAULT_CHUNK;
use crate::lua::diagnostics::location;

/// `file:line` of the problem: a location in the message that is the user's, else where the
/// decision's function is defined.
fn place(ctx: &Context, f: &Function, problem: &str) -> (Option<String>, String) {
    let head = problem.lines().next().unwrap_or("").trim();
    let head = head.strip_prefix("runtime error: ").unwrap_or(head);
    let user = |file: &str| file != DEFAULT_CHUNK && file != crate::lua::SHOP_CHUNK;
    if let Some((file, line, rest)) = location(head, &ctx.chunks).filter(|l| user(&l.0)) {
        return (Some(format!("{file}:{line}")), rest.to_string());
    }
    // A Rust error carries its place in the traceback: the first frame in a user's file.
    let from_trace = problem
        .lines()
        .skip(1)
        .filter_map(|l| location(l, &ctx.chunks))
        .find(|l| user(&l.0));
    if let Some((file, line, _)) = from_trace {
        return (Some(format!("{file}:{line}")), head.to_string());
    }
    let info = f.info();
    let at = info
        .source
        .as_deref()
        .and_then(|s| s.strip_prefix('@'))
        .zip(info.line_defined)
        .map(|(file, line)| format!("{file}:{line}"));
    (at, head.to_string())
}

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    let c = ctx.clone();
    race.set(
        "decision_error",
        lua.create_function(
            move |_, (name, f, problem, must): (String, Function, String, String)| {
                let (at, text) = place(&c, &f, &problem);
                let first = text.lines().next().unwrap_or("").trim();
                let at_text = at.as_deref().unwrap_or("the strategy");
                if c.config.strict {
                    return Err(mlua::Error::runtime(format!(
                        "{at_text}: decision `{name}` failed: {first}; it must return {must}"
                    )));
                }
                crate::log::error(format!(
                    "{at_text}: decision `{name}` failed: {first}; it must return {must}. Using the built-in `{name}` this time (--strict stops instead)"
                ));
                Ok(())
            },
        )?,
    )
}
