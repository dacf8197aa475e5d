//! The session's cookies in the forms a person can use: a Netscape cookie file (curl, browser
//! extensions), JSON, and a script to paste into the browser console.
//!
//! The console script uses `cookieStore.set()`, because `document.cookie` cannot set the
//! `__Host-` cookies pretix uses. Files holding cookies are the user's money: they are created
//! 0600 in a 0700 directory.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CookieInfo {
    pub name: String,
    pub value: String,
    /// The host or domain the cookie belongs to, without a leading dot.
    pub domain: String,
    /// No `Domain` attribute was set: the cookie goes only to that exact host.
    pub host_only: bool,
    pub path: String,
    pub secure: bool,
    pub http_only: bool,
    /// `Strict`, `Lax` or `None`, as the server set it.
    pub same_site: Option<String>,
    pub partitioned: bool,
    /// Unix seconds; `None` for a session cookie.
    pub expires: Option<i64>,
}

/// The most cookies a session keeps for one host, and the largest one: what browsers keep (a
/// server that floods `Set-Cookie` must not grow every later request and the hand-over).
pub const MAX_PER_HOST: usize = 180;
pub const MAX_COOKIE_BYTES: usize = 4096;

/// Whether a `Set-Cookie` answered by `host` may enter a session's jar. Stricter than a browser
/// where the session is at stake: a `__Host-` cookie must be Secure, Path=/ and without Domain,
/// a `__Secure-` one Secure, both from a secure origin (https, or loopback); a `Domain` other
/// than the host itself is taken only from a watched shop's own site (`own_site`), and never a
/// one-label domain (`Domain=com`). So a host the user merely allowed cannot plant a cookie that
/// shadows or replaces the shop's session.
pub fn admit(
    c: &cookie_store::RawCookie<'_>,
    host: &str,
    secure_origin: bool,
    own_site: bool,
) -> Result<(), &'static str> {
    if c.name().len() + c.value().len() > MAX_COOKIE_BYTES {
        return Err("larger than 4096 bytes");
    }
    let secure = c.secure().unwrap_or(false);
    let domain = c
        .domain()
        .map(|d| d.trim_start_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty());
    if c.name().starts_with("__Host-")
        && !(secure && secure_origin && domain.is_none() && c.path() == Some("/"))
    {
        return Err("a __Host- cookie must be Secure, Path=/, without Domain, from https");
    }
    if c.name().starts_with("__Secure-") && !(secure && secure_origin) {
        return Err("a __Secure- cookie must be Secure, from https");
    }
    if let Some(d) = domain.filter(|d| *d != host) {
        if !own_site {
            return Err("only a watched shop may set a cookie for a wider domain");
        }
        if !d.contains('.') || !(host.ends_with(&format!(".{d}"))) {
            return Err("a Domain that is a top-level domain or not the host's own");
        }
    }
    Ok(())
}

impl CookieInfo {
    pub fn from_store(c: &cookie_store::Cookie<'static>) -> Self {
        let (domain, host_only) = match &c.domain {
            cookie_store::CookieDomain::HostOnly(d) => (d.clone(), true),
            cookie_store::CookieDomain::Suffix(d) => (d.clone(), false),
            _ => (String::new(), true),
        };
        let expires = match &c.expires {
            cookie_store::CookieExpiration::AtUtc(t) => Some(t.unix_timestamp()),
            _ => None,
        };
        CookieInfo {
            name: c.name().to_string(),
            value: c.value().to_string(),
            domain,
            host_only,
            path: String::from(&c.path),
            secure: c.secure().unwrap_or(false),
            http_only: c.http_only().unwrap_or(false),
            same_site: c.same_site().map(|s| format!("{s:?}")),
            partitioned: c.partitioned().unwrap_or(false),
            expires,
        }
    }

    /// `__Host-` cookies must be set without a domain, through a URL.
    pub fn is_host_prefixed(&self) -> bool {
        self.name.starts_with("__Host-")
    }
}

