#!/usr/bin/env python3
"""Three hushd nodes on one PostgreSQL (a throw-away server, hushlib's
Postgres), behind no balancer: the clients here spread their batches over
the nodes themselves and resend what is not answered to another node, as
devices behind a load balancer would.  Every time, the estimates are
exactly the distinct acknowledged batches:

- batches spread and resent across the nodes (a resend to another node is
  a duplicate there);
- one node killed -9 under load and restarted with its id;
- a round closed on one node while all three ingest: the frozen estimates
  hold every batch any node acknowledged before the close, and every batch
  after it gets 409 on whichever node it reaches;
- a node killed and never restarted: the close still counts its batches;
- PostgreSQL restarted under load.

Usage: test_cluster.py BUILD_DIR
"""
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hushlib import Hushd, Postgres, Suite, batch_id, expect, validate  # noqa: E402

BUILD = None
SUITE = Suite("cluster")
PG = None
REPORT = [1, 2, 3, 0]  # every batch: four reports
TEXTS = [
    "Lunch meeting moved to Thursday at noon. Bring the slides.",
    "Your invoice for October is attached. Payment is due in thirty days.",
    "The package you ordered has shipped. It will arrive on Monday.",
    "Reminder: the security training must be completed this week.",
]


class Cluster:
    """Three nodes sharing the database, the signing keys and the admin
    token (what each node of a real deployment needs: docs/operations.md)."""

    def __init__(self, n=3):
        self.shared = tempfile.mkdtemp(prefix="hush-cluster-")
        self.nodes = []
        for i in range(n):
            self.nodes.append(Hushd(os.path.join(BUILD, "bin", "hushd"), extra=[
                "--store", PG.uri, "--node-id", "node-%d" % i, "--poll-interval", "1",
                "--key-dir", os.path.join(self.shared, "keys"),
                "--admin-token-file", os.path.join(self.shared, "admin-token")]))

    def admin(self, i, method, path, body=None):
        with open(os.path.join(self.shared, "admin-token")) as f:
            token = f.read().strip()
        return self.nodes[i].json(method, path, body,
                                  headers={"Authorization": "Bearer " + token})

    def stop(self):
        """Stops every running node cleanly: exit 0, no sanitizer report, and
        the database's password never in a log."""
        for i, h in enumerate(self.nodes):
            if h.proc is None or h.proc.poll() is not None:
                continue
            code = h.stop()
            log = h.stderr()
            expect(code == 0, "node %d exits 0 (%s): %s" % (i, code, log[-2000:]))
            expect("Sanitizer" not in log and "runtime error" not in log,
                   "node %d: %s" % (i, log[-3000:]))
            expect("node node-%d" % i in log, "node %d names its id in its log" % i)

    def cleanup(self):
        for h in self.nodes:
            h.cleanup()
        shutil.rmtree(self.shared, ignore_errors=True)


def reset_db():
    import subprocess
    subprocess.run(["psql", PG.uri, "-q", "-c",
                    "SET client_min_messages = warning; DROP SCHEMA public CASCADE; "
                    "CREATE SCHEMA public"], check=True, capture_output=True)


def wait_for(what, cond, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.2)
    expect(False, "timed out waiting for " + what)


def create_poll(c, cid):
    s, doc, _ = c.admin(0, "POST", "/v1/campaigns", {
        "id": cid, "name": cid, "kind": "poll", "candidates": ["a", "b", "c", "d"],
        "epsilon": 4, "mechanism": "grr", "min_reports": 0})
    expect(s == 201, "create: %s %s" % (s, doc))
    wait_for("every node to know %s" % cid, lambda: all(
        h.json("GET", "/v1/campaigns/" + cid)[0] == 200 for h in c.nodes))


def create_mail(c):
    """A synthetic campaign (rounds can be closed) every node knows."""
    s, doc, _ = c.admin(0, "POST", "/v1/campaigns", {
        "id": "mail", "name": "Mail", "kind": "synthetic", "candidates": TEXTS,
        "epsilon": 8, "mechanism": "grr", "match_threshold": 0.1,
        "embedder": {"kind": "hashed-ngram", "version": 1, "dim": 64, "seed": 3},
        "min_reports": 0, "refine": {"keep": 2, "population": 4}})
    expect(s == 201, "create: %s %s" % (s, doc))
    wait_for("every node to know mail", lambda: all(
        h.json("GET", "/v1/campaigns/mail")[0] == 200 for h in c.nodes))


