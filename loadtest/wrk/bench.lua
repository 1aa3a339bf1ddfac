-- The one wrk script of the benchmark (loadtest/bench.py runs it), set through the environment:
--   BENCH_DATA   a Lua file defining `tokens`, `products`, `hot`, `users` (written by bench.py)
--   BENCH_KIND   get | post | get_auth | order | order_hot | login
--   BENCH_PATH   the request path (for get / get_auth)
--   BENCH_OUT    where done() writes the JSON summary: requests, duration, socket errors,
--                latency percentiles (microseconds), the count of every status, and the
--                requests sent (answered or still in flight when wrk stopped).
-- get_auth rotates the bearer tokens of the seeded users; order posts a random product of
-- `products`, order_hot always `hot`; login rotates through `users`.

local kind = os.getenv("BENCH_KIND") or "get"
local path = os.getenv("BENCH_PATH") or "/"
local threads = {}
local counter = 0

dofile(os.getenv("BENCH_DATA"))

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  sent = 0
  math.randomseed(os.time() * 100 + thread_id)
  counter = math.random(1, math.max(#tokens, 1))
  if kind == "get" or kind == "post" then
    wrk.method = string.upper(kind)
    wrk.path = path
  end
end

local function next_index(size)
  counter = counter % size + 1
  return counter
end

local function bearer()
  return { ["Authorization"] = "Bearer " .. tokens[next_index(#tokens)],
           ["Content-Type"] = "application/json" }
end

local function order_body(product_id)
  return '{"product_id":"' .. product_id .. '","quantity":1}'
end

local builders = {
  get_auth = function() return wrk.format("GET", path, bearer()) end,
  order = function()
    local product_id = products[math.random(1, #products)]
    return wrk.format("POST", "/api/v1/order/", bearer(), order_body(product_id))
  end,
  order_hot = function() return wrk.format("POST", "/api/v1/order/", bearer(), order_body(hot)) end,
  login = function()
    local user = users[next_index(#users)]
    local body = '{"email":"' .. user[1] .. '","password":"' .. user[2] .. '"}'
    return wrk.format("POST", "/api/v1/login/", { ["Content-Type"] = "application/json" }, body)
  end,
}

local build = builders[kind]

function request()
  sent = sent + 1
  if build then
    return build()
  end
  static = static or wrk.format(nil, path)
  return static
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts, sent_all = {}, 0
  for _, thread in ipairs(threads) do
    sent_all = sent_all + thread:get("sent")
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do
    table.insert(parts, string.format('"%d":%d', status, count))
  end
  local e = summary.errors
  local out = io.open(os.getenv("BENCH_OUT"), "w")
  out:write(string.format(
    '{"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,' ..
    '"timeout":%d,"status":%d},"latency_us":{"p50":%d,"p95":%d,"p99":%d,"max":%d},' ..
    '"statuses":{%s},"sent":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    table.concat(parts, ","), sent_all))
  out:close()
end
