-- wrk script for the cart, as many signed-in shoppers: each request carries
-- the access token of a user drawn at random from BENCH_TOKENS (one a line).
-- BENCH_CART_MODE=get: GET /api/cart/; add: POST /api/cart/add-item/ of one
-- unit of a product drawn from BENCH_IDS.
local mode = os.getenv("BENCH_CART_MODE") or "get"
local tokens, ids = {}, {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  tokens[#tokens + 1] = line
end
for line in io.lines(os.getenv("BENCH_IDS")) do
  ids[#ids + 1] = line
end
math.randomseed(os.time())

request = function()
  local headers = {["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]}
  if mode == "add" then
    headers["Content-Type"] = "application/json"
    local body = '{"product_id": ' .. ids[math.random(#ids)] .. ', "quantity": 1}'
    return wrk.format("POST", "/api/cart/add-item/", headers, body)
  end
  return wrk.format("GET", "/api/cart/", headers)
end
