//! The DevTools protocol over a pipe: the browser's control channel without any port.
//!
//! `--remote-debugging-port` opens a DevTools endpoint that every local program (any user's) can
//! connect to, and through it read the session cookies of the window left for the person. With
//! `--remote-debugging-pipe` the browser reads commands on descriptor 3 and writes answers on 4
//! (JSON, each message ended by a NUL byte), and there is no endpoint at all: the channel is ours
//! alone, from the first instant, on every platform with Unix descriptors.
//!
//! Each direction is its own socket pair, not a pipe: a same-user process can reopen a pipe
//! through `/proc/<pid>/fd`, never a socket. The browser also keeps a copy of our writing end
//! (descriptor 5, which it never uses), so that when pretix-race exits the browser does not read
//! the end of its commands and close the window: the window outlives us, with nobody on the other
//! end. Before letting go we detach from its tabs, so the browser has nothing more to tell us.
//!
//! chromiumoxide speaks DevTools only over a WebSocket; the hand-over needs five commands
//! (`Storage.setCookies`, `Target.*`, `Page.navigate`, `Runtime.evaluate`) and one event (a page's
//! `load`), which is this small client.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

/// No answer to one command within this long: the browser is stuck, and the hand-over says so.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);
/// A message larger than this from the browser is not one of the hand-over's.
const MESSAGE_LIMIT: usize = 64 << 20;

type Answer = Result<Value, String>;

#[derive(Default)]
struct Routes {
    /// Commands sent and not yet answered, by id.
    pending: HashMap<u64, oneshot::Sender<Answer>>,
    /// Who waits for events of a method in a session.
    events: Vec<(String, String, mpsc::UnboundedSender<Value>)>,
    /// The browser closed its end (or wrote something unreadable): every wait ends.
    closed: Option<String>,
}

/// Our end of a browser's DevTools pipe.
pub struct Pipe {
    #[cfg(unix)]
    writer: tokio::sync::Mutex<tokio::net::UnixStream>,
    routes: Arc<Mutex<Routes>>,
    next: AtomicU64,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Pipe {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The flag that has the browser take its DevTools pipe (the command given to `spawn` carries it).
pub const FLAG: &str = "--remote-debugging-pipe";

/// Starts `cmd` with descriptors 3, 4 (and 5, see the module comment) set up for its DevTools
/// pipe, and returns the child with our end.
#[cfg(unix)]
pub fn spawn(cmd: &mut std::process::Command) -> std::io::Result<(std::process::Child, Pipe)> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::net::UnixStream;
    use std::os::unix::process::CommandExt;

    let (commands_ours, commands_theirs) = UnixStream::pair()?;
    let (answers_ours, answers_theirs) = UnixStream::pair()?;
    // Above the three the child gets, so that placing them cannot overwrite one another; close-on-
    // exec, so that no other child of ours inherits them (dup2 in the child clears the flag).
    let high = |fd: i32| -> std::io::Result<OwnedFd> {
        // SAFETY: fcntl(2) F_DUPFD_CLOEXEC on a descriptor we own; the result is checked and owned.
        let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `n` is a new descriptor nobody else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(n) })
    };
    let reads = high(commands_theirs.as_raw_fd())?;
    let writes = high(answers_theirs.as_raw_fd())?;
    let keeps = high(commands_ours.as_raw_fd())?;
    let fds = [reads.as_raw_fd(), writes.as_raw_fd(), keeps.as_raw_fd()];
    // SAFETY: only dup2(2), which is async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for (to, from) in (3..).zip(fds) {
                if libc::dup2(from, to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    // The child's copies are the child's: ours close here, so its exit reads as the end.
    drop((reads, writes, keeps, commands_theirs, answers_theirs));
    commands_ours.set_nonblocking(true)?;
    answers_ours.set_nonblocking(true)?;
    let writer = tokio::net::UnixStream::from_std(commands_ours)?;
    let answers = tokio::net::UnixStream::from_std(answers_ours)?;
    let routes = Arc::new(Mutex::new(Routes::default()));
    let reader = tokio::spawn(read(answers, routes.clone()));
    Ok((
        child,
        Pipe {
            writer: tokio::sync::Mutex::new(writer),
            routes,
            next: AtomicU64::new(1),
            reader,
        },
    ))
}

