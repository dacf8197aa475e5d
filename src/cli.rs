//! Command-line flags, as the user types them. Doc comments here are the help text. Values are
//! only parsed, not judged: [`crate::config`] resolves them once into a checked `Config`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Watch a pretix secondhand marketplace, put a listed ticket in your cart the instant it appears,
/// and hand the session to your browser, where you finish checkout yourself.
///
/// What happens is decided by a Lua script: the built-in default (discover the marketplace from
/// the event page, poll it politely, take the first listing in sort order, hand over; several
/// --event watched side by side), or your own: `pretix-race my.lua` (it may name its own targets)
/// or --script. The tool never polls a remote host more often than every 2 s, honours
/// Retry-After, backs off when the site is busy, and never pays for you.
#[derive(Debug, Parser)]
#[command(
    name = "pretix-race",
    version,
    subcommand_negates_reqs = true,
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  pretix-race --url https://tickets.example.com --event myevent\n  pretix-race https://tickets.example.com/myevent/        (the event's page, as a shorthand)\n  pretix-race --url https://tickets.example.com --event day1 --event day2 --item 965 --webhook https://hooks.example.com/pretix\n  pretix-race festival.lua        (a strategy file that names its own targets)\n  pretix-race rehearse            (a full run against the built-in simulated marketplace)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// A strategy file (Lua) to run, which may name its own targets; or an event's page
    /// (https://tickets.example.com/myevent/) as a shorthand for --url and --event.
    #[arg(value_name = "SCRIPT|EVENT_URL")]
    pub target: Option<String>,

    /// The shop's base URL, e.g. https://tickets.example.com (https; http only for loopback).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// The event's slug: the path segment after the base URL (…/myevent/). Repeat it to watch
    /// several events of the shop at once; the first cart ends the run. `SLUG:WEIGHT` (e.g.
    /// day2:3) gives an event a larger share of a busy shop's polls (one per 2 s for the host).
    #[arg(long = "event", value_name = "SLUG[:WEIGHT]")]
    pub events: Vec<String>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the chosen strategy against the built-in simulated marketplace (HTTPS, HTTP/2, cookies,
    /// CSRF, a lost race, a rate limit) and end with a secured cart. Nothing leaves this machine.
    Rehearse(Box<RehearseArgs>),

    /// Check the browser hand-over. With --simulate: secure a cart on the built-in simulated
    /// marketplace, open the browser with that session and verify over DevTools that it shows the
    /// checkout page with the cart. With --url/--event: open a live site's event page in the
    /// browser with a fresh session (nothing is bought) and show the cookies to compare.
    HandoffTest(HandoffTestArgs),

    /// Send one test message on each named channel and report, per channel, delivered or the
    /// exact error.
    AlertTest(AlertTestArgs),

    /// Print the shell completion script for SHELL (bash, zsh, fish, powershell, elvish), e.g.
    /// `pretix-race completions bash > ~/.local/share/bash-completion/completions/pretix-race`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print the man page (roff), e.g. `pretix-race man > pretix-race.1; man ./pretix-race.1`.
    Man,

    /// Rehearse a strategy against every simulated scenario at interval 0, strictly (an error in
    /// a decision fails), and print one row per scenario; exits non-zero if any fails.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("channel").required(true).multiple(true).args(["imessage", "desktop", "webhook"]))]
pub struct AlertTestArgs {
    /// Send a test iMessage to this phone number or e-mail (macOS).
    #[arg(long, value_name = "RECIPIENT")]
    pub imessage: Option<String>,

    /// Show a test desktop notification.
    #[arg(long)]
    pub desktop: bool,

    /// POST a test event to this URL (https; http only for loopback).
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,

    #[command(flatten)]
    pub net: NetArgs,
}

/// How pretix-race speaks HTTPS: shared by every command that makes requests.
#[derive(Debug, Args, Clone, Default)]
pub struct NetArgs {
    /// Also trust this CA certificate (PEM) for every HTTPS connection, webhook included.
    /// SSL_CERT_FILE is honoured as well.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// The User-Agent to send [default: pretix-race/<version>].
    #[arg(long, value_name = "STRING")]
    pub user_agent: Option<String>,

    /// Connect to ADDR for host NAME, as curl's --resolve (the URL's port is kept), e.g.
    /// tickets.example.com:203.0.113.7. Repeatable. The politeness rules still apply by NAME.
    #[arg(long, value_name = "NAME:ADDR")]
    pub resolve: Vec<String>,

    /// Give up on an answer whose body is not complete this long after its headers (a stalled or
    /// trickling answer), or on a GET whose headers take this long: the watch goes on with a fresh
    /// request.
    #[arg(long, value_name = "SECS", value_parser = parse_duration, default_value = "15", hide = true)]
    pub stall_after: Duration,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["simulate", "url"]))]
