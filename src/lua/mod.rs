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
pub(crate) mod prelude;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mlua::chunk::ChunkMode;
use mlua::{Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};

use crate::config::{Config, ScriptSource, Watch};
use crate::core::handoff::EarlyBrowser;
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
    /// What reports of failed decisions remember (where one returned, what was said).
    pub reports: api::Reports,
    /// The browser started early (`--browser-early`), taken by the first hand-over.
    pub early: EarlyBrowser,
    /// Extra flags for the browser a hand-over opens (a rehearsal's: trust the simulator).
    pub browser_args: Vec<String>,
    /// The strategy's `run` (or the function the file returned) has been called: an error from
    /// here on is the run's, not the file's top level.
    running: AtomicBool,
}

/// The browser a hand-over opens: the one started early (`--browser-early`), if any, and the
/// extra flags it starts with (a rehearsal's: trust the simulator's certificate).
pub struct HandoverBrowser {
    pub early: EarlyBrowser,
    pub args: Vec<String>,
}

impl Context {
    pub fn new(
        config: Config,
        session: Arc<Session>,
        net: Arc<Net>,
        responses: Arc<ResponseLog>,
        alerts: Arc<Alerts>,
        kill: Arc<AtomicBool>,
        browser: HandoverBrowser,
    ) -> Self {
        Self {
            early: browser.early,
            browser_args: browser.args,
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
            running: AtomicBool::new(false),
            reports: api::Reports::default(),
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

    /// Why the code running now in `lua` must stop, if it must: Ctrl-C, a runaway stop, or its
    /// own decision's cut-off (never another task's).
    pub fn stop_reason(&self, lua: &Lua) -> Option<String> {
        if self.kill.load(Relaxed) {
            return Some("interrupted".into());
        }
        self.stopped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .or_else(|| self.decisions.cut(|| budget::thread_of(lua)))
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
        prelude::prepare(&engine.lua, &engine.ctx).map_err(setup)?;
        Ok(engine)
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
        if !self.ctx.running.load(Relaxed) {
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
                Value::Function(run) => {
                    self.adopt_targets(&t)?;
                    self.ctx.waiting();
                    self.ctx.running.store(true, Relaxed);
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
                self.ctx.running.store(true, Relaxed);
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
    /// request. Flags take precedence.
    fn adopt_targets(&self, t: &Table) -> Result<(), Box<ScriptError>> {
        let named = t.get::<Value>("targets").unwrap_or(Value::Nil);
        let Value::Table(list) = named else {
            if !matches!(named, Value::Nil) {
                return Err(self.bad_target(
                    "`targets` must be a list of { url = …, event = … }",
                    "targets",
                ));
            }
            return Ok(());
        };
        // Flags (or a rehearsal's simulator) name the targets: the file's are still checked (a
        // mistake in them must not wait for the day they are used), then set aside.
        let set_aside = !self.ctx.targets().is_empty();
        // `targets = { url = …, event = … }`: one target where a list of them is due.
        let key = |k: &str| !matches!(list.raw_get::<Value>(k), Ok(Value::Nil));
        if matches!(list.raw_get::<Value>(1), Ok(Value::Nil))
            && api::TARGET_KEYS.iter().any(|k| key(k))
        {
            return Err(self.bad_target(
                "targets is one target, not a list of them: wrap it in { } (targets = { { url = …, event = … } })",
                "targets",
            ));
        }
        let mut warnings = Vec::new();
        let mut found = Vec::new();
        for (i, entry) in list.sequence_values::<Value>().enumerate() {
            let entry = match entry {
                Ok(v @ Value::Table(_)) => v,
                _ => {
                    return Err(self.bad_target(
                        &format!(
                            "targets[{}] must be a table {{ url = …, event = … }}",
                            i + 1
                        ),
                        "targets",
                    ));
                }
            };
            // Unknown keys and wrong types (`weight = "3"`) are named as they are written (a
            // typo'd `evnet` is that, not an empty event), at the line that holds the key.
            let e = match api::TargetEntry::read(entry.clone()) {
                Ok(e) => e,
                Err(err) => {
                    let what = format!("targets[{}]: {}", i + 1, err.message);
                    let Some(key) = err.key else {
                        return Err(self.bad_target(&what, "targets"));
                    };
                    // The line with the key and its value (several targets may each give one).
                    let value = match &entry {
                        Value::Table(t) => match t.raw_get::<Value>(key.as_str()) {
                            Ok(Value::String(s)) => s.to_string_lossy(),
                            Ok(v) => v.to_string().unwrap_or_default(),
                            Err(_) => String::new(),
                        },
                        _ => String::new(),
                    };
                    return Err(self.bad_target_at(&what, &[&key, &value]));
                }
            };
            let (url, event) = (e.url.unwrap_or_default(), e.event.unwrap_or_default());
            let item = e.item;
            let weight = match e.weight {
                None => Ok(1),
                Some(n) => crate::config::parse_weight(
                    &format!("targets[{}].weight", i + 1),
                    &n.to_string(),
                ),
            };
            let checked = weight.and_then(|weight| {
                crate::config::check_target(
                    &url,
                    &event,
                    item,
                    // Set aside, their pace is not this run's (a rehearsal polls at 0 s).
                    if set_aside {
                        self.ctx.config.interval.max(crate::core::governor::FLOOR)
                    } else {
                        self.ctx.config.interval
                    },
                    &mut warnings,
                )
                .map(|w| crate::config::Watch { weight, ..w })
            });
            match checked {
                // The same event (and item) twice would be watched twice, at twice the rate.
                Ok(w) if found.iter().any(|f| same_target(f, &w)) => {
                    let first = found.iter().position(|f| same_target(f, &w)).unwrap_or(0);
                    let written_alike = found.iter().filter(|f| f.url == w.url).count();
                    return Err(self.bad_target_nth(
                        &format!(
                            "targets[{}] repeats targets[{}] ({}{}): name each target once",
                            i + 1,
                            first + 1,
                            w.event_url(),
                            w.item
                                .as_deref()
                                .map(|i| format!(", item {i}"))
                                .unwrap_or_default()
                        ),
                        &url,
                        written_alike,
                    ));
                }
                Ok(w) => found.push(w),
                Err(err) => {
                    let near = if url.is_empty() {
                        "targets"
                    } else {
                        url.as_str()
                    };
                    return Err(self.bad_target(&target_error(&err, i + 1), near));
                }
            }
        }
        if found.is_empty() {
            return Err(self.bad_target("`targets` is empty", "targets"));
        }
        if set_aside {
            crate::log::info(if self.ctx.config.local_only {
                "a rehearsal watches the simulated shop: the strategy's `targets` (real shops) are not used"
            } else {
                "--url/--event name the targets: the strategy's `targets` are not used"
            });
            return Ok(());
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
        Ok(())
    }

    /// A function on the strategy's table named a typo away from a decision (`chose`): a script
    /// error at the line that assigns it (`names`).
    fn misspelled(&self, t: &Table) -> Result<(), Box<ScriptError>> {
        let found = names::unread(&self.lua, t)
            .map_err(|e| Box::new(diagnostics::report(&e, Phase::Load, &self.ctx.chunks)))?;
        let (field, message, help) = match found {
            None => return Ok(()),
            Some(names::Unread::Misspelled(field, meant)) => {
                let (kind, help) = if meant == "targets" {
                    (
                        "field",
                        format!("a field named `{field}` is never read; name it `targets`"),
                    )
                } else {
                    (
                        if meant == "run" { "field" } else { "decision" },
                        format!(
                            "a field named `{field}` is never called; name the function `{meant}` (other names, for your own helpers, are fine when not a typo away from a decision)"
                        ),
                    )
                };
                let message = format!("unknown {kind} `{field}`: did you mean `{meant}`?");
                (field, message, help)
            }
            Some(names::Unread::NotOfShop { field, decisions }) => {
                let message = format!(
                    "the shop strategy has no `{field}` decision: strategy.{field} would never be called"
                );
                let help = format!(
                    "its decisions are {decisions}; `{field}` is the marketplace strategy's (race.default)"
                );
                (field, message, help)
            }
            Some(names::Unread::NotAFunction { field, got }) => {
                let message = format!(
                    "strategy.{field} must be a function (the `{field}` decision), got {got}"
                );
                let help = format!(
                    "write `function strategy.{field}(…) … end`, or leave it out to keep the built-in one"
                );
                (field, message, help)
            }
            Some(names::Unread::Option {
                field,
                key,
                flag,
                lua,
                cli,
            }) => {
                // `until` is a Lua keyword: it is read as race.options["until"].
                let option = if key == "until" {
                    "race.options[\"until\"]".to_string()
                } else {
                    format!("race.options.{key}")
                };
                let message = format!(
                    "strategy.{field} is not read: options live in race.options ({option} = {lua} in your file, or {cli})"
                );
                let help = format!(
                    "the strategy's table holds its decisions and `targets`; set {option} before returning it, or give {flag}"
                );
                (field, message, help)
            }
        };
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

    /// A bad `targets` entry, reported at the first line of the strategy that holds every one
    /// of `near` (else the first that holds the first of them).
    fn bad_target_at(&self, what: &str, near: &[&str]) -> Box<ScriptError> {
        let (_, source) = self.script_text();
        match source
            .lines()
            .position(|l| near.iter().all(|n| l.contains(n)))
        {
            Some(i) => self.bad_target_line(what, i + 1),
            None => self.bad_target(what, near.first().copied().unwrap_or("targets")),
        }
    }

    /// The strategy's file name and source text.
    fn script_text(&self) -> (String, String) {
        match &self.ctx.config.script {
            ScriptSource::File { path, source } => (display_name(path), source.clone()),
            other => {
                let (n, s) = builtin(other).expect("a built-in strategy");
                (n.to_string(), s.to_string())
            }
        }
    }

    /// A bad `targets` entry, reported at the line of the strategy that holds `near`.
    fn bad_target(&self, what: &str, near: &str) -> Box<ScriptError> {
        self.bad_target_nth(what, near, 0)
    }

    /// As [`Self::bad_target`], at the `nth` (from 0) line that holds `near` (an entry written
    /// like an earlier one).
    fn bad_target_nth(&self, what: &str, near: &str, nth: usize) -> Box<ScriptError> {
        let (_, source) = self.script_text();
        let holding: Vec<usize> = source
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(near))
            .map(|(i, _)| i)
            .collect();
        let line = holding
            .get(nth)
            .or(holding.first())
            .copied()
            .or_else(|| source.lines().position(|l| l.contains("targets")))
            .map_or(1, |i| i + 1);
        self.bad_target_line(what, line)
    }

    /// A bad `targets` entry, reported at `line` of the strategy.
    fn bad_target_line(&self, what: &str, line: usize) -> Box<ScriptError> {
        let (file, source) = self.script_text();
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

/// Two targets that would watch the same thing: one event page, one item.
fn same_target(a: &crate::config::Watch, b: &crate::config::Watch) -> bool {
    a.event_url() == b.event_url() && a.item == b.item
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

/// A target of the strategy's file that fails the flags' checks, said in the file's terms
/// (`targets[1].url`, not `--url`), with a fix that fits a file.
fn target_error(err: &crate::config::ConfigError, n: usize) -> String {
    use crate::config::ConfigError as E;
    let example = "url = \"https://tickets.example.com/org\"";
    match err {
        E::BadUrl { value, reason, .. } => {
            let v = value.trim();
            let fix = if reason.starts_with("no scheme") && !v.starts_with('/') && v.contains('.') {
                format!("did you mean url = \"https://{v}\"?")
            } else if reason.starts_with("no scheme") {
                format!("give the shop's full URL, e.g. {example}")
            } else {
                reason.clone()
            };
            format!("targets[{n}].url {value:?} is not a URL: {fix}")
        }
        E::Insecure { url, .. } => format!(
            "targets[{n}].url {url} uses plain http: give url = \"{}\" (plain http is only for loopback hosts such as 127.0.0.1)",
            url.trim().replacen("http://", "https://", 1)
        ),
        E::BadEvent { value } => match value.rsplit_once('/') {
            Some((shop, slug)) if !slug.is_empty() && !value.contains(['?', '#', ' ']) => format!(
                "targets[{n}].event {value:?} is not an event slug (one path segment): end url in /{shop} and give event = \"{slug}\""
            ),
            _ => format!(
                "targets[{n}].event {value:?} is not an event slug: it is the path segment after the shop URL (myevent in https://tickets.example.com/org/myevent/)"
            ),
        },
        other => format!("targets[{n}]: {other}"),
    }
}
