#!/usr/bin/env python3
"""End-to-end tests of federated learning tasks on a real hushd.

  - a task's publication is signed and describes the model;
  - the round state machine: updates counted once (a repeated batch_id is a
    duplicate), a round closing by count and by an admin close, late
    updates refused with 409, a close without updates refused;
  - bad updates (wrong size, NaN or infinity, a norm above the clip, the
    wrong round, the wrong model, garbage) are refused and change nothing;
  - the privacy accountant: epsilon after each round matches
    hush-privacy dpfedavg, and a task stops before exceeding its target;
  - the open round's updates survive a restart (kill -9).

Usage: test_models.py BUILD_DIR
"""
import base64
import json
import math
import os
import random
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hushlib import Hushd, Sodium, batch_id, validate, Suite, expect  # noqa: E402

BUILD = None
SUITE = Suite("models")
test = SUITE.test
DIM = 16
N = DIM + 1  # logistic: weights and bias


def task(h, **over):
    body = {"id": "spam", "name": "Spam", "architecture": {"kind": "logistic"},
            "embedder": {"kind": "hashed-ngram", "version": 1, "dim": DIM, "seed": 2},
            "labels": ["ham", "spam"], "clip_norm": 1.0, "expected_clients": 3,
            "population": 30, "rounds": 10, "min_clients": 3,
            "local": {"epochs": 1, "batch": 4, "lr": 0.1}}
    if "noise_multiplier" not in over and "target_epsilon" not in over:
        body["dp"] = "none"   # no central noise must be said, never implied
    body.update(over)
    body = {k: v for k, v in body.items() if v is not None}
    validate(body, "model-create")
    s, doc, _ = h.json("POST", "/v1/models", admin=True, body=body)
    expect(s == 201, "create: %s %s" % (s, doc))
    validate(doc, "model-created")
    s2, lst, _ = h.json("GET", "/v1/models")
    validate(lst, "model-list")
    return doc


def vec(values):
    return base64.b64encode(struct.pack("<%df" % len(values), *values)).decode()


def update(h, rnd, values, bid=None, model="spam", **extra):
    body = {"model": model, "round": rnd, "batch_id": bid or batch_id(), "update": vec(values),
            "unclipped": True}
    body.update(extra)
    if not extra and model == "spam":
        validate(body, "model-update")
    s, doc, hdrs = h.json("POST", "/v1/models/spam/updates", body=body)
    if s == 200:
        validate(doc, "model-update-ack")
    return s, doc, hdrs


def weights(h):
    s, body, hdrs = h.request("GET", "/v1/models/spam")
    expect(s == 200, "publication %s" % s)
    pub = json.loads(body)
    validate(pub, "model-publication")
    raw = base64.b64decode(pub["weights"])
    expect(raw[:8] == b"HUSHMDL1", "model format")
    return pub, list(struct.unpack("<%df" % N, raw[28:28 + 4 * N])), body, hdrs


@test
def publication_is_signed_and_rounds_count_each_update_once():
    h = Hushd(os.path.join(BUILD, "bin", "hushd"))
    try:
        task(h, clip_norm=2.0)  # no noise: FedAvg, mean over the updates
        pub, w0, body, hdrs = weights(h)
        pk = base64.b64decode(h.json("GET", "/v1/keys")[1]["signing_key"])
        expect(Sodium().verify(base64.b64decode(hdrs["Hush-Signature"]), body, pk), "signed")
        expect(pub["round"] == 1 and pub["architecture"]["inputs"] == DIM and
               pub["labels"] == ["ham", "spam"] and pub["clip_norm"] == 2.0, "pub %s" % pub)
        bid = batch_id()
        s, doc, _ = update(h, 1, [0.1] * N, bid)
        expect(s == 200 and doc["accepted"] and not doc["duplicate"], "first %s" % doc)
        s, doc, _ = update(h, 1, [0.1] * N, bid)
        expect(s == 200 and doc["duplicate"] and not doc["accepted"], "resent %s" % doc)
        s, doc, _ = update(h, 1, [0.3] * N)
        expect(s == 200 and "round_closed" not in doc, "second %s" % doc)
        # min_clients (3) is a floor for closing ...
        s, doc, _ = h.json("POST", "/v1/models/spam/rounds", admin=True)
        expect(s == 409 and doc["error"]["code"] == "too_few_updates", "floor %s" % doc)
        # ... never a cap: the third and the fourth update still count
        for v in (-0.1, 0.1):
            s, doc, _ = update(h, 1, [v] * N)
            expect(s == 200 and doc["accepted"] and "round_closed" not in doc,
                   "the round stays open: %s" % doc)
        pub, _, _, _ = weights(h)
        expect(pub["round"] == 1, "still round 1 until it is closed")
        s, doc, _ = h.json("POST", "/v1/models/spam/rounds", admin=True)
        expect(s == 201 and doc["closed"] == 1 and doc["updates"] == 4, "close %s" % doc)
        pub, w1, _, _ = weights(h)
        expect(pub["round"] == 2, "round 2 open")
        for a, b in zip(w0, w1):  # FedAvg, server lr 1: w += mean(0.1, 0.3, -0.1, 0.1)
            expect(abs((b - a) - 0.1) < 1e-6, "moved by the mean: %g -> %g" % (a, b))
        s, doc, _ = update(h, 1, [0.1] * N)
        expect(s == 409 and doc["error"]["code"] == "round_closed", "late %s" % doc)
        s, doc, _ = h.json("POST", "/v1/models/spam/rounds", admin=True)
        expect(s == 409 and doc["error"]["code"] == "no_updates", "empty close %s" % doc)
        for _ in range(3):
            update(h, 2, [0.2] * N)
        s, doc, _ = h.json("POST", "/v1/models/spam/rounds")
        expect(s == 401, "closing needs the token")
        s, doc, _ = h.json("POST", "/v1/models/spam/rounds", admin=True)
        expect(s == 201 and doc["closed"] == 2 and doc["updates"] == 3, "admin close %s" % doc)
        s, hist, _ = h.json("GET", "/v1/models/spam/rounds")
        expect([r["updates"] for r in hist["rounds"]] == [4, 3], "history %s" % hist)
        s, lst, _ = h.json("GET", "/v1/models")
        expect(lst["models"][0]["round"] == 3, "list %s" % lst)
    finally:
        h.cleanup()


