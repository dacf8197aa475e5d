//! The Lua layer: the only place that imports mlua. It builds the VM, registers the API
//! (`api::AREAS`, one entry per area), loads the user's strategy or the embedded default, and runs
//! it, turning Lua errors into reports that point at the script's line.
//!
//! Trust model: a strategy is the user's own code, or one shared by another user, run on their own
//! machine, and the good-citizen rules must hold whatever it does. So the network is reachable only
//! through the API (no `io`, no `os.execute`, no C modules: each says so when touched), every
//! request goes through the core's governor, and a runaway script is stopped: an instruction hook
//! ends it on Ctrl-C or when it has computed for `--runaway-after` (30 s) without once waiting on the API, and
//! pcall cannot swallow either (the stop stays in force and is raised again). Only source text is
//! loaded (`load`, `require` and the strategy itself), never bytecode, which could escape any
//! sandbox. Memory is capped. `coroutine` is left out: the async API cannot run inside one.

pub mod api;
pub mod budget;
pub mod diagnostics;
pub mod names;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mlua::chunk::ChunkMode;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};

use crate::config::{Config, ScriptSource, Watch};
use crate::core::market::ResponseLog;
use crate::core::notify::Alerts;
use crate::core::session::DryRun;
use crate::core::session::{Net, Session};
use diagnostics::{Chunks, Phase, ScriptError};

/// The embedded default strategy.
pub const DEFAULT_SCRIPT: &str = include_str!("../../scripts/default.lua");
pub const DEFAULT_CHUNK: &str = "race/default.lua";
/// The embedded main-shop strategy (`--strategy shop`).
pub const SHOP_SCRIPT: &str = include_str!("../../scripts/shop.lua");
pub const SHOP_CHUNK: &str = "race/shop.lua";

/// The chunk name and source of a built-in strategy.
fn builtin(s: &ScriptSource) -> Option<(&'static str, &'static str)> {
    match s {
        ScriptSource::Default => Some((DEFAULT_CHUNK, DEFAULT_SCRIPT)),
        ScriptSource::Shop => Some((SHOP_CHUNK, SHOP_SCRIPT)),
        ScriptSource::File { .. } => None,
    }
}
/// Coroutines kept for reuse by the async API (a strategy rarely runs more than a few at once).
const LUA_THREAD_POOL: usize = 16;
/// The memory a strategy may use, unless `--memory-limit-mb` says otherwise.
pub const MEMORY_LIMIT_MB: usize = 512;

/// Everything the API reaches.
pub struct Context {
    pub config: Config,
    pub session: Arc<Session>,
    pub net: Arc<Net>,
    pub responses: Arc<ResponseLog>,
    pub alerts: Arc<Alerts>,
    /// Set on Ctrl-C: the hook stops the script at its next instructions.
    pub kill: Arc<AtomicBool>,
    started: Instant,
    /// Milliseconds since `started` when the script last waited on the API.
    last_wait: AtomicU64,
    /// Why the script was stopped (runaway), with its file and line: raised again at every
    /// chance, so no pcall can swallow it.
    stopped: Mutex<Option<String>>,
    /// Sources of every chunk loaded, for reports that point into them.
    pub chunks: Chunks,
    /// Tasks `race.spawn` started: stopped when the run ends.
    tasks: Mutex<tokio::task::JoinSet<()>>,
    /// The events watched: from flags, or as the strategy names them.
    targets: Mutex<Vec<Watch>>,
    /// The run's dry-run policy, if any (a strategy's targets join its hosts).
    pub dry_run: Option<DryRun>,
    /// The decisions running now, and their time budget.
    pub decisions: budget::Decisions,
}

impl Context {
    pub fn new(
        config: Config,
        session: Arc<Session>,
        net: Arc<Net>,
        responses: Arc<ResponseLog>,
        alerts: Arc<Alerts>,
        kill: Arc<AtomicBool>,
    ) -> Self {
        Self {
            targets: Mutex::new(config.targets.clone()),
            dry_run: session.policy().dry_run.clone(),
            config,
            session,
            net,
            responses,
            alerts,
            kill,
            started: Instant::now(),
            last_wait: AtomicU64::new(0),
            stopped: Mutex::new(None),
            chunks: Chunks::default(),
            tasks: Mutex::new(tokio::task::JoinSet::new()),
            decisions: budget::Decisions::default(),
        }
    }

