-- wrk script: POST one fixed JSON body, then print the run's figures as one JSON line.
-- Usage: wrk -t1 -c N -d Ds --latency -s post.lua URL -- BODY_FILE [HEADERS_FILE]
-- HEADERS_FILE: extra request headers, one "Name: value" a line (Shipyard's Authorization).
-- No response() hook on purpose: a Lua call per response would cost wrk CPU it shares with the server.

function init(args)
   local file = assert(io.open(args[1], "rb"))
   wrk.method = "POST"
   wrk.body = file:read("*a")
   file:close()
   wrk.headers["Content-Type"] = "application/json"
   if args[2] then
      for line in io.lines(args[2]) do
         local name, value = line:match("^([^:]+):%s*(.-)%s*$")
         if name then
            wrk.headers[name] = value
         end
      end
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   local fmt = '{"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"mean": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, "p999": %d}}'
   io.write("BENCH_JSON ", string.format(fmt,
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)), "\n")
end
