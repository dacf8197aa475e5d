//! Handing a secured cart to the person ([`hand_over`], used by `session:handoff`, `handoff-test`
//! and the hand-over at exit). Whatever else happens, the session is first written to disk
//! (Netscape cookie file and JSON, 0600) and printed with the checkout URL and a console script,
//! so the cart can be taken over by hand even if every later step fails; then the browser opens on
//! the checkout page. Everything the person reads comes from the reporters here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use url::Url;

use super::browser::{Browser, BrowserError, Early, Shown};
use super::cookies::{self, CookieInfo};
use crate::clock;

#[derive(Clone, Debug)]
pub struct Export {
    pub checkout_url: Url,
    pub cookies: Vec<CookieInfo>,
    /// The Netscape and JSON cookie files, or why they could not be written.
    pub files: Result<(PathBuf, PathBuf), String>,
    pub console_script: String,
}

/// Writes the cookie files under `dir` and builds the console script; nothing is printed yet.
/// Never fails: a file that cannot be written is recorded, and the rest is still handed over.
/// Each file is created new (never an existing file, never through a link: see
/// [`cookies::create_private`]), under the first free `cart-<stamp>[-n]` name.
pub fn export(dir: &Path, mut cookies: Vec<CookieInfo>, checkout_url: &Url) -> Export {
    // Only the shop's own cookies: the files, the printed session, the console script (which sets
    // each on the checkout's site) and the browser get nothing another host set in this session.
    let host = checkout_url.host_str().unwrap_or("").to_ascii_lowercase();
    cookies.retain(|c| {
        let d = c.domain.to_ascii_lowercase();
        d == host || (!c.host_only && host.ends_with(&format!(".{d}")))
    });
    let files = write_files(dir, &cookies).map_err(|e| {
        format!(
            "could not write the cookie files under {}: {e}",
            dir.display()
        )
    });
    if let Err(e) = &files {
        crate::log::error(e);
    }
    let console_script = cookies::console_script(&cookies, checkout_url.as_str());
    Export {
        checkout_url: checkout_url.clone(),
        cookies,
        files,
        console_script,
    }
}

