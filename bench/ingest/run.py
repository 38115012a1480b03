#!/usr/bin/env python3
"""bench/ingest: load against a real hushd on loopback, with wrk.

Starts hushd (durable defaults: SQLite WAL, synchronous=FULL, access log on,
to a file) in a temporary directory, creates the campaigns, and runs wrk
(keep-alive) against

  - POST /v1/reports: batches of 100 GRR reports with unique batch ids;
  - GET /healthz;
  - GET /v1/campaigns/{id}/estimates for a 10,000-candidate campaign, both
    while its state is unchanged (the cached answer) and while reports keep
    arriving (each new aggregate version recomputes all 10,000 estimates);
  - 1-report batches to one campaign, alone and while another (OLH, 65,536
    candidates) receives 10,000-report batches;

printing one JSON object per line:
  {"bench":"ingest","what":…,"rate":…,"reports_per_s":…,"p50_ms":…,"p99_ms":…}

The machine's two cores run hushd and wrk together.  Usage:
  bench/ingest/run.py [--hushd build/bin/hushd] [--seconds 10]
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, doc, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), headers=headers)
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


RUNS = [0]


def run_env(env):
    """The environment of one wrk run: its own HUSH_RUN (unique batch ids)."""
    RUNS[0] += 1
    return dict(os.environ, HUSH_RUN=str(RUNS[0]), **(env or {}))


def wrk(args, env=None):
    out = subprocess.run(["wrk"] + args, capture_output=True, text=True,
                         env=run_env(env), check=True).stdout
    for line in out.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("wrk printed no result:\n" + out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hushd", default="build/bin/hushd")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=128)
    ap.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite",
                    help="postgres: a throw-away PostgreSQL server (tests/e2e/hushlib.py)")
    a = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/ingest: wrk is missing (scripts/install-deps installs it)")
    hushd = os.path.abspath(a.hushd)
    work = tempfile.mkdtemp(prefix="hush-ingest-")
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    pg = None
    store = []
    if a.store == "postgres":
        sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "e2e"))
        from hushlib import Postgres  # noqa: E402
        pg = Postgres(durable=True)
        store = ["--store", pg.uri]
    proc = subprocess.Popen([hushd, "--port", str(port), "--access-log", "access.log"] + store,
                            cwd=work, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz").read()
                break
            except OSError:
                time.sleep(0.05)
        token = open(os.path.join(work, "var/admin-token")).read().strip()
        post(base + "/v1/campaigns", {"id": "ingest", "name": "ingest", "kind": "poll",
                                      "candidates": ["c%d" % i for i in range(64)],
                                      "epsilon": 4, "mechanism": "grr", "min_reports": 0},
             token)
        post(base + "/v1/campaigns", {"id": "big", "name": "big", "kind": "poll",
                                      "candidates": ["item %d" % i for i in range(10000)],
                                      "epsilon": 4, "mechanism": "hr", "min_reports": 0},
             token)
        d = str(a.seconds) + "s"
        c = str(a.connections)

        def report(what, r, extra):
            rate = r["requests"] / r["seconds"]
            row = {"bench": "ingest", "what": what, "store": a.store, "nodes": 1,
                   "seconds": r["seconds"],
                   "requests": r["requests"], "rate": round(rate), "non2xx": r["non2xx"],
                   "socket_errors": r["socket_errors"], "p50_ms": r["p50_ms"],
                   "p90_ms": r["p90_ms"], "p99_ms": r["p99_ms"], "max_ms": r["max_ms"]}
            row.update(extra(rate))
            print(json.dumps(row), flush=True)

        r = wrk(["-t1", "-c" + c, "-d" + d, "-s", os.path.join(HERE, "reports.lua"), base],
                {"HUSH_CAMPAIGN": "ingest", "HUSH_DOMAIN": "64", "HUSH_BATCH": "100"})
        report("reports", r, lambda rate: {"batch": 100, "connections": a.connections,
                                           "reports_per_s": round(rate * 100)})
        r = wrk(["-t2", "-c64", "-d" + d, "-s", os.path.join(HERE, "get.lua"),
                 base + "/healthz"])
        report("healthz", r, lambda rate: {"connections": 64})
        # a populated 10,000-candidate state, then polling it unchanged
        wrk(["-t1", "-c16", "-d2s", "-s", os.path.join(HERE, "reports.lua"), base],
            {"HUSH_CAMPAIGN": "big", "HUSH_DOMAIN": "16384", "HUSH_BATCH": "100"})
        r = wrk(["-t2", "-c32", "-d" + d, "-s", os.path.join(HERE, "get.lua"),
                 base + "/v1/campaigns/big/estimates"])
        report("estimates", r, lambda rate: {"candidates": 10000, "top": 100,
                                             "state": "unchanged", "connections": 32})
        # polling while batches keep arriving: the cache turns over
        ingest = subprocess.Popen(["wrk", "-t1", "-c8", "-d" + d, "-s",
                                   os.path.join(HERE, "reports.lua"), base],
                                  env=run_env({"HUSH_CAMPAIGN": "big",
                                               "HUSH_DOMAIN": "16384", "HUSH_BATCH": "100"}),
                                  stdout=subprocess.DEVNULL)
        r = wrk(["-t1", "-c32", "-d" + d, "-s", os.path.join(HERE, "get.lua"),
                 base + "/v1/campaigns/big/estimates"])
        ingest.wait()
        report("estimates", r, lambda rate: {"candidates": 10000, "top": 100,
                                             "state": "changing", "connections": 32})
        # one campaign receiving 10,000-report OLH batches (65,536
        # candidates: each batch is 655 M support-counting steps) while
        # another's 1-report batches arrive: their latency, alone and beside
        cands = ["item %d" % i for i in range(65536)]
        olh = post(base + "/v1/campaigns", {"id": "olh", "name": "olh", "kind": "poll",
                                            "candidates": cands, "epsilon": 2,
                                            "mechanism": "olh", "min_reports": 0}, token)
        small = {"HUSH_CAMPAIGN": "ingest", "HUSH_DOMAIN": "64", "HUSH_BATCH": "1"}
        r = wrk(["-t1", "-c4", "-d" + d, "-s", os.path.join(HERE, "reports.lua"), base], small)
        report("reports_alone", r, lambda rate: {"batch": 1, "connections": 4})
        heavy = subprocess.Popen(["wrk", "-t1", "-c2", "-d" + d, "-s",
                                  os.path.join(HERE, "reports.lua"), base],
                                 env=run_env({"HUSH_CAMPAIGN": "olh", "HUSH_DOMAIN": "65536",
                                              "HUSH_BATCH": "10000",
                                              "HUSH_OLH_G": str(olh["mechanism"]["olh_g"])}),
                                 stdout=subprocess.PIPE, text=True)
        r = wrk(["-t1", "-c4", "-d" + d, "-s", os.path.join(HERE, "reports.lua"), base], small)
        out, _ = heavy.communicate()
        h = json.loads([line for line in out.splitlines() if line.startswith("{")][0])
        report("reports_beside_olh", r, lambda rate: {
            "batch": 1, "connections": 4, "olh_batches": h["requests"],
            "olh_batch": 10000, "olh_candidates": 65536, "olh_p50_ms": h["p50_ms"]})
        metrics = urllib.request.urlopen(base + "/metrics").read().decode()
        for line in metrics.splitlines():
            if line.startswith("hush_batches_per_commit_sum") or \
               line.startswith("hush_batches_per_commit_count") or \
               line.startswith("hush_commit_duration_seconds_sum"):
                name, value = line.split()
                print(json.dumps({"bench": "ingest", "what": "metric", "name": name,
                                  "value": float(value)}), flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)
        if pg is not None:
            pg.stop()
    if proc.returncode != 0:
        sys.exit("bench/ingest: hushd exited with %d" % proc.returncode)


if __name__ == "__main__":
    main()
