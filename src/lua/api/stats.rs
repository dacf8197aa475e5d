//! `race.stats()`: the run's counters (polls, listings seen, cart attempts, …).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use mlua::{Lua, Table};

use crate::lua::Context;

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    let c = ctx.clone();
    race.set(
        "stats",
        lua.create_function(move |lua, args: mlua::MultiValue| {
            super::opts::no_args("race.stats()", &args)?;
            let s = &c.net.stats;
            let t = lua.create_table()?;
            t.set("requests", s.requests.load(Relaxed))?;
            t.set("polls", s.polls.load(Relaxed))?;
            t.set("listings_seen", s.listings_seen())?;
            t.set("cart_attempts", s.cart_attempts.load(Relaxed))?;
            t.set("carts_won", s.carts_won.load(Relaxed))?;
            t.set("races_lost", s.races_lost.load(Relaxed))?;
            t.set("elapsed", c.elapsed())?;
            Ok(t)
        })?,
    )
}
