//! Every reader of an answer, fed generated hostile input (property tests): deep and hidden
//! nesting, 10^5 siblings, huge attributes, invalid UTF-8, NUL bytes, truncation at any byte.
//! No reader may panic; the reading budget's model of the tree builder must never see less depth
//! than html5ever builds; and the cost of reading grows no worse than linearly (measured as the
//! ratio of the cost at n and at 8n, with a wide margin: a quadratic reader shows 64).

use std::time::{Duration, Instant};

use pretix_race::core::budget::{self, Budget, PAGE};
use pretix_race::core::{pretix, shop};
use proptest::prelude::*;
use url::Url;

fn base() -> Url {
    Url::parse("https://tickets.example.com/event/secondhand/").unwrap()
}

/// Pieces hostile pages are built from: tags the model treats specially, tags that hide or fake
/// nesting, quotes, comment and script syntax, stray bytes.
const PIECES: &[&str] = &[
    "<div>",
    "</div>",
    "<span>",
    "</span>",
    "<p>",
    "</p>",
    "<li>",
    "<ul>",
    "</ul>",
    "<table>",
    "</table>",
    "<tr>",
    "<td>",
    "<th>",
    "<caption>",
    "<svg>",
    "</svg>",
    "<math>",
    "<mi>",
    "<path/>",
    "<div/>",
    "<foreignObject>",
    "<!--",
    "-->",
    "--!>",
    "<!-->",
    "<!--->",
    "<script>",
    "</script>",
    "<!--<script>",
    "<style>",
    "</style>",
    "<textarea>",
    "</textarea>",
    "<title>",
    "<noscript>",
    "<iframe>",
    "<b>",
    "</b>",
    "<b x=#>",
    "<i x=#>",
    "<a href=#>",
    "<i>",
    "</i>",
    "<a>",
    "</a>",
    "<nobr>",
    "<x-y>",
    "</x>",
    "<select>",
    "<option>",
    "<optgroup>",
    "<template>",
    "</template>",
    "<button>",
    "<form action=/e/secondhand/buy/1/ method=post>",
    "</form>",
    "<h1>",
    "<dl>",
    "<dd>",
    "<html>",
    "<body>",
    "</body>",
    "<frameset>",
    "<![CDATA[",
    "]]>",
    "<div a=\"",
    "<div a='",
    "\"",
    "'",
    ">",
    "<",
    "/",
    "=",
    " ",
    "x",
    "\0",
    "&amp;",
    "&#0;",
    "<br>",
    "<img>",
    "<marquee>",
    "<object>",
    "<applet>",
    "<plaintext>",
    "<main>",
    "</main>",
];

/// A hostile page: a few short patterns of pieces, each repeated many times (as a page built to
/// hurt is), `#` in a piece replaced by a running number (so Noah's ark never merges them).
fn hostile_page() -> impl Strategy<Value = String> {
    let pattern = prop::collection::vec(0..PIECES.len(), 1..7);
    prop::collection::vec((pattern, 1..80usize), 1..6).prop_map(|units| {
        let mut page = String::new();
        let mut counter = 0;
        for (pattern, reps) in units {
            for _ in 0..reps {
                for &i in &pattern {
                    counter += 1;
                    page.push_str(&PIECES[i].replace('#', &counter.to_string()));
                }
            }
        }
        page
    })
}

/// The deepest element of the DOM html5ever builds.
fn real_depth(html: &scraper::Html) -> usize {
    html.tree
        .nodes()
        .map(|n| n.ancestors().count())
        .max()
        .unwrap_or(0)
}

