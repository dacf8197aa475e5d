//! The person's browser: finding it, starting it, and showing them their cart.
//!
//! We start the browser process ourselves (fresh profile, its own process group) and drive it over
//! the DevTools protocol on a pipe (`devtools`): an ordinary window that outlives pretix-race, with
//! no automation banner and no `navigator.webdriver`. Every session cookie is set through DevTools
//! before the first navigation, so the checkout page's very first request carries the cart.
//!
//! DevTools reaches everything in the browser, the session cookies included. A DevTools port
//! would be open to every local process (any user's) for as long as the window is; the pipe is
//! ours alone and there is no port, ever (issue 17, G), on Linux and macOS alike.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use url::Url;

use super::cookies::{self, CookieInfo};
use super::devtools::{self, Pipe};

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

/// The DevTools cookie for one of ours: `__Host-` cookies by URL without a domain, the others by
/// domain and path; Secure, HttpOnly and SameSite as the server set them.
pub fn cookie_param(c: &CookieInfo, site: &Url) -> Value {
    let mut p = json!({
        "name": c.name,
        "value": c.value,
        "path": c.path,
        "secure": c.secure,
        "httpOnly": c.http_only,
    });
    if c.is_host_prefixed() {
        p["url"] = format!("{}/", site.origin().ascii_serialization()).into();
    } else {
        p["domain"] = c.domain.clone().into();
    }
    if let Some(s @ ("Strict" | "Lax" | "None")) = c.same_site.as_deref() {
        p["sameSite"] = s.into();
    }
    if let Some(e) = c.expires {
        p["expires"] = (e as f64).into();
    }
    p
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

/// One tab, attached to over DevTools (`session`).
struct Tab {
    target: String,
    session: String,
}

/// A browser started and connected to over its DevTools pipe, not yet showing anything of ours.
struct Started {
    start: Instant,
    pid: u32,
    child: std::process::Child,
    profile: PathBuf,
    pipe: Pipe,
}

/// Starts the browser on a fresh profile (on `about:blank`) and waits until DevTools answers.
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
    let mut cmd = std::process::Command::new(&l.path);
    cmd.arg(format!("--user-data-dir={}", profile.display()))
        .arg(devtools::FLAG)
        .arg("--no-first-run")
        .arg("--no-default-browser-check")
        // A DevTools pipe counts as automation (`navigator.webdriver`): the window must be an
        // ordinary one for the person's checkout. The flag that says otherwise would put an
        // "unsupported command-line flag" bar over the page; `--test-type` keeps such bars away.
        .arg("--disable-blink-features=AutomationControlled")
        .arg("--test-type");
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
    cmd.args(&l.args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    {
        // Its own process group: Ctrl-C in our terminal must not close the person's window.
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    cmd.arg("about:blank");
    let (mut child, pipe) = devtools::spawn(&mut cmd).map_err(|source| BrowserError::Spawn {
        path: path.clone(),
        source,
    })?;
    let pid = child.id();
    // DevTools answers once the browser is up; a browser that exits first closes the pipe.
    let up = tokio::time::timeout(
        Duration::from_secs(20),
        pipe.call("Browser.getVersion", json!({}), None),
    )
    .await;
    match up {
        Ok(Ok(_)) => Ok(Started {
            start,
            pid,
            child,
            profile,
            pipe,
        }),
        Ok(Err(e)) => {
            // The pipe closed: the browser is gone, or about to be (its status says why).
            for _ in 0..50 {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(BrowserError::Exited {
                        path,
                        status: status.to_string(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            kill_group(&mut child);
            Err(cdp(e))
        }
        Err(_) => {
            kill_group(&mut child);
            Err(BrowserError::NoDevTools { path, secs: 20 })
        }
    }
}

impl Started {
    /// Lets go of the browser: detached from its tab (it has nothing more to tell us), our end of
    /// the pipe closed; the window is the person's (a headless one is kept to be closed after the
    /// check). There never was a port.
    async fn finish(
        mut self,
        tab: Option<&Tab>,
        headless: bool,
        result: Result<Seen, BrowserError>,
        since: Instant,
    ) -> Result<Shown, BrowserError> {
        if let Some(t) = tab {
            let detach = self.pipe.call(
                "Target.detachFromTarget",
                json!({ "sessionId": t.session }),
                None,
            );
            let _ = tokio::time::timeout(Duration::from_secs(2), detach).await;
        }
        drop(self.pipe);
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

    /// The browser's one tab, on `url` (loaded): the tab it started with, else a new one; other
    /// blank tabs closed.
    async fn open_tab(&self, url: &Url) -> Result<Tab, BrowserError> {
        let pipe = &self.pipe;
        // The starting tab may appear a moment after DevTools first answers.
        let mut blank = None;
        for _ in 0..100 {
            let targets = pipe
                .call("Target.getTargets", json!({}), None)
                .await
                .map_err(cdp)?;
            blank = targets["targetInfos"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["targetId"].as_str())
                .map(str::to_string);
            if blank.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let target = match blank {
            Some(t) => t,
            None => pipe
                .call("Target.createTarget", json!({ "url": "about:blank" }), None)
                .await
                .map_err(cdp)?["targetId"]
                .as_str()
                .ok_or_else(|| cdp("a new tab without an id"))?
                .to_string(),
        };
        let attached = pipe
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
                None,
            )
            .await
            .map_err(cdp)?;
        let session = attached["sessionId"]
            .as_str()
            .ok_or_else(|| cdp("attached to a tab without a session"))?
            .to_string();
        let tab = Tab { target, session };
        for method in ["Page.enable", "Page.setLifecycleEventsEnabled"] {
            pipe.call(method, json!({ "enabled": true }), Some(&tab.session))
                .await
                .map_err(cdp)?;
        }
        self.goto(&tab, url).await?;
        if let Ok(targets) = pipe.call("Target.getTargets", json!({}), None).await {
            for t in targets["targetInfos"].as_array().into_iter().flatten() {
                if t["type"] == "page" && t["url"] == "about:blank" && t["targetId"] != tab.target {
                    let _ = pipe
                        .call(
                            "Target.closeTarget",
                            json!({ "targetId": t["targetId"] }),
                            None,
                        )
                        .await;
                }
            }
        }
        Ok(tab)
    }

    /// Sends `tab` to `url` and waits for that document's `load`.
    async fn goto(&self, tab: &Tab, url: &Url) -> Result<(), BrowserError> {
        let mut lifecycle = self.pipe.events("Page.lifecycleEvent", &tab.session);
        let nav = self
            .pipe
            .call(
                "Page.navigate",
                json!({ "url": url.as_str() }),
                Some(&tab.session),
            )
            .await
            .map_err(cdp)?;
        if let Some(e) = nav["errorText"].as_str().filter(|e| !e.is_empty()) {
            return Err(cdp(format!("{url}: {e}")));
        }
        // The document this navigation made, not the page it replaces (the status page reloads
        // itself): its loader, in its frame.
        let (frame, loader) = (&nav["frameId"], &nav["loaderId"]);
        while let Some(ev) = lifecycle.recv().await {
            if ev["name"] == "load"
                && &ev["frameId"] == frame
                && (loader.is_null() || &ev["loaderId"] == loader)
            {
                return Ok(());
            }
        }
        Err(cdp("the browser closed DevTools"))
    }

    /// Sets the cookies, then shows `url`: in `tab` (an early browser's, already open), or in the
    /// browser's own tab.
    async fn show(
        &self,
        tab: Option<&Tab>,
        cookies: &[CookieInfo],
        url: &Url,
    ) -> Result<(Seen, Tab), BrowserError> {
        let params: Vec<Value> = cookies.iter().map(|c| cookie_param(c, url)).collect();
        self.pipe
            .call("Storage.setCookies", json!({ "cookies": params }), None)
            .await
            .map_err(cdp)?;
        crate::log::debug("browser: cookies set");
        let opened = match tab {
            Some(tab) => {
                self.goto(tab, url).await?;
                Tab {
                    target: tab.target.clone(),
                    session: tab.session.clone(),
                }
            }
            None => self.open_tab(url).await?,
        };
        crate::log::debug("browser: checkout page loaded");
        let facts = self
            .pipe
            .call(
                "Runtime.evaluate",
                json!({ "expression": FACTS, "returnByValue": true }),
                Some(&opened.session),
            )
            .await
            .map_err(cdp)?;
        if let Some(e) = facts.get("exceptionDetails") {
            return Err(cdp(format!("reading the checkout page: {e}")));
        }
        let facts = &facts["result"]["value"];
        let s = |k: &str| facts[k].as_str().map(str::to_string);
        let seen = (
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
        );
        Ok((seen, opened))
    }
}

/// What the checkout page shows, read in the page.
const FACTS: &str = r#"(() => ({
    url: location.href,
    title: document.title.trim(),
    expires: (document.querySelector('[data-expires]') || {getAttribute: () => null}).getAttribute('data-expires'),
    items: Array.from(document.querySelectorAll('.cart-row[data-article-id] .product')).map(e => e.innerText.trim()),
    webdriver: navigator.webdriver === true,
    history: history.length,
}))()"#;

type Seen = (String, String, Option<String>, Vec<String>, bool, bool);

/// Starts the browser on a fresh profile, sets `cookies`, opens `url`, waits for it to load and
/// reads what it shows.
pub async fn open(l: &Launch, cookies: &[CookieInfo], url: &Url) -> Result<Shown, BrowserError> {
    let started = start(l).await?;
    let since = started.start;
    match started.show(None, cookies, url).await {
        Ok((seen, tab)) => {
            started
                .finish(Some(&tab), l.headless, Ok(seen), since)
                .await
        }
        Err(e) => started.finish(None, l.headless, Err(e), since).await,
    }
}

/// A browser started ahead of the hand-over (`--browser-early`), showing the status page in the
/// tab that will show the checkout.
pub struct Early {
    started: Started,
    tab: Tab,
    headless: bool,
}

impl Early {
    /// Starts the browser and opens `status` (the local status page) in its one tab.
    pub async fn start(l: &Launch, status: &Url) -> Result<Early, BrowserError> {
        let mut started = start(l).await?;
        let tab = match started.open_tab(status).await {
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
        let shown = self.started.show(Some(&self.tab), cookies, url);
        let result = match tokio::time::timeout(Duration::from_secs(15), shown).await {
            Ok(r) => r.map(|(seen, _)| seen),
            Err(_) => Err(BrowserError::Cdp(
                "no answer within 15 s from the browser started early".into(),
            )),
        };
        self.started
            .finish(Some(&self.tab), self.headless, result, since)
            .await
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
        assert_eq!(p["url"], "https://tickets.example.com/");
        assert_eq!(p.get("domain"), None);
        assert_eq!((&p["secure"], &p["httpOnly"]), (&true.into(), &true.into()));
        assert_eq!(p["sameSite"], "None");
        let p = cookie_param(&plain, &site);
        assert_eq!(
            (p.get("url"), p["domain"].as_str(), p["path"].as_str()),
            (None, Some("tickets.example.com"), Some("/"))
        );
        assert_eq!(p.get("sameSite"), None);
    }
}
