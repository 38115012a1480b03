#!/usr/bin/env python3
"""End-to-end test of devices and collector: a real hushd and 50 hush-agent
processes on loopback.

Each device holds local texts from a known distribution: 46 devices hold
copies of one synthetic candidate each (18, 13, 9 and 6 devices for the four
candidates), 4 hold private texts that match no candidate (they vote "none").
Every device sends the campaign's daily allowance of R reports, so the true
count of each item is exactly R times its number of devices.  The test then
checks what an analyst would:

  - the collector counted every report once (n_reports = 50 R);
  - the estimates' top items are the true top items, in order, and each true
    count lies within its 95% confidence interval;
  - the standard errors are what GRR's variance formula gives for n, epsilon
    and the domain (docs/privacy.md), to 1%;
  - a second run of every device sends nothing (the ledger holds across
    processes), and --dry-run prints what it would send without sending;
  - the poll (--value) path counts its reports too;
  - no local text reaches the collector's disk or logs.

The agents run with --seed, so the run is reproducible.

Usage: test_device.py BUILD_DIR
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hushlib import Hushd, Suite, expect  # noqa: E402

R = 10            # reports per device per day
EPSILON = 4.0     # per report
CANDIDATES = [
    "Lunch meeting moved to Thursday at noon in the small room",
    "Your invoice for October is attached, payment due in thirty days",
    "The package you ordered has shipped and will arrive on Monday",
    "Reminder: quarterly security training must be completed this week",
]
DEVICES = [18, 13, 9, 6]   # devices per candidate; then the private ones
PRIVATE = 4
PRIVATE_TEXTS = ["zebra quokka xylophone %d owes me 4921 kroner" % i for i in range(5)]
POLL = ["red heart", "fire", "rocket"]
SUITE = Suite("devices")
test = SUITE.test


def grr_pq(epsilon, d):
    """GRR's probabilities of reporting the true value (p) and any given
    other value (q)."""
    e = math.exp(epsilon)
    return e / (e + d - 1), 1 / (e + d - 1)


class Fleet:
    def __init__(self, build):
        self.build = build
        self.agent = os.path.join(build, "bin", "hush-agent")
        self.dir = tempfile.mkdtemp(prefix="hush-e2e-devices-")
        self.devices = []
        topic_of = []
        for t, n in enumerate(DEVICES):
            topic_of += [t] * n
        topic_of += [None] * PRIVATE
        for i, topic in enumerate(topic_of):
            d = os.path.join(self.dir, "device%02d" % i)
            os.makedirs(d)
            texts = [CANDIDATES[topic]] * 5 if topic is not None else PRIVATE_TEXTS
            with open(os.path.join(d, "samples.jsonl"), "w") as f:
                for t in texts:
                    f.write(json.dumps({"text": t}) + "\n")
            self.devices.append({"dir": d, "topic": topic, "value": POLL[i % 3]})

    def run(self, hushd, key, i, extra=()):
        d = self.devices[i]
        cmd = [self.agent, "run", "--collector", hushd.base, "--key", key,
               "--samples", os.path.join(d["dir"], "samples.jsonl"),
               "--state", os.path.join(d["dir"], "state"), "--value", d["value"],
               "--seed", str(1000 + i)] + list(extra)
        if i % 2:
            cmd.append("--seal")
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
        return p.returncode, lines, p.stderr

    def run_all(self, hushd, key, extra=()):
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(lambda i: self.run(hushd, key, i, extra),
                                 range(len(self.devices))))

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def setup(h):
    s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
        "id": "mail", "name": "Synthetic mail", "kind": "synthetic",
        "candidates": [{"id": "s%d" % i, "text": t} for i, t in enumerate(CANDIDATES)],
        "epsilon": EPSILON, "mechanism": "grr", "match_threshold": 0.5,
        "embedder": {"kind": "hashed-ngram", "version": 1, "dim": 128, "seed": 3},
        "budget": {"reports_per_device_per_day": R, "epsilon_per_device_per_day": R * EPSILON},
        "min_reports": 0})
    expect(s == 201, "create mail: %s %s" % (s, doc))
    s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
        "id": "emoji", "name": "Emoji", "kind": "poll", "candidates": POLL,
        "epsilon": 2.0, "mechanism": "grr", "min_reports": 0})
    expect(s == 201, "create emoji: %s %s" % (s, doc))
    s, keys, _ = h.json("GET", "/v1/keys")
    return keys["signing_key"]


@test
def fifty_devices_give_estimates_that_cover_the_truth():
    h = Hushd(HUSHD)
    fleet = Fleet(BUILD)
    try:
        key = setup(h)
        # what a device would send, without sending it
        code, lines, err = fleet.run(h, key, 0, ["--dry-run"])
        expect(code == 0, "dry run: %s" % err)
        plan = {x["campaign"]: x for x in lines}
        expect(plan["mail"]["would_send"] == R and plan["emoji"]["would_send"] == 1,
               "dry-run plan %s" % lines)
        s, est, _ = h.json("GET", "/v1/campaigns/mail/estimates")
        expect(est["n_reports"] == 0, "a dry run sends nothing: %s" % est)

        runs = fleet.run_all(h, key)
        for i, (code, lines, err) in enumerate(runs):
            expect(code == 0, "device %d failed: %s %s" % (i, lines, err))
            got = {x["campaign"]: x for x in lines}
            expect(got["mail"].get("accepted") == R, "device %d mail: %s" % (i, lines))
            expect(got["emoji"].get("accepted") == 1, "device %d emoji: %s" % (i, lines))
        n = len(fleet.devices) * R
        s, est, _ = h.json("GET", "/v1/campaigns/mail/estimates?top=5")
        expect(s == 200 and est["n_reports"] == n, "n_reports %s" % est.get("n_reports"))
        truth = {"s%d" % t: c * R for t, c in enumerate(DEVICES)}
        truth["none"] = PRIVATE * R
        order = sorted(truth, key=lambda k: -truth[k])
        items = {x["candidate_id"]: x for x in est["items"]}
        ranked = [x["candidate_id"] for x in est["items"]]
        expect(ranked[:4] == order[:4], "top items %s, truth %s" % (ranked, order))
        p, q = grr_pq(EPSILON, 5)
        for cid, c in truth.items():
            it = items[cid]
            lo, hi = it["ci95"]
            expect(lo <= c <= hi, "%s: true %d outside [%.1f, %.1f] (estimate %.1f)"
                   % (cid, c, lo, hi, it["estimate"]))
            # the plug-in variance of GRR's unbiased count (docs/privacy.md)
            c_hat = min(max(it["estimate"], 0.0), n)
            var = n * q * (1 - q) / (p - q) ** 2 + c_hat * (1 - p - q) / (p - q)
            expect(abs(it["std_error"] - math.sqrt(var)) <= 0.01 * math.sqrt(var),
                   "%s: std_error %.4f, formula %.4f" % (cid, it["std_error"], math.sqrt(var)))
        print("  mail, %d reports: %s" % (n, ", ".join(
            "%s true %d est %.1f [%.1f, %.1f]" % (cid, truth[cid], items[cid]["estimate"],
                                                 *items[cid]["ci95"]) for cid in order)))
        s, est, _ = h.json("GET", "/v1/campaigns/emoji/estimates")
        expect(est["n_reports"] == len(fleet.devices), "poll reports %s" % est["n_reports"])

        # a second participation the same day sends nothing: the ledger holds
        for i, (code, lines, err) in enumerate(fleet.run_all(h, key)):
            expect(code == 0, "device %d rerun failed: %s" % (i, err))
            expect(all("skipped" in x for x in lines), "device %d rerun sent: %s" % (i, lines))
        s, est, _ = h.json("GET", "/v1/campaigns/mail/estimates")
        expect(est["n_reports"] == n, "no more reports after the budget is spent")

        # no local text on the collector's side: its files and its logs
        h.stop()
        for root, _, files in os.walk(h.dir):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    data = f.read()
                for t in PRIVATE_TEXTS:
                    for w in t.split():
                        if len(w) >= 5:
                            expect(w.encode() not in data,
                                   "%s holds a word of a private text: %s" % (name, w))
    finally:
        h.cleanup()
        fleet.cleanup()


def main():
    global HUSHD, BUILD
    if len(sys.argv) != 2:
        sys.exit("usage: test_device.py BUILD_DIR")
    BUILD = os.path.abspath(sys.argv[1])
    HUSHD = os.path.join(BUILD, "bin", "hushd")
    for t in [fifty_devices_give_estimates_that_cover_the_truth]:
        t()
    SUITE.finish()


if __name__ == "__main__":
    main()
