-- wrk script for `make bench` figure 1: every request is one device's poll,
-- round robin over a tokens file written by ramp-sim (--tokens-out lines:
-- "id token platform etag"), with that device's bearer token and, in 304
-- mode, its ETag in If-None-Match.
--   wrk ... -s desired.lua URL -- TOKENS_FILE MODE(200|304) [PATH] [FIXED_ETAG] [MARKER]
-- PATH defaults to /v1/agent/desired; FIXED_ETAG replaces every device's
-- ETag (the nginx anchor serves one static file with one ETag); "-" skips
-- either. When MARKER is given, each thread creates MARKER.<n> once its
-- init is done: wrk starts a thread as soon as its own init ends, so with a
-- big tokens file the first thread runs while the next still loads, and
-- tests/bench.py measures only the window after every thread is loaded.
-- Requests are formatted once in init(), so wrk's own Lua cost per request
-- is a table lookup and the load generator stays out of the measurement.
local reqs, n, idx = {}, 0, 0

function init(args)
	local file = args[1]
	local mode = args[2] or "200"
	local path = args[3] or "-"
	local fixed = args[4] or "-"
	local marker = args[5]
	if path == "-" then
		path = "/v1/agent/desired"
	end
	if fixed == "-" then
		fixed = nil
	end
	for line in io.lines(file) do
		local _, tok, _, etag = line:match("^(%S+) (%S+) (%S+) (%S+)")
		if tok then
			local h = {["Authorization"] = "Bearer " .. tok}
			if mode == "304" then
				h["If-None-Match"] = fixed or etag
			end
			n = n + 1
			reqs[n] = wrk.format("GET", path, h)
		end
	end
	-- each thread starts somewhere else in the fleet
	math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
	idx = math.random(n)
	if marker then
		local f = io.open(marker .. "." .. tostring({}):match("0x(%x+)"), "w")
		f:close()
	end
end

function request()
	idx = idx + 1
	if idx > n then
		idx = 1
	end
	return reqs[idx]
end
