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
  local limit = limits[i]
  tasks[i] = race.spawn(function()
    race.log.info("watching %s%s", target.event, limit and (" up to " .. limit) or "")
    return strategy.watch(opts, i == 1 and race.session or race.new_session())
  end)
end

if limits[2] then
  local default_choose = strategy.choose
  function strategy.choose(listings, page)
    local out = {}
    for _, l in ipairs(default_choose(listings, page)) do
      if not l.price or l.price <= limits[2] or not l.action:find("/" .. race.options.targets[2].event .. "/", 1, true) then
        out[#out + 1] = l
      end
    end
    return out
  end
end

while #tasks > 0 do
  local i, done = race.select(table.unpack(tasks))
  if done then
    return true
  end
  table.remove(tasks, i)
end
return false, "no event could be watched"
