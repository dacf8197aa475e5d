//! The gate every request passes, a first request and each redirect hop alike, and the webhook's
//! deliveries too: what may be reached at all, and how a redirect is followed.
//!
//! Why redirects are followed here and not by the HTTP client: a client that follows them itself
//! does so below the rules. Seen with reqwest's own redirects: a dry run's POST reached a shop's
//! buy URL through a 307 from another host, a 308 carried a POST to a checkout page, a 302 to
//! `http://` sent a cookie in clear text, a loop sent 22 requests in 50 ms and a `Retry-After`
//! was charged to the host that redirected. So the client never follows (see `http.rs`), and the
//! session follows one hop at a time, each hop a request of its own under every rule (see
//! `Session::send`).
//!
//! What may be reached ([`Reach`]): a strategy may be someone else's code, and the session's
//! cookies are the cart. So requests go only to hosts the user named: the targets' hosts (flags,
//! or the `targets` of the strategy file the user chose to run), the `--webhook` host, hosts given
//! with `--allow-host`, and loopback. A host that appears only in a script's code is refused
//! before any connection. A rehearsal (and `check`, which runs rehearsals) reaches loopback only,
//! whoever asks; the one exception is the user's own `--webhook` with `--allow-remote-webhook`.

use std::sync::{Arc, Mutex};

use reqwest::Method;
use url::Url;

use super::governor::Target;

/// Redirects followed for one request; the next one is an error that names the loop.
pub const MAX_HOPS: usize = 10;

/// The hosts requests may reach: shared by every session and the webhook of a run, so the
/// targets a strategy names join it once for all of them.
#[derive(Clone, Debug, Default)]
pub struct Reach {
    inner: Arc<Mutex<Named>>,
    /// A rehearsal: nothing leaves the machine, whoever asks.
    local_only: bool,
}

#[derive(Debug, Default)]
struct Named {
    /// Normalised hosts (see [`Target`]) of the watched targets.
    targets: Vec<String>,
    /// Their origins (`scheme://host:port`): on loopback, where one machine runs many services,
    /// a shop page is told apart from a webhook receiver by its port.
    target_origins: Vec<String>,
    /// Other hosts the user named (`--webhook`, `--allow-host`).
    others: Vec<String>,
}

/// Why a host cannot be reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No one named it: `--allow-host HOST` would.
    NotNamed,
    /// A rehearsal reaches nothing off this machine.
    Rehearsal,
}

impl Reach {
    /// A run's reach: the named hosts are added with [`Reach::name_target`] and [`Reach::name`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A rehearsal's: loopback only (and what [`Reach::name`] adds, for the user's own webhook).
    pub fn local_only() -> Self {
        Self {
            local_only: true,
            ..Self::default()
        }
    }

