//! The reading budget: what an answer may cost before any DOM is built from it.
//!
//! Why: html5ever's tree builder is linear in the input only while the stack of open elements
//! stays shallow; most of its steps (`in_scope_named`, closing implied elements) walk that stack,
//! and its tokenizer compares each attribute against the tag's earlier ones. A 5 MB page of
//! 300 000 unclosed `<div>`s cost minutes on the only runtime thread (no poll, no Ctrl-C). Real
//! pretix pages are far inside every limit here (~14 KB, < 100 levels, a few thousand tags), so
//! a page over budget is not a page we could read anyway: it is refused in one linear pass that
//! allocates nothing, before html5ever sees it.
//!
//! The pass is a small model of the HTML tokenizer and tree builder, precise where a hostile
//! page could otherwise hide depth from it: quoted attribute values (`<div a="></div>">`),
//! comments as html5ever ends them (`<!-->`, `--!>`), raw-text elements (`<script>` with its
//! `<!--<script>` escapes, `<style>`, `<textarea>`, …), end tags that close nothing
//! (`<div></span>`) or that a special element stops (`<span><div></span>`), `</form>` (which
//! takes the form out and leaves what is above it), `</h1>` (which closes the nearest heading),
//! `<x/>` (self-closing means nothing on an HTML element), the foreign content of `<svg>` and
//! `<math>` (where it does, until a breakout tag or an integration point), table parts (ignored
//! outside a table; the rows and bodies html5ever adds), formatting elements (html5ever opens
//! them again after an end tag popped them: each counts until its own end tag) and framesets.
//! Where the model and html5ever differ, the model closes fewer elements than html5ever does.
//! tests/reading_props.rs checks the model against html5ever on generated hostile pages: within
//! a depth budget, html5ever never builds more than twice as deep.
//!
//! Every DOM of an answer is built through [`parse_document`] / [`parse_fragment`] here, so none
//! can skip the check.

use scraper::Html;

/// What one answer may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Bytes (pretix pages are well under 1 MB).
    pub bytes: usize,
    /// Elements open at once (pretix pages nest < 100 levels).
    pub depth: usize,
    /// Start and end tags in all: each costs html5ever up to a walk of the open elements.
    pub tags: usize,
    /// Attributes on one element: html5ever checks each new one against the earlier ones.
    pub attributes: usize,
    /// The open elements walked in all, counted as the depth at each tag: what html5ever's scope
    /// checks cost (250 open `<span>`s then 99 000 `</x>` took it 180 ms, within every other
    /// budget).
    pub walks: usize,
}

/// The budget of every page read: a marketplace or shop answer, a checkout page, `race.html`.
pub const PAGE: Budget = Budget {
    bytes: 2 * 1024 * 1024,
    depth: 256,
    tags: 100_000,
    attributes: 100,
    walks: 4_000_000,
};

/// Why an answer was not read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OverBudget {
    #[error("{len} bytes, more than the {max} a page may have")]
    Size { len: usize, max: usize },
    #[error("elements nested more than {max} deep")]
    Depth { max: usize },
    #[error("more than {max} tags")]
    Tags { max: usize },
    #[error("an element with more than {max} attributes")]
    Attributes { max: usize },
    #[error("deep nesting under many tags (more than {max} steps of reading)")]
    Walks { max: usize },
}

/// What the pass saw of an answer within budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scanned {
    pub bytes: usize,
    pub tags: usize,
}

impl Scanned {
    /// About what the DOM of this answer takes in memory, on the high side: scraper spends
    /// ~250 bytes per node (its node vector doubles as it grows) and copies text and attribute
    /// values once more. Measured (release build): a page of bare `<a>`s 85 times its bytes
    /// (~255 per tag), of text 1 time, pretix fixtures 30-40 times (small pages, where the fixed
    /// overhead shows); this gives 384 per tag plus 4 per byte, above each of those that is larger
    /// than a few kilobytes, and a cap only needs large pages counted right.
    pub fn dom_bytes(&self) -> usize {
        self.tags
            .saturating_mul(384)
            .saturating_add(self.bytes.saturating_mul(4))
    }
}

/// The depth stack of the model holds at most this many entries; deeper is over any budget.
const STACK: usize = 1024;

