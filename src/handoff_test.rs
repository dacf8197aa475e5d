//! `pretix-race handoff-test`: proves the browser hand-over works on this machine.
//!
//! `--simulate` is fully offline: the built-in marketplace, a real session that secures a real
//! (simulated) cart, the real browser, and a check over DevTools and from the server's side that
//! the page shown is the checkout page holding that cart. `--url/--event` does the live half
//! without buying: a fresh session on the event page, opened in the browser, cookies shown.

use std::sync::Arc;

use crate::config::{HandoffTest, Watch};
use crate::core::browser::{self, Launch};
use crate::core::session::{ClientConfig, Net, Session};
use crate::error::AppError;

#[cfg(feature = "simulator")]
mod simulated;
#[cfg(feature = "simulator")]
use simulated::simulate;

fn fail(message: impl Into<String>, hint: Option<&str>) -> AppError {
    AppError::failure(message, hint.map(str::to_string))
}

pub async fn run(a: HandoffTest, notices: crate::config::Notices) -> Result<(), AppError> {
    crate::log::set_verbosity(a.verbose, false);
    notices.warnings.iter().for_each(crate::log::warn);
    notices.notes.iter().for_each(crate::log::info);
    let (path, client) = (a.browser.clone(), a.client.clone());
    match a.live.clone() {
        #[cfg(feature = "simulator")]
        None => simulate(&a, path, client).await,
        #[cfg(not(feature = "simulator"))]
        None => Err(fail(
            "`handoff-test --simulate` needs the built-in simulator, which this build leaves out",
            Some(
                "build with the default features, or test against a live event page with --url and --event",
            ),
        )),
        Some(target) => live(&a, &target, path, client).await,
    }
}

/// `--simulate`: a cart secured on the simulator, handed over to the browser, then checked from
/// both ends.
/// Every check passed: said, and with --imessage, sent.
#[cfg(feature = "simulator")]
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