/// The Netscape and JSON files, as a pair under the first stem free for both.
fn write_files(dir: &Path, cookies: &[CookieInfo]) -> std::io::Result<(PathBuf, PathBuf)> {
    let stamp = clock::compact(SystemTime::now());
    let taken = |e: &std::io::Error| e.kind() == std::io::ErrorKind::AlreadyExists;
    let mut last = None;
    for n in 1..1000 {
        let stem = if n == 1 {
            format!("cart-{stamp}")
        } else {
            format!("cart-{stamp}-{n}")
        };
        let txt = dir.join(format!("{stem}.cookies.txt"));
        let json = dir.join(format!("{stem}.cookies.json"));
        match cookies::write_private(&txt, &cookies::netscape(cookies)) {
            Err(e) if taken(&e) => {
                last = Some(e);
                continue;
            }
            r => r?,
        }
        match cookies::write_private(&json, &cookies::json(cookies)) {
            Err(e) if taken(&e) => {
                // Ours, just made: the pair moves on to the next free stem.
                let _ = std::fs::remove_file(&txt);
                last = Some(e);
            }
            r => return r.map(|()| (txt, json)),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free name")))
}

/// What a hand-over says it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Title {
    /// A cart the strategy secured and hands over.
    InCart,
    /// A secured cart the strategy had not handed over when the run ended.
    AtExit,
    /// A session handed over on a page that is not a checkout page: no cart is confirmed.
    NotCheckout,
}

/// What the person reads on stdout.
pub fn report(e: &Export, expires: Option<&str>, title: Title) -> String {
    let mut s = String::new();
    match title {
        Title::InCart => s.push_str("\n=== TICKET IN CART ===\n"),
        Title::AtExit => s.push_str(
            "\n=== TICKET IN CART (handed over as pretix-race stops: take it over now) ===\n",
        ),
        Title::NotCheckout => s.push_str(&format!(
            "\n=== SESSION HANDED OVER: NO CART CONFIRMED ===\n{} is not a checkout page, so pretix-race has not seen a ticket in this session's cart.\n",
            e.checkout_url
        )),
    }
    let label = if title == Title::NotCheckout {
        "Page"
    } else {
        "Checkout"
    };
    s.push_str(&format!("{label}: {}\n", e.checkout_url));
    if let Some(x) = expires {
        s.push_str(&format!("Reserved until: {x}\n"));
    }
    s.push_str("Finish checkout in your browser with this session's cookies:\n");
    for c in &e.cookies {
        s.push_str(&format!(
            "  {}={}  ({}{})\n",
            c.name, c.value, c.domain, c.path
        ));
    }
    match &e.files {
        Ok((txt, json)) => s.push_str(&format!(
            "Cookie files (private): {}\n                        {}\n",
            txt.display(),
            json.display()
        )),
        Err(why) => s.push_str(&format!("No cookie files: {why}\n")),
    }
    s.push_str(&format!(
        "Or open {} in your browser, press F12, paste this into the Console and press Enter\n(if it reports an error, the browser already has a session for this shop: use a private window,\nor clear the site's cookies, then paste it again):\n\n{}\n",
        e.checkout_url.origin().ascii_serialization(),
        e.console_script
    ));
    s
}

/// What the person reads once the browser shows the checkout page.
pub fn browser_report(
    shown: &super::browser::Shown,
    browser: &Path,
    latency: Option<std::time::Duration>,
) -> String {
    let mut s = format!(
        "\nBrowser: {} (pid {}) shows {}\n         The window is yours: it stays open after pretix-race exits (profile: {}).\n",
        browser.display(),
        shown.pid,
        shown.url,
        shown.profile.display()
    );
    if shown.same_tab {
        s.push_str(
            "         The tab that showed the watch (--browser-early) now shows the checkout.\n",
        );
    }
    match &shown.expires {
        Some(x) => s.push_str(&format!(
            "         The cart is reserved until {x}: finish checkout before then.\n"
        )),
        None => {
            s.push_str("         The reservation lasts about 10 minutes: finish checkout now.\n")
        }
    }
    if let Some(l) = latency {
        s.push_str(&format!(
            "         Hand-over took {} after the cart was secured.\n",
            super::session::ms(l)
        ));
    }
    s
}

/// What the person reads when no browser could be opened.
pub fn manual_report(why: &str, e: &Export) -> String {
    let checkout_url = &e.checkout_url;
    let mut s = format!(
        "\nNo browser was opened: {why}\nYour cart is not lost. Take it over by hand, now (the reservation lasts about 10 minutes):\n"
    );
    s.push_str(&format!(
        "  1. open {} in your browser and paste the console script above into its DevTools console (F12), or\n",
        checkout_url.origin().ascii_serialization()
    ));
    if let Ok((txt, _)) = &e.files {
        s.push_str(&format!(
            "  2. import {} with a cookie-import extension, then open {checkout_url}\n",
            txt.display()
        ));
    }
    s
}

/// What the person reads when the browser did not show the checkout in time (`why` says so).
pub fn not_loaded_report(why: &str, e: &Export) -> String {
    let file = match &e.files {
        Ok((txt, _)) => format!(", or import {}", txt.display()),
        Err(_) => String::new(),
    };
    format!(
        "\n{why}: the printed session stands.\nYour cart is not lost. Take it over with the session above, now (the reservation lasts about 10 minutes): open {} in your browser and paste the console script into its DevTools console (F12){file}.\n",
        e.checkout_url.origin().ascii_serialization(),
    )
}

/// Hands over carts nobody handed over, headless: cookie files (0600), checkout URL, cookies and
/// console script on stdout. Returns what was handed over, for the alerts.
pub fn at_exit(dir: &Path, carts: &[super::carts::SecuredCart]) -> Vec<Export> {
    crate::log::pause_status();
    carts
        .iter()
        .map(|c| {
            let export = export(dir, c.cookies.clone(), &c.checkout_url);
            crate::out!("{}", report(&export, c.expires.as_deref(), Title::AtExit));
            export
        })
        .collect()
}

/// `--browser-early`: the browser started at start-up on the status page, taken by the first
/// hand-over (which waits for it if it is still starting: that is still sooner than a start).
#[derive(Clone, Default)]
pub struct EarlyBrowser(Arc<tokio::sync::Mutex<Option<Result<Early, String>>>>);

impl std::fmt::Debug for EarlyBrowser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EarlyBrowser")
    }
}

impl EarlyBrowser {
    /// Starts the browser in the background on `status`, the watch's status page.
    pub fn start(&self, launch: super::browser::Launch, status: Url) {
        // Locked before the task runs: a hand-over in the very first instant waits for it.
        let Ok(mut slot) = self.0.clone().try_lock_owned() else {
            return;
        };
        tokio::spawn(async move {
            let r = Early::start(&launch, &status).await;
            match &r {
                Ok(e) => crate::log::info(format!(
                    "browser started early (pid {}): it shows the watch at {status} and will show the checkout",
                    e.pid()
                )),
                Err(e) => crate::log::warn(format!(
                    "--browser-early: the browser did not start ({e}); the hand-over will start one"
                )),
            }
            *slot = Some(r.map_err(|e| e.to_string()));
        });
    }