/// Checks `body` against `budget`: one pass, no allocation.
pub fn check(body: &[u8], budget: &Budget) -> Result<Scanned, OverBudget> {
    if body.len() > budget.bytes {
        return Err(OverBudget::Size {
            len: body.len(),
            max: budget.bytes,
        });
    }
    let max_depth = budget.depth.min(STACK - 1);
    // The open elements, each as its (lower-case, folded) name key and what kind of element it is
    // (looked up once, when it opens: an end tag may walk the whole stack).
    let mut stack = [(0u64, Kind::Ordinary); STACK];
    let mut depth = 0usize;
    let mut tags = 0usize;
    let mut walks = 0usize;
    // Inside <svg>/<math> (where `<x/>` closes itself), and where in the stack it began.
    let mut foreign: Option<Ns> = None;
    let mut foreign_at = 0usize;
    // After a `<frameset>`: html5ever ignores every tag but a few (a `<script>` is no raw text
    // there), and every end tag but `</frameset>` closing the frameset on top.
    let mut frameset = false;
    // Formatting elements (`<b>`, `<a>`, …) opened and not closed by name, per kind: html5ever
    // keeps them in its list of active formatting elements even when an end tag pops them, and
    // opens them again (nested) at the next text or inline element, so each counts as depth
    // until its own end tag (`<p><b x=1>…<b x=k></p>` then `x`: k elements deep again).
    let mut formatting = [0usize; FORMATTING.len()];
    let mut formatting_open = 0usize;
    let mut at = 0usize;
    let b = body;
    while let Some(p) = memchr::memchr(b'<', &b[at..]) {
        let lt = at + p;
        let rest = &b[lt + 1..];
        match rest.first() {
            Some(b'!') => {
                at = skip_markup_declaration(b, lt);
                continue;
            }
            Some(b'?') => {
                // A bogus comment, ended by the next '>'.
                at = memchr::memchr(b'>', rest).map_or(b.len(), |q| lt + 1 + q + 1);
                continue;
            }
            Some(b'/') => {
                let Some(c) = rest.get(1) else { break };
                if !c.is_ascii_alphabetic() {
                    // `</>` is nothing; `</ x>` a bogus comment: both end at the next '>'.
                    at = memchr::memchr(b'>', rest).map_or(b.len(), |q| lt + 1 + q + 1);
                    continue;
                }
                let (key, after_name) = name_key(b, lt + 2);
                let (end, _, _) = skip_attributes(b, after_name);
                at = end;
                count_tag(&mut tags, &mut walks, depth, budget)?;
                if frameset {
                    if key == key_of(b"frameset") && depth > 0 && stack[depth - 1].0 == key {
                        depth -= 1;
                    }
                    continue;
                }
                close(&mut stack, &mut depth, key);
                if let Some(f) = FORMATTING.iter().position(|k| *k == key)
                    && formatting[f] > 0
                {
                    formatting[f] -= 1;
                    formatting_open -= 1;
                }
                // Foreign content ends when what began it is closed.
                if foreign.is_some() && depth <= foreign_at {
                    foreign = None;
                }
                continue;
            }
            Some(c) if c.is_ascii_alphabetic() => {}
            _ => {
                at = lt + 1;
                continue;
            }
        }
        let (key, after_name) = name_key(b, lt + 1);
        let (end, self_closing, attrs) = skip_attributes(b, after_name);
        at = end;
        count_tag(&mut tags, &mut walks, depth, budget)?;
        if attrs > budget.attributes {
            return Err(OverBudget::Attributes {
                max: budget.attributes,
            });
        }
        if foreign.is_some() && BREAKOUT.contains(&key) {
            // html5ever leaves foreign content here, popping it.
            foreign = None;
            depth = depth.min(foreign_at);
        }
        // An integration point (`<foreignObject>` in SVG, `<mi>` in MathML, …) is a foreign
        // element whose content is HTML again.
        let integration = match foreign {
            Some(Ns::Svg) => SVG_INTEGRATION.contains(&key),
            Some(Ns::Math) => MATH_INTEGRATION.contains(&key),
            None => false,
        };
        if foreign.is_some() {
            if self_closing && !integration {
                continue;
            }
            if depth + formatting_open >= max_depth {
                return Err(OverBudget::Depth { max: budget.depth });
            }
            stack[depth] = (key, Kind::of(key));
            depth += 1;
            if integration {
                foreign = None;
            }
            continue;
        }
        if VOID.contains(&key) {
            continue;
        }
        if key == key_of(b"svg") || key == key_of(b"math") {
            if self_closing {
                continue;
            }
            foreign_at = depth;
            foreign = Some(if key == key_of(b"svg") {
                Ns::Svg
            } else {
                Ns::Math
            });
        }
        let table_part = TABLE_PARTS.contains(&key) && key != key_of(b"table");
        if table_part && !in_table(&stack[..depth]) {
            continue;
        }
        if foreign.is_none() {
            implied_ends(&mut stack, &mut depth, key);
            if let Some(f) = FORMATTING.iter().position(|k| *k == key) {
                formatting[f] += 1;
                formatting_open += 1;
            }
        }
        // A cell or row straight in a table gets the row and body html5ever adds around it.
        for &implied in implied_table_parts(&stack[..depth], key) {
            if depth + formatting_open >= max_depth {
                return Err(OverBudget::Depth { max: budget.depth });
            }
            stack[depth] = (implied, Kind::of(implied));
            depth += 1;
        }
        if depth + formatting_open >= max_depth {
            return Err(OverBudget::Depth { max: budget.depth });
        }
        stack[depth] = (key, Kind::of(key));
        depth += 1;
        if key == key_of(b"frameset") {
            frameset = true;
        }
        if RAW_TEXT.contains(&key) && (!frameset || key == key_of(b"noframes")) {
            if key == key_of(b"plaintext") {
                break;
            }
            at = raw_text_end(b, at, key);
        }
    }
    Ok(Scanned {
        bytes: body.len(),
        tags,
    })
}