pub struct HandoffTestArgs {
    /// Use the built-in simulated marketplace (fully offline).
    #[arg(long)]
    pub simulate: bool,

    /// A live shop's base URL (with --event); nothing is bought.
    #[arg(
        long,
        value_name = "URL",
        requires = "event",
        conflicts_with = "simulate"
    )]
    pub url: Option<String>,

    /// The live event's slug (with --url).
    #[arg(long, value_name = "SLUG", requires = "url")]
    pub event: Option<String>,

    /// Run the browser headless and close it right after the check (CI, servers).
    #[arg(long)]
    pub headless_browser: bool,

    /// The browser to use [default: as for a race].
    #[arg(long, value_name = "PATH")]
    pub browser: Option<PathBuf>,

    #[command(flatten)]
    pub net: NetArgs,

    /// Where the cookie files and the browser profile go (created 0700).
    #[arg(long, value_name = "DIR", default_value = "./live-responses")]
    pub log_dir: PathBuf,

    /// Send a test iMessage to this recipient once the check has passed (macOS).
    #[arg(long, value_name = "RECIPIENT")]
    pub imessage: Option<String>,

    /// More detail in the log.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The strategy to check [default: the built-in one, or --strategy's].
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,

    /// Which kind of strategy: marketplace (its scenarios) or shop (the main shop's scenarios;
    /// with --script, a shop strategy of yours built on race.shop_strategy) [default:
    /// marketplace, or shop for a --script built on race.shop_strategy].
    #[arg(long, value_enum)]
    pub strategy: Option<Strategy>,

    /// The kind was taken from the script (it is built on race.shop_strategy), not from a flag.
    #[arg(skip)]
    pub kind_from_script: bool,

    /// Give up on a scenario after this long.
    #[arg(long, value_name = "SECS", value_parser = parse_duration, default_value = "60")]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct RehearseArgs {
    /// What the simulated marketplace does: standard (empty polls, a 429, a lost race, then a win),
    /// instant, inactive (the marketplace opens later), busy (503, 409, a reset, a changed page),
    /// quiet (nothing is ever listed), chaos (garbage, cut pages, resets, closed connections,
    /// 500/503, maintenance and odd pages, a slow answer, then a listing), many (12 listings,
    /// prices in every form, long titles), pair (two listings to win); shop (the main shop, a
    /// product that becomes available after a lost race: the default with --strategy shop, with
    /// or without your --script), shop-instant (available at once), shop-busy (503, 429, a reset
    /// and maintenance before it comes back).
    #[arg(long, default_value = "standard", value_name = "NAME")]
    pub scenario: String,

    /// A randomised scenario drawn from this seed (the same seed, the same scenario), instead of
    /// a named one.
    #[arg(long, value_name = "N", conflicts_with = "scenario")]
    pub seed: Option<u64>,

    /// Let your --webhook reach a host that is not this machine (a rehearsal sends nothing else
    /// off the machine, whatever the strategy asks).
    #[arg(long)]
    pub allow_remote_webhook: bool,

    /// How many events the simulated shop runs (the listings appear on the last one): rehearses
    /// watching several events at once.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub events: u32,

    /// End the rehearsal after this long when nothing is secured (exit 4, saying what happened:
    /// listings seen, picked, tried, lost); 0: no limit.
    #[arg(long, value_name = "SECS", value_parser = parse_duration, default_value = "60")]
    pub time_limit: Duration,

    /// The simulated shop's language (en or de), to rehearse against a non-English page.
    #[arg(long, default_value = "en", value_name = "LOCALE")]
    pub locale: String,

    #[command(flatten)]
    pub run: RunArgs,
}

/// The built-in strategies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    /// The secondhand marketplace (scripts/default.lua).
    #[default]
    Marketplace,
    /// The main shop's products (scripts/shop.lua).
    Shop,
}

/// How the marketplace is sorted when polled: pretix's sorts, listed once in `core::pretix`.
pub use crate::core::pretix::Sort;

