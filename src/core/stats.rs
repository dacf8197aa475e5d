//! Counters for the one-line summary a run ends with (also on Ctrl-C).

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub polls: AtomicU64,
    pub cart_attempts: AtomicU64,
    pub carts_won: AtomicU64,
    pub races_lost: AtomicU64,
    seen: Mutex<HashSet<String>>,
}

impl Stats {
    /// Notes a listing id; true when it was not seen before.
    pub fn see_listing(&self, id: &str) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string())
    }

    pub fn listings_seen(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn summary(&self) -> String {
        format!(
            "{} polls, {} listings seen, {} cart attempts ({} won, {} lost), {} requests in all",
            self.polls.load(Relaxed),
            self.listings_seen(),
            self.cart_attempts.load(Relaxed),
            self.carts_won.load(Relaxed),
            self.races_lost.load(Relaxed),
            self.requests.load(Relaxed),
        )
    }
}