@test
def bad_updates_are_refused_and_change_nothing():
    h = Hushd(os.path.join(BUILD, "bin", "hushd"))
    try:
        task(h, min_clients=2)
        update(h, 1, [0.05] * N)
        nan = base64.b64encode(struct.pack("<%df" % N, *([math.nan] + [0.0] * (N - 1)))).decode()
        inf = base64.b64encode(struct.pack("<%df" % N, *([math.inf] + [0.0] * (N - 1)))).decode()
        cases = [
            ({"update": vec([0.1] * (N - 1))}, 400, "invalid_update"),   # wrong size
            ({"update": nan}, 400, "invalid_update"),
            ({"update": inf}, 400, "invalid_update"),
            ({"update": vec([1.0] * N)}, 400, "invalid_update"),          # norm 4.1 > clip 1
            ({"round": 2}, 409, "unknown_round"),                         # not open yet
            ({"model": "other"}, 400, "invalid_update"),
            ({"update": "!!!"}, 400, "invalid_update"),
            ({"unclipped": "yes"}, 400, "invalid_update"),
            ({"extra": 1}, 400, "invalid_update"),
        ]
        for over, code, err in cases:
            body = {"model": "spam", "round": 1, "batch_id": batch_id(),
                    "update": vec([0.1] * N), "unclipped": True}
            body.update(over)
            s, doc, _ = h.json("POST", "/v1/models/spam/updates", body=body)
            expect(s == code and doc["error"]["code"] == err, "%s: %s %s" % (over, s, doc))
        s, doc, _ = h.request("POST", "/v1/models/spam/updates", raw=b"not json")
        expect(s == 400, "garbage %s" % s)
        s, doc, _ = h.request("POST", "/v1/models/nope/updates", raw=b"{}")
        expect(s == 404, "unknown model")
        # nothing moved: still round 1 with one update; one more, and it closes
        pub, _, _, _ = weights(h)
        expect(pub["round"] == 1, "still round 1")
        s, doc, _ = h.json("POST", "/v1/models/spam/rounds", admin=True)
        expect(s == 409 and doc["error"]["code"] == "too_few_updates", "one: %s" % doc)
        s, doc, _ = update(h, 1, [0.05] * N)
        s, doc, _ = h.json("POST", "/v1/models/spam/rounds", admin=True)
        expect(s == 201 and doc["updates"] == 2, "the second good update counted: %s" % doc)
        s, hist, _ = h.json("GET", "/v1/models/spam/rounds")
        expect(hist["rounds"][0]["updates"] == 2, "two updates counted: %s" % hist)
    finally:
        h.cleanup()


