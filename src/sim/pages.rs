//! HTML of the simulated shop. Shaped like a pretix 2026 marketplace (panels, filter form, buy
//! forms with a masked CSRF token, per-load `data-now` and `?version=`), in English or German, so
//! rehearsals exercise the same parser, fingerprinting and hand-over a live site does.

use std::time::{Duration, SystemTime};

use super::{SimListing, SimProduct};
use crate::clock;

pub struct Words {
    pub marketplace: &'static str,
    pub how: &'static str,
    pub empty: &'static str,
    pub buy: &'static str,
    pub inactive: &'static str,
    pub browse: &'static str,
    pub checkout: &'static str,
    pub cart: &'static str,
}

pub fn words(locale: &str) -> Words {
    if locale.starts_with("de") {
        Words {
            marketplace: "Ticketbörse",
            how: "So funktioniert's",
            empty: "Im Moment sind keine Tickets verfügbar. Schau später wieder vorbei!",
            buy: "Kaufen",
            inactive: "Die Ticketbörse ist derzeit nicht aktiv.",
            browse: "Tickets ansehen",
            checkout: "Schritt 1 von 3: Deine Angaben – Bezahlvorgang",
            cart: "Dein Warenkorb",
        }
    } else {
        Words {
            marketplace: "Ticket Marketplace",
            how: "How it works",
            empty: "No tickets available at the moment. Check back later!",
            buy: "Buy",
            inactive: "Ticket marketplace is not currently active.",
            browse: "Browse Tickets",
            checkout: "Step 1 of 3: Your information – Checkout",
            cart: "Your cart",
        }
    }
}

pub use crate::core::web::escape as esc;

pub fn price(cents: u64, locale: &str) -> String {
    if locale.starts_with("de") {
        format!("{},{:02} €", cents / 100, cents % 100)
    } else {
        format!("{}.{:02} EUR", cents / 100, cents % 100)
    }
}

fn head(title: &str, locale: &str, base: &str, event: &str) -> String {
    let now = clock::unix_seconds(SystemTime::now());
    format!(
        r#"<!DOCTYPE html>
<html lang="{locale}">
<head>
    <title>{title} :: Simulated Festival</title>
    <link rel="stylesheet" type="text/css" href="{base}/{event}/theme.css?version=sim-{v}" />
    <meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body class="nojs" data-locale="{locale}" data-now="{now:.6}" data-currency="EUR">
<div class="container main-box">
    <main id="content">
"#,
        title = esc(title),
        v = rand::random_range(1000..9999u32),
    )
}

/// The simulated shop's look: enough that a rehearsal's checkout page reads like a shop.
pub const THEME: &str = "body{font-family:system-ui,sans-serif;max-width:56rem;margin:2rem auto;padding:0 1rem;color:#222}\
.alert{padding:.75rem 1rem;border-radius:6px;background:#eef;margin:1rem 0}.alert-warning{background:#fff4d6}\
.alert-danger{background:#fde2e2}.panel{border:1px solid #ddd;border-radius:8px;margin:1rem 0;padding:.5rem 1rem}\
.panel-title{margin:.25rem 0}.text-primary{color:#5a3fc0}.btn{display:inline-block;padding:.4rem .9rem;\
border-radius:6px;border:1px solid #5a3fc0;background:#7c5cff;color:#fff;text-decoration:none}\
.row{display:flex;flex-wrap:wrap;gap:1rem}.cart-row{display:flex;gap:2rem}\
body:before{content:'Simulated marketplace (pretix-race rehearsal)';display:block;font-size:.8rem;color:#888}";

const FOOT: &str = "    </main>\n</div>\n</body>\n</html>\n";