def n_reports(h, cid, rnd=None):
    path = "/v1/campaigns/%s/estimates" % cid + ("?round=%d" % rnd if rnd else "")
    s, doc, _ = h.json("GET", path)
    expect(s == 200, "estimates: %s %s" % (s, doc))
    return doc["n_reports"]


class Load:
    """Client threads posting batches of `cid`, each to a random live node.
    A batch is acknowledged (200), refused for a closed round (409) or not
    answered (503, a dead connection): then it is resent, same id, to
    another node until it gets 200 or 409, as a device would."""

    def __init__(self, c, cid, rnd=1, threads=6):
        self.c, self.cid, self.rnd = c, cid, rnd
        self.live = set(range(len(c.nodes)))
        self.acked, self.refused, self.unanswered, self.errors = set(), set(), set(), []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(seed,))
                        for seed in range(threads)]

    def post(self, i, bid):
        try:
            s, doc, _ = self.c.nodes[i].json("POST", "/v1/reports", {
                "campaign": self.cid, "round": self.rnd, "batch_id": bid,
                "reports": REPORT})
        except OSError:
            return None
        if s not in (200, 409, 503):
            self.errors.append((s, doc))
        return s

    def node(self, rng, avoid=None):
        with self.lock:
            choice = sorted(self.live - {avoid}) or sorted(self.live)
        return rng.choice(choice)

    def settle(self, bid, rng, record=True):
        """Sends bid until answered 200 or 409, to another node each time."""
        i = None
        for _ in range(200):
            i = self.node(rng, avoid=i)
            s = self.post(i, bid)
            if s in (200, 409):
                if record:
                    with self.lock:
                        (self.acked if s == 200 else self.refused).add(bid)
                return s
            with self.lock:
                self.unanswered.add(bid)
            time.sleep(0.05)
        expect(False, "batch %s was never answered" % bid)

    def _run(self, seed):
        rng = random.Random(seed)
        while not self.stop.is_set():
            bid = batch_id()
            s = self.settle(bid, rng)
            if s == 200 and rng.random() < 0.05:
                # a device that never saw the answer resends to another node
                # (a duplicate there; after a close, refused: either way
                # counted once, in the acknowledged set)
                self.settle(bid, rng, record=False)

    def run(self, seconds, during=None):
        for t in self.threads:
            t.start()
        time.sleep(seconds)
        if during is not None:
            during()
            time.sleep(seconds)
        self.stop.set()
        for t in self.threads:
            t.join()
        expect(not self.errors, "only 200, 409 or 503: %s" % self.errors[:5])
        expect(not (self.acked & self.refused), "no batch both counted and refused")
        return self


def every_node_counts(c, cid, want, nodes=None):
    """Within a checkpoint and a poll interval, every node's live estimates
    hold exactly `want` reports."""
    nodes = nodes if nodes is not None else range(len(c.nodes))

    def counted():
        return [n_reports(c.nodes[i], cid) for i in nodes]
    got = []
    wait_for("estimates of %d reports on every node" % want,
             lambda: got.append(counted()) or all(n == want for n in got[-1]))
    return got[-1]


@SUITE.test
def batches_spread_and_resent_across_nodes_count_once():
    reset_db()
    c = Cluster()
    try:
        create_poll(c, "p")
        load = Load(c, "p").run(2.0)
        expect(len(load.acked) > 100, "the load was acknowledged (%d)" % len(load.acked))
        every_node_counts(c, "p", 4 * len(load.acked))
        s, doc, _ = c.nodes[1].json("GET", "/v1/campaigns/p/estimates")
        validate(doc, "estimates")
        nodes = doc.get("nodes") or {}
        peers = sorted(p["node"] for p in nodes.get("peers", []))
        expect(nodes.get("node") == "node-1" and peers == ["node-0", "node-2"] and
               isinstance(nodes.get("complete_as_of"), int),
               "the estimates say whose reports they hold: %s" % nodes)
        print("  %d batches acknowledged across 3 nodes, %d answered only on a resend"
              % (len(load.acked), len(load.unanswered)), flush=True)
        c.stop()
    finally:
        c.cleanup()