/// The DOM of a document, if it is within [`PAGE`].
pub fn parse_document(body: &str) -> Result<Html, OverBudget> {
    check(body.as_bytes(), &PAGE)?;
    Ok(Html::parse_document(body))
}

/// The DOM of a fragment, if it is within [`PAGE`].
pub fn parse_fragment(body: &str) -> Result<Html, OverBudget> {
    check(body.as_bytes(), &PAGE)?;
    Ok(Html::parse_fragment(body))
}

/// A tag name folded to a key: its first 10 characters, 6 bits each (letters, digits and `-`
/// each their own code, case folded), and its length. Distinct for every name the model treats
/// specially; two odd names sharing a key only make the model close an element html5ever would
/// also close by name.
/// Counts one tag (start or end) and the scope walk it costs at `depth`, against the budget.
fn count_tag(
    tags: &mut usize,
    walks: &mut usize,
    depth: usize,
    budget: &Budget,
) -> Result<(), OverBudget> {
    *tags += 1;
    *walks += depth;
    if *tags > budget.tags {
        return Err(OverBudget::Tags { max: budget.tags });
    }
    if *walks > budget.walks {
        return Err(OverBudget::Walks { max: budget.walks });
    }
    Ok(())
}

fn key_of(name: &[u8]) -> u64 {
    key_of_const(name)
}

const fn char_code(c: u8) -> u64 {
    (match c.to_ascii_lowercase() {
        c @ b'a'..=b'z' => c - b'a' + 1,
        c @ b'0'..=b'9' => c - b'0' + 27,
        b'-' => 37,
        c => 38 + c % 26,
    }) as u64
}

/// A tag name's key: exact for names of up to 10 characters (every name the model knows but a
/// few foreign-content ones); a 63-bit hash of the whole name, top bit set, for longer ones. Never
/// a prefix: `</abcdefghijklmnopB>` must not close `<abcdefghijklmnopA>`, or a page could hide its
/// depth from the budget.
const fn key_of_const(name: &[u8]) -> u64 {
    if name.len() > 10 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut i = 0;
        while i < name.len() {
            h ^= name[i].to_ascii_lowercase() as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
            i += 1;
        }
        return h | (1 << 63);
    }
    let mut k = 0u64;
    let mut i = 0;
    while i < name.len() {
        k = (k << 6) | char_code(name[i]);
        i += 1;
    }
    (k << 4) | name.len() as u64
}

