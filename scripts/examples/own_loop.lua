-- A strategy written from the primitives: its own loop, its own pacing, its own hand-over.
-- Good citizenship is not up to the script: the core spaces polls to remote hosts (2 s floor),
-- honours Retry-After and backs off whatever this loop does.
local race = require("race")
local session = race.session

local market = assert(session:discover())
local url = race.market.url(market, { sort = "newest" })

while true do
  local page, err = session:poll(url)
  if not page then
    race.log.warn("poll failed: %s", tostring(err))
  else
    for _, listing in ipairs(page.listings) do
      local result = session:add_to_cart(listing)
      if result and result.status == "in_cart" then
        session:handoff(result.checkout_url, { expires = result.expires })
        return true
      end
    end
  end
  -- Slow down when nothing happens for a while.
  local idle = race.stats().polls > 20 and 2 or 1
  race.time.sleep(race.time.jitter(race.options.interval * idle))
end
