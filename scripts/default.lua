--- The default strategy: what `pretix-race --url … --event …` does.
---
--- Find the marketplace through the event page's link, poll it every --interval (±20%), try the
--- listings in the marketplace's sort order the moment any appear, and hand the session over as
--- soon as one is in the cart. A lost race (sent back to the marketplace) moves on to the next
--- listing, then back to polling.
---
--- Every decision is a field of the table this file returns, so your strategy can reuse it and
--- change just one:
---
---     local strategy = require("race.default")
---     function strategy.choose(listings) -- only tickets under 150
---       local cheap = {}
---       for _, l in ipairs(listings) do
---         if l.price and l.price < 150 then cheap[#cheap + 1] = l end
---       end
---       return cheap
---     end
---     return strategy
---
--- A decision you override that raises, returns the wrong thing or computes for more than 1 s
--- does not lose the race: the error is reported at your file and line, and a safe fallback
--- stands in for that moment, never one that does what your rule forbade: a failed `choose`
--- takes nothing from that page; `wait`, `cart_fields`, `on_available` and `discover` use the
--- built-in; an `on_cart` that returns the wrong thing is taken as done, one that raises is
--- followed by the built-in (see `contracts` below). `--strict` stops
--- instead. A function named a typo away from a decision (`chose`) is an error before the first
--- request.
---
--- Written only against the public API (scripts/types/race.lua): nothing here is privileged.

local race = require("race")

local M = {}

--- Whether a ticket passes --max-price and --match (any one, ignoring case). A price the page
--- does not show never passes a --max-price.
---@param title string
---@param price number|nil
---@param opts? race.Options
---@return boolean
function M.wanted(title, price, opts)
  opts = opts or race.options
  if opts.max_price and not (price and price <= opts.max_price) then
    return false
  end
  local matches = opts.matches or {}
  if #matches == 0 then
    return true
  end
  local lower = (title or ""):lower()
  for _, m in ipairs(matches) do
    if lower:find(m:lower(), 1, true) then
      return true
    end
  end
  return false
end

--- Which listings to try, in order (the page's sort order, within --max-price and --match).
--- Every strategy's `choose` has this shape: the candidates, the page they came from (the whole
--- poll result), then this target's options (what `M.options_for(target)` gives; the table
--- `wait(opts)` gets).
---@param listings race.Listing[]
---@param page race.Page
---@param opts race.Options
---@return race.Listing[]
function M.choose(listings, page, opts)
  local out = {}
  for _, l in ipairs(listings) do
    if M.wanted(l.title, l.price, opts) then
      out[#out + 1] = l
    end
  end
  return out
end

--- Seconds to wait before the next poll (the core never lets a remote host be polled faster than
--- every 2 s, whatever this returns).
---@param opts race.Options
---@return number
function M.wait(opts)
  return race.time.jitter(opts.interval)
end

--- What the `ticket_in_cart` event says (the core adds version, timestamp, event and target).
---@param result race.CartResult
---@param handed race.Handoff
function M.cart_fields(result, handed)
  local simple = {}
  for i, c in ipairs(handed.cookies) do
    simple[i] = { name = c.name, value = c.value, domain = c.domain, path = c.path }
  end
  -- A marketplace listing, or a shop's product (with how many).
  local what = result.listing or result.product or {}
  return {
    ticket = what.title,
    price = what.price_text,
    count = result.product and result.count or nil,
    checkout_url = result.checkout_url,
    expires = result.expires,
    cookies = simple,
    cookie_script = handed.console_script,
    event_url = result.checkout_url:match("^(.-)checkout/"),
  }
end

--- A ticket is in the cart: hand it over, then alert every channel set up (webhook, desktop,
--- iMessage). Return false to keep watching.
---@param result race.CartResult
---@return boolean|nil
local in_cart = {}

--- --want N: counts this cart's tickets; true while fewer than N are in it (keep watching; the
--- core hands the cart over whatever ends the run).
---@param result race.CartResult
---@return boolean
function M.more_wanted(result)
  local want = race.options.want or 1
  local n = (in_cart[result.checkout_url] or 0) + (result.count or 1)
  in_cart[result.checkout_url] = n
  if n < want then
    -- Say how long the first is held: the rest must come before it expires.
    local held = result.expires and result.expires:match("(%d%d:%d%d)")
    race.log.info("%d of %d tickets in the cart%s; watching on", n, want,
      held and (", reserved until " .. held) or "")
    return true
  end
  return false