/// The key of the tag name starting at `i`, and where the name ends.
fn name_key(b: &[u8], i: usize) -> (u64, usize) {
    let end = b[i..]
        .iter()
        .position(|c| c.is_ascii_whitespace() || *c == b'/' || *c == b'>')
        .map_or(b.len(), |p| i + p);
    (key_of(&b[i..end]), end)
}

/// Skips a tag's attributes from `i` as the tokenizer reads them (quoted values may hold `>`):
/// where the tag ends, whether it ends in `/>`, and how many attributes it has.
fn skip_attributes(b: &[u8], mut i: usize) -> (usize, bool, usize) {
    let mut attrs = 0;
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            if b[i] == b'/' && b.get(i + 1) == Some(&b'>') {
                return (i + 2, true, attrs);
            }
            i += 1;
        }
        match b.get(i) {
            None => return (b.len(), false, attrs),
            Some(b'>') => return (i + 1, false, attrs),
            _ => {}
        }
        // An attribute name (its first character may be anything but the above, even '=').
        attrs += 1;
        i += 1;
        while i < b.len() && !matches!(b[i], b'=' | b'>' | b'/') && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        match b.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                i = memchr::memchr(q, &b[i + 1..]).map_or(b.len(), |p| i + 1 + p + 1);
            }
            _ => {
                while i < b.len() && b[i] != b'>' && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
            }
        }
    }
}

/// After `<!` at `lt`: a comment ends as html5ever ends it (`<!-->`, `<!--->`, `-->`, `--!>`);
/// anything else (a doctype, CDATA, a bogus comment) at the next '>'.
fn skip_markup_declaration(b: &[u8], lt: usize) -> usize {
    let after = |i: usize| i.min(b.len());
    if b[lt..].starts_with(b"<!--") {
        let body = lt + 4;
        if b[body..].starts_with(b">") {
            return body + 1;
        }
        if b[body..].starts_with(b"->") {
            return body + 2;
        }
        let mut i = body;
        while let Some(p) = memchr::memchr(b'-', &b[i..]) {
            let d = i + p;
            if b[d..].starts_with(b"-->") {
                return d + 3;
            }
            if b[d..].starts_with(b"--!>") {
                return d + 4;
            }
            i = d + 1;
        }
        return b.len();
    }
    memchr::memchr(b'>', &b[lt..]).map_or(b.len(), |p| after(lt + p + 1))
}

/// Where the text of a raw-text element (opened by `key`, its start tag ending at `i`) ends: the
/// next `</name` followed by a space, `/` or `>`. A script's `<!--<script>` escapes (where
/// html5ever reads on past a `</script>`) are modelled by reading on too: see [`script_end`].
fn raw_text_end(b: &[u8], i: usize, key: u64) -> usize {
    if key == key_of(b"script") {
        return script_end(b, i);
    }
    next_end_tag(b, i, key).unwrap_or(b.len())
}

/// The position of the next `</name` (`name` by its key) from `i` that ends a raw-text element.
fn next_end_tag(b: &[u8], mut i: usize, key: u64) -> Option<usize> {
    while let Some(p) = memchr::memmem::find(&b[i..], b"</") {
        let lt = i + p;
        let (k, end) = name_key(b, lt + 2);
        if k == key && end > lt + 2 && end < b.len() {
            return Some(lt);
        }
        i = lt + 2;
    }
    None
}

/// Script data as the tokenizer reads it: `<!--` starts an escaped part, where `<script` starts
/// a double-escaped one that only `</script` (back to escaped) or `-->` ends; the script ends at
/// a `</script` outside the double-escaped part.
fn script_end(b: &[u8], mut i: usize) -> usize {
    let script = key_of(b"script");
    let (mut escaped, mut double) = (false, false);
    while let Some(p) = memchr::memchr2(b'<', b'-', &b[i..]) {
        let c = i + p;
        if b[c] == b'-' {
            if escaped && b[c..].starts_with(b"-->") {
                escaped = false;
                double = false;
                i = c + 3;
            } else {
                i = c + 1;
            }
            continue;
        }
        if b[c..].starts_with(b"<!--") {
            escaped = true;
            i = c + 4;
            continue;
        }
        if b[c..].starts_with(b"</") {
            let (k, end) = name_key(b, c + 2);
            if k == script && end > c + 2 {
                if double {
                    double = false;
                    i = end;
                    continue;
                }
                return c;
            }
            i = c + 2;
            continue;
        }
        if escaped {
            let (k, end) = name_key(b, c + 1);
            if k == script && end > c + 1 && end < b.len() {
                double = true;
                i = end;
                continue;
            }
        }
        i = c + 1;
    }
    b.len()
}

