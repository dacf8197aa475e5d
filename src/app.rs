//! One run, start to end: resolve the configuration, build the session and the Lua engine, compile
//! the strategy (all before the first request), then run it until it finishes, fails or is
//! interrupted, and say how it went.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use crate::cli::Cli;
#[cfg(feature = "simulator")]
use crate::config::Rehearsal;
use crate::config::{self, Config, Mode, Notices, ScriptSource};
use crate::core::handoff::EarlyBrowser;
use crate::core::market::ResponseLog;
use crate::core::notify::{Alerts, Webhook};
use crate::core::session::{DryRun, Net, Policy, Session};
use crate::error::AppError;
use crate::lua::diagnostics::ScriptError;
use crate::lua::{Context, Engine, Outcome};
#[cfg(feature = "simulator")]
use crate::sim::Sim;

pub async fn run(cli: Cli) -> Result<(), AppError> {
    match config::mode(cli)? {
        Mode::Race(config, notices) => {
            crate::log::set_up(config.verbose, config.quiet, config.log_format);
            race(*config, notices, Vec::new()).await
        }
        #[cfg(feature = "simulator")]
        Mode::Rehearse(r) => rehearse(*r).await,
        Mode::HandoffTest(h, notices) => crate::handoff_test::run(h, notices).await,
        // Rendered whole, then written: `completions bash | head` ends quietly, as other tools do.
        Mode::Completions(shell) => {
            use clap::CommandFactory;
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "pretix-race", &mut text);
            crate::log::out_bytes(&text);
            Ok(())
        }
        Mode::Man => {
            use clap::CommandFactory;
            let mut text = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut text)
                .map_err(|e| {
                    AppError::failure(format!("could not render the man page: {e}"), None)
                })?;
            crate::log::out_bytes(&text);
            Ok(())
        }
        Mode::Check(c) => crate::check::run(c).await,
        Mode::AlertTest(a) => {
            crate::log::set_verbosity(false, false);
            crate::alert_test::run(a).await
        }
    }
}

