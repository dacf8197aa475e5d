-- The Lua half of the sandbox (see prelude.rs): run once, before the strategy.
local stopped, raw_pcall, raw_xpcall, raw_load, raw_error = __race_stopped, pcall, xpcall, load, error
local read_module, searchpath, pack, unpack = __race_read_module, package.searchpath, table.pack, table.unpack
-- Modules come from the strategy's folder only: the path is fixed here, so a script
-- that changes package.path (or cpath: no C searcher is left) reaches no other file.
local module_path = package.path
__race_stopped, __race_read_module = nil, nil
-- searchpath would tell a script whether any file exists anywhere.
package.searchpath = function() error("package.searchpath is not available in strategies: require(\"module\") finds modules beside the strategy", 2) end
local function pass(r)
  local why = stopped()
  if why then raw_error(why, 0) end
  return unpack(r, 1, r.n)
end
pcall = function(...) return pass(pack(raw_pcall(...))) end
xpcall = function(...) return pass(pack(raw_xpcall(...))) end
load = function(chunk, name, mode, env)
  if mode ~= nil and mode ~= "t" then
    return nil, "load: only source text can be loaded in strategies (mode \"t\")"
  end
  return raw_load(chunk, name, "t", env)
end
package.searchers = {
  package.searchers[1],
  function(name)
    if type(name) ~= "string" or name:find("..", 1, true) or name:find("^[/\\]") or name:find("\\", 1, true) then
      return "\n\tno module " .. tostring(name) .. ": modules are named from the strategy's folder (no '..', no absolute path)"
    end
    local path, err = searchpath(name, module_path)
    if not path then return "\n\t" .. err end
    local f, lerr = raw_load(read_module(path), "@" .. path, "t")
    if not f then error(lerr, 0) end
    return f, path
  end,
}
