//! What a strategy's VM holds before the strategy runs: the sandbox (each library function a
//! strategy does not get says why), the `race` module, the built-in strategies as modules, the
//! stop hook (Ctrl-C, runaway), and the Lua prelude (`prelude.lua`: pcall that cannot swallow a
//! stop, source-only `load`, `require` from the strategy's folder only). Split from the engine so
//! each of these reads on its own; the order below is the order they must happen in.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mlua::debug::Debug;
use mlua::{Function, HookTriggers, Lua, Table, Value, VmState};

use super::{Context, DEFAULT_CHUNK, DEFAULT_SCRIPT, SHOP_CHUNK, SHOP_SCRIPT, api};
use crate::config::ScriptSource;

/// The Lua half of the sandbox, run last (it takes the two helpers it is given as globals away).
const PRELUDE: &str = include_str!("prelude.lua");

/// Library functions a strategy does not get, each with the reason it hears when it reaches for one.
const UNAVAILABLE: &[(&str, &str, &str)] = &[
    ("os", "execute", "strategies cannot run programs"),
    ("os", "exit", "return from the strategy to end the run"),
    ("os", "remove", "strategies cannot change files"),
    ("os", "rename", "strategies cannot change files"),
    ("os", "tmpname", "strategies cannot create files"),
    ("os", "setlocale", "the locale is the process's"),
    (
        "string",
        "dump",
        "strategies are shared as source text, never bytecode",
    ),
    ("package", "loadlib", "strategies cannot load C modules"),
    (
        "_G",
        "dofile",
        "use require(\"module\") for a module beside the strategy",
    ),
    (
        "_G",
        "loadfile",
        "use require(\"module\") for a module beside the strategy",
    ),
];

/// Whole libraries a strategy does not get: touching one says why. (mlua loads `coroutine` to
/// build async functions, each capturing what it needs; scripts don't get it, since an async API
/// call inside a user coroutine cannot work.)
const UNAVAILABLE_LIBS: &[(&str, &str)] = &[
    (
        "io",
        "the network is reachable through race.session, files are not",
    ),
    (
        "coroutine",
        "the race API is asynchronous already; run things side by side with race.spawn(fn, ...)",
    ),
];

/// Prepares `lua` for a strategy run under `ctx`.
pub fn prepare(lua: &Lua, ctx: &Arc<Context>) -> mlua::Result<()> {
    refuse_functions(lua)?;
    let module_dir = module_dir(&ctx.config.script);
    let package: Table = lua.globals().get("package")?;
    package.set(
        "path",
        format!("{0}/?.lua;{0}/?/init.lua", module_dir.display()),
    )?;
    package.set("cpath", "")?;
    register_race(lua, ctx)?;
    preload_builtins(lua)?;
    stop_hook(lua, ctx)?;
    run_prelude(lua, ctx, &module_dir)
}

/// Each function a strategy does not get says why, at the caller's line.
fn refuse_functions(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    for (lib, name, why) in UNAVAILABLE {
        let table: Table = if *lib == "_G" {
            g.clone()
        } else {
            g.get(*lib)?
        };
        let full = if *lib == "_G" {
            name.to_string()
        } else {
            format!("{lib}.{name}")
        };
        let f = lua
            .load(format!(
                "return function() error({:?}, 2) end",
                format!("{full} is not available in strategies: {why}")
            ))
            .set_name("=race/sandbox")
            .call::<Function>(())?;
        table.set(*name, f)?;
    }
    Ok(())
}

/// The folder `require` reads modules from: the strategy file's own ("." for a built-in).
fn module_dir(script: &ScriptSource) -> PathBuf {
    let dir = match script {
        ScriptSource::File { path, .. } => path.parent().map(Path::to_path_buf).unwrap_or_default(),
        ScriptSource::Default | ScriptSource::Shop => PathBuf::new(),
    };
    if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    }
}

/// The `race` module (global and `require("race")`), and the libraries a strategy does not get.
fn register_race(lua: &Lua, ctx: &Arc<Context>) -> mlua::Result<()> {
    let g = lua.globals();
    let race = lua.create_table()?;
    api::register_all(lua, &race, ctx)?;
    let loaded: Table = g.get::<Table>("package")?.get("loaded")?;
    loaded.set("race", race.clone())?;
    for (lib, why) in UNAVAILABLE_LIBS {
        let stub = lua
            .load(format!(
                "local msg = {:?}\nreturn setmetatable({{}}, {{ __index = function(_, k) error({lib:?} .. '.' .. tostring(k) .. msg, 2) end }})",
                format!(" is not available in strategies: {why}")
            ))
            .set_name("=race/sandbox")
            .call::<Table>(())?;
        g.set(*lib, stub)?;
        loaded.set(*lib, Value::Nil)?;
    }
    g.set("race", race)
}

