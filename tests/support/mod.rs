//! The harness: a builder that runs the real `pretix-race` binary against an in-process simulated
//! marketplace (real HTTPS, HTTP/2, cookies, CSRF), plus a loopback webhook receiver.

pub mod hook;
pub mod notifications;
pub mod pretix;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use pretix_race::sim::{Scenario, Sim};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

pub const BIN: &str = env!("CARGO_BIN_EXE_pretix-race");

enum Browser {
    Headless,
    Chromium,
    Env(Vec<(String, String)>),
}

pub struct Race {
    scenario: Scenario,
    args: Vec<String>,
    script: Option<String>,
    files: Vec<(String, Vec<u8>)>,
    target: bool,
    name: Option<String>,
    /// The strategy names its own targets: no --url/--event; the script is the positional
    /// argument, and `{BASE}` in it is the simulator's base URL.
    own_targets: bool,
    /// Name the event by its page's URL, the positional shorthand.
    shorthand: bool,
    /// Serve the simulator over plain http (a shop run locally).
    plain: bool,
    browser: Browser,
    env: Vec<(String, String)>,
    /// Close our ends of its stdout and stderr at once, as a terminal that went away does.
    outputs_closed: bool,
    /// The events' weights, in order (`--event NAME:W`); none: no weights given.
    weights: Vec<u32>,
}

/// A finished run.
pub struct Done {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub sim: Sim,
    pub dir: tempfile::TempDir,
}

impl Done {
    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// Files in the log dir whose names contain `part`.
    pub fn logged(&self, part: &str) -> Vec<PathBuf> {
        logged_in(&self.log_dir(), part)
    }

    /// The `__Host-pretix_session` value the hand-over printed.
    pub fn handed_session(&self) -> String {
        self.stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("__Host-pretix_session="))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no session printed: {self:?}"))
            .to_string()
    }

    pub fn posts(&self) -> Vec<pretix_race::sim::Seen> {
        self.sim
            .seen()
            .into_iter()
            .filter(|s| s.method == "POST")
            .collect()
    }
}

impl std::fmt::Debug for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// All of a child's output (nothing, when it was closed).
async fn read_all<R: tokio::io::AsyncRead + Unpin>(r: Option<R>) -> String {
    let mut s = String::new();
    if let Some(mut r) = r {
        let _ = r.read_to_string(&mut s).await;
    }
    s
}

/// Files in `dir` whose names contain `part`, sorted.
pub fn logged_in(dir: &Path, part: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.file_name().unwrap().to_string_lossy().contains(part));
    v.sort();
    v
}

/// A run still going, for tests that interrupt it.
pub struct Running {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    stdout: tokio::task::JoinHandle<String>,
    pub stderr_so_far: Vec<String>,
    pub sim: Sim,
    dir: tempfile::TempDir,
}

impl Running {
    /// Waits (up to `within`) for a stderr line containing `needle`; returns it.
    pub async fn wait_for(&mut self, needle: &str, within: Duration) -> String {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.stderr_so_far.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                _ => panic!(
                    "no stderr line containing {needle:?} within {within:?}; saw:\n{}",
                    self.stderr_so_far.join("\n")
                ),
            }
        }
    }

    /// Sends SIGINT (what Ctrl-C sends) and waits for the exit; returns (code, rest of stderr).
    pub async fn interrupt(self) -> (i32, String, Sim) {
        let d = self.signal("INT").await;
        (d.code, d.stderr, d.sim)
    }

    /// Sends `SIG` (INT, TERM, HUP, …) and waits for the exit.
    pub async fn signal(self, sig: &str) -> Done {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        self.wait().await
    }

    /// Waits (at most 30 s) for the run to end by itself.
    pub async fn wait(self) -> Done {
        self.wait_within(Duration::from_secs(30)).await
    }

    /// Waits (at most `within`) for the run to end by itself.
    pub async fn wait_within(mut self, within: Duration) -> Done {
        let code = tokio::time::timeout(within, self.child.wait())
            .await
            .expect("the run exits")
            .expect("wait")
            .code()
            .unwrap_or(-1);
        while let Ok(Some(l)) =
            tokio::time::timeout(Duration::from_secs(2), self.lines.recv()).await
        {
            self.stderr_so_far.push(l);
        }
        let stdout = self.stdout.await.unwrap_or_default();
        Done {
            code,
            stdout,
            stderr: self.stderr_so_far.join("\n"),
            sim: self.sim,
            dir: self.dir,
        }
    }

    /// Moves stderr lines received so far into `stderr_so_far` (a long run's lines don't pile up
    /// in the channel).
    pub fn drain(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            self.stderr_so_far.push(l);
        }
    }

    /// The process id, to look at it while it runs.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }
}

