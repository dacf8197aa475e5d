//! The two small web chores no kept crate does for us, each written once: escaping text for
//! HTML (the status page, the simulator's pages, a desktop notification's markup; html5ever keeps
//! its serializer's escaping private) and rewriting some of a URL's query parameters (`url` reads
//! and writes pairs, but replacing a few while keeping the rest in order is ours).

use url::Url;

/// `s` safe as HTML text or a double-quoted attribute value.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// `url` with every parameter named in `replace` dropped, the others kept in order, and `add`
/// appended; a query left empty is removed (`…/?` reads as broken).
pub fn rewrite_query<'a>(
    url: &Url,
    replace: &[&str],
    add: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Url {
    let mut u = url.clone();
    let keep: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| !replace.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    u.query_pairs_mut()
        .clear()
        .extend_pairs(keep)
        .extend_pairs(add);
    if u.query() == Some("") {
        u.set_query(None);
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attributes() {
        assert_eq!(
            escape(r#"<a href="x">A & B</a> 'q'"#),
            "&lt;a href=&quot;x&quot;&gt;A &amp; B&lt;/a&gt; 'q'"
        );
    }

    #[test]
    fn rewrites_only_the_named_parameters() {
        let u = Url::parse("https://t.example/e/secondhand/?sort=new&x=1&item=2").unwrap();
        assert_eq!(
            rewrite_query(&u, &["item", "sort"], [("item", "965")]).as_str(),
            "https://t.example/e/secondhand/?x=1&item=965"
        );
        let bare = Url::parse("https://t.example/e/?item=2").unwrap();
        assert_eq!(
            rewrite_query(&bare, &["item"], []).as_str(),
            "https://t.example/e/"
        );
    }
}
