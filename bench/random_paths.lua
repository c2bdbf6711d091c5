-- wrk script: GET a path drawn at random from the file BENCH_PATHS (one
-- URL-encoded path a line; bench.py writes varied search queries there).
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do
  paths[#paths + 1] = line
end
math.randomseed(os.time())

request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
