//! The hot path's CPU work, measured: what an empty poll costs (byte pre-check + fingerprint, no
//! DOM), what a page with listings costs to parse, and what the reading budget's pre-scan adds to
//! that parse (it runs only where a DOM is built, never on an empty poll). `cargo bench` prints
//! medians.
//! (Whole detect-to-cart latency on loopback is for a later benchmark.)

use std::hint::black_box;
use std::time::{Duration, Instant};

use pretix_race::core::{budget, pretix};
use url::Url;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A page about as large as a live one (~14 KB): the fixture plus, where pretix puts them (after
/// `</main>`), the footer dialogs a live page carries.
fn live_sized(body: &str) -> String {
    let filler = "<dialog class=\"modal-card\"><form method=\"dialog\"><p class=\"text\">Once the process in the new window has been completed, you can continue here.</p></form></dialog>\n";
    let mut s = body.replace("</body>", "");
    while s.len() < 14_000 {
        s.push_str(filler);
    }
    s + "</body></html>"
}

fn median(name: &str, iters: u32, mut f: impl FnMut()) {
    for _ in 0..iters / 10 {
        f();
    }
    let mut samples: Vec<Duration> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "{name:<40} median {:>9.1?}  p90 {:>9.1?}  ({iters} runs)",
        p(0.5),
        p(0.9)
    );
}

fn main() {
    let base = Url::parse("https://tickets.example.com/event/secondhand/?sort=price_asc").unwrap();
    let empty = live_sized(&fixture("marketplace_empty_en.html"));
    let listings = live_sized(&fixture("marketplace_two_listings_en.html"));
    println!(
        "page sizes: empty {} B, with listings {} B",
        empty.len(),
        listings.len()
    );

    median("empty page: pre-check + fingerprint", 5_000, || {
        let b = black_box(empty.as_bytes());
        black_box(pretix::may_have_listings(b));
        black_box(pretix::fingerprint(b));
    });
    median("listing page: full parse", 2_000, || {
        black_box(pretix::parse_page(black_box(&listings), &base));
    });
    median("listing page: DOM only (html5ever)", 2_000, || {
        black_box(scraper::Html::parse_document(black_box(&listings)));
    });
    median("listing page: listings only", 2_000, || {
        black_box(pretix::parse_listings(black_box(&listings), &base));
    });
    median("listing page: budget pre-scan only", 5_000, || {
        let _ = black_box(budget::check(black_box(listings.as_bytes()), &budget::PAGE));
    });
    // A hostile page (5 MB of nested <div>s, and one under 2 MB): refused in one pass.
    let deep = "<div class=\"x\">".repeat(5 * 1024 * 1024 / 16);
    let nested = "<div>".repeat(300_000);
    median("hostile 5 MB page: refused (size)", 200, || {
        black_box(pretix::parse_page(black_box(&deep), &base));
    });
    median("hostile 1.5 MB nesting: refused (depth)", 200, || {
        black_box(pretix::parse_page(black_box(&nested), &base));
    });
}
