-- wrk script for the sign-up benchmark: every request a new visitor, with an address and an email of its own.
-- wrk runs one Lua state per thread and leaves math.random unseeded in each: without a thread id, every thread
-- would send the same visitors and half the requests would be duplicates (another code path, another rate-limit
-- key). setup() numbers the threads; init() seeds each with its id and gives it its own range of addresses.
-- Arguments (after --): the run's number, so that no visitor comes back in a later run.

local threads = 0

setup = function(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

init = function(args)
  run = tonumber(args[1] or "0")
  math.randomseed(os.time() * 1000 + run * 64 + tid)
  counter = 0
  -- First octets 11 to 223: 16.7 million addresses per thread and run.
  first_octet = 11 + (run * 4 + tid) % 212
end

request = function()
  counter = counter + 1
  local ip = string.format("%d.%d.%d.%d", first_octet, math.floor(counter / 65536) % 256,
    math.floor(counter / 256) % 256, counter % 256)
  local body = string.format(
    '{"first_name":"Bench","infix":"van","last_name":"Visitor %d","email":"r%dt%dn%d.%06d@example.nl"}',
    counter, run, tid, counter, math.random(0, 999999))
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["X-Forwarded-For"] = ip}, body)
end

-- One JSON line: totals, and the latency distribution as 1,000 quantiles (ms), so that runs can be pooled.
done = function(summary, latency, requests)
  local e = summary.errors
  local quantiles = {}
  for i = 1, 1000 do
    quantiles[i] = string.format("%.3f", latency:percentile((i - 0.5) / 10) / 1000)
  end
  io.write(string.format('{"requests":%d,"seconds":%.6f,"failed":%d,"quantiles_ms":[%s]}\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.status + e.timeout,
    table.concat(quantiles, ",")))
end
