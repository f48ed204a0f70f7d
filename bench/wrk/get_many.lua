-- GET across many carts: each request reads a cart drawn uniformly from
-- c1..c<carts>. Options: carts=10000, seed=1.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

local reqs, n

function init(args)
  local opts = common.options(args, { carts = 10000, seed = 1 })
  common.seed(opts)
  n = opts.carts
  reqs = {}
  for i = 1, n do reqs[i] = wrk.format("GET", "/carts/c" .. i) end
end

function request()
  return reqs[math.random(n)]
end