/// Every reader, on one body: none may panic.
fn read_all(body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    let _ = budget::check(body, &PAGE);
    let _ = pretix::parse_page(&text, &base());
    let _ = pretix::parse_listings(&text, &base());
    let _ = pretix::find_marketplace_link(&text, &base(), "event");
    let _ = pretix::parse_checkout(&text);
    let _ = pretix::fingerprint(body);
    let _ = shop::products(&text, &base());
    let _ = shop::add_outcome(&text);
    let _ = budget::parse_fragment(&text);
    let _ = serde_json::from_slice::<serde_json::Value>(body);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Within a small depth budget, html5ever never builds much deeper than the model saw
    /// (its own `html`/`head`/`body`/`tbody` and a cell's row come on top).
    #[test]
    fn the_models_depth_bounds_html5evers(page in hostile_page()) {
        let small = Budget { depth: 16, ..PAGE };
        if budget::check(page.as_bytes(), &small).is_ok() {
            let doc = scraper::Html::parse_document(&page);
            let real = real_depth(&doc);
            prop_assert!(real <= 2 * 16 + 8, "html5ever built {real} deep: {page:?}");
        }
    }

    #[test]
    fn no_reader_panics_on_hostile_bytes(
        page in hostile_page(),
        noise in prop::collection::vec(any::<u8>(), 0..64),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut body = page.into_bytes();
        // Invalid UTF-8 and NULs somewhere inside, then cut at any byte.
        let at = if body.is_empty() { 0 } else { cut.index(body.len()) };
        body.splice(at..at, noise);
        read_all(&body);
        let end = cut.index(body.len() + 1);
        read_all(&body[..end]);
    }
}

/// The cheapest of a few runs of `f` (a run is one reading of the input).
fn cost(f: &dyn Fn()) -> Duration {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

/// Reading a page as the watch does (budget, listings, products), and as `race.html` does.
fn read_page(body: &str) {
    std::hint::black_box(pretix::parse_page(body, &base()));
    std::hint::black_box(shop::products(body, &base()));
    let _ = std::hint::black_box(budget::parse_document(body).map(|d| d.tree.nodes().count()));
}

#[test]
fn reading_cost_grows_no_worse_than_linearly() {
    type Family = (&'static str, fn(usize) -> String);
    let families: [Family; 12] = [
        ("nested divs", |n| "<div>".repeat(n)),
        ("siblings", |n| "<div></div>".repeat(n)),
        ("unclosed paragraphs", |n| "<p>x".repeat(n)),
        ("unclosed list items", |n| {
            format!("<ul>{}</ul>", "<li>x".repeat(n))
        }),
        ("huge attribute", |n| {
            format!("<div title=\"{}\">x</div>", "a".repeat(10 * n))
        }),
        ("many attributes", |n| {
            (0..n / 10)
                .map(|i| {
                    format!(
                        "<i {}></i>",
                        (0..90).map(|a| format!(" a{a}={i}")).collect::<String>()
                    )
                })
                .collect()
        }),
        ("formatting reopened", |n| {
            (0..n / 10)
                .map(|r| {
                    let bs: String = (0..8).map(|i| format!("<b x={r}-{i}>")).collect();
                    format!("<p>{bs}</p>x")
                })
                .collect()
        }),
        ("stray end tags under depth", |n| {
            "<span>".repeat(200) + &"</x>".repeat(n)
        }),
        ("nested tables", |n| "<table><tr><td>".repeat(n / 3)),
        ("unterminated comment", |n| {
            format!("<!--{}", "<div>".repeat(n))
        }),
        ("listing panels", |n| {
            let panel = r#"<div class="panel"><h3 class="panel-title">T</h3><span class="price">1.00 EUR</span><form method="post" action="/e/secondhand/buy/ID/"><input type="hidden" name="t" value="v"></form></div>"#;
            (0..n / 20)
                .map(|i| panel.replace("ID", &i.to_string()))
                .collect()
        }),
        ("nul and broken bytes", |n| {
            String::from_utf8_lossy(&b"<div\0 a=\xff\xfe>\0</div>".repeat(n)).into_owned()
        }),
    ];
    let n = 1500;
    for (name, make) in families {
        let (small, large) = (make(n), make(8 * n));
        let t1 = cost(&|| read_page(&small));
        let t8 = cost(&|| read_page(&large));
        assert!(
            t8 <= t1 * 24 + Duration::from_millis(20),
            "{name}: {t1:?} for {} bytes, {t8:?} for {} bytes",
            small.len(),
            large.len()
        );
    }
}
