#!/usr/bin/env python3
"""hush-sim end to end on a small made-up corpus (the real one is fetched
for benchmarks only): a real hushd, real agents, every round's line, the
CSV, and the loop doing its job.

Private "emails" are about five topics; the initial synthetic set is
sentences from other topics. With exact votes (epsilon inf) the coverage of
the private emails must rise over the rounds and never fall.

Usage: test_sim.py BUILD_DIR
"""
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hushlib import Suite  # noqa: E402

TOPICS = {
    "meeting": "meeting agenda tuesday room slides notes minutes calendar invite team".split(),
    "invoice": "invoice payment due amount account billing receipt october paid bank".split(),
    "travel": "flight hotel booking airport itinerary passport luggage train ticket".split(),
    "code": "patch review commit branch build test release merge bug compiler".split(),
    "family": "dinner weekend kids birthday grandma photos garden holiday cake".split(),
}
PUBLIC = "offer free click money winner prize deal subscribe discount limited casino".split()
FILLER = "the a and of to in for with on this that we you it is be".split()


def sentence(rng, words, n):
    return " ".join(rng.choice(words + FILLER) for _ in range(n)).capitalize() + "."


def loop_end_to_end(build, rng, work):
    corpus = os.path.join(work, "corpus.jsonl")
    with open(corpus, "w") as f:
        for i in range(240):
            topic = list(TOPICS)[i % 5]
            text = " ".join(sentence(rng, TOPICS[topic], rng.randint(6, 12))
                            for _ in range(rng.randint(2, 4)))
            f.write(json.dumps({"id": "p%d" % i, "group": "easy-ham-1", "text": text}) + "\n")
        for i in range(120):
            text = " ".join(sentence(rng, PUBLIC, rng.randint(6, 10)) for _ in range(3))
            f.write(json.dumps({"id": "s%d" % i, "group": "spam-1", "text": text}) + "\n")
    # the word vectors of the default "sif" embedder: made up too, the
    # frequent words first, each topic along its own axis
    vectors = os.path.join(work, "vectors.txt")
    with open(vectors, "w") as f:
        axes = {w: t for t, ws in enumerate(list(TOPICS.values()) + [PUBLIC]) for w in ws}
        words = FILLER + ["zq%s%s" % (chr(97 + i // 26), chr(97 + i % 26))
                          for i in range(100 - len(FILLER))] + list(axes)
        for w in words:
            v = [rng.gauss(0, 0.3) for _ in range(16)]
            if w in axes:
                v[axes[w]] += 3.0
            else:
                v[15] += 2.0  # what every text shares
            f.write(w + " " + " ".join("%.4f" % x for x in v) + "\n")
    table = os.path.join(work, "table.hsif")
    subprocess.run([os.path.join(build, "bin", "hush-embed"), "sif-table", "--out", table,
                    vectors], check=True, capture_output=True)
    out = os.path.join(work, "out")
    p = subprocess.run([os.path.join(build, "bin", "hush-sim"), "--corpus", corpus,
                        "--devices", "3000", "--candidates", "60", "--rounds", "3",
                        "--epsilon", "2,inf", "--real-devices", "20", "--out", out,
                        "--json", "--no-plot", "--word-vectors", table],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise AssertionError("hush-sim failed:\n%s%s" % (p.stdout, p.stderr))
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(rows) == 24, \
        "two epsilons x (loop, shuffled votes, concat) x rounds 0..3: %d lines" % len(rows)
    keys = {"bench", "split", "seed", "epsilon", "control", "round", "fd", "fd_oracle",
            "gap", "fd_judge2", "gap_judge2", "ncov", "ovl", "precision", "auc", "words",
            "words_private", "pairwise", "twins", "coverage", "info"}
    for r in rows:
        assert keys <= set(r), "fields %s" % r
        assert r["bench"] == "refine" and r["split"] == "default" and r["seed"] == 1, r
        for k in ("ncov", "ovl", "precision", "auc", "twins"):
            assert 0 <= r[k] <= 1, "%s out of [0, 1]: %s" % (k, r)
        assert r["fd"] >= -1e-9 and r["fd_oracle"] >= -1e-9 and r["words"] > 0, r
        assert (r["info"] is None) == (r["control"] != "none"), "info: %s" % r
        if r["control"] == "concat":
            assert r["lineages"] == -1, "concat has no lineage: %s" % r
        else:
            assert 1 <= r["lineages"] <= 60, "lineages: %s" % r
    for control in ("none", "shuffled-votes", "concat"):
        assert len([r for r in rows if r["control"] == control]) == 8, control
    # the oracle is closer to the private emails than the initial set
    first = [r for r in rows if r["round"] == 0 and r["control"] == "none"][0]
    assert first["fd_oracle"] < first["fd"], "oracle %s" % first
    exact = [r for r in rows if r["epsilon"] == "inf" and r["control"] == "none"]
    assert exact[0]["lineages"] == 60 and \
        all(b["lineages"] <= a["lineages"] for a, b in zip(exact, exact[1:])), \
        "lineages only die out: %s" % [r["lineages"] for r in exact]
    assert [r["round"] for r in exact] == [0, 1, 2, 3], exact
    cov = [r["coverage"] for r in exact]
    assert all(b >= a - 1e-9 for a, b in zip(cov, cov[1:])), "coverage fell: %s" % cov
    assert cov[-1] > cov[0] + 0.02, "the loop moved the set toward the data: %s" % cov
    with open(os.path.join(out, "refine.csv")) as f:
        table = list(csv.DictReader(f))
    assert len(table) == 24 and table[-1]["epsilon"] == "inf", "CSV %s" % table[-1]
    last = [t for t in table if t["control"] == "none"][-1]
    assert int(last["n_reports"]) == 3000 and int(last["kept"]) >= 1, last
    leftovers = [d for d in os.listdir(out) if d.startswith("hushd-")]
    assert leftovers == [], "hushd directories left: %s" % leftovers
    print("  coverage at eps inf by round: %s" % " ".join("%.4f" % c for c in cov))


def spam_corpus(path, rng, n, spam_every):
    """n made-up emails in the corpus's JSON lines, every spam_every-th spam
    (public words), the rest ham on five topics."""
    with open(path, "w") as f:
        for i in range(n):
            spam = i % spam_every == 0
            words = PUBLIC if spam else TOPICS[list(TOPICS)[i % 5]]
            text = " ".join(sentence(rng, words, rng.randint(6, 10)) for _ in range(2))
            f.write(json.dumps({"group": "spam-1" if spam else "easy-ham-1",
                                "text": text}) + "\n")
    return path


def fl_secagg_end_to_end(build, rng, work):
    """hush-sim fl's secagg-dp setting on made-up spam: real devices run
    every stage of secure aggregation over HTTP against a real hushd,
    which releases each round's sum; the accountant's epsilon stays within
    the target, and a device takes part at most --sa-participations times
    (here 2 of 3 rounds at q = 0.5: some devices are turned away)."""
    corpus = spam_corpus(os.path.join(work, "spam.jsonl"), rng, 300, 3)
    out = os.path.join(work, "fl-out")
    p = subprocess.run([os.path.join(build, "bin", "hush-sim"), "fl", "--corpus", corpus,
                        "--devices", "60", "--rounds", "3", "--rate", "0.5",
                        "--only", "secagg-dp", "--epsilon", "8", "--sa-min-devices", "12",
                        "--sa-max-devices", "60", "--sa-participations", "2",
                        # a keys stage long enough for every sampled device
                        # to post under a sanitizer build on a loaded machine
                        "--sa-stage-seconds", "3",
                        "--out", out, "--json"],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise AssertionError("hush-sim fl failed:\n%s%s" % (p.stdout, p.stderr))
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 1 and rows[0]["setting"] == "secagg-dp", rows
    r = rows[0]
    assert r["rounds"] == 3, "every round released its sum: %s" % r
    # 60 devices at q = 0.5 over 3 rounds: about 90 sampled, and no device
    # past 2 participations
    assert 36 <= r["updates"] <= 120, r
    assert r["epsilon_spent"] <= 8 + 1e-9 and r["max_participations"] == 2, r
    assert r["distributed"]["min_devices"] == 12 and r["distributed"]["bits"] == 20, r
    assert 0 <= r["accuracy"] <= 1, r
    leftovers = [d for d in os.listdir(out) if d.startswith("hushd-")]
    assert leftovers == [], "hushd directories left: %s" % leftovers


def fl_personalization_rows(build, rng, work):
    """hush-sim fl --split label-skew:0.1 --model mlp:8 on made-up spam:
    every setting's row (global, Ditto with per-device lambda, FedPer,
    local-only, DP-FedAvg) for the same devices, each device holding 10
    test emails of its own; gains are paired against the global model, with
    the interval around them; a skewed split makes personal models pay."""
    corpus = spam_corpus(os.path.join(work, "spam-split.jsonl"), rng, 400, 2)
    out = os.path.join(work, "fl-split-out")
    p = subprocess.run([os.path.join(build, "bin", "hush-sim"), "fl", "--corpus", corpus,
                        "--devices", "40", "--rounds", "4", "--rate", "0.5",
                        "--split", "label-skew:0.1", "--model", "mlp:8",
                        "--ditto-lambda", "0.01,0.1,1", "--epsilon", "8",
                        "--local-lr", "0.3", "--out", out, "--json"],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise AssertionError("hush-sim fl failed:\n%s%s" % (p.stdout, p.stderr))
    rows = {r["setting"]: r for r in
            (json.loads(line) for line in p.stdout.splitlines() if line.startswith("{"))}
    assert set(rows) == {"centralized", "majority", "fedavg", "ditto", "fedper", "local",
                         "dp-fedavg"}, rows
    for name, r in rows.items():
        assert r["split"] == "label-skew:0.1" and r["model"] == "mlp:8", r
        assert 0 <= r["accuracy"] <= 1, r
        if name not in ("centralized", "fedavg", "majority"):
            assert r["gain_ci_low"] <= r["gain"] <= r["gain_ci_high"], r
            assert 0 <= r["worse_share"] <= 1, r
            # the gain is paired against the global model's accuracy
            assert abs(r["accuracy"] - r["gain"] - rows["fedavg"]["accuracy"]) < 1e-9, r
    assert rows["fedavg"]["test_per_device"] == 10 and rows["ditto"]["devices"] == 40
    assert rows["ditto"]["ditto_lambda"] == [0.01, 0.1, 1], rows["ditto"]
    assert rows["dp-fedavg"]["epsilon"] == 8 and rows["dp-fedavg"]["epsilon_spent"] <= 8
    # inboxes nearly all spam or all ham: a personal model learns the prior
    assert rows["ditto"]["gain"] > 0 and rows["local"]["gain"] > 0, rows
    print("  ditto gain %+.3f [%+.3f, %+.3f], local %+.3f" % (
        rows["ditto"]["gain"], rows["ditto"]["gain_ci_low"], rows["ditto"]["gain_ci_high"],
        rows["local"]["gain"]))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: test_sim.py BUILD_DIR")
    build = os.path.abspath(sys.argv[1])
    rng = random.Random(5)
    work = tempfile.mkdtemp(prefix="hush-e2e-sim-")
    suite = Suite("sim")
    try:
        suite.run("hush_sim_runs_the_loop_end_to_end", loop_end_to_end, build, rng, work)
        suite.run("hush_sim_fl_runs_secure_aggregation_end_to_end", fl_secagg_end_to_end,
                  build, rng, work)
        suite.run("hush_sim_fl_reports_paired_personal_gains", fl_personalization_rows,
                  build, rng, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    suite.finish()


if __name__ == "__main__":
    main()
