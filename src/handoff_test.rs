//! `pretix-race handoff-test`: proves the browser hand-over works on this machine.
//!
//! `--simulate` is fully offline: the built-in marketplace, a real session that secures a real
//! (simulated) cart, the real browser, and a check over DevTools and from the server's side that
//! the page shown is the checkout page holding that cart. `--url/--event` does the live half
//! without buying: a fresh session on the event page, opened in the browser, cookies shown.

use std::sync::Arc;
use std::time::Instant;

use crate::config::{HandoffTest, Watch};
use crate::core::browser::{self, Browser, Launch};
use crate::core::handoff;
use crate::core::market::{self, ResponseLog};
use crate::core::pretix::CartOutcome;
use crate::core::session::{ClientConfig, Net, Session};
use crate::error::AppError;
use crate::sim::{Scenario, Sim};

fn fail(message: impl Into<String>, hint: Option<&str>) -> AppError {
    AppError::failure(message, hint.map(str::to_string))
}

pub async fn run(a: HandoffTest, notices: crate::config::Notices) -> Result<(), AppError> {
    crate::log::set_verbosity(a.verbose, false);
    notices.warnings.iter().for_each(crate::log::warn);
    notices.notes.iter().for_each(crate::log::info);
    let (path, client) = (a.browser.clone(), a.client.clone());
    match a.live.clone() {
        None => simulate(&a, path, client).await,
        Some(target) => live(&a, &target, path, client).await,
    }
}

/// `--simulate`: a cart secured on the simulator, handed over to the browser, then checked from
/// both ends.
async fn simulate(
    a: &HandoffTest,
    path: std::path::PathBuf,
    mut client: ClientConfig,
) -> Result<(), AppError> {
    let sim = Sim::start(Scenario::named("instant").expect("built-in scenario"))
        .await
        .map_err(|e| {
            fail(
                format!("could not start the simulated marketplace: {e}"),
                None,
            )
        })?;
    client.extra_roots.extend(sim.ca_certificates());
    let session = Session::new(client, Net::new(), Default::default())
        .map_err(|e| fail(e.to_string(), None))?;
    let responses = ResponseLog::new(Some(a.log_dir.clone()));
    let cart = secure(&sim, &session, &responses).await?;
    let cookies = session.cookies();
    let browser = Browser::Found(path.clone());
    let handed = handoff::hand_over(handoff::Request {
        dir: &a.log_dir,
        cookies: cookies.clone(),
        url: &cart.checkout_url,
        expires: cart.expires.clone(),
        browser: &browser,
        browser_args: vec![sim.browser_trust_arg()],
        headless_browser: a.headless_browser,
        secured_at: Some(cart.secured),
        early: None,
        note: None,
    })
    .await;
    if let Err(why) = &handed.export.files {
        return Err(fail(why.clone(), Some("check that --log-dir is writable")));
    }
    let (mut shown, latency) = match handed.window {
        handoff::Window::Shown { shown, latency, .. } => (shown, latency.unwrap_or_default()),
        handoff::Window::Failed(e) => {
            return Err(fail(
                format!("the browser hand-over failed: {e}"),
                Some("run with -v for detail; check that the browser starts on this machine"),
            ));
        }
        handoff::Window::Skipped | handoff::Window::NotFound => {
            return Err(fail("no browser was opened", None));
        }
    };
    responses.flush(std::time::Duration::from_secs(5)).await;
    let checks = checks(&sim, &cart, &shown, &cookies, a.headless_browser);
    crate::outln!("\nHand-over check ({}):", path.display());
    for (ok, what) in &checks {
        crate::outln!("  {} {what}", if *ok { "ok  " } else { "FAIL" });
    }
    crate::outln!(
        "  hand-over took {} from cart secured to checkout page loaded",
        crate::core::session::ms(latency)
    );
    shown.close_if_headless();
    match checks.iter().filter(|(ok, _)| !ok).count() {
        0 => verified(a, &cart.checkout_url).await,
        n => Err(fail(format!("{n} hand-over check(s) failed"), None)),
    }
}

/// A cart secured on the simulator: what it holds, where its checkout is, and when.
struct Secured {
    title: String,
    checkout_url: url::Url,
    expires: Option<String>,
    secured: Instant,
}

