-- wrk: one admin API request, the same each time, as a bearer-token caller.
-- env: TOKEN (the access token, required), METHOD (default GET), BODY (optional;
-- sent as application/json when set).
-- Prints the peers' RESULT line (../shared/peers/wrk/token.lua). non2xx_or_errors counts
-- every answer outside 200–299, every 2xx whose body holds "errors" (a GraphQL
-- failure comes back as 200 with an errors list; no REST answer here has that key),
-- and wrk's connect, read, write and timeout errors.
local token = os.getenv("TOKEN") or error("admin.lua: set TOKEN")
wrk.method = os.getenv("METHOD") or "GET"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Accept"] = "application/json"
local body = os.getenv("BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

-- Each wrk thread has its own Lua state: count there, add up in done().
local threads = {}
setup = function(thread) table.insert(threads, thread) end
bad = 0
response = function(status, headers, body)
  if status < 200 or status > 299 or (body and body:find('"errors"', 1, true)) then
    bad = bad + 1
  end
end

done = function(s, lat, req)
  local e, counted = s.errors, 0
  for _, t in ipairs(threads) do counted = counted + (t:get("bad") or 0) end
  -- e.status (wrk's count of answers above 399) is within `counted` already.
  io.write(string.format("RESULT requests=%d non2xx_or_errors=%d rps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
    s.requests, counted + e.connect + e.read + e.write + e.timeout, s.requests / (s.duration / 1e6),
    lat:percentile(50) / 1000, lat:percentile(99) / 1000, lat.max / 1000))
end
