//! Flags resolved once, for every command, into one checked [`Mode`] before any network I/O: a bad
//! URL, an interval under the floor, an unreadable CA file or a missing script stop here with a
//! hint, so no request is ever made on a half-valid configuration.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::cli::{AlertTestArgs, Cli, Command, HandoffTestArgs, NetArgs, RunArgs, Sort, Strategy};
use crate::core::browser::Browser;
use crate::core::governor::{FLOOR, Target, WARN_BELOW};
use crate::core::http::ClientConfig;

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
pub const REHEARSAL_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ConfigError {
    #[error("`{command}` needs the built-in simulator, which this build leaves out")]
    #[diagnostic(help("build with the default features (cargo build --release)"))]
    NoSimulator { command: &'static str },

    #[error("--event {event} is given twice")]
    #[diagnostic(help("name each event once: it would be watched twice, at twice the rate"))]
    EventTwice { event: String },

    #[error("{flag} {value:?} is not a URL: {reason}")]
    #[diagnostic(help(
        "give a full URL, e.g. --url https://tickets.example.com or --webhook https://hooks.example.com/pretix"
    ))]
    BadUrl {
        flag: &'static str,
        value: String,
        reason: String,
    },

    #[error("--log-dir {path}: {reason}")]
    #[diagnostic(help(
        "give a folder you can write to: the cart's cookie files go there the moment a ticket is in the cart"
    ))]
    LogDir { path: String, reason: String },

    #[error(
        "{flag} {path}: {reason}; the cart's cookies must not go where someone else can plant or replace files"
    )]
    #[diagnostic(help("make it yours alone: chmod go-w {path} (or give a folder of your own)"))]
    UnsafeDir {
        flag: &'static str,
        path: String,
        reason: String,
    },

    #[error("{flag} {url} uses plain http")]
    #[diagnostic(help(
        "use https:// (plain http is only allowed for loopback hosts such as 127.0.0.1)"
    ))]
    Insecure { flag: &'static str, url: String },

    #[error("--event {value:?} is not an event slug")]
    #[diagnostic(help(
        "the slug is the path segment after the shop URL: for https://tickets.example.com/myevent/ it is myevent"
    ))]
    BadEvent { value: String },

    #[error("the url {url} already ends in the event {event}: give url = {base}")]
    #[diagnostic(help(
        "the url is the shop's address up to the event: --url {base} --event {event}"
    ))]
    UrlEndsInEvent {
        url: String,
        event: String,
        base: String,
    },

    #[error("--interval {secs} s is below the {floor} s floor for {host}")]
    #[diagnostic(help(
        "polling a real marketplace faster than every 2 s gets it switched off for everyone; use --interval 5 or more"
    ))]
    IntervalBelowFloor { secs: f64, floor: u64, host: String },

    #[error("could not read the CA certificate {path}: {reason}")]
    #[diagnostic(help(
        "give a PEM file holding one or more certificates (-----BEGIN CERTIFICATE-----)"
    ))]
    BadCaCert { path: String, reason: String },

    #[error("script {path} cannot be read: {reason}")]
    #[diagnostic(help("check the path given to --script"))]
    ScriptUnreadable { path: String, reason: String },

    #[error("the strategy file {path} (given as the first argument) cannot be read: {reason}")]
    #[diagnostic(help(
        "check the file's name and folder, or give the event's page instead: pretix-race https://tickets.example.com/org/myevent/"
    ))]
    PositionalScriptUnreadable { path: String, reason: String },

    #[error("--browser {path}: no such file")]
    #[diagnostic(help(
        "give the browser's executable, e.g. --browser /usr/bin/chromium, or leave the flag out to use $CHROME or the usual places"
    ))]
    BrowserMissing { path: String },

    #[error("--imessage needs osascript (macOS), and there is none on PATH")]
    #[diagnostic(help(
        "iMessage alerts work on a Mac only; elsewhere use --webhook (e.g. an ntfy topic) or the desktop notification"
    ))]
    NoOsascript,

    #[error("--imessage needs a recipient")]
    #[diagnostic(help(
        "give the recipient as Messages knows it, e.g. +491701234567 or me@example.com"
    ))]
    NoRecipient,

    #[error("--resolve {value:?}: {reason}")]
    #[diagnostic(help(
        "give a host name and an IP address, e.g. --resolve tickets.example.com:203.0.113.7"
    ))]
    BadResolve { value: String, reason: String },

    #[error("nothing to watch: give the shop and event, or a strategy that names them")]
    #[diagnostic(help(
        "pretix-race --url https://tickets.example.com --event myevent, or pretix-race https://tickets.example.com/myevent/, or pretix-race festival.lua (a strategy whose table has `targets`)"
    ))]
    NoTarget,

    #[error("two strategy files: one given as an argument, one with --script")]
    #[diagnostic(help("give the strategy once"))]
    TwoScripts,

    #[error("no browser found for the hand-over")]
    #[diagnostic(help(
        "install Chrome or Chromium (Debian: apt-get install chromium), or give --browser PATH or $CHROME"
    ))]
    NoBrowser,

    #[error("--strategy shop needs --item: which product to add")]
    #[diagnostic(help(
        "give the product's id, e.g. --item 7: it is the number in the event page's item_<id> inputs (and article ids item-<id>); repeat --item for several, the first available wins"
    ))]
    ShopNeedsItem,

    #[error("--webhook {url}: a rehearsal sends nothing off this machine")]
    #[diagnostic(help(
        "point it at a loopback receiver (http://127.0.0.1:PORT/…), or add --allow-remote-webhook to send the rehearsal's events there"
    ))]
    RemoteWebhookInRehearsal { url: String },

    #[error("--until {value:?} is neither a clock time nor a duration")]
    #[diagnostic(help(
        "give a time today, e.g. --until 22:30 (local time), or how long, e.g. --until 90m or 2h"
    ))]
    BadUntil { value: String },

    #[error("--webhook {url} is on the shop's own site")]
    #[diagnostic(help(
        "a webhook goes to a receiver of yours (e.g. https://ntfy.sh/your-topic or your own server), never to the shop being watched"
    ))]
    WebhookOnShop { url: String },

    #[error("--allow-host {value:?} is not a host name")]
    #[diagnostic(help(
        "give the host alone, as in a URL but without scheme, port or path, e.g. --allow-host hooks.example.com"
    ))]
    BadAllowHost { value: String },

    #[error("--allow-host {value}: a rehearsal sends nothing off this machine")]
    #[diagnostic(help(
        "a rehearsal (and check) reaches loopback only, whatever the strategy asks; leave --allow-host for a real run"
    ))]
    AllowHostInRehearsal { value: String },

    #[error("unknown scenario {name:?}")]
    #[diagnostic(help("choose one of: {known}"))]
    UnknownScenario { name: String, known: String },

    // Issue 17 (F): the URL mistakes a fan makes.
    #[error("{value} is neither a strategy file nor a URL (no https://)")]
    #[diagnostic(help("did you mean https://{value} ?"))]
    NoScheme { value: String },

    #[error("--url {url} without --event: which event?")]
    #[diagnostic(help("{help}"))]
    UrlWithoutEvent { url: String, help: String },

    // Issue 16 D: event weights.
    #[error("{what}: the weight {value:?} is not a whole number from 1 to {MAX_WEIGHT}")]
    #[diagnostic(help(
        "a weight shares a busy shop's polls between its events: --event day1 --event day2:3 polls day2 three times as often as day1 while the shop's budget (one poll per 2 s) is short"
    ))]
    BadWeight { what: String, value: String },
}

