//! How a run ends when time is up, and how it says so to a program: `--until` (and a
//! rehearsal's `--time-limit`) are enforced here, by the core, whatever the strategy does: the run
//! races the strategy against the deadline and ends with exit 4 and a reason built from what
//! happened ("choose picked nothing from 1 listing (3 polls)"), so a strategy needs no timer of
//! its own and no sentinel to return. `--result-file` gives the ending as JSON (what `check`
//! reads, instead of scraping the log).

use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::config::Config;
use crate::core::stats::Stats;
use crate::error::AppError;
use crate::log::plural;

/// When the run must end, and what set it.
pub struct Deadline {
    pub after: Duration,
    /// A rehearsal's own limit (not a `--until` the user gave).
    pub rehearsal: bool,
}

impl Deadline {
    /// The earlier of `--until` and a rehearsal's `--time-limit`.
    pub fn of(config: &Config) -> Option<Deadline> {
        let until = config.until.map(|after| Deadline {
            after,
            rehearsal: false,
        });
        let limit = config.time_limit.map(|after| Deadline {
            after,
            rehearsal: true,
        });
        match (until, limit) {
            (Some(u), Some(l)) if l.after < u.after => Some(l),
            (Some(u), _) => Some(u),
            (None, l) => l,
        }
    }

    /// The error the run ends with (exit 4): the deadline, and why nothing was secured.
    pub fn passed(&self, stats: &Stats, dry_run: bool) -> AppError {
        let why = why_nothing(stats, dry_run);
        if self.rehearsal {
            AppError::Deadline {
                message: format!(
                    "nothing was secured in {}; {why}",
                    seconds(self.after.as_secs_f64())
                ),
                hint: Some(
                    "rehearse longer with --time-limit SECS, or look at what your strategy picks"
                        .into(),
                ),
            }
        } else {
            AppError::Deadline {
                message: format!("--until: nothing was secured in time; {why}"),
                hint: Some("start again with a later --until".into()),
            }
        }
    }
}

/// "60 s", "1.5 s".
fn seconds(s: f64) -> String {
    format!("{} s", (s * 10.0).round() / 10.0)
}

/// What the run saw and did, as the reason nothing was secured.
pub fn why_nothing(stats: &Stats, dry_run: bool) -> String {
    let polls = plural(stats.polls.load(Relaxed), "poll", "polls");
    let seen = stats.listings_seen() as u64;
    let tried = stats.cart_attempts.load(Relaxed);
    let lost = stats.races_lost.load(Relaxed);
    if tried > 0 {
        let failed = tried.saturating_sub(lost);
        let mut s = format!(
            "{} tried, {lost} lost to someone faster",
            plural(tried, "ticket", "tickets"),
        );
        if failed > 0 {
            s.push_str(&format!(", {failed} refused or failed"));
        }
        return format!("{s} ({polls})");
    }
    let (failed, first) = stats.choose_failures();
    if failed > 0 {
        return format!(
            "choose failed on {} ({})",
            plural(failed, "poll", "polls"),
            first.unwrap_or_default()
        );
    }
    if seen == 0 {
        let products = stats.products_seen() as u64;
        if products > 0 {
            return format!(
                "choose took none of {} that could be added ({polls})",
                plural(products, "product", "products")
            );
        }
        return format!("nothing could be added ({polls}, no listing or wanted product appeared)");
    }
    let listings = plural(seen, "listing", "listings");
    if dry_run {
        return format!("a dry run tries nothing: {listings} announced ({polls})");
    }
    format!("choose picked nothing from {listings} ({polls})")
}

/// Writes the ending to `path` as JSON (a new private file): outcome, exit code, reason, hint,
/// polls, listings seen, cart attempts and carts. Failing to write it is said, never fatal.
pub fn write_result(path: Option<&Path>, result: &Result<(), AppError>, stats: &Stats) {
    let Some(path) = path else { return };
    let (outcome, exit, reason, hint) = match result {
        Ok(()) => ("done", 0, String::new(), None),
        Err(e) => {
            let outcome = match e {
                AppError::Script(_) => "script_error",
                AppError::Deadline { .. } => "deadline",
                AppError::Interrupted { .. } => "interrupted",
                _ => "failed",
            };
            let hint = match e {
                AppError::Failure { hint, .. } | AppError::Deadline { hint, .. } => hint.clone(),
                _ => None,
            };
            (outcome, e.exit_code(), e.to_string(), hint)
        }
    };
    let body = serde_json::json!({
        "outcome": outcome,
        "exit": exit,
        "reason": reason,
        "hint": hint,
        "polls": stats.polls.load(Relaxed),
        "listings_seen": stats.listings_seen(),
        "cart_attempts": stats.cart_attempts.load(Relaxed),
        "carts": stats.carts_won.load(Relaxed),
    });
    if let Err(e) = crate::core::cookies::write_private(path, &body.to_string()) {
        crate::log::warn(format!(
            "--result-file {}: could not write it: {e}",
            path.display()
        ));
    }
}

/// What `write_result` wrote, as `check` reads it back.
#[derive(serde::Deserialize, Debug, Default)]
pub struct RunResult {
    pub outcome: String,
    pub exit: i32,
    pub reason: String,
    pub polls: u64,
    pub carts: u64,
}

impl RunResult {
    pub fn read(path: &Path) -> Option<RunResult> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }
}
