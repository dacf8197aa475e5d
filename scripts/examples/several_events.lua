-- Several events of one shop (or of several shops) at once, each watched by the default's own
-- loop in a task of its own with its own session; the first ticket in a cart ends the run.
-- This is what repeated --event does; written out, to change per event (here: a price limit
-- for the second one).
--   pretix-race --url https://tickets.example.com --event day1 --event day2 \
--     --script scripts/examples/several_events.lua
-- rehearsal: instant events=2
local race = require("race")
local strategy = require("race.default")

local limits = { nil, 250 } -- per target, in the order given

local tasks = {}
for i, target in ipairs(race.options.targets) do
  local opts = strategy.options_for(target)
  -- This event's own price limit: `choose(listings, page, opts)` gets this target's options
  -- third, and the default's reads max_price there (nil: --max-price, if given).
  opts.max_price = limits[i]
  tasks[i] = race.spawn(function()
    race.log.info("watching %s%s", target.event, opts.max_price and (" up to " .. opts.max_price) or "")
    return strategy.watch(opts, i == 1 and race.session or race.new_session())
  end)
end

while #tasks > 0 do
  local i, done = race.select(table.unpack(tasks))
  if done then
    return true
  end
  table.remove(tasks, i)
end
return false, "no event could be watched"