    /// The events watched (flags first; else what the strategy named).
    pub fn targets(&self) -> Vec<Watch> {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Starts a task for `race.spawn`; it is stopped when the run ends.
    pub fn spawn_task(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut t = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        while t.try_join_next().is_some() {}
        t.spawn(task);
    }

    /// Stops every task `race.spawn` started that is still running.
    pub fn stop_tasks(&self) {
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .abort_all();
    }

    /// Why the script must stop now, if it must: Ctrl-C or a runaway stop.
    pub fn stop_reason(&self) -> Option<String> {
        if self.kill.load(Relaxed) {
            return Some("interrupted".into());
        }
        self.stopped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .or_else(|| self.decisions.cut())
    }

    /// Seconds since the run started (monotonic).
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Marks that the script is waiting on the API (resets the runaway watchdog).
    pub fn waiting(&self) {
        self.last_wait
            .store(self.started.elapsed().as_millis() as u64, Relaxed);
    }

    /// How long the script has computed without waiting: since it last called into the API, or
    /// since the runtime last got back to its scheduler (the heartbeat), whichever is later. So a
    /// slow answer (a page that trickles in a byte a second) is waiting, never computing.
    fn computing_for(&self) -> Duration {
        let now = self.started.elapsed().as_millis() as u64;
        let since_api = Duration::from_millis(now.saturating_sub(self.last_wait.load(Relaxed)));
        match crate::core::heartbeat::age() {
            Some(held) => since_api.min(held),
            None => since_api,
        }
    }
}

/// How a strategy ended.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// It returned normally (typically: a cart was handed over).
    Done,
    /// It returned `false|nil, message [, hint]`.
    Failed {
        message: String,
        hint: Option<String>,
    },
}

pub struct Engine {
    lua: Lua,
    ctx: Arc<Context>,
}

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

fn display_name(path: &Path) -> String {
    let s = path.display().to_string();
    // Lua shortens chunk names over 60 bytes in messages; keep ours under that.
    if s.len() <= 55 {
        s
    } else {
        path.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or(s)
    }
}

impl Engine {
    pub fn new(ctx: Arc<Context>) -> Result<Self, Box<ScriptError>> {
        let setup = |e: mlua::Error| {
            Box::new(ScriptError::plain(
                Phase::Load,
                format!("could not set up Lua: {e}"),
                None,
            ))
        };
        let libs = StdLib::TABLE
            | StdLib::STRING
            | StdLib::UTF8
            | StdLib::MATH
            | StdLib::PACKAGE
            | StdLib::OS;
        // Each API call is a coroutine (mlua's async functions): recycled from a pool instead of
        // a fresh Lua thread (its stack and call info) made and collected on every poll.
        let opts = LuaOptions::new().thread_pool_size(LUA_THREAD_POOL);
        let lua = Lua::new_with(libs, opts).map_err(setup)?;
        lua.set_memory_limit(ctx.config.memory_limit_mb * 1024 * 1024)
            .map_err(setup)?;
        lua.set_app_data(api::MemoryCap(ctx.config.memory_limit_mb * 1024 * 1024));
        // A watch makes a little short-lived garbage per poll around a heap that hardly changes
        // (the strategy's code and state): the generational collector sweeps the young objects
        // only, where the incremental one marks the whole heap again every few polls.
        lua.gc_set_mode(mlua::prelude::LuaGcMode::Generational(
            mlua::prelude::LuaGcGenParams::default(),
        ));
        ctx.chunks.add(DEFAULT_CHUNK, DEFAULT_SCRIPT);
        ctx.chunks.add(SHOP_CHUNK, SHOP_SCRIPT);
        let engine = Self { lua, ctx };
        engine.prepare().map_err(setup)?;
        Ok(engine)
    }

