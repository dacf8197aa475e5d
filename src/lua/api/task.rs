//! `race.spawn(fn, ...)`, `race.join(t1, ...)`, `race.select(t1, ...)`: several things at once
//! (two marketplaces, a marketplace and a shop) without `coroutine`, which the async API cannot
//! run inside. Each task is a Lua thread driven by its own tokio task; the VM runs one of them at
//! a time and switches whenever one waits on the API. Ctrl-C and the runaway watchdog stop every
//! task (the instruction hook is global), and the run aborts whatever is left when it ends.

use std::sync::{Arc, Mutex};

use futures_util::future::select_all;
use mlua::{AnyUserData, Function, Lua, MultiValue, Table, UserData, Value, Variadic};
use tokio::sync::watch;

use crate::lua::Context;

type Outcome = Arc<Mutex<Option<mlua::Result<MultiValue>>>>;

/// A task handle, as Lua holds it.
pub struct Task {
    done: watch::Receiver<bool>,
    outcome: Outcome,
}

impl UserData for Task {
    fn add_fields<F: mlua::UserDataFields<Self>>(f: &mut F) {
        f.add_meta_field("__name", "race.Task");
    }
}

impl Task {
    async fn finished(&self) {
        let mut rx = self.done.clone();
        let _ = rx.wait_for(|d| *d).await;
    }

    /// The task's results; its error, raised again, if it raised.
    fn results(&self) -> mlua::Result<MultiValue> {
        match &*self.outcome.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(values)) => Ok(values.clone()),
            Some(Err(e)) => Err(e.clone()),
            None => Err(mlua::Error::runtime(
                "the task was stopped before it finished",
            )),
        }
    }

    /// The task's first result.
    fn first(&self) -> mlua::Result<Value> {
        Ok(self.results()?.front().cloned().unwrap_or(Value::Nil))
    }
}

fn tasks(args: &Variadic<AnyUserData>) -> mlua::Result<Vec<mlua::UserDataRef<Task>>> {
    if args.is_empty() {
        return Err(mlua::Error::runtime(
            "expected one or more tasks from race.spawn",
        ));
    }
    args.iter()
        .map(|ud| {
            ud.borrow::<Task>()
                .map_err(|_| mlua::Error::runtime("expected a task from race.spawn"))
        })
        .collect()
}

pub fn register(lua: &Lua, race: &Table, ctx: &Arc<Context>) -> mlua::Result<()> {
    let c = ctx.clone();
    race.set(
        "spawn",
        lua.create_function(move |lua, (f, args): (Function, MultiValue)| {
            // A thread of its own, not one of the pool's that `call_async` would lend: the code
            // the task runs is known by it (`lua.current_thread()`), so a decision's budget and
            // a report said once per target tell the tasks apart.
            let fut = lua.create_thread(f)?.into_async::<MultiValue>(args)?;
            let (tx, rx) = watch::channel(false);
            let outcome: Outcome = Arc::default();
            let out = outcome.clone();
            c.spawn_task(async move {
                let r = fut.await;
                *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                let _ = tx.send(true);
            });
            lua.create_userdata(Task { done: rx, outcome })
        })?,
    )?;

    let c = ctx.clone();
    race.set(
        "join",
        lua.create_async_function(move |_, args: Variadic<AnyUserData>| {
            let c = c.clone();
            async move {
                let ts = tasks(&args)?;
                c.waiting();
                for t in &ts {
                    t.finished().await;
                }
                c.waiting();
                ts.iter()
                    .map(|t| t.first())
                    .collect::<mlua::Result<MultiValue>>()
            }
        })?,
    )?;

    let c = ctx.clone();
    race.set(
        "select",
        lua.create_async_function(move |_, args: Variadic<AnyUserData>| {
            let c = c.clone();
            async move {
                let ts = tasks(&args)?;
                c.waiting();
                let (_, i, _) = select_all(ts.iter().map(|t| Box::pin(t.finished()))).await;
                c.waiting();
                let mut out = ts[i].results()?;
                out.push_front(Value::Integer((i + 1) as i64));
                Ok(out)
            }
        })?,
    )
}
