-- GET of one hot cart: every request reads the same cart.
-- Options: cart=<id> (default "hot").
-- Static: no request() function, so wrk sends one precomputed request.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

function init(args)
  local opts = common.options(args, { cart = "hot" })
  wrk.method = "GET"
  wrk.path = "/carts/" .. opts.cart
end
