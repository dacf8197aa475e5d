//! `session:handoff(checkout_url, opts)` (and `race.handoff(session, …)`): gives the secured cart
//! to the person. The cookie
//! files are written and the session printed first, whatever follows; then (unless headless) the
//! browser opens on the checkout page holding the cart. No browser, or a browser that fails, loses
//! nothing: the printed session and instructions remain, and the run still succeeds.

use std::sync::Arc;
use std::time::Instant;

use mlua::{AnyUserData, Lua, Table};

use super::http::{cookie_table, session_of};
use super::url_arg;
use crate::core::browser::{self, Launch};
use crate::core::handoff;
use crate::core::session::Session;
use crate::lua::Context;

/// `session:handoff(url, opts)` and `race.handoff(session, url, opts)`.
pub(super) async fn handoff(
    lua: Lua,
    c: Arc<Context>,
    session: Arc<Session>,
    url: String,
    opts: Option<Table>,
) -> mlua::Result<Table> {
    let opt = |k: &str| -> mlua::Result<mlua::Value> {
        opts.as_ref().map_or(Ok(mlua::Value::Nil), |o| o.get(k))
    };
    let expires = opt("expires")?.as_string().map(|s| s.to_string_lossy());
    let headless = opt("headless")?.as_boolean();
    let url = url_arg(&url, "a checkout URL")?;
    let headless = headless.unwrap_or(c.config.headless);
    let cookies = session.cookies();
    let res = lua.create_table()?;
    res.set("checkout_url", url.as_str())?;
    let list = lua.create_table()?;
    for (i, ck) in cookies.iter().enumerate() {
        list.set(i + 1, cookie_table(&lua, ck)?)?;
    }
    res.set("cookies", list)?;
    res.set("browser", false)?;

    // First, whatever happens next: the session on disk and on screen.
    let export = handoff::export(&c.config.log_dir, cookies.clone(), &url);
    let is_checkout = handoff::is_checkout(&url);
    let title = if is_checkout {
        handoff::Title::InCart
    } else {
        handoff::Title::NotCheckout
    };
    print!("{}", handoff::report(&export, expires.as_deref(), title));
    if is_checkout {
        // The person has the session now: nothing left to hand over at exit.
        c.net.carts.handed_over(session.id());
    }
    res.set("checkout", is_checkout)?;
    res.set("console_script", export.console_script.clone())?;
    match &export.files {
        Ok((txt, json)) => {
            res.set("cookie_file", txt.display().to_string())?;
            res.set("json_file", json.display().to_string())?;
        }
        Err(why) => res.set("error", why.as_str())?,
    }
    if headless {
        return Ok(res);
    }
    let Some(path) = c.config.browser.clone() else {
        print!(
            "{}",
            handoff::manual_report("no browser was found at start-up", &export)
        );
        return Ok(res);
    };
    let launch = Launch {
        path: path.clone(),
        headless: false,
        args: c.config.browser_args.clone(),
        profile_root: c.config.log_dir.clone(),
    };
    c.waiting();
    let shown = browser::open(&launch, &cookies, &url).await;
    c.waiting();
    match shown {
        Ok(shown) => {
            let secured = c.net.carts.last_secured_at(session.id());
            let latency = secured.map(|t| Instant::now().duration_since(t));
            print!("{}", handoff::browser_report(&shown, &path, latency));
            res.set("browser", true)?;
            res.set("browser_pid", shown.pid)?;
            res.set("page_url", shown.url.as_str())?;
            res.set("page_expires", shown.expires.clone())?;
            res.set("latency", latency.map(|l| l.as_secs_f64()))?;
        }
        Err(e) => {
            crate::log::warn(format!("browser hand-over failed: {e}"));
            print!("{}", handoff::manual_report(&e.to_string(), &export));
            res.set("error", e.to_string())?;
        }
    }
    Ok(res)
}

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    let c = ctx.clone();
    race.set(
        "handoff",
        lua.create_async_function(
            move |lua, (ud, url, opts): (AnyUserData, String, Option<Table>)| {
                let c = c.clone();
                let session = session_of(&ud);
                async move { handoff(lua, c, session?, url, opts).await }
            },
        )?,
    )
}
