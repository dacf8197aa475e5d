--- The main-shop strategy: what `pretix-race --strategy shop --item ID` does.
---
--- Many events never open a secondhand marketplace, and tickets also come back in the main shop:
--- a reservation expires, an order is cancelled, the organiser raises a quota. This watches the
--- event page every --interval (±20%) and, the moment a product named by --item (first available
--- wins; --variation for one variation) can be added, puts --count of it in the cart and hands
--- the session over. A refused add (someone was faster) goes back to watching.
---
--- Every decision is a field of the table this file returns (`require("race.shop_strategy")`),
--- as with the marketplace's default, and one you override is guarded as there: a failure
--- (raises, returns the wrong thing, computes for more than 1 s) is reported at your line and
--- the watch goes on. A failed `choose` takes nothing from that look at the page (the built-in
--- could add what your rule excludes); `wait`, `cart_fields` and `on_available` fall back to the
--- built-in; an `on_cart` that returns the wrong thing is taken as done, one that raises is
--- followed by the built-in. `--strict` stops instead. Written only against
--- the public API.

local race = require("race")

local M = {}

--- Seconds to wait before the next look (the core never lets a remote host be polled faster
--- than every 2 s, whatever this returns).
---@param opts race.Options
---@return number
function M.wait(opts)
  return race.time.jitter(opts.interval)
end

