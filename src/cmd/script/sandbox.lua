-- corekv's script sandbox, run once per interpreter with the full standard library in reach.
-- Scripts never see this chunk's environment: each runs with `env`, a read-only view of `G`,
-- which holds only what Redis 7 gives a script. Everything a script can reach is a read-only
-- proxy (writing raises "Attempt to modify a readonly table", reading a missing global raises
-- "Script attempted to access nonexistent global variable"), so no script can leave state
-- behind for the next one or reach os, io, debug, require or the real globals.
local take_pending, log, hook_thread = ...
local debug, error, type, tostring, rawget, rawset, setmetatable, setfenv, pairs, xpcall =
  debug, error, type, tostring, rawget, rawset, setmetatable, setfenv, pairs, xpcall
local string_sub, loadstring_, load_ = string.sub, loadstring, load

-- Read-only proxy -> the table it shows (for pairs and ipairs, which read raw).
local readonly = setmetatable({}, { __mode = "k" })

local function deny()
  error("Attempt to modify a readonly table", 2)
end

-- A read-only view of `t`: reads pass through, writes raise, the metatable is hidden.
local function protect(t)
  local p = setmetatable({}, { __index = t, __newindex = deny, __metatable = false })
  readonly[p] = t
  return p
end

-- A read-only table of globals: reads go through `lookup(k)`, and reading a missing one
-- raises Redis's error (at the reader's line); `shows` is what pairs sees.
local function globals_view(lookup, shows)
  local view = setmetatable({}, {
    __index = function(_, k)
      local v = lookup(k)
      if v == nil then
        error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
      end
      return v
    end,
    __newindex = deny,
    __metatable = false,
  })
  readonly[view] = shows
  return view
end

local G = {}
local env = globals_view(function(k) return G[k] end, G)

for _, k in pairs({ "assert", "collectgarbage", "error", "gcinfo", "getmetatable", "ipairs",
  "next", "pairs", "pcall", "rawequal", "rawget", "select", "setmetatable", "tonumber",
  "tostring", "type", "unpack", "xpcall", "_VERSION" }) do
  G[k] = _G[k]
end
for _, k in pairs({ "string", "table", "math" }) do
  G[k] = protect(_G[k])
end

-- Coroutines get the time-limit hook too (Lua hooks are per thread), so a loop inside one
-- cannot escape it.
local co = {}
for k, v in pairs(coroutine) do
  co[k] = v
end
local cocreate, coresume, unpack_ = coroutine.create, coroutine.resume, unpack
co.create = function(f)
  local c = cocreate(f)
  hook_thread(c)
  return c
end
co.wrap = function(f)
  local c = co.create(f)
  return function(...)
    local r = { coresume(c, ...) }
    if not r[1] then
      error(r[2], 0)
    end
    return unpack_(r, 2, table.maxn(r))
  end
end
G.coroutine = protect(co)
G._G = env

-- rawset and setmetatable would write through a proxy: refuse them on the read-only tables.
G.rawset = function(t, k, v)
  if readonly[t] then
    error("Attempt to modify a readonly table", 0)
  end
  return rawset(t, k, v)
end
local setmetatable_, pairs_, ipairs_ = setmetatable, pairs, ipairs
G.setmetatable = function(t, mt)
  if readonly[t] then
    error("Attempt to modify a readonly table", 0)
  end
  return setmetatable_(t, mt)
end
-- Iterating a read-only table iterates what it shows.
G.pairs = function(t)
  return pairs_(readonly[t] or t)
end
G.ipairs = function(t)
  return ipairs_(readonly[t] or t)
end

-- Chunks a script loads run in the script's environment, and only from source text (binary
-- chunks can break the interpreter).
local function sandboxed(loader)
  return function(chunk, name)
    if type(chunk) == "string" and string_sub(chunk, 1, 1) == "\27" then
      return nil, "binary chunks are not allowed"
    end
    local f, e = loader(chunk, name)
    if f then
      setfenv(f, env)
    end
    return f, e
  end
end
G.loadstring = sandboxed(loadstring_)
G.load = sandboxed(load_)

-- Strings' metatable indexes the read-only string table and cannot be changed.
local string_mt = getmetatable("")
string_mt.__index = G.string
string_mt.__metatable = protect(string_mt)

-- redis.call and redis.pcall are set from Rust (C functions, so that `return redis.call(...)`
-- keeps the script's frame for the error's line). A failing redis.call leaves its error text
-- in `take_pending()` and raises; the handler and the script's own pcall turn it back into the
-- {err = text} table Redis raises.
local function as_error(e)
  local p = take_pending()
  if p then
    return { err = p }
  end
  if type(e) == "userdata" then
    local s = tostring(e)
    s = string.gsub(s, "^runtime error: ", "")
    return (string.match(s, "^[^\n]*"))
  end
  return e
end

local pcall_ = pcall
local function repack(ok, ...)
  if ok then
    return true, ...
  end
  return false, as_error((...))
end
G.pcall = function(f, ...)
  return repack(pcall_(f, ...))
end
G.xpcall = function(f, h)
  return xpcall(f, function(e) return h(as_error(e)) end)
end

local redis = {}
redis.error_reply = function(msg)
  if type(msg) ~= "string" then
    error("wrong number or type of arguments", 2)
  end
  return { err = msg }
end
redis.status_reply = function(msg)
  if type(msg) ~= "string" then
    error("wrong number or type of arguments", 2)
  end
  return { ok = msg }
