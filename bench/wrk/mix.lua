-- The main mix: <read>% GET, the rest POST add item, across carts drawn
-- uniformly from c1..c<carts>. Options: carts=100000, read=80, items=8,
-- seed=1.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

local gets, bodies, ncarts, nitems, read

function init(args)
  local opts = common.options(args,
                              { carts = 100000, read = 80, items = 8, seed = 1 })
  common.seed(opts)
  ncarts, nitems, read = opts.carts, opts.items, opts.read
  gets, bodies = {}, {}
  for i = 1, ncarts do gets[i] = wrk.format("GET", "/carts/c" .. i) end
  for i = 1, nitems do
    bodies[i] = '{"item":"item-' .. i .. '","quantity":1}'
  end
end

function request()
  local c = math.random(ncarts)
  if math.random(100) <= read then return gets[c] end
  return wrk.format("POST", "/carts/c" .. c .. "/items", common.json_headers,
                    bodies[math.random(nitems)])
end
