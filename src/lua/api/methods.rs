//! A session's methods: `get` and `post` (`http`), `discover`, `poll` and `add_to_cart`
//! (`market`, `shop`), `handoff`, `cookies` and `set_weight`. Each is implemented in its area's
//! module; this is where they are joined into the one userdata. Option tables are taken as
//! values and read here (`opts`), so a mistake in one is reported as itself, not as a bad
//! argument.

use mlua::{FromLua, IntoLua, Table, UserData, UserDataMethods, Value};

use super::opts::{HandoffOpts, ListingOpts, ProductOpts, RequestOpts};

use super::session::LuaSession;
use super::values::{Cookies, Kind};

impl UserData for LuaSession {
    fn add_fields<F: mlua::UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "race.Session");
    }

    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_async_method(
            "get",
            |lua, this, (url, opts): (String, Value)| async move {
                let opts = RequestOpts::from_lua(opts, &lua)?;
                super::http::get(lua, this.ctx.clone(), this.inner.clone(), url, opts).await
            },
        );
        m.add_async_method(
            "post",
            |lua, this, (url, form, opts): (String, Option<Table>, Value)| async move {
                let opts = RequestOpts::from_lua(opts, &lua)?;
                super::http::post(lua, this.ctx.clone(), this.inner.clone(), url, form, opts).await
            },
        );
        m.add_async_method(
            "discover",
            |lua, this, event_url: Option<String>| async move {
                super::market::discover(lua, this.ctx.clone(), this.inner.clone(), event_url).await
            },
        );
        m.add_async_method("poll", |lua, this, url: String| async move {
            super::market::poll(lua, this.ctx.clone(), this.inner.clone(), url).await
        });
        m.add_async_method("poll_shop", |lua, this, url: String| async move {
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
            |lua, this, (url, opts): (String, Value)| async move {
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
                match other {
                    Value::Integer(i) => i.to_string(),
                    Value::Number(n) => n.to_string(),
                    v => format!("a {}", v.type_name()),
                }
            ))),
        });
    }
}
