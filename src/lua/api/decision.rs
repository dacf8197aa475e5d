//! `race.decision_call(name, fn, ...)` and `race.decision_error(name, fn, problem, must_return,
//! instead)`: how a strategy runs a decision under its time budget (`lua::budget`) and reports a
//! bug in one without losing the race. The built-in strategies call every decision a user
//! overrides through a guard (`guard` in scripts/default.lua); when one raises, returns the wrong
//! thing or runs over its budget, this reports it at the user's own file and line (not at the
//! default's), and the guard's fallback stands in for that moment (`instead` says which). Under
//! `--strict` it raises instead, and the run stops there.

use std::sync::Arc;

use mlua::{Function, Lua, MultiValue, Table, Value};

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
    // Like pcall, under the decision time budget: `true, ...` or `false, message`. A cut-off is
    // caught here only (no pcall inside the decision can swallow it: see `lua::budget`).
    let c = ctx.clone();
    race.set(
        "decision_call",
        lua.create_async_function(
            move |lua, (name, f, args): (String, Function, MultiValue)| {
                let c = c.clone();
                async move {
                    let token = c.decisions.begin(&name);
                    let r = f.call_async::<MultiValue>(args).await;
                    let cut = c.decisions.end(token);
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
                            out.push_back(Value::String(lua.create_string(e.to_string())?));
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
            move |_,
                  (name, f, problem, must, instead): (
                String,
                Function,
                String,
                String,
                Option<String>,
            )| {
                let (at, text) = place(&c, &f, &problem);
                let first = text.lines().next().unwrap_or("").trim();
                let at_text = at.as_deref().unwrap_or("the strategy");
                if c.config.strict {
                    return Err(mlua::Error::runtime(format!(
                        "{at_text}: decision `{name}` failed: {first}; it must return {must}"
                    )));
                }
                if name == "choose" {
                    c.net.stats.choose_failed(format!("{at_text}: {first}"));
                }
                let instead =
                    instead.unwrap_or_else(|| format!("using the built-in `{name}` this time"));
                crate::log::warn(format!(
                    "{at_text}: decision `{name}` failed: {first}; it must return {must}. {}{} (--strict stops instead)",
                    instead[..1].to_uppercase(),
                    &instead[1..]
                ));
                Ok(())
            },
        )?,
    )
}
