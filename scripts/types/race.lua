---@meta race
--- LuaLS type stubs for the pretix-race strategy API: the reference your editor reads.
--- Point LuaLS at this folder (`"workspace.library": ["scripts/types"]`) for completion and checks.
---
--- One failure rule everywhere: an expected failure (the network, a page that cannot be read, a
--- refusal, a write that fails) returns `nil, err`; misuse (a wrong argument type, an argument to
--- a function that takes none, an unknown or mistyped option key, a relative URL, a table that is
--- no listing or product, a value JSON cannot hold, a reserved header, a hand-over off the
--- watched shop's site) raises at the caller's line.
--- `err.kind` is one of "network", "tls", "no_link" (discover: the event page had no marketplace
--- link; `err.status` and `err.readable` say what it answered), "dry_run", "refused" (a POST to a
--- checkout page: paying is the person's step; plain http to a non-loopback host; a webhook aimed
--- at a watched shop), "not_allowed" (a host the user did not name: only the targets' hosts, the
--- --webhook host, loopback and --allow-host hosts can be reached; in a rehearsal, loopback only),
--- "redirect_loop" (more than 10 redirects), "unavailable" (a shop product the page showed as
--- not buyable: no cart add is sent), "json", "webhook", "imessage", "store", "setup",
--- "too_large" and "memory" (race.html: a page over the reading budget, or no room under
--- --memory-limit-mb for its DOM; race.json.decode: no room for the decoded value); `err.message`
--- says what happened and `tostring(err)` is the message. An HTTP status is data
--- (`response.status`), never an error.
---
--- Operations are methods of a session (`s:get`, `s:post`, `s:discover`, `s:poll`,
--- `s:poll_shop`, `s:add_to_cart`, `s:handoff`); `race.market`, `race.shop`, `race.html`,
--- `race.url` and `race.json` hold pure functions. A name an earlier release had
--- (`race.market.poll`, `race.handoff`, `race.shop.poll`, `race.time.iso8601`, `page.active`, …)
--- raises with what to write instead.
---
--- --until is enforced by the core, whatever the strategy: when it passes with nothing secured,
--- the run ends with exit code 4 and a reason ("choose picked nothing from 2 listings (40 polls)");
--- a strategy needs no timer for it.
---
--- Decisions (`choose`, `wait`, `cart_fields`, `on_cart`, `on_available`, `discover`: fields of
--- `require("race.default")`, and of `require("race.shop_strategy")` but `discover`; their shapes
--- are `race.Strategy`'s, below: `choose(candidates, page, opts)` for both) that you
--- override are guarded: one that raises, returns the wrong thing (`choose` returning one listing:
--- "wrap it in { }") or computes for more than 1 s is reported at your line (where it raised, or
--- its `return` that gave the wrong value; once per target, the repeats counted in the run's
--- summary), and a fallback that
--- never does what your rule forbade stands in: a failed `choose` takes nothing from that page;
--- `wait`, `cart_fields`, `on_available` and `discover` use the built-in; an `on_cart` that
--- returns the wrong thing is taken as done, one that raises is followed by the built-in.
--- --strict stops instead. A function named a typo away from a decision
--- (`chose`) is a script error before the first request.
---
--- A strategy file returns a table with a `run` method (like `require("race.default")`), or a
--- function, or does its work at top level. `run` returning `false|nil, message[, hint]` ends the
--- run as a failure (exit 1); returning normally ends it as a success (exit 0). A file that returns
--- a table without `run`, a value that is no strategy, or ends well without a single request is a
--- script error (exit 3): it would otherwise look like a watch that did nothing.
---
--- Whatever ends the run (return, error, Ctrl-C, SIGTERM, SIGHUP), every cart the core secured and
--- no `session:handoff` handed over is handed over first (files, printed session, alert).
---
--- Rules no script can bend (the core enforces them under every request): per remote host a
--- burst of 6 requests then one per 2 s, GETs at least 2 s apart, every Retry-After, backoff on
--- errors (a network error holds only its origin), hosts normalised, plain http only to loopback,
--- `User-Agent`, `Cookie` and `Host` never set per request, no POST to a checkout page, and in a
--- dry run no POST to a marketplace buy URL or a shop's cart/add on any host. Redirects are followed
--- by the core one hop at a time, each hop under all of these rules (301/302/303 turn a POST into a
--- GET, 307/308 repeat it); a response's `url` is the last hop's.
---
--- Sandbox: no `io`, `os.execute`/`exit`/`remove`/`rename`/`tmpname`, `dofile`, `loadfile`,
--- `string.dump` or `coroutine` (each says so when touched); `load` and `require` take source
--- text only, and only from the strategy's own folder (changing `package.path` has no effect). A
--- script that computes for 30 s without waiting on the API is stopped, pcall or not.

---@class race.Error
---@field kind string
---@field message string
---@field status integer|nil    no_link: the HTTP status the event page answered (data, not a failure)
---@field readable boolean|nil  no_link: the answer was a page we could read
---@field response race.Response|nil  no_link on a readable page: the page itself (e.g. for race.shop.products)
---@field dns boolean|nil   network: the host name did not resolve

---@class race.Target
---@field url string         the shop's base URL
---@field event string       the event slug
---@field event_url string   `{url}/{event}/`
---@field item string|nil    product id filter
---@field weight integer      its share of a busy shop's polls against the other events' (`--event day2:3`, a target's `weight`; 1 by default)
---@field named_at string|nil  where a strategy file names it ("festival.lua:3"); nil for the flags' targets

---@class race.Options
---@field targets race.Target[]  every event watched: the flags' (--url with each --event), or the strategy's `targets`
---@field url string|nil     the first target's shop URL (--url)
---@field event string|nil   the first target's event slug (--event)
---@field event_url string|nil  the first target's `{url}/{event}/`
---@field interval number    seconds between polls (--interval)
---@field item string|nil    product id filter (--item)
---@field sort string        price_asc | price_desc | newest | oldest (--sort)
---@field dry_run boolean    never POST to the marketplace (--dry-run)
---@field headless boolean   no browser hand-over (--headless)
---@field imessage string|nil
---@field webhook string|nil
---@field poll_inactive number|nil seconds between event-page checks while there is no marketplace
---@field log_dir string
---@field user_agent string
---@field strict boolean     errors in overridden decisions end the run (--strict)
---@field strategy "marketplace"|"shop"|nil  --strategy, when given
---@field items string[]     every --item, in order (the shop strategy tries them in this order)
---@field variation string|nil  --variation (shop strategy)
---@field count integer      --count: how many to add at once (shop strategy)
---@field voucher string|nil  --voucher (or the event URL's ?voucher=): the shop strategy watches pretix's redeem page for it
---@field dates string[]      every --date (an event series' dates: id, YYYY-MM-DD or name), in order
---@field max_price number|nil  --max-price
---@field matches string[]   --match texts, lower case
---@field want integer       --want: tickets to gather in the cart before handing it over
---@field until number|nil   --until: seconds from start-up (read it as race.options["until"]: `until` is a Lua keyword)

---@class race.Response
--- Reading a field not listed here raises at your line (a typo such as `l.prcie` is never quietly nil).
---@field seq integer         request number (as in the log)
---@field status integer
---@field ok boolean          2xx
---@field url string          final URL, after redirects
---@field headers table<string,string> lower-case names
---@field body string       the page, made a Lua string when first read (a strategy that never reads it never pays for it; `pairs` lists it, `rawget` finds it once read)
---@field size integer       the body's length in bytes
---@field ttfb number         seconds to the first byte
---@field ttlb number         seconds to the last byte
---@field waited number       seconds the politeness governor held the request back
---@field retry_after number|nil
---@field backoff number|nil  seconds this answer makes the next request to the host wait

---@class race.Listing
--- Reading a field not listed here raises at your line (a typo such as `l.prcie` is never quietly nil).
---@field id string
---@field title string        ticket type, as the listing's panel titles it
---@field price number|nil
---@field price_text string   as shown, e.g. "190.00 EUR"
---@field currency string
---@field action string       the buy URL (the form's action)
---@field fields table<string,string> the form's hidden fields (CSRF token)
---@field position integer    1-based, in the page's sort order
---@field page_url string     the page it was found on (sent as Referer)

---@class race.Page: race.Response
--- What the answer is, by positive evidence only. Check `ok` first: a 429/503/409 is `ok == false`
--- with its `status` (and state "unrecognised"), never "inactive".
---@field state "open"|"inactive"|"unrecognised"  open: the filter form or a listing is there;
--- inactive: pretix's error page (`#error-message` without the filter form), 404/410, or a redirect
--- away from the marketplace on the same site; unrecognised: anything else (garbage, a page cut
--- off, a CDN/challenge/maintenance page, an unknown theme). Unrecognised answers are saved once,
--- count toward watcher_failing, and after 5 in a row the host is backed off (30 s, doubling).
---@field listings race.Listing[]
---@field new integer         listings not seen on any earlier poll

---@class race.CartResult
---@field status "in_cart"|"lost"|"failed"
---@field session race.Session     the session holding the cart (hand it over with result.session:handoff)
---@field product race.Product|nil  a shop's cart add: the product
---@field count integer|nil         a shop's cart add: how many it reserved (as the checkout's row for the product shows; pretix adds in part when fewer are left than the page showed), else how many were asked for (at most the product's max)
---@field requested integer|nil     a shop's cart add: how many the strategy wanted (more than count when the shop offered fewer)
---@field checkout_url string|nil  with in_cart (the cart is the POST's outcome: in_cart once pretix sent it to the checkout, even if the checkout page then failed to load)
---@field expires string|nil       the reservation's end (data-expires), with in_cart; nil when the checkout page did not load
---@field items string[]|nil       cart rows on the checkout page, with in_cart; nil when it did not load
---@field reason string|nil        with failed
---@field listing race.Listing|nil  a marketplace cart add: the listing
---@field response race.Response|nil  the last answer read; nil when the checkout page never arrived

---@class race.Cookie
---@field name string
---@field value string
---@field domain string
---@field host_only boolean
---@field path string
---@field secure boolean
---@field http_only boolean
---@field same_site string|nil
---@field expires integer|nil

---@class race.Handoff
---@field checkout_url string
---@field cookies race.Cookie[]
---@field cookie_file string|nil   Netscape cookie file (0600)
---@field json_file string|nil     the same as JSON (0600)
---@field console_script string    paste into the browser console on the site
---@field browser boolean          whether a browser window shows the checkout page
---@field browser_pid integer|nil  the browser's process id (its window stays open)
---@field page_url string|nil      what the browser shows
---@field page_expires string|nil  the reservation deadline the page shows
---@field latency number|nil       seconds from cart secured to checkout page loaded
---@field error string|nil         why the files could not be written or the browser not opened
---@field checkout boolean         checkout_url is a checkout page (else the report says no cart is confirmed)

---@class race.Session
local Session = {}

--- GET (a poll: spaced by the 2 s floor for remote hosts, held by any backoff). Setting the
--- `User-Agent`, `Cookie` or `Host` header raises, and so does a header name or value HTTP does
--- not allow (a space or colon in the name, a line break in the value): nothing is sent.
---@param url string
---@param opts? {headers?: table<string,string>}
---@return race.Response|nil, race.Error|nil
function Session:get(url, opts) end

--- Form POST (an action: not held by the floor, only by backoff). Refused in a dry run, and
--- always to a checkout page (`err.kind == "refused"`): a person checks out.
---@param url string
---@param form? table<string,string|number>
---@param opts? {headers?: table<string,string>}
---@return race.Response|nil, race.Error|nil
function Session:post(url, form, opts) end

--- Every unexpired cookie of the session.
---@return race.Cookie[]
function Session:cookies() end

--- GETs the event page (default: the first target's) and follows its marketplace link.
--- No link is `nil, err` with kind "no_link"; what the page answered is data on the error:
--- `err.status` (e.g. 404: check the URL; 503: busy, ask again) and `err.readable` (a page we
--- could read, as opposed to garbage or an error page).
---@param event_url? string
---@return string|nil url, race.Error|nil err  kinds: no_link, network, tls
function Session:discover(event_url) end

--- GETs the marketplace once and reads its listings. An HTTP status is data (`page.status`,
--- `page.ok`), never an error: only the network fails with `nil, err`.
---@param url string
---@return race.Page|nil, race.Error|nil
function Session:poll(url) end

--- GETs a main shop's event page once (a poll: the 2 s floor applies) and reads its products,
--- with the log line; failures and pages without products count toward watcher_failing.
---@param event_url string
---@return race.ShopPage|nil, race.Error|nil
function Session:poll_shop(event_url) end

--- Adds a listing (from `session:poll`, `race.market.listings`) or a product (from
--- `session:poll_shop`, `race.shop.products`) to this session's cart; anything else raises.
--- A listing: POSTs its buy form (`opts.referer`, default the page it was found on). A product:
--- POSTs its add-to-cart form for `opts.count` (default 1; more than `product.max` is cut to it,
--- said in the log and in the result's `requested`), follows pretix's waiting page and confirms
--- the cart at checkout/start. Unknown keys in `opts`, a wrong type, or `count` for a listing
--- raise. The cart is the POST's outcome: `in_cart` once pretix sent the POST on to the
--- checkout (the cart is recorded then), even when the checkout page then stalls or fails
--- (`expires` is nil). A 403 (a stale CSRF token) fetches the page again for a fresh token and
--- retries at once, once. Refused in a dry run. A product the page showed as not buyable
--- (`available` false: sold out, reserved, not on sale, …) is `nil, err` with kind
--- "unavailable", and no POST is sent: pretix would refuse it.
---@param item race.Listing|race.Product
---@param opts? {referer?: string}|{count?: integer}  {referer} for a listing, {count} for a product
---@return race.CartResult|nil, race.Error|nil
function Session:add_to_cart(item, opts) end

--- Hands this session's cart over: writes the cookie files, prints checkout URL, cookies and
--- console script, then (unless headless) opens the browser on the checkout page with every
--- cookie set. Never fails for want of a browser. Given a URL that is not a checkout page, it
--- hands the session over but says plainly that no cart is confirmed.
---@param checkout_url string
---@param opts? {expires?: string, headless?: boolean, note?: string}  note: a line for the block, before the cookies
---@return race.Handoff
function Session:handoff(checkout_url, opts) end

--- This session's share of a busy remote shop's polls (one per 2 s for the whole host): while
--- several sessions wait to poll it, they take turns by weight (weight 3 gets three polls for
--- weight 1's one). 1 by default; a whole number from 1 to 1000 (anything else raises). The
--- built-in strategies give each event's session its target's `weight`.
---@param weight integer
function Session:set_weight(weight) end

---@class race
race = {}

---@type string
race.version = ""

---@type race.Options
race.options = {}

--- The run's HTTP session: one cookie jar (its requests go on the shop's one connection, shared
--- by every session).
---@type race.Session
race.session = {}

--- Another session: its own cookie jar (a second cart) on the same connections (one per shop,
--- each request carrying its own session's cookies), under the same rules as every other (the
--- governor is per host, not per session). What it can fail on (its TLS set-up) is `nil, err`
--- with kind "setup".
---@return race.Session|nil, race.Error|nil
function race.new_session() end

---@class race.Task

--- Starts `fn(...)` as a task beside the caller and returns its handle at once. Tasks run one at a
--- time and switch whenever one waits on the API (a poll, a sleep). Ctrl-C and the runaway
--- watchdog stop every task; tasks still running when the strategy ends are stopped.
---@param fn function
---@return race.Task
function race.spawn(fn, ...) end

--- Waits for every task and returns each one's first result, in order. A task that raised
--- raises here.
---@param ... race.Task
---@return any ...
function race.join(...) end

--- Waits for the first of the tasks to finish: returns its position (1-based) and all its results.
---@param ... race.Task
---@return integer index, any ...
function race.select(...) end

--- A main shop's product (or one variation of it), as its event page shows it.
---@class race.Product
--- Reading a field not listed here raises at your line (a typo such as `l.prcie` is never quietly nil).
---@field id string            the item id
---@field variation string|nil the variation id, for a product with variations
---@field title string         the product's name, "Festival Shirt – XL" for a variation
---@field price number|nil
---@field price_text string
---@field state string         as pretix means it: "available"; "not_on_sale" (inputs disabled: the booking period is not running; or "not available yet/any more"); "sold_out"; "waiting_list" (sold out, pretix offers its waiting list); "reserved" (in someone's cart, may come back); "voucher_only"; "" when the page shows nothing known. Only "available" can be added
---@field available boolean    it can be added now
---@field max integer|nil      how many one order may hold, when it can be added
---@field field string         the input to send: item_<id> or variation_<id>_<var>
---@field action string        the add-to-cart form's action (absolute)
---@field fields table<string,string> the form's hidden fields (CSRF token, subevent)

race.shop = {}

---@class race.ShopPage: race.Response
---@field products race.Product[]
---@field recognised boolean  pretix's own page (its products, or its markup without any: a series' page, a shop hiding every product); false for a maintenance, error or challenge page in front of it, which says nothing about the products

--- pretix's redeem page for a voucher: `{event_url}redeem?voucher=CODE` (its products are read
--- and added like the event page's; the voucher goes with the form).
---@param event_url string
---@param code string
---@return string
function race.shop.voucher_url(event_url, code) end

--- pretix's error message on a page (its `.alert-danger`), e.g. why a voucher was refused; nil
--- when there is none.
---@param page race.Response
---@return string|nil
function race.shop.error_message(page) end

---@class race.Below
---@field id string          the path segment: a series date's id, or an organiser's event slug
---@field name string
---@field date string|nil    YYYY-MM-DD, where the page gives it

--- The links one path segment below a page, once each in page order: an event series' dates
--- (`…/festival/3/`) or an organiser's events (`…/demo/democon/`); pretix's own pages (cart,
--- checkout, redeem, …) are left out.
---@param page race.Response
---@return race.Below[]
function race.shop.links_below(page) end

--- The products on a main shop's event page, in page order. Read from the products' own
--- entries: the cart panel's forms are never taken for products.
---@param page race.Response  an answer with `body` and `url` (e.g. `session:get(event_url)`)
---@return race.Product[]
function race.shop.products(page) end

race.html = {}

---@class race.Element
---@field tag string
---@field text string         its text, whitespace folded
---@field html string         its outer HTML
---@field attrs table<string,string>  as written in the page (a link's `href` is not resolved: see :url)
---@field base string         the document's URL, what :url resolves against
local Element = {}

--- The attribute's value as written in the page, or nil.
---@param name string
---@return string|nil
function Element:attr(name) end

--- The attribute resolved against the document's `base_url`, as a browser follows a link
--- (`el:url("href")`, `el:url("action")`, `el:url("src")`); nil when the element has no such
--- attribute, or its value is no URL.
---@param name string
---@return string|nil
function Element:url(name) end

--- Elements inside this one matching `css`.
---@param css string
---@return race.Element[]
function Element:select(css) end

---@class race.Document
local Document = {}

--- Elements matching `css`, in document order. A bad selector raises.
---@param css string
---@return race.Element[]
function Document:select(css) end

--- The page's forms (see race.html.forms).
---@return race.Form[]
function Document:forms() end

---@class race.Form
---@field action string      absolute
---@field method string      "get" or "post"
---@field id string|nil
---@field fields table<string,string>  inputs with a name (checked boxes, selected options), text areas

--- Parses any page; `base_url` is what its relative links resolve against (`el:url("href")`):
--- an absolute URL such as the page's own (`page.url`; anything else raises). A page over the reading budget
--- (2 MB, elements nested 256 deep, 100 000 tags, 100 attributes on one element) is `nil, err`
--- with kind "too_large"; a page whose DOM would not fit under --memory-limit-mb beside what the
--- strategy holds (the DOM is counted at about 384 bytes a tag plus 4 a byte) is kind "memory".
---@param body string
---@param base_url string
---@return race.Document|nil, race.Error|nil
function race.html.parse(body, base_url) end

--- The forms of a page, in document order, with absolute actions and their fields. Refused as
--- `race.html.parse` refuses (`nil, err`, kinds "too_large" and "memory").
---@param body string
---@param base_url string
---@return race.Form[]|nil, race.Error|nil
function race.html.forms(body, base_url) end

race.json = {}

--- A Lua value as JSON text (a table with keys 1..n is an array). Functions raise.
---@param value any
---@return string
function race.json.encode(value) end

--- JSON text as a Lua value; text that is not JSON (or nested deeper than 128) is `nil, err`
--- (kind "json"); text whose decoded value (counted at 32 times the text) would not fit under
--- --memory-limit-mb beside what the strategy holds is kind "memory".
---@param text string
---@return any|nil, race.Error|nil
function race.json.decode(text) end

race.url = {}

--- `relative` resolved against `base`, as a browser resolves a link. Every URL the API takes is
--- absolute: a relative one (`session:get("secondhand/")`) raises; resolve it here or with
--- `el:url("href")`.
---@param base string
---@param relative string
---@return string
function race.url.join(base, relative) end

--- `url` with these query parameters set (others kept).
---@param url string
---@param params table<string,string|number|boolean>
---@return string
function race.url.query(url, params) end

--- A little state that survives a restart: one JSON file under --state-dir (default beside
--- --log-dir), rewritten atomically on every set, 0600.
race.store = {}

--- The value stored under `key`, or nil.
---@param key string
---@return any
function race.store.get(key) end

--- Stores `value` (anything JSON can hold; nil removes the key) and returns true. A write that
--- fails is `nil, err` (kind "store") and keeps nothing; a value JSON cannot hold (a function, a
--- table that holds itself) raises.
---@param key string
---@param value any
---@return true|nil, race.Error|nil
function race.store.set(key, value) end

race.log = {}

--- Log lines on stderr. With more than one argument, `fmt` is a string.format pattern.
---@param fmt any
function race.log.debug(fmt, ...) end
---@param fmt any
function race.log.info(fmt, ...) end
---@param fmt any
function race.log.warn(fmt, ...) end
---@param fmt any
function race.log.error(fmt, ...) end

race.time = {}

--- Waits `secs` seconds.
---@param secs number
function race.time.sleep(secs) end

--- Seconds since the run started (monotonic).
---@return number
function race.time.now() end

--- Seconds since the Unix epoch.
---@return number
function race.time.unix() end

--- The current UTC time, RFC 3339.
---@return string
function race.time.rfc3339() end

--- `secs` scaled by a random factor in [1 - frac, 1 + frac] (frac defaults to 0.2).
---@param secs number
---@param frac? number
---@return number
function race.time.jitter(secs, frac) end

race.market = {}

--- The marketplace URL with `item` and `sort` filters. `sort` is one of --sort's: "price_asc",
--- "price_desc", "newest" or "oldest" (anything else raises, with the list).
---@param market_url string
---@param filters? {item?: string, sort?: "price_asc"|"price_desc"|"newest"|"oldest"}
---@return string
function race.market.url(market_url, filters) end

--- Listings in any HTML body; `base_url` (absolute, e.g. `page.url`) resolves relative actions.
---@param body string
---@param base_url string
---@return race.Listing[]
function race.market.listings(body, base_url) end

--- Alerts deliver in the background (they never hold up the strategy); failures are logged.
race.alert = {}

--- Sends a documented event to every channel set up: the --webhook (payload: version = 1,
--- timestamp, event, target, then `fields`), a desktop notification for ticket_in_cart and
--- marketplace_available, and the --imessage (once per run) for ticket_in_cart. Raises for an
--- unknown event, and for a field named version, timestamp, event or target (those are ours).
---@param event "ticket_in_cart"|"tickets_available"|"marketplace_available"|"watcher_failing"
---@param fields? table
function race.alert.event(event, fields) end

--- POSTs `payload` as JSON, as it is (three tries on transient failures, each within the host's
--- budget). https only (http for loopback hosts), to a host the user named ("not_allowed"
--- otherwise), never to a watched shop's site ("refused"): any other URL answers `nil, err` at
--- once. In the background, unless
--- `opts.wait`: then it returns once delivered (true) or given up (`nil, err`).
---@param url string
---@param payload table
---@param opts? {wait?: boolean}
---@return true|nil, race.Error|nil
function race.alert.webhook(url, payload, opts) end

--- A desktop notification (freedesktop on Linux, Notification Center on macOS); skipped quietly
--- where there is no notification service. The text is shown, never interpreted.
---@param title string
---@param text string
---@return true
function race.alert.desktop(title, text) end

--- An iMessage through Messages.app (macOS). Recipient and text are passed as arguments, never
--- as script. Without osascript: `nil, err` at once.
---@param to string  phone number or e-mail
---@param text string
---@return true|nil, race.Error|nil
function race.alert.imessage(to, text) end

--- A built-in strategy as a module: `require("race.default")` (the marketplace) and
--- `require("race.shop_strategy")` (the main shop, without `discover`). Override a decision by
--- assigning a function of its shape; the strategy calls it through its guard (see the top of
--- this file). Every `choose` has one shape: the candidates, the page they came from, then this
--- target's options. A `choose(products, opts)` gets the page as `opts`: reading `opts.items`
--- off it raises, saying the options come third.
---@class race.Strategy
---@field choose fun(candidates: race.Listing[]|race.Product[], page: race.Page|race.ShopPage, opts: race.Options): race.Listing[]|race.Product[]  which to try, in order: the very listings (products) it was given; `opts` is this target's (`options_for(target)`, the table `wait` gets)
---@field wait fun(opts: race.Options): number  seconds before the next poll
---@field cart_fields fun(result: race.CartResult, handed: race.Handoff): table  what the ticket_in_cart event says
---@field on_cart fun(result: race.CartResult): boolean|nil  a ticket is in the cart: hand it over (false: keep watching)
---@field on_available fun(fresh: race.Listing[]|race.Product[], page: race.Page|nil)  a dry run's candidates, each announced once
---@field discover fun(opts: race.Options, was_inactive: boolean, session: race.Session): string|nil, string|nil, string|nil  the marketplace's URL, or nil, message, hint (race.default only)
---@field options_for fun(target: race.Target): race.Options  a target's options over the flags'
---@field targets {url: string, event: string, item: string|nil, weight: integer|nil}[]|nil  the events to watch when no --url/--event names them
---@field run fun(self: race.Strategy): boolean|nil, string|nil, string|nil  the whole run

--- Reports a bug in one of a strategy's decisions (it raised `problem`, returned the wrong thing,
--- or ran over its time budget) at the user's own file and line: a location in `problem` if it
--- names one, else the line of `fn`'s `return` when `race.decision_call` has just run it, else
--- where `fn` is defined. Logs it (a warning, once per task for the same report; the repeats are
--- counted in the run's summary) and returns, so the caller can use
--- its fallback for that moment (`instead` says which, e.g. "taking nothing from this page";
--- default: the built-in decision); with --strict it raises instead and the run stops there. The
--- built-in strategies guard every decision you override with it (`guard` in race.default).
---@param name string      the decision's name, e.g. "choose"
---@param fn function      the decision that failed
---@param problem string   the error message, or what it returned
---@param must_return string  what the decision must return, in words
---@param instead? string  what stands in for it this time
function race.decision_error(name, fn, problem, must_return, instead) end

--- Calls decision `fn(...)` as pcall does (`true, ...` or `false, message`), under the decision
--- time budget: a call that computes for more than 1 s (waiting on the API does not count) is
--- cut off at the line it was running ("choose took longer than 1 s (cut off at my.lua:12)"),
--- and no pcall inside it can keep it alive. The built-in strategies' guard calls every decision
--- you override through it.
---@param name string  the decision's name, e.g. "choose"
---@param fn function
---@return boolean ok, any ...
function race.decision_call(name, fn, ...) end

---@class race.Stats
---@field requests integer
---@field polls integer
---@field listings_seen integer
---@field cart_attempts integer
---@field carts_won integer
---@field races_lost integer
---@field elapsed number        seconds since the run started

--- The run's counters.
---@return race.Stats
function race.stats() end

return race
