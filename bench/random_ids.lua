-- wrk script: GET <BENCH_PREFIX><id>/ for ids drawn at random from the file
-- BENCH_IDS (one id a line; bench.py writes the published products' ids).
local prefix = os.getenv("BENCH_PREFIX") or "/api/products/"
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do
  ids[#ids + 1] = line
end
math.randomseed(os.time())

request = function()
  return wrk.format("GET", prefix .. ids[math.random(#ids)] .. "/")
end
