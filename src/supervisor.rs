//! The supervisor: the process's main thread, which never runs user code and never parses anything
//! from the network, so no script and no page can stall it.
//!
//! Why a thread of its own: the run (its runtime, the Lua VM, the reading of answers) lives on one
//! engine thread. The instruction hook stops a busy script on Ctrl-C or when it runs away, but some
//! things hold that thread where no hook reaches: one long C call (a catastrophic pattern match), a
//! `__gc` finalizer (Lua runs them with hooks off), a page that sends a parser into quadratic work.
//! A ticket in the cart is the person's money, so whatever the engine thread is doing, this thread
//! hands over every secured cart (cookie files, printed session, alerts) and exits:
//! - 5 s after SIGINT, SIGTERM or SIGHUP, if the run has not ended by itself (exit 130);
//! - when the runtime has been held for the runaway limit (`--runaway-after`, 30 s) without once
//!   getting back to its scheduler (the heartbeat, `core::heartbeat`), plus a moment for the hook
//!   to stop the script itself with its file and line (exit 3);
//! - when the engine thread dies (a panic outside the strategy's task: exit 1).
//!
//! The run arms it ([`arm`]) once its session and alerts exist, and says when its own end has
//! begun ([`Armed::ending`]): from then on the run's own hand-over is under way and bounded, and the
//! supervisor only makes sure the process does not outlive it by much.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::core::carts::SecuredCart;
use crate::core::gate::Reach;
use crate::core::notify::{Alerts, Webhook};
use crate::core::session::{ClientConfig, Net};
use crate::error::AppError;

/// How long the run gets to end by itself after a signal.
pub const SIGNAL_GRACE: Duration = Duration::from_secs(5);
/// After the runaway limit, how long the instruction hook gets to stop the script itself (with
/// the script's file and line) before the supervisor acts.
pub const RUNAWAY_GRACE: Duration = Duration::from_secs(2);
/// How long the run's own end (hand-over, browser, alerts: each bounded) may take at the most.
pub const ENDING_LIMIT: Duration = Duration::from_secs(75);
/// How often the supervisor looks.
const LOOK_EVERY: Duration = Duration::from_millis(250);
/// How long the supervisor's own alerts get to go out.
const ALERTS_GRACE: Duration = Duration::from_secs(3);

/// What the supervisor needs to hand over without the engine thread.
pub struct Armed {
    pub net: Arc<Net>,
    pub log_dir: PathBuf,
    pub alerts: Arc<Alerts>,
    /// For a webhook client of the supervisor's own.
    pub client: ClientConfig,
    pub webhook_retry_pause: Duration,
    /// The run's gate: the supervisor's deliveries pass it as the run's own do.
    pub reach: Reach,
    /// Set on a signal or a take-over: the hook stops the script if it ever runs again.
    pub kill: Arc<AtomicBool>,
    /// The signal number the raw handler saw (0: none).
    pub caught: Arc<AtomicI32>,
    pub runaway_after: Duration,
    /// When the run's own end began.
    ending: Mutex<Option<Instant>>,
}

