-- Only tickets up to a price, cheapest first; everything else as the default does it.
--   pretix-race --url https://tickets.example.com --event myevent --script scripts/examples/budget.lua
local strategy = require("race.default")

local MAX_PRICE = 250

function strategy.choose(listings)
  local affordable = {}
  for _, l in ipairs(listings) do
    if l.price and l.price <= MAX_PRICE then
      affordable[#affordable + 1] = l
    end
  end
  table.sort(affordable, function(a, b) return a.price < b.price end)
  return affordable
end

return strategy
