//! `race.time`: sleeping, clocks and jitter.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime};

use mlua::{Lua, MultiValue, Table};

use super::opts::no_args;
use crate::clock;
use crate::core::governor;
use crate::lua::Context;

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    let t = lua.create_table()?;
    let c = ctx.clone();
    t.set(
        "sleep",
        lua.create_async_function(move |_, secs: f64| {
            let c = c.clone();
            async move {
                if !secs.is_finite() || secs < 0.0 {
                    return Err(mlua::Error::runtime(format!(
                        "sleep: {secs} is not a number of seconds"
                    )));
                }
                c.waiting();
                let d = Duration::from_secs_f64(secs.min(86_400.0));
                let until = std::time::Instant::now() + d;
                c.net.stats.set_live(|l| l.next_at = Some(until));
                tokio::time::sleep(d).await;
                c.waiting();
                if c.kill.load(Relaxed) {
                    return Err(mlua::Error::runtime("interrupted"));
                }
                Ok(())
            }
        })?,
    )?;
    let c = ctx.clone();
    t.set(
        "now",
        lua.create_function(move |_, args: MultiValue| {
            no_args("race.time.now()", &args)?;
            Ok(c.elapsed())
        })?,
    )?;
    t.set(
        "unix",
        lua.create_function(|_, args: MultiValue| {
            no_args("race.time.unix()", &args)?;
            Ok(clock::unix_seconds(SystemTime::now()))
        })?,
    )?;
    t.set(
        "rfc3339",
        lua.create_function(|_, args: MultiValue| {
            no_args("race.time.rfc3339()", &args)?;
            Ok(clock::rfc3339(SystemTime::now()))
        })?,
    )?;
    t.set(
        "jitter",
        lua.create_function(|_, (secs, frac): (f64, Option<f64>)| {
            if !secs.is_finite() || secs < 0.0 {
                return Err(mlua::Error::runtime(format!(
                    "jitter: {secs} is not a number of seconds"
                )));
            }
            let frac = frac.unwrap_or(0.2);
            if !(0.0..=1.0).contains(&frac) {
                return Err(mlua::Error::runtime(format!(
                    "jitter: the fraction {frac} must be from 0 to 1 (0.2 is ±20 %)"
                )));
            }
            let d = governor::jitter(Duration::from_secs_f64(secs.min(86_400.0)), frac);
            Ok(d.as_secs_f64())
        })?,
    )?;
    race.set("time", t)
}
