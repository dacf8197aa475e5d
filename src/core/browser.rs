//! The person's browser: finding it, starting it, and showing them their cart.
//!
//! We start the browser process ourselves (fresh profile, `--remote-debugging-port=0`, its own
//! process group) and connect to it over the DevTools protocol, rather than letting chromiumoxide
//! launch it: its launcher adds automation flags (an "automated software" banner,
//! `navigator.webdriver`) and kills the browser when the handle drops. Ours is an ordinary window
//! that outlives pretix-race. Every session cookie is set through DevTools before the first
//! navigation, so the checkout page's very first request carries the cart.
//!
//! DevTools reaches everything in the browser, the session cookies included, and its port is open
//! to every local process (any user's). So once the cookies are set and the page is shown, the
//! port is shut (issue 17, G): the browser's listening socket is taken from it (`pidfd_getfd`, as
//! its parent may) and shut down, and its `DevToolsActivePort` file removed; the window goes on as
//! before, with no DevTools endpoint left. (`--remote-debugging-pipe` would need no port at all,
//! but Chromium then counts as automated: `navigator.webdriver`, see `start`.) Where the kernel
//! refuses, the hand-over says so.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chromiumoxide::Browser as Cdp;
use chromiumoxide::cdp::browser_protocol::network::{CookieParam, CookieSameSite, TimeSinceEpoch};
use chromiumoxide::cdp::browser_protocol::target::{CloseTargetParams, GetTargetsParams};
use futures_util::StreamExt;
use url::Url;

use super::cookies::{self, CookieInfo};

#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("could not start {path}: {source}")]
    Spawn {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} exited before opening DevTools ({status})")]
    Exited { path: String, status: String },
    #[error("{path} did not open DevTools within {secs} s")]
    NoDevTools { path: String, secs: u64 },
    #[error("DevTools: {0}")]
    Cdp(String),
    #[error("could not create the browser profile {path}: {source}")]
    Profile {
        path: String,
        source: std::io::Error,
    },
}

fn cdp(e: impl std::fmt::Display) -> BrowserError {
    BrowserError::Cdp(e.to_string())
}

/// The browser a run hands its cart to, decided once at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Browser {
    /// `--headless`: no browser; the session is printed and saved.
    Headless,
    /// This executable.
    Found(PathBuf),
    /// None was found: the session is printed and saved, with what to do.
    NotFound,
}

/// Where to look, by platform. `root` prefixes absolute locations (tests use a fake root).
pub struct Search<'a> {
    pub os: &'a str,
    pub path_var: Option<OsString>,
    pub home: Option<PathBuf>,
    pub root: PathBuf,
    /// Windows install roots (%ProgramFiles%, %ProgramFiles(x86)%, %LocalAppData%).
    pub windows_roots: Vec<PathBuf>,
}

impl Search<'_> {
    /// This machine's platform and environment.
    pub fn here() -> Search<'static> {
        let windows_roots = ["ProgramFiles", "ProgramFiles(x86)", "LocalAppData"]
            .iter()
            .filter_map(std::env::var_os)
            .map(PathBuf::from)
            .collect();
        Search {
            os: std::env::consts::OS,
            path_var: std::env::var_os("PATH"),
            home: std::env::var_os("HOME").map(PathBuf::from),
            root: PathBuf::from("/"),
            windows_roots,
        }
    }
}

const LINUX_NAMES: [&str; 6] = [
    "google-chrome",
    "google-chrome-stable",
    "chromium",
    "chromium-browser",
    "brave-browser",
    "microsoft-edge",
];
const MAC_APPS: [(&str, &str); 4] = [
    ("Google Chrome.app", "Google Chrome"),
    ("Chromium.app", "Chromium"),
    ("Brave Browser.app", "Brave Browser"),
    ("Microsoft Edge.app", "Microsoft Edge"),
];
const WINDOWS_PATHS: [&str; 4] = [
    r"Google\Chrome\Application\chrome.exe",
    r"Chromium\Application\chrome.exe",
    r"BraveSoftware\Brave-Browser\Application\brave.exe",
    r"Microsoft\Edge\Application\msedge.exe",
];

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// `--browser`, else `CHROME`, else the usual places for the platform.
pub fn find(explicit: Option<&Path>, chrome_env: Option<OsString>, s: &Search) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = chrome_env.filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    match s.os {
        "macos" => {
            let mut dirs = vec![s.root.join("Applications")];
            if let Some(h) = &s.home {
                dirs.push(h.join("Applications"));
            }
            for (app, bin) in MAC_APPS {
                for d in &dirs {
                    let p = d.join(app).join("Contents/MacOS").join(bin);
                    if is_executable(&p) {
                        return Some(p);
                    }
                }
            }
            None
        }
        "windows" => s
            .windows_roots
            .iter()
            .flat_map(|r| WINDOWS_PATHS.iter().map(move |p| r.join(p)))
            .find(|p| p.is_file()),
        _ => {
            let path = s.path_var.as_ref()?;
            LINUX_NAMES
                .iter()
                .find_map(|n| which::which_in(n, Some(path), &s.root).ok())
        }
    }
}