    /// Waits until the early browser has started, then closes its window as a person could; its
    /// pid. For the test of the hand-over's fallback.
    pub async fn close_window(&self) -> Option<u32> {
        let mut slot = self.0.lock().await;
        let early = slot.as_mut()?.as_mut().ok()?;
        early.close_window();
        Some(early.pid())
    }

    /// Sets `cookies` and sends the early browser's tab to `url`, waiting for the browser if it
    /// is still starting; `None` when there is none to use (not asked for, did not start, or
    /// taken by an earlier hand-over).
    async fn show(&self, cookies: &[CookieInfo], url: &Url) -> Option<Result<Shown, BrowserError>> {
        let early = self.0.lock().await.take()?.ok()?;
        Some(early.show(cookies, url).await)
    }

    /// At the end of a run, a secured cart nobody handed over goes to the early browser's tab,
    /// if there is one (its files and session are printed already): the person finds the
    /// checkout where they watched. `browser` is the executable, for the report. The caller
    /// bounds how long this may take.
    pub async fn show_at_exit(&self, cart: &super::carts::SecuredCart, browser: &Path) {
        crate::log::pause_status();
        match self.show(&cart.cookies, &cart.checkout_url).await {
            Some(Ok(shown)) => crate::out!("{}", browser_report(&shown, browser, None)),
            Some(Err(e)) => crate::log::warn(format!(
                "the browser started early could not show the checkout ({e}): take the cart over with the session above"
            )),
            None => {}
        }
    }

    /// At the end of a run: a headless early browser nobody used is closed (a visible one is the
    /// person's window, like any other).
    pub fn close_unused(&self) {
        if let Ok(mut slot) = self.0.try_lock()
            && let Some(Ok(early)) = slot.take()
        {
            early.close_if_headless();
        }
    }
}

/// How long the browser gets to show the checkout, from the start of its part of the hand-over:
/// a checkout that never loads (a stalled shop, a browser that hangs) must not hold the person
/// for minutes without a word. The printed session stands whatever the browser does.
static BROWSER_BOUND_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(15_000);

/// Sets the browser's bound (`--handoff-timeout`, hidden; tests shorten it).
pub fn set_browser_bound(d: std::time::Duration) {
    BROWSER_BOUND_MS.store(
        d.as_millis().try_into().unwrap_or(u64::MAX),
        std::sync::atomic::Ordering::Relaxed,
    );
}

fn browser_bound() -> std::time::Duration {
    std::time::Duration::from_millis(BROWSER_BOUND_MS.load(std::sync::atomic::Ordering::Relaxed))
}

/// What a hand-over is given.
pub struct Request<'a> {
    /// Where the cookie files go (and the browser's fresh profile).
    pub dir: &'a Path,
    pub cookies: Vec<CookieInfo>,
    pub url: &'a Url,
    /// The reservation's end, as the checkout page said.
    pub expires: Option<String>,
    pub browser: &'a Browser,
    /// Extra browser flags (rehearsals: trust the simulator's certificate).
    pub browser_args: Vec<String>,
    /// Start the browser headless (checks, servers): it is closed after the check.
    pub headless_browser: bool,
    /// When the cart was secured: the hand-over's latency is measured from it.
    pub secured_at: Option<std::time::Instant>,
    /// The browser `--browser-early` started, if any.
    pub early: Option<&'a EarlyBrowser>,
    /// A line for the block, before the cookies (e.g. "Reserved: 1 of 2 …" when fewer were
    /// reserved than asked for).
    pub note: Option<String>,
}

/// What became of the browser part of a hand-over.
#[derive(Debug)]
pub enum Window {
    /// Headless run: no browser was asked for.
    Skipped,
    /// No browser was found at start-up.
    NotFound,
    /// The browser shows the page.
    Shown {
        shown: super::browser::Shown,
        path: PathBuf,
        latency: Option<std::time::Duration>,
    },
    /// The browser could not be opened or did not show the page.
    Failed(String),
}

/// A hand-over's whole result: the session (files, console script) and the browser, each with
/// its own error.
#[derive(Debug)]
pub struct HandedOver {
    pub export: Export,
    /// The URL is a checkout page (else the report said no cart is confirmed).
    pub checkout: bool,
    pub window: Window,
}

/// Hands the session over: first, whatever follows, the cookie files and the printed session;
/// then the browser on the page, unless headless. Never fails: what did not work is recorded and
/// said, with what to do instead. Everything the person reads is printed here, by one reporter.
pub async fn hand_over(req: Request<'_>) -> HandedOver {
    crate::log::pause_status();
    let handed = hand_over_now(req).await;
    crate::log::resume_status();
    handed
}

