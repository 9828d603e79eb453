-- wrk script of platform_bench.py: POST with `Authorization: NVX <hash>`, one hash picked at
-- random per request from the file named after `--` (one hash per line; a file with one
-- line repeats one hash). Every answer that is not status 200 with "success":true in its
-- body is counted; done() prints the counts on a line starting with BENCH.
--
--   wrk -t2 -c64 -d10s -s benchmarks/random_hash.lua URL -- HASH_FILE
--
-- The requests are formatted once per thread in init(), so choosing one costs a random
-- number and a table lookup: wrk's own cost stays the same for every target.

local threads = {}

function setup(thread)
  thread:set("thread_number", #threads + 1)
  table.insert(threads, thread)
end

local requests = {}
-- Globals, so done() can read them with thread:get().
bad, bad_200, bad_4xx, bad_5xx, bad_other, first_bad = 0, 0, 0, 0, 0, ""

function init(args)
  local path = args[1]
  if path == nil then
    error("random_hash.lua needs the hash file after --")
  end
  for line in io.lines(path) do
    if #line > 0 then
      local headers = {["Host"] = wrk.headers["Host"], ["Authorization"] = "NVX " .. line}
      requests[#requests + 1] = wrk.format("POST", wrk.path, headers, "")
    end
  end
  if #requests == 0 then
    error("no hash in " .. path)
  end
  math.randomseed(os.time() * 1000 + (thread_number or 0) * 7919)
end

function request()
  return requests[math.random(#requests)]
end

function response(status, headers, body)
  if status == 200 and string.find(body, '"success":true', 1, true) then
    return
  end
  bad = bad + 1
  if status == 200 then
    bad_200 = bad_200 + 1
  elseif status >= 400 and status < 500 then
    bad_4xx = bad_4xx + 1
  elseif status >= 500 then
    bad_5xx = bad_5xx + 1
  else
    bad_other = bad_other + 1
  end
  if first_bad == "" then
    first_bad = status .. " " .. string.sub(string.gsub(body or "", "%s+", " "), 1, 200)
  end
end

function done(summary, latency, requests)
  local total = {bad = 0, bad_200 = 0, bad_4xx = 0, bad_5xx = 0, bad_other = 0}
  local sample = ""
  for _, thread in ipairs(threads) do
    for name, _ in pairs(total) do
      total[name] = total[name] + (thread:get(name) or 0)
    end
    local first = thread:get("first_bad")
    if sample == "" and first ~= nil then
      sample = first
    end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d bad=%d bad_200=%d bad_4xx=%d "
    .. "bad_5xx=%d bad_other=%d connect=%d read=%d write=%d timeout=%d status=%d\n",
    summary.requests, summary.duration, math.floor(latency:percentile(50)),
    math.floor(latency:percentile(99)),
    total.bad, total.bad_200, total.bad_4xx, total.bad_5xx, total.bad_other,
    e.connect, e.read, e.write, e.timeout, e.status))
  io.write("BENCH_FIRST_BAD " .. sample .. "\n")
end