@SUITE.test
def a_node_killed_under_load_and_restarted_loses_nothing():
    reset_db()
    c = Cluster()
    try:
        create_poll(c, "p")
        load = Load(c, "p")

        def kill_node_1():
            c.nodes[1].kill()  # requests in flight to it die; new ones are refused
            time.sleep(0.3)
            with load.lock:
                load.live.discard(1)

        load.run(1.5, during=kill_node_1)
        expect(load.unanswered, "some batches sent to the killed node were resent")
        c.nodes[1].start()  # same id, same rows
        every_node_counts(c, "p", 4 * len(load.acked))
        print("  %d acknowledged, %d resent to another node around the kill"
              % (len(load.acked), len(load.unanswered)), flush=True)
        c.stop()
    finally:
        c.cleanup()


@SUITE.test
def a_round_closed_while_three_nodes_ingest_counts_each_batch_once_or_refuses_it():
    reset_db()
    c = Cluster()
    try:
        create_mail(c)
        load = Load(c, "mail")
        closed = {}

        def close_on_node_2():
            s, doc, _ = c.admin(2, "POST", "/v1/campaigns/mail/rounds", {"round": 1})
            closed["answer"] = (s, doc)

        load.run(1.5, during=close_on_node_2)
        s, doc = closed["answer"]
        expect(s == 201 and doc["closed"] == 1, "closed: %s %s" % (s, doc))
        expect(len(load.refused) > 0, "batches after the close were refused")
        frozen = n_reports(c.nodes[0], "mail", rnd=1)
        expect(frozen == 4 * len(load.acked) == doc["n_reports"],
               "round 1 froze %d reports (answer %d) for %d acknowledged batches"
               % (frozen, doc["n_reports"], len(load.acked)))
        # every node moves on to round 2 within a poll interval
        wait_for("every node on round 2", lambda: all(
            h.json("GET", "/v1/campaigns/mail")[1]["round"] == 2 for h in c.nodes))
        for i, h in enumerate(c.nodes):
            s, doc, _ = h.json("POST", "/v1/reports", {
                "campaign": "mail", "round": 1, "batch_id": batch_id(), "reports": [0]})
            expect(s == 409, "node %d refuses round 1: %s %s" % (i, s, doc))
        print("  %d batches counted in round 1, %d refused after the close"
              % (len(load.acked), len(load.refused)), flush=True)
        c.stop()
    finally:
        c.cleanup()


@SUITE.test
def a_node_that_never_comes_back_is_counted_by_the_close():
    reset_db()
    c = Cluster()
    try:
        create_mail(c)
        load = Load(c, "mail").run(1.0)
        c.nodes[2].kill()  # its last batches may be after its last checkpoint
        s, doc, _ = c.admin(0, "POST", "/v1/campaigns/mail/rounds", {"round": 1})
        expect(s == 201 and doc["n_reports"] == 4 * len(load.acked),
               "the close holds every acknowledged batch: %s vs %d" %
               (doc, 4 * len(load.acked)))
        c.stop()
    finally:
        c.cleanup()


@SUITE.test
def a_database_restart_under_load_loses_nothing():
    reset_db()
    c = Cluster()
    try:
        create_poll(c, "p")

        def restart_db():
            PG.stop(cleanup=False)
            time.sleep(1.0)
            PG.start()

        load = Load(c, "p").run(1.0, during=restart_db)
        every_node_counts(c, "p", 4 * len(load.acked))
        print("  %d acknowledged, %d answered only after the database came back"
              % (len(load.acked), len(load.unanswered)), flush=True)
        for h in c.nodes:
            wait_for("ready again", lambda: h.json("GET", "/readyz")[0] == 200)
        c.stop()
    finally:
        c.cleanup()


def main():
    global BUILD, PG
    if len(sys.argv) != 2:
        sys.exit("usage: test_cluster.py BUILD_DIR")
    BUILD = os.path.abspath(sys.argv[1])
    PG = Postgres()
    try:
        batches_spread_and_resent_across_nodes_count_once()
        a_node_killed_under_load_and_restarted_loses_nothing()
        a_round_closed_while_three_nodes_ingest_counts_each_batch_once_or_refuses_it()
        a_node_that_never_comes_back_is_counted_by_the_close()
        a_database_restart_under_load_loses_nothing()
    finally:
        PG.stop()
    SUITE.finish()


if __name__ == "__main__":
    main()