/// The Netscape/curl cookie file format (`#HttpOnly_` prefix for HttpOnly cookies).
pub fn netscape(cookies: &[CookieInfo]) -> String {
    let mut s = String::from(
        "# Netscape HTTP Cookie File\n# Written by pretix-race. Keep it private: it holds your cart.\n\n",
    );
    for c in cookies {
        let domain = if c.host_only {
            c.domain.clone()
        } else {
            format!(".{}", c.domain)
        };
        s.push_str(&format!(
            "{}{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            if c.http_only { "#HttpOnly_" } else { "" },
            domain,
            if c.host_only { "FALSE" } else { "TRUE" },
            c.path,
            if c.secure { "TRUE" } else { "FALSE" },
            c.expires.unwrap_or(0),
            c.name,
            c.value
        ));
    }
    s
}

pub fn json(cookies: &[CookieInfo]) -> String {
    serde_json::to_string_pretty(cookies).unwrap_or_else(|_| "[]".into())
}

/// A script for the browser console on the site's origin: sets every cookie, then opens the
/// checkout page. Values are JSON-encoded, so no cookie value can break out of the string.
pub fn console_script(cookies: &[CookieInfo], checkout_url: &str) -> String {
    // A browser that already holds the shop's HttpOnly session cookie refuses to overwrite it
    // from a script: say so, and what to do, instead of reloading into an empty cart.
    let mut s = String::from("(async () => {\n  try {\n");
    for c in cookies {
        let mut o = serde_json::Map::new();
        o.insert("name".into(), c.name.clone().into());
        o.insert("value".into(), c.value.clone().into());
        o.insert("path".into(), c.path.clone().into());
        if !c.host_only && !c.is_host_prefixed() {
            o.insert("domain".into(), c.domain.clone().into());
        }
        if let Some(ss) = &c.same_site {
            o.insert("sameSite".into(), ss.to_ascii_lowercase().into());
        }
        if c.partitioned {
            o.insert("partitioned".into(), true.into());
        }
        if let Some(e) = c.expires {
            o.insert("expires".into(), (e * 1000).into());
        }
        s.push_str(&format!(
            "    await cookieStore.set({});\n",
            serde_json::Value::Object(o)
        ));
    }
    s.push_str(
        "  } catch (e) {\n    console.error(\"pretix-race: this browser refused the session cookies (\" + e + \"). It already holds a session for this shop: open a private window (or clear this site's cookies), open the shop there, and paste this again.\");\n    return;\n  }\n",
    );
    s.push_str(&format!(
        "  location.href = {};\n}})();\n",
        serde_json::Value::from(checkout_url)
    ));
    s
}

/// Creates a new file readable by its owner only, as ssh treats its files: never an existing
/// file, never through a link (`O_CREAT|O_EXCL|O_NOFOLLOW`, 0600), so a name planted in a folder
/// others can reach can neither be read nor make us overwrite someone else's file. An existing
/// name is `ErrorKind::AlreadyExists`: the caller picks another.
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    opts.open(path)
}

/// Writes `contents` to a new private file (see [`create_private`]), creating its folder (0700)
/// when missing.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    create_private(path)?.write_all(contents.as_bytes())
}

/// Writes `contents` to a new private file named by `name(n)` for the first `n` (from 1) whose
/// name is free; the path written.
pub fn write_private_free(
    name: impl Fn(u32) -> std::path::PathBuf,
    contents: &str,
) -> std::io::Result<std::path::PathBuf> {
    for n in 1..1000 {
        let path = name(n);
        match write_private(&path, contents) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            r => return r.map(|()| path),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "every name is taken",
    ))
}