/// How to start the browser.
#[derive(Clone, Debug)]
pub struct Launch {
    pub path: PathBuf,
    /// Headless (tests, servers): the browser is closed after the check.
    pub headless: bool,
    /// Extra flags, e.g. trusting the simulator's certificate.
    pub args: Vec<String>,
    /// The fresh profile goes in a new directory under this one.
    pub profile_root: PathBuf,
}

/// What the browser shows once the checkout page has loaded.
#[derive(Debug)]
pub struct Shown {
    pub pid: u32,
    pub url: String,
    pub title: String,
    pub expires: Option<String>,
    pub cart_items: Vec<String>,
    pub webdriver: bool,
    /// The checkout opened in the early browser's tab, the one that showed the status page.
    pub same_tab: bool,
    /// From starting the browser (or, early, from the hand-over's start) to the page loaded.
    pub elapsed: Duration,
    pub profile: PathBuf,
    child: Option<std::process::Child>,
}

impl Shown {
    /// Closes a headless browser (a visible one belongs to the person and stays).
    pub fn close_if_headless(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_group(&mut c);
            let _ = std::fs::remove_dir_all(&self.profile);
        }
    }
}

/// The CDP cookie for one of ours: `__Host-` cookies by URL without a domain, the others by
/// domain and path; Secure, HttpOnly and SameSite as the server set them.
pub fn cookie_param(c: &CookieInfo, site: &Url) -> CookieParam {
    let mut p = CookieParam::new(c.name.clone(), c.value.clone());
    if c.is_host_prefixed() {
        p.url = Some(format!("{}/", site.origin().ascii_serialization()));
    } else {
        p.domain = Some(c.domain.clone());
    }
    p.path = Some(c.path.clone());
    p.secure = Some(c.secure);
    p.http_only = Some(c.http_only);
    p.same_site = match c.same_site.as_deref() {
        Some("Strict") => Some(CookieSameSite::Strict),
        Some("Lax") => Some(CookieSameSite::Lax),
        Some("None") => Some(CookieSameSite::None),
        _ => None,
    };
    p.expires = c.expires.map(|e| TimeSinceEpoch::new(e as f64));
    p
}

/// A loopback port nobody listens on right now.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Shuts the browser's DevTools port: finds its listening socket (`/proc/<pid>/net/tcp*`, the
/// inode; `/proc/<pid>/fd`, the descriptor), takes a copy (`pidfd_getfd`: the browser is our
/// child) and shuts it down, which ends the listening for the browser too; then removes
/// `DevToolsActivePort` from the profile. Ok once nothing accepts on the port.
#[cfg(target_os = "linux")]
fn close_devtools(pid: u32, port: u16, profile: &Path) -> Result<(), String> {
    let _ = std::fs::remove_file(profile.join("DevToolsActivePort"));
    let mut inodes = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local = cols.get(1).and_then(|a| a.rsplit(':').next());
            let listening = cols.get(3) == Some(&"0A");
            if listening && local.and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port) {
                if let Some(inode) = cols.get(9) {
                    inodes.push(format!("socket:[{inode}]"));
                }
            }
        }
    }
    if inodes.is_empty() {
        return Ok(());
    }
    // SAFETY: pidfd_open(2) on our own child's pid; the result is checked.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) } as i32;
    if pidfd < 0 {
        return Err(format!("pidfd_open: {}", std::io::Error::last_os_error()));
    }
    let mut failure = None;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_err(|e| e.to_string());
    for entry in fds.into_iter().flatten().flatten() {
        let Ok(link) = std::fs::read_link(entry.path()) else {
            continue;
        };
        if !inodes.iter().any(|i| link.as_os_str() == i.as_str()) {
            continue;
        }
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // SAFETY: pidfd_getfd(2) duplicates the browser's descriptor into ours; shutdown(2) and
        // close(2) act on that copy (the shutdown on the socket both share), results checked.
        unsafe {
            let ours = libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) as i32;
            if ours < 0 {
                failure = Some(format!("pidfd_getfd: {}", std::io::Error::last_os_error()));
                continue;
            }
            libc::shutdown(ours, libc::SHUT_RDWR);
            libc::close(ours);
        }
    }
    // SAFETY: our own descriptor.
    unsafe { libc::close(pidfd) };
    match std::net::TcpStream::connect(("127.0.0.1", port)) {
        Err(_) => Ok(()),
        Ok(_) => Err(failure.unwrap_or_else(|| "it still accepts connections".into())),
    }
}