/// The largest weight an event may have (`--event day2:3`, a target's `weight`).
pub const MAX_WEIGHT: u32 = 1000;

/// `--event SLUG[:WEIGHT]` into the slug and its weight (1 without one).
pub fn event_weight(value: &str) -> Result<(&str, u32), ConfigError> {
    match value.rsplit_once(':') {
        None => Ok((value, 1)),
        Some((slug, w)) => Ok((slug, parse_weight(&format!("--event {value}"), w)?)),
    }
}

/// A weight, 1 to [`MAX_WEIGHT`]; `what` names where it came from, for the error.
pub fn parse_weight(what: &str, value: &str) -> Result<u32, ConfigError> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|w| (1..=MAX_WEIGHT).contains(w))
        .ok_or_else(|| ConfigError::BadWeight {
            what: what.to_string(),
            value: value.to_string(),
        })
}

/// What sharing a remote host's floor means for the events watched on it, said at start-up: one
/// line per remote host with several events ("100 events on tickets.example.com: each is polled
/// about every 200 s"). Each event's rate is its weighted share of one poll per [`FLOOR`], no more
/// than its `interval` asks for (what an event leaves goes to the others, by weight).
pub fn budget_lines(targets: &[Watch], interval: Duration) -> Vec<String> {
    let mut hosts: Vec<(String, Vec<&Watch>)> = Vec::new();
    for t in targets {
        let target = Target::of(&t.url);
        if target.loopback {
            continue;
        }
        match hosts.iter_mut().find(|(h, _)| *h == target.host) {
            Some((_, ws)) => ws.push(t),
            None => hosts.push((target.host, vec![t])),
        }
    }
    let secs = |s: f64| {
        if s >= 10.0 {
            format!("{s:.0} s")
        } else {
            format!("{s:.1} s")
        }
    };
    let mut lines = Vec::new();
    for (host, ws) in hosts.into_iter().filter(|(_, ws)| ws.len() > 1) {
        let periods = shared_periods(&ws.iter().map(|w| w.weight).collect::<Vec<_>>(), interval);
        let all_same = ws.iter().all(|w| w.weight == ws[0].weight);
        let what = if all_same {
            let p = periods[0];
            let why = if p <= interval.as_secs_f64() * 1.0001 {
                " (--interval; the shop's budget of one poll per 2 s suffices)"
            } else {
                " (the shop's budget: one poll per 2 s, shared)"
            };
            format!("each is polled about every {}{why}", secs(p))
        } else {
            let each = ws
                .iter()
                .zip(&periods)
                .map(|(w, p)| {
                    let weight = if w.weight == 1 {
                        String::new()
                    } else {
                        format!(" (weight {})", w.weight)
                    };
                    format!("{}{weight} about every {}", w.event, secs(*p))
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!("{each} (one poll per 2 s for the shop, shared by weight)")
        };
        lines.push(format!("{} events on {host}: {what}", ws.len()));
    }
    lines
}

/// Each event's period between polls (s) when events of these weights share one poll per
/// [`FLOOR`], none polled more often than every `interval`: water-filling by weight.
pub fn shared_periods(weights: &[u32], interval: Duration) -> Vec<f64> {
    let wanted = 1.0 / interval.as_secs_f64().max(FLOOR.as_secs_f64());
    let mut budget = 1.0 / FLOOR.as_secs_f64();
    let mut rate = vec![0.0; weights.len()];
    let mut open: Vec<usize> = (0..weights.len()).collect();
    loop {
        let total: f64 = open.iter().map(|&i| f64::from(weights[i])).sum();
        let capped: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&i| budget * f64::from(weights[i]) / total >= wanted)
            .collect();
        if capped.is_empty() {
            for &i in &open {
                rate[i] = budget * f64::from(weights[i]) / total;
            }
            break;
        }
        for &i in &capped {
            rate[i] = wanted;
            budget -= wanted;
        }
        open.retain(|i| !capped.contains(i));
        if open.is_empty() {
            break;
        }
    }
    rate.iter().map(|r| 1.0 / r).collect()
}

/// What this invocation does, with everything it needs resolved and checked.
pub enum Mode {
    /// Watch live targets (`pretix-race …`).
    Race(Box<Config>, Notices),
    /// The same run against the simulated marketplace.
    #[cfg(feature = "simulator")]
    Rehearse(Box<Rehearsal>),
    HandoffTest(HandoffTest, Notices),
    AlertTest(AlertTest),
    /// Print a shell's completion script.
    Completions(clap_complete::Shell),
    /// Print the man page.
    Man,
    /// Rehearse a strategy against every scenario.
    Check(crate::cli::CheckArgs),
}

/// `rehearse`: the scenario, and a run's configuration whose targets and trusted root are the
/// simulator's, filled in once it has started (its port is only known then).
#[cfg(feature = "simulator")]
pub struct Rehearsal {
    pub scenario: crate::sim::Scenario,
    /// How the log names the scenario.
    pub name: String,
    /// The fresh folder its files went to (printed at the end), unless --log-dir named one.
    pub files: Option<PathBuf>,
    pub config: Config,
    pub notices: Notices,
}

/// `handoff-test`: against the simulator, or a live event page (nothing is bought).
pub struct HandoffTest {
    pub live: Option<Watch>,
    pub browser: PathBuf,
    pub client: ClientConfig,
    pub log_dir: PathBuf,
    pub imessage: Option<String>,
    pub headless_browser: bool,
    pub verbose: bool,
}

/// `alert-test`: the channels to try.
pub struct AlertTest {
    pub imessage: Option<String>,
    pub desktop: bool,
    pub webhook: Option<Url>,
    pub client: ClientConfig,
}

/// Resolves the command line into what to do.
pub fn mode(cli: Cli) -> Result<Mode, ConfigError> {
    match cli.command {
        #[cfg(feature = "simulator")]
        Some(Command::Rehearse(r)) => rehearsal(*r).map(|r| Mode::Rehearse(Box::new(r))),
        #[cfg(not(feature = "simulator"))]
        Some(Command::Rehearse(_)) => Err(ConfigError::NoSimulator {
            command: "rehearse",
        }),
        #[cfg(not(feature = "simulator"))]
        Some(Command::Check(_)) => Err(ConfigError::NoSimulator { command: "check" }),
        Some(Command::HandoffTest(h)) => handoff_test(h).map(|(h, n)| Mode::HandoffTest(h, n)),
        Some(Command::AlertTest(a)) => alert_test(a).map(Mode::AlertTest),
        Some(Command::Completions { shell }) => Ok(Mode::Completions(shell)),
        Some(Command::Man) => Ok(Mode::Man),
        #[cfg(feature = "simulator")]
        Some(Command::Check(mut c)) => {
            if c.strategy.is_none() && c.script.as_deref().is_some_and(shop_script) {
                c.strategy = Some(Strategy::Shop);
                c.kind_from_script = true;
            }
            if let Some(p) = &c.script {
                std::fs::metadata(p).map_err(|e| ConfigError::ScriptUnreadable {
                    path: p.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
            Ok(Mode::Check(c))
        }
        None => {
            let mut run = cli.run;
            let (mut url, mut events) = (cli.url, cli.events);
            match cli.target {
                Some(t) if t.starts_with("https://") || t.starts_with("http://") => {
                    let (u, e) = split_event_url(&t)?;
                    // `…/democon/?voucher=CODE`, as pretix's own voucher links read.
                    if run.voucher.is_none() {
                        run.voucher = Url::parse(&t).ok().and_then(|u| {
                            u.query_pairs()
                                .find(|(k, _)| k == "voucher")
                                .map(|(_, v)| v.into_owned())
                        });
                    }
                    if url.is_none() {
                        url = Some(u);
                    }
                    if events.is_empty() {
                        events.push(e);
                    }
                }
                Some(t) if looks_like_a_url_without_scheme(&t) => {
                    return Err(ConfigError::NoScheme { value: t });
                }
                Some(t) => {
                    if run.script.is_some() {
                        return Err(ConfigError::TwoScripts);
                    }
                    std::fs::metadata(&t).map_err(|e| ConfigError::PositionalScriptUnreadable {
                        path: t.clone(),
                        reason: e.to_string(),
                    })?;
                    run.script = Some(t.into());
                }
                None => {}
            }
            resolve(url.as_deref(), &events, &run, DEFAULT_INTERVAL, vec![])
                .map(|(c, notices)| Mode::Race(Box::new(c), notices))
        }
    }
}

/// Said when `rehearse`/`check` take a script's kind from the script itself.
pub const SHOP_BY_SCRIPT: &str = "the script is built on race.shop_strategy: rehearsing it against the shop's scenarios (as with --strategy shop)";

/// A script built on the shop strategy: it `require`s `race.shop_strategy`, or polls the shop
/// itself (`poll_shop`), in its code or in the code of a module of its own that it requires (found
/// beside it, as `require` finds them: `helpers.shop` is `helpers/shop.lua` or
/// `helpers/shop/init.lua`). A comment or a message that mentions either is no evidence.
#[cfg(feature = "simulator")]
fn shop_script(path: &std::path::Path) -> bool {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![path.to_path_buf()];
    while let Some(p) = todo.pop() {
        // A module tree is small; a cycle of requires is read once.
        if seen.len() >= 64 || !seen.insert(p.clone()) {
            continue;
        }
        let Ok(source) = std::fs::read_to_string(&p) else {
            continue;
        };
        let (shop, required) = script_facts(&source);
        if shop {
            return true;
        }
        for name in required {
            if name == "race"
                || name.starts_with("race.")
                || name.contains("..")
                || name.starts_with(['/', '\\'])
            {
                continue;
            }
            let rel = name.replace('.', "/");
            let found = [
                dir.join(format!("{rel}.lua")),
                dir.join(&rel).join("init.lua"),
            ]
            .into_iter()
            .find(|c| c.is_file());
            todo.extend(found);
        }
    }
    false
}

#[cfg(all(feature = "simulator", test))]
fn is_shop_script(source: &str) -> bool {
    script_facts(source).0
}

/// Whether `source`'s code shows the shop strategy (see `shop_script`), and the modules it
/// requires by a literal name.
#[cfg(feature = "simulator")]
fn script_facts(source: &str) -> (bool, Vec<String>) {
    let (code, strings) = lua_code(source);
    let required: Vec<&String> = strings
        .iter()
        .filter(|(at, _)| {
            code[..*at]
                .trim_end()
                .trim_end_matches('(')
                .trim_end()
                .ends_with("require")
        })
        .map(|(_, s)| s)
        .collect();
    let polls = code
        .match_indices("poll_shop")
        .any(|(i, _)| !code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
    let shop = polls || required.iter().any(|s| *s == "race.shop_strategy");
    (shop, required.into_iter().cloned().collect())
}

/// A Lua source without its comments, each string literal replaced by a space, and the
/// literals' contents with where they stood in the code. A rough lexer: enough to tell code
/// from prose, never to run anything.
#[cfg(feature = "simulator")]
fn lua_code(source: &str) -> (String, Vec<(usize, String)>) {
    let b = source.as_bytes();
    let (mut code, mut strings) = (String::new(), Vec::new());
    let mut i = 0;
    // `[[`, `[==[`: the level of a long bracket starting at `j`, if one does.
    let long_open = |j: usize| -> Option<usize> {
        let mut k = j + 1;
        while b.get(k) == Some(&b'=') {
            k += 1;
        }
        (b.get(j) == Some(&b'[') && b.get(k) == Some(&b'[')).then_some(k - j - 1)
    };
    let long_end = |from: usize, level: usize| -> (usize, usize) {
        let close = format!("]{}]", "=".repeat(level));
        match source[from..].find(&close) {
            Some(n) => (from + n, from + n + close.len()),
            None => (source.len(), source.len()),
        }
    };
    while i < b.len() {
        if b[i..].starts_with(b"--") {
            match long_open(i + 2) {
                Some(level) => i = long_end(i + 4 + level, level).1,
                None => {
                    i = source[i..].find('\n').map_or(source.len(), |n| i + n);
                }
            }
            code.push(' ');
        } else if let Some(level) = long_open(i) {
            let start = i + 2 + level;
            let (end, next) = long_end(start, level);
            strings.push((code.len(), source[start..end].to_string()));
            code.push(' ');
            i = next;
        } else if b[i] == b'"' || b[i] == b'\'' {
            let quote = b[i];
            let mut j = i + 1;
            while j < b.len() && b[j] != quote && b[j] != b'\n' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = j.min(b.len());
            strings.push((code.len(), source[i + 1..end].to_string()));
            code.push(' ');
            i = end + 1;
        } else {
            let c = source[i..].chars().next().unwrap_or(' ');
            code.push(c);
            i += c.len_utf8();
        }
    }
    (code, strings)
}

#[cfg(feature = "simulator")]
fn rehearsal(mut r: crate::cli::RehearseArgs) -> Result<Rehearsal, ConfigError> {
    use crate::sim::Scenario;
    // A script built on race.shop_strategy is rehearsed as one, unless --strategy says otherwise.
    let kind_from_script =
        r.run.strategy.is_none() && r.run.script.as_deref().is_some_and(shop_script);
    if kind_from_script {
        r.run.strategy = Some(Strategy::Shop);
    }
    // The shop strategy rehearses against the simulated main shop, and its day ticket.
    if r.run.strategy == Some(Strategy::Shop) {
        if r.scenario == "standard" {
            r.scenario = "shop".into();
        }
        if r.run.items.is_empty() {
            r.run.items.push("7".into());
        }
    }
    let (mut scenario, name) = match r.seed {
        Some(seed) => (Scenario::random(seed), format!("random, seed {seed}")),
        None => (
            Scenario::named(&r.scenario).ok_or_else(|| ConfigError::UnknownScenario {
                name: r.scenario.clone(),
                known: Scenario::NAMES.join(", "),
            })?,
            r.scenario.clone(),
        ),
    };
    scenario.locale = r.locale.clone();
    scenario.events = r.events.clamp(1, 20);
    // Nothing leaves the machine, whoever asks: the one way out is the user's own --webhook,
    // with --allow-remote-webhook on the same command line.
    let mut allowed = Vec::new();
    if let Some(w) = &r.run.webhook {
        let url = parse_url("--webhook", w)?;
        let target = Target::of(&url);
        if !target.loopback {
            if !r.allow_remote_webhook {
                return Err(ConfigError::RemoteWebhookInRehearsal { url: w.clone() });
            }
            allowed.push(target.host);
        }
    }
    if let Some(h) = r.run.allow_host.first() {
        return Err(ConfigError::AllowHostInRehearsal { value: h.clone() });
    }
    // Its files go to a fresh folder of their own, never into the current one.
    let fresh = r.run.log_dir.is_none();
    if fresh {
        let dir = std::env::temp_dir().join(format!(
            "pretix-race-rehearsal-{}-{}",
            crate::clock::compact(std::time::SystemTime::now()),
            std::process::id()
        ));
        r.run.state_dir.get_or_insert_with(|| dir.join("state"));
        r.run.log_dir = Some(dir);
    }
    // Checked now as a run's flags are; the targets come once the simulator is up.
    let placeholder = Some("https://127.0.0.1");
    let (mut config, notices) = resolve(
        placeholder,
        &[scenario.event.clone()],
        &r.run,
        REHEARSAL_INTERVAL,
        vec![],
    )?;
    let mut notices = notices;
    if kind_from_script {
        notices.notes.push(SHOP_BY_SCRIPT.to_string());
    }
    config.targets.clear();
    config.local_only = true;
    config.time_limit = Some(r.time_limit).filter(|d| !d.is_zero());
    // A rehearsal ends at its time limit: a script that loops without waiting never reaches the
    // deadline's check, so it is stopped as a runaway (at its line) by then, not after 30 s.
    if let Some(limit) = config.time_limit {
        config.runaway_after = config.runaway_after.min(limit);
    }
    config.allow_hosts = allowed;
    Ok(Rehearsal {
        scenario,
        name,
        files: fresh.then(|| config.log_dir.clone()),
        config,
        notices,
    })
}

fn handoff_test(a: HandoffTestArgs) -> Result<(HandoffTest, Notices), ConfigError> {
    if let Some(to) = &a.imessage {
        check_imessage(to)?;
    }
    let (mut warnings, mut notes) = (Vec::new(), Vec::new());
    let browser = resolve_browser(a.browser.as_deref(), &mut warnings, &mut notes)?
        .ok_or(ConfigError::NoBrowser)?;
    let live = match (&a.url, &a.event) {
        (Some(u), Some(e)) => {
            let (url, event) = target(u, e)?;
            Some(Watch {
                url,
                event,
                item: None,
                weight: 1,
            })
        }
        _ => None,
    };
    let test = HandoffTest {
        live,
        browser,
        client: client(&a.net, Vec::new())?,
        log_dir: a.log_dir,
        imessage: a.imessage,
        headless_browser: a.headless_browser,
        verbose: a.verbose,
    };
    Ok((test, Notices { warnings, notes }))
}

fn alert_test(a: AlertTestArgs) -> Result<AlertTest, ConfigError> {
    // Every channel's flag is checked before anything is sent.
    let webhook = a
        .webhook
        .as_deref()
        .map(|w| parse_url("--webhook", w))
        .transpose()?;
    if let Some(to) = &a.imessage {
        check_imessage(to)?;
    }
    Ok(AlertTest {
        imessage: a.imessage,
        desktop: a.desktop,
        webhook,
        client: client(&a.net, Vec::new())?,
    })
}

/// Where the strategy comes from.
#[derive(Clone, Debug)]
pub enum ScriptSource {
    /// The built-in marketplace strategy (`scripts/default.lua`).
    Default,
    /// The built-in main-shop strategy (`scripts/shop.lua`).
    Shop,
    File {
        path: PathBuf,
        source: String,
    },
}

/// One event to watch: the shop's base URL and the event's slug (and, optionally, a product), and
/// its weight in sharing a busy shop's polls with the other events (1 by default).
#[derive(Clone, Debug, PartialEq)]
pub struct Watch {
    pub url: Url,
    pub event: String,
    pub item: Option<String>,
    pub weight: u32,
}

impl Watch {
    /// The event page: `{url}/{event}/`.
    pub fn event_url(&self) -> Url {
        event_url(&self.url, &self.event)
    }
}

/// The flags of a run, resolved and checked: nothing here is made or started (the run's browser,
/// sessions and alerts are the run's own, `app`), and what resolving had to say is in [`Notices`].
#[derive(Clone, Debug)]
pub struct Config {
    /// The events named by flags (`--url` with one or more `--event`s); empty when the strategy
    /// names its own (`targets` in the table it returns).
    pub targets: Vec<Watch>,
    pub interval: Duration,
    pub item: Option<String>,
    /// `--item`s, in order (the shop strategy tries them in this order).
    pub items: Vec<String>,
    pub variation: Option<String>,
    pub count: u32,
    /// `--voucher` (or an event URL's `?voucher=`).
    pub voucher: Option<String>,
    /// `--date`s: an event series' dates to watch.
    pub dates: Vec<String>,
    pub max_price: Option<f64>,
    pub matches: Vec<String>,
    pub want: u32,
    /// Seconds from start-up until `--until`.
    pub until: Option<Duration>,
    /// A rehearsal's `--time-limit` (none for a real run).
    pub time_limit: Option<Duration>,
    /// `--result-file`: where the run's ending is written as JSON (for `check`).
    pub result_file: Option<PathBuf>,
    pub sort: Sort,
    pub dry_run: bool,
    pub imessage: Option<String>,
    pub webhook: Option<Url>,
    /// Pause before a failed webhook's second try.
    pub webhook_retry_pause: Duration,
    /// `--allow-host`s, normalised: hosts beyond the targets' and the webhook's that requests
    /// may reach (see `core::gate`).
    pub allow_hosts: Vec<String>,
    /// A rehearsal: requests reach loopback only (and the `--webhook` host, with
    /// `--allow-remote-webhook`), whoever asks.
    pub local_only: bool,
    pub poll_inactive: Option<Duration>,
    pub script: ScriptSource,
    /// Errors in an overridden decision end the run (`--strict`).
    pub strict: bool,
    pub memory_limit_mb: usize,
    /// How long a strategy may compute without waiting on the API (the runaway watchdog).
    pub runaway_after: Duration,
    /// How long the browser gets to show the checkout (`--handoff-timeout`, hidden).
    pub handoff_timeout: Duration,
    pub client: ClientConfig,
    pub log_dir: PathBuf,
    /// Where `race.store` keeps its file.
    pub state_dir: PathBuf,
    /// The browser for the hand-over.
    pub browser: Browser,
    /// `--browser-early`: the browser starts at start-up, on the status page.
    pub browser_early: bool,
    /// `-v`: debug lines; `-q`: only warnings and errors.
    pub verbose: bool,
    pub quiet: bool,
    pub log_format: crate::log::Format,
    /// `--strategy` as given (a script of the other kind is said so, not hinted at it).
    pub strategy: Option<crate::cli::Strategy>,
}

/// What resolving the flags had to say (a browser found, an aggressive interval): the run prints
/// it once its logging is set up.
#[derive(Clone, Debug, Default)]
pub struct Notices {
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

impl Config {
    /// The first event page named by flags, if any.
    pub fn event_url(&self) -> Option<Url> {
        self.targets.first().map(Watch::event_url)
    }
}

pub fn user_agent_default() -> String {
    format!("pretix-race/{}", env!("CARGO_PKG_VERSION"))
}

/// A positional argument that is no file but reads like `pretix.eu/demo/democon/` or
/// `tickets.example.com`: a URL without its scheme, not a strategy whose file is missing.
fn looks_like_a_url_without_scheme(value: &str) -> bool {
    let host = value.split('/').next().unwrap_or("");
    !value.contains("://")
        && !value.ends_with(".lua")
        && !std::path::Path::new(value).exists()
        && host.contains('.')
        && !host.starts_with('.')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
}

/// `--url` given alone: the fan may have put the event in it (`--url https://pretix.eu/demo/democon`).
fn url_without_event(url: &str) -> ConfigError {
    let trimmed = url.trim().trim_end_matches('/');
    let segments = Url::parse(trimmed)
        .ok()
        .and_then(|u| {
            u.path_segments()
                .map(|s| s.filter(|p| !p.is_empty()).count())
        })
        .unwrap_or(0);
    let help = match split_event_url(trimmed) {
        // Two segments or more (`/demo/democon`): the last is surely the event.
        Ok((base, event)) if segments >= 2 => format!(
            "name the event with --event: --url {} --event {event}, or give the event's page alone: pretix-race {trimmed}/",
            base.trim_end_matches('/')
        ),
        _ => "name the event with --event SLUG (the path segment after the shop URL), or give the event's page alone: pretix-race https://tickets.example.com/myevent/".to_string(),
    };
    ConfigError::UrlWithoutEvent {
        url: url.to_string(),
        help,
    }
}

/// A URL flag: https, or plain http for a loopback host.
pub fn parse_url(flag: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim()).map_err(|e| ConfigError::BadUrl {
        flag,
        value: value.to_string(),
        reason: match e {
            url::ParseError::RelativeUrlWithoutBase => {
                format!("no scheme: did you mean https://{}", value.trim())
            }
            e => e.to_string(),
        },
    })?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if Target::of(&url).loopback => Ok(url),
        "http" => Err(ConfigError::Insecure {
            flag,
            url: value.to_string(),
        }),
        other => Err(ConfigError::BadUrl {
            flag,
            value: value.to_string(),
            reason: format!("{other}: is not http(s)"),
        }),
    }
}

/// `{url}/{event}/`, whether or not the shop URL ends in a slash.
pub fn event_url(url: &Url, event: &str) -> Url {
    let mut u = url.clone();
    let base = u.path().trim_end_matches('/').to_string();
    u.set_path(&format!("{base}/{event}/"));
    u.set_query(None);
    u
}

/// The shop URL (https, or http for loopback) and the event slug.
pub fn target(url: &str, event: &str) -> Result<(Url, String), ConfigError> {
    let url = parse_url("--url", url)?;
    let event = event.trim().trim_matches('/').to_string();
    if event.is_empty() || event.contains(['/', '?', '#', ' ']) {
        return Err(ConfigError::BadEvent { value: event });
    }
    // `https://shop/org/day1` with event day1 would be fetched as /org/day1/day1/.
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    if let Some((_, shop)) = segments.split_last().filter(|(l, _)| **l == event) {
        let mut base = url.clone();
        base.set_path(&format!("/{}", shop.join("/")));
        return Err(ConfigError::UrlEndsInEvent {
            url: url.to_string().trim_end_matches('/').to_string(),
            event,
            base: base.to_string().trim_end_matches('/').to_string(),
        });
    }
    Ok((url, event))
}

/// An event's full URL (`https://pretix.eu/demo/democon/`) as the shop URL and the slug: the last
/// path segment is the event.
pub fn split_event_url(value: &str) -> Result<(String, String), ConfigError> {
    let url = parse_url("the event URL", value)?;
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    let Some((event, shop)) = segments.split_last() else {
        return Err(ConfigError::BadUrl {
            flag: "the event URL",
            value: value.to_string(),
            reason:
                "it names no event (give the event's page, e.g. https://pretix.eu/demo/democon/)"
                    .into(),
        });
    };
    let mut base = url.clone();
    base.set_path(&format!("/{}", shop.join("/")));
    base.set_query(None);
    base.set_fragment(None);
    Ok((base.to_string(), event.to_string()))
}

/// Checks one target, from flags or from a strategy: https (http only for loopback), a slug, and
/// the interval floor for a remote host (warnings for an aggressive one go to `warnings`).
pub fn check_target(
    url: &str,
    event: &str,
    item: Option<String>,
    interval: Duration,
    warnings: &mut Vec<String>,
) -> Result<Watch, ConfigError> {
    let (url, event) = target(url, event)?;
    let Target { host, loopback, .. } = Target::of(&url);
    if !loopback {
        if interval < FLOOR {
            return Err(ConfigError::IntervalBelowFloor {
                secs: interval.as_secs_f64(),
                floor: FLOOR.as_secs(),
                host,
            });
        }
        if interval < WARN_BELOW {
            let w = format!(
                "--interval {} s is aggressive for {host}: shops block clients (and switch marketplaces off) for polling like bots; 5 s or more is kinder",
                interval.as_secs_f64()
            );
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
    }
    Ok(Watch {
        url,
        event,
        item: item.filter(|s| !s.trim().is_empty()),
        weight: 1,
    })
}

/// How every HTTPS client is built: the User-Agent, and the extra trusted roots from
/// `--ca-cert`, `SSL_CERT_FILE` and the caller (the simulator's CA), each checked to hold
/// certificates.
pub fn client(
    net: &NetArgs,
    extra_roots: Vec<crate::core::http::Root>,
) -> Result<ClientConfig, ConfigError> {
    let mut roots = extra_roots;
    let mut read_pem = |label: String, path: &std::path::Path| -> Result<(), ConfigError> {
        let bad = |reason: String| ConfigError::BadCaCert {
            path: label.clone(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        roots.extend(crate::core::http::parse_roots(&pem).map_err(bad)?);
        Ok(())
    };
    if let Some(p) = &net.ca_cert {
        read_pem(p.display().to_string(), p)?;
    }
    if let Some(p) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        read_pem(format!("{} (from SSL_CERT_FILE)", p.display()), &p)?;
    }
    let resolve = net
        .resolve
        .iter()
        .map(|r| parse_resolve(r))
        .collect::<Result<_, _>>()?;
    Ok(ClientConfig {
        user_agent: net.user_agent.clone().unwrap_or_else(user_agent_default),
        extra_roots: roots,
        timeout: None,
        stall_after: Some(net.stall_after),
        resolve,
        ..ClientConfig::default()
    })
}

/// `NAME:ADDR` (ADDR an IPv4 address, or IPv6 with or without brackets) into a name and a socket
/// address whose port 0 means "the URL's".
pub fn parse_resolve(value: &str) -> Result<(String, std::net::SocketAddr), ConfigError> {
    let bad = |reason: &str| ConfigError::BadResolve {
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let (name, addr) = value
        .trim()
        .split_once(':')
        .ok_or_else(|| bad("expected NAME:ADDR"))?;
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() || name.parse::<std::net::IpAddr>().is_ok() {
        return Err(bad("NAME must be a host name"));
    }
    let addr = addr.trim().trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = addr
        .parse()
        .map_err(|_| bad("ADDR must be an IP address"))?;
    Ok((name, std::net::SocketAddr::new(ip, 0)))
}

/// Resolves the flags. `url` and `events` come from the command line, or from the simulator when
/// rehearsing (none when the strategy names its targets); `default_interval` differs between the
/// two.
pub fn resolve(
    url: Option<&str>,
    events: &[String],
    args: &RunArgs,
    default_interval: Duration,
    extra_roots: Vec<crate::core::http::Root>,
) -> Result<(Config, Notices), ConfigError> {
    let mut warnings = Vec::new();
    let interval = args.interval.unwrap_or(default_interval);
    let targets = match (url, events) {
        (None, []) => Vec::new(),
        (Some(url), []) => {
            return Err(url_without_event(url));
        }
        (None, [e, ..]) => {
            return Err(ConfigError::BadUrl {
                flag: "--url",
                value: String::new(),
                reason: format!("--event {e} needs --url (the shop's base URL)"),
            });
        }
        (Some(url), events) => events
            .iter()
            .map(|e| {
                let (slug, weight) = event_weight(e)?;
                let w = check_target(
                    url,
                    slug,
                    args.items.first().cloned(),
                    interval,
                    &mut warnings,
                );
                w.map(|w| Watch { weight, ..w })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    // The same event twice would be watched twice, at twice the rate.
    for (i, t) in targets.iter().enumerate() {
        if targets[..i].iter().any(|o| o.event_url() == t.event_url()) {
            return Err(ConfigError::EventTwice {
                event: t.event.clone(),
            });
        }
    }
    if targets.is_empty() && args.script.is_none() {
        return Err(ConfigError::NoTarget);
    }
    let webhook = args
        .webhook
        .as_deref()
        .map(|w| parse_url("--webhook", w))
        .transpose()?;
    if let Some(w) = &webhook {
        let shops = crate::core::gate::Reach::new();
        for t in &targets {
            shops.name_target(&t.url);
        }
        if shops.is_target_site(w) {
            return Err(ConfigError::WebhookOnShop { url: w.to_string() });
        }
    }

    let mut client = client(&args.net, extra_roots)?;
    client.timeout = Some(args.request_timeout.max(Duration::from_millis(100)));

    let script = match &args.script {
        // `--strategy shop --script s.lua`: s.lua is a shop strategy (built on
        // race.shop_strategy): run as given; a rehearsal and `check` use the shop's scenarios.
        None if args.strategy == Some(Strategy::Shop) => {
            if args.items.is_empty() {
                return Err(ConfigError::ShopNeedsItem);
            }
            ScriptSource::Shop
        }
        None => ScriptSource::Default,
        Some(path) => {
            let source =
                std::fs::read_to_string(path).map_err(|e| ConfigError::ScriptUnreadable {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            ScriptSource::File {
                path: path.clone(),
                source,
            }
        }
    };
    let log_dir = args
        .log_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("./live-responses"));
    check_log_dir(&log_dir)?;
    let state_dir = args.state_dir.clone().unwrap_or_else(|| {
        log_dir
            .parent()
            .map(|p| p.join("pretix-race-state"))
            .unwrap_or_else(|| PathBuf::from("pretix-race-state"))
    });
    check_private_dir("--state-dir", &state_dir)?;
    let mut notes = Vec::new();
    let browser = if args.headless {
        Browser::Headless
    } else {
        match resolve_browser(args.browser.as_deref(), &mut warnings, &mut notes)? {
            Some(p) => Browser::Found(p),
            None if args.browser_early => return Err(ConfigError::NoBrowser),
            None => Browser::NotFound,
        }
    };
    if let Some(to) = &args.imessage {
        check_imessage(to)?;
    }

    let config = Config {
        targets,
        interval,
        item: args.items.first().cloned().filter(|s| !s.trim().is_empty()),
        items: args
            .items
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        variation: args.variation.clone().filter(|s| !s.trim().is_empty()),
        count: args.count.max(1),
        voucher: args
            .voucher
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        dates: args
            .dates
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        max_price: args.max_price.filter(|p| p.is_finite() && *p >= 0.0),
        matches: args
            .matches
            .iter()
            .map(|m| m.trim().to_lowercase())
            .filter(|m| !m.is_empty())
            .collect(),
        want: args.want.max(1),
        until: args.until.as_deref().map(parse_until).transpose()?,
        time_limit: None,
        result_file: args.result_file.clone(),
        sort: args.sort,
        dry_run: args.dry_run,
        imessage: args.imessage.clone(),
        webhook,
        webhook_retry_pause: args.webhook_retry_pause,
        allow_hosts: args
            .allow_host
            .iter()
            .map(|h| match crate::core::gate::normalise(h) {
                n if n.is_empty() => Err(ConfigError::BadAllowHost { value: h.clone() }),
                n => Ok(n),
            })
            .collect::<Result<_, _>>()?,
        local_only: false,
        poll_inactive: args.poll_inactive,
        script,
        strict: args.strict,
        memory_limit_mb: args.memory_limit_mb.max(16),
        runaway_after: args.runaway_after.max(Duration::from_millis(100)),
        handoff_timeout: args.handoff_timeout.max(Duration::from_millis(100)),
        client,
        state_dir,
        log_dir,
        browser,
        browser_early: args.browser_early,
        verbose: args.verbose,
        quiet: args.quiet,
        log_format: args.log_format,
        strategy: args.strategy,
    };
    Ok((config, Notices { warnings, notes }))
}

/// `--until`: a duration from now (`90m`, `2h`), or a clock time today (`22:30`, local time;
/// tomorrow if it has passed). Returns how long from now.
pub fn parse_until(value: &str) -> Result<Duration, ConfigError> {
    let bad = || ConfigError::BadUntil {
        value: value.to_string(),
    };
    let v = value.trim();
    if let Some((h, m)) = v.split_once(':') {
        let (h, m): (i64, i64) = (
            h.trim().parse().map_err(|_| bad())?,
            m.trim().parse().map_err(|_| bad())?,
        );
        if !(0..24).contains(&h) || !(0..60).contains(&m) {
            return Err(bad());
        }
        // Seconds since local midnight, now; then to the given time (tomorrow if it has passed).
        let local = i64::from(crate::clock::local_seconds_of_day(
            std::time::SystemTime::now(),
        ));
        let at = h * 3600 + m * 60;
        let wait = (at - local).rem_euclid(86_400);
        return Ok(Duration::from_secs(wait as u64));
    }
    crate::cli::parse_duration(v).map_err(|_| bad())
}

/// `--log-dir` is created (0700) and proved writable now, not at the moment a cart is secured;
/// like ssh with `~/.ssh`, a folder someone else owns or can write to is refused.
pub fn check_log_dir(dir: &std::path::Path) -> Result<(), ConfigError> {
    let bad = |reason: String| ConfigError::LogDir {
        path: dir.display().to_string(),
        reason,
    };
    crate::core::cookies::create_private_dir(dir).map_err(|e| bad(e.to_string()))?;
    check_private_dir("--log-dir", dir)?;
    // A name of this call's own: the file is created new, and two checks may run at once.
    static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = dir.join(format!(
        ".pretix-race-write-test-{}-{n}",
        std::process::id()
    ));
    crate::core::cookies::create_private(&probe)
        .map_err(|e| bad(format!("cannot write there: {e}")))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// A folder our files go into must be the user's own and closed to others' writes, or someone
/// else could plant a link under the name of the next cookie file. One that does not exist yet
/// is fine: pretix-race creates it 0700.
pub fn check_private_dir(flag: &'static str, dir: &std::path::Path) -> Result<(), ConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let unsafe_dir = |reason: String| ConfigError::UnsafeDir {
            flag,
            path: dir.display().to_string(),
            reason,
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        // Its parents too, as ssh checks them: someone who may rename entries in a parent can
        // swap the folder for another after this check. A parent must be yours or root's, and
        // closed to others' writes, or sticky (like /tmp: others cannot rename what is yours).
        // For a folder still to be made, from the nearest one that exists.
        let first = if dir.exists() { 1 } else { 0 };
        let start = dir.ancestors().find(|a| a.exists()).unwrap_or(dir);
        if let Ok(real) = std::fs::canonicalize(start) {
            for parent in real.ancestors().skip(first) {
                let Ok(p) = std::fs::metadata(parent) else {
                    continue;
                };
                let open = p.mode() & 0o022 != 0 && p.mode() & 0o1000 == 0;
                if (p.uid() != me && p.uid() != 0) || open {
                    return Err(unsafe_dir(format!(
                        "its parent folder {} {} (mode {:o}): whoever can rename entries there can swap the folder",
                        parent.display(),
                        if open {
                            "is open to others' writes"
                        } else {
                            "belongs to another user"
                        },
                        p.mode() & 0o7777
                    )));
                }
            }
        }
        let Ok(m) = std::fs::metadata(dir) else {
            return Ok(());
        };
        if m.uid() != me {
            return Err(unsafe_dir(format!(
                "the folder belongs to another user (uid {}, you are {me})",
                m.uid()
            )));
        }
        if m.mode() & 0o022 != 0 {
            return Err(unsafe_dir(format!(
                "others can write to the folder (mode {:o})",
                m.mode() & 0o777
            )));
        }
    }
    let _ = (flag, dir);
    Ok(())
}

/// `--imessage` works only where `osascript` is. The recipient is passed to Messages as it is
/// (as an argument, never as script text), so any phone number or address Messages knows works.
pub fn check_imessage(to: &str) -> Result<(), ConfigError> {
    if to.trim().is_empty() {
        return Err(ConfigError::NoRecipient);
    }
    if crate::core::notify::imessage::osascript().is_none() {
        return Err(ConfigError::NoOsascript);
    }
    Ok(())
}

/// `--browser`, `$CHROME` or the usual places; says which, or warns (now, not at the moment of
/// success) when there is none.
pub fn resolve_browser(
    explicit: Option<&std::path::Path>,
    warnings: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<Option<PathBuf>, ConfigError> {
    use crate::core::browser::{Search, find};
    if let Some(p) = explicit.filter(|p| !p.exists()) {
        return Err(ConfigError::BrowserMissing {
            path: p.display().to_string(),
        });
    }
    match find(explicit, std::env::var_os("CHROME"), &Search::here()) {
        Some(p) => {
            notes.push(format!("browser for the hand-over: {}", p.display()));
            let linux_like = cfg!(all(unix, not(target_os = "macos")));
            let display = ["DISPLAY", "WAYLAND_DISPLAY"]
                .iter()
                .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
            if linux_like && !display {
                warnings.push(
                    "no display (DISPLAY and WAYLAND_DISPLAY are unset): the browser window will likely fail to open; on a server use --headless and take the printed session over by hand"
                        .into(),
                );
            }
            Ok(Some(p))
        }
        None => {
            warnings.push(
                "no browser found (Chrome, Chromium, Brave or Edge; or set --browser / $CHROME): a secured cart will be saved and printed for you to take over by hand"
                    .into(),
            );
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shop_script_is_told_by_its_code_not_its_comments() {
        for shop in [
            "local s = require(\"race.shop_strategy\")\nreturn s\n",
            "local s = require 'race.shop_strategy'\nreturn s\n",
            "local s = require [[race.shop_strategy]]\nreturn s\n",
            "local p = race.session:poll_shop(race.options.event_url)\n",
        ] {
            assert!(is_shop_script(shop), "{shop}");
        }
        for market in [
            "-- unlike race.shop_strategy, this watches the marketplace\nreturn require(\"race.default\")\n",
            "--[[ require(\"race.shop_strategy\") would watch the shop ]]\nreturn require(\"race.default\")\n",
            "--[==[ poll_shop ]==]\nreturn require(\"race.default\")\n",
            "race.log.info(\"no poll_shop here; not race.shop_strategy either\")\nreturn require(\"race.default\")\n",
            "local my_poll_shop = 1\nreturn require(\"race.default\")\n",
            "local x = \"it's \\\" race.shop_strategy\"\nreturn require(\"race.default\")\n",
        ] {
            assert!(!is_shop_script(market), "{market}");
        }
    }
    #[test]
    fn a_shop_script_is_told_through_the_modules_it_requires() {
        let dir = tempfile::tempdir().unwrap();
        let put = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        put("myshop.lua", "return require(\"race.shop_strategy\")\n");
        put(
            "lib/watch/init.lua",
            "local s = require 'myshop'\nreturn s\n",
        );
        put("a.lua", "return require(\"b\")\n");
        put("b.lua", "return require(\"a\")\n");
        put(
            "market.lua",
            "-- require(\"myshop\") is not used\nreturn require(\"race.default\")\n",
        );
        for (script, shop) in [
            ("entry.lua", "return require(\"myshop\")\n"),
            ("nested.lua", "return require(\"lib.watch\")\n"),
            ("cycle.lua", "return require(\"a\")\n"),
            ("uses_market.lua", "return require(\"market\")\n"),
            ("missing.lua", "return require(\"nowhere\")\n"),
        ] {
            put(script, shop);
        }
        assert!(shop_script(&dir.path().join("entry.lua")));
        assert!(shop_script(&dir.path().join("nested.lua")));
        assert!(!shop_script(&dir.path().join("cycle.lua")));
        assert!(!shop_script(&dir.path().join("uses_market.lua")));
        assert!(!shop_script(&dir.path().join("missing.lua")));
    }

    use clap::Parser;

    fn args(extra: &[&str]) -> RunArgs {
        // Headless: the browser found (or not) on this machine must not change the results.
        let mut v = vec![
            "pretix-race",
            "--url",
            "https://x",
            "--event",
            "e",
            "--headless",
        ];
        v.extend_from_slice(extra);
        crate::cli::Cli::try_parse_from(v).unwrap().run
    }

    fn go(url: &str, extra: &[&str]) -> Result<(Config, Notices), ConfigError> {
        resolve(
            Some(url),
            &["myevent".to_string()],
            &args(extra),
            DEFAULT_INTERVAL,
            vec![],
        )
    }

    #[test]
    fn resolves_defaults() {
        let (c, notices) = go("https://tickets.example.com", &[]).unwrap();
        assert_eq!(c.interval, DEFAULT_INTERVAL);
        assert_eq!(
            c.event_url().unwrap().as_str(),
            "https://tickets.example.com/myevent/"
        );
        assert_eq!(
            c.client.user_agent,
            format!("pretix-race/{}", env!("CARGO_PKG_VERSION"))
        );
        assert!(notices.warnings.is_empty());
        let (c, _) = go("https://tickets.example.com/shop/", &[]).unwrap();
        assert_eq!(
            c.event_url().unwrap().as_str(),
            "https://tickets.example.com/shop/myevent/"
        );
    }

    #[test]
    fn interval_floor_for_remote_hosts_only() {
        assert!(matches!(
            go("https://tickets.example.com", &["--interval", "1.5"]),
            Err(ConfigError::IntervalBelowFloor { .. })
        ));
        let (_, notices) = go("https://tickets.example.com", &["--interval", "3"]).unwrap();
        assert_eq!(notices.warnings.len(), 1);
        let (_, notices) = go("https://127.0.0.1:8443", &["--interval", "0"]).unwrap();
        assert!(notices.warnings.is_empty());
    }

    #[test]
    fn http_only_for_loopback() {
        assert!(matches!(
            go("http://tickets.example.com", &[]),
            Err(ConfigError::Insecure { .. })
        ));
        assert!(go("http://localhost:8000", &[]).is_ok());
        assert!(matches!(
            go(
                "https://t.example",
                &["--webhook", "http://hooks.example.com/x"]
            ),
            Err(ConfigError::Insecure {
                flag: "--webhook",
                ..
            })
        ));
        assert!(matches!(
            go("not a url", &[]),
            Err(ConfigError::BadUrl { .. })
        ));
    }

    #[test]
    fn the_budget_of_a_busy_shop_is_said_per_host() {
        let watch = |url: &str, event: String, weight| Watch {
            url: Url::parse(url).unwrap(),
            event,
            item: None,
            weight,
        };
        let many: Vec<_> = (0..100)
            .map(|i| watch("https://tickets.example.com", format!("e{i}"), 1))
            .collect();
        assert_eq!(
            budget_lines(&many, DEFAULT_INTERVAL),
            [
                "100 events on tickets.example.com: each is polled about every 200 s (the shop's budget: one poll per 2 s, shared)"
            ]
        );
        // Few enough for the interval; loopback and single events say nothing.
        let mut few: Vec<_> = (0..3)
            .map(|i| watch("https://Tickets.example.com.", format!("e{i}"), 1))
            .collect();
        few.push(watch("https://127.0.0.1:8443", "lo".into(), 1));
        few.push(watch("https://127.0.0.1:8443", "lo2".into(), 1));
        few.push(watch("https://other.example.com", "x".into(), 1));
        assert_eq!(
            budget_lines(&few, DEFAULT_INTERVAL),
            [
                "3 events on tickets.example.com: each is polled about every 15 s (--interval; the shop's budget of one poll per 2 s suffices)"
            ]
        );
        // Weights share what is short: 1 and 3 of one poll per 2 s, at interval 2.
        let periods = shared_periods(&[1, 3], FLOOR);
        assert!((periods[0] - 8.0).abs() < 1e-9 && (periods[1] - 8.0 / 3.0).abs() < 1e-9);
        // An event whose interval asks for less leaves the rest to the others.
        let periods = shared_periods(&[1, 1, 1, 1, 4], Duration::from_secs(5));
        assert!((periods[4] - 5.0).abs() < 1e-9, "{periods:?}");
        assert!((periods[0] - 40.0 / 3.0).abs() < 1e-9, "{periods:?}");
        assert_eq!(event_weight("day2:3").unwrap(), ("day2", 3));
        assert_eq!(event_weight("day1").unwrap(), ("day1", 1));
        for bad in ["day2:0", "day2:x", "day2:", "day2:1001", "day2:-1"] {
            assert!(event_weight(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn several_events_and_the_event_url_shorthand() {
        let c = resolve(
            Some("https://t.example/org"),
            &["day1".into(), "day2".into()],
            &args(&[]),
            DEFAULT_INTERVAL,
            vec![],
        )
        .unwrap()
        .0;
        let urls: Vec<String> = c
            .targets
            .iter()
            .map(|t| t.event_url().to_string())
            .collect();
        assert_eq!(
            urls,
            ["https://t.example/org/day1/", "https://t.example/org/day2/"]
        );
        assert_eq!(
            split_event_url("https://pretix.eu/demo/democon/").unwrap(),
            ("https://pretix.eu/demo".to_string(), "democon".to_string())
        );
        assert_eq!(
            split_event_url("https://tickets.example.com/myevent").unwrap(),
            (
                "https://tickets.example.com/".to_string(),
                "myevent".to_string()
            )
        );
        assert!(split_event_url("https://tickets.example.com/").is_err());
        assert!(split_event_url("http://tickets.example.com/x/").is_err());
    }

    #[test]
    fn until_a_time_or_a_duration() {
        assert_eq!(parse_until("90m").unwrap(), Duration::from_secs(5400));
        let t = parse_until("23:59").unwrap();
        assert!(t <= Duration::from_secs(86_400), "{t:?}");
        for bad in ["25:00", "12:75", "soon", ""] {
            assert!(parse_until(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolve_names_an_address() {
        let (n, a) = parse_resolve("Market.Test:127.0.0.1").unwrap();
        assert_eq!(
            (n.as_str(), a.to_string().as_str()),
            ("market.test", "127.0.0.1:0")
        );
        let (_, a) = parse_resolve("m.test:[::1]").unwrap();
        assert_eq!(a.ip().to_string(), "::1");
        for bad in [
            "m.test",
            "m.test:nowhere",
            "127.0.0.1:127.0.0.2",
            ":1.2.3.4",
        ] {
            assert!(parse_resolve(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_ca_and_missing_script() {
        assert!(matches!(
            go("https://t.example", &["--ca-cert", "/nonexistent.pem"]),
            Err(ConfigError::BadCaCert { .. })
        ));
        assert!(matches!(
            go("https://t.example", &["--script", "/nonexistent.lua"]),
            Err(ConfigError::ScriptUnreadable { .. })
        ));
    }
}
