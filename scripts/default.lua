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
--- Written only against the public API (scripts/types/race.lua): nothing here is privileged.

local race = require("race")

local M = {}

--- Which listings to try, in order. `page` is the whole poll result.
---@param listings race.Listing[]
---@param page race.Page
---@return race.Listing[]
function M.choose(listings, page)
  return listings
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
  return {
    ticket = result.listing.title,
    price = result.listing.price_text,
    checkout_url = result.checkout_url,
    expires = result.expires,
    cookies = simple,
    cookie_script = handed.console_script,
  }
end

--- A ticket is in the cart: hand it over, then alert every channel set up (webhook, desktop,
--- iMessage). Return false to keep watching.
---@param result race.CartResult
---@return boolean|nil
function M.on_cart(result)
  local handed = race.handoff(race.session, result.checkout_url, { expires = result.expires })
  race.alert.event("ticket_in_cart", M.cart_fields(result, handed))
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
--- or with --poll-inactive-marketplace re-checks every N s (±20%) until it appears.
---@param opts race.Options
---@param was_inactive? boolean the marketplace was open before and went away
---@return string|nil url, string|nil message, string|nil hint
function M.discover(opts, was_inactive)
  local network_failures, waited = 0, was_inactive or false
  while true do
    local url, err = race.market.discover(race.session, opts.event_url)
    if url then
      if waited then
        race.log.info("the marketplace is open: %s", url)
        race.alert.event("marketplace_available")
      end
      return url
    end
    if err.kind == "tls" then
      return nil, err.message,
        "the site's certificate is not trusted; for a private CA give it with --ca-cert FILE (or SSL_CERT_FILE)"
    elseif err.kind == "network" then
      network_failures = network_failures + 1
      if network_failures >= 3 and not opts.poll_inactive then
        return nil, err.message, "check the --url and your connection"
      end
    elseif not opts.poll_inactive then
      return nil, err.message,
        "the organiser may have switched the marketplace off; to wait for it, add --poll-inactive-marketplace 60"
    end
    if opts.poll_inactive then
      waited = true
      race.log.info("no marketplace yet (%s); checking the event page again in about %g s", err.kind, opts.poll_inactive)
      race.time.sleep(race.time.jitter(opts.poll_inactive))
    end
  end
end

--- Tries listings in order until one is in the cart. Returns true when the strategy is done.
---@param page race.Page
function M.attempt(page)
  for _, listing in ipairs(M.choose(page.listings, page) or {}) do
    local result, err = race.market.add_to_cart(race.session, listing)
    if result and result.status == "in_cart" then
      if M.on_cart(result) ~= false then
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

local function inactive(page)
  return not page.active and (page.status == 200 or page.status == 404 or page.status == 410)
end

--- The loop.
function M.run()
  local opts = race.options
  local market, message, hint = M.discover(opts)
  if not market then
    return nil, message, hint
  end
  M.market_url = market
  local url = race.market.url(market, { item = opts.item, sort = opts.sort })
  race.log.info("watching %s every ~%g s%s", url, opts.interval, opts.dry_run and " (dry run)" or "")
  local announced = {}
  while true do
    local page = race.market.poll(race.session, url)
    if page and inactive(page) then
      if not opts.poll_inactive then
        return nil, "the marketplace is not active any more",
          "to keep waiting for it to come back, add --poll-inactive-marketplace 60"
      end
      race.log.warn("the marketplace is not active; waiting for the event page to link it again")
      race.time.sleep(race.time.jitter(opts.poll_inactive))
      market, message, hint = M.discover(opts, true)
      if not market then
        return nil, message, hint
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
          M.on_available(fresh, page)
        end
      elseif M.attempt(page) then
        return true
      end
    end
    race.time.sleep(M.wait(opts))
  end
end

return M
