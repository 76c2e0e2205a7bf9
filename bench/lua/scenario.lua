-- One wrk script for every scenario; the harness picks one with SCENARIO and writes the data
-- file (tokens, slugs, names) that BENCH_DATA points at.
local here = os.getenv("BENCH_LUA")
dofile(here .. "/common.lua")
dofile(os.getenv("BENCH_DATA"))

local scenario = os.getenv("SCENARIO")
local counter = 0
local JSON = "application/json"

local function auth(i)
  return { ["Authorization"] = "Token " .. pick(tokens, i) }
end

local function auth_json(i)
  return { ["Authorization"] = "Token " .. pick(tokens, i), ["Content-Type"] = JSON }
end

local reads = {
  bare = function(i) return wrk.format("GET", "/") end,
  quart_no_io = function(i) return wrk.format("GET", "/healthz") end,
  list_articles = function(i) return wrk.format("GET", "/api/articles?limit=20") end,
  -- A deep page: its p50 against the first page's (issue 17: within 2x on the large set).
  list_deep = function(i) return wrk.format("GET", "/api/articles?limit=20&offset=10000") end,
  list_articles_token = function(i) return wrk.format("GET", "/api/articles?limit=20", auth(i)) end,
  list_by_tag = function(i) return wrk.format("GET", "/api/articles?limit=20&tag=" .. pick(tags, i)) end,
  feed = function(i) return wrk.format("GET", "/api/articles/feed?limit=20", auth(i)) end,
  article = function(i) return wrk.format("GET", "/api/articles/" .. pick(slugs, i)) end,
  comments = function(i) return wrk.format("GET", "/api/articles/" .. pick(slugs, i) .. "/comments") end,
  profile = function(i) return wrk.format("GET", "/api/profiles/" .. pick(usernames, i), auth(i)) end,
  current_user = function(i) return wrk.format("GET", "/api/user", auth(i)) end,
  tags = function(i) return wrk.format("GET", "/api/tags") end,
}

local writes = {
  login = function(i)
    local body = string.format('{"user":{"email":"%s","password":"%s"}}', pick(emails, i), password)
    return wrk.format("POST", "/api/users/login", { ["Content-Type"] = JSON }, body)
  end,
  create_article = function(i)
    local body = string.format(
      '{"article":{"title":"Bench %d-%d-%d","description":"d","body":"b","tagList":["%s"]}}',
      run_id or 0, thread_id or 0, counter, pick(tags, i))
    return wrk.format("POST", "/api/articles", auth_json(i), body)
  end,
  favorite = function(i)
    -- Favorite and unfavorite by turns: both idempotent, so every answer is a 200.
    local method = (counter % 2 == 0) and "POST" or "DELETE"
    local slug = pick(slugs, math.floor(i / 2))
    return wrk.format(method, "/api/articles/" .. slug .. "/favorite", auth(i))
  end,
}

-- 90% reads, 10% writes (create, favorite/unfavorite), spread by a fixed pattern.
local mixed_reads = { "list_articles", "list_articles_token", "list_by_tag", "feed", "article",
  "comments", "profile", "current_user", "tags" }
local function mixed(i)
  local slot = counter % 20
  if slot == 0 then return writes.create_article(i) end
  if slot == 10 then return writes.favorite(i) end
  return reads[mixed_reads[(i % #mixed_reads) + 1]](i)
end

-- Every read the stack limit (bench/stack_limit.py) answers, in turn: the smoke's one run.
local twin_reads = { "list_articles", "list_articles_token", "list_deep", "list_by_tag", "feed",
  "article", "profile", "current_user" }
local function stack_limit_reads(i)
  return reads[twin_reads[(counter % #twin_reads) + 1]](i)
end

local generate = reads[scenario] or writes[scenario] or (scenario == "mixed" and mixed)
  or (scenario == "stack_limit_reads" and stack_limit_reads)
if not generate then error("unknown scenario " .. tostring(scenario)) end

if scenario == "login" then
  -- Logins past what the hashing threads can do in HASH_QUEUE_SECONDS are refused with 503 by
  -- design; count them apart from other non-2xx, and wait Retry-After before the next one as
  -- a client should (the next request of this thread is, nearly always, the same
  -- connection's). Only here: a Lua response() slows wrk.
  shed = 0
  local backoff_ms = 0
  response = function(status, headers, body)
    if status == 503 then
      shed = shed + 1
      backoff_ms = 1000 * (tonumber(headers["Retry-After"] or headers["retry-after"]) or 1)
    end
  end
  delay = function()
    local ms = backoff_ms
    backoff_ms = 0
    return ms
  end
end

request = function()
  counter = counter + 1
  -- A cheap deterministic spread over the data, different per thread.
  local i = (counter * 7919 + (thread_id or 0) * 104729) % 1000003
  return generate(i)
end
