//! A real pretix on loopback, for the tests that must see what pretix itself serves (issue 17):
//! the simulator is our idea of pretix; this is pretix.
//!
//! One server for the whole `cargo test` run (pretix is slow to start and its migrations take
//! a minute and a half on 2 cores): the migrated database, with the organiser `demo`, its
//! payment method and an API token already made, is built ONCE per pretix version into
//! `target/pretix-<version>.sqlite3` and copied into a temp dir per run; the server
//! (`python -m pretix runserver --noreload`, SQLite, one process) is started on the first use
//! and dies with the test process (`PR_SET_PDEATHSIG`, from a thread that lives as long as the
//! process). Each test makes its own event through pretix's REST API under a fresh slug, so the
//! tests run side by side without seeing each other.
//!
//! pretix comes from PyPI into a cached venv (`.ci/install-deps`, as Chromium does); a missing
//! pretix fails the test with that fix, never skips it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::BIN;

/// The organiser every test's events belong to.
pub const ORG: &str = "demo";

/// The venv `.ci/install-deps` installs pretix into (`$PRETIX_VENV` overrides it).
fn venv() -> PathBuf {
    if let Ok(v) = std::env::var("PRETIX_VENV") {
        return PathBuf::from(v);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    Path::new(&home).join(".cache/pretix-venv")
}

fn python() -> PathBuf {
    let p = venv().join("bin/python");
    assert!(
        p.exists(),
        "no pretix venv at {}: run `bash .ci/install-deps` (it installs pretix from PyPI into it) or set PRETIX_VENV",
        venv().display()
    );
    p
}

fn pretix_version(py: &Path) -> String {
    let out = std::process::Command::new(py)
        .args(["-c", "import pretix; print(pretix.__version__)"])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "pretix is not installed in {}: run `bash .ci/install-deps`\n{}",
        venv().display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn config(dir: &Path, port: u16) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let cfg = dir.join("pretix.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[pretix]\ninstance_name=pretix-race tests\nurl=http://127.0.0.1:{port}\ncurrency=EUR\n\
             datadir={data}\n\n[database]\nbackend=sqlite3\nname={data}/db.sqlite3\n\n\
             [mail]\nfrom=test@localhost\nhost=127.0.0.1\nport=1\n\n[django]\ndebug=off\n",
            data = data.display()
        ),
    )
    .unwrap();
    cfg
}

/// Made once in the template: the organiser, its bank-transfer payment (so events with paid
/// products can go live; the REST API can't enable it) and a team whose token the tests use.
const SETUP: &str = r#"
from pretix.base.models import Organizer, Team
o, _ = Organizer.objects.get_or_create(slug="demo", defaults={"name": "Demo"})
o.plugins = ",".join(p for p in [o.plugins, "pretix.plugins.banktransfer"] if p)
o.save()
o.settings.payment_banktransfer__enabled = True
o.settings.payment_banktransfer_bank_details_type = "other"
o.settings.payment_banktransfer_bank_details = "test"
t = Team.objects.create(organizer=o, name="API", all_events=True, all_event_permissions=True, all_organizer_permissions=True)
print("TOKEN=" + t.tokens.create(name="tests").token)
"#;

/// The migrated template database and its token: `target/pretix-<version>.sqlite3` (+ `.token`).
fn template(py: &Path) -> (PathBuf, String) {
    let version = pretix_version(py);
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let db = target.join(format!("pretix-{version}.sqlite3"));
    let token_file = target.join(format!("pretix-{version}.token"));
    if let (true, Ok(token)) = (db.exists(), std::fs::read_to_string(&token_file)) {
        return (db, token.trim().to_string());
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 1);
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut c = std::process::Command::new(py);
        c.args(["-m", "pretix"])
            .args(args)
            .env("PRETIX_CONFIG_FILE", &cfg)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("python runs");
        {
            use std::io::Write;
            let mut i = child.stdin.take().unwrap();
            i.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "pretix {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["migrate", "--noinput"], None);
    let out = run(&["shell"], Some(SETUP));
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("TOKEN="))
        .expect("a token")
        .trim()
        .to_string();
    // Into place atomically: a run interrupted half-way leaves no half-made template.
    let tmp = target.join(format!("pretix-{version}.sqlite3.{}", std::process::id()));
    std::fs::copy(dir.path().join("data/db.sqlite3"), &tmp).unwrap();
    std::fs::rename(&tmp, &db).unwrap();
    std::fs::write(&token_file, &token).unwrap();
    (db, token)
}

/// The running pretix.
pub struct Pretix {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    token: String,
    _dir: tempfile::TempDir,
}