def dpfedavg_epsilon(q, z, rounds):
    out = subprocess.run([os.path.join(BUILD, "bin", "hush-privacy"), "dpfedavg",
                          "--sampling-rate", repr(q), "--noise-multiplier", repr(z),
                          "--rounds", str(rounds), "--delta", "1e-05"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["epsilon"]


@test
def the_accountant_stops_a_task_at_its_budget():
    h = Hushd(os.path.join(BUILD, "bin", "hushd"))
    try:
        # z = 1.1, q = 0.1: epsilon after 1, 2, 3 rounds; a target between
        # rounds 2 and 3 allows exactly two
        e2, e3 = dpfedavg_epsilon(0.1, 1.1, 2), dpfedavg_epsilon(0.1, 1.1, 3)
        target = (e2 + e3) / 2
        doc = task(h, noise_multiplier=1.1, target_epsilon=target, delta=1e-5, min_clients=1)
        expect(abs(doc["sampling_rate"] - 0.1) < 1e-12, "q = expected / population")
        for rnd in (1, 2):
            s, d, _ = update(h, rnd, [0.01] * N)
            expect(s == 200, "round %d: %s" % (rnd, d))
            s, d, _ = h.json("POST", "/v1/models/spam/rounds", admin=True)
            expect(s == 201, "close %d: %s" % (rnd, d))
            validate(d, "model-round-closed")
            validate(h.json("GET", "/v1/models/spam/rounds")[1], "model-rounds")
            s, raw, _ = h.request("GET", "/v1/models/spam/privacy")
            expect(b'"sampling_rate":0.1,' in raw, "shortest exact reals: %r" % raw[:200])
            priv = json.loads(raw)
            validate(priv, "model-privacy")
            want = dpfedavg_epsilon(0.1, 1.1, rnd)
            expect(abs(priv["epsilon"] - want) <= 1e-9 * want, "eps %s vs %s" % (priv, want))
        expect(priv["state"] == "budget_exhausted" and priv["epsilon"] <= target,
               "stopped within the target: %s" % priv)
        s, d, _ = update(h, 3, [0.01] * N)
        expect(s == 409 and d["error"]["code"] == "budget_exhausted", "refused: %s" % d)
        # the signed publication says so, so that devices neither train for
        # it nor are charged (the weights stay usable)
        pub, _, _, _ = weights(h)
        expect(pub["state"] == "budget_exhausted", "publication state: %s" % pub.get("state"))
        # a task that cannot afford one round is refused at creation
        s, d, _ = h.json("POST", "/v1/models", admin=True, body={
            "id": "tight", "name": "t", "architecture": {"kind": "logistic"},
            "labels": ["a", "b"], "clip_norm": 1, "expected_clients": 10, "population": 10,
            "noise_multiplier": 0.3, "target_epsilon": 0.5})
        expect(s == 400 and d["error"]["code"] == "invalid_privacy", "tight: %s" % d)
        # a target alone picks the noise multiplier
        s, d, _ = h.json("POST", "/v1/models", admin=True, body={
            "id": "auto", "name": "a", "architecture": {"kind": "logistic"},
            "labels": ["a", "b"], "clip_norm": 1, "expected_clients": 10, "population": 100,
            "rounds": 50, "target_epsilon": 4})
        expect(s == 201 and abs(d["epsilon_after_all_rounds"] - 4) < 1e-3,
               "auto noise: %s" % d)
    finally:
        h.cleanup()


@test
def the_open_round_survives_kill_9():
    h = Hushd(os.path.join(BUILD, "bin", "hushd"))
    try:
        task(h, min_clients=3, clip_norm=2.0)
        update(h, 1, [0.2] * N)
        bid = batch_id()
        update(h, 1, [0.4] * N, bid)
        _, w0, _, _ = weights(h)
        h.kill()
        h.start()
        s, d, _ = update(h, 1, [0.4] * N, bid)
        expect(s == 200 and d["duplicate"], "the stored update is remembered: %s" % d)
        s, d, _ = update(h, 1, [0.0] * N)
        s, d, _ = h.json("POST", "/v1/models/spam/rounds", admin=True)
        expect(s == 201 and d["updates"] == 3, "the replayed round closes with 3: %s" % d)
        _, w1, _, _ = weights(h)
        for a, b in zip(w0, w1):
            expect(abs((b - a) - 0.2) < 1e-6, "mean of 0.2, 0.4, 0: %g" % (b - a))
    finally:
        h.cleanup()


@test
def a_second_task_with_the_same_id_is_refused():
    """Creating a task whose id exists answers 409 naming the id, also when
    16 clients race to create it: exactly one 201.  (Before: the 409's
    message read the freed request — 500 "out of memory" on the normal
    build, an ASan abort on the sanitized one.)"""
    import threading
    h = Hushd(os.path.join(BUILD, "bin", "hushd"))
    try:
        task(h)
        body = {"id": "spam", "name": "again", "architecture": {"kind": "logistic"},
                "labels": ["a", "b"], "clip_norm": 1, "expected_clients": 3,
                "population": 30, "dp": "none"}
        s, d, _ = h.json("POST", "/v1/models", admin=True, body=body)
        expect(s == 409 and d["error"]["code"] == "exists" and
               '"spam"' in d["error"]["message"], "duplicate: %s %s" % (s, d))
        statuses = []
        lock = threading.Lock()

        def create():
            s, _, _ = h.json("POST", "/v1/models", admin=True, body=dict(body, id="race"))
            with lock:
                statuses.append(s)
        threads = [threading.Thread(target=create) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        expect(sorted(statuses) == [201] + [409] * 15, "race: %s" % sorted(statuses))
    finally:
        h.cleanup()


@test
def rounds_count_every_update_until_the_deadline():
    """A round closes at its deadline with every update that arrived, never
    at min_clients (before: the round closed at the min_clients-th update
    and refused the rest with 409, so who was counted depended on arrival
    order, not on Poisson sampling)."""
    h = Hushd(os.path.join(BUILD, "bin", "hushd"))
    try:
        task(h, min_clients=2, round_seconds=2, clip_norm=2.0)
        for i in range(6):
            s, d, _ = update(h, 1, [0.1] * N)
            expect(s == 200 and d["accepted"], "update %d: %s %s" % (i, s, d))
        deadline = time.time() + 15
        hist = {"rounds": []}
        while time.time() < deadline and not hist["rounds"]:
            time.sleep(0.3)
            s, hist, _ = h.json("GET", "/v1/models/spam/rounds")
        expect([r["updates"] for r in hist["rounds"]] == [6],
               "the deadline closed round 1 with all 6: %s" % hist)
        # below min_clients the deadline waits
        update(h, 2, [0.1] * N)
        time.sleep(3.5)
        s, hist, _ = h.json("GET", "/v1/models/spam/rounds")
        expect(len(hist["rounds"]) == 1, "one update < min_clients 2: open %s" % hist)
    finally:
        h.cleanup()


@test
def no_privacy_must_be_said_and_bad_epsilons_are_refused():
    """0, negative, tiny (subnormal), huge or missing epsilons and noise are
    refused with a 400 naming the field; "dp": "none" is the only way to run
    without central noise, and /privacy says so.  (Before: target_epsilon 0
    made a task without noise; a campaign at epsilon 5e-324 was accepted.)"""
    h = Hushd(os.path.join(BUILD, "bin", "hushd"))
    try:
        base = {"id": "t", "name": "t", "architecture": {"kind": "logistic"},
                "labels": ["a", "b"], "clip_norm": 1, "expected_clients": 10,
                "population": 100}
        bad = [({"target_epsilon": 0}, "target_epsilon"),
               ({"target_epsilon": -1}, "target_epsilon"),
               ({"target_epsilon": 5e-324}, "target_epsilon"),
               ({"target_epsilon": 1e-320}, "target_epsilon"),
               ({"target_epsilon": "8"}, "target_epsilon"),
               ({}, "target_epsilon"),
               ({"target_epsilon": 8, "noise_multiplier": 0}, "noise_multiplier"),
               ({"target_epsilon": 8, "noise_multiplier": 5e-324}, "noise_multiplier"),
               ({"target_epsilon": 8, "noise_multiplier": -1}, "noise_multiplier"),
               ({"dp": "none", "target_epsilon": 8}, "target_epsilon"),
               ({"dp": "none", "noise_multiplier": 0}, "noise_multiplier"),
               ({"dp": "maybe"}, "dp"),
               ({"dp": "none", "local_noise_multiplier": -1}, "local_noise_multiplier")]
        for over, field in bad:
            body = dict(base)
            body.update(over)
            s, d, _ = h.json("POST", "/v1/models", admin=True, body=body)
            expect(s == 400 and d["error"]["code"] == "invalid_privacy" and
                   field in d["error"]["message"], "%s: %s %s" % (over, s, d))
        s, lst, _ = h.json("GET", "/v1/models")
        expect(lst["models"] == [], "nothing was created: %s" % lst)
        body = dict(base, dp="none")
        s, d, _ = h.json("POST", "/v1/models", admin=True, body=body)
        expect(s == 201, "dp none: %s" % d)
        s, priv, _ = h.json("GET", "/v1/models/t/privacy")
        validate(priv, "model-privacy")
        expect(priv["dp"] == "none" and priv["epsilon"] is None and
               priv["guarantee"].startswith("none"), "privacy says none: %s" % priv)
        # campaigns: the per-report epsilon
        camp = {"id": "c", "name": "c", "kind": "poll", "mechanism": "grr",
                "candidates": [{"id": "a", "text": "a"}, {"id": "b", "text": "b"}],
                "budget": {"reports_per_device_per_day": 1}}
        for eps in (0, -1, 5e-324, 1e-320, 1e-4, 31, "1"):
            s, d, _ = h.json("POST", "/v1/campaigns", admin=True, body=dict(camp, epsilon=eps))
            expect(s == 400 and d["error"]["code"] == "invalid_epsilon" and
                   "epsilon" in d["error"]["message"], "campaign eps %r: %s %s" % (eps, s, d))
        s, raw, _ = h.json("POST", "/v1/campaigns", admin=True,
                           raw=json.dumps(dict(camp, epsilon=1)).replace(
                               '"epsilon": 1', '"epsilon": 1e400').encode())
        expect(s == 400, "epsilon 1e400: %s" % s)
        s, lst, _ = h.json("GET", "/v1/campaigns")
        expect(all(c["id"] != "c" for c in lst["campaigns"]), "no campaign: %s" % lst)
    finally:
        h.cleanup()


@test
def an_adaptive_task_reports_the_epsilon_of_both_mechanisms():
    """Adaptive clipping releases two sums: the updates (noise z_update S)
    and the unclipped count (bits as b - 1/2, sensitivity 1/2, noise
    sigma_b).  Both use the same Poisson sample, so they compose into one
    Gaussian mechanism of multiplier z = (z_update^-2 + (2 sigma_b)^-2)^-1/2;
    the epsilon /privacy reports after each round equals the accountant's
    (hush-privacy dpfedavg) for that z, to 1e-6."""
    h = Hushd(os.path.join(BUILD, "bin", "hushd"), extra=["--test-noise-seed", "3"])
    try:
        doc = task(h, target_epsilon=8, expected_clients=20, population=200, rounds=20,
                   min_clients=1, adaptive_clipping={"initial": 1.0}, clip_norm=None)
        s, priv, _ = h.json("GET", "/v1/models/spam/privacy")
        validate(priv, "model-privacy")
        zu, sb = priv["update_noise_multiplier"], priv["count_noise_std"]
        z = (zu ** -2 + (2 * sb) ** -2) ** -0.5
        expect(abs(z - priv["noise_multiplier"]) <= 1e-9 * z, "composed z %g vs %s" % (z, priv))
        expect(abs(sb - 20 / 20.0) < 1e-12, "default sigma_b = m / 20: %s" % priv)
        for rnd in (1, 2, 3):
            update(h, rnd, [0.01] * N)
            s, d, _ = h.json("POST", "/v1/models/spam/rounds", admin=True)
            expect(s == 201, "close %s" % d)
            s, priv, _ = h.json("GET", "/v1/models/spam/privacy")
            want = dpfedavg_epsilon(0.1, z, rnd)
            expect(abs(priv["epsilon"] - want) <= 1e-6 * want,
                   "round %d: epsilon %s, accountant %s" % (rnd, priv["epsilon"], want))
    finally:
        h.cleanup()


@test
def central_noise_replays_under_a_test_seed():
    """With --test-noise-seed the server's DP noise is a function of (seed,
    task, round): two collectors fed the same updates publish the same
    model; another seed gives another.  (Before: the noise always came from
    the system, so no DP run could be reproduced.)"""
    models = []
    for seed in ("11", "11", "12"):
        h = Hushd(os.path.join(BUILD, "bin", "hushd"), extra=["--test-noise-seed", seed])
        try:
            task(h, noise_multiplier=1.0, target_epsilon=50, min_clients=1)
            update(h, 1, [0.01] * N)
            s, d, _ = h.json("POST", "/v1/models/spam/rounds", admin=True)
            expect(s == 201, "close %s" % d)
            models.append(weights(h)[1])
            expect("test-noise-seed" in h.stderr(), "hushd warns about the seed")
        finally:
            h.cleanup()
    expect(models[0] == models[1], "same seed, same noise")
    expect(models[0] != models[2], "another seed, other noise")


def rice_pack(ks):
    """Lattice integers as bytes, written from the format's description
    (docs/learning.md) independently of learning/lattice.c: version 1, the
    Rice parameter, the count, then zigzag Rice codes LSB first, the
    parameter chosen by trying every one."""
    zs = [((k << 1) ^ (k >> 31)) & 0xffffffff for k in ks]

    def cost(r):
        return sum((z >> r) + 1 + r if (z >> r) < 31 else 31 + 32 for z in zs)
    r = min(range(32), key=cost)
    bits = []
    for z in zs:
        q = z >> r
        if q < 31:
            bits += [1] * q + [0] + [(z >> i) & 1 for i in range(r)]
        else:
            bits += [1] * 31 + [(z >> i) & 1 for i in range(32)]
    bits += [0] * (-len(bits) % 8)
    body = bytes(sum(bits[i + j] << j for j in range(8)) for i in range(0, len(bits), 8))
    return bytes([1, r]) + struct.pack("<I", len(ks)) + body


def lattice_update(h, rnd, ks, shift=0, bid=None, raw=None):
    body = {"model": "spam", "round": rnd, "batch_id": bid or batch_id(),
            "encoding": "lattice", "shift": shift,
            "update": base64.b64encode(raw if raw is not None else rice_pack(ks)).decode(),
            "unclipped": True}
    validate(body, "model-update")
    return h.json("POST", "/v1/models/spam/updates", body=body)


@test
def lattice_uploads_give_the_collector_the_same_sum():
    """Two collectors with the same noise seed: one is sent three float32
    updates, the other the same updates as lattice integers (truncated
    toward zero on the step its publication states, Rice-coded by an
    independent encoder).  They publish the same model, bit for bit; the
    step is z S / L with L = max(1024, ceil(1024 z sqrt(d))); lattice
    integers past the clip, for a float32 task, or malformed are refused
    and change nothing."""
    rng = random.Random(4)
    ups = []
    for _ in range(3):
        v = [rng.gauss(0, 1) for _ in range(N)]
        norm = math.sqrt(sum(x * x for x in v))
        # float32, as a device sends it, clipped inside the clip of 1
        ups.append(list(struct.unpack("<%df" % N, struct.pack("<%df" % N,
                                                              *[0.9 * x / norm for x in v]))))
    models = []
    for lattice in (False, True):
        h = Hushd(os.path.join(BUILD, "bin", "hushd"), extra=["--test-noise-seed", "5"])
        try:
            task(h, noise_multiplier=1.0, target_epsilon=50, min_clients=1)
            pub = weights(h)[0]
            L = max(1024, math.ceil(1024 * 1.0 * math.sqrt(N)))
            step = pub["upload"]["step"]
            expect(pub["upload"]["encoding"] == "lattice" and pub["upload"]["shift"] == 0 and
                   abs(step - 1.0 * 1.0 / L) <= 1e-15, "published lattice: %s" % pub["upload"])
            for u in ups:
                if lattice:
                    inv = 1.0 / step
                    s, d, _ = lattice_update(h, 1, [int(x * inv) for x in u])
                else:
                    s, d, _ = update(h, 1, u)
                expect(s == 200 and d["accepted"], "update: %s %s" % (s, d))
            if lattice:
                over = [int(1.01 / step)] + [0] * (N - 1)
                s, d, _ = lattice_update(h, 1, over)
                expect(s == 400 and "exceeds" in d["error"]["message"], "%s" % d)
                s, d, _ = lattice_update(h, 1, [0] * N, raw=rice_pack([0] * N)[:-1] + b"\x80")
                expect(s == 400 and d["error"]["code"] == "invalid_update", "%s" % d)
                s, d, _ = lattice_update(h, 1, [0] * (N - 1))
                expect(s == 400 and "count of %d" % N in d["error"]["message"], "%s" % d)
            s, d, _ = h.json("POST", "/v1/models/spam/rounds", admin=True)
            expect(s == 201 and d["updates"] == 3, "close: %s" % d)
            models.append(weights(h)[1])
        finally:
            h.cleanup()
    expect(models[0] == models[1], "the same sum, bit for bit")
    # a float32 task refuses lattice integers; a task without central DP
    # cannot ask for them
    h = Hushd(os.path.join(BUILD, "bin", "hushd"))
    try:
        task(h, noise_multiplier=1.0, target_epsilon=50, min_clients=1,
             upload={"encoding": "float32"})
        expect("upload" not in weights(h)[0], "float32 is said by saying nothing")
        s, d, _ = lattice_update(h, 1, [0] * N)
        expect(s == 400 and "float32" in d["error"]["message"], "%s" % d)
        s, d, _ = h.json("POST", "/v1/models", admin=True, body={
            "id": "plain", "name": "p", "architecture": {"kind": "logistic"},
            "labels": ["a", "b"], "clip_norm": 1, "expected_clients": 3, "population": 30,
            "dp": "none", "upload": {"encoding": "lattice"}})
        expect(s == 400 and "central DP" in d["error"]["message"], "%s" % d)
        s, d, _ = h.json("POST", "/v1/models", admin=True, body={
            "id": "coarse", "name": "c", "architecture": {"kind": "logistic"},
            "labels": ["a", "b"], "clip_norm": 1, "expected_clients": 3, "population": 30,
            "noise_multiplier": 1.0, "target_epsilon": 50,
            "upload": {"encoding": "lattice", "shift": 12}})
        expect(s == 400 and "tighten the clip" in d["error"]["message"], "%s" % d)
    finally:
        h.cleanup()


@test
def ditto_candidates_are_published_and_bad_lists_refused():
    """A Ditto task may list candidate pulls for each device to choose from:
    the publication carries the list as given; a list that is empty, not
    increasing, too long or not numbers is refused and creates nothing."""
    h = Hushd(os.path.join(BUILD, "bin", "hushd"))
    try:
        task(h, personalization="ditto", ditto_lambda=[0.01, 0.1, 1])
        pub = weights(h)[0]
        expect(pub["ditto_lambda"] == [0.01, 0.1, 1], "published: %s" % pub["ditto_lambda"])
        for bad in ([], [0.1, 0.01], [0.1, 0.1], list(range(1, 10)), ["x"], [-1]):
            body = {"id": "bad", "name": "b", "architecture": {"kind": "logistic"},
                    "labels": ["a", "b"], "clip_norm": 1, "expected_clients": 3,
                    "population": 30, "dp": "none", "personalization": "ditto",
                    "ditto_lambda": bad}
            s, d, _ = h.json("POST", "/v1/models", admin=True, body=body)
            expect(s == 400 and d["error"]["code"] == "invalid_privacy",
                   "%s: %s %s" % (bad, s, d))
        s, lst, _ = h.json("GET", "/v1/models")
        expect([m["id"] for m in lst["models"]] == ["spam"], "nothing else created: %s" % lst)
    finally:
        h.cleanup()


def sa_task(h, expect_status=201, **over):
    """A secure-aggregation task with distributed DP (small: three devices
    and no dropout or dishonest fraction, so a complete graph works)."""
    sa = {"min_devices": 3, "max_devices": 8, "max_participations": 2, "dropout": 0,
          "dishonest": 0, "stage_seconds": 1, "max_attempts": 2}
    sa.update(over.pop("sa", {}))
    body = {"id": "sa", "name": "SA", "architecture": {"kind": "logistic"},
            "embedder": {"kind": "hashed-ngram", "version": 1, "dim": DIM, "seed": 2},
            "labels": ["ham", "spam"], "clip_norm": 1.0, "expected_clients": 5,
            "population": 10, "rounds": 4, "target_epsilon": 8, "dp": "distributed",
            "aggregation": "secagg", "secure_aggregation": sa,
            "local": {"epochs": 1, "batch": 4, "lr": 0.1}}
    body.update(over)
    body = {k: v for k, v in body.items() if v is not None}
    if expect_status == 201:
        validate(body, "model-create")
    s, doc, _ = h.json("POST", "/v1/models", admin=True, body=body)
    expect(s == expect_status, "create: %s %s" % (s, doc))
    if s == 201:
        validate(doc, "model-created")
    return doc


def b64(n):
    return base64.b64encode(os.urandom(n)).decode()


def keys_doc():
    return {"stage": "keys", "enc_pk": b64(32), "mask_pk": b64(32), "sign_pk": b64(32)}


def sa_status(h):
    s, d, _ = h.json("GET", "/v1/models/sa/secagg")
    expect(s == 200, "status %s %s" % (s, d))
    validate(d, "secagg-status")
    return d


@test
def a_secagg_task_publishes_its_plan_and_takes_no_plain_updates():
    h = Hushd(os.path.join(BUILD, "bin", "hushd"))
    try:
        created = sa_task(h)
        s, body, hdrs = h.request("GET", "/v1/models/sa")
        pub = json.loads(body)
        validate(pub, "model-publication")
        sa = pub["secagg"]
        expect(pub["aggregation"] == "secagg" and sa["min_devices"] == 3 and
               sa["max_participations"] == 2 and sa["ddg"]["dim"] == N and
               sa["ddg"]["padded"] == 32 and sa["noise_multiplier"] ==
               created["noise_multiplier"], "the plan is published: %s" % sa)
        s, priv, _ = h.json("GET", "/v1/models/sa/privacy")
        validate(priv, "model-privacy")
        expect(priv["dp"] == "distributed" and priv["epsilon"] == 0 and
               7.9 < priv["epsilon_at_most"] <= 8 and
               priv["distributed"]["min_devices"] == 3, "privacy: %s" % priv)
        # the accountant's figure, reproduced by the planning tool
        p = subprocess.run([os.path.join(BUILD, "bin", "hush-privacy"), "ddg", "--dim", str(N),
                            "--clip", "1", "--min-devices", "3", "--max-devices", "8",
                            "--bits", "20", "--participations", "2", "--delta", "1e-5",
                            "--noise-multiplier", repr(created["noise_multiplier"])],
                           capture_output=True, text=True, check=True)
        tool = json.loads(p.stdout)
        expect(abs(tool["epsilon"] - priv["epsilon_at_most"]) < 1e-9 * 8 and
               tool["sigma"] == sa["ddg"]["sigma"], "tool %s" % tool)
        s, d, _ = h.json("POST", "/v1/models/sa/updates",
                         body={"model": "sa", "round": 1, "batch_id": batch_id(),
                               "update": vec([0.0] * N), "unclipped": True})
        expect(s == 409 and d["error"]["code"] == "secagg_only", "plain update %s %s" % (s, d))
        s, d, _ = h.json("POST", "/v1/models/sa/rounds", admin=True)
        expect(s == 409 and d["error"]["code"] == "secagg_only", "admin close %s %s" % (s, d))
        # specs that do not hold together
        bad = [dict(dp=None), dict(aggregation=None), dict(aggregation="plain"),
               dict(sa={"min_devices": 2}), dict(sa={"colour": 1}),
               dict(adaptive_clipping={"initial": 0.1}), dict(local_noise_multiplier=1.0),
               dict(sa={"max_participations": 9}), dict(sa={"bits": 4}),
               dict(sa={"dishonest": 0.05})]  # no graph for 3 devices at 5%
        for over in bad:
            over["id"] = "sb"
            d = sa_task(h, expect_status=400, **over)
            expect(d["error"]["code"] in ("invalid_privacy", "invalid_secagg", "invalid_task"),
                   "%s: %s" % (over, d))
        task(h)  # a plain task has no secure aggregation
        s, d, _ = h.json("GET", "/v1/models/spam/secagg")
        expect(s == 404 and d["error"]["code"] == "not_secagg", "%s %s" % (s, d))
    finally:
        h.cleanup()


@test
def secagg_stage_documents_are_checked_over_http():
    h = Hushd(os.path.join(BUILD, "bin", "hushd"))
    try:
        sa_task(h, sa={"stage_seconds": 60})
        st = sa_status(h)
        expect(st["stage"] == "keys" and st["round"] == 1 and st["attempt"] == 1, "%s" % st)
        k = keys_doc()
        validate(k, "secagg-message")
        s, j, _ = h.json("POST", "/v1/models/sa/secagg", body=k)
        expect(s == 201, "keys %s %s" % (s, j))
        validate(j, "secagg-joined")
        expect(j["session"] == st["session"] and j["index"] == 0 and not j["duplicate"], j)
        s, j2, _ = h.json("POST", "/v1/models/sa/secagg", body=k)
        expect(s == 201 and j2["index"] == 0 and j2["duplicate"] and
               j2["token"] != j["token"], "a retry: same place, new token: %s" % j2)
        sess = j["session"]
        s, d, _ = h.json("GET", "/v1/models/sa/secagg?session=%s&index=0" % sess)
        expect(s == 409 and d["error"]["code"] == "secagg_stage", "nothing yet: %s" % d)
        s, d, _ = h.json("GET", "/v1/models/sa/secagg?session=1.0000000000000000&index=0")
        expect(s == 409 and d["error"]["code"] == "secagg_session_over", "%s" % d)
        s, d, _ = h.json("GET", "/v1/models/sa/secagg?session=%s" % sess)
        expect(s == 400 and d["error"]["code"] == "invalid_query", "no index: %s" % d)
        s, d, _ = h.json("GET", "/v1/models/sa/secagg?session=%s&index=x1" % sess)
        expect(s == 400, "a bad index: %s" % d)
        boxes = {"stage": "boxes", "boxes": [{"from": 0, "to": 1, "box": b64(80)}]}
        s, d, _ = h.json("POST", "/v1/models/sa/secagg?session=%s" % sess, body=boxes)
        expect(s == 400 and d["error"]["code"] == "secagg_refused", "no token: %s" % d)
        s, d, _ = h.json("POST", "/v1/models/sa/secagg?session=%s" % sess, body=boxes,
                         headers={"Hush-Secagg-Token": j2["token"]})
        expect(s == 409 and d["error"]["code"] == "secagg_stage", "keys stage: %s" % d)
        s, d, _ = h.json("POST", "/v1/models/sa/secagg?session=9.%s" % ("0" * 16), body=boxes,
                         headers={"Hush-Secagg-Token": j2["token"]})
        expect(s == 409 and d["error"]["code"] == "secagg_session_over", "%s" % d)
        s, d, _ = h.json("POST", "/v1/models/sa/secagg?session=%s" % sess, raw=b"{\"stage\":",
                         headers={"Hush-Secagg-Token": j2["token"]})
        expect(s == 400, "garbage: %s %s" % (s, d))
        s, d, _ = h.json("POST", "/v1/models/sa/secagg?session=%s" % sess, body=boxes,
                         headers={"Hush-Secagg-Token": "not base64!"})
        expect(s == 400 and d["error"]["code"] == "secagg_refused", "bad token: %s" % d)
        # the status is unchanged by all of it
        st2 = sa_status(h)
        expect(st2["session"] == sess and st2["stage"] == "keys", "%s" % st2)
    finally:
        h.cleanup()


@test
def an_attempt_short_of_devices_fails_and_the_round_is_given_up():
    """One device's keys where three are needed: the attempt fails at its
    deadline and releases nothing; a second attempt likewise; after
    max_attempts (2) the round is given up and the next one opens with
    the same model."""
    h = Hushd(os.path.join(BUILD, "bin", "hushd"))
    try:
        sa_task(h)
        _, _, w0, _ = weights_of(h, "sa")
        first = sa_status(h)["session"]
        s, j, _ = h.json("POST", "/v1/models/sa/secagg", body=keys_doc())
        expect(s == 201, "%s" % j)
        deadline = time.time() + 20
        st = sa_status(h)
        while st["failed_attempts"] == 0 and time.time() < deadline:
            time.sleep(0.2)
            st = sa_status(h)
        expect(st["failed_attempts"] == 1 and st["session"] != first and
               "1 devices sent keys; the round needs 3" in st["last_failure"], "%s" % st)
        s, d, _ = h.json("GET", "/v1/models/sa/secagg?session=%s&index=0" % first)
        expect(s == 409 and d["error"]["code"] == "secagg_session_over", "%s" % d)
        s, j, _ = h.json("POST", "/v1/models/sa/secagg", body=keys_doc())
        expect(s == 201, "%s" % j)
        while sa_status(h)["round"] == 1 and time.time() < deadline:
            time.sleep(0.2)
        st = sa_status(h)
        expect(st["round"] == 2 and st["failed_attempts"] == 0, "given up: %s" % st)
        pub, _, w1, _ = weights_of(h, "sa")
        expect(pub["round"] == 2 and w1 == w0, "the next round, the same model")
        s, r, _ = h.json("GET", "/v1/models/sa/rounds")
        expect(s == 200 and r["rounds"] == [], "nothing completed: %s" % r)
        s, priv, _ = h.json("GET", "/v1/models/sa/privacy")
        expect(priv["rounds_completed"] == 0 and priv["epsilon"] == 0, "%s" % priv)
        expect("given up" in h.stderr(), "hushd says so")
        s, body, _ = h.request("GET", "/metrics")
        text = body.decode()
        expect('hush_secagg_attempts_total{outcome="failed"} 1' in text and
               'hush_secagg_attempts_total{outcome="given_up"} 1' in text and
               'hush_secagg_attempts_total{outcome="released"} 0' in text,
               "metrics: %s" % [l for l in text.splitlines() if "secagg" in l])
    finally:
        h.cleanup()


@test
def a_restart_fails_the_attempt_in_flight_cleanly():
    h = Hushd(os.path.join(BUILD, "bin", "hushd"))
    try:
        sa_task(h, sa={"stage_seconds": 60})
        s, j, _ = h.json("POST", "/v1/models/sa/secagg", body=keys_doc())
        expect(s == 201, "%s" % j)
        h.kill()
        h.start()
        st = sa_status(h)
        expect(st["round"] == 1 and st["stage"] == "keys" and st["session"] != j["session"],
               "a fresh attempt of the same round: %s" % st)
        s, d, _ = h.json("GET", "/v1/models/sa/secagg?session=%s&index=0" % j["session"])
        expect(s == 409 and d["error"]["code"] == "secagg_session_over", "%s" % d)
        pub, _, _, _ = weights_of(h, "sa")
        expect(pub["aggregation"] == "secagg" and pub["round"] == 1, "republished")
    finally:
        h.cleanup()


@test
def fedper_without_a_body_is_refused_for_what_it_is():
    """FedPer keeps the head on the device and averages the body: a
    logistic model has no body.  The refusal says so (before: "a server
    optimizer is fedavg or fedadam with a positive learning rate", from an
    optimizer made for zero parameters)."""
    h = Hushd(os.path.join(BUILD, "bin", "hushd"))
    try:
        body = {"id": "fp", "name": "fp", "architecture": {"kind": "logistic"},
                "embedder": {"kind": "hashed-ngram", "version": 1, "dim": DIM, "seed": 2},
                "labels": ["ham", "spam"], "clip_norm": 1.0, "expected_clients": 3,
                "population": 30, "rounds": 10, "dp": "none", "personalization": "fedper"}
        s, d, _ = h.json("POST", "/v1/models", admin=True, body=body)
        expect(s == 400 and d["error"]["code"] == "invalid_architecture" and
               "mlp" in d["error"]["message"], "%s %s" % (s, d))
        body["architecture"] = {"kind": "mlp", "hidden": 8}
        s, d, _ = h.json("POST", "/v1/models", admin=True, body=body)
        expect(s == 201 and d["update_size"] < d["parameters"],
               "an MLP's body only: %s %s" % (s, d))
    finally:
        h.cleanup()


@test
def secagg_rotations_replay_under_a_test_seed():
    """The rotation seed of each round of a secure-aggregation task comes
    from --test-noise-seed when one is given (so hush-sim fl's secagg rows
    replay), and from the system otherwise."""
    seeds = []
    for extra in (["--test-noise-seed", "5"], ["--test-noise-seed", "5"],
                  ["--test-noise-seed", "6"], []):
        h = Hushd(os.path.join(BUILD, "bin", "hushd"), extra=extra)
        try:
            sa_task(h)
            pub, _, _, _ = weights_of(h, "sa")
            seeds.append(pub["secagg"]["ddg"]["seed"])
        finally:
            h.cleanup()
    expect(seeds[0] == seeds[1] and seeds[2] != seeds[0] and seeds[3] not in seeds[:3],
           "rotation seeds %s" % seeds)


def weights_of(h, model):
    s, body, hdrs = h.request("GET", "/v1/models/%s" % model)
    expect(s == 200, "publication %s" % s)
    pub = json.loads(body)
    validate(pub, "model-publication")
    return pub, None, pub["weights"], hdrs


def main():
    global BUILD
    if len(sys.argv) != 2:
        sys.exit("usage: test_models.py BUILD_DIR")
    BUILD = os.path.abspath(sys.argv[1])
    for t in [publication_is_signed_and_rounds_count_each_update_once,
              bad_updates_are_refused_and_change_nothing,
              the_accountant_stops_a_task_at_its_budget, the_open_round_survives_kill_9,
              a_second_task_with_the_same_id_is_refused,
              rounds_count_every_update_until_the_deadline,
              no_privacy_must_be_said_and_bad_epsilons_are_refused,
              an_adaptive_task_reports_the_epsilon_of_both_mechanisms,
              central_noise_replays_under_a_test_seed,
              a_secagg_task_publishes_its_plan_and_takes_no_plain_updates,
              secagg_stage_documents_are_checked_over_http,
              an_attempt_short_of_devices_fails_and_the_round_is_given_up,
              a_restart_fails_the_attempt_in_flight_cleanly,
              secagg_rotations_replay_under_a_test_seed,
              fedper_without_a_body_is_refused_for_what_it_is,
              lattice_uploads_give_the_collector_the_same_sum,
              ditto_candidates_are_published_and_bad_lists_refused]:
        t()
    SUITE.finish()


if __name__ == "__main__":
    main()