/// Browsers take their DevTools pipe as Unix descriptors 3 and 4; elsewhere (Windows) the handles
/// are passed otherwise, which is not built: the hand-over prints the session instead.
#[cfg(not(unix))]
pub fn spawn(_cmd: &mut std::process::Command) -> std::io::Result<(std::process::Child, Pipe)> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "opening the browser is built for Linux and macOS only",
    ))
}

/// Routes each message from the browser: an answer to the command that waits for it, an event to
/// whoever subscribed. Ends (and ends every wait) when the browser closes its end.
#[cfg(unix)]
async fn read(mut answers: tokio::net::UnixStream, routes: Arc<Mutex<Routes>>) {
    use tokio::io::AsyncReadExt;
    let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut chunk = vec![0u8; 64 << 10];
    let why = loop {
        let n = match answers.read(&mut chunk).await {
            Ok(0) => break "the browser closed DevTools".to_string(),
            Ok(n) => n,
            Err(e) => break format!("reading from the browser: {e}"),
        };
        let seen = buf.len();
        buf.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        let mut from = seen;
        while let Some(i) = memchr::memchr(0, &buf[from..]) {
            let end = from + i;
            if let Ok(msg) = serde_json::from_slice::<Value>(&buf[start..end]) {
                route(&routes, msg);
            }
            start = end + 1;
            from = start;
        }
        buf.drain(..start);
        if buf.len() > MESSAGE_LIMIT {
            break "the browser sent a message too large to be DevTools'".to_string();
        }
    };
    let mut r = routes.lock().unwrap_or_else(|e| e.into_inner());
    r.closed = Some(why.clone());
    for (_, tx) in r.pending.drain() {
        let _ = tx.send(Err(why.clone()));
    }
    r.events.clear();
}

#[cfg(unix)]
fn route(routes: &Mutex<Routes>, msg: Value) {
    let mut r = routes.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(id) = msg.get("id").and_then(Value::as_u64) {
        if let Some(tx) = r.pending.remove(&id) {
            let answer = match msg.get("error") {
                Some(e) => Err(e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("an error without a message")
                    .to_string()),
                None => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
            };
            let _ = tx.send(answer);
        }
        return;
    }
    let (Some(method), Some(session)) = (
        msg.get("method").and_then(Value::as_str),
        msg.get("sessionId").and_then(Value::as_str),
    ) else {
        return;
    };
    let params = msg.get("params").cloned().unwrap_or(Value::Null);
    r.events
        .retain(|(m, s, tx)| !(m == method && s == session) || tx.send(params.clone()).is_ok());
}

impl Pipe {
    /// Sends `method` (to the tab `session`, else to the browser) and waits for its answer.
    pub async fn call(&self, method: &str, params: Value, session: Option<&str>) -> Answer {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = Value::from(s);
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut r = self.routes.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(why) = &r.closed {
                return Err(why.clone());
            }
            r.pending.insert(id, tx);
        }
        let mut bytes = serde_json::to_vec(&msg).map_err(|e| e.to_string())?;
        bytes.push(0);
        self.send(&bytes).await?;
        match tokio::time::timeout(ANSWER_WITHIN, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err("the browser closed DevTools".into()),
            Err(_) => Err(format!(
                "no answer to {method} within {} s",
                ANSWER_WITHIN.as_secs()
            )),
        }
    }

    #[cfg(unix)]
    async fn send(&self, bytes: &[u8]) -> Result<(), String> {
        use tokio::io::AsyncWriteExt;
        let mut w = self.writer.lock().await;
        w.write_all(bytes)
            .await
            .map_err(|e| format!("writing to the browser: {e}"))
    }

    #[cfg(not(unix))]
    async fn send(&self, _bytes: &[u8]) -> Result<(), String> {
        Err("no DevTools pipe on this platform".into())
    }

    /// Every `method` event of the tab `session` from now on.
    pub fn events(&self, method: &str, session: &str) -> mpsc::UnboundedReceiver<Value> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut r = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        if r.closed.is_none() {
            r.events.push((method.into(), session.into(), tx));
        }
        rx
    }
}
