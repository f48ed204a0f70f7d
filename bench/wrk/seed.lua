-- The seed service's routes (the only ones the Flask peer has): <read>%
-- GET /cart, the rest POST /cart {"item":...} with one of <items> items, all
-- on the one cart the seed API knows. Options: read=80, items=16, seed=1.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

local get, posts, nitems, read

function init(args)
  local opts = common.options(args, { read = 80, items = 16, seed = 1 })
  common.seed(opts)
  nitems, read = opts.items, opts.read
  get = wrk.format("GET", "/cart")
  posts = {}
  for i = 1, nitems do
    posts[i] = wrk.format("POST", "/cart", common.json_headers,
                          '{"item":"item-' .. i .. '"}')
  end
end

function request()
  if math.random(100) <= read then return get end
  return posts[math.random(nitems)]
end