    fn named(&self) -> std::sync::MutexGuard<'_, Named> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A watched target's host (from flags, or the strategy file's `targets`).
    pub fn name_target(&self, url: &Url) {
        let t = Target::of(url);
        let mut n = self.named();
        if !n.targets.contains(&t.host) {
            n.targets.push(t.host);
        }
        if !n.target_origins.contains(&t.origin) {
            n.target_origins.push(t.origin);
        }
    }

    /// Another host the user named (`--webhook`, `--allow-host`), normalised already or not.
    pub fn name(&self, host: &str) {
        let host = normalise(host);
        let mut n = self.named();
        if !host.is_empty() && !n.others.contains(&host) {
            n.others.push(host);
        }
    }

    /// Whether `target` may be reached; why not, if not.
    pub fn check(&self, target: &Target) -> Result<(), Refusal> {
        if target.loopback {
            return Ok(());
        }
        let n = self.named();
        if n.others.contains(&target.host) {
            return Ok(());
        }
        if self.local_only {
            return Err(Refusal::Rehearsal);
        }
        if n.targets.contains(&target.host) {
            return Ok(());
        }
        Err(Refusal::NotNamed)
    }

    /// Whether `url` is on a watched target's site (its host; on loopback, its origin): a
    /// webhook must never be aimed there.
    pub fn is_target_site(&self, url: &Url) -> bool {
        let t = Target::of(url);
        let n = self.named();
        if t.loopback {
            n.target_origins.contains(&t.origin)
        } else {
            n.targets.contains(&t.host)
        }
    }
}

/// Whether a session may be handed over on `url`: an http(s) page (plain http only on
/// loopback) on the site of a watched target. The hand-over prints the session's cookies with a
/// script that sets them on that URL's site and opens it in the browser: anywhere else, that
/// would give the session away.
pub fn check_handoff(url: &Url, reach: &Reach) -> Result<(), String> {
    let t = Target::of(url);
    let ok = match url.scheme() {
        "https" => true,
        "http" => t.loopback,
        _ => false,
    };
    if ok && reach.is_target_site(url) {
        return Ok(());
    }
    Err(format!(
        "handoff: {url} is not a page of a shop being watched: a session is handed over only on its own shop's site (https)"
    ))
}

/// A host as `--allow-host` takes it, in the rules' one spelling ("" when it is none).
pub fn normalise(host: &str) -> String {
    let h = host.trim();
    Url::parse(&format!("https://{h}/"))
        .ok()
        .filter(|u| u.path() == "/" && u.port().is_none() && u.username().is_empty())
        .map(|u| Target::of(&u).host)
        .unwrap_or_default()
}

/// Statuses that redirect, with a `Location` to follow.
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The method of the next hop, as browsers do: 301/302/303 turn a POST into a GET (its form
/// dropped; 303 turns anything but HEAD into a GET), 307/308 keep the method and the body.
pub fn next_method(status: u16, method: &Method) -> Method {
    match status {
        303 if *method != Method::HEAD => Method::GET,
        301 | 302 if *method == Method::POST => Method::GET,
        _ => method.clone(),
    }
}

/// Where a redirect answer sends us: its `Location`, relative to the URL that answered; `None`
/// when there is none or it is no URL (then the answer is the final one, as a browser shows it).
pub fn location(from: &Url, headers: &[(String, String)]) -> Option<Url> {
    let loc = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("location"))
        .map(|(_, v)| v.trim())?;
    let mut next = from.join(loc).ok()?;
    if next.fragment().is_some() {
        next.set_fragment(None);
    }
    Some(next)
}

/// The `Referer` a hop sends, as browsers (and reqwest's own redirects) do: the URL that
/// redirected, without credentials or fragment, never from https to plain http.
pub fn referer(from: &Url, to: &Url) -> Option<String> {
    if from.scheme() == "https" && to.scheme() != "https" {
        return None;
    }
    let mut r = from.clone();
    let _ = r.set_username("");
    let _ = r.set_password(None);
    r.set_fragment(None);
    Some(r.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn methods_are_rewritten_as_browsers_do() {
        for (s, m, want) in [
            (301, Method::POST, Method::GET),
            (302, Method::POST, Method::GET),
            (303, Method::POST, Method::GET),
            (307, Method::POST, Method::POST),
            (308, Method::POST, Method::POST),
            (302, Method::GET, Method::GET),
            (303, Method::HEAD, Method::HEAD),
        ] {
            assert_eq!(next_method(s, &m), want, "{s} {m}");
        }
    }

    #[test]
    fn reach_is_the_named_hosts_and_loopback() {
        let r = Reach::new();
        r.name_target(&url("https://Tickets.Example.com./x"));
        r.name("hooks.example.com");
        let t = |s: &str| Target::of(&url(s));
        assert_eq!(r.check(&t("https://tickets.example.com/ev/")), Ok(()));
        assert_eq!(r.check(&t("https://HOOKS.example.com/")), Ok(()));
        assert_eq!(r.check(&t("http://127.0.0.1:9/")), Ok(()));
        assert_eq!(
            r.check(&t("https://evil.example.net/")),
            Err(Refusal::NotNamed)
        );
        let local = Reach::local_only();
        local.name_target(&url("https://tickets.example.com/"));
        assert_eq!(
            local.check(&t("https://tickets.example.com/")),
            Err(Refusal::Rehearsal)
        );
        assert_eq!(local.check(&t("https://[::1]:8/")), Ok(()));
    }

    #[test]
    fn a_target_site_is_its_host_or_on_loopback_its_origin() {
        let r = Reach::new();
        r.name_target(&url("https://tickets.example.com/"));
        r.name_target(&url("https://127.0.0.1:4443/"));
        assert!(r.is_target_site(&url("https://tickets.example.com:8443/hook")));
        assert!(r.is_target_site(&url("https://127.0.0.1:4443/hook")));
        assert!(!r.is_target_site(&url("http://127.0.0.1:9000/hook")));
    }

    #[test]
    fn allow_host_takes_a_bare_host() {
        assert_eq!(normalise("Hooks.Example.COM."), "hooks.example.com");
        assert_eq!(normalise("::1"), "");
        assert_eq!(normalise("[::1]"), "[::1]");
        assert_eq!(normalise("a.example/x"), "");
        assert_eq!(normalise("a.example:8443"), "");
        assert_eq!(normalise(""), "");
    }

    #[test]
    fn locations_resolve_against_the_answering_url() {
        let from = url("https://a.example/x/y?q=1");
        let h = |v: &str| vec![("location".to_string(), v.to_string())];
        assert_eq!(
            location(&from, &h("../z#frag")).unwrap().as_str(),
            "https://a.example/z"
        );
        assert_eq!(
            location(&from, &h("http://b.example/")).unwrap().as_str(),
            "http://b.example/"
        );
        assert!(location(&from, &[]).is_none());
    }
}
