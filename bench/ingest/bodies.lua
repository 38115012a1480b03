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

-- the summary line: get.lua's
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "get.lua")
