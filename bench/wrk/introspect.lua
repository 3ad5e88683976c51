-- wrk: RFC 7662 introspection of one access token by a resource server, the same
-- request each time (a resource server introspects the token of every call it serves).
-- env: TOKEN (the token introspected), CLIENT_ID and CLIENT_SECRET (the resource
-- server's credentials, client_secret_basic).
-- Prints the peers' RESULT line (../shared/peers/wrk/token.lua).
local token = os.getenv("TOKEN") or error("introspect.lua: set TOKEN")
local id = os.getenv("CLIENT_ID") or error("introspect.lua: set CLIENT_ID")
local secret = os.getenv("CLIENT_SECRET") or error("introspect.lua: set CLIENT_SECRET")
local function b64(s)
  local t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  return ((s:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return t:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#s % 3 + 1])
end
wrk.method = "POST"
wrk.body = "token=" .. token .. "&token_type_hint=access_token"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. b64(id .. ":" .. secret)

-- No response() callback: it would cost wrk (on the same cores) more than token.lua
-- costs it, and bench/introspect checks the answer is active before and after the run.
done = function(s, lat, req)
  local e = s.errors
  io.write(string.format("RESULT requests=%d non2xx_or_errors=%d rps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
    s.requests, e.status + e.connect + e.read + e.write + e.timeout, s.requests / (s.duration / 1e6),
    lat:percentile(50) / 1000, lat:percentile(99) / 1000, lat.max / 1000))
end
