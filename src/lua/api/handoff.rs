//! `session:handoff(checkout_url, opts)`: gives the secured cart to the person. The cookie
//! files are written and the session printed first, whatever follows; then (unless headless) the
//! browser opens on the checkout page holding the cart. No browser, or a browser that fails, loses
//! nothing: the printed session and instructions remain, and the run still succeeds.

use std::sync::Arc;

use mlua::{Lua, Table};

use super::opts::HandoffOpts;
use super::url_arg;
use super::values::Cookies;
use crate::core::browser::Browser;
use crate::core::handoff::{self, Window};
use crate::core::session::Session;
use crate::lua::Context;

/// `session:handoff(url, opts)`.
pub(super) async fn handoff(
    lua: Lua,
    c: Arc<Context>,
    session: Arc<Session>,
    url: String,
    opts: HandoffOpts,
) -> mlua::Result<Table> {
    let HandoffOpts {
        expires,
        headless,
        note,
    } = opts;
    let url = url_arg(&url, "a checkout URL")?;
    // The session's cookies, the console script and the browser all go to this URL's site: only
    // a shop the person named may get them (a shared strategy must not send them elsewhere).
    if let Some(reach) = session.policy().reach.as_ref() {
        crate::core::gate::check_handoff(&url, reach).map_err(mlua::Error::runtime)?;
    }
    let browser = if headless {
        Browser::Headless
    } else {
        c.config.browser.clone()
    };
    // The hand-over writes and prints the session before its first await (the browser), so a
    // stop from here on cannot come before the person has it: mark it now, not after the
    // browser, or a Ctrl-C while the window opens would hand the same cart over twice.
    if crate::core::pretix::is_checkout(&url) {
        c.net.carts.handed_over(session.id());
    }
    c.waiting();
    let handed = handoff::hand_over(handoff::Request {
        dir: &c.config.log_dir,
        cookies: session.cookies(),
        url: &url,
        expires,
        browser: &browser,
        browser_args: c.browser_args.clone(),
        headless_browser: false,
        secured_at: c.net.carts.last_secured_at(session.id()),
        early: Some(&c.early),
        note,
    })
    .await;
    c.waiting();
    handed_table(&lua, &handed)
}

/// A hand-over's result as Lua sees it (`race.Handoff`).
fn handed_table(lua: &Lua, h: &handoff::HandedOver) -> mlua::Result<Table> {
    let res = lua.create_table()?;
    res.set("checkout_url", h.export.checkout_url.as_str())?;
    res.set("cookies", Cookies(&h.export.cookies))?;
    res.set("checkout", h.checkout)?;
    res.set("console_script", h.export.console_script.as_str())?;
    match &h.export.files {
        Ok((txt, json)) => {
            res.set("cookie_file", txt.display().to_string())?;
            res.set("json_file", json.display().to_string())?;
        }
        Err(why) => res.set("error", why.as_str())?,
    }
    res.set("browser", false)?;
    match &h.window {
        Window::Shown { shown, latency, .. } => {
            res.set("browser", true)?;
            res.set("browser_pid", shown.pid)?;
            res.set("page_url", shown.url.as_str())?;
            res.set("page_expires", shown.expires.clone())?;
            res.set("latency", latency.map(|l| l.as_secs_f64()))?;
        }
        Window::Failed(e) => res.set("error", e.as_str())?,
        Window::Skipped | Window::NotFound => {}
    }
    Ok(res)
}
