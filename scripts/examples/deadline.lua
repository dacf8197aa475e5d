-- Watch until a deadline, then stop with a clear message. A cart secured before then is handed
-- over as usual (and one secured in the last instant is handed over as the run ends).
-- DEADLINE_MINUTES sets it (default 90).
--   DEADLINE_MINUTES=30 pretix-race --url https://tickets.example.com --event myevent \
--     --script scripts/examples/deadline.lua
-- rehearsal: standard
local race = require("race")
local strategy = require("race.default")

local minutes = tonumber(os.getenv("DEADLINE_MINUTES") or "90")

local default_run = strategy.run
function strategy.run(self)
  local watch = race.spawn(default_run, self)
  local timer = race.spawn(function()
    race.time.sleep(minutes * 60)
  end)
  local first, done, message, hint = race.select(watch, timer)
  if first == 2 then
    return false, ("deadline: nothing secured in %g minutes"):format(minutes),
      "start again, or give DEADLINE_MINUTES more time"
  end
  return done, message, hint
end

return strategy