    fn prepare(&self) -> mlua::Result<()> {
        let lua = &self.lua;
        let g = lua.globals();
        // Each function a strategy does not get says why, at the caller's line.
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
        let package: Table = g.get("package")?;
        let dir = match &self.ctx.config.script {
            ScriptSource::File { path, .. } => {
                path.parent().map(Path::to_path_buf).unwrap_or_default()
            }
            ScriptSource::Default | ScriptSource::Shop => PathBuf::new(),
        };
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        package.set("path", format!("{0}/?.lua;{0}/?/init.lua", dir.display()))?;
        let module_dir = dir;
        package.set("cpath", "")?;

        let race = lua.create_table()?;
        api::register_all(lua, &race, &self.ctx)?;
        let loaded: Table = package.get("loaded")?;
        loaded.set("race", race.clone())?;
        // mlua loads `coroutine` to build async functions (each captures what it needs); scripts
        // don't get it, since an async API call inside a user coroutine cannot work.
        // Whole libraries a strategy does not get: touching one says why.
        for (lib, why) in [
            (
                "io",
                "the network is reachable through race.session, files are not",
            ),
            (
                "coroutine",
                "the race API is asynchronous already; run things side by side with separate strategies",
            ),
        ] {
            let stub = lua
                .load(format!(
                    "local msg = {:?}\nreturn setmetatable({{}}, {{ __index = function(_, k) error({lib:?} .. '.' .. tostring(k) .. msg, 2) end }})",
                    format!(" is not available in strategies: {why}")
                ))
                .set_name("=race/sandbox")
                .call::<Table>(())?;
            g.set(lib, stub)?;
            loaded.set(lib, Value::Nil)?;
        }
        g.set("race", race)?;
        let preload: Table = package.get("preload")?;
        preload.set(
            "race.default",
            lua.create_function(|lua, ()| {
                lua.load(DEFAULT_SCRIPT)
                    .set_name(format!("@{DEFAULT_CHUNK}"))
                    .call::<Value>(())
            })?,
        )?;
        preload.set(
            "race.shop_strategy",
            lua.create_function(|lua, ()| {
                lua.load(SHOP_SCRIPT)
                    .set_name(format!("@{SHOP_CHUNK}"))
                    .call::<Value>(())
            })?,
        )?;

        // Ctrl-C and the runaway watchdog, checked every 1000 instructions in every thread. Once
        // runaway, always runaway: the stop is raised again until the script has ended.
        let ctx = self.ctx.clone();
        lua.set_global_hook(
            HookTriggers::new().every_nth_instruction(1000),
            move |_, debug| {
                if let Some(why) = ctx.stop_reason() {
                    return Err(mlua::Error::runtime(why));
                }
                let computing = ctx.computing_for();
                if let Some(why) = ctx.decisions.over(computing, || {
                    let src = debug.source();
                    let file = src.source.as_deref().and_then(|s| s.strip_prefix('@'));
                    format!(
                        "{}:{}",
                        file.unwrap_or("strategy"),
                        debug.current_line().unwrap_or(0)
                    )
                }) {
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
            },
        )?;
        // pcall/xpcall must not swallow an interruption or a runaway stop (and a script that
        // replaces the global `error` cannot make them: the prelude keeps its own).
        let ctx = self.ctx.clone();
        g.set(
            "__race_stopped",
            lua.create_function(move |_, ()| Ok(ctx.stop_reason()))?,
        )?;
        // `require` reads modules as text only (the stock file searcher also takes bytecode).
        let chunks = self.ctx.chunks.clone();
        let root = std::fs::canonicalize(&module_dir).ok();
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
        lua.load(
            r#"
            local stopped, raw_pcall, raw_xpcall, raw_load, raw_error = __race_stopped, pcall, xpcall, load, error
            local read_module, searchpath, pack, unpack = __race_read_module, package.searchpath, table.pack, table.unpack
            -- Modules come from the strategy's folder only: the path is fixed here, so a script
            -- that changes package.path (or cpath: no C searcher is left) reaches no other file.
            local module_path = package.path
            __race_stopped, __race_read_module = nil, nil
            -- searchpath would tell a script whether any file exists anywhere.
            package.searchpath = function() error("package.searchpath is not available in strategies: require(\"module\") finds modules beside the strategy", 2) end
            local function pass(r)
              local why = stopped()
              if why then raw_error(why, 0) end
              return unpack(r, 1, r.n)
            end
            pcall = function(...) return pass(pack(raw_pcall(...))) end
            xpcall = function(...) return pass(pack(raw_xpcall(...))) end
            load = function(chunk, name, mode, env)
              if mode ~= nil and mode ~= "t" then
                return nil, "load: only source text can be loaded in strategies (mode \"t\")"
              end
              return raw_load(chunk, name, "t", env)
            end
            package.searchers = {
              package.searchers[1],
              function(name)
                if type(name) ~= "string" or name:find("..", 1, true) or name:find("^[/\\]") or name:find("\\", 1, true) then
                  return "\n\tno module " .. tostring(name) .. ": modules are named from the strategy's folder (no '..', no absolute path)"
                end
                local path, err = searchpath(name, module_path)
                if not path then return "\n\t" .. err end
                local f, lerr = raw_load(read_module(path), "@" .. path, "t")
                if not f then error(lerr, 0) end
                return f, path
              end,
            }
            "#,
        )
        .set_name("=race/prelude")
        .exec()?;
        Ok(())
    }

    /// Compiles the strategy (no code runs yet): syntax errors stop here.
    pub fn compile(&self) -> Result<Function, Box<ScriptError>> {
        let (name, source) = match &self.ctx.config.script {
            ScriptSource::File { path, source } => (display_name(path), source.clone()),
            other => {
                let (n, s) = builtin(other).expect("a built-in strategy");
                (n.to_string(), s.to_string())
            }
        };
        self.ctx.chunks.add(&name, &source);
        self.lua
            .load(source.as_str())
            .set_name(format!("@{name}"))
            .set_mode(ChunkMode::Text)
            .into_function()
            .map_err(|e| Box::new(diagnostics::report(&e, Phase::Load, &self.ctx.chunks)))
    }

    fn phase(&self) -> Phase {
        if self.ctx.net.stats.requests.load(Relaxed) == 0 {
            Phase::Load
        } else {
            Phase::Run
        }
    }

    /// Runs the compiled chunk, then the strategy it returns (a table with `run`, or a function).
    /// A strategy must do something: a table without `run`, a value that is no strategy, or a run
    /// that ends well without a single request is a script error, not a quiet success.
    pub async fn run(&self, chunk: Function) -> Result<Outcome, Box<ScriptError>> {
        self.ctx.waiting();
        let report =
            |e: mlua::Error| Box::new(diagnostics::report(&e, self.phase(), &self.ctx.chunks));
        let ret: MultiValue = chunk.call_async(()).await.map_err(report)?;
        let first = ret.front().cloned().unwrap_or(Value::Nil);
        if let Value::Table(t) = &first {
            self.misspelled(t)?;
        }
        let ret = match first {
            Value::Table(t) => match t.get::<Value>("run").map_err(report)? {
                Value::Function(run) if self.adopt_targets(&t)? => {
                    self.ctx.waiting();
                    run.call_async::<MultiValue>(t).await.map_err(report)?
                }
                Value::Function(run) => {
                    self.ctx.waiting();
                    run.call_async::<MultiValue>(t).await.map_err(report)?
                }
                Value::Nil => return Err(self.not_a_strategy("a table without a `run` function")),
                other => {
                    return Err(self.not_a_strategy(&format!(
                        "a table whose `run` is a {}, not a function",
                        other.type_name()
                    )));
                }
            },
            Value::Function(f) => {
                self.ctx.waiting();
                f.call_async::<MultiValue>(()).await.map_err(report)?
            }
            Value::Nil | Value::Boolean(_) => ret,
            other => {
                return Err(self.not_a_strategy(&format!("a {}", other.type_name())));
            }
        };
        let outcome = outcome(ret);
        if outcome == Outcome::Done && self.ctx.net.stats.requests.load(Relaxed) == 0 {
            return Err(self.not_a_strategy("nothing: it ended without a single request"));
        }
        Ok(outcome)
    }

    /// Takes the targets a strategy's table names (`targets = { { url =, event =, item =,
    /// weight = } }`)
    /// when no flag named any, checked as flags are (https, slug, interval floor), before any
    /// request. Flags take precedence. Always true (a guard for the `run` match arm).
    fn adopt_targets(&self, t: &Table) -> Result<bool, Box<ScriptError>> {
        let named = t.get::<Value>("targets").unwrap_or(Value::Nil);
        let Value::Table(list) = named else {
            if !matches!(named, Value::Nil) {
                return Err(self.bad_target(
                    "`targets` must be a list of { url = …, event = … }",
                    "targets",
                ));
            }
            return Ok(true);
        };
        if !self.ctx.targets().is_empty() {
            crate::log::info(
                "--url/--event name the targets: the strategy's `targets` are not used",
            );
            return Ok(true);
        }
        let mut warnings = Vec::new();
        let mut found = Vec::new();
        for (i, entry) in list.sequence_values::<Value>().enumerate() {
            let Ok(Value::Table(e)) = entry else {
                return Err(self.bad_target(
                    &format!(
                        "targets[{}] must be a table {{ url = …, event = … }}",
                        i + 1
                    ),
                    "targets",
                ));
            };
            let text = |k: &str| e.get::<Option<String>>(k).ok().flatten();
            let (url, event) = (
                text("url").unwrap_or_default(),
                text("event").unwrap_or_default(),
            );
            let item = e
                .get::<Value>("item")
                .ok()
                .and_then(|v| v.to_string().ok())
                .filter(|s| s != "nil");
            let weight = match e.get::<Value>("weight").unwrap_or(Value::Nil) {
                Value::Nil => Ok(1),
                v => crate::config::parse_weight(
                    &format!("targets[{}].weight", i + 1),
                    &v.to_string().unwrap_or_default(),
                ),
            };
            let checked = weight.and_then(|weight| {
                crate::config::check_target(
                    &url,
                    &event,
                    item,
                    self.ctx.config.interval,
                    &mut warnings,
                )
                .map(|w| crate::config::Watch { weight, ..w })
            });
            match checked {
                Ok(w) => found.push(w),
                Err(err) => {
                    let near = if url.is_empty() {
                        "targets"
                    } else {
                        url.as_str()
                    };
                    return Err(self.bad_target(&format!("targets[{}]: {err}", i + 1), near));
                }
            }
        }
        if found.is_empty() {
            return Err(self.bad_target("`targets` is empty", "targets"));
        }
        for w in warnings {
            crate::log::warn(w);
        }
        if let Some(d) = &self.ctx.dry_run {
            for w in &found {
                d.add_host(&w.url);
            }
        }
        // The strategy file is the user's choice: its targets' hosts may be reached.
        if let Some(r) = &self.ctx.session.policy().reach {
            for w in &found {
                r.name_target(&w.url);
            }
        }
        self.ctx.alerts.set_target(found[0].event_url().as_str());
        crate::log::info(format!(
            "the strategy names {}: {}",
            if found.len() == 1 {
                "its target"
            } else {
                "its targets"
            },
            found
                .iter()
                .map(|w| w.event_url().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for line in crate::config::budget_lines(&found, self.ctx.config.interval) {
            crate::log::info(line);
        }
        *self.ctx.targets.lock().unwrap_or_else(|e| e.into_inner()) = found.clone();
        let options: Table = self
            .lua
            .globals()
            .get::<Table>("race")
            .and_then(|r| r.get("options"))
            .map_err(|e| Box::new(ScriptError::plain(Phase::Load, e.to_string(), None)))?;
        api::set_targets(&self.lua, &options, &found)
            .and_then(|()| self.name_places(&options, &found))
            .map_err(|e| Box::new(ScriptError::plain(Phase::Load, e.to_string(), None)))?;
        Ok(true)
    }

    /// A function on the strategy's table named a typo away from a decision (`chose`): a script
    /// error at the line that assigns it (`names`).
    fn misspelled(&self, t: &Table) -> Result<(), Box<ScriptError>> {
        let found = names::misspelled(&self.lua, t)
            .map_err(|e| Box::new(diagnostics::report(&e, Phase::Load, &self.ctx.chunks)))?;
        let Some((field, decision)) = found else {
            return Ok(());
        };
        let message = format!("unknown decision `{field}`: did you mean `{decision}`?");
        let help = format!(
            "a field named `{field}` is never called; name the function `{decision}` (other names, for your own helpers, are fine when not a typo away from a decision)"
        );
        let (file, source) = match &self.ctx.config.script {
            ScriptSource::File { path, source } => (display_name(path), source.clone()),
            other => {
                let (n, s) = builtin(other).expect("a built-in strategy");
                (n.to_string(), s.to_string())
            }
        };
        Err(Box::new(match names::assigned_at(&source, &field) {
            Some(line) => diagnostics::at_line(&file, &source, line, &message, &help),
            None => ScriptError::plain(Phase::Load, format!("{file}: {message}"), Some(help)),
        }))
    }

    /// Each of the strategy's targets gets `named_at` ("festival.lua:3", the line holding its
    /// url), so a message about its host (one that does not resolve) says where it came from.
    fn name_places(&self, options: &Table, found: &[Watch]) -> mlua::Result<()> {
        let ScriptSource::File { path, source } = &self.ctx.config.script else {
            return Ok(());
        };
        let file = display_name(path);
        let list: Table = options.get("targets")?;
        for (i, w) in found.iter().enumerate() {
            let url = w.url.as_str().trim_end_matches('/');
            let event = format!("\"{}\"", w.event);
            let line = source
                .lines()
                .position(|l| l.contains(url) && l.contains(&event))
                .or_else(|| source.lines().position(|l| l.contains(url)));
            let at = match line {
                Some(n) => format!("{file}:{}", n + 1),
                None => file.clone(),
            };
            list.get::<Table>(i + 1)?.set("named_at", at)?;
        }
        Ok(())
    }

    /// A bad `targets` entry, reported at the line of the strategy that holds `near`.
    fn bad_target(&self, what: &str, near: &str) -> Box<ScriptError> {
        let (file, source) = match &self.ctx.config.script {
            ScriptSource::File { path, source } => (display_name(path), source.clone()),
            other => {
                let (n, s) = builtin(other).expect("a built-in strategy");
                (n.to_string(), s.to_string())
            }
        };
        let line = source
            .lines()
            .position(|l| l.contains(near))
            .or_else(|| source.lines().position(|l| l.contains("targets")))
            .map_or(1, |i| i + 1);
        Box::new(diagnostics::at_line(
            &file,
            &source,
            line,
            &format!("the strategy's targets: {what}"),
            "targets are checked as --url/--event are: https (http only for loopback hosts), an event slug, and --interval of 2 s or more for a remote host",
        ))
    }

    fn not_a_strategy(&self, what: &str) -> Box<ScriptError> {
        let file = match &self.ctx.config.script {
            ScriptSource::File { path, .. } => display_name(path),
            other => builtin(other).map_or_else(String::new, |(n, _)| n.to_string()),
        };
        Box::new(ScriptError::plain(
            self.phase(),
            format!("{file} is not a strategy: it returned {what}"),
            Some(
                "a strategy file returns the strategy and pretix-race runs it. Reuse the default and change a decision:\n\n    local strategy = require(\"race.default\")\n    function strategy.choose(listings) return listings end\n    return strategy\n\nor return a table with a `run` function (or a function) that watches and returns when it is done; see scripts/types/race.lua"
                    .into(),
            ),
        ))
    }
}

fn outcome(ret: MultiValue) -> Outcome {
    let mut it = ret.into_iter();
    let first = it.next().unwrap_or(Value::Nil);
    let text = |v: Option<Value>| match v {
        Some(Value::String(s)) => Some(s.to_string_lossy()),
        Some(Value::Nil) | None => None,
        Some(other) => Some(format!("{other:?}")),
    };
    match first {
        Value::Boolean(false) | Value::Nil => match text(it.next()) {
            Some(message) => Outcome::Failed {
                message,
                hint: text(it.next()),
            },
            None if matches!(first, Value::Boolean(false)) => Outcome::Failed {
                message: "the strategy gave up".into(),
                hint: None,
            },
            None => Outcome::Done,
        },
        _ => Outcome::Done,
    }
}