#[cfg(not(target_os = "linux"))]
fn close_devtools(_pid: u32, _port: u16, profile: &Path) -> Result<(), String> {
    let _ = std::fs::remove_file(profile.join("DevToolsActivePort"));
    Err("not supported on this platform yet".into())
}

/// Ends the browser and every process it started (they share its process group).
fn kill_group(c: &mut std::process::Child) {
    #[cfg(unix)]
    {
        // SAFETY: kill(2) with a negative pid signals the process group we created for it.
        unsafe {
            libc::kill(-(c.id() as libc::pid_t), libc::SIGKILL);
        }
    }
    let _ = c.kill();
    let _ = c.wait();
}

fn running_as_root() -> bool {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() == 0 }
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// A browser started and connected to over DevTools, not yet showing anything of ours.
struct Started {
    start: Instant,
    pid: u32,
    /// The DevTools port, shut once we are done with it.
    port: u16,
    child: std::process::Child,
    profile: PathBuf,
    browser: Cdp,
    pump: tokio::task::JoinHandle<()>,
}

/// Starts the browser on a fresh profile (on `about:blank`) and connects to it.
async fn start(l: &Launch) -> Result<Started, BrowserError> {
    let start = Instant::now();
    let profile = l.profile_root.join(format!(
        "browser-profile-{}-{}",
        crate::clock::compact(std::time::SystemTime::now()),
        std::process::id()
    ));
    cookies::create_private_dir(&profile).map_err(|source| BrowserError::Profile {
        path: profile.display().to_string(),
        source,
    })?;
    let path = l.path.display().to_string();
    // An explicit port: Chromium treats port 0 as automation (`navigator.webdriver`), and the
    // window must be an ordinary one for the person's checkout.
    let port = free_port().map_err(|source| BrowserError::Spawn {
        path: path.clone(),
        source,
    })?;
    let mut cmd = std::process::Command::new(&l.path);
    cmd.arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--remote-debugging-port={port}"))
        .arg("--remote-allow-origins=http://127.0.0.1")
        .arg("--no-first-run")
        .arg("--no-default-browser-check");
    if l.headless {
        cmd.args([
            "--headless=new",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ]);
    }
    if running_as_root() {
        cmd.arg("--no-sandbox");
    }
    cmd.args(&l.args).arg("about:blank");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    {
        // Its own process group: Ctrl-C in our terminal must not close the person's window.
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().map_err(|source| BrowserError::Spawn {
        path: path.clone(),
        source,
    })?;
    let pid = child.id();

    // Wait for DevTools to listen; chromiumoxide then asks it for the browser's WebSocket.
    let endpoint = format!("http://127.0.0.1:{port}");
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(BrowserError::Exited {
                path,
                status: status.to_string(),
            });
        }
        if start.elapsed() > Duration::from_secs(20) {
            kill_group(&mut child);
            return Err(BrowserError::NoDevTools { path, secs: 20 });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (browser, mut handler) = match Cdp::connect(endpoint).await {
        Ok(x) => x,
        Err(e) => {
            kill_group(&mut child);
            return Err(cdp(e));
        }
    };
    let pump = tokio::spawn(async move { while handler.next().await.is_some() {} });
    Ok(Started {
        start,
        pid,
        port,
        child,
        profile,
        browser,
        pump,
    })
}

impl Started {
    /// Lets go of the browser: DevTools detached, the window the person's (a headless one is
    /// kept to be closed after the check).
    fn finish(
        mut self,
        headless: bool,
        result: Result<Seen, BrowserError>,
        since: Instant,
    ) -> Result<Shown, BrowserError> {
        drop(self.browser);
        self.pump.abort();
        // No door left open: the cookies are in, nothing more is asked of DevTools.
        match close_devtools(self.pid, self.port, &self.profile) {
            Ok(()) => crate::log::debug("browser: DevTools port shut"),
            Err(e) => crate::log::warn(format!(
                "the browser's DevTools port {} could not be shut ({e}): while its window is open, a local program could read the session through it",
                self.port
            )),
        }
        let (page_url, title, expires, cart_items, webdriver, same_tab) = match result {
            Ok(x) => x,
            Err(e) => {
                if headless {
                    kill_group(&mut self.child);
                }
                return Err(e);
            }
        };
        Ok(Shown {
            pid: self.pid,
            url: page_url,
            title,
            expires,
            cart_items,
            webdriver,
            same_tab,
            elapsed: since.elapsed(),
            profile: self.profile,
            child: headless.then_some(self.child),
        })
    }
}

/// Starts the browser on a fresh profile, sets `cookies`, opens `url`, waits for it to load and
/// reads what it shows.
pub async fn open(l: &Launch, cookies: &[CookieInfo], url: &Url) -> Result<Shown, BrowserError> {
    let mut started = start(l).await?;
    let since = started.start;
    let result = show(&mut started.browser, None, cookies, url).await;
    started.finish(l.headless, result, since)
}

/// A browser started ahead of the hand-over (`--browser-early`), showing the status page in the
/// tab that will show the checkout.
pub struct Early {
    started: Started,
    tab: chromiumoxide::Page,
    headless: bool,
}

impl Early {
    /// Starts the browser and opens `status` (the local status page) in its one tab.
    pub async fn start(l: &Launch, status: &Url) -> Result<Early, BrowserError> {
        let mut started = start(l).await?;
        let tab = match open_tab(&mut started.browser, status).await {
            Ok(tab) => tab,
            Err(e) => {
                kill_group(&mut started.child);
                return Err(e);
            }
        };
        Ok(Early {
            started,
            tab,
            headless: l.headless,
        })
    }

    pub fn pid(&self) -> u32 {
        self.started.pid
    }

    /// Sets `cookies` and sends the same tab to `url`; what it shows once loaded.
    /// A browser that is gone (its window closed) or stops answering is an error at once or
    /// within 15 s, never a wait: the hand-over then starts a browser of its own.
    pub async fn show(mut self, cookies: &[CookieInfo], url: &Url) -> Result<Shown, BrowserError> {
        let since = Instant::now();
        let path = "the browser started early".to_string();
        if let Ok(Some(status)) = self.started.child.try_wait() {
            return Err(BrowserError::Exited {
                path,
                status: status.to_string(),
            });
        }
        let shown = show(&mut self.started.browser, Some(&self.tab), cookies, url);
        let result = match tokio::time::timeout(Duration::from_secs(15), shown).await {
            Ok(r) => r,
            Err(_) => Err(BrowserError::Cdp(
                "no answer within 15 s from the browser started early".into(),
            )),
        };
        self.started.finish(self.headless, result, since)
    }

    /// Ends the browser, as a person closing its window would (tests of the fallback).
    pub fn close_window(&mut self) {
        kill_group(&mut self.started.child);
    }

    /// Closes a headless early browser that was never used (a visible one is left to the person,
    /// like any window of theirs).
    pub fn close_if_headless(mut self) {
        if self.headless {
            kill_group(&mut self.started.child);
            let _ = std::fs::remove_dir_all(&self.started.profile);
        }
    }
}

/// A new tab on `url` (loaded), the browser's starting blank tab closed: one tab, the person's.
async fn open_tab(browser: &mut Cdp, url: &Url) -> Result<chromiumoxide::Page, BrowserError> {
    let page = browser.new_page(url.as_str()).await.map_err(cdp)?;
    if let Ok(targets) = browser.execute(GetTargetsParams::default()).await {
        for t in &targets.result.target_infos {
            if t.r#type == "page" && t.url == "about:blank" && &t.target_id != page.target_id() {
                let _ = browser
                    .execute(CloseTargetParams::new(t.target_id.clone()))
                    .await;
            }
        }
    }
    Ok(page)
}