pub fn event_page(base: &str, event: &str, locale: &str, with_link: bool) -> String {
    let w = words(locale);
    let mut s = head("Simulated Festival", locale, base, event);
    s.push_str("        <div class=\"alert alert-info\">Sold out.</div>\n");
    s.push_str("        <div class=\"big-link-row\">\n");
    if with_link {
        s.push_str(&format!(
            "            <a class=\"btn btn-lg btn-primary\" href=\"{base}/{event}/secondhand/\">{}</a>\n",
            w.marketplace
        ));
    }
    s.push_str("            <a class=\"btn btn-lg btn-primary\" href=\"https://example.com/faq\">FAQ</a>\n        </div>\n");
    if with_link {
        // The second link is relative, as some themes write it.
        s.push_str(&format!(
            "        <aside class=\"front-page\"><h2 class=\"h3\" id=\"marketplace\">{}</h2>\n            <a href=\"secondhand/\" class=\"btn btn-block btn-default\">{}</a>\n        </aside>\n",
            w.marketplace, w.browse
        ));
    }
    s.push_str(FOOT);
    s
}

pub fn inactive_page(base: &str, event: &str, locale: &str) -> String {
    let w = words(locale);
    let mut s = head(w.inactive, locale, base, event);
    s.push_str(&format!(
        "        <div class=\"alert alert-danger\" id=\"error-message\"><p><span class=\"sr-only\">Error:</span> {}</p></div>\n",
        w.inactive
    ));
    s.push_str(FOOT);
    s
}

pub struct MarketView<'a> {
    pub base: &'a str,
    pub event: &'a str,
    pub locale: &'a str,
    pub listings: &'a [&'a SimListing],
    pub token: &'a dyn Fn() -> String,
    pub sort: &'a str,
    pub banner: Option<&'a str>,
}

pub fn market_page(v: &MarketView) -> String {
    let w = words(v.locale);
    let (base, event) = (v.base, v.event);
    let mut s = head(w.marketplace, v.locale, base, event);
    s.push_str(&format!(
        r#"    <h2>{m}</h2>
    <div class="panel panel-info">
        <div class="panel-heading"><h3 class="panel-title">{how}</h3></div>
        <div class="panel-body"><p>Simulated marketplace. Please don't ruin a good thing.</p></div>
    </div>
"#,
        m = w.marketplace,
        how = w.how
    ));
    if let Some(b) = v.banner {
        s.push_str(&format!(
            "    <div class=\"alert alert-info\">{}</div>\n",
            esc(b)
        ));
    }
    s.push_str("    <form class=\"form-inline text-right\" method=\"get\">\n        <select name=\"item\" class=\"form-control\" id=\"id_item\">\n            <option value=\"\">All tickets</option><option value=\"965\">Ticket</option><option value=\"966\">Up-and-coming Ticket</option>\n        </select>\n        <select name=\"sort\" class=\"form-control\" id=\"id_sort\">\n");
    for opt in ["price_asc", "price_desc", "newest", "oldest"] {
        let sel = if opt == v.sort { " selected" } else { "" };
        s.push_str(&format!(
            "            <option value=\"{opt}\"{sel}>{opt}</option>\n"
        ));
    }
    s.push_str("        </select>\n        <button type=\"submit\" class=\"btn btn-primary\">Apply</button>\n    </form>\n    <hr>\n");
    if v.listings.is_empty() {
        s.push_str(&format!(
            "        <div class=\"alert alert-warning\">\n            {}\n        </div>\n",
            w.empty
        ));
    } else {
        s.push_str("        <div class=\"row\">\n");
        for l in v.listings {
            s.push_str(&format!(
                r#"            <div class="col-md-4 col-sm-6">
                <div class="panel panel-default">
                    <div class="panel-heading"><h3 class="panel-title">{title}</h3></div>
                    <div class="panel-body">
                        {price}
                        <form method="post"
                              action="{base}/{event}/secondhand/buy/{id}/">
                            <input type="hidden" name="csrfmiddlewaretoken" value="{token}">
                            <button type="submit" class="btn btn-success btn-block">{buy}</button>
                        </form>
                    </div>
                </div>
            </div>
"#,
                title = esc(&l.title),
                price = match &l.price_shown {
                    Some(p) if p.is_empty() => String::new(),
                    Some(p) => format!(
                        "<div class=\"text-center\"><h2 class=\"text-primary\">{}</h2></div>",
                        esc(p)
                    ),
                    None => format!(
                        "<div class=\"text-center\"><h2 class=\"text-primary\">{}</h2></div>",
                        price(l.price_cents, v.locale)
                    ),
                },
                id = l.id,
                token = (v.token)(),
                buy = w.buy
            ));
        }
        s.push_str("        </div>\n");
    }
    s.push_str(FOOT);
    s
}

