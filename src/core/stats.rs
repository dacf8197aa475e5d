//! Counters for the one-line summary a run ends with (also on Ctrl-C).

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::log::plural;

#[derive(Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub polls: AtomicU64,
    pub cart_attempts: AtomicU64,
    pub carts_won: AtomicU64,
    pub races_lost: AtomicU64,
    seen: Mutex<HashSet<String>>,
    /// Shop products seen available (id and variation), for the reason nothing was added.
    products: Mutex<HashSet<String>>,
    /// A main shop was polled: its counts are of products, not listings.
    pub shop_polled: std::sync::atomic::AtomicBool,
    /// How often each of the strategy's own decisions failed (the watch went on with its
    /// fallback: for `choose`, taking nothing), with its first failure ("c1.lua:3: choose
    /// returned a single listing: …"), in the order they first failed. A failure is warned
    /// about once per target; the repeats are counted here, for the run's end.
    decisions_failed: Mutex<Vec<(String, u64, String)>>,
    /// What the live status line shows of the latest answer, wait and backoff.
    pub live: Mutex<Live>,
}

/// The moment's state, for the status line on a terminal.
#[derive(Default, Clone)]
pub struct Live {
    /// The last answer: status and milliseconds to its last byte.
    pub last: Option<(u16, f64)>,
    /// When the strategy's current wait ends.
    pub next_at: Option<std::time::Instant>,
    /// A backoff in force: until when, and why.
    pub backoff: Option<(std::time::Instant, String)>,
}

impl Stats {
    pub fn set_live(&self, f: impl FnOnce(&mut Live)) {
        f(&mut self.live.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// The status line: polls, the last answer, the next poll or a backoff, listings, carts.
    pub fn status_line(&self, watching: usize) -> String {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let now = std::time::Instant::now();
        let mut s = format!(
            "watching {} · {}",
            plural(watching as u64, "event", "events"),
            plural(self.polls.load(Relaxed), "poll", "polls")
        );
        if let Some((status, ms)) = live.last {
            s.push_str(&format!(" · last {status} ({ms:.0} ms)"));
        }
        match (live.backoff.filter(|(t, _)| *t > now), live.next_at) {
            (Some((t, why)), _) => s.push_str(&format!(
                " · backing off {:.0} s ({why})",
                (t - now).as_secs_f64()
            )),
            (None, Some(t)) if t > now => {
                s.push_str(&format!(" · next in {:.0} s", (t - now).as_secs_f64()))
            }
            _ => {}
        }
        s.push_str(&format!(
            " · {} · {} in cart",
            self.seen_words(),
            self.carts_won.load(Relaxed)
        ));
        s
    }
}

impl Stats {
    /// Notes a listing id; true when it was not seen before.
    pub fn see_listing(&self, id: &str) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string())
    }

    /// Notes a shop product that could be added.
    pub fn see_product(&self, key: &str) {
        self.products
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string());
    }

    pub fn products_seen(&self) -> usize {
        self.products
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Notes a failed decision (`choose`, `wait`, …) and why.
    pub fn decision_failed(&self, name: &str, why: String) {
        let mut all = self
            .decisions_failed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match all.iter_mut().find(|(n, _, _)| n == name) {
            Some((_, count, _)) => *count += 1,
            None => all.push((name.to_string(), 1, why)),
        }
    }

    /// How often `choose` failed, and the first failure.
    pub fn choose_failures(&self) -> (u64, Option<String>) {
        self.decisions_failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(n, _, _)| n == "choose")
            .map_or((0, None), |(_, count, first)| (*count, Some(first.clone())))
    }

    pub fn listings_seen(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// "3 listings seen"; a shop's run (no listing, a shop polled): "1 product seen available".
    fn seen_words(&self) -> String {
        let listings = self.listings_seen() as u64;
        if listings == 0 && self.shop_polled.load(Relaxed) {
            plural(
                self.products_seen() as u64,
                "product seen available",
                "products seen available",
            )
        } else {
            plural(listings, "listing seen", "listings seen")
        }
    }

    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}, {}, {} ({} won, {} lost), {} in all",
            plural(self.polls.load(Relaxed), "poll", "polls"),
            self.seen_words(),
            plural(
                self.cart_attempts.load(Relaxed),
                "cart attempt",
                "cart attempts"
            ),
            self.carts_won.load(Relaxed),
            self.races_lost.load(Relaxed),
            plural(self.requests.load(Relaxed), "request", "requests"),
        );
        // Said once per target as they happened: how often, in all.
        for (name, count, _) in self
            .decisions_failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            s.push_str(&format!(
                "; the strategy's `{name}` failed {}",
                plural(*count, "time", "times")
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_says_what_is_going_on() {
        let s = Stats::default();
        s.polls.store(12, Relaxed);
        s.see_listing("a");
        s.set_live(|l| {
            l.last = Some((200, 3.4));
            l.next_at = Some(std::time::Instant::now() + std::time::Duration::from_secs(9));
        });
        let line = s.status_line(2);
        assert!(
            line.starts_with("watching 2 events · 12 polls · last 200 (3 ms) · next in "),
            "{line}"
        );
        assert!(line.ends_with("1 listing seen · 0 in cart"), "{line}");
        s.set_live(|l| {
            l.backoff = Some((
                std::time::Instant::now() + std::time::Duration::from_secs(30),
                "429".into(),
            ))
        });
        assert!(
            s.status_line(1).contains("backing off "),
            "{}",
            s.status_line(1)
        );
    }
}