impl ValueEnum for Sort {
    fn value_variants<'a>() -> &'a [Self] {
        &Sort::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Seconds between polls, ±20% jitter [default: 15; rehearse: 0.5]. Under 2 s is refused for
    /// a remote host; under 5 s earns a warning. Accepts 15, 15s, 2.5, 500ms, 1m, 1h30m.
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    pub interval: Option<Duration>,

    /// The built-in strategy: marketplace (the secondhand marketplace) or shop (the main shop's
    /// products: a sold-out one that comes back; needs --item). With --script: the kind of
    /// strategy the file is (a shop one is built on race.shop_strategy) [default: marketplace;
    /// rehearse: shop for a --script built on race.shop_strategy].
    #[arg(long, value_enum)]
    pub strategy: Option<Strategy>,

    /// Only this product id: the marketplace's item filter (ids are in its item menu); with
    /// --strategy shop, the products to add (repeat it: the first available wins; ids are the
    /// item_<id> inputs of the event page).
    #[arg(long = "item", value_name = "ID")]
    pub items: Vec<String>,

    /// With --strategy shop: only this variation of the product (variation_<id>_<variation>).
    #[arg(long, value_name = "ID")]
    pub variation: Option<String>,

    /// With --strategy shop: how many to add at once (at most what the shop allows per order).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub count: u32,

    /// With --strategy shop: redeem this voucher (pretix's `…/redeem?voucher=CODE` page is
    /// watched: the products the voucher unlocks, at its price). An event URL's `?voucher=CODE`
    /// does the same.
    #[arg(long, value_name = "CODE")]
    pub voucher: Option<String>,

    /// With --strategy shop on an event series: the date to watch, by its id, its day
    /// (YYYY-MM-DD) or its name (repeat it: each date is watched; the first cart wins). Without
    /// it, a series' dates are listed.
    #[arg(long = "date", value_name = "ID|YYYY-MM-DD|NAME")]
    pub dates: Vec<String>,

    /// The marketplace's sort order; the default strategy tries listings in this order.
    #[arg(long, value_enum, default_value_t = Sort::PriceAsc)]
    pub sort: Sort,

    /// Watch and alert, but never POST to the marketplace: sends a tickets_available webhook for
    /// each newly seen listing and keeps polling.
    #[arg(long)]
    pub dry_run: bool,

    /// Skip listings (and shop products) priced above this, in the currency shown, e.g. 150.
    #[arg(long, value_name = "PRICE")]
    pub max_price: Option<f64>,

    /// Only listings (and shop products) whose title contains this text, ignoring case. Repeat it
    /// for several: any one matches.
    #[arg(long = "match", value_name = "TEXT")]
    pub matches: Vec<String>,

    /// Keep going until this many tickets are in the cart (one session, one cart), then hand it
    /// over once.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub want: u32,

    /// Stop when nothing is secured by then: a clock time (22:30, local) or a duration (90m,
    /// 2h). Ends with exit code 4 and says so.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Don't open a browser: print and save the session (cookies, checkout URL, console script).
    #[arg(long)]
    pub headless: bool,

    /// Start the browser now, on a local status page of the watch, and turn that same tab to
    /// the checkout when a ticket is in the cart: no browser start between cart and person.
    #[arg(long, conflicts_with = "headless")]
    pub browser_early: bool,

    /// The browser to hand the cart to [default: $CHROME, else Chrome, Chromium, Brave or Edge
    /// from the usual places].
    #[arg(long, value_name = "PATH")]
    pub browser: Option<PathBuf>,

    /// Send an iMessage to this phone number or e-mail once a ticket is in the cart (macOS).
    #[arg(long, value_name = "RECIPIENT")]
    pub imessage: Option<String>,

    /// POST a JSON notice here when a ticket is in the cart (https; http only for loopback). The
    /// notice carries the session cookies: use an endpoint you control.
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,

    /// Let the strategy reach HOST too (repeatable). A strategy's requests, redirects and
    /// webhooks reach only the targets' hosts, the --webhook host, loopback and these: a host
    /// that appears only in a script's code is refused before any connection.
    #[arg(long, value_name = "HOST")]
    pub allow_host: Vec<String>,

    /// While the event page has no marketplace link, re-check it every SECS (±20%) instead of
    /// exiting.
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    #[arg(long = "poll-inactive-marketplace")]
    pub poll_inactive: Option<Duration>,

    /// Run this Lua strategy instead of the built-in default (see README: writing a strategy).
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,

    /// Stop at the first error in a decision your strategy overrides (choose, wait, …). Without
    /// it the error is reported at your file and line and a safe fallback stands in (a failed
    /// choose takes nothing; wait uses the built-in).
    #[arg(long)]
    pub strict: bool,

    /// Write how the run ended (outcome, exit code, reason, polls, carts) as JSON to this new
    /// file: what `check` reads of each rehearsal.
    #[arg(long, value_name = "PATH", hide = true)]
    pub result_file: Option<PathBuf>,

    /// Seconds a strategy may compute without waiting on the API before it is stopped.
    #[arg(long, value_name = "SECS", value_parser = parse_duration, default_value = "30", hide = true)]
    pub runaway_after: Duration,

    /// Pause before a failed webhook delivery's second try (doubled before the third).
    #[arg(long, value_name = "SECS", value_parser = parse_duration, default_value = "1", hide = true)]
    pub webhook_retry_pause: Duration,

    /// The memory a strategy may use, in MB.
    #[arg(long, value_name = "MB", default_value = "512", hide = true)]
    pub memory_limit_mb: usize,

    /// How long one request (its redirects and its answer's reading included) may take.
    #[arg(long, value_name = "SECS", value_parser = parse_duration, default_value = "30", hide = true)]
    pub request_timeout: Duration,

    /// How long the browser gets to show the checkout before the hand-over says it did not
    /// (the printed session stands).
    #[arg(long, value_name = "SECS", value_parser = parse_duration, default_value = "15", hide = true)]
    pub handoff_timeout: Duration,

    #[command(flatten)]
    pub net: NetArgs,

    /// Where unusual responses and the cart's cookie files are saved (created 0700, checked at
    /// start-up) [default: ./live-responses; rehearse: a fresh temporary folder].
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,

    /// Where a strategy's state (race.store) is kept across restarts [default: beside --log-dir,
    /// pretix-race-state].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// More detail in the log (-v: debug).
    #[arg(short, long)]
    pub verbose: bool,

    /// Only warnings and errors in the log.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// How log lines on stderr are written: text, or json (one object per line: ts, level, msg,
    /// and the event's fields, e.g. req, status, ttfb_ms, result), for servers and log shippers.
    #[arg(long, value_enum, default_value_t = crate::log::Format::Text, value_name = "FORMAT")]
    pub log_format: crate::log::Format,
}

/// `15`, `15s`, `2.5`, `500ms`, `1m`, `90s`, `1h30m`, `2h`: a number with an optional unit, or
/// several parts with units. Ours: no crate in the tree reads these (`time` parses dates and
/// times of day, not spans), and a bare number of seconds (`2.5`) is what most flags get.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("'{s}' is not a duration (try 15, 15s, 2.5, 500ms, 1m or 1h30m)");
    let t = s.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(v) = t.parse::<f64>() {
        return in_range(s, v);
    }
    let mut total = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, tail) = rest.split_at(n);
        let v: f64 = num.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let scale = match unit.trim() {
            "ms" => 0.001,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += v * scale;
        rest = next.trim_start();
    }
    in_range(s, total)
}

