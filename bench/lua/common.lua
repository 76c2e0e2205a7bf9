-- Shared by every scenario: report wrk's figures as one JSON line the harness parses.
-- Scenario scripts set `request` (and may read `tokens`, `slugs`, `usernames` from data.lua).

local json_line = function(summary, latency)
  local e = summary.errors
  return string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_timeout":%d,"non_2xx":%d}',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, e.connect, e.read, e.write, e.timeout, e.status)
end

done = function(summary, latency, requests)
  io.write("WRK_JSON " .. json_line(summary, latency) .. "\n")
end

-- Each wrk thread gets its own id, so writes never collide across threads.
local thread_counter = 0
setup = function(thread)
  thread_counter = thread_counter + 1
  thread:set("thread_id", thread_counter)
end

pick = function(list, i)
  return list[(i % #list) + 1]
end
