-- wrk script: one request per line of a token file, in turn (then from the top again).
--   wrk ... -s bench/wrk.lua URL -- TOKENS_FILE PATH [verify]
-- With "verify", the request carries the headers nginx's auth_request would add
-- (the original method, URI and host); without it, only the Authorization header.
-- Every request string is built once, in init, so wrk spends nothing per request.

local requests = {}
local next_index = 0

function init(args)
  local tokens, path, verify = args[1], args[2], args[3] == "verify"
  for token in io.lines(tokens) do
    local headers = { ["Authorization"] = "Bearer " .. token }
    if verify then
      headers["X-Forwarded-Method"] = "GET"
      headers["X-Forwarded-Uri"] = "/orders/42"
      headers["X-Forwarded-Host"] = "shop.example.com"
    end
    requests[#requests + 1] = wrk.format("GET", path, headers)
  end
end

function request()
  next_index = next_index + 1
  if next_index > #requests then
    next_index = 1
  end
  return requests[next_index]
end