#[cfg(feature = "simulator")]
async fn rehearse(r: Rehearsal) -> Result<(), AppError> {
    let Rehearsal {
        scenario,
        name,
        files,
        mut config,
        notices,
    } = r;
    let what = if scenario.shop.is_some() {
        "shop"
    } else {
        "marketplace"
    };
    crate::log::set_up(config.verbose, config.quiet, config.log_format);
    let sim = Sim::start(scenario).await.map_err(|e| {
        AppError::failure(
            format!("could not start the simulated marketplace: {e}"),
            None,
        )
    })?;
    // The simulator's events, and its certificate: trusted by our client and, only it, by the
    // browser.
    let base = sim.base_url();
    config.targets = sim
        .events()
        .into_iter()
        .map(|event| config::Watch {
            url: base.clone(),
            event,
            item: config.item.clone(),
            weight: 1,
        })
        .collect();
    config.client.extra_roots.extend(sim.ca_certificates());
    crate::log::info(format!(
        "rehearsal: simulated {what} ({name} scenario) at {}",
        config
            .targets
            .iter()
            .map(|t| t.event_url().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    // Only the browser the hand-over opens trusts the simulator's certificate.
    let result = race(config, notices, vec![sim.browser_trust_arg()]).await;
    drop(sim);
    if let Some(dir) = files {
        crate::log::info(format!("rehearsal files: {}", dir.display()));
    }
    result
}

/// The hosts this run's requests may reach: the targets', the `--webhook`'s, the `--allow-host`s
/// (a strategy's own targets join later, in the Lua layer); a rehearsal's, loopback only.
fn reach(config: &Config) -> crate::core::gate::Reach {
    let reach = if config.local_only {
        crate::core::gate::Reach::local_only()
    } else {
        crate::core::gate::Reach::new()
    };
    for t in &config.targets {
        reach.name_target(&t.url);
    }
    if let Some(w) = config.webhook.as_ref().filter(|_| !config.local_only) {
        reach.name(&crate::core::governor::Target::of(w).host);
    }
    for h in &config.allow_hosts {
        reach.name(h);
    }
    reach
}

/// Runs the configured strategy to its end: the run's parts are made (`Run::new`), the strategy
/// compiled, then watched until it ends or a signal comes (`watch`); every secured cart is handed
/// over (`wind_down`) before the outcome is said (`conclude`).
///
/// `browser_args`: extra flags for the browser the hand-over opens (a rehearsal's: trust the
/// simulator's certificate), the run's, not the configuration's.
pub async fn race(
    config: Config,
    notices: Notices,
    browser_args: Vec<String>,
) -> Result<(), AppError> {
    say(&notices, &config);
    crate::core::handoff::set_browser_bound(config.handoff_timeout);
    let run = Run::new(&config)?;
    let start_line = start_line(&config);
    let watching_count = config.targets.len().max(1);
    let status_wanted = !config.quiet
        && config.log_format == crate::log::Format::Text
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    // The browser started early belongs to this run, not to its configuration.
    let early = EarlyBrowser::default();
    let _status_page = start_early(
        &config,
        &browser_args,
        &early,
        &start_line.watching,
        watching_count,
        &run.net,
    )
    .await;
    let ends = Ends {
        log_dir: config.log_dir.clone(),
        browser: config.browser.clone(),
        client: config.client.clone(),
        webhook_retry_pause: config.webhook_retry_pause,
        runaway_after: config.runaway_after,
        deadline: crate::ending::Deadline::of(&config),
        dry_run: config.dry_run,
        result_file: config.result_file.clone(),
    };
    let kill = Arc::new(AtomicBool::new(false));
    let saves = run.responses.clone();
    let ctx = Arc::new(Context::new(
        config,
        run.session,
        run.net.clone(),
        run.responses,
        run.alerts.clone(),
        kill.clone(),
        crate::lua::HandoverBrowser {
            early: early.clone(),
            args: browser_args,
        },
    ));
    let engine = Engine::new(ctx.clone())?;
    let chunk = engine.compile()?;
    crate::core::pretix::warm_up();
    crate::log::info(format!(
        "pretix-race {} · strategy: {} · watching: {}",
        env!("CARGO_PKG_VERSION"),
        start_line.strategy,
        start_line.watching,
    ));

    let mut shutdown = Shutdown::install(&kill);
    // From here on, the supervisor (another thread) hands over every secured cart even if this
    // thread is held by the script or a page, and the heartbeat tells it (and the runaway clock)
    // whether this thread gets back to its scheduler.
    let armed = Arc::new(crate::supervisor::Armed::new(
        run.net.clone(),
        ends.log_dir.clone(),
        run.alerts.clone(),
        ends.client.clone(),
        ends.webhook_retry_pause,
        run.reach.clone(),
        kill.clone(),
        shutdown.caught.clone(),
        ends.runaway_after,
    ));
    let _disarm = crate::supervisor::arm(armed.clone());
    let heartbeat = crate::core::heartbeat::start();
    // On a terminal, one line that updates in place says how the watch goes.
    let status = live_status(&run.net, watching_count, status_wanted);
    let strategy = async move {
        // The VM is never closed: closing runs every `__gc` finalizer, which a script could make
        // loop forever with hooks off. The process ends soon after; the OS takes the memory back.
        let engine = std::mem::ManuallyDrop::new(engine);
        engine.run(chunk).await
    };
    let (outcome, signal, out_of_time) =
        watch(strategy, ends.deadline.as_ref(), &kill, &mut shutdown).await;
    armed.ending();
    ctx.stop_tasks();
    if let Some(s) = status {
        s.abort();
    }
    crate::log::clear_status();
    if let Some(sig) = signal {
        crate::log::info(format!("{sig}: stopping"));
    }
    let left = wind_down(&run.net, &run.alerts, &early, &ends, signal.is_some()).await;
    saves.flush(Duration::from_secs(3)).await;
    heartbeat.abort();
    crate::core::heartbeat::stop();
    let mut summary = run.net.stats.summary();
    if left > 0 {
        summary.push_str(&format!(
            "; {} handed over as the run ended (above: take it over now)",
            crate::log::plural(left as u64, "secured cart", "secured carts")
        ));
    }
    // --until (or a rehearsal's limit) passed with nothing secured: the core's reason, not the
    // strategy's (it was stopped mid-watch).
    let result = match &ends.deadline {
        Some(d) if out_of_time && outcome.as_ref().is_none_or(|o| o.is_err()) => {
            crate::log::info(format!("gave up: {summary}"));
            Err(d.passed(&run.net.stats, ends.dry_run))
        }
        _ => conclude(outcome, summary),
    };
    crate::ending::write_result(ends.result_file.as_deref(), &result, &run.net.stats);
    result
}

/// What resolving the flags had to say, and the polling budget, once logging is set up.
fn say(notices: &Notices, config: &Config) {
    for n in &notices.notes {
        crate::log::info(n);
    }
    for w in &notices.warnings {
        crate::log::warn(w);
    }
    for line in crate::config::budget_lines(&config.targets, config.interval) {
        crate::log::info(line);
    }
}

/// The run's shared parts, made before the strategy is compiled: the process-wide net, who may
/// be reached, the alerts, the first session, and where unusual answers are saved.
struct Run {
    net: Arc<Net>,
    reach: crate::core::gate::Reach,
    alerts: Arc<Alerts>,
    session: Arc<Session>,
    responses: Arc<ResponseLog>,
}

impl Run {
    fn new(config: &Config) -> Result<Self, AppError> {
        let net = Net::new();
        let setup = |e: crate::core::http::SetupError| AppError::failure(e.to_string(), None);
        let reach = reach(config);
        let webhook = Webhook::new(&config.client)
            .map_err(setup)?
            .with_retry_pause(config.webhook_retry_pause)
            .with_gate(net.clone(), reach.clone());
        let alerts = Arc::new(
            Alerts::new(
                webhook,
                config.webhook.clone(),
                config.imessage.clone(),
                &config
                    .event_url()
                    .map(|u| u.to_string())
                    .unwrap_or_default(),
            )
            .local_only(config.local_only),
        );
        let dry_run = config.dry_run.then(|| {
            let d = DryRun::default();
            for t in &config.targets {
                d.add_host(&t.url);
            }
            d
        });
        let policy = Policy {
            dry_run,
            events: Some(alerts.clone()),
            reach: Some(reach.clone()),
        };
        let session =
            Arc::new(Session::new(config.client.clone(), net.clone(), policy).map_err(setup)?);
        let responses = Arc::new(ResponseLog::new(Some(config.log_dir.clone())));
        Ok(Run {
            net,
            reach,
            alerts,
            session,
            responses,
        })
    }
}

/// What the end of a run needs from its configuration (which the engine has taken by then).
struct Ends {
    log_dir: std::path::PathBuf,
    browser: crate::core::browser::Browser,
    client: crate::core::http::ClientConfig,
    webhook_retry_pause: Duration,
    runaway_after: Duration,
    /// --until, or a rehearsal's time limit: the core ends the run then, whatever the strategy does.
    deadline: Option<crate::ending::Deadline>,
    dry_run: bool,
    /// The hidden `--result-file` (what `check` reads).
    result_file: Option<std::path::PathBuf>,
}

/// The start line's strategy and what is watched.
struct StartLine {
    strategy: String,
    watching: String,
}

fn start_line(config: &Config) -> StartLine {
    let strategy = match &config.script {
        ScriptSource::Default => "built-in default".to_string(),
        ScriptSource::Shop => "built-in shop".to_string(),
        ScriptSource::File { path, .. } => path.display().to_string(),
    };
    let watching = match config.targets.as_slice() {
        [] => "named by the strategy".to_string(),
        ts => ts
            .iter()
            .map(|t| t.event_url().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let watching = match &config.script {
        ScriptSource::Shop => format!("{watching} ({})", shop_wanted(config)),
        _ => watching,
    };
    StartLine { strategy, watching }
}

/// How the strategy's task ended, if it did (a signal stops it: `None`).
type Finished = Result<Result<Outcome, Box<ScriptError>>, tokio::task::JoinError>;

/// Runs the strategy (`run`) until it ends, a signal comes, or the `deadline` passes; says
/// which signal, if one did, and whether the deadline ended it.
async fn watch<T: Send + 'static>(
    run: impl Future<Output = T> + Send + 'static,
    deadline: Option<&crate::ending::Deadline>,
    kill: &Arc<AtomicBool>,
    shutdown: &mut Shutdown,
) -> (
    Option<Result<T, tokio::task::JoinError>>,
    Option<&'static str>,
    bool,
) {
    let mut task = tokio::spawn(run);
    let time_up = async {
        match deadline {
            Some(d) => tokio::time::sleep(d.after).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        sig = shutdown.recv() => {
            kill.store(true, Relaxed);
            task.abort();
            let _ = task.await;
            (None, Some(sig), false)
        }
        () = time_up => {
            task.abort();
            (task.await.ok().map(Ok), None, true)
        }
        r = &mut task => match shutdown.caught() {
            // The raw handler stopped the script before the signal task could run.
            Some(sig) => (None, Some(sig), false),
            None => (Some(r), None, false),
        },
    }
}

/// Whatever ended the run, a secured cart is the person's before anything else happens: each
/// left is handed over, the early browser shows the first, and the alerts get time to go out.
/// Returns how many were handed over here.
async fn wind_down(
    net: &Arc<Net>,
    alerts: &Arc<Alerts>,
    early: &EarlyBrowser,
    ends: &Ends,
    signalled: bool,
) -> usize {
    let left = crate::supervisor::hand_over_left(net, &ends.log_dir, Some(alerts));
    // With --browser-early, the watch's tab shows the first of them (its session is printed
    // already); after a signal, only briefly: the person asked us to stop.
    if let (Some(cart), crate::core::browser::Browser::Found(path)) = (left.first(), &ends.browser)
    {
        let within = Duration::from_secs(if signalled { 5 } else { 30 });
        if tokio::time::timeout(within, early.show_at_exit(cart, path))
            .await
            .is_err()
        {
            crate::log::warn(
                "the browser started early did not show the checkout in time: take the cart over with the session above",
            );
        }
    }
    early.close_unused();
    // Alerts queued at the end (the cart's above all) get time to go out before we exit.
    let grace = if signalled { 3 } else { 20 };
    alerts.drain(Duration::from_secs(grace)).await;
    left.len()
}

/// The run's result, from how the strategy ended; `summary` closes its last line.
fn conclude(outcome: Option<Finished>, summary: String) -> Result<(), AppError> {
    let Some(outcome) = outcome else {
        return Err(AppError::Interrupted { summary });
    };
    match outcome {
        Ok(Ok(Outcome::Done)) => {
            crate::log::info(format!("done: {summary}"));
            Ok(())
        }
        Ok(Ok(Outcome::Failed { message, hint })) => {
            crate::log::info(format!("gave up: {summary}"));
            Err(AppError::failure(message, hint))
        }
        Ok(Err(script)) => {
            crate::log::info(format!("stopped by a script error: {summary}"));
            Err(script.into())
        }
        Err(join) => {
            crate::log::info(format!("stopped by an internal error: {summary}"));
            Err(AppError::failure(
                format!("the strategy task failed: {join}"),
                Some("this is a bug in pretix-race; please report it with the log above".into()),
            ))
        }
    }
}

/// Redraws the status line twice a second while the strategy runs (only on a terminal).
fn live_status(
    net: &Arc<Net>,
    watching: usize,
    wanted: bool,
) -> Option<tokio::task::JoinHandle<()>> {
    if !wanted {
        return None;
    }
    let net = net.clone();
    Some(tokio::spawn(async move {
        loop {
            crate::log::set_status(&net.stats.status_line(watching));
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }))
}

/// `--browser-early`: the status page, and the browser on it, start now (the browser in the
/// background: the first poll does not wait for it). The page lives as long as what this returns.
async fn start_early(
    config: &Config,
    browser_args: &[String],
    early: &EarlyBrowser,
    watching: &str,
    count: usize,
    net: &Arc<Net>,
) -> Option<crate::core::status_page::StatusPage> {
    let crate::core::browser::Browser::Found(path) = &config.browser else {
        return None;
    };
    if !config.browser_early {
        return None;
    }
    let page = crate::core::status_page::StatusPage::start(
        watching.to_string(),
        count,
        net.clone(),
    )
    .await
    .inspect_err(|e| {
        crate::log::warn(format!(
            "--browser-early: no local status page ({e}); the browser starts at the hand-over"
        ))
    })
    .ok()?;
    let launch = crate::core::browser::Launch {
        path: path.clone(),
        headless: false,
        args: browser_args.to_vec(),
        profile_root: config.log_dir.clone(),
    };
    early.start(launch, page.url.clone());
    Some(page)
}

/// Ctrl-C, SIGTERM (a service manager, `kill`) or SIGHUP (the terminal closed). The handlers are
/// installed when this is made, before the strategy starts: a signal in its very first instant
/// must reach us (and the secured-cart hand-over), not end the process at once.
///
/// The runtime has one thread (cheaper per poll than waking a second one), so a strategy busy in
/// Lua holds it: the signal task could not run until the script waits. A raw handler therefore
/// also sets `kill` (which the Lua instruction hook checks) and notes which signal came, at once.
struct Shutdown {
    #[cfg(unix)]
    signals: Option<[tokio::signal::unix::Signal; 3]>,
    #[cfg(unix)]
    raw: Vec<signal_hook_registry::SigId>,
    /// The signal number a raw handler saw (0: none yet).
    pub caught: Arc<std::sync::atomic::AtomicI32>,
}

impl Shutdown {
    fn install(kill: &Arc<AtomicBool>) -> Self {
        let caught = Arc::new(std::sync::atomic::AtomicI32::new(0));
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) {
                (Ok(i), Ok(t), Ok(h)) => Some([i, t, h]),
                _ => None,
            };
            let mut raw = Vec::new();
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                let (kill, caught) = (kill.clone(), caught.clone());
                // SAFETY: the action only stores to atomics, which is async-signal-safe.
                let id = unsafe {
                    signal_hook_registry::register(sig, move || {
                        kill.store(true, Relaxed);
                        let _ = caught.compare_exchange(0, sig, Relaxed, Relaxed);
                    })
                };
                raw.extend(id.ok());
            }
            Shutdown {
                signals,
                raw,
                caught,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = kill;
            Shutdown { caught }
        }
    }

    /// The signal a raw handler saw, if one came: a strategy stopped by it ended because of it.
    fn caught(&self) -> Option<&'static str> {
        match self.caught.load(Relaxed) {
            0 => None,
            #[cfg(unix)]
            libc::SIGTERM => Some("SIGTERM"),
            #[cfg(unix)]
            libc::SIGHUP => Some("SIGHUP"),
            _ => Some("interrupted"),
        }
    }

    /// Waits for one; says which.
    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        if let Some([int, term, hup]) = &mut self.signals {
            return tokio::select! {
                _ = int.recv() => "interrupted",
                _ = term.recv() => "SIGTERM",
                _ = hup.recv() => "SIGHUP",
            };
        }
        let _ = tokio::signal::ctrl_c().await;
        "interrupted"
    }
}

#[cfg(unix)]
impl Drop for Shutdown {
    fn drop(&mut self) {
        for id in self.raw.drain(..) {
            signal_hook_registry::unregister(id);
        }
    }
}

/// What the shop strategy watches for, for the start line: "item 7, variation 3", "items 7, 9".
fn shop_wanted(config: &Config) -> String {
    let mut out = match config.items.as_slice() {
        [] => "no --item".to_string(),
        [one] => format!("item {one}"),
        many => format!("items {}", many.join(", ")),
    };
    if let Some(v) = &config.variation {
        out.push_str(&format!(", variation {v}"));
    }
    out
}
