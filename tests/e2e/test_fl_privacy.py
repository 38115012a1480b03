#!/usr/bin/env python3
"""The federated path's privacy as apps really call it, end to end.

hush-sim fl runs 1,000 real agents (libhush-device) against a real hushd on
a small made-up spam/ham corpus, each device calling hush_agent_train_round
k = 1, 2, 5 or 24 times in every round, as an app that trains whenever it is
charging, idle and on Wi-Fi does. For every k:

- the share of devices in a round's sample stays within 4 standard
  deviations of q (Binomial(1000, q) per round, averaged over the rounds):
  the participation coin is decided once per (device, task, round), so the
  accountant's Poisson sampling holds (before: 0.10 / 0.19 / 0.41 / 0.92);
- the epsilon /privacy reports equals `hush-privacy dpfedavg` (to 1e-6; the
  line carries 12 significant digits) for the same
  q, noise multiplier, rounds and delta.

And the planning tool's distributed-DP and secure-aggregation commands
agree with the accountant: `hush-privacy ddg` meets its target, and where
the sum of discrete Gaussians' extra term is negligible its epsilon is the
plain Gaussian mechanism's (dpfedavg at sampling rate 1) for the noise it
realizes; `hush-privacy secagg` gives degree 72 for 1,000 devices, 33%
dropout, 5% dishonest.

Usage: test_fl_privacy.py BUILD_DIR
"""
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hushlib import Suite  # noqa: E402

HAM = "meeting agenda invoice flight review patch dinner garden notes team build".split()
SPAM = "offer free click money winner prize deal subscribe discount casino cash".split()
FILLER = "the a and of to in for with on this that we you it is be".split()

DEVICES, ROUNDS, RATE = 1000, 2, 0.1


def corpus(path, rng):
    with open(path, "w") as f:
        for i in range(1600):
            spam = i % 2 == 1
            words = SPAM if spam else HAM
            text = " ".join(rng.choice(words + FILLER) for _ in range(rng.randint(8, 20)))
            f.write(json.dumps({"id": "m%d" % i, "group": "spam-1" if spam else "easy-ham-1",
                                "text": text}) + "\n")


def dpfedavg(build, q, z, rounds, delta):
    out = subprocess.run([os.path.join(build, "bin", "hush-privacy"), "dpfedavg",
                          "--sampling-rate", repr(q), "--noise-multiplier", repr(z),
                          "--rounds", str(rounds), "--delta", repr(delta)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["epsilon"]


def tool(build, *args):
    out = subprocess.run([os.path.join(build, "bin", "hush-privacy")] + list(args),
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def the_shuffle_planner_prints_the_published_figures(build):
    """hush-privacy shuffle: Feldman, McMillan and Talwar's example (closed
    form 0.5378040242, numerical between 0.16754 and 0.17279), nothing
    claimed outside the closed form's regime, bad arguments refused."""
    doc = tool(build, "shuffle", "--reports", "100000", "--epsilon0", "4", "--delta", "1e-6")
    if not (abs(doc["closed_form"] - 0.5378040242) < 1e-9 and
            0.16754 <= doc["numerical_lower"] <= doc["numerical_upper"] <= 0.17279 and
            doc["amplified"] and "collude" in doc["assumes"]):
        raise AssertionError("shuffle: %r" % doc)
    small = tool(build, "shuffle", "--reports", "1000", "--epsilon0", "4", "--delta", "1e-6")
    if small["closed_form"] is not None:
        raise AssertionError("a closed form outside its regime: %r" % small)
    few = tool(build, "shuffle", "--reports", "3", "--epsilon0", "4", "--delta", "1e-9")
    if few["amplified"]:
        raise AssertionError("3 reports amplify nothing: %r" % few)
    for bad in (["--reports", "1"], ["--epsilon0", "0"], ["--delta", "1"]):
        args = {"--reports": "100", "--epsilon0": "2", "--delta": "1e-6"}
        args[bad[0]] = bad[1]
        r = subprocess.run([os.path.join(build, "bin", "hush-privacy"), "shuffle"] +
                           [x for kv in args.items() for x in kv], capture_output=True, text=True)
        if r.returncode != 2 or "shuffle needs" not in r.stderr:
            raise AssertionError("%s: %s %s" % (bad, r.returncode, r.stderr))


def planning_tools_agree_with_the_accountant(build):
    for target in (8.0, 4.0):
        plan = tool(build, "ddg", "--dim", "257", "--clip", "2", "--min-devices", "60",
                    "--max-devices", "150", "--bits", "20", "--participations", "6",
                    "--delta", "1e-5", "--target-epsilon", repr(target))
        if not plan["epsilon"] <= target:
            raise AssertionError("ddg plan misses its target: %r" % plan)
        gauss = dpfedavg(build, 1.0, plan["noise_multiplier"], 6, 1e-5)
        if abs(plan["epsilon"] - gauss) > 1e-6 * gauss:
            raise AssertionError("ddg epsilon %r, Gaussian mechanism %r"
                                 % (plan["epsilon"], gauss))
        print("  ddg eps %g: noise multiplier %.4f, sigma %d lattice units"
              % (target, plan["noise_multiplier"], plan["sigma"]), flush=True)
    sa = tool(build, "secagg", "--devices", "1000", "--dropout", "0.33", "--dishonest",
              "0.05")
    if (sa["k"], sa["t"], sa["q"]) != (72, 23, 526):
        raise AssertionError("secagg parameters: %r" % sa)


def participation(build, work, path, k):
    """k calls of the participation coin per round: the share taking part
    is q within 4 standard errors, and /privacy's epsilon is the
    accountant's for the same q, z, rounds and delta."""
    sd = math.sqrt(RATE * (1 - RATE) / (DEVICES * ROUNDS))
    p = subprocess.run(
        [os.path.join(build, "bin", "hush-sim"), "fl", "--corpus", path,
         "--devices", str(DEVICES), "--rounds", str(ROUNDS), "--rate", str(RATE),
         "--epsilon", "8", "--only", "dp-fedavg", "--calls", str(k),
         "--seed", str(10 + k), "--local-epochs", "1",
         "--out", os.path.join(work, "out%d" % k), "--json"],
        capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise AssertionError("hush-sim fl failed:\n%s%s" % (p.stdout, p.stderr))
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    row = [r for r in rows if r.get("setting") == "dp-fedavg"][0]
    part = row["participation"]
    if abs(part - RATE) > 4 * sd:
        raise AssertionError("k = %d calls: participation %.4f, q = %g +- %.4f"
                             % (k, part, RATE, 4 * sd))
    want = dpfedavg(build, row["sampling_rate"], row["noise_multiplier"],
                    row["rounds"], row["delta"])
    got = row["epsilon_spent"]
    if abs(got - want) > 1e-6 * want:
        raise AssertionError("k = %d: /privacy epsilon %r, accountant %r" % (k, got, want))
    print("  participation %.4f (q %g), epsilon %.6f" % (part, RATE, got), flush=True)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: test_fl_privacy.py BUILD_DIR")
    build = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="hush-e2e-flp-")
    suite = Suite("fl privacy")
    try:
        path = os.path.join(work, "corpus.jsonl")
        corpus(path, random.Random(3))
        suite.run("planning_tools_agree_with_the_accountant",
                  planning_tools_agree_with_the_accountant, build)
        suite.run("the_shuffle_planner_prints_the_published_figures",
                  the_shuffle_planner_prints_the_published_figures, build)
        for k in (1, 2, 5, 24):
            suite.run("participation_with_%d_calls_per_round" % k, participation, build,
                      work, path, k)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    suite.finish()


if __name__ == "__main__":
    main()
