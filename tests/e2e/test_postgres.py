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
    # every store_pg test ran and passed (none skipped for want of a database)
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(os.path.dirname(here), "collector", "test_store.c")) as f:
        want = f.read().count("Test(store_pg,")
    expect(tail and "Passing: %d" % want in tail[0] and "Failing: 0" in tail[0],
           "store_pg: %s (want %d passing)" % (tail, want))


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


def load(h, acked, unanswered, stop, errors):
    """Posts batches until stopped: acknowledged ids in acked, the rest
    (503, or no answer: the connection died) in unanswered, which a device
    would resend with the same batch id."""
    while not stop.is_set():
        bid = batch_id()
        try:
            s, _, _ = post(h, "p", bid, [1, 2, 3, 0])
        except OSError:
            unanswered.append(bid)
            continue
        if s == 200:
            acked.append(bid)
        else:
            unanswered.append(bid)
            if s != 503:
                errors.append(s)


def resend(h, ids):
    """What devices do with unanswered batches: send them again, same ids,
    until answered; each is then counted once (a duplicate if its first
    send was committed before the answer was lost)."""
    for bid in ids:
        for _ in range(100):
            s, doc, _ = post(h, "p", bid, [1, 2, 3, 0])
            if s == 200:
                break
            time.sleep(0.05)
        expect(s == 200, "resend of %s: %s" % (bid, s))


def run_load(h, seconds, during=None):
    acked, unanswered, errors, stop = [], [], [], threading.Event()
    threads = [threading.Thread(target=load, args=(h, acked, unanswered, stop, errors))
               for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    if during is not None:
        during()
    stop.set()
    for t in threads:
        t.join()
    return acked, unanswered, errors


@SUITE.test
def kill_9_and_a_database_restart_lose_nothing_acknowledged():
    reset_db()
    h = hushd()
    try:
        poll(h, "p")
        # kill -9 in the middle of the load: a batch may be committed and
        # its answer lost; its device resends it and it counts once
        acked, unanswered, errors = run_load(h, 1.5, during=h.kill)
        h.start()
        resend(h, unanswered)
        expect(len(acked) > 20, "the load was acknowledged (%d batches)" % len(acked))
        total = len(set(acked) | set(unanswered))
        expect(n_reports(h, "p") == 4 * total,
               "after kill -9: %d reports for %d distinct batches (%d acknowledged, %d "
               "resent)" % (n_reports(h, "p"), total, len(acked), len(unanswered)))

        # PostgreSQL restarts under load: 503s while it is down, then
        # commits work again
        def restart_db():
            PG.stop(cleanup=False)
            time.sleep(1.0)
            PG.start()
            time.sleep(1.5)

        acked2, unanswered2, errors2 = run_load(h, 0.5, during=restart_db)
        resend(h, unanswered2)
        expect(not errors + errors2, "only 200 or 503: %s" % (errors + errors2)[:5])
        expect(len(acked2) > 20, "the load went on (%d batches)" % len(acked2))
        total += len(set(acked2) | set(unanswered2))
        print("  acknowledged: %d before kill -9 (%d resent), %d around the database "
              "restart (%d resent)" % (len(acked), len(unanswered), len(acked2),
                                       len(unanswered2)), flush=True)
        expect(n_reports(h, "p") == 4 * total,
               "after a database restart: %d reports for %d distinct batches"
               % (n_reports(h, "p"), total))
        s, doc, _ = h.json("GET", "/readyz")
        expect(s == 200, "ready again: %s %s" % (s, doc))
        s, page, _ = h.request("GET", "/metrics")
        line = [x for x in page.decode().splitlines()
                if x.startswith('hush_store_reconnects_total{store="postgres"}')]
        expect(line and int(line[0].split()[-1]) >= 1,
               "the reconnect is counted: %s" % line)
        expect(h.stop() == 0, "hushd stops cleanly")
        h.start()
        expect(n_reports(h, "p") == 4 * total, "and after a restart")
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
