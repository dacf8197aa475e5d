-- Two tickets for a couple: keep watching after the first cart (in the same session, so both
-- tickets are in one cart), then hand the cart over once.
--   pretix-race --url https://tickets.example.com --event myevent --script scripts/examples/two_tickets.lua
-- rehearsal: pair
local race = require("race")
local strategy = require("race.default")

local WANT = 2
local carts = 0

function strategy.on_cart(result)
  carts = carts + 1
  race.log.info("ticket %d of %d in the cart: %s", carts, WANT, result.listing.title)
  if carts < WANT then
    return false -- keep watching; if the run ends now, the core still hands the cart over
  end
  local handed = result.session:handoff(result.checkout_url, { expires = result.expires })
  race.alert.event("ticket_in_cart", strategy.cart_fields(result, handed))
  return true
end

return strategy
