-- wrk script: POSTs the request bodies of a file (HUSH_BODIES, one JSON
-- document a line), each once, spread over the threads (keep-alive);
-- a thread stops when its share is sent.  Prints one JSON object with
-- wrk's latency figures, like get.lua.
local path = os.getenv("HUSH_BODIES")
local threads = {}
local nthreads = tonumber(os.getenv("HUSH_THREADS") or "1")

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

function init(args)
   bodies = {}
   local i = 0
   for line in io.lines(path) do
      if i % nthreads == tid then
         table.insert(bodies, line)
      end
      i = i + 1
   end
   next_body = 1
   headers = { ["Content-Type"] = "application/json" }
end

function request()
   local b = bodies[next_body]
   next_body = next_body + 1
   if b == nil then
      wrk.thread:stop()
      b = bodies[#bodies]
   end
   return wrk.format("POST", "/v1/reports", headers, b)
end

function done(summary, latency, requests)
   local statuses = summary.errors.status or 0
   io.write(string.format(
      '{"requests":%d,"seconds":%.3f,"non2xx":%d,"socket_errors":%d,' ..
      '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
      summary.requests, summary.duration / 1e6, statuses,
      summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000))
end