end
redis.log = function(level, ...)
  local n = select("#", ...)
  if n == 0 then
    error("redis.log() requires two arguments or more.", 2)
  end
  if type(level) ~= "number" then
    error("First argument must be a number (log level).", 2)
  end
  if level < 0 or level > 3 then
    error("Invalid debug level.", 2)
  end
  local parts = {}
  for i = 1, n do
    parts[i] = tostring((select(i, ...)))
  end
  log(level, table.concat(parts, " "))
end
redis.set_repl = function(v)
  if type(v) ~= "number" or v < 0 or v > 3 then
    error("Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.", 2)
  end
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL =
  0, 1, 2, 2, 3

-- The message handler of every script call: keeps the error's text and the line of the
-- script where it was raised (the first frame that is the script's own).
local function handler(e)
  e = as_error(e)
  -- The first frame of the script's own code (its chunk, or one it loaded), as Redis reports.
  local line, source = 0, "@user_script"
  for level = 2, 64 do
    local info = debug.getinfo(level, "Sl")
    if not info then
      break
    end
    if info.what ~= "C" and info.source ~= "=sandbox" and info.currentline >= 0 then
      line, source = info.currentline, info.source
      break
    end
  end
  if type(e) == "table" and type(rawget(e, "err")) == "string" then
    return { err = rawget(e, "err"), line = line, source = source }
  end
  return { err = "ERR " .. tostring(e), line = line, source = source }
end
G.__redis__err__handler = handler

-- Installs the script's KEYS and ARGV and calls it: returns (true, result) or (false, error
-- table with err and line).
local function run(f, keys, argv)
  G.KEYS, G.ARGV = keys, argv
  return xpcall(f, handler)
end

-- Functions (FUNCTION LOAD, FCALL). A library's chunk runs with `fenv`: while it loads, its
-- globals are Redis 7.0's load-time API (only `redis` with register_function, log, the LOG_
-- constants and REDIS_VERSION; anything else is a missing global), and once loaded, when its
-- functions run, the scripts' globals.
local loading, loading_names = nil, nil
local lredis = {}
local LG = { redis = globals_view(function(k) return lredis[k] end, lredis) }
local fenv = globals_view(function(k) return (loading and LG or G)[k] end, G)

local FLAGS = { ["no-writes"] = 1, ["allow-oom"] = 2, ["allow-stale"] = 4, ["no-cluster"] = 8,
  ["allow-cross-slot-keys"] = 16 }
local function reg_error(msg)
  error({ err = "ERR " .. msg }, 0)
end
local function is_string(v)
  return type(v) == "string" or type(v) == "number"
end
lredis.register_function = function(...)
  local n = select("#", ...)
  local name, callback, flags, description
  if n == 1 then
    local t = ...
    if type(t) ~= "table" then
      reg_error("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")
    end
    for k, v in pairs(t) do
      if k == "function_name" then
        if not is_string(v) then
          reg_error("function_name argument given to redis.register_function must be a string")
        end
        name = v
      elseif k == "description" then
        if not is_string(v) then
          reg_error("description argument given to redis.register_function must be a string")
        end
        description = tostring(v)
      elseif k == "callback" then
        if type(v) ~= "function" then
          reg_error("callback argument given to redis.register_function must be a function")
        end
        callback = v
      elseif k == "flags" then
        if type(v) ~= "table" then
          reg_error("flags argument to redis.register_function must be a table representing function flags")
        end
        flags = v
      else
        reg_error("unknown argument given to redis.register_function")
      end
    end
    if name == nil then
      reg_error("redis.register_function must get a function name argument")
    end
    if callback == nil then
      reg_error("redis.register_function must get a callback argument")
    end
  elseif n == 2 then
    name, callback = ...
    if not is_string(name) then
      reg_error("first argument to redis.register_function must be a string")
    end
    if type(callback) ~= "function" then
      reg_error("second argument to redis.register_function must be a function")
    end
  else
    reg_error("wrong number of arguments to redis.register_function")
  end
  local bits = 0
  for _, f in pairs(flags or {}) do
    local b = FLAGS[f]
    if not b then
      reg_error("unknown flag given")
    end
    if bits % (2 * b) < b then
      bits = bits + b
    end
  end
  name = tostring(name)
  if not string.find(name, "^[%w_]+$") then
    reg_error("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
  end
  if loading_names[name] then
    reg_error("Function already exists in the library")
  end
  loading_names[name] = true
  loading[#loading + 1] = { name = name, callback = callback, flags = bits,
    description = description }
end
lredis.log = redis.log
lredis.LOG_DEBUG, lredis.LOG_VERBOSE, lredis.LOG_NOTICE, lredis.LOG_WARNING = 0, 1, 2, 3

-- Runs a library's chunk: (true, registrations) or (false, the error's text).
local function load_lib(chunk)
  loading, loading_names = {}, {}
  local ok, e = xpcall(chunk, as_error)
  local reg = loading
  loading, loading_names = nil, nil
  if not ok then
    if type(e) == "table" then
      return false, tostring(rawget(e, "err"))
    end
    return false, "ERR " .. tostring(e)
  end
  return true, reg
end

-- Calls a function with its keys and arguments, like `run`.
local function run_fn(f, keys, argv)
  G.KEYS, G.ARGV = keys, argv
  return xpcall(function()
    return f(keys, argv)
  end, handler)
end

return env, G, redis, protect, run, { fenv = fenv, lredis = lredis, load = load_lib, run = run_fn }
