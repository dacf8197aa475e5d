-- The default strategy, plus a push notification to your phone through ntfy (https://ntfy.sh):
-- subscribe to the topic in the ntfy app, then
--   NTFY_TOPIC=my-secret-topic pretix-race --url https://tickets.example.com --event myevent \
--     --script scripts/examples/ntfy.lua
-- NTFY_SERVER points at your own ntfy server if you run one.
local race = require("race")
local strategy = require("race.default")

local server = os.getenv("NTFY_SERVER") or "https://ntfy.sh"
local topic = os.getenv("NTFY_TOPIC")
if not topic or topic == "" then
  -- A default topic would be a public one: anyone could read your checkout link there.
  error("set NTFY_TOPIC to your own (hard to guess) ntfy topic, e.g. NTFY_TOPIC=tickets-7f3k9q", 0)
end

local default_on_cart = strategy.on_cart
function strategy.on_cart(result)
  -- Cart first (the default hands over and alerts), then the push.
  local done = default_on_cart(result)
  local ok, err = race.alert.webhook(server, {
    topic = topic,
    title = "Ticket in your cart",
    message = string.format("%s, %s: check out now", result.listing.title, result.listing.price_text),
    click = result.checkout_url,
    priority = 5,
    tags = { "tickets" },
  })
  if not ok then
    race.log.warn("ntfy: %s", tostring(err))
  end
  return done
end

return strategy
