-- wrk script for bench/run.js: POST the fixed body in the file named by $WRK_BODY as JSON, and print
-- one machine-readable WRKRESULT line when done (latencies in ms, from wrk's HdrHistogram).
-- No response() hook on purpose: defining one makes wrk parse every response in Lua, which would
-- cost the load generator CPU it shares with the server on a 2-core machine.
local path = os.getenv("WRK_BODY")
assert(path, "set WRK_BODY to the JSON body file")
local f = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  -- errors.status: responses with HTTP status > 399 (wrk's definition); socket errors apart
  io.write(string.format(
    "WRKRESULT rps=%.2f p50=%.4f p90=%.4f p99=%.4f max=%.3f mean=%.4f non2xx=%d sockerr=%d timeouts=%d requests=%d secs=%.3f\n",
    summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
    e.status, e.connect + e.read + e.write, e.timeout, summary.requests, secs))
end
