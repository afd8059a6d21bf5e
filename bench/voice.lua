-- wrk script for bench/voice_bench.py: replays pre-signed Twilio webhooks, one line each.
--
--   wrk -t2 -c16 -d10s --latency -s bench/voice.lua URL -- FILE FIRST:COUNT FIRST:COUNT ...
--
-- FILE has one request a line: "METHOD<TAB>path?query<TAB>X-Twilio-Signature<TAB>body".
-- Thread i sends lines FIRST..FIRST+COUNT-1 (0-based) of the i-th FIRST:COUNT argument, in
-- order, so a call's webhooks go in the order the file has them and no CallSid step is
-- sent twice unless a thread runs out of lines and wraps (counted, and reported by done()
-- as wraps=; sent= is how many lines the threads handed to wrk in all).

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

methods, paths, sigs, bodies, pos, wraps, sent = {}, {}, {}, {}, 0, 0, 0

function init(args)
  local lo, count = args[id + 2]:match("(%d+):(%d+)")
  lo, count = tonumber(lo), tonumber(count)
  local hi = lo + count
  local i = 0
  for line in io.lines(args[1]) do
    if i >= hi then break end
    if i >= lo then
      local m, p, s, b = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      methods[#methods + 1], paths[#paths + 1], sigs[#sigs + 1], bodies[#bodies + 1] = m, p, s, b
    end
    i = i + 1
  end
  if #bodies == 0 then error("voice.lua: no request lines for thread " .. id) end
end

function request()
  pos = pos + 1
  sent = sent + 1
  if pos > #bodies then
    pos = 1
    wraps = wraps + 1
  end
  return wrk.format(methods[pos], paths[pos], {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = sigs[pos],
  }, bodies[pos])
end

function done(summary, latency, requests)
  local w, s, per = 0, 0, {}
  for _, t in ipairs(threads) do
    w = w + (t:get("wraps") or 0)
    per[#per + 1] = tostring(t:get("sent") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
    "non2xx=%d connect=%d read=%d write=%d timeout=%d wraps=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout, w))
  io.write("SENT " .. table.concat(per, " ") .. "\n")
end
