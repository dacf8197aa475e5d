//! The runtime's heartbeat: a task that notes the time every [`EVERY`], so anyone can tell how long
//! the runtime thread has been held without getting back to its scheduler.
//!
//! Why: the runtime has one thread, and the Lua VM and the reading of answers run on it. While
//! that thread waits on the network it returns to the scheduler, and the heartbeat ticks; while a
//! script computes, or one long call runs (a C function such as a catastrophic pattern match, a
//! `__gc` finalizer, which Lua runs with its hooks off), it does not. So the heartbeat's age is
//! exactly "time held without waiting": the runaway clock counts script time and never time spent
//! waiting on a slow answer, and the supervisor (`crate::supervisor`, on another thread) sees a
//! stuck runtime that no hook inside it can report.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// How often the heartbeat ticks: fine enough for the runaway clock, rare enough to cost nothing.
pub const EVERY: Duration = Duration::from_millis(250);

static EPOCH: OnceLock<Instant> = OnceLock::new();
/// Milliseconds after [`EPOCH`] of the last tick, plus one (0: no heartbeat running).
static LAST: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// Notes that the runtime thread is free now (the heartbeat's tick, and a start).
pub fn beat() {
    LAST.store(now_ms(), Relaxed);
}

/// Starts the heartbeat on the current runtime; it stops when the returned handle is aborted or
/// dropped with the runtime.
pub fn start() -> tokio::task::JoinHandle<()> {
    beat();
    tokio::spawn(async {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            beat();
        }
    })
}

/// How long since the runtime thread last got back to its scheduler (`None`: no heartbeat runs,
/// as in a unit test that drives the engine without one).
pub fn age() -> Option<Duration> {
    match LAST.load(Relaxed) {
        0 => None,
        last => Some(Duration::from_millis(now_ms().saturating_sub(last))),
    }
}

/// Stops counting (the run is over): [`age`] says `None` again.
pub fn stop() {
    LAST.store(0, Relaxed);
}