pub fn checkout_page(
    base: &str,
    event: &str,
    locale: &str,
    cart: &[SimListing],
    token: &str,
) -> String {
    let w = words(locale);
    let expires = clock::pretix_expires(SystemTime::now() + Duration::from_secs(600));
    let mut s = head(w.checkout, locale, base, event);
    s.push_str(&format!(
        r#"<aside aria-label="{cart}">
    <details class="panel panel-default cart" open>
        <summary class="panel-heading"><h2 class="panel-title"><strong>{cart}</strong>
            <strong id="cart-deadline-short" data-expires="{expires}">09:59</strong></h2></summary>
        <div class="panel-body" id="cart-foldable-container">
            <div role="table" aria-label="{cart}">
"#,
        cart = w.cart
    ));
    for l in cart {
        s.push_str(&format!(
            r#"                <div role="row" class="row cart-row" data-article-id="item-{item}-{id}">
                    <div role="cell" class="product"><p><strong>{title}</strong></p></div>
                    <div role="cell" class="count">1</div>
                    <div role="cell" class="totalprice price"><strong>{price}</strong></div>
                </div>
"#,
            item = l.item,
            id = l.id,
            title = esc(&l.title),
            price = price(l.price_cents, locale)
        ));
    }
    s.push_str(&format!(
        r#"            </div>
            <form class="text-muted" id="cart-extend-form" method="post" action="{base}/{event}/cart/extend">
                <input type="hidden" name="csrfmiddlewaretoken" value="{token}">
                <p id="cart-deadline" data-expires="{expires}">10:00</p>
            </form>
        </div>
    </details>
</aside>
    <h2>Checkout</h2>
    <form class="form-horizontal" method="post">
        <input type="hidden" name="csrfmiddlewaretoken" value="{token}">
        <label for="id_email">Email</label>
        <input type="email" name="email" class="form-control" required id="id_email">
        <p><button class="btn" type="submit" disabled>Continue (a rehearsal ends here: nothing is bought)</button></p>
    </form>
"#
    ));
    s.push_str(FOOT);
    s
}

pub fn csrf_failure() -> String {
    "<!DOCTYPE html><html><head><title>403 Forbidden</title></head><body><h1>Forbidden (403)</h1><p>CSRF verification failed. Request aborted.</p></body></html>\n".into()
}

pub fn not_found() -> String {
    "<!DOCTYPE html><html><head><title>Not found</title></head><body><h1>Not found</h1></body></html>\n".into()
}

pub fn error_page(code: u16) -> String {
    format!(
        "<!DOCTYPE html><html><head><title>{code}</title></head><body><h1>Error {code}</h1></body></html>\n"
    )
}

/// A page some front ends serve while the shop is updated: no filter form, no pretix error alert.
pub fn maintenance_page() -> String {
    "<!DOCTYPE html><html lang=\"en\"><head><title>Down for maintenance</title></head><body><main class=\"maintenance\"><h1>We'll be right back</h1><div class=\"alert alert-warning\">The ticket shop is being updated. Please try again in a few minutes.</div></main></body></html>\n".into()
}

