#!/usr/bin/env python3
"""hushd on PostgreSQL: a throw-away server (tests/e2e/hushlib.py's
Postgres), the store contract's unit tests run against it, and one hushd
on it: campaigns and batches survive restarts and kill -9, every
acknowledged batch counts once (also when resent), estimates after a
restart equal those before, and a PostgreSQL restart during load costs 503s
and loses nothing acknowledged.

Usage: test_postgres.py BUILD_DIR
"""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hushlib import Hushd, Postgres, Suite, batch_id, expect  # noqa: E402

BUILD = None
SUITE = Suite("postgres")
PG = None


def hushd(extra=()):
    return Hushd(os.path.join(BUILD, "bin", "hushd"), extra=["--store", PG.uri] + list(extra))


def reset_db():
    subprocess.run(["psql", PG.uri, "-q", "-c",
                    "SET client_min_messages = warning; DROP SCHEMA public CASCADE; "
                    "CREATE SCHEMA public"], check=True, capture_output=True)


def n_reports(h, cid):
    s, doc, _ = h.json("GET", "/v1/campaigns/%s/estimates" % cid)
    expect(s == 200, "estimates: %s %s" % (s, doc))
    return doc["n_reports"]


def poll(h, cid):
    s, doc, _ = h.json("POST", "/v1/campaigns", {
        "id": cid, "name": cid, "kind": "poll", "candidates": ["a", "b", "c", "d"],
        "epsilon": 4, "mechanism": "grr", "min_reports": 0}, admin=True)
    expect(s == 201, "create: %s %s" % (s, doc))


def post(h, cid, bid, reports):
    return h.json("POST", "/v1/reports", {"campaign": cid, "round": 1, "batch_id": bid,
                                           "reports": reports})


@SUITE.test
def the_store_contract_holds_on_postgres():
    env = dict(os.environ, HUSH_TEST_PG=PG.uri)
    p = subprocess.run([os.path.join(BUILD, "tests", "hush-tests"), "--filter", "store_pg/*",
                        "--jobs", "1"], env=env, capture_output=True, text=True)
    tail = (p.stdout + p.stderr).strip().splitlines()[-1:]
    expect(p.returncode == 0, "store_pg: %s" % (p.stdout + p.stderr)[-3000:])
    expect(tail and "Passing: 8" in tail[0] and "Failing: 0" in tail[0], "store_pg: %s" % tail)


@SUITE.test
def batches_count_once_across_restarts_and_resends():
    reset_db()
    h = hushd()
    try:
        poll(h, "p")
        ids = [batch_id() for _ in range(30)]
        for bid in ids:
            s, doc, _ = post(h, "p", bid, [0, 1, 2])
            expect(s == 200 and doc["accepted"] == 3, "post: %s %s" % (s, doc))
        s, doc, _ = post(h, "p", ids[0], [0, 1, 2])
        expect(s == 200 and doc["duplicate"], "a resend is a duplicate: %s" % doc)
        before = h.json("GET", "/v1/campaigns/p/estimates")[1]
        expect(before["n_reports"] == 90, "90 reports: %s" % before["n_reports"])
        expect(h.stop() == 0, "hushd stops cleanly")
        h.start()
        after = h.json("GET", "/v1/campaigns/p/estimates")[1]
        expect(after["items"] == before["items"], "the same estimates after a restart")
        for bid in ids[:5]:
            s, doc, _ = post(h, "p", bid, [0, 1, 2])
            expect(s == 200 and doc["duplicate"], "resent after a restart: %s" % doc)
        expect(n_reports(h, "p") == 90, "still 90")
    finally:
        h.cleanup()


def load(h, acked, stop, errors):
    while not stop.is_set():
        bid = batch_id()
        try:
            s, _, _ = post(h, "p", bid, [1, 2, 3, 0])
        except OSError:
            continue
        if s == 200:
            acked.append(bid)
        elif s != 503:
            errors.append(s)


@SUITE.test
def kill_9_and_a_database_restart_lose_nothing_acknowledged():
    reset_db()
    h = hushd()
    try:
        poll(h, "p")
        acked, errors, stop = [], [], threading.Event()
        threads = [threading.Thread(target=load, args=(h, acked, stop, errors))
                   for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        h.kill()  # kill -9 in the middle of the load
        stop.set()
        for t in threads:
            t.join()
        h.start()
        expect(len(acked) > 20, "the load was acknowledged (%d batches)" % len(acked))
        expect(n_reports(h, "p") == 4 * len(acked),
               "after kill -9: %d reports for %d acknowledged batches"
               % (n_reports(h, "p"), len(acked)))
        # PostgreSQL restarts under load: 503s while it is down, then
        # commits work again; every acknowledged batch is counted once
        acked2, stop = [], threading.Event()
        threads = [threading.Thread(target=load, args=(h, acked2, stop, errors))
                   for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        PG.stop(cleanup=False)
        time.sleep(1.0)
        PG.start()
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join()
        expect(not errors, "only 200 or 503: %s" % errors[:5])
        expect(len(acked2) > 20, "the load went on (%d batches)" % len(acked2))
        print("  acknowledged: %d before kill -9, %d around the database restart"
              % (len(acked), len(acked2)), flush=True)
        expect(n_reports(h, "p") == 4 * (len(acked) + len(acked2)),
               "after a database restart: %d reports for %d acknowledged batches"
               % (n_reports(h, "p"), len(acked) + len(acked2)))
        s, doc, _ = h.json("GET", "/readyz")
        expect(s == 200, "ready again: %s %s" % (s, doc))
        expect(h.stop() == 0, "hushd stops cleanly")
        h.start()
        expect(n_reports(h, "p") == 4 * (len(acked) + len(acked2)), "and after a restart")
    finally:
        h.cleanup()


def main():
    global BUILD, PG
    if len(sys.argv) != 2:
        sys.exit("usage: test_postgres.py BUILD_DIR")
    BUILD = os.path.abspath(sys.argv[1])
    PG = Postgres()
    try:
        the_store_contract_holds_on_postgres()
        batches_count_once_across_restarts_and_resends()
        kill_9_and_a_database_restart_lose_nothing_acknowledged()
    finally:
        PG.stop()
    SUITE.finish()


if __name__ == "__main__":
    main()
