-- Shared by every workload script: argument parsing, per-thread seeding and
-- the done() hook that prints one machine-readable result line.
--
-- A workload script loads this file with
--
--   local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
--   local common = dofile(here .. "common.lua")
--
-- and then defines `request` (unless it is static). Options come after
-- `--` on wrk's command line as key=value pairs (`-- carts=10000 read=80`).
--
-- Status codes: wrk itself counts responses with a status above 399 as
-- `errors.status` at no cost. A Lua `response` hook makes wrk hand every
-- response's headers and body to Lua, which slows it measurably, so the
-- per-code breakdown is only collected when BENCH_STATUS=1 is set (the
-- harness does that for the smoke run and for a short diagnostic re-run of a
-- row that had errors). Each thread counts into its own table; done()
-- aggregates them through thread:get.

local M = {}

local threads = {}

-- Runs in the main Lua state, once per wrk thread, before init().
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end

--- Parses `key=value` arguments into a table, with defaults.
function M.options(args, defaults)
  local opts = {}
  for k, v in pairs(defaults) do opts[k] = v end
  for _, a in ipairs(args or {}) do
    local k, v = a:match("^([%w_]+)=(.*)$")
    if k then opts[k] = tonumber(v) or v end
  end
  return opts
end

--- Seeds math.random differently per thread but reproducibly per run.
function M.seed(opts)
  local id = thread_id or 1
  math.randomseed((opts.seed or 1) * 1000003 + id * 7919)
  -- LuaJIT's first values after seeding are poorly mixed.
  for _ = 1, 16 do math.random() end
end

M.json_headers = { ["Content-Type"] = "application/json" }

if os.getenv("BENCH_STATUS") == "1" then
  codes = {}
  function response(status, headers, body)
    codes[status] = (codes[status] or 0) + 1
  end
end

local function jnum(x)
  if x ~= x or x == math.huge then return "null" end
  return string.format("%.3f", x)
end

-- Runs in the main Lua state after the run: one line, prefixed, as JSON.
function done(summary, latency, requests)
  local by_code = {}
  for _, t in ipairs(threads) do
    local c = t:get("codes")
    if type(c) == "table" then
      for code, n in pairs(c) do
        by_code[code] = (by_code[code] or 0) + n
      end
    end
  end
  local parts = {}
  for code, n in pairs(by_code) do
    table.insert(parts, string.format('"%d":%d', code, n))
  end
  table.sort(parts)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%s,"p50":%s,"p90":%s,"p99":%s,"p999":%s,"max":%s},' ..
    '"codes":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    jnum(latency.mean), jnum(latency:percentile(50)),
    jnum(latency:percentile(90)), jnum(latency:percentile(99)),
    jnum(latency:percentile(99.9)), jnum(latency.max),
    table.concat(parts, ",")))
end

return M