/// An empty marketplace in a theme that dropped the filter form: nothing positive to read.
pub fn themed_empty_page(base: &str, event: &str, locale: &str) -> String {
    let w = words(locale);
    let mut s = head(w.marketplace, locale, base, event);
    s.push_str(&format!(
        "    <div class=\"custom-theme\"><h2>{}</h2><p class=\"notice\">{}</p></div>\n",
        w.marketplace, w.empty
    ));
    s.push_str(FOOT);
    s
}

/// Bytes that are no page at all.
/// A hostile page: 5 MB of unclosed, nested `<div>`s (html5ever's tree builder would spend
/// minutes on it; see `core::budget`), different on each poll `n`.
pub fn deep_page(n: u32) -> String {
    let mut s = format!("<!DOCTYPE html><html><body><!-- poll {n} -->");
    s.push_str(&"<div class=\"x\">".repeat(5 * 1024 * 1024 / 16));
    s
}

pub fn garbage() -> Vec<u8> {
    (0..2048u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// A product as one event page shows it.
pub struct ShownProduct<'a> {
    pub product: &'a SimProduct,
    /// "available", "unavailable" or "gone".
    pub state: &'static str,
}

pub struct ShopView<'a> {
    pub base: &'a str,
    pub event: &'a str,
    pub locale: &'a str,
    pub products: &'a [ShownProduct<'a>],
    pub token: &'a str,
    pub cart: &'a [SimListing],
    /// The message a cart add left: (success, text).
    pub message: Option<(bool, &'a str)>,
}

/// A product's availability box: an input when it can be added (a checkbox for at most one, a
/// number field otherwise), pretix's words when not.
fn availability(p: &SimProduct, state: &str) -> String {
    let field = match &p.variation {
        Some((v, _)) => format!("variation_{}_{v}", p.id),
        None => format!("item_{}", p.id),
    };
    let inner = match state {
        "available" if p.max == 1 => format!(
            "<label class=\"btn btn-default btn-checkbox\"><input type=\"checkbox\" value=\"1\" checked name=\"{field}\" id=\"{field}\"> Select</label>"
        ),
        "available" => format!(
            "<input type=\"number\" class=\"form-control input-item-count\" min=\"0\" max=\"{}\" name=\"{field}\" id=\"{field}\" value=\"0\">",
            p.max
        ),
        "unavailable" => "<strong>Reserved</strong><br><small>All remaining products are reserved but might become available again.</small>".to_string(),
        _ => "<strong>SOLD OUT</strong>".to_string(),
    };
    format!("<div class=\"col-md-2 col-sm-3 col-xs-6 availability-box {state}\">{inner}</div>")
}