async fn hand_over_now(req: Request<'_>) -> HandedOver {
    let export = export(req.dir, req.cookies.clone(), req.url);
    let checkout = super::pretix::is_checkout(req.url);
    let title = if checkout {
        Title::InCart
    } else {
        Title::NotCheckout
    };
    let mut text = report(&export, req.expires.as_deref(), title);
    if let (Some(n), Some(i)) = (&req.note, text.find("Finish checkout")) {
        text.insert_str(i, &format!("{n}\n"));
    }
    crate::out!("{}", text);
    let path = match req.browser {
        Browser::Headless => {
            return HandedOver {
                export,
                checkout,
                window: Window::Skipped,
            };
        }
        Browser::NotFound => {
            crate::out!(
                "{}",
                manual_report("no browser was found at start-up", &export)
            );
            return HandedOver {
                export,
                checkout,
                window: Window::NotFound,
            };
        }
        Browser::Found(p) => p.clone(),
    };
    let launch = super::browser::Launch {
        path: path.clone(),
        headless: req.headless_browser,
        args: req.browser_args,
        profile_root: req.dir.to_path_buf(),
    };
    let bound = browser_bound();
    let shown = async {
        let early = match req.early {
            Some(e) => e.show(&req.cookies, req.url).await,
            None => None,
        };
        match early {
            Some(Ok(shown)) => Ok(shown),
            // Closed by the person meanwhile, perhaps: a browser of its own, as without the flag.
            Some(Err(e)) => {
                crate::log::warn(format!(
                    "the browser started early could not show the checkout ({e}); starting one"
                ));
                super::browser::open(&launch, &req.cookies, req.url).await
            }
            None => super::browser::open(&launch, &req.cookies, req.url).await,
        }
    };
    let Ok(opened) = tokio::time::timeout(bound, shown).await else {
        // The window stays the person's: it may still load the page.
        let why = format!(
            "The checkout did not load in the browser within {:.0} s",
            bound.as_secs_f64()
        );
        crate::log::warn(format!("browser hand-over: {}", why.to_lowercase()));
        print!("{}", not_loaded_report(&why, &export));
        return HandedOver {
            export,
            checkout,
            window: Window::Failed(why),
        };
    };
    let window = match opened {
        Ok(shown) => {
            let latency = req.secured_at.map(|t| t.elapsed());
            if !req.headless_browser {
                crate::out!("{}", browser_report(&shown, &path, latency));
            }
            Window::Shown {
                shown,
                path,
                latency,
            }
        }
        Err(e) => {
            crate::log::warn(format!("browser hand-over failed: {e}"));
            crate::out!("{}", manual_report(&e.to_string(), &export));
            Window::Failed(e.to_string())
        }
    };
    HandedOver {
        export,
        checkout,
        window,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie() -> CookieInfo {
        CookieInfo {
            name: "__Host-pretix_session".into(),
            value: "abc123".into(),
            domain: "t.example".into(),
            host_only: true,
            path: "/".into(),
            secure: true,
            http_only: true,
            same_site: Some("None".into()),
            partitioned: true,
            expires: None,
        }
    }

    #[test]
    fn only_the_shops_own_cookies_are_handed_over() {
        let dir = tempfile::tempdir().unwrap();
        let url = Url::parse("https://t.example/e/checkout/questions/").unwrap();
        let other = CookieInfo {
            name: "__Host-pretix_session".into(),
            value: "EVIL".into(),
            domain: "other.example".into(),
            ..cookie()
        };
        let parent = CookieInfo {
            name: "q".into(),
            domain: "example".into(),
            host_only: false,
            ..cookie()
        };
        let e = export(dir.path(), vec![cookie(), other, parent], &url);
        assert_eq!(
            e.cookies,
            vec![
                cookie(),
                CookieInfo {
                    name: "q".into(),
                    domain: "example".into(),
                    host_only: false,
                    ..cookie()
                }
            ]
        );
        assert!(!e.console_script.contains("EVIL"));
    }

    #[test]
    fn a_folder_that_cannot_be_written_loses_nothing_else() {
        // Nothing can be created under /proc, not even by root.
        let url = Url::parse("https://t.example/e/checkout/questions/").unwrap();
        let e = export(Path::new("/proc/pretix-race-test"), vec![cookie()], &url);
        assert!(e.files.is_err());
        let r = report(&e, Some("2026-11-25 10:00:00+0000"), Title::InCart);
        assert!(r.contains("=== TICKET IN CART ==="), "{r}");
        assert!(r.contains("No cookie files: could not write"), "{r}");
        assert!(r.contains("__Host-pretix_session=abc123"), "{r}");
        assert!(r.contains("await cookieStore.set({"), "{r}");
        assert!(manual_report("no browser", &e).contains("paste the console script"));
    }
}
