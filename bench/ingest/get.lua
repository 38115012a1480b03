-- wrk script: GET requests (the URL given to wrk), keep-alive; prints one
-- JSON object with the latency figures.
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