/// Creates a directory (and parents) that only its owner can enter, when it does not exist yet.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Two cookies shaped like pretix's (a plain proxy cookie and a `__Host-` session cookie with
/// a value that needs escaping), for tests across the core.
#[cfg(test)]
pub(crate) fn sample() -> Vec<CookieInfo> {
    vec![
        CookieInfo {
            name: "__QXSESSION".into(),
            value: "2e8ab6".into(),
            domain: "tickets.example.com".into(),
            host_only: true,
            path: "/".into(),
            secure: false,
            http_only: false,
            same_site: None,
            partitioned: false,
            expires: None,
        },
        CookieInfo {
            name: "__Host-pretix_session".into(),
            value: "x\"y</script>".into(),
            domain: "tickets.example.com".into(),
            host_only: true,
            path: "/".into(),
            secure: true,
            http_only: true,
            same_site: Some("None".into()),
            partitioned: true,
            expires: Some(1_800_000_000),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cookies::sample;

    #[test]
    fn no_allowed_host_can_plant_a_cookie_that_shadows_the_shops_session() {
        let admit = |set: &str, host: &str, own: bool| {
            admit(
                &cookie_store::RawCookie::parse(set).unwrap(),
                host,
                true,
                own,
            )
        };
        // The shop's own cookies, as pretix sets them.
        assert!(
            admit(
                "__Host-pretix_session=a; Path=/; Secure; HttpOnly",
                "shop.test",
                true
            )
            .is_ok()
        );
        assert!(admit("pretix_csrftoken=b; Path=/", "shop.test", true).is_ok());
        assert!(admit("q=1; Domain=shop.test", "shop.test", false).is_ok());
        // A sibling the user allowed, aiming at the shop's domain or the whole TLD.
        assert!(
            admit(
                "pretix_session=x; Domain=shop.test; Path=/",
                "pay.shop.test",
                false
            )
            .is_err()
        );
        assert!(
            admit(
                "__Host-pretix_session=x; Domain=shop.test; Path=/; Secure",
                "pay.shop.test",
                false
            )
            .is_err()
        );
        assert!(admit("pretix_session=x; Domain=test", "other.test", false).is_err());
        assert!(admit("pretix_session=x; Domain=test", "shop.test", true).is_err());
        assert!(admit("pretix_session=x; Domain=example.com", "shop.test", true).is_err());
        // The prefixes' own rules.
        assert!(admit("__Host-a=1; Path=/ev/; Secure", "shop.test", true).is_err());
        assert!(admit("__Host-a=1; Path=/", "shop.test", true).is_err());
        assert!(admit("__Secure-a=1", "shop.test", true).is_err());
        assert!(admit(&format!("big={}", "x".repeat(5000)), "shop.test", true).is_err());
    }

    #[test]
    fn netscape_lines() {
        let s = netscape(&sample());
        assert!(s.contains("tickets.example.com\tFALSE\t/\tFALSE\t0\t__QXSESSION\t2e8ab6\n"));
        assert!(s.contains(
            "#HttpOnly_tickets.example.com\tFALSE\t/\tTRUE\t1800000000\t__Host-pretix_session\t"
        ));
    }

    #[test]
    fn console_script_escapes_and_leaves_host_cookies_without_domain() {
        let s = console_script(
            &sample(),
            "https://tickets.example.com/event/checkout/questions/",
        );
        assert!(s.contains(r#""value":"x\"y</script>""#), "{s}");
        assert!(!s.contains("\"domain\""), "{s}");
        assert!(s.contains(r#""sameSite":"none""#));
        assert!(s.contains(
            r#"location.href = "https://tickets.example.com/event/checkout/questions/";"#
        ));
        assert_eq!(s.matches("cookieStore.set").count(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_new_0600_and_never_follow_a_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/cookies.txt");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "old").unwrap();
        let e = write_private(&p, "new").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        // A link, dangling or not, is never followed.
        let target = dir.path().join("target");
        let link = dir.path().join("sub/link.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(write_private(&link, "secret").is_err());
        assert!(!target.exists());
        let free = write_private_free(|n| dir.path().join(format!("sub/link{n}.json")), "x");
        assert_eq!(free.unwrap(), dir.path().join("sub/link1.json"));
        let q = dir.path().join("fresh/dir/c.json");
        write_private(&q, "{}").unwrap();
        assert_eq!(
            std::fs::metadata(&q).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(q.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
    }
}