impl Armed {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        net: Arc<Net>,
        log_dir: PathBuf,
        alerts: Arc<Alerts>,
        client: ClientConfig,
        webhook_retry_pause: Duration,
        reach: Reach,
        kill: Arc<AtomicBool>,
        caught: Arc<AtomicI32>,
        runaway_after: Duration,
    ) -> Self {
        Self {
            net,
            log_dir,
            alerts,
            client,
            webhook_retry_pause,
            reach,
            kill,
            caught,
            runaway_after,
            ending: Mutex::new(None),
        }
    }

    /// The run's own end has begun (the strategy stopped): it hands over what is left itself.
    pub fn ending(&self) {
        self.ending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(Instant::now);
    }

    fn ending_since(&self) -> Option<Instant> {
        *self.ending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

static ARMED: Mutex<Option<Arc<Armed>>> = Mutex::new(None);

/// Disarms the supervisor when dropped (the run is over).
pub struct Disarm;

impl Drop for Disarm {
    fn drop(&mut self) {
        *ARMED.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// From now on the supervisor can hand over `armed`'s carts without the engine thread.
pub fn arm(armed: Arc<Armed>) -> Disarm {
    *ARMED.lock().unwrap_or_else(|e| e.into_inner()) = Some(armed);
    Disarm
}

fn armed() -> Option<Arc<Armed>> {
    ARMED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Why the supervisor acts.
#[derive(Clone, Copy, Debug)]
enum Why {
    Signal(i32),
    Runaway(Duration),
    EngineDied,
    EndingTooLong,
}

/// Runs `engine` on a thread of its own and supervises it from this one: returns its result, or
/// never returns (the supervisor handed over and exited).
pub fn supervise<R: Send + 'static>(engine: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("engine".into())
        // The main thread's size: Lua and the HTML parser may recurse deeply.
        .stack_size(8 * 1024 * 1024)
        .spawn(move || {
            let _ = tx.send(engine());
        });
    if let Err(e) = spawned {
        crate::log::err_out(&format!("error: could not start the engine thread: {e}\n"));
        std::process::exit(i32::from(crate::error::exit::FAILURE));
    }
    let mut signal_seen: Option<Instant> = None;
    loop {
        match rx.recv_timeout(LOOK_EVERY) {
            Ok(result) => return result,
            Err(mpsc::RecvTimeoutError::Disconnected) => match armed() {
                Some(a) => take_over(&a, Why::EngineDied),
                None => {
                    crate::log::err_out("error: pretix-race stopped unexpectedly\n");
                    std::process::exit(i32::from(crate::error::exit::FAILURE));
                }
            },
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let Some(a) = armed() else { continue };
                if let Some(why) = decide(&a, &mut signal_seen) {
                    take_over(&a, why);
                }
            }
        }
    }
}

/// Whether the supervisor must act now.
fn decide(a: &Armed, signal_seen: &mut Option<Instant>) -> Option<Why> {
    let held = crate::core::heartbeat::age().unwrap_or_default();
    let ending = a.ending_since();
    let sig = a.caught.load(Relaxed);
    if sig != 0 {
        let seen = *signal_seen.get_or_insert_with(Instant::now);
        // Once the run's own end is under way, it is bounded after a signal (the browser 5 s,
        // the alerts 3 s, the saved pages 3 s): it gets that long before it is cut short.
        let grace = if ending.is_some() {
            SIGNAL_GRACE * 3
        } else {
            SIGNAL_GRACE
        };
        if seen.elapsed() >= grace {
            return Some(Why::Signal(sig));
        }
    }
    if let Some(since) = ending {
        // The run's own end is under way and bounded; a stuck one still ends.
        return (since.elapsed() > ENDING_LIMIT || held > ENDING_LIMIT / 3)
            .then_some(Why::EndingTooLong);
    }
    (held >= a.runaway_after + RUNAWAY_GRACE).then_some(Why::Runaway(held))
}

/// Hands over every secured cart the run has not, sends their alerts, says why, and exits.
fn take_over(a: &Armed, why: Why) -> ! {
    a.kill.store(true, Relaxed);
    crate::log::clear_status();
    let what = match why {
        Why::Signal(sig) => format!(
            "{}: the strategy did not stop within {} s (it is inside one long call, a finalizer or a loop the interrupt cannot reach): handing over without it",
            signal_name(sig),
            SIGNAL_GRACE.as_secs()
        ),
        Why::Runaway(held) => format!(
            "the strategy has held pretix-race for {:.0} s without waiting on the race API (one long call such as a pattern match, a __gc finalizer, or a loop the runaway check cannot reach): handing over without it",
            held.as_secs_f64()
        ),
        Why::EngineDied => {
            "pretix-race's engine stopped unexpectedly: handing over what it secured".into()
        }
        Why::EndingTooLong => {
            "the run's end did not finish in time: stopping (the session printed above stands)"
                .into()
        }
    };
    crate::log::warn(what);
    let left = hand_over_on_own_runtime(a);
    let mut summary = a.net.stats.summary();
    if left > 0 {
        summary.push_str(&format!(
            "; {} handed over as the run ended (above: take it over now)",
            crate::log::plural(left as u64, "secured cart", "secured carts")
        ));
    }
    let error = match why {
        Why::Signal(_) => AppError::Interrupted { summary },
        Why::Runaway(held) => AppError::Script(Box::new(crate::lua::diagnostics::ScriptError::plain(
            crate::lua::diagnostics::Phase::Run,
            format!(
                "runaway script: it held pretix-race for {:.0} s without waiting on the race API, so it was stopped ({summary})",
                held.as_secs_f64()
            ),
            Some("a strategy must wait on the API (poll, get, sleep) now and then; look for a loop, a pattern with many `.-` or `.*`, or a __gc finalizer that never ends".into()),
        ))),
        Why::EngineDied | Why::EndingTooLong => AppError::failure(
            format!("stopped: {summary}"),
            Some("this is a bug in pretix-race; please report it with the log above".into()),
        ),
    };
    let code = crate::error::report(error);
    std::process::exit(i32::from(code));
}

/// The at-exit hand-over on a small runtime of this thread's own (the run's may be stuck): the
/// number of carts handed over.
fn hand_over_on_own_runtime(a: &Armed) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let Ok(runtime) = runtime else {
        // No runtime, no alerts: the files and the printed session still go out.
        let carts = a.net.carts.take_pending();
        crate::core::handoff::at_exit(&a.log_dir, &carts);
        return carts.len();
    };
    runtime.block_on(async {
        let alerts = match Webhook::new(&a.client) {
            Ok(hook) => a.alerts.detached(
                hook.with_retry_pause(a.webhook_retry_pause)
                    .with_gate(a.net.clone(), a.reach.clone()),
            ),
            Err(e) => {
                crate::log::warn(format!("no webhook at exit: {e}"));
                return hand_over_left(&a.net, &a.log_dir, None).len();
            }
        };
        let left = hand_over_left(&a.net, &a.log_dir, Some(&alerts)).len();
        alerts.drain(ALERTS_GRACE).await;
        left
    })
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        #[cfg(unix)]
        libc::SIGTERM => "SIGTERM",
        #[cfg(unix)]
        libc::SIGHUP => "SIGHUP",
        _ => "interrupted",
    }
}

/// Hands over (headless) every secured cart not handed over yet, then alerts about each (with
/// `alerts`); they are returned. The one at-exit hand-over, whoever runs it: the run as it ends, or
/// the supervisor without it. Carts are taken once, so never handed over twice.
pub fn hand_over_left(
    net: &Net,
    log_dir: &std::path::Path,
    alerts: Option<&Alerts>,
) -> Vec<SecuredCart> {
    let carts = net.carts.take_pending();
    if carts.is_empty() {
        return carts;
    }
    crate::log::warn(format!(
        "{} secured cart{} not handed over yet: handing over now",
        carts.len(),
        if carts.len() == 1 { " was" } else { "s were" }
    ));
    let exports = crate::core::handoff::at_exit(log_dir, &carts);
    let Some(alerts) = alerts else {
        return carts;
    };
    for (cart, export) in carts.iter().zip(&exports) {
        alerts.event(
            crate::core::notify::TICKET_IN_CART,
            crate::core::notify::handed_over_at_exit(cart, export),
        );
    }
    carts
}
