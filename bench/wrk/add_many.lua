-- POST add item across many carts: each request adds one unit of one of
-- <items> items to a cart drawn uniformly from c1..c<carts>.
-- Options: carts=10000, items=8, seed=1.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

local paths, bodies, ncarts, nitems

function init(args)
  local opts = common.options(args, { carts = 10000, items = 8, seed = 1 })
  common.seed(opts)
  ncarts, nitems = opts.carts, opts.items
  paths, bodies = {}, {}
  for i = 1, ncarts do paths[i] = "/carts/c" .. i .. "/items" end
  for i = 1, nitems do
    bodies[i] = '{"item":"item-' .. i .. '","quantity":1}'
  end
end

function request()
  return wrk.format("POST", paths[math.random(ncarts)], common.json_headers,
                    bodies[math.random(nitems)])
end