impl Race {
    pub fn new(scenario: Scenario) -> Self {
        Self {
            scenario,
            args: Vec::new(),
            script: None,
            files: Vec::new(),
            target: true,
            name: None,
            own_targets: false,
            shorthand: false,
            plain: false,
            browser: Browser::Headless,
            env: Vec::new(),
            outputs_closed: false,
            weights: Vec::new(),
        }
    }

    /// Nobody reads its stdout and stderr (closed at once: writes fail with a broken pipe), as
    /// after the terminal went away or when a pipe's reader left.
    pub fn outputs_closed(mut self) -> Self {
        self.outputs_closed = true;
        self
    }

    /// A named scenario, its `Retry-After` pauses at 0 (tests of the rule set their own).
    pub fn named(name: &str) -> Self {
        Self::new(
            Scenario::named(name)
                .expect("known scenario")
                .with_retry_after("0"),
        )
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Self {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }

    /// Runs this Lua text as the strategy (`--script <dir>/strategy.lua`).
    pub fn script(mut self, lua: &str) -> Self {
        self.script = Some(lua.to_string());
        self
    }

    /// A file beside the strategy (a module it may `require`).
    pub fn file(mut self, name: &str, bytes: &[u8]) -> Self {
        self.files.push((name.to_string(), bytes.to_vec()));
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Hand over to the real Chromium (headless, trusting the simulator) instead of `--headless`.
    pub fn chromium(mut self) -> Self {
        self.browser = Browser::Chromium;
        self
    }

    /// Hand over to whatever browser this environment (`CHROME`, `PATH`) and the flags find.
    pub fn browser_env(mut self, env: &[(&str, &str)]) -> Self {
        self.browser = Browser::Env(
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        self
    }

    /// Reach the simulator by this non-loopback name (`--url https://NAME:PORT --resolve
    /// NAME:127.0.0.1`), so the rules for remote hosts apply.
    pub fn via_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// The strategy names its targets (`pretix-race strategy.lua`, `{BASE}` in it replaced by the
    /// simulator's URL); --ca-cert is still given.
    pub fn own_targets(mut self) -> Self {
        self.own_targets = true;
        self
    }

    /// Give the simulator's events these weights, in order (`--event NAME:W`).
    pub fn weights(mut self, w: &[u32]) -> Self {
        self.weights = w.to_vec();
        self
    }

    /// Serve the simulator over plain http, as a shop run locally does.
    pub fn plain_http(mut self) -> Self {
        self.plain = true;
        self
    }

    /// Name the event as `pretix-race https://127.0.0.1:PORT/rehearsal/` (with --ca-cert).
    pub fn event_url_shorthand(mut self) -> Self {
        self.shorthand = true;
        self
    }

    /// Don't pass --url/--event/--ca-cert (for tests of the flags themselves).
    pub fn no_target(mut self) -> Self {
        self.target = false;
        self
    }

    async fn start(self) -> (Child, Sim, tempfile::TempDir) {
        let closed = self.outputs_closed;
        let (mut child, sim, dir) = self.start_open().await;
        if closed {
            // Dropped, the pipes' read ends close: the child's writes get EPIPE.
            drop(child.stdout.take());
            drop(child.stderr.take());
        }
        (child, sim, dir)
    }

    async fn start_open(self) -> (Child, Sim, tempfile::TempDir) {
        let sim = if self.plain {
            Sim::start_plain(self.scenario).await
        } else {
            Sim::start(self.scenario).await
        }
        .expect("simulator starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, sim.ca_pem()).unwrap();
        let mut cmd = Command::new(BIN);
        if self.own_targets {
            cmd.arg("--ca-cert").arg(&ca);
        } else if self.shorthand {
            cmd.arg(format!("{}{}/", sim.base_url(), sim.event()))
                .arg("--ca-cert")
                .arg(&ca);
        } else if self.target {
            let url = match &self.name {
                Some(n) => {
                    cmd.arg("--resolve").arg(format!("{n}:127.0.0.1"));
                    format!("https://{n}:{}", sim.base_url().port().unwrap())
                }
                None => sim.base_url().to_string(),
            };
            cmd.arg("--url").arg(url).arg("--ca-cert").arg(&ca);
            for (i, e) in sim.events().into_iter().enumerate() {
                match self.weights.get(i) {
                    Some(w) => cmd.arg("--event").arg(format!("{e}:{w}")),
                    None => cmd.arg("--event").arg(e),
                };
            }
        }
        if !self.args.iter().any(|a| a == "--log-dir") {
            cmd.arg("--log-dir").arg(dir.path().join("log"));
        }
        for (name, bytes) in &self.files {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        if let Some(lua) = &self.script {
            let p = dir.path().join("strategy.lua");
            let base = sim.base_url().to_string();
            std::fs::write(&p, lua.replace("{BASE}", base.trim_end_matches('/'))).unwrap();
            if self.own_targets {
                cmd.arg(&p);
            } else {
                cmd.arg("--script").arg(&p);
            }
        }
        match &self.browser {
            Browser::Headless => {
                cmd.arg("--headless");
            }
            Browser::Chromium => {
                cmd.env("CHROME", headless_chromium(dir.path(), &sim));
            }
            Browser::Env(env) => {
                cmd.env_remove("CHROME");
                cmd.envs(env.iter().map(|(k, v)| (k, v)));
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        if !self.args.iter().any(|a| a == "--interval") {
            cmd.args(["--interval", "0.05"]);
        }
        // A failing webhook's retries need not take seconds in a test.
        cmd.args(["--webhook-retry-pause", "0.05"]);
        cmd.args(&self.args)
            .env_remove("SSL_CERT_FILE")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        (cmd.spawn().expect("binary starts"), sim, dir)
    }

    /// Runs to the end (at most 60 s).
    pub async fn run(self) -> Done {
        let (mut child, sim, dir) = self.start().await;
        let (o, e, status) = tokio::time::timeout(Duration::from_secs(60), async {
            let (o, e, s) = tokio::join!(
                read_all(child.stdout.take()),
                read_all(child.stderr.take()),
                child.wait()
            );
            (o, e, s.unwrap())
        })
        .await
        .expect("the run ends within 60 s");
        Done {
            code: status.code().unwrap_or(-1),
            stdout: o,
            stderr: e,
            sim,
            dir,
        }
    }

    /// Starts the run and returns while it goes on.
    pub async fn spawn(self) -> Running {
        let (mut child, sim, dir) = self.start().await;
        let err = child.stderr.take();
        let stdout = tokio::spawn(read_all(child.stdout.take()));
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let Some(err) = err else { return };
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines: rx,
            stdout,
            stderr_so_far: Vec::new(),
            sim,
            dir,
        }
    }
}

/// Runs the binary with just these arguments (no simulator).
pub async fn bare(args: &[&str], cwd: &Path) -> (i32, String, String) {
    bare_env(args, cwd, &[]).await
}

/// The same, with extra environment variables.
pub async fn bare_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .env_remove("SSL_CERT_FILE")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[cfg(unix)]
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The Chromium the browser tests drive: `$CHROME`, else Debian's. Never skipped: a missing
/// browser fails the test with the fix.
pub fn chromium() -> String {
    let p = std::env::var("CHROME").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&p).exists(),
        "no Chromium at {p}: run `bash .ci/install-deps` (Debian package chromium) or set CHROME"
    );
    p
}

/// A browser wrapper for a hand-over test: the real Chromium, headless, trusting the simulator's
/// certificate. Returns the wrapper's path (inside `dir`).
pub fn headless_chromium(dir: &Path, sim: &Sim) -> PathBuf {
    let p = dir.join("chromium-headless");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nexec {} --headless=new {} \"$@\"\n",
            chromium(),
            sim.browser_trust_arg()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    p
}

/// Ends a browser a hand-over left running (its whole process group).
pub fn kill_browser(pid: u32) {
    // SAFETY: kill(2) on the process group the hand-over created for the browser.
    let r = unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
    assert_eq!(r, 0, "no browser process group {pid}");
}

/// A stand-in `osascript` in a new directory: records each call's arguments (one file per call,
/// NUL-separated), its stdin (the script) and the wall-clock time. Returns (dir for PATH, record dir).
pub fn fake_osascript(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("fake-bin");
    let rec = dir.join("osascript-calls");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&rec).unwrap();
    let script = format!(
        r#"#!/bin/sh
n=$(date +%s%N)
cat > "{rec}/$n.script"
for a in "$@"; do printf '%s\0' "$a"; done > "{rec}/$n.args"
"#,
        rec = rec.display()
    );
    let p = bin.join("osascript");
    std::fs::write(&p, script).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (bin, rec)
}

/// The calls a fake osascript recorded: (nanoseconds since the epoch, args, stdin), in order.
pub fn osascript_calls(rec: &Path) -> Vec<(u128, Vec<String>, String)> {
    let mut calls: Vec<_> = std::fs::read_dir(rec)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stamp = name.strip_suffix(".args")?.to_string();
            let args = std::fs::read(e.path()).unwrap();
            let args = args
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let script =
                std::fs::read_to_string(rec.join(format!("{stamp}.script"))).unwrap_or_default();
            Some((stamp.parse().unwrap(), args, script))
        })
        .collect();
    calls.sort();
    calls
}

/// PATH with `first` in front of the current one.
pub fn path_with(first: &Path) -> String {
    format!(
        "{}:{}",
        first.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}
