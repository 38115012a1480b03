#!/usr/bin/env python3
"""bench/ingest/scale.py: durable ingest with one node on SQLite, one node on
PostgreSQL and N nodes on one PostgreSQL, in one run on one machine.

Each configuration starts fresh (a throw-away PostgreSQL with fsync on,
tests/e2e/hushlib.py; hushd with its durable defaults and the access log
on), creates a 64-candidate GRR poll and runs wrk against every node at
once (one wrk per node, the connections split between them): batches of
100 reports with unique ids, keep-alive.  Besides wrk's figures it reads
each node's commit metrics and the CPU time hushd and PostgreSQL used
(/proc), from which it projects how many nodes, and how much database,
10 M reports/s would take.  One JSON object per line:

  {"bench":"ingest","what":"reports","store":…,"nodes":N,"reports_per_s":…,
   "p99_ms":…,"commits_per_s":…,"batches_per_commit":…,
   "node_cpu_us_per_report":…,"db_cpu_us_per_report":…}
  {"bench":"ingest","what":"projection",…}

Every process shares the machine's cores (wrk too): the N-node figure is
what N nodes reach on this machine, not N times one node's.  Usage:
  bench/ingest/scale.py [--hushd build/bin/hushd] [--seconds 10] [--nodes 3]
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "e2e"))
from run import free_port, post, run_env  # noqa: E402
from hushlib import Postgres  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
LEGACY = [False]  # --legacy: a hushd from before --node-id (one node only)
TARGET = 10_000_000  # reports/s the projection is for


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / TICK


def postgres_pids(pg):
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        master = int(f.readline())
    pids = [master]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                        pids.append(int(d))
            except OSError:
                pass
    return pids


def wal_lsn(pg):
    out = subprocess.run(["psql", pg.uri, "-tAc", "SELECT pg_current_wal_lsn()"],
                         capture_output=True, text=True, check=True).stdout.strip()
    hi, lo = out.split("/")
    return (int(hi, 16) << 32) + int(lo, 16)


def metric(base, name):
    page = urllib.request.urlopen(base + "/metrics").read().decode()
    for line in page.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return 0.0


def start_nodes(hushd, store, n, shared):
    nodes = []
    for i in range(n):
        work = tempfile.mkdtemp(prefix="hush-scale-")
        port = free_port()
        args = [hushd, "--port", str(port), "--access-log", "access.log",
                "--key-dir", os.path.join(shared, "keys"),
                "--admin-token-file", os.path.join(shared, "admin-token")]
        if store != "sqlite":
            args += ["--store", store]
            if n > 1 or not LEGACY[0]:
                args += ["--node-id", "bench-%d" % i]
        proc = subprocess.Popen(args, cwd=work, stderr=subprocess.DEVNULL)
        base = "http://127.0.0.1:%d" % port
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz").read()
                break
            except OSError:
                time.sleep(0.05)
        nodes.append((proc, base, work))
    return nodes


def wrk_all(bases, seconds, connections):
    each = max(1, connections // len(bases))
    procs = [subprocess.Popen(
        ["wrk", "-t1", "-c%d" % each, "-d%ds" % seconds, "-s",
         os.path.join(HERE, "reports.lua"), b],
        env=run_env({"HUSH_CAMPAIGN": "ingest", "HUSH_DOMAIN": "64", "HUSH_BATCH": "100"}),
        stdout=subprocess.PIPE, text=True) for b in bases]
    out = []
    for p in procs:
        text, _ = p.communicate()
        out.append(json.loads([x for x in text.splitlines() if x.startswith("{")][0]))
    return out


def one(hushd, kind, n, seconds, connections):
    shared = tempfile.mkdtemp(prefix="hush-scale-shared-")
    pg = Postgres(durable=True) if kind == "postgres" else None
    nodes = start_nodes(hushd, pg.uri if pg else "sqlite", n, shared)
    try:
        token = open(os.path.join(shared, "admin-token")).read().strip()
        post(nodes[0][1] + "/v1/campaigns", {
            "id": "ingest", "name": "ingest", "kind": "poll",
            "candidates": ["c%d" % i for i in range(64)], "epsilon": 4,
            "mechanism": "grr", "min_reports": 0}, token)
        time.sleep(2.5)  # every node has polled the campaign in
        bases = [b for _, b, _ in nodes]
        pids = [p.pid for p, _, _ in nodes]
        db_pids = postgres_pids(pg) if pg else []
        commits0 = sum(metric(b, "hush_batches_per_commit_count") for b in bases)
        batches0 = sum(metric(b, "hush_batches_per_commit_sum") for b in bases)
        wal0 = wal_lsn(pg) if pg else 0
        cpu0, db0, t0 = cpu_seconds(pids), cpu_seconds(db_pids), time.time()
        runs = wrk_all(bases, seconds, connections)
        cpu1, db1, t1 = cpu_seconds(pids), cpu_seconds(db_pids), time.time()
        wal1 = wal_lsn(pg) if pg else 0
        commits = sum(metric(b, "hush_batches_per_commit_count") for b in bases) - commits0
        batches = sum(metric(b, "hush_batches_per_commit_sum") for b in bases) - batches0
        reqs = sum(r["requests"] for r in runs)
        secs = max(r["seconds"] for r in runs)
        reports = 100 * reqs
        row = {"bench": "ingest", "what": "reports", "store": kind, "nodes": n,
               "seconds": secs, "batch": 100, "connections": connections,
               "requests": reqs, "non2xx": sum(r["non2xx"] for r in runs),
               "socket_errors": sum(r["socket_errors"] for r in runs),
               "reports_per_s": round(reports / secs),
               "p50_ms": max(r["p50_ms"] for r in runs),
               "p99_ms": max(r["p99_ms"] for r in runs),
               "p99_ms_per_node": [r["p99_ms"] for r in runs],
               "commits_per_s": round(commits / (t1 - t0)),
               "batches_per_commit": round(batches / commits, 1) if commits else None,
               "node_cpu_us_per_report": round(1e6 * (cpu1 - cpu0) / reports, 3),
               "db_cpu_us_per_report": round(1e6 * (db1 - db0) / reports, 3) if pg else None,
               "db_cpu_ms_per_commit": round(1e3 * (db1 - db0) / commits, 3)
               if pg and commits else None,
               "db_wal_bytes_per_report": round((wal1 - wal0) / reports, 2) if pg else None}
        print(json.dumps(row), flush=True)
        return row
    finally:
        for proc, _, work in nodes:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shared, ignore_errors=True)
        if pg is not None:
            pg.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hushd", default="build/bin/hushd")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=128)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--only-postgres-one", action="store_true",
                    help="only one node on PostgreSQL (to compare two hushd builds)")
    ap.add_argument("--legacy", action="store_true",
                    help="the hushd predates --node-id (with --only-postgres-one)")
    a = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/ingest: wrk is missing (scripts/install-deps installs it)")
    hushd = os.path.abspath(a.hushd)
    LEGACY[0] = a.legacy
    if a.only_postgres_one:
        one(hushd, "postgres", 1, a.seconds, a.connections)
        return
    one(hushd, "sqlite", 1, a.seconds, a.connections)
    single = one(hushd, "postgres", 1, a.seconds, a.connections)
    multi = one(hushd, "postgres", a.nodes, a.seconds, a.connections)
    # the projection: CPU per report measured on the nodes and on the
    # database, and the database's commits at the batching observed
    # (the larger of the two runs' figures; nodes planned to run at 70% CPU)
    node_us = max(single["node_cpu_us_per_report"], multi["node_cpu_us_per_report"])
    db_us = max(single["db_cpu_us_per_report"], multi["db_cpu_us_per_report"])
    wal = max(single["db_wal_bytes_per_report"], multi["db_wal_bytes_per_report"])
    cores, busy = os.cpu_count(), 0.7
    node_cores = TARGET * node_us / 1e6
    print(json.dumps({
        "bench": "ingest", "what": "projection", "target_reports_per_s": TARGET,
        "node_cpu_us_per_report": node_us, "db_cpu_us_per_report": db_us,
        "node_cores_needed": round(node_cores, 1), "cores_per_node": cores,
        "planned_utilization": busy,
        "nodes_needed": int(-(-node_cores // (cores * busy))),
        "db_cores_needed": round(TARGET * db_us / 1e6 / busy, 1),
        "db_wal_mb_per_s": round(TARGET * wal / 1e6, 1),
        "db_commits_per_s_at_batches_per_commit": [
            round(TARGET / 100 / multi["batches_per_commit"]), multi["batches_per_commit"]],
        "ratio_nodes_vs_one": round(multi["reports_per_s"] / single["reports_per_s"], 2)}),
        flush=True)


if __name__ == "__main__":
    main()