/// Closes what a start tag `key` closes in html5ever, but only from the top of the stack (so
/// never more than html5ever does): a `<li>` the open `li`, a block the open `p`, a cell the
/// open cell, and so on.
fn implied_ends(stack: &mut [(u64, Kind)], depth: &mut usize, key: u64) {
    let closes: &[&[u8]] = match key {
        k if k == key_of(b"li") => &[b"li", b"p"],
        k if k == key_of(b"dt") || k == key_of(b"dd") => &[b"dt", b"dd", b"p"],
        k if k == key_of(b"option") => &[b"option"],
        k if k == key_of(b"optgroup") => &[b"option"],
        k if k == key_of(b"td") || k == key_of(b"th") => &[b"td", b"th"],
        k if k == key_of(b"tr") => &[b"td", b"th", b"tr"],
        k if k == key_of(b"tbody") || k == key_of(b"thead") || k == key_of(b"tfoot") => {
            &[b"td", b"th", b"tr", b"tbody", b"thead", b"tfoot"]
        }
        k if CLOSES_P.contains(&k) => &[b"p"],
        _ => return,
    };
    while *depth > 0 && closes.iter().any(|c| key_of(c) == stack[*depth - 1].0) {
        *depth -= 1;
    }
}

/// Which open element an end tag closes, and which ends its search.
type Hit<'a> = dyn Fn(u64) -> bool + 'a;
type Stop<'a> = dyn Fn(u64, Kind) -> bool + 'a;

/// An end tag, as html5ever's tree builder treats it (in body and table modes), never closing
/// more than it would: an end tag that closes nothing changes nothing.
fn close(stack: &mut [(u64, Kind)], depth: &mut usize, key: u64) {
    let k = |n: &[u8]| key_of(n) == key;
    // `</body>`, `</html>` change the mode, not the stack; `</br>` is a `<br>`.
    if k(b"body") || k(b"html") || k(b"br") {
        return;
    }
    // The search: which open elements end it (`stop`), and which one it closes (`hit`).
    let heading = |o: u64| HEADINGS.contains(&o);
    let (hit, stop): (&Hit<'_>, &Stop<'_>) = if heading(key) {
        // Any heading closes the nearest heading.
        (&heading, &|_, kind| kind == Kind::Scope)
    } else if TABLE_PARTS.contains(&key) {
        // Cells, rows, sections and the table close through their content, up to a table.
        let table = key_of(b"table");
        (&|o| o == key, &move |o, _| {
            TABLE_STOPS.contains(&o) || (o == table && key != table)
        })
    } else if k(b"li") {
        let (ol, ul) = (key_of(b"ol"), key_of(b"ul"));
        (&|o| o == key, &move |o, kind| {
            kind == Kind::Scope || o == ol || o == ul
        })
    } else if k(b"p") {
        let button = key_of(b"button");
        (&|o| o == key, &move |o, kind| {
            kind == Kind::Scope || o == button
        })
    } else if BLOCK_END.contains(&key) {
        (&|o| o == key, &|_, kind| kind == Kind::Scope)
    } else {
        // Any other end tag stops at a special element.
        (&|o| o == key, &|_, kind| kind != Kind::Ordinary)
    };
    for i in (0..*depth).rev() {
        let (open, kind) = stack[i];
        if hit(open) {
            if k(b"form") {
                // `</form>` takes the form out of the stack and leaves what is above it.
                stack.copy_within(i + 1..*depth, i);
                *depth -= 1;
            } else {
                *depth = i;
            }
            return;
        }
        if stop(open, kind) {
            return;
        }
    }
}