/// `require("race.default")` and `require("race.shop_strategy")`: the built-in strategies.
fn preload_builtins(lua: &Lua) -> mlua::Result<()> {
    let preload: Table = lua.globals().get::<Table>("package")?.get("preload")?;
    for (module, chunk, source) in [
        ("race.default", DEFAULT_CHUNK, DEFAULT_SCRIPT),
        ("race.shop_strategy", SHOP_CHUNK, SHOP_SCRIPT),
    ] {
        preload.set(
            module,
            lua.create_function(move |lua, ()| {
                lua.load(source)
                    .set_name(format!("@{chunk}"))
                    .call::<Value>(())
            })?,
        )?;
    }
    Ok(())
}

/// How many instructions run between two stop checks.
pub(crate) const CHECK_EVERY: u32 = 1000;

/// Ctrl-C and the runaway watchdog, checked every [`CHECK_EVERY`] instructions in every thread.
/// Once runaway, always runaway: the stop is raised again until the script has ended.
fn stop_hook(lua: &Lua, ctx: &Arc<Context>) -> mlua::Result<()> {
    let ctx = ctx.clone();
    lua.set_global_hook(
        HookTriggers::new().every_nth_instruction(CHECK_EVERY),
        move |lua, debug| stop_check(&ctx, lua, debug),
    )
}

/// What the instruction hook checks: Ctrl-C, a decision over its time budget, the runaway
/// watchdog. The global hook runs it in every thread; a decision's own thread has a hook of its
/// own (`api::decision`) that runs it too.
pub(crate) fn stop_check(ctx: &Context, lua: &Lua, debug: &Debug) -> mlua::Result<VmState> {
    if let Some(why) = ctx.stop_reason(lua) {
        return Err(mlua::Error::runtime(why));
    }
    let computing = ctx.computing_for();
    if let Some(why) = ctx.decisions.over(
        || super::budget::thread_of(lua),
        computing,
        || {
            let src = debug.source();
            let file = src.source.as_deref().and_then(|s| s.strip_prefix('@'));
            format!(
                "{}:{}",
                file.unwrap_or("strategy"),
                debug.current_line().unwrap_or(0)
            )
        },
    ) {
        return Err(mlua::Error::runtime(why));
    }
    if computing > ctx.config.runaway_after {
        let src = debug.source();
        let file = src
            .source
            .as_deref()
            .and_then(|s| s.strip_prefix('@'))
            .unwrap_or("strategy")
            .to_string();
        let line = debug.current_line().unwrap_or(0);
        let why = format!(
            "{file}:{line}: runaway script: it computed for {} s without waiting on the race API (sleep, poll, get), so it was stopped",
            ctx.config.runaway_after.as_secs_f64()
        );
        *ctx.stopped.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
        return Err(mlua::Error::runtime(why));
    }
    Ok(VmState::Continue)
}

/// Runs `prelude.lua` with its two helpers: whether the script must stop (so pcall/xpcall cannot
/// swallow an interruption or a runaway stop, and a script that replaces the global `error`
/// cannot make them), and a module reader that reads text only (the stock file searcher also
/// takes bytecode) from inside the strategy's folder.
fn run_prelude(lua: &Lua, ctx: &Arc<Context>, module_dir: &Path) -> mlua::Result<()> {
    let g = lua.globals();
    let c = ctx.clone();
    g.set(
        "__race_stopped",
        lua.create_function(move |lua, ()| Ok(c.stop_reason(lua)))?,
    )?;
    let chunks = ctx.chunks.clone();
    let root = std::fs::canonicalize(module_dir).ok();
    g.set(
        "__race_read_module",
        lua.create_function(move |_, path: String| {
            // A link in the folder (a shared strategy's repository can carry one) must not
            // lead outside it: the real path must lie inside the folder's real path.
            let inside = std::fs::canonicalize(&path)
                .ok()
                .zip(root.as_ref())
                .is_some_and(|(real, root)| real.starts_with(root));
            if !inside {
                return Err(mlua::Error::runtime(format!(
                    "module {path} is outside the strategy's folder (a link?): modules are read from that folder only"
                )));
            }
            let text = std::fs::read(&path)
                .map_err(|e| mlua::Error::runtime(format!("cannot read module {path}: {e}")))?;
            let text = String::from_utf8(text).map_err(|_| {
                mlua::Error::runtime(format!(
                    "module {path} is not Lua source text (bytecode is refused)"
                ))
            })?;
            chunks.add(&path, &text);
            Ok(text)
        })?,
    )?;
    lua.load(PRELUDE).set_name("=race/prelude").exec()
}
