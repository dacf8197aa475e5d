//! A session's methods: `get` and `post` (`http`), `discover`, `poll` and `add_to_cart`
//! (`market`, `shop`), `handoff`, `cookies` and `set_weight`. Each is implemented in its area's
//! module; this is where they are joined into the one userdata. Option tables are taken as
//! values and read here (`opts`), so a mistake in one is reported as itself, not as a bad
//! argument.

use mlua::{FromLua, IntoLua, Table, UserData, UserDataMethods, Value};

use super::opts::{HandoffOpts, ListingOpts, ProductOpts, RequestOpts};

use super::session::LuaSession;
use super::values::{Cookies, Kind};

/// A URL argument of a session method: a string (the method checks it as a URL), else misuse
/// said with the call, the argument and what to pass (`call` as a script writes it, `what` the
/// URL it must be).
fn url_param(v: Value, call: &str, arg: &str, what: &str) -> mlua::Result<String> {
    match v {
        Value::String(s) => Ok(s.to_str()?.to_string()),
        other => Err(mlua::Error::runtime(format!(
            "{call}: {arg} must be {what}, got {}",
            super::opts::shown(&other)
        ))),
    }
}

impl UserData for LuaSession {
    fn add_fields<F: mlua::UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "race.Session");
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_async_method("get", |lua, this, (url, opts): (Value, Value)| async move {
            let url = url_param(
                url,
                "session:get(url)",
                "url",
                "the page's absolute URL (a string, e.g. race.options.event_url)",
            )?;
            let opts = RequestOpts::from_lua(opts, &lua)?;
            super::http::get(lua, this.ctx.clone(), this.inner.clone(), url, opts).await
        });
        m.add_async_method(
            "post",
            |lua, this, (url, form, opts): (Value, Value, Value)| async move {
                let url = url_param(
                    url,
                    "session:post(url, form)",
                    "url",
                    "the form's absolute URL (a string: form.action from race.html.forms)",
                )?;
                let form: Option<Table> = match form {
                    Value::Nil => None,
                    Value::Table(t) => Some(t),
                    other => {
                        return Err(mlua::Error::runtime(format!(
                            "session:post(url, form): form must be a table of fields ({{ name = value }}), got {}",
                            super::opts::shown(&other)
                        )));
                    }
                };
                let opts = RequestOpts::from_lua(opts, &lua)?;
                super::http::post(lua, this.ctx.clone(), this.inner.clone(), url, form, opts).await
            },
        );
        m.add_async_method(
            "discover",
            |lua, this, event_url: Value| async move {
                let event_url = match event_url {
                    Value::Nil => None,
                    v => Some(url_param(
                        v,
                        "session:discover(event_url)",
                        "event_url",
                        "the event page's URL (a string, e.g. race.options.event_url), or nothing for the first target's",
                    )?),
                };
                super::market::discover(lua, this.ctx.clone(), this.inner.clone(), event_url).await
            },
        );
        m.add_async_method("poll", |lua, this, url: Value| async move {
            let url = url_param(
                url,
                "session:poll(url)",
                "url",
                "the marketplace's URL (a string: what session:discover returned, or race.market.url(…))",
            )?;
            super::market::poll(lua, this.ctx.clone(), this.inner.clone(), url).await
        });
        m.add_async_method("poll_shop", |lua, this, url: Value| async move {
            let url = url_param(
                url,
                "session:poll_shop(event_url)",
                "event_url",
                "the event page's URL (a string, e.g. race.options.event_url)",
            )?;
            super::shop::poll(lua, this.ctx.clone(), this.inner.clone(), url).await
        });
        // A listing and a product are distinct types (their metatables): the second argument's
        // shape is the type's.
        m.add_async_method(
            "add_to_cart",
            |lua, this, (x, opts): (Value, Value)| async move {
                let (c, s) = (this.ctx.clone(), this.inner.clone());
                match (Kind::of(&lua, &x)?, x) {
                    (Some(Kind::Listing), Value::Table(t)) => {
                        let opts = ListingOpts::from_lua(opts, &lua)?;
                        super::market::add_to_cart(lua, c, s, t, opts).await
                    }
                    (Some(Kind::Product), Value::Table(t)) => {
                        let opts = ProductOpts::from_lua(opts, &lua)?;
                        super::shop::add_to_cart(lua, c, s, t, opts).await
                    }
                    (_, other) => Err(mlua::Error::runtime(format!(
                        "add_to_cart takes a listing from session:poll or a product from session:poll_shop / race.shop.products, got {}",
                        super::opts::a(&other)
                    ))),
                }
            },
        );
        m.add_async_method(
            "handoff",
            |lua, this, (url, opts): (Value, Value)| async move {
                let url = url_param(
                    url,
                    "session:handoff(checkout_url, opts)",
                    "checkout_url",
                    "the checkout page's URL (a string: result.checkout_url of add_to_cart)",
                )?;
                let opts = HandoffOpts::from_lua(opts, &lua)?;
                super::handoff::handoff(lua, this.ctx.clone(), this.inner.clone(), url, opts).await
            },
        );
        m.add_method("cookies", |lua, this, args: mlua::MultiValue| {
            super::opts::no_args("session:cookies()", &args)?;
            Cookies(&this.inner.cookies()).into_lua(lua)
        });
        // Its share of a busy remote host's polls (see `core::governor`): a whole number, 1 to
        // 1000; anything else is misuse.
        m.add_method("set_weight", |_, this, weight: Value| match weight {
            Value::Integer(w) if (1..=i64::from(crate::config::MAX_WEIGHT)).contains(&w) => {
                this.inner.set_weight(w as u32);
                Ok(())
            }
            Value::Number(w)
                if w.fract() == 0.0
                    && (1.0..=f64::from(crate::config::MAX_WEIGHT)).contains(&w) =>
            {
                this.inner.set_weight(w as u32);
                Ok(())
            }
            other => Err(mlua::Error::runtime(format!(
                "set_weight: expected a whole number from 1 to {}, got {}",
                crate::config::MAX_WEIGHT,
                super::opts::shown(&other)
            ))),
        });
    }
}