type Seen = (String, String, Option<String>, Vec<String>, bool, bool);

/// Sets the cookies, then shows `url`: in `tab` (an early browser's, already open), or in a new
/// tab (chromiumoxide waits for it to load; the blank starting tab is closed).
async fn show(
    browser: &mut Cdp,
    tab: Option<&chromiumoxide::Page>,
    cookies: &[CookieInfo],
    url: &Url,
) -> Result<Seen, BrowserError> {
    let params: Vec<CookieParam> = cookies.iter().map(|c| cookie_param(c, url)).collect();
    browser.set_cookies(params).await.map_err(cdp)?;
    crate::log::debug("browser: cookies set");
    let opened;
    let page = match tab {
        Some(tab) => {
            tab.goto(url.as_str()).await.map_err(cdp)?;
            tab
        }
        None => {
            opened = open_tab(browser, url).await?;
            &opened
        }
    };
    crate::log::debug("browser: checkout page loaded");
    let facts: serde_json::Value = page
        .evaluate(
            r#"(() => ({
                url: location.href,
                title: document.title.trim(),
                expires: (document.querySelector('[data-expires]') || {getAttribute: () => null}).getAttribute('data-expires'),
                items: Array.from(document.querySelectorAll('.cart-row[data-article-id] .product')).map(e => e.innerText.trim()),
                webdriver: navigator.webdriver === true,
                history: history.length,
            }))()"#,
        )
        .await
        .map_err(cdp)?
        .into_value()
        .map_err(cdp)?;
    let s = |k: &str| facts[k].as_str().map(str::to_string);
    Ok((
        s("url").unwrap_or_default(),
        s("title").unwrap_or_default(),
        s("expires"),
        facts["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        facts["webdriver"].as_bool().unwrap_or(false),
        // The early tab came from the status page: the checkout is its second entry.
        tab.is_some() && facts["history"].as_u64().unwrap_or(0) >= 2,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exe(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    fn search<'a>(os: &'a str, root: &Path, path: &[&Path]) -> Search<'a> {
        Search {
            os,
            path_var: Some(std::env::join_paths(path).unwrap()),
            home: Some(root.join("home")),
            root: root.to_path_buf(),
            windows_roots: vec![root.join("pf"), root.join("pf86")],
        }
    }

    #[test]
    fn explicit_then_env_then_platform() {
        let t = tempfile::tempdir().unwrap();
        let bin = t.path().join("bin");
        exe(&bin.join("chromium"));
        let s = search("linux", t.path(), &[&bin]);
        assert_eq!(
            find(Some(Path::new("/x/chrome")), Some("/y".into()), &s),
            Some("/x/chrome".into())
        );
        assert_eq!(
            find(None, Some("/y/chrome".into()), &s),
            Some("/y/chrome".into())
        );
        assert_eq!(find(None, Some("".into()), &s), Some(bin.join("chromium")));
        assert_eq!(find(None, None, &s), Some(bin.join("chromium")));
    }

    #[test]
    fn linux_prefers_chrome_and_skips_non_executables() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        exe(&a.join("chromium"));
        exe(&b.join("google-chrome-stable"));
        std::fs::write(a.join("google-chrome"), "not executable").unwrap();
        let s = search("linux", t.path(), &[&a, &b]);
        assert_eq!(find(None, None, &s), Some(b.join("google-chrome-stable")));
        let empty = search("linux", t.path(), &[&t.path().join("none")]);
        assert_eq!(find(None, None, &empty), None);
    }

    #[test]
    fn macos_app_bundles_in_system_and_home_applications() {
        let t = tempfile::tempdir().unwrap();
        let s = search("macos", t.path(), &[]);
        assert_eq!(find(None, None, &s), None);
        let brave = t
            .path()
            .join("home/Applications/Brave Browser.app/Contents/MacOS/Brave Browser");
        exe(&brave);
        assert_eq!(find(None, None, &s), Some(brave));
        let chrome = t
            .path()
            .join("Applications/Google Chrome.app/Contents/MacOS/Google Chrome");
        exe(&chrome);
        assert_eq!(find(None, None, &s), Some(chrome));
    }

    #[test]
    fn windows_standard_install_paths() {
        let t = tempfile::tempdir().unwrap();
        let s = search("windows", t.path(), &[]);
        assert_eq!(find(None, None, &s), None);
        let edge = t
            .path()
            .join("pf86")
            .join(r"Microsoft\Edge\Application\msedge.exe");
        exe(&edge);
        assert_eq!(find(None, None, &s), Some(edge));
    }

    #[test]
    fn host_cookies_by_url_others_by_domain() {
        let site = Url::parse("https://tickets.example.com/event/checkout/questions/").unwrap();
        let [plain, host] = crate::core::cookies::sample().try_into().unwrap();
        let p = cookie_param(&host, &site);
        assert_eq!(p.url.as_deref(), Some("https://tickets.example.com/"));
        assert_eq!(p.domain, None);
        assert_eq!((p.secure, p.http_only), (Some(true), Some(true)));
        assert_eq!(p.same_site, Some(CookieSameSite::None));
        let p = cookie_param(&plain, &site);
        assert_eq!(
            (p.url, p.domain.as_deref(), p.path.as_deref()),
            (None, Some("tickets.example.com"), Some("/"))
        );
        assert_eq!(p.same_site, None);
    }
}