static SERVER: OnceLock<Pretix> = OnceLock::new();
static SLUGS: AtomicU32 = AtomicU32::new(0);

impl Pretix {
    /// The suite's pretix, started on first use.
    pub fn get() -> &'static Pretix {
        SERVER.get_or_init(Self::start)
    }

    fn start() -> Pretix {
        let py = python();
        let (template, token) = template(&py);
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = config(dir.path(), port);
        let db = dir.path().join("data/db.sqlite3");
        std::fs::copy(&template, &db).unwrap();
        // Write-ahead logging: the tests' binaries and API calls write side by side, and in
        // SQLite's default journal a reader blocks a writer (pretix then answers 500).
        let wal = std::process::Command::new(&py)
            .args([
                "-c",
                "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode=WAL')",
            ])
            .arg(&db)
            .status()
            .expect("python runs");
        assert!(wal.success(), "WAL on {}", db.display());
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // The server is the child of a thread that lives as long as the test process: the
        // parent-death signal (sent when the spawning *thread* ends) comes at the process's end.
        let addr = format!("127.0.0.1:{port}");
        std::thread::spawn(move || {
            use std::os::unix::process::CommandExt;
            let mut c = std::process::Command::new(py);
            c.args(["-m", "pretix", "runserver", &addr, "--noreload"])
                .env("PRETIX_CONFIG_FILE", &cfg)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            // SAFETY: prctl in the child before exec; async-signal-safe.
            unsafe {
                c.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let child = c.spawn().expect("pretix starts");
            tx.send(child.id()).unwrap();
            let _child = child;
            loop {
                std::thread::park();
            }
        });
        rx.recv().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        // Up when the organiser's page answers (a minute at most, on a busy machine).
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut s| {
                use std::io::{Read, Write};
                let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                let req = format!("GET /{ORG}/ HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
                let mut first = [0u8; 12];
                s.write_all(req.as_bytes()).is_ok()
                    && s.read_exact(&mut first).is_ok()
                    && first.ends_with(b"200")
            });
            if up {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "pretix did not come up: {}",
                std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Pretix {
            base,
            token,
            _dir: dir,
        }
    }

    /// A new, empty event (not live yet) under a slug no other test uses.
    pub async fn event(&'static self, prefix: &str, extra: Value) -> Event {
        let slug = format!(
            "{prefix}{}x{}",
            SLUGS.fetch_add(1, Ordering::Relaxed),
            std::process::id() % 10000
        );
        let mut body = json!({
            "name": {"en": format!("Con {slug}")},
            "slug": slug,
            "date_from": "2030-06-01T10:00:00Z",
            "currency": "EUR",
            "live": false,
            "plugins": ["pretix.plugins.banktransfer"],
        });
        merge(&mut body, extra);
        let e = Event { pretix: self, slug };
        e.api("POST", &format!("/api/v1/organizers/{ORG}/events/"), body)
            .await;
        e
    }

    /// A REST call; panics with pretix's answer when it is not a success. One at a time (the
    /// tests share one SQLite database), and again after a 5xx: SQLite's lock timeout under load
    /// rolls the whole request back, so a retry cannot make anything twice.
    pub async fn api(&self, method: &str, path: &str, body: Value) -> Value {
        static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _turn = ONE_AT_A_TIME.lock().await;
        let mut tries = 0;
        loop {
            tries += 1;
            match self.api_once(method, path, &body).await {
                Err(e) if tries < 4 => {
                    eprintln!("{e}; again");
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Err(e) => panic!("{e}"),
                Ok(v) => return v,
            }
        }
    }

    async fn api_once(&self, method: &str, path: &str, body: &Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        // A client per call: each test has its own runtime, and a pooled connection outlives it.
        let mut req = reqwest::Client::new()
            .request(method.parse().unwrap(), &url)
            .header("Authorization", format!("Token {}", self.token));
        if method != "GET" {
            req = req
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(body).unwrap());
        }
        let r = req.send().await.expect("pretix answers");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        if status.is_server_error() {
            return Err(format!("{method} {path}: {status}"));
        }
        assert!(status.is_success(), "{method} {path}: {status}\n{text}");
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn merge(a: &mut Value, b: Value) {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        for (k, v) in b {
            a.insert(k, v);
        }
    }
}

/// One test's event.
pub struct Event {
    pub pretix: &'static Pretix,
    pub slug: String,
}

impl Event {
    async fn api(&self, method: &str, path: &str, body: Value) -> Value {
        self.pretix.api(method, path, body).await
    }

    /// `/api/v1/organizers/demo/events/<slug>` + `rest`.
    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/organizers/{ORG}/events/{}{rest}", self.slug)
    }

    pub async fn post(&self, rest: &str, body: Value) -> Value {
        self.api("POST", &self.path(rest), body).await
    }

    pub async fn patch(&self, rest: &str, body: Value) -> Value {
        self.api("PATCH", &self.path(rest), body).await
    }

    pub async fn fetch(&self, rest: &str) -> Value {
        self.api("GET", &self.path(rest), Value::Null).await
    }

    /// A product at `price` (EUR) with `extra` fields (variations, available_from, …); its id.
    pub async fn item(&self, name: &str, price: &str, extra: Value) -> u64 {
        let mut body = json!({"name": {"en": name}, "default_price": price, "active": true, "admission": true});
        merge(&mut body, extra);
        self.post("/items/", body).await["id"].as_u64().unwrap()
    }

    /// A quota of `size` over these items (and variations); its id.
    pub async fn quota(&self, size: u32, items: &[u64], variations: &[u64], extra: Value) -> u64 {
        let mut body = json!({"name": "Q", "size": size, "items": items, "variations": variations});
        merge(&mut body, extra);
        self.post("/quotas/", body).await["id"].as_u64().unwrap()
    }

    pub async fn set_quota(&self, quota: u64, size: u32) {
        self.patch(&format!("/quotas/{quota}/"), json!({"size": size}))
            .await;
    }

    /// pretix's own view of a quota: `{available_number, cart_positions, …}`.
    pub async fn availability(&self, quota: u64) -> Value {
        self.fetch(&format!("/quotas/{quota}/availability/")).await
    }

    pub async fn settings(&self, body: Value) {
        self.patch("/settings/", body).await;
    }

    pub async fn go_live(&self) {
        self.patch("/", json!({"live": true})).await;
    }

    /// The event page's URL.
    pub fn url(&self) -> String {
        format!("{}/{ORG}/{}/", self.pretix.base, self.slug)
    }

    /// The binary, watching this event (`--url …/demo --event <slug> --headless`) with `args`.
    pub fn race<I: IntoIterator<Item = S>, S: Into<String>>(&self, args: I) -> Watch {
        let mut w = Watch::new(self.pretix);
        w.args.extend([
            "--url".to_string(),
            format!("{}/{ORG}", self.pretix.base),
            "--event".into(),
            self.slug.clone(),
        ]);
        w.args.extend(args.into_iter().map(Into::into));
        w
    }
}

/// The binary against the real pretix.
pub struct Watch {
    pub args: Vec<String>,
    dir: tempfile::TempDir,
}

impl Watch {
    /// The binary with just these arguments (and `--headless`, a log dir, a short interval).
    pub fn new(_p: &'static Pretix) -> Self {
        Watch {
            args: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub async fn spawn(self) -> Watching {
        let mut cmd = Command::new(BIN);
        cmd.args(&self.args)
            .arg("--headless")
            .arg("--log-dir")
            .arg(self.dir.path().join("log"));
        if !self.args.iter().any(|a| a == "--interval") {
            cmd.args(["--interval", "0.2"]);
        }
        cmd.current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("binary starts");
        let err = child.stderr.take();
        let out = child.stdout.take();
        let stdout = tokio::spawn(async move {
            let mut s = String::new();
            if let Some(mut o) = out {
                let _ = o.read_to_string(&mut s).await;
            }
            s
        });
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
        Watching {
            child,
            lines: rx,
            stdout,
            seen: Vec::new(),
            _dir: self.dir,
        }
    }

    /// Runs to the end (at most 60 s).
    pub async fn run(self) -> Ended {
        self.spawn().await.wait().await
    }
}

pub struct Watching {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    stdout: tokio::task::JoinHandle<String>,
    pub seen: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Watching {
    /// Waits (up to 60 s) for a stderr line containing `needle`; returns it.
    pub async fn wait_for(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                _ => panic!(
                    "no stderr line containing {needle:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits (at most 60 s) for the end.
    pub async fn wait(mut self) -> Ended {
        let code = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the run ends; saw:\n{}", self.seen.join("\n")))
            .expect("wait")
            .code()
            .unwrap_or(-1);
        while let Ok(Some(l)) =
            tokio::time::timeout(Duration::from_secs(2), self.lines.recv()).await
        {
            self.seen.push(l);
        }
        Ended {
            code,
            stdout: self.stdout.await.unwrap_or_default(),
            stderr: self.seen.join("\n"),
        }
    }

    /// Ctrl-C, and the end.
    pub async fn interrupt(self) -> Ended {
        let pid = self.child.id().expect("running");
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
        self.wait().await
    }
}

pub struct Ended {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}