fn in_range(s: &str, secs: f64) -> Result<Duration, String> {
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("'{s}' is out of range (0 to 24 h)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("pretix-race").chain(args.iter().copied()))
    }

    #[test]
    fn the_plain_run() {
        let c = parse(&["--url", "https://t.example", "--event", "ev"]).unwrap();
        assert_eq!(c.url.as_deref(), Some("https://t.example"));
        assert_eq!(c.events, ["ev"]);
        assert_eq!(c.run.sort, Sort::PriceAsc);
        assert_eq!(c.run.interval, None);
        assert!(c.command.is_none());
    }

    #[test]
    fn every_flag() {
        let c = parse(&[
            "--url",
            "https://t.example",
            "--event",
            "ev",
            "--interval",
            "2.5",
            "--item",
            "965",
            "--sort",
            "newest",
            "--dry-run",
            "--headless",
            "--imessage",
            "+4912345",
            "--webhook",
            "https://hooks.example/x",
            "--poll-inactive-marketplace",
            "60s",
            "--script",
            "my.lua",
            "--ca-cert",
            "ca.pem",
            "--user-agent",
            "me",
            "--log-dir",
            "d",
            "-v",
        ])
        .unwrap();
        let r = c.run;
        assert_eq!(r.interval, Some(Duration::from_millis(2500)));
        assert_eq!(r.items, ["965"]);
        assert_eq!(r.sort, Sort::Newest);
        assert!(r.dry_run && r.headless && r.verbose);
        assert_eq!(r.poll_inactive, Some(Duration::from_secs(60)));
        assert_eq!(r.log_dir, Some(PathBuf::from("d")));
    }

    #[test]
    fn browser_early_wants_a_browser() {
        let c = parse(&[
            "--url",
            "https://t.example",
            "--event",
            "e",
            "--browser-early",
        ])
        .unwrap();
        assert!(c.run.browser_early && !c.run.headless);
        let e = parse(&[
            "--url",
            "https://t.example",
            "--browser-early",
            "--headless",
        ]);
        assert!(e.unwrap_err().to_string().contains("cannot be used with"));
    }

    #[test]
    fn a_positional_script_or_event_url_and_repeated_events() {
        let c = parse(&["festival.lua"]).unwrap();
        assert_eq!(c.target.as_deref(), Some("festival.lua"));
        let c = parse(&["--url", "https://t", "--event", "a", "--event", "b"]).unwrap();
        assert_eq!(c.events, ["a", "b"]);
        let c = parse(&["rehearse", "--scenario", "busy", "--headless"]).unwrap();
        assert!(
            matches!(c.command, Some(Command::Rehearse(ref r)) if r.scenario == "busy" && r.run.headless)
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2.5").unwrap(), Duration::from_millis(2500));
        assert!(parse_duration("25h").is_err());
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse(&["--url", "https://t", "--event", "e", "--sort", "cheapest"]).is_err());
    }
}