end

function M.on_cart(result)
  if M.more_wanted(result) then
    return false
  end
  local handed = result.session:handoff(result.checkout_url, { expires = result.expires })
  race.alert.event("ticket_in_cart", M.decide("cart_fields", result, handed))
  return true
end

--- Dry run: listings seen for the first time (nothing is ever POSTed to the marketplace).
---@param fresh race.Listing[]
---@param page race.Page
function M.on_available(fresh, page)
  local list = {}
  for i, l in ipairs(fresh) do
    race.log.info("dry run: would try %s (%s), %s", l.title, l.price_text, l.action)
    list[i] = { id = l.id, title = l.title, price = l.price_text, url = l.action }
  end
  race.alert.event("tickets_available", { listings = list })
end

--- Finds the marketplace by following the event page's link. Without the link: fails with a hint,
--- or with --poll-inactive-marketplace re-checks every N s (±20%) until it appears. An answer that
--- says nothing (a busy or unreadable page) is asked again; only a readable event page without the
--- link, or a missing event, ends the search.
---@param opts race.Options  the run's options, with this event's url, event, event_url and item
---@param was_inactive? boolean the marketplace was open before and went away
---@param session? Session  the session watching this event (default: race.session)
---@return string|nil url, string|nil message, string|nil hint
function M.discover(opts, was_inactive, session)
  session = session or race.session
  local network_failures, waited = 0, was_inactive or false
  while true do
    local url, err = session:discover(opts.event_url)
    if url then
      if waited then
        race.log.info("the marketplace is open: %s", url)
        race.alert.event("marketplace_available")
      end
      return url
    end
    local retry = false
    if err.kind == "tls" then
      return nil, err.message,
        "the site's certificate is not trusted; for a private CA give it with --ca-cert FILE (or SSL_CERT_FILE)"
    elseif err.kind == "network" and err.dns and network_failures == 0 and not was_inactive then
      -- The very first request: a name that does not resolve is a typo more often than an outage.
      local from = opts.named_at and ("the strategy's targets (" .. opts.named_at .. ")") or "--url"
      return nil, err.message,
        ("the host in %s does not resolve: check it for a typo (and that this machine is online)"):format(from)
    elseif err.kind == "network" then
      network_failures = network_failures + 1
      if network_failures >= 3 and not opts.poll_inactive then
        local which = opts.named_at and ("the url of the strategy's target at " .. opts.named_at) or "the --url"
        return nil, err.message, ("check %s and your connection"):format(which)
      end
    elseif err.kind == "no_link" and (err.status == 404 or err.status == 410) then
      return nil, err.message,
        "check --url and --event: --url must include the organiser's path where the shop has one (e.g. https://pretix.eu/demo), and the event slug is the next path segment"
    elseif err.kind == "no_link" and not err.readable then
      -- Busy, rate limited or unreadable: not an answer about the marketplace. Ask again.
      retry = true
    elseif not opts.poll_inactive then
      -- A shop that lists products but links no marketplace: say how to watch the products.
      local products = err.response and race.shop.products(err.response) or {}
      if #products > 0 and race.options.strategy == "shop" then
        return nil, "this script is a marketplace strategy (built on race.default), but --strategy shop was given, and the event page lists products, no marketplace",
          "drop --strategy shop to watch a marketplace, or build the script on race.shop_strategy to add the shop's products"
      end
      if #products > 0 then
        local ids, seen = {}, {}
        for _, p in ipairs(products) do
          if not seen[p.id] then
            seen[p.id] = true
            ids[#ids + 1] = p.id .. " " .. p.title:gsub(" – .*", "")
          end
        end
        return nil, "this shop has no open marketplace (its event page lists products, but no marketplace)",
          ("to watch the shop's own products, run with --strategy shop --item %s (ids on the page: %s); to wait for a marketplace, add --poll-inactive-marketplace 60")
            :format(products[1].id, table.concat(ids, ", "))
      end
      return nil, err.message,
        "the organiser may have switched the marketplace off; to wait for it, add --poll-inactive-marketplace 60"
    end
    if retry then
      race.log.warn("the event page gave no answer we can use (%s); asking again", err.message)
      race.time.sleep(M.decide("wait", opts))
    elseif opts.poll_inactive then
      waited = true
      race.log.info("no marketplace yet (%s); checking the event page again in about %g s", err.kind, opts.poll_inactive)
      race.time.sleep(race.time.jitter(opts.poll_inactive))
    end
  end
end

--- What each decision must return, and what stands in when an override fails (raises, returns
--- the wrong thing, or computes for more than 1 s): the rule is that a fallback never does what
--- the user's own rule forbade.
---
---   choose        filters: a failure takes NOTHING from that page (the built-in could pick what
---                 your rule excludes), said loudly, and the watch goes on to the next poll;
---   wait          timing: the built-in `wait` (--interval ±20%);
---   cart_fields   the built-in fields; on_available: the built-in announcement;
---   on_cart       returned the wrong thing: it ran (and may have handed over), taken as "done",
---                 the core hands the cart over at exit whatever happened; raised: the built-in
---                 `on_cart` (hands the cart over);
---   discover      the built-in `discover`.
---
--- `--strict` stops the run at the first failure instead.
local function single(v)
  -- One listing (or product) where a list was due: it has the fields, not the entries.
  return type(v) == "table" and v[1] == nil and (v.action ~= nil or v.id ~= nil or v.title ~= nil)
end

--- `given`: the entries choose was handed; only those very tables are taken back (a copy has
--- the fields but not the type, and would fail inside add_to_cart, at the built-in's line).
local function list_of(v, field, what, given)
  if type(v) ~= "table" then return false end
  if single(v) then
    return false, ("choose returned a single %s: wrap it in { } (return { %s })"):format(what, what)
  end
  local known = {}
  for _, g in ipairs(type(given) == "table" and given or {}) do known[g] = true end
  for _, l in ipairs(v) do
    if type(l) ~= "table" then return false end
    if given ~= nil and not known[l] then
      return false, ("choose returned a table that is not one of the %ss it was given (a copy?): return the %ss themselves"):format(what, what)
    end
    if rawget(l, field) == nil then return false end
  end
  return true
end

M.list_of = list_of

local contracts = {
  choose = {
    must = "a list (table) of listings to try, in order",
    ok = function(v, _, listings) return list_of(v, "action", "listing", listings) end,
    nothing = function() return {} end,
  },
  wait = {
    must = "a number of seconds, 0 or more",
    ok = function(v) return type(v) == "number" and v >= 0 and v < math.huge end,
  },
  cart_fields = { must = "a table of event fields", ok = function(v) return type(v) == "table" end },
  on_available = { must = "nothing", ok = function() return true end },
  on_cart = {
    must = "true or nothing (done), or false (keep watching)",
    ok = function(v) return v == nil or type(v) == "boolean" end,
    -- It ran (and may have handed over): take "done", the core hands over what is left at exit.
    returned = function() return true end,
  },
  discover = {
    must = "the marketplace URL, or nil, a message and a hint",
    ok = function(v, msg) return type(v) == "string" or (v == nil and type(msg) == "string") end,
  },
}
M.contracts = contracts

local function describe(v)
  if type(v) == "table" then return "a table of another shape" end
  if v == nil then return "nil" end
  return type(v) == "string" and ("the string %q"):format(v) or ("%s (a %s)"):format(tostring(v), type(v))
end

--- A guard for the decisions of `mod` (a strategy module: this one, or the shop's): returns
--- `decide(name, ...)`, which calls `mod[name]` under the decision time budget; an override that
--- raises, returns the wrong thing or runs over the budget is reported (at its own file and line)
--- and its contract's fallback stands in (see `contracts`). The built-ins are taken as they are
--- now: call this after the module's decisions are defined.
---@param mod table
---@param rules table<string, table>
function M.guard(mod, rules)
  local own = {}
  for name in pairs(rules) do own[name] = mod[name] end
  return function(name, ...)
    local fn, builtin, c = mod[name], own[name], rules[name]
    if fn == builtin then
      return fn(...)
    end
    local r = table.pack(race.decision_call(name, fn, ...))
    local fine, why = false, nil
    -- The contract sees what came back and what the decision was given.
    if r[1] then fine, why = c.ok(r[2], r[3], ...) end
    if fine then
      return table.unpack(r, 2, r.n)
    end
    local problem = r[1] and (why or ("it returned " .. describe(r[2]))) or r[2]
    local instead = c.nothing and "taking nothing from this page (your rule decides what is taken)"
      or (r[1] and c.returned) and "taken as done"
      or ("using the built-in `" .. name .. "` this time")
    race.decision_error(name, fn, problem, c.must, instead)
    if c.nothing then
      return c.nothing(...)
    end
    if r[1] and c.returned then
      return c.returned(...)
    end
    return builtin(...)
  end
end

--- Tries listings in order until one is in the cart. Returns true when the strategy is done.
---@param page race.Page
---@param session? Session  the session that polled the page (default: race.session)
---@param opts? race.Options  this target's options, for `choose` (default: race.options)
function M.attempt(page, session, opts)
  session = session or race.session
  for _, listing in ipairs(M.decide("choose", page.listings, page, opts or race.options)) do
    local result, err = session:add_to_cart(listing)
    if result and result.status == "in_cart" then
      if M.decide("on_cart", result) ~= false then
        return true
      end
    elseif result and result.status == "lost" then
      race.log.info("lost %s to someone faster; next listing", listing.title)
    else
      race.log.warn("could not add %s: %s", listing.title, tostring(err or result.reason))
    end
  end
  return false
end

--- The run's options for one target: its url, event, event_url, item and weight over the flags.
---@param target {url: string, event: string, event_url: string, item?: string, weight?: integer}
---@return race.Options
function M.options_for(target)
  local own = {
    url = target.url, event = target.event, event_url = target.event_url, item = target.item,
    weight = target.weight, named_at = target.named_at,
  }
  return setmetatable(own, { __index = race.options })
end

--- Watches one event's marketplace until a ticket is in the cart (true), or it is closed for good
--- (nil, message, hint).
---@param opts race.Options  from M.options_for
---@param session Session
function M.watch(opts, session)
  local tag = #(race.options.targets or {}) > 1 and ("[" .. opts.event .. "] ") or ""
  local market, message, hint = M.decide("discover", opts, false, session)
  if not market then
    return nil, tag .. tostring(message), hint
  end
  local url = race.market.url(market, { item = opts.item, sort = opts.sort })
  race.log.info("%swatching %s every ~%g s%s", tag, url, opts.interval, opts.dry_run and " (dry run)" or "")
  -- Keyed by the marketplace (its port left out: the same shop after a restart).
  local memo = "announced:" .. market:gsub("^(https?://[^/:]+):%d+", "%1")
  local announced = race.store.get(memo) or {}
  while true do
    local page = session:poll(url)
    if page and page.state == "inactive" then
      if not opts.poll_inactive then
        return nil, tag .. "the marketplace is not active any more",
          "to keep waiting for it to come back, add --poll-inactive-marketplace 60"
      end
      race.log.warn("%sthe marketplace is not active; waiting for the event page to link it again", tag)
      race.time.sleep(race.time.jitter(opts.poll_inactive))
      market, message, hint = M.decide("discover", opts, true, session)
      if not market then
        return nil, tag .. tostring(message), hint
      end
      url = race.market.url(market, { item = opts.item, sort = opts.sort })
    elseif page and #page.listings > 0 then
      if opts.dry_run then
        local fresh = {}
        for _, l in ipairs(page.listings) do
          if not announced[l.id] then
            announced[l.id] = true
            fresh[#fresh + 1] = l
          end
        end
        if #fresh > 0 then
          -- Remembered across restarts, so a restarted dry run does not announce them again.
          local saved, serr = race.store.set(memo, announced)
          if not saved then race.log.warn("%s%s (a restart may announce these again)", tag, tostring(serr)) end
          M.decide("on_available", fresh, page)
        end
      elseif M.attempt(page, session, opts) then
        race.log.info("%sdone", tag)
        return true
      end
    end
    race.time.sleep(M.decide("wait", opts))
  end
end

--- Runs `watch(opts, session)` for every target (repeated --event, or the strategy's
--- `targets`), each with its own session, interval and jitter, side by side; the first that
--- returns true ends the run. Shared by the built-in strategies. (--until needs nothing here:
--- the core ends the run at the deadline, whatever the strategy.)
---@param watch fun(opts: race.Options, session: Session): boolean|nil, string?, string?
function M.run_all(watch)
  local targets = race.options.targets or {}
  if #targets == 0 then
    return nil, "nothing to watch",
      "give --url and --event, or return a strategy table with targets = { { url = …, event = … } }"
  end
  return M.run_targets(watch, targets)
end

--- The watches of run_all, side by side.
function M.run_targets(watch, targets)
  if #targets == 1 then
    return watch(M.options_for(targets[1]), race.session)
  end
  local pending = {}
  for i, t in ipairs(targets) do
    local session = i == 1 and race.session or race.new_session()
    -- Its share of a busy shop's polls against the other events' (--event day2:3).
    session:set_weight(t.weight or 1)
    pending[i] = race.spawn(watch, M.options_for(t), session)
  end
  local message, hint
  while #pending > 0 do
    local i, done, why, how = race.select(table.unpack(pending))
    if done then
      return true
    end
    race.log.warn("%s", tostring(why))
    message, hint = why, how
    table.remove(pending, i)
  end
  return nil, message, hint
end

--- Said once at start: a `choose` of the user's own decides alone, so the flags the built-in
--- one applies (`flags`: race.options keys) apply only if it calls the built-in. Nothing is
--- said when none of them was given.
---@param own boolean  the strategy's `choose` is not the built-in one
---@param flags string[]
function M.say_own_choose(own, flags)
  if not own then return end
  local names = { max_price = "--max-price", matches = "--match", items = "--item", variation = "--variation" }
  local given = {}
  for _, key in ipairs(flags) do
    local v = race.options[key]
    if v ~= nil and not (type(v) == "table" and #v == 0) then
      given[#given + 1] = names[key] or key
    end
  end
  if #given > 0 then
    race.log.warn("your `choose` replaces the built-in one: %s %s applied only if it calls the built-in"
      .. " (keep it: local built_in = strategy.choose, then return built_in(candidates, page, opts) or filter its result)",
      table.concat(given, ", "), #given == 1 and "is" or "are")
  end
end

local builtin_choose = M.choose

--- The loop: every target's marketplace watched side by side; the first ticket in a cart ends
--- the run.
function M.run()
  M.say_own_choose(M.choose ~= builtin_choose, { "max_price", "matches" })
  return M.run_all(M.watch)
end

M.decide = M.guard(M, contracts)

--- The decisions a strategy overrides (a field named close to one is a misspelling).
M.decisions = { "choose", "wait", "cart_fields", "on_cart", "on_available", "discover" }

return M
