//! The Lua layer: the only place that imports mlua. It builds the VM, registers the API
//! (`api::AREAS`, one entry per area), loads the user's strategy or the embedded default, and runs
//! it, turning Lua errors into reports that point at the script's line.
//!
//! Trust model: a strategy is the user's own code, run on their own machine, but the good-citizen
//! rules must hold whatever it does. So the network is reachable only through the API (no `io`, no
//! `os.execute`, no C modules), every request goes through the core's governor, and a runaway
//! script is stopped: an instruction hook ends it on Ctrl-C (pcall cannot swallow that) or when it
//! has computed for [`RUNAWAY`] without once waiting on the API. Memory is capped. `coroutine` is
//! left out: the async API cannot be called from inside a Lua coroutine.

pub mod api;
pub mod diagnostics;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};

use crate::config::{Config, ScriptSource};
use crate::core::market::ResponseLog;
use crate::core::notify::Alerts;
use crate::core::session::{Net, Session};
use diagnostics::{Chunks, Phase, ScriptError};

/// The embedded default strategy.
pub const DEFAULT_SCRIPT: &str = include_str!("../../scripts/default.lua");
pub const DEFAULT_CHUNK: &str = "race/default.lua";
/// How long a script may compute without waiting on the API before it counts as runaway.
pub const RUNAWAY: Duration = Duration::from_secs(30);
const MEMORY_LIMIT: usize = 512 * 1024 * 1024;

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
            config,
            session,
            net,
            responses,
            alerts,
            kill,
            started: Instant::now(),
            last_wait: AtomicU64::new(0),
        }
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

    fn computing_for(&self) -> Duration {
        let now = self.started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_wait.load(Relaxed)))
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
    chunks: Chunks,
    ctx: Arc<Context>,
}

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
        let lua = Lua::new_with(libs, LuaOptions::default()).map_err(setup)?;
        lua.set_memory_limit(MEMORY_LIMIT).map_err(setup)?;
        let chunks = Chunks::default();
        chunks.add(DEFAULT_CHUNK, DEFAULT_SCRIPT);
        let engine = Self { lua, chunks, ctx };
        engine.prepare().map_err(setup)?;
        Ok(engine)
    }

    fn prepare(&self) -> mlua::Result<()> {
        let lua = &self.lua;
        let g = lua.globals();
        // os: clocks and the environment only.
        let os: Table = g.get("os")?;
        for f in [
            "execute",
            "exit",
            "remove",
            "rename",
            "tmpname",
            "setlocale",
        ] {
            os.set(f, Value::Nil)?;
        }
        for f in ["dofile", "loadfile"] {
            g.set(f, Value::Nil)?;
        }
        let package: Table = g.get("package")?;
        let dir = match &self.ctx.config.script {
            ScriptSource::File { path, .. } => {
                path.parent().map(Path::to_path_buf).unwrap_or_default()
            }
            ScriptSource::Default => PathBuf::new(),
        };
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        package.set("path", format!("{0}/?.lua;{0}/?/init.lua", dir.display()))?;
        package.set("cpath", "")?;

        let race = lua.create_table()?;
        api::register_all(lua, &race, &self.ctx)?;
        let loaded: Table = package.get("loaded")?;
        loaded.set("race", race.clone())?;
        // mlua loads `coroutine` to build async functions (each captures what it needs); scripts
        // don't get it, since an async API call inside a user coroutine cannot work.
        g.set("coroutine", Value::Nil)?;
        loaded.set("coroutine", Value::Nil)?;
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

        // Ctrl-C and the runaway watchdog, checked every 1000 instructions in every thread.
        let ctx = self.ctx.clone();
        lua.set_global_hook(HookTriggers::new().every_nth_instruction(1000), move |_, _| {
            if ctx.kill.load(Relaxed) {
                return Err(mlua::Error::runtime("interrupted"));
            }
            if ctx.computing_for() > RUNAWAY {
                ctx.waiting();
                return Err(mlua::Error::runtime(format!(
                    "runaway script: it computed for {} s without waiting on the race API (sleep, poll, get)",
                    RUNAWAY.as_secs()
                )));
            }
            Ok(VmState::Continue)
        })?;
        // pcall/xpcall must not swallow an interruption.
        let kill = self.ctx.kill.clone();
        g.set(
            "__race_killed",
            lua.create_function(move |_, ()| Ok(kill.load(Relaxed)))?,
        )?;
        lua.load(
            r#"
            local killed, raw_pcall, raw_xpcall, pack, unpack = __race_killed, pcall, xpcall, table.pack, table.unpack
            __race_killed = nil
            local function pass(r)
              if killed() then error("interrupted", 0) end
              return unpack(r, 1, r.n)
            end
            pcall = function(...) return pass(pack(raw_pcall(...))) end
            xpcall = function(...) return pass(pack(raw_xpcall(...))) end
            "#,
        )
        .set_name("=race/prelude")
        .exec()?;
        Ok(())
    }

    /// Compiles the strategy (no code runs yet): syntax errors stop here.
    pub fn compile(&self) -> Result<Function, Box<ScriptError>> {
        let (name, source) = match &self.ctx.config.script {
            ScriptSource::Default => (DEFAULT_CHUNK.to_string(), DEFAULT_SCRIPT.to_string()),
            ScriptSource::File { path, source } => (display_name(path), source.clone()),
        };
        self.chunks.add(&name, &source);
        self.lua
            .load(source.as_str())
            .set_name(format!("@{name}"))
            .into_function()
            .map_err(|e| Box::new(diagnostics::report(&e, Phase::Load, &self.chunks)))
    }

    fn phase(&self) -> Phase {
        if self.ctx.net.stats.requests.load(Relaxed) == 0 {
            Phase::Load
        } else {
            Phase::Run
        }
    }

    /// Runs the compiled chunk, then the strategy it returns (a table with `run`, or a function).
    pub async fn run(&self, chunk: Function) -> Result<Outcome, Box<ScriptError>> {
        self.ctx.waiting();
        let report = |e: mlua::Error| Box::new(diagnostics::report(&e, self.phase(), &self.chunks));
        let ret: MultiValue = chunk.call_async(()).await.map_err(report)?;
        let first = ret.front().cloned().unwrap_or(Value::Nil);
        let ret = match first {
            Value::Table(t) => match t.get::<Value>("run").map_err(report)? {
                Value::Function(run) => {
                    self.ctx.waiting();
                    run.call_async::<MultiValue>(t).await.map_err(report)?
                }
                _ => ret,
            },
            Value::Function(f) => {
                self.ctx.waiting();
                f.call_async::<MultiValue>(()).await.map_err(report)?
            }
            _ => ret,
        };
        Ok(outcome(ret))
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