/// Finds the simulator's marketplace, reads its first listing and puts it in the cart, as a
/// watch would.
async fn secure(
    sim: &Sim,
    session: &Session,
    responses: &ResponseLog,
) -> Result<Secured, AppError> {
    let event_url = sim
        .base_url()
        .join(&format!("{}/", sim.event()))
        .expect("valid");
    crate::log::info(format!("simulated marketplace at {event_url}"));
    let market_url = market::discover(session, &event_url, sim.event())
        .await
        .map_err(|e| fail(e.to_string(), None))?;
    let polled = market::poll(session, &market_url, responses)
        .await
        .map_err(|e| fail(e.to_string(), None))?;
    let listing = polled
        .page
        .listings
        .first()
        .cloned()
        .ok_or_else(|| fail("the simulated marketplace showed no listing", None))?;
    let carted = market::add_to_cart(session, &listing, &polled.response.url, responses)
        .await
        .map_err(|e| fail(e.to_string(), None))?;
    let CartOutcome::InCart { checkout_url } = carted.outcome else {
        return Err(fail(
            format!("the simulated cart add ended {:?}", carted.outcome),
            None,
        ));
    };
    Ok(Secured {
        title: listing.title,
        checkout_url,
        expires: carted.checkout.and_then(|c| c.expires),
        secured: Instant::now(),
    })
}

/// What the hand-over must have done, each with whether it did: seen over DevTools (the page,
/// its cart, its deadline, an ordinary window) and from the server's side (the browser's
/// checkout request carried the session).
fn checks(
    sim: &Sim,
    cart: &Secured,
    shown: &browser::Shown,
    cookies: &[crate::core::cookies::CookieInfo],
    headless: bool,
) -> Vec<(bool, String)> {
    let from_browser = sim.seen().into_iter().rfind(|s| {
        s.path.ends_with("/checkout/questions/")
            && !s
                .user_agent
                .as_deref()
                .unwrap_or("")
                .starts_with("pretix-race")
    });
    let mut checks: Vec<(bool, String)> = vec![
        (
            shown.url.starts_with(cart.checkout_url.as_str()),
            format!("the browser shows the checkout page ({})", shown.url),
        ),
        (
            shown.cart_items.iter().any(|i| i == &cart.title),
            format!(
                "the page lists the cart item {:?} (cart rows: {:?})",
                cart.title, shown.cart_items
            ),
        ),
        (
            shown.expires.is_some(),
            format!(
                "the page shows the reservation deadline ({})",
                shown.expires.as_deref().unwrap_or("none")
            ),
        ),
        (
            from_browser.as_ref().is_some_and(|s| {
                cookies
                    .iter()
                    .all(|c| s.cookie(&c.name) == Some(c.value.as_str()))
            }),
            format!(
                "the simulator saw the browser's checkout request carry all {} session cookies ({})",
                cookies.len(),
                cookies
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    ];
    if !headless {
        checks.push((
            !shown.webdriver,
            "the window is an ordinary one (navigator.webdriver is not set)".into(),
        ));
    }
    checks
}

/// Every check passed: said, and with --imessage, sent.
async fn verified(a: &HandoffTest, checkout_url: &url::Url) -> Result<(), AppError> {
    crate::outln!("Hand-over verified.");
    if let Some(to) = &a.imessage {
        let text =
            format!("pretix-race hand-over test: verified, the browser showed {checkout_url}");
        match crate::core::notify::imessage::send(to, &text).await {
            Ok(()) => crate::outln!("Test iMessage sent to {to}."),
            Err(e) => return Err(fail(format!("test iMessage to {to}: {e}"), None)),
        }
    }
    Ok(())
}

async fn live(
    a: &HandoffTest,
    target: &Watch,
    path: std::path::PathBuf,
    client: ClientConfig,
) -> Result<(), AppError> {
    let event_url = target.event_url();
    let session = Arc::new(
        Session::new(client, Net::new(), Default::default())
            .map_err(|e| fail(e.to_string(), None))?,
    );
    let r = session
        .get(&event_url, &[])
        .await
        .map_err(|e| fail(e.to_string(), None))?;
    r.log("event page (nothing is bought)");
    if !r.ok() {
        return Err(fail(
            format!("{event_url} answered HTTP {}", r.status),
            Some("check --url and --event"),
        ));
    }
    let cookies = session.cookies();
    crate::outln!(
        "\nSession cookies set by {}:",
        event_url.host_str().unwrap_or("")
    );
    for c in &cookies {
        crate::outln!(
            "  {}={}  (domain {}, path {}{}{}{})",
            c.name,
            c.value,
            c.domain,
            c.path,
            if c.secure { ", Secure" } else { "" },
            if c.http_only { ", HttpOnly" } else { "" },
            c.same_site
                .as_deref()
                .map(|s| format!(", SameSite={s}"))
                .unwrap_or_default()
        );
    }
    let launch = Launch {
        path: path.clone(),
        headless: a.headless_browser,
        args: Vec::new(),
        profile_root: a.log_dir.clone(),
    };
    let mut shown = browser::open(&launch, &cookies, &event_url)
        .await
        .map_err(|e| fail(format!("the browser hand-over failed: {e}"), None))?;
    crate::outln!(
        "\nThe browser ({}, pid {}) shows {} with this session.\nCompare the cookies above with DevTools → Application → Cookies in that window.",
        path.display(),
        shown.pid,
        shown.url
    );
    if a.headless_browser {
        shown.close_if_headless();
    }
    Ok(())
}
