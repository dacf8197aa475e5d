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
//!
//! Several tasks (`race.spawn`, several targets) can each be in a decision, and the one that
//! computes is whichever holds the VM. So each running decision is known by the Lua thread that
//! runs it (`race.decision_call` gives every decision a thread of its own), and the hook charges
//! only the decision of the thread computing now: a quick decision that waits on the API is
//! never cut off for another task's loop, and a stop raised in one thread is never raised in
//! another.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one decision may compute.
pub const DECISION_BUDGET: Duration = Duration::from_secs(1);

/// A Lua thread's identity (`Thread::to_pointer`; `lua.current_thread()` for the running one).
pub type ThreadKey = usize;

/// The identity of the thread running now in `lua` (a thread `call_async` lent is known by the
/// one that asked: mlua's `current_thread`).
pub fn thread_of(lua: &mlua::Lua) -> ThreadKey {
    lua.current_thread().to_pointer() as ThreadKey
}

#[derive(Default)]
pub struct Decisions {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next: u64,
    /// The decisions running now (several tasks can each be in one).
    running: Vec<Running>,
    /// The decisions cut off whose guards have not yet returned: (token, thread, why).
    cut: Vec<(u64, ThreadKey, String)>,
}

struct Running {
    token: u64,
    thread: ThreadKey,
    name: String,
    started: Instant,
}

impl Decisions {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A decision starts, run by `thread`; the token ends it.
    pub fn begin(&self, name: &str, thread: ThreadKey) -> u64 {
        self.begin_at(name, thread, Instant::now())
    }

    /// A decision that started at `started`.
    fn begin_at(&self, name: &str, thread: ThreadKey, started: Instant) -> u64 {
        let mut s = self.lock();
        s.next += 1;
        let token = s.next;
        s.running.push(Running {
            token,
            thread,
            name: name.to_string(),
            started,
        });
        token
    }

    /// The decision ends; why it was cut off, if it was.
    pub fn end(&self, token: u64) -> Option<String> {
        let mut s = self.lock();
        s.running.retain(|r| r.token != token);
        let i = s.cut.iter().position(|(t, _, _)| *t == token)?;
        Some(s.cut.remove(i).2)
    }

    /// The stop in force for the thread computing now (`thread()`, asked only when some
    /// decision was cut off): its decision was cut off and its guard has not returned yet.
    pub fn cut(&self, thread: impl FnOnce() -> ThreadKey) -> Option<String> {
        let s = self.lock();
        if s.cut.is_empty() {
            return None;
        }
        let me = thread();
        s.cut
            .iter()
            .find(|(_, t, _)| *t == me)
            .map(|(_, _, why)| why.clone())
    }

    /// Called by the instruction hook: the script has computed for `computing` without waiting
    /// on the API, in the thread `thread()` (asked only while some decision runs). When that
    /// thread's decision has computed past its budget, it is cut off here (`at` says where it was
    /// running) and the reason returned. Another thread's decision is none of its business.
    pub fn over(
        &self,
        thread: impl FnOnce() -> ThreadKey,
        computing: Duration,
        at: impl FnOnce() -> String,
    ) -> Option<String> {
        let mut s = self.lock();
        if s.running.is_empty() {
            return None;
        }
        let me = thread();
        let r = s.running.iter().rev().find(|r| r.thread == me)?;
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
        s.cut.push((token, me, why.clone()));
        Some(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hook in one thread cuts off that thread's decision only, however recently another
    /// began, and the stop is raised in that thread alone.
    #[test]
    fn only_the_computing_threads_decision_is_cut_off() {
        let d = Decisions::default();
        let (looping, quick) = (1, 2);
        let long = DECISION_BUDGET * 2;
        let l = d.begin_at("loop", looping, Instant::now() - long);
        let q = d.begin("quick", quick);
        // Begun just now: under budget whatever the script computed.
        assert_eq!(d.over(|| quick, long, || "x.lua:9".into()), None);
        // A thread in no decision is none of the budget's business.
        assert_eq!(d.over(|| 3, long, || "x.lua:3".into()), None);
        // Computing for less than the budget since its last wait: not cut off.
        assert_eq!(
            d.over(|| looping, DECISION_BUDGET / 2, || "x.lua:3".into()),
            None
        );
        let why = d.over(|| looping, long, || "x.lua:3".into());
        assert_eq!(
            why.as_deref(),
            Some("loop took longer than 1 s (cut off at x.lua:3)")
        );
        assert_eq!(d.cut(|| quick), None);
        assert_eq!(d.cut(|| looping), why);
        assert_eq!(d.end(q), None);
        assert_eq!(d.end(l), why);
        assert_eq!(d.cut(|| looping), None);
    }
}
