//! `handoff-test --simulate`: a cart secured on the built-in simulator (the `simulator`
//! feature), handed over to the browser, then checked from both ends.

use std::time::Instant;

use super::{fail, verified};
use crate::config::HandoffTest;
use crate::core::browser::{self, Browser};
use crate::core::handoff;
use crate::core::market::{self, ResponseLog};
use crate::core::pretix::CartOutcome;
use crate::core::session::{ClientConfig, Net, Session};
use crate::error::AppError;
use crate::sim::{Scenario, Sim};

pub(super) async fn simulate(
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
