//! The decision time budget: a decision (`choose`, `wait`, `on_cart`…, each call the built-in
//! strategies make through their guard, never the strategy's own run loop) may compute for
//! `DECISION_BUDGET` at most. A decision that loops is cut off by the instruction hook, reported
//! at the line it was running, and its fallback stands in: the watch goes on, where the 30 s
//! runaway watchdog would have ended the run with listings on the page.
//!
//! Only computing counts (the time since the decision, or the script, last waited on the API):
//! an `on_cart` that waits for the browser is not cut off. Once cut off, the stop is raised again
//! at every chance until the guard's call returns (as the runaway stop is), so a `pcall` inside
//! the decision cannot swallow it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one decision may compute.
pub const DECISION_BUDGET: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Decisions {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next: u64,
    /// The decisions running now (several tasks can each be in one), latest last.
    running: Vec<Running>,
    /// Why the latest decision was cut off, while its guard has not yet returned.
    cut: Option<(u64, String)>,
}

struct Running {
    token: u64,
    name: String,
    started: Instant,
}

impl Decisions {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A decision starts; the token ends it.
    pub fn begin(&self, name: &str) -> u64 {
        let mut s = self.lock();
        s.next += 1;
        let token = s.next;
        s.running.push(Running {
            token,
            name: name.to_string(),
            started: Instant::now(),
        });
        token
    }

    /// The decision ends; why it was cut off, if it was.
    pub fn end(&self, token: u64) -> Option<String> {
        let mut s = self.lock();
        s.running.retain(|r| r.token != token);
        match s.cut.take() {
            Some((t, why)) if t == token => Some(why),
            other => {
                s.cut = other;
                None
            }
        }
    }

    /// The stop in force: a decision was cut off and its guard has not returned yet.
    pub fn cut(&self) -> Option<String> {
        self.lock().cut.as_ref().map(|(_, why)| why.clone())
    }

    /// Called by the instruction hook: the script has computed for `computing` without waiting
    /// on the API. When the latest decision has computed past its budget, it is cut off here
    /// (`at` says where it was running) and the reason returned.
    pub fn over(&self, computing: Duration, at: impl FnOnce() -> String) -> Option<String> {
        let mut s = self.lock();
        let r = s.running.last()?;
        if computing.min(r.started.elapsed()) <= DECISION_BUDGET {
            return None;
        }
        let why = format!(
            "{} took longer than {} s (cut off at {})",
            r.name,
            DECISION_BUDGET.as_secs_f64(),
            at()
        );
        let token = r.token;
        s.cut = Some((token, why.clone()));
        Some(why)
    }
}
