-- Shared by every scenario: report wrk's figures as one JSON line the harness parses.
-- Scenario scripts set `request` (and may read `tokens`, `slugs`, `usernames` from data.lua).

local json_line = function(summary, latency, shed)
  local e = summary.errors
  return string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_timeout":%d,"non_2xx":%d,"shed_503":%d}',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, e.connect, e.read, e.write, e.timeout, e.status, shed)
end

-- Each wrk thread gets its own id, so writes never collide across threads; and each wrk run
-- its own id, so titles never collide across runs (the soak starts wrk afresh every interval,
-- and a repeated title costs the create a failed INSERT and a retry).
local threads = {}
local run_id = os.time() % 1000000
setup = function(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
  thread:set("run_id", run_id)
end

done = function(summary, latency, requests)
  -- 503s counted by scenarios that define `response` (login: hashing load shed by design).
  local shed = 0
  for _, thread in ipairs(threads) do
    shed = shed + (thread:get("shed") or 0)
  end
  io.write("WRK_JSON " .. json_line(summary, latency, shed) .. "\n")
end

pick = function(list, i)
  return list[(i % #list) + 1]
end
