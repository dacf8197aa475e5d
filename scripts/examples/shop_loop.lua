-- A main shop's sold-out product, watched from the primitives: poll the event page, add the first
-- product that is available again, hand the cart over. (`--strategy shop` does this with --item,
-- --variation, --count, vouchers and series dates.)
--   pretix-race --url https://tickets.example.com --event myevent --script scripts/examples/shop_loop.lua
-- rehearsal: shop
local race = require("race")
local session = race.session

while true do
  local page, err = session:poll_shop(race.options.event_url)
  if not page then
    race.log.warn("poll failed: %s", tostring(err))
  else
    for _, product in ipairs(page.products) do
      if product.available then
        local result = session:add_to_cart(product, { count = 1 })
        if result and result.status == "in_cart" then
          session:handoff(result.checkout_url, { expires = result.expires })
          return true
        end
      end
    end
  end
  race.time.sleep(race.time.jitter(race.options.interval))
end