--- Which products to try, in order: the available ones named by --item, in the order given.
--- The marketplace's shape: the candidates, the page they came from, then this target's options.
---@param products race.Product[]
---@param page race.ShopPage
---@param opts race.Options
---@return race.Product[]
function M.choose(products, page, opts)
  local out = {}
  for _, want in ipairs(opts.items or {}) do
    for _, p in ipairs(products) do
      if p.id == want and p.available and (not opts.variation or p.variation == opts.variation)
        and require("race.default").wanted(p.title, p.price, opts) then
        out[#out + 1] = p
      end
    end
  end
  return out
end

--- What the `ticket_in_cart` event says (the marketplace's fields; `ticket` is the product).
---@param result race.CartResult
---@param handed race.Handoff
function M.cart_fields(result, handed)
  return require("race.default").cart_fields(result, handed)
end

--- A product is in the cart: hand it over, then alert. Return false to keep watching.
---@param result race.CartResult
function M.on_cart(result)
  if require("race.default").more_wanted(result) then
    return false
  end
  local note
  if result.requested and result.count and result.count < result.requested then
    note = ("Reserved: %d of %d (the shop offered no more)"):format(result.count, result.requested)
    race.log.warn("%s: %d of %d reserved (the shop offered no more)", result.product and result.product.title or "the product",
      result.count, result.requested)
  end
  local handed = result.session:handoff(result.checkout_url, { expires = result.expires, note = note })
  race.alert.event("ticket_in_cart", M.decide("cart_fields", result, handed))
  return true
end

--- Dry run: products that can be added, announced once each (nothing is ever added).
---@param fresh race.Product[]
function M.on_available(fresh)
  local list = {}
  for i, p in ipairs(fresh) do
    race.log.info("dry run: would add %s (%s)", p.title, p.price_text)
    list[i] = { id = p.id, variation = p.variation, title = p.title, price = p.price_text }
  end
  race.alert.event("tickets_available", { listings = list })
end

--- The ids on the page, for a message that helps pick --item.
local function ids(products)
  local seen, out = {}, {}
  for _, p in ipairs(products) do
    local key = p.variation and (p.id .. " (variation " .. p.variation .. ")") or p.id
    if not seen[key] then
      seen[key] = true
      out[#out + 1] = key .. " " .. p.title
    end
  end
  return table.concat(out, ", ")
end

--- How the log says a product's state (race.Product.state).
M.state_words = {
  available = "available",
  not_on_sale = "not on sale (the booking period or the product's sale has not started, or has ended)",
  sold_out = "sold out",
  waiting_list = "sold out, with a waiting list (pretix offers freed tickets to the list first)",
  reserved = "reserved in someone's cart (it comes back if that cart expires)",
  voucher_only = "only with a voucher (--voucher)",
}

--- Before the first look: ids that can't be pretix's (pretix's ids are numbers). Returns an
--- error and a hint, or nil.
function M.check_options(opts)
  for _, want in ipairs(opts.items or {}) do
    if not tostring(want):match("^%d+$") then
      return ("--item %s is not a product id"):format(want),
        "pretix's product ids are numbers: the item_<id> inputs of the event page (its products are listed when the watch starts)"
    end
  end
  if opts.variation and not tostring(opts.variation):match("^%d+$") then
    return ("--variation %s is not a variation id"):format(opts.variation),
      "pretix's variation ids are numbers: the variation_<item>_<id> inputs of the event page"
  end
end

--- The first look at a page: what of --item (and --variation) it shows. A named product the page
--- doesn't show is watched for (pretix hides sold-out, not-yet-available and voucher-only
--- products); only what the page proves wrong ends the watch: --variation for a product the page
--- shows without variations. Returns nil, message, hint to stop; true to watch on.
---
--- pretix's public product list (`<event>/widget/product_list`, for its widget) is no better
--- proof: it is built by the same function as the page (`prepare_item_list_for_shop`) and leaves
--- out the same products (seen on pretix 2026.8: a product hidden until its sale, a sold-out one
--- under "hide sold-out products" and a voucher-only one are all missing), with nothing in it
--- that says a product was left out. So no public page can tell a hidden product from a wrong
--- id, and it is not read; the warning says where the id can be checked.
function M.first_look(products, opts, url)
  local on_page, with_vars = {}, {}
  for _, p in ipairs(products) do
    on_page[p.id] = true
    if p.variation then with_vars[p.id] = true end
  end
  local absent, plain = {}, {}
  for _, want in ipairs(opts.items or {}) do
    if not on_page[want] then
      absent[#absent + 1] = want
    elseif not with_vars[want] then
      plain[#plain + 1] = want
    end
  end
  if opts.variation and #plain == #(opts.items or {}) then
    return nil, ("product %s has no variations: --variation %s can't be one of its"):format(
      table.concat(plain, ", "), opts.variation), "the products on the page: " .. ids(products)
  end
  if opts.variation then
    local seen = false
    for _, p in ipairs(products) do
      if p.variation == opts.variation then seen = true end
    end
    if not seen then
      race.log.warn("variation %s is not on %s (products on it: %s); pretix hides sold-out and not-yet-available variations: watching for it"
        .. " (no public page of pretix's tells a hidden variation from a wrong id: if in doubt, check the id where you found it)",
        opts.variation, url, ids(products))
    end
  end
  if #absent > 0 then
    race.log.warn("product %s is not on %s (products on it: %s); pretix hides sold-out, not-yet-available and voucher-only products: watching for it"
      .. " (no public page of pretix's tells a hidden product from a wrong id: if in doubt, check the id where you found it)",
      table.concat(absent, ", "), url, #products > 0 and ids(products) or "none")
  end
  return true
end

--- Logs a wanted product's state when it changes (`states` remembers the last one per product).
local function say_states(products, opts, states, url)
  local wanted = {}
  for _, want in ipairs(opts.items or {}) do wanted[want] = true end
  for _, p in ipairs(products) do
    if wanted[p.id] and (not opts.variation or p.variation == opts.variation) then
      local key = p.id .. "/" .. tostring(p.variation)
      if states[key] ~= p.state then
        states[key] = p.state
        race.log.info("%s (%s) on %s: %s", p.title, p.id, url, M.state_words[p.state] or ("state " .. p.state))
      end
    end
  end
end

--- "3 Saturday (2027-07-10), 4 Sunday (2027-07-11)": a series' dates or an organiser's events.
local function listed(links)
  local out = {}
  for _, b in ipairs(links) do
    out[#out + 1] = b.id .. " " .. b.name .. (b.date and (" (" .. b.date .. ")") or "")
  end
  return table.concat(out, ", ")
end

--- The dates of a series named by --date (id, YYYY-MM-DD or name), in the order given.
function M.pick_dates(dates, wanted)
  local out, seen = {}, {}
  for _, w in ipairs(wanted) do
    for _, d in ipairs(dates) do
      if not seen[d.id] and (d.id == w or d.date == w or d.name:lower() == w:lower()) then
        seen[d.id] = true
        out[#out + 1] = d
      end
    end
  end
  return out
end

--- A page without products: an event series' own page (links to its dates, `…/series/<id>/`) or
--- an organiser's page (links to its events). Returns what to watch ({url, label}...), or nil,
--- message, hint; or false when the page is neither.
function M.understand(page, opts, url)
  local links = race.shop.links_below(page)
  local dates, events = {}, {}
  for _, b in ipairs(links) do
    if b.id:match("^%d+$") then dates[#dates + 1] = b else events[#events + 1] = b end
  end
  if #dates > 0 then
    if #(opts.dates or {}) == 0 then
      return nil, ("%s is an event series: which date?"):format(url),
        ("name one or more with --date ID|YYYY-MM-DD|name (or give the date's own page, e.g. %s%s/); its dates: %s"):format(
          url, dates[1].id, listed(dates))
    end
    local chosen = M.pick_dates(dates, opts.dates)
    if #chosen == 0 then
      return nil, ("no date %s in the series %s"):format(table.concat(opts.dates, ", "), url),
        "its dates: " .. listed(dates)
    end
    local out = {}
    for i, d in ipairs(chosen) do
      -- With a voucher, the series' redeem page for that date (pretix's own date links there).
      local page_url = opts.voucher and (race.shop.voucher_url(url, opts.voucher) .. "&subevent=" .. d.id)
        or (url .. d.id .. "/")
      out[i] = { url = page_url, label = d.name .. (d.date and (" " .. d.date) or "") }
    end
    return out
  end
  if #events > 0 then
    return nil, ("%s is an organiser's page, not an event"):format(url),
      ("give one of its events, e.g. pretix-race %s%s/ ; its events: %s"):format(url, events[1].id, listed(events))
  end
  return false
end

--- Watches one event's shop until a product is in the cart (true), or there is nothing to watch
--- (nil, message, hint). An event series' page is understood: its dates are listed, or the ones
--- named by --date watched side by side.
---@param opts race.Options
---@param session Session
function M.watch(opts, session)
  local err, hint = M.check_options(opts)
  if err then return nil, err, hint end
  local url, first = opts.event_url, nil
  do
    -- One look first: a series' or an organiser's page has no products, and links below it.
    local page = session:poll_shop(url)
    first = page
    if page and page.ok and page.recognised and #page.products == 0 then
      first = nil
      local what, msg, why = M.understand(page, opts, url)
      if what == nil then return nil, msg, why end
      if what then
        if #what == 1 then
          return M.watch_page(opts, session, what[1].url, what[1].label)
        end
        local pending = {}
        for i, w in ipairs(what) do
          pending[i] = race.spawn(M.watch_page, opts, i == 1 and session or race.new_session(), w.url, w.label)
        end
        local message
        while #pending > 0 do
          local i, done, m, h = race.select(table.unpack(pending))
          if done then return true end
          race.log.warn("%s", tostring(m))
          message, hint = m, h
          table.remove(pending, i)
        end
        return nil, message, hint
      end
    end
    if page and page.ok and page.recognised and #(opts.dates or {}) > 0 then
      -- Here the page is no series (a series' page was understood above): --date has nothing to pick.
      race.log.warn("--date %s is not used: %s is not an event series' page (it lists no dates); watching it as it is",
        table.concat(opts.dates, ", "), url)
    end
    if opts.voucher then
      -- The products the voucher unlocks are on pretix's redeem page.
      return M.watch_page(opts, session, race.shop.voucher_url(url, opts.voucher), nil)
    end
  end
  return M.watch_page(opts, session, url, nil, first)
end

--- Watches one page (an event's, a date's, or a voucher's redeem page) until a product is in
--- the cart (true), or there is nothing to watch (nil, message, hint). `label` names the date;
--- `first` is a look already taken at the page (used instead of a new one).
function M.watch_page(opts, session, url, label, first)
  local checked, announced, quiet, states = false, {}, 0, {}
  local tag = label and ("[" .. label .. "] ") or ""
  race.log.info("%swatching %s for product %s%s every ~%g s%s", tag, url, table.concat(opts.items or {}, ", "),
    opts.variation and (" variation " .. opts.variation) or "",
    opts.interval, opts.dry_run and " (dry run)" or "")
  while true do
    local page = first or session:poll_shop(url)
    first = nil
    if page and (page.status == 404 or page.status == 410) then
      return nil, ("%sthe event page %s answered %d"):format(tag, url, page.status),
        "check --url and --event: --url must include the organiser's path where the shop has one (e.g. https://pretix.eu/demo)"
    elseif page and page.ok and not page.recognised then
      -- Not pretix's page (a maintenance, error or challenge page in front of the shop): it
      -- says nothing about the products; its log line said so. The next look decides.
    elseif page and page.ok and opts.voucher and not page.url:find("/redeem", 1, true) then
      -- pretix sends a voucher it won't take back to the event page, with its reason.
      return nil, ("pretix refused the voucher %s: %s"):format(opts.voucher,
          race.shop.error_message(page) or "it sent us back to the event page"),
        "check the code (vouchers are case-sensitive) and that it belongs to this event"
    elseif page and page.ok then
      local products = page.products
      if not checked then
        checked = true
        local go, msg, why = M.first_look(products, opts, url)
        if not go then return nil, tag .. msg, why end
      end
      if #products == 0 then
        quiet = quiet + 1
        if quiet == 1 then
          race.log.warn("%sno products on %s (a page we can't read, or a shop hiding every product for now); watching on", tag, url)
        end
      else
        quiet = 0
        say_states(products, opts, states, tag .. url)
        local chosen = M.decide("choose", products, page, opts)
        if opts.dry_run then
          local fresh = {}
          for _, p in ipairs(chosen) do
            local key = p.id .. "/" .. tostring(p.variation)
            if not announced[key] then
              announced[key] = true
              fresh[#fresh + 1] = p
            end
          end
          if #fresh > 0 then M.decide("on_available", fresh) end
        else
          for _, p in ipairs(chosen) do
            local result, err = session:add_to_cart(p, { count = opts.count })
            if result and result.status == "in_cart" then
              if M.decide("on_cart", result) ~= false then
                return true
              end
            elseif result and result.status == "lost" then
              race.log.info("%s%s went to someone faster; watching on", tag, p.title)
            else
              race.log.warn("%scould not add %s: %s", tag, p.title, tostring(err or result.reason))
            end
          end
        end
      end
    end
    race.time.sleep(M.decide("wait", opts))
  end
end

local builtin_choose = M.choose

--- The loop: one watch per event (repeated --event), side by side; the first cart ends the run.
function M.run()
  local default = require("race.default")
  default.say_own_choose(M.choose ~= builtin_choose, { "items", "variation", "max_price", "matches" })
  return default.run_all(M.watch)
end

local default = require("race.default")
local rules = default.contracts
M.decide = default.guard(M, {
  choose = {
    must = "a list (table) of products to try, in order",
    ok = function(v, _, products) return default.list_of(v, "id", "product", products) end,
    nothing = rules.choose.nothing,
  },
  wait = rules.wait,
  cart_fields = rules.cart_fields,
  on_cart = rules.on_cart,
  on_available = rules.on_available,
})

--- The decisions a strategy overrides (a field named close to one is a misspelling).
M.decisions = { "choose", "wait", "cart_fields", "on_cart", "on_available" }

return M
