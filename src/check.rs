//! `pretix-race check`: rehearses a strategy against every simulated scenario of its kind
//! (marketplace, or the shop's with `--strategy shop`), strictly (an error in a decision fails
//! it), each in a process of its own (the real binary, as a user runs it), and prints one row per
//! scenario: outcome, polls, time and why it failed (at the user's file:line for a script error).
//! Each rehearsal writes its ending as JSON (`--result-file`, see `ending`): that is what is read,
//! never the log; a scenario ends at the rehearsal's own `--time-limit`, so no `--until` the user
//! did not give is ever named.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cli::{CheckArgs, Strategy};
use crate::config::SHOP_BY_SCRIPT;
use crate::ending::RunResult;
use crate::error::AppError;

/// One scenario to rehearse (a cart is the expected outcome of each): its name and extra flags.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
}

const MARKETPLACE: &[Case] = &[
    Case {
        name: "standard",
        args: &[],
    },
    Case {
        name: "instant",
        args: &[],
    },
    Case {
        name: "inactive",
        args: &["--poll-inactive-marketplace", "0.1"],
    },
    Case {
        name: "busy",
        args: &[],
    },
    Case {
        name: "chaos",
        args: &[],
    },
    Case {
        name: "many",
        args: &[],
    },
    Case {
        name: "pair",
        args: &[],
    },
    Case {
        name: "instant",
        args: &["--events", "2"],
    },
    Case {
        name: "random",
        args: &["--seed", "1"],
    },
    Case {
        name: "random",
        args: &["--seed", "2"],
    },
];

/// A scenario of the simulated main shop, for the shop strategy.
const fn shop(name: &'static str) -> Case {
    Case {
        name,
        args: &["--strategy", "shop"],
    }
}

const SHOP: &[Case] = &[shop("shop"), shop("shop-instant"), shop("shop-busy")];

struct Row {
    label: String,
    ok: bool,
    outcome: String,
    polls: String,
    secs: f64,
    error: String,
}

pub async fn run(a: CheckArgs) -> Result<(), AppError> {
    let exe = std::env::current_exe()
        .map_err(|e| AppError::failure(format!("cannot find pretix-race itself: {e}"), None))?;
    if a.kind_from_script {
        crate::outln!("{SHOP_BY_SCRIPT}");
    }
    let cases = match a.strategy.unwrap_or_default() {
        Strategy::Shop => SHOP,
        Strategy::Marketplace => MARKETPLACE,
    };
    let dir = std::env::temp_dir().join(format!("pretix-race-check-{}", std::process::id()));
    // The header first and each row as its scenario ends (stdout is flushed on every line), so
    // a check that is interrupted shows what it has.
    crate::outln!(
        "{:<42} {:<6} {:<22} {:>6} {:>7}  first error",
        "scenario",
        "result",
        "outcome",
        "polls",
        "time"
    );
    let mut rows = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let r = rehearse(&exe, &a, case, &dir.join(i.to_string())).await;
        crate::outln!(
            "{:<42} {:<6} {:<22} {:>6} {:>6.1}s  {}",
            r.label,
            if r.ok { "ok" } else { "FAIL" },
            r.outcome,
            r.polls,
            r.secs,
            r.error
        );
        rows.push(r);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let failed = rows.iter().filter(|r| !r.ok).count();
    if failed > 0 {
        return Err(AppError::failure(
            format!("{failed} of {} scenarios failed", rows.len()),
            Some(format!(
                "rehearse one with `pretix-race rehearse --scenario NAME{} --script FILE --strict` to see it whole",
                if a.strategy == Some(Strategy::Shop) {
                    " --strategy shop"
                } else {
                    ""
                }
            )),
        ));
    }
    crate::outln!("all {} scenarios secured a cart", rows.len());
    Ok(())
}

async fn rehearse(exe: &PathBuf, a: &CheckArgs, case: &Case, dir: &std::path::Path) -> Row {
    let result_file = dir.with_extension("json");
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("rehearse");
    if !case.args.contains(&"--seed") {
        cmd.args(["--scenario", case.name]);
    }
    cmd.args(case.args)
        .args([
            "--headless",
            "--strict",
            "--interval",
            "0",
            "--webhook-retry-pause",
            "0",
        ])
        .arg("--time-limit")
        .arg(format!("{}", a.timeout.as_secs_f64().max(1.0)))
        .arg("--result-file")
        .arg(&result_file)
        .arg("--log-dir")
        .arg(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(s) = &a.script {
        cmd.arg("--script").arg(s);
    }
    let label = format!("{} {}", case.name, case.args.join(" "))
        .trim()
        .to_string();
    let start = Instant::now();
    let out = tokio::time::timeout(a.timeout + Duration::from_secs(10), cmd.output()).await;
    let secs = start.elapsed().as_secs_f64();
    let row = |ok, outcome: &str, polls: String, error: String| Row {
        label: label.clone(),
        ok,
        outcome: outcome.to_string(),
        polls,
        secs,
        error,
    };
    let Ok(Ok(out)) = out else {
        return row(
            false,
            "did not finish",
            "-".into(),
            "still running 10 s past its --time-limit".into(),
        );
    };
    let Some(r) = RunResult::read(&result_file) else {
        // It ended before a run began (a usage error) or was stopped from outside it.
        let code = out.status.code().unwrap_or(-1);
        let last = String::from_utf8_lossy(&out.stderr)
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().trim_start_matches("× ").to_string())
            .unwrap_or_default();
        return row(false, &format!("failed (exit {code})"), "-".into(), last);
    };
    let ok = r.exit == 0 && r.carts > 0;
    let outcome = match (r.outcome.as_str(), r.exit) {
        _ if ok => "cart secured".to_string(),
        ("done", _) => "ended without a cart".to_string(),
        ("script_error", _) => "script error".to_string(),
        ("deadline", _) => "nothing in time".to_string(),
        (_, c) => format!("failed (exit {c})"),
    };
    let error = if ok {
        String::new()
    } else if r.reason.is_empty() {
        "the strategy ended without securing a cart".into()
    } else {
        r.reason.lines().next().unwrap_or_default().to_string()
    };
    row(ok, &outcome, r.polls.to_string(), error)
}
