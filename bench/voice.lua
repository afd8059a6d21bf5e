-- wrk script for bench/voice_bench.py: POST /voice with pre-signed Twilio "A call comes in"
-- bodies, one distinct CallSid per request.
--
--   wrk -t2 -c16 -d10s --latency -s bench/voice.lua URL -- FILE FIRST COUNT THREADS
--
-- FILE has one request a line: "<X-Twilio-Signature>\t<urlencoded body>". Lines
-- FIRST .. FIRST+COUNT-1 (0-based) are shared out between the THREADS threads, each thread
-- taking its own slice, so no CallSid is sent twice unless a thread runs out of lines and
-- wraps (counted, and reported by done() as wraps=).

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

sigs, bodies, pos, wraps = {}, {}, 0, 0

function init(args)
  local path, first, count, nthreads = args[1], tonumber(args[2]), tonumber(args[3]), tonumber(args[4])
  local per = math.floor(count / nthreads)
  local lo = first + id * per
  local hi = lo + per
  local i = 0
  for line in io.lines(path) do
    if i >= hi then break end
    if i >= lo then
      local tab = line:find("\t", 1, true)
      sigs[#sigs + 1] = line:sub(1, tab - 1)
      bodies[#bodies + 1] = line:sub(tab + 1)
    end
    i = i + 1
  end
  if #bodies == 0 then error("voice.lua: no request lines for thread " .. id) end
end

function request()
  pos = pos + 1
  if pos > #bodies then
    pos = 1
    wraps = wraps + 1
  end
  return wrk.format("POST", "/voice", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = sigs[pos],
  }, bodies[pos])
end

function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do w = w + (t:get("wraps") or 0) end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "non2xx=%d connect=%d read=%d write=%d timeout=%d wraps=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout, w))
end
