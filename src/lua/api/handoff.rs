//! `race.handoff(session, checkout_url, opts)`: gives the secured cart to the person. The cookie
//! files are written and the session printed first, whatever follows; the browser hand-over
//! (not headless) is not built yet, so both modes end with the printed session for now.

use std::sync::Arc;

use mlua::{AnyUserData, Lua, Table};

use super::http::{LuaSession, cookie_table};
use super::{ok, url_arg};
use crate::core::handoff;
use crate::lua::Context;

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    let c = ctx.clone();
    race.set(
        "handoff",
        lua.create_function(
            move |lua, (ud, url, opts): (AnyUserData, String, Option<Table>)| {
                let session = ud
                    .borrow::<LuaSession>()
                    .map_err(|_| mlua::Error::runtime("expected race.session as the first argument"))?
                    .inner
                    .clone();
                let url = url_arg(&url, "a checkout URL")?;
                let expires: Option<String> = match &opts {
                    Some(o) => o.get("expires")?,
                    None => None,
                };
                let headless = match &opts {
                    Some(o) => o.get::<Option<bool>>("headless")?.unwrap_or(c.config.headless),
                    None => c.config.headless,
                };
                let cookies = session.cookies();
                let res = lua.create_table()?;
                res.set("checkout_url", url.as_str())?;
                let list = lua.create_table()?;
                for (i, ck) in cookies.iter().enumerate() {
                    list.set(i + 1, cookie_table(lua, ck)?)?;
                }
                res.set("cookies", list)?;
                res.set("browser", false)?;
                match handoff::export(&c.config.log_dir, cookies.clone(), &url) {
                    Ok(e) => {
                        print!("{}", handoff::report(&e, expires.as_deref()));
                        res.set("cookie_file", e.cookie_file.display().to_string())?;
                        res.set("json_file", e.json_file.display().to_string())?;
                        res.set("console_script", e.console_script)?;
                    }
                    Err(err) => {
                        // Nothing is lost: print everything even though the files failed.
                        crate::log::error(format!(
                            "could not write the cookie files under {}: {err}",
                            c.config.log_dir.display()
                        ));
                        let script = crate::core::cookies::console_script(&cookies, url.as_str());
                        println!("\n=== TICKET IN CART ===\nCheckout: {url}");
                        for ck in &cookies {
                            println!("  {}={}", ck.name, ck.value);
                        }
                        println!("Console script:\n\n{script}");
                        res.set("console_script", script)?;
                        res.set("error", err.to_string())?;
                    }
                }
                if !headless {
                    crate::log::info(
                        "browser hand-over is not built yet: use the cookie files or the console script above",
                    );
                }
                ok(res, lua)
            },
        )?,
    )
}