/// A main shop's event page, shaped like pretix's `index.html` and `fragment_product_list.html`:
/// the message, the cart panel (with its own `cart/add` forms: decoys for a careless reader),
/// and the product list inside the add-to-cart form.
pub fn shop_page(v: &ShopView) -> String {
    let (base, event) = (v.base, v.event);
    let mut s = head("Simulated Festival", v.locale, base, event);
    match v.message {
        Some((true, m)) => s.push_str(&format!("    <div class=\"alert alert-success\"><p>{}</p></div>\n", esc(m))),
        Some((false, m)) => s.push_str(&format!(
            "    <div class=\"alert alert-danger\" id=\"error-message\"><p><span class=\"sr-only\">Error:</span> {}</p></div>\n",
            esc(m)
        )),
        None => {}
    }
    if !v.cart.is_empty() {
        s.push_str(
            "    <aside aria-label=\"Your cart\"><div class=\"panel panel-default cart\">\n",
        );
        for l in v.cart {
            s.push_str(&format!(
                "      <div role=\"row\" class=\"row cart-row editable\" data-article-id=\"item-{item}\"><div class=\"product\"><strong>{title}</strong></div>\n        <form action=\"{base}/{event}/cart/add\" method=\"post\" data-asynctask><input type=\"hidden\" name=\"subevent\" value=\"\" /><input type=\"hidden\" name=\"csrfmiddlewaretoken\" value=\"{token}\"><input type=\"hidden\" name=\"item_{item}\" value=\"1\" /><button>+</button></form></div>\n",
                item = l.item,
                title = esc(&l.title),
                token = v.token
            ));
        }
        s.push_str(&format!(
            "      <form class=\"checkout-button-primary\" method=\"get\" action=\"{base}/{event}/checkout/start\"><button>Proceed with checkout</button></form>\n    </div></aside>\n"
        ));
    }
    s.push_str(&format!(
        "    <form method=\"post\" data-asynctask action=\"{base}/{event}/cart/add?next=/{event}/&amp;next_error=/{event}/\">\n      <input type=\"hidden\" name=\"csrfmiddlewaretoken\" value=\"{}\">\n      <input type=\"hidden\" name=\"subevent\" value=\"\" />\n      <section class=\"item-category\">\n",
        v.token
    ));
    let mut i = 0;
    while i < v.products.len() {
        let sp = &v.products[i];
        let p = sp.product;
        match &p.variation {
            None => {
                s.push_str(&format!(
                    "        <article aria-labelledby=\"item-{id}-legend\" class=\"row product-row simple\" id=\"item-{id}\" data-price=\"{euros}\">\n          <div class=\"col-md-8\"><h4 id=\"item-{id}-legend\">{name}</h4></div>\n          <div class=\"col-md-2 price\"><p>{price}</p></div>\n          {avail}\n        </article>\n",
                    id = p.id,
                    euros = format_args!("{}.{:02}", p.price_cents / 100, p.price_cents % 100),
                    name = esc(&p.name),
                    price = price(p.price_cents, v.locale),
                    avail = availability(p, sp.state),
                ));
                i += 1;
            }
            Some(_) => {
                // A product with variations: one article, each variation an article inside.
                s.push_str(&format!(
                    "        <article aria-labelledby=\"item-{id}-legend\" class=\"item-with-variations\" id=\"item-{id}\">\n          <div class=\"row product-row headline\"><div class=\"col-md-8\"><h4 id=\"item-{id}-legend\">{name}</h4></div><div class=\"col-md-2 availability-box\"></div></div>\n          <div class=\"variations variations-collapsed\">\n",
                    id = p.id,
                    name = esc(&p.name)
                ));
                while i < v.products.len() && v.products[i].product.id == p.id {
                    let vp = &v.products[i];
                    let (var, vname) = vp.product.variation.clone().unwrap_or_default();
                    s.push_str(&format!(
                        "            <article aria-labelledby=\"item-{id}-{var}-legend\" class=\"row product-row variation\" id=\"item-{id}-{var}\">\n              <div class=\"col-md-8\"><h5 id=\"item-{id}-{var}-legend\">{vname}</h5></div>\n              <div class=\"col-md-2 price\"><p>{price}</p></div>\n              {avail}\n            </article>\n",
                        id = p.id,
                        vname = esc(&vname),
                        price = price(vp.product.price_cents, v.locale),
                        avail = availability(vp.product, vp.state),
                    ));
                    i += 1;
                }
                s.push_str("          </div>\n        </article>\n");
            }
        }
    }
    s.push_str("      </section>\n      <button class=\"btn btn-block btn-primary btn-lg\" type=\"submit\" id=\"btn-add-to-cart\">Add to cart</button>\n    </form>\n");
    s.push_str(FOOT);
    s
}

/// pretix's page while a background worker reserves: it reloads itself.
pub fn waiting_page() -> String {
    "<!DOCTYPE html><html><head><title>Please wait</title><meta http-equiv=\"refresh\" content=\"1\"></head><body><main id=\"content\"><div class=\"text-center\"><h1>We're now trying to reserve this for you!</h1><p>Once the items are in your cart, you will have 30 minutes to complete your purchase.</p></div></main></body></html>\n".into()
}