/// The elements html5ever opens before a cell or row `key` given the open element on top: a
/// `tbody` in a bare table, a `tr` in a table section.
fn implied_table_parts(stack: &[(u64, Kind)], key: u64) -> &'static [u64] {
    const TBODY: u64 = key_of_const(b"tbody");
    const TR: u64 = key_of_const(b"tr");
    const BODY_TR: [u64; 2] = [TBODY, TR];
    let top = stack.last().map_or(0, |e| e.0);
    let cell = key == key_of(b"td") || key == key_of(b"th");
    let section = [TBODY, key_of(b"thead"), key_of(b"tfoot")].contains(&top);
    match (top == key_of(b"table"), cell, key == TR) {
        (true, true, _) => &BODY_TR,
        (true, false, true) => &BODY_TR[..1],
        (false, true, _) if section => &BODY_TR[1..],
        _ => &[],
    }
}

/// Whether a table or template (the contexts cells and rows need) is open; html5ever ignores
/// them elsewhere.
fn in_table(stack: &[(u64, Kind)]) -> bool {
    let (table, template) = (key_of(b"table"), key_of(b"template"));
    stack.iter().any(|(o, _)| *o == table || *o == template)
}

/// What an open element is to an end tag's search.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ordinary,
    /// A special element: an ordinary end tag's search stops at it.
    Special,
    /// A scope boundary (special too): a special end tag's search stops at it.
    Scope,
}

impl Kind {
    fn of(key: u64) -> Kind {
        if SCOPE.contains(&key) {
            Kind::Scope
        } else if SPECIAL.contains(&key) {
            Kind::Special
        } else {
            Kind::Ordinary
        }
    }
}

/// Keys of a static list of names (computed at compile time).
macro_rules! keys {
    ($($n:literal),* $(,)?) => { [$(key_of_const($n)),*] };
}

/// Elements without content.
const VOID: [u64; 16] = keys!(
    b"area", b"base", b"br", b"col", b"embed", b"hr", b"img", b"input", b"link", b"meta",
    b"source", b"track", b"wbr", b"param", b"keygen", b"frame"
);

/// Elements whose content is text, not markup (`noscript` too: html5ever parses with scripting on).
#[rustfmt::skip]
const RAW_TEXT: [u64; 10] = keys!(
    b"script", b"style", b"textarea", b"title", b"xmp", b"iframe", b"noembed", b"noframes",
    b"noscript", b"plaintext"
);

/// html5ever's special elements (an ordinary end tag stops at them), with a few more to be safe.
#[rustfmt::skip]
const SPECIAL: [u64; 95] = keys!(
    b"address", b"applet", b"area", b"article", b"aside", b"base", b"basefont", b"bgsound",
    b"blockquote", b"body", b"br", b"button", b"caption", b"center", b"col", b"colgroup", b"dd",
    b"details", b"dir", b"div", b"dl", b"dt", b"embed", b"fieldset", b"figcaption", b"figure",
    b"footer", b"form", b"frame", b"frameset", b"h1", b"h2", b"h3", b"h4", b"h5", b"h6", b"head",
    b"header", b"hgroup", b"hr", b"html", b"iframe", b"img", b"input", b"keygen", b"li", b"link",
    b"listing", b"main", b"marquee", b"menu", b"meta", b"nav", b"noembed", b"noframes",
    b"noscript", b"object", b"ol", b"p", b"param", b"plaintext", b"pre", b"script", b"search",
    b"section", b"select", b"source", b"style", b"summary", b"table", b"tbody", b"td", b"template",
    b"textarea", b"tfoot", b"th", b"thead", b"title", b"tr", b"track", b"ul", b"wbr", b"xmp",
    b"svg", b"math", b"foreignobject", b"desc", b"mi", b"mo", b"mn", b"ms", b"mtext",
    b"annotation-xml", b"option", b"optgroup"
);

/// Where a special end tag's search stops (html5ever's scope boundaries, and a few more).
#[rustfmt::skip]
const SCOPE: [u64; 20] = keys!(
    b"applet", b"caption", b"html", b"table", b"td", b"th", b"marquee", b"object", b"template",
    b"svg", b"math", b"foreignobject", b"desc", b"title", b"mi", b"mo", b"mn", b"ms", b"mtext",
    b"annotation-xml"
);

