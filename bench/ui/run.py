#!/usr/bin/env python3
"""bench/ui: the dashboard's weight and how fast hushd serves it.

Starts `hushd --demo` (20,000 simulated reports) in a temporary directory
and measures:

  - the first load's transferred bytes: the page, its script and its style
    sheet, with and without gzip (headers included), the way a browser asks;
  - latency of GET /ui/ (gzip, 200), /ui/ revalidated (If-None-Match: 304),
    /ui/app.js (gzip), and of the estimates the page polls: JSON (200, the
    cached answer), revalidated (304), and CSV; with wrk on one keep-alive
    connection (a page's view) and on 16 (many pages), RUNS times each.

One JSON object per line:
  {"bench":"ui","what":"first_load","gzip":true,"bytes":…,"files":3}
  {"bench":"ui","what":…,"connections":…,"run":…,"status":…,"rps":…,"p50_ms":…,"p99_ms":…}
and a summary per case: the median p50 over the runs and their range.
The machine's two cores run hushd and wrk together.
Usage: bench/ui/run.py [--hushd build/bin/hushd] [--seconds 5] [--runs 3]
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
GET_LUA = os.path.join(os.path.dirname(HERE), "ingest", "get.lua")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(port, path, headers):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    body = r.read()
    head = sum(len(k) + len(v) + 4 for k, v in r.getheaders()) + 17
    c.close()
    return r.status, r.getheader("ETag"), len(body) + head


def wrk(url, connections, seconds, headers):
    args = ["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, "-s", GET_LUA, "--latency"]
    for k, v in headers.items():
        args += ["-H", "%s: %s" % (k, v)]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("wrk printed no summary:\n" + out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hushd", default="build/bin/hushd")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="hush-bench-ui-")
    port = free_port()
    proc = subprocess.Popen([os.path.abspath(a.hushd), "--demo", "--port", str(port),
                             "--access-log", "off"], cwd=work, stderr=subprocess.DEVNULL)
    try:
        base = "http://127.0.0.1:%d" % port
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        for gz in (True, False):
            h = {"Accept-Encoding": "gzip, deflate, br"} if gz else {}
            total = sum(fetch(port, p, h)[2] for p in ("/ui/", "/ui/app.js", "/ui/style.css"))
            print(json.dumps({"bench": "ui", "what": "first_load", "gzip": gz, "bytes": total,
                              "files": 3}), flush=True)
        gz = {"Accept-Encoding": "gzip"}
        _, page_tag, _ = fetch(port, "/ui/", gz)
        est = "/v1/campaigns/demo-emoji/estimates"
        _, est_tag, _ = fetch(port, est, {})
        cases = [("GET /ui/", "/ui/", gz), ("GET /ui/ revalidated", "/ui/",
                                            dict(gz, **{"If-None-Match": page_tag})),
                 ("GET /ui/app.js", "/ui/app.js", gz),
                 ("GET estimates", est, {}),
                 ("GET estimates revalidated", est, {"If-None-Match": est_tag}),
                 ("GET estimates csv", est + "?format=csv", {})]
        for what, path, headers in cases:
            for conns in (1, 16):
                p50s = []
                for run in range(a.runs):
                    r = wrk(base + path, conns, a.seconds, headers)
                    status = fetch(port, path, headers)[0]
                    p50s.append(r["p50_ms"])
                    print(json.dumps({"bench": "ui", "what": what, "connections": conns,
                                      "run": run, "status": status,
                                      "rps": round(r["requests"] / r["seconds"]),
                                      "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"]}), flush=True)
                print(json.dumps({"bench": "ui", "what": what, "connections": conns,
                                  "summary": True, "p50_ms_median": statistics.median(p50s),
                                  "p50_ms_min": min(p50s), "p50_ms_max": max(p50s)}), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
