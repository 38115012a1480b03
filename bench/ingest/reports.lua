-- wrk script: POST /v1/reports batches of BATCH GRR reports with unique
-- batch ids, keep-alive; prints one JSON object with wrk's latency figures.
-- Environment: HUSH_CAMPAIGN, HUSH_DOMAIN, HUSH_BATCH; HUSH_OLH_G: OLH
-- reports ([hash seed, value < g]) instead of GRR ones.
local campaign = os.getenv("HUSH_CAMPAIGN") or "bench"
local domain = tonumber(os.getenv("HUSH_DOMAIN") or "64")
local batch = tonumber(os.getenv("HUSH_BATCH") or "100")
local olh_g = tonumber(os.getenv("HUSH_OLH_G") or "0")
-- a distinct number per wrk run, so that two runs never send the same
-- batch id (a repeat is a duplicate: acknowledged, not counted)
local run = tonumber(os.getenv("HUSH_RUN") or "0")
local counter = 0
local tid = 0
local threads = {}

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   math.randomseed(tid * 7919)
   local r = {}
   for i = 1, batch do
      if olh_g > 0 then
         r[i] = "[" .. tostring(math.random(0, 2147483647)) .. "," ..
                tostring(math.random(0, olh_g - 1)) .. "]"
      else
         r[i] = tostring(math.random(0, domain - 1))
      end
   end
   reports = table.concat(r, ",")
   prefix = '{"campaign":"' .. campaign .. '","round":1,"batch_id":"'
   suffix = '","reports":[' .. reports .. ']}'
   headers = { ["Content-Type"] = "application/json" }
end

function request()
   counter = counter + 1
   -- 21 hex digits and 'A==' are valid base64 of 16 bytes; unique per run
   -- and thread
   local id = string.format("%02x%02x%017x", run % 256, tid, counter) .. "A=="
   return wrk.format("POST", "/v1/reports", headers, prefix .. id .. suffix)
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