/// Start tags that leave foreign content (html5ever's breakout list).
#[rustfmt::skip]
const BREAKOUT: [u64; 45] = keys!(
    b"b", b"big", b"blockquote", b"body", b"br", b"center", b"code", b"dd", b"div", b"dl", b"dt",
    b"em", b"embed", b"h1", b"h2", b"h3", b"h4", b"h5", b"h6", b"head", b"hr", b"i", b"img", b"li",
    b"listing", b"menu", b"meta", b"nobr", b"ol", b"p", b"pre", b"ruby", b"s", b"small", b"span",
    b"strong", b"strike", b"sub", b"sup", b"table", b"tt", b"u", b"ul", b"var", b"font"
);

/// Foreign elements whose content is HTML again: in SVG, and in MathML.
const SVG_INTEGRATION: [u64; 3] = keys!(b"foreignobject", b"desc", b"title");
const MATH_INTEGRATION: [u64; 6] = keys!(b"mi", b"mo", b"mn", b"ms", b"mtext", b"annotation-xml");

/// The foreign content the model is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ns {
    Svg,
    Math,
}
/// html5ever's formatting elements (its list of active formatting elements holds these).
const FORMATTING: [u64; 14] = keys!(
    b"a", b"b", b"big", b"code", b"em", b"font", b"i", b"nobr", b"s", b"small", b"strike",
    b"strong", b"tt", b"u"
);

/// End tags that close the element they name if it is in scope, through whatever is above it.
#[rustfmt::skip]
const BLOCK_END: [u64; 36] = keys!(
    b"address", b"article", b"aside", b"blockquote", b"button", b"center", b"details", b"dialog",
    b"dir", b"div", b"dl", b"fieldset", b"figcaption", b"figure", b"footer", b"header", b"hgroup",
    b"listing", b"main", b"menu", b"nav", b"ol", b"pre", b"search", b"section", b"select",
    b"summary", b"ul", b"form", b"dd", b"dt", b"applet", b"marquee", b"object", b"li", b"p"
);

const HEADINGS: [u64; 6] = keys!(b"h1", b"h2", b"h3", b"h4", b"h5", b"h6");

/// A table's parts (ignored outside a table; their end tags close through their content).
#[rustfmt::skip]
const TABLE_PARTS: [u64; 9] = keys!(
    b"table", b"tbody", b"thead", b"tfoot", b"tr", b"td", b"th", b"caption", b"colgroup"
);

/// Where a table part's end tag stops (html5ever's table scope, and foreign content).
#[rustfmt::skip]
const TABLE_STOPS: [u64; 13] = keys!(
    b"html", b"template", b"svg", b"math", b"foreignobject", b"desc", b"title", b"mi", b"mo",
    b"mn", b"ms", b"mtext", b"annotation-xml"
);

/// Start tags that close an open `p` (html5ever: "if the stack has a p in button scope").
#[rustfmt::skip]
const CLOSES_P: [u64; 34] = keys!(
    b"address", b"article", b"aside", b"blockquote", b"center", b"details", b"dir", b"div", b"dl",
    b"fieldset", b"figcaption", b"figure", b"footer", b"header", b"hgroup", b"main", b"menu",
    b"nav", b"ol", b"p", b"section", b"summary", b"ul", b"h1", b"h2", b"h3", b"h4", b"h5", b"h6",
    b"pre", b"listing", b"form", b"plaintext", b"hr"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(s: &str) -> bool {
        check(s.as_bytes(), &PAGE).is_ok()
    }

    #[test]
    fn keys_match_their_const_twins() {
        for n in [&b"div"[..], b"annotation-xml", b"DIV", b"foreignObject"] {
            assert_eq!(key_of(n), key_of_const(n));
        }
        assert_eq!(key_of(b"DIV"), key_of(b"div"));
        assert_ne!(key_of(b"td"), key_of(b"th"));
        assert_ne!(key_of(b"h2"), key_of(b"hr"));
    }

    #[test]
    fn real_pages_pass() {
        for f in [
            "marketplace_two_listings_en.html",
            "marketplace_empty_en.html",
            "marketplace_de_relative.html",
            "shop_available.html",
            "checkout_questions.html",
        ] {
            let path = format!("{}/tests/fixtures/{f}", env!("CARGO_MANIFEST_DIR"));
            let body = std::fs::read(&path).unwrap();
            assert!(check(&body, &PAGE).is_ok(), "{f}");
        }
        // Hundreds of unclosed list items, options, paragraphs and cells: shallow.
        let mut s = String::from("<ul>");
        s += &"<li>x".repeat(2000);
        s += "</ul><select>";
        s += &"<option>o".repeat(2000);
        s += "</select><table>";
        s += &"<tr><td>a<td>b".repeat(1000);
        s += "</table>";
        s += &"<p>para".repeat(1000);
        s += &"<svg><path d='M0'/><circle/></svg>".repeat(500);
        s += &"<br><img src=x><input name=y>".repeat(500);
        assert!(depth_ok(&s));
    }

    #[test]
    fn hidden_depth_is_found() {
        let deep = |unit: &str| {
            let s = unit.repeat(300);
            assert_eq!(
                check(s.as_bytes(), &PAGE),
                Err(OverBudget::Depth { max: 256 }),
                "{unit}"
            );
        };
        deep("<div>");
        deep("<DIV class=\"a\">");
        deep("<div/>");
        deep("<x-y>");
        deep("<div a=\"></div>\">");
        deep("<div a='></div>'>");
        deep("<div></span>");
        deep("<span><div></span>");
        deep("<!--><div>-->");
        deep("<!---><div>-->");
        deep("<!-- --!><div>-->");
        deep("<div><script><!--<script></script></div>--></script>");
        deep("<div><svg><div/>");
        deep("<svg><foreignObject><div/>");
        deep("<math><title>");
        deep("<table><td>");
        deep("<svg><span></svg>");
        // Long names are told apart whole, never by a prefix and a capped length.
        deep("<abcdefghijklmnopA></abcdefghijklmnopB>");
        deep("<custom-element-long-a></custom-element-long-b>");
        deep("<math></svg><tr>");
        deep("<template><tr>");
        deep("<frameset><script>");
        deep("<frameset><noframes></frameset></noframes>");
        deep("<div><frameset><div><script></frameset></script>");
        deep("<svg><g>");
        deep("<div><style></div></style>");
        deep("<div><textarea></div></textarea>");
        deep("<div></x y='></div>'>");
        deep("<optgroup>");
        deep("<option><div></option>");
        deep("<form><div></form>");
        deep("<h1><div><h2></h1>");
        deep("<td><div></td>");
        deep("<rt>");
        deep("<div></body>");
        // Formatting elements popped by `</p>` and opened again at the next text, k deep each
        // time (Noah's ark does not merge them: their attributes differ).
        let mut s = String::new();
        for round in 0..30 {
            s.push_str("<p>");
            for i in 0..10 {
                s.push_str(&format!("<b x={round}-{i}>"));
            }
            s.push_str("</p>x");
        }
        assert!(matches!(
            check(s.as_bytes(), &PAGE),
            Err(OverBudget::Depth { .. })
        ));
        assert!(depth_ok(&"<div></div>".repeat(10_000)));
        assert!(depth_ok(&"<div><span></span></div>".repeat(10_000)));
    }

    #[test]
    fn other_budgets() {
        assert!(matches!(
            check(&vec![b' '; PAGE.bytes + 1], &PAGE),
            Err(OverBudget::Size { .. })
        ));
        assert!(matches!(
            check("<br>".repeat(100_001).as_bytes(), &PAGE),
            Err(OverBudget::Tags { .. })
        ));
        let walks = "<span>".repeat(250) + &"</x>".repeat(99_000);
        assert!(matches!(
            check(walks.as_bytes(), &PAGE),
            Err(OverBudget::Walks { .. })
        ));
        let attrs: String = (0..101).map(|i| format!(" a{i}=1")).collect();
        assert!(matches!(
            check(format!("<div{attrs}>").as_bytes(), &PAGE),
            Err(OverBudget::Attributes { .. })
        ));
    }
}
