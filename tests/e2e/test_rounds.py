#!/usr/bin/env python3
"""End-to-end tests of refinement rounds: a real hushd on loopback.

  - closing a round keeps the most voted samples (by the round policy),
    generates the rest, and publishes the next round, signed, in both views;
  - reports for a closed round get 409; every batch acknowledged while a
    close runs is counted in the closed round's frozen estimates;
  - the round policy (keep, min_z, population), its errors, and what cannot
    be closed (polls, too few reports, the wrong round, no admin token);
  - an external generator that fails, hangs, or prints garbage leaves the
    round open with a clear error, and one that works is used;
  - the history and the frozen estimates survive a restart;
  - automatic rounds close after N reports.

Usage: test_rounds.py path/to/hushd
"""
import base64
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hushlib import Hushd, Sodium, batch_id, validate, Suite, expect  # noqa: E402

HUSHD = None
SUITE = Suite("rounds")
test = SUITE.test
TEXTS = [
    "Lunch meeting moved to Thursday at noon. Bring the slides. See you there.",
    "Your invoice for October is attached. Payment is due in thirty days.",
    "The package you ordered has shipped. It will arrive on Monday.",
    "Reminder: the security training must be completed this week.",
    "Can you review my pull request before the release? Thanks a lot.",
    "The quarterly report is ready. Numbers look good this time.",
]


def create(h, cid="mail", refine=None, min_reports=0, epsilon=8):
    body = {"id": cid, "name": "Mail", "kind": "synthetic", "candidates": TEXTS,
            "epsilon": epsilon, "mechanism": "grr", "match_threshold": 0.1,
            "embedder": {"kind": "hashed-ngram", "version": 1, "dim": 64, "seed": 3},
            "min_reports": min_reports}
    if refine is not None:
        body["refine"] = refine
    s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body=body)
    expect(s == 201, "create %s: %s %s" % (cid, s, doc))


def post(h, cid, rnd, reports):
    return h.json("POST", "/v1/reports", body={"campaign": cid, "round": rnd,
                                                "batch_id": batch_id(), "reports": reports})


def close(h, cid="mail", body=None, admin=True):
    return h.json("POST", "/v1/campaigns/%s/rounds" % cid, admin=admin, body=body)


def publication(h, cid="mail", view=""):
    s, body, hdrs = h.request("GET", "/v1/campaigns/%s%s" % (cid, view))
    expect(s == 200, "publication %s" % s)
    return body, hdrs["Hush-Signature"], json.loads(body)


@test
def close_keeps_the_most_voted_and_publishes_the_next_round():
    h = Hushd(HUSHD)
    try:
        create(h, refine={"keep": 2, "population": 6})
        # votes: c0 30, c1 20, c2 5 (GRR at epsilon 8 is nearly exact)
        s, doc, _ = post(h, "mail", 1, [0] * 30 + [1] * 20 + [2] * 5)
        expect(s == 200, "post %s" % doc)
        validate({"round": 1, "metrics": {"coverage": 0.4}}, "round-close")
        s, doc, _ = close(h, body={"round": 1, "metrics": {"coverage": 0.4}})
        expect(s == 201, "close %s %s" % (s, doc))
        validate(doc, "round-closed")
        expect(doc["closed"] == 1 and doc["round"] == 2 and doc["kept"] == 2 and
               doc["generated"] == 4 and doc["n_reports"] == 55, "answer %s" % doc)
        body, sig, pub = publication(h)
        keys = h.json("GET", "/v1/keys")[1]
        pk = base64.b64decode(keys["signing_key"])
        expect(Sodium().verify(base64.b64decode(sig), body, pk), "round 2 is signed")
        ids = [c["id"] for c in pub["candidates"]]
        expect(pub["round"] == 2 and ids[:2] == ["c0", "c1"] and len(ids) == 6,
               "kept c0, c1 first, then new: %s" % ids)
        expect(all(i.startswith("r2-") for i in ids[2:]), "new ids %s" % ids)
        texts = [c["text"] for c in pub["candidates"]]
        expect(len(set(texts)) == 6, "distinct texts")
        dbody, dsig, dev = publication(h, view="?view=device")
        expect(dev["round"] == 2 and dev["candidate_count"] == 6 and
               Sodium().verify(base64.b64decode(dsig), dbody, pk), "device view of round 2")
        expect(pub["mechanism"]["domain"] == 7, "domain follows the population")
        # a late batch for round 1, then one for round 2
        s, doc, _ = post(h, "mail", 1, [0])
        expect(s == 409 and doc["error"]["code"] == "round_closed", "late: %s %s" % (s, doc))
        s, doc, _ = post(h, "mail", 2, [0, 1, 6])
        expect(s == 200, "round 2 report %s" % doc)
        # round 1's estimates stay, frozen
        s, est, _ = h.json("GET", "/v1/campaigns/mail/estimates?round=1&top=3")
        validate(est, "estimates")
        validate(pub, "publication")
        validate(dev, "publication")
        expect(s == 200 and est["round"] == 1 and est["n_reports"] == 55 and
               [i["candidate_id"] for i in est["items"]] == ["c0", "c1", "c2"], "frozen %s" % est)
        s, est, _ = h.json("GET", "/v1/campaigns/mail/estimates")
        expect(est["round"] == 2 and est["n_reports"] == 3, "current %s" % est)
        s, est, _ = h.json("GET", "/v1/campaigns/mail/estimates?round=3")
        expect(s == 404, "a future round has no estimates")
        s, hist, _ = h.json("GET", "/v1/campaigns/mail/rounds")
        validate(hist, "rounds")
        r = hist["rounds"]
        lineage = r[0]["lineage"]
        expect(sorted(lineage) == sorted(ids[2:]) and
               set(lineage.values()) <= {"c0", "c1"},
               "every new sample names the kept sample it came from: %s" % lineage)
        expect(hist["round"] == 2 and len(r) == 2 and r[0]["n_reports"] == 55 and
               r[0]["kept"] == 2 and r[0]["generated"] == 4 and
               r[0]["metrics"] == {"coverage": 0.4} and r[0]["policy"]["keep"] == 2 and
               "generate_ms" in r[0]["timings"] and r[1]["closed_at"] is None and
               r[1]["n_reports"] == 3, "history %s" % hist)
        s, lst, _ = h.json("GET", "/v1/campaigns")
        expect(lst["campaigns"][0]["round"] == 2, "the list shows round 2")
    finally:
        h.cleanup()


@test
def round_policy_and_what_cannot_be_closed():
    h = Hushd(HUSHD)
    try:
        create(h)
        s, doc, _ = close(h)
        expect(s == 409 and doc["error"]["code"] == "too_few_reports", "empty: %s" % doc)
        post(h, "mail", 1, [0] * 40 + [1] * 3 + [3] * 20)
        for body, code in [({"keep": 0}, "invalid_policy"), ({"kepp": 2}, "invalid_policy"),
                           ({"population": 10 ** 9}, "invalid_policy"),
                           ({"min_z": -1}, "invalid_policy"), ({"auto": {"reports": 5}},
                                                                "invalid_policy"),
                           ({"generator": "gpt"}, "invalid_policy"),
                           ({"metrics": [1]}, "invalid_metrics")]:
            s, doc, _ = close(h, body=body)
            expect(s == 400 and doc["error"]["code"] == code, "%s: %s %s" % (body, s, doc))
        s, doc, _ = close(h, body={"round": 7})
        expect(s == 409 and doc["error"]["code"] == "round_mismatch", "round %s" % doc)
        validate(doc, "error")
        s, doc, _ = close(h, body={"min_z": 10000})
        expect(s == 409 and doc["error"]["code"] == "nothing_to_keep", "min_z %s" % doc)
        s, doc, _ = close(h, admin=False)
        expect(s == 401, "no token: %s" % s)
        s, doc, _ = close(h, cid="nope")
        expect(s == 404, "unknown campaign")
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "poll", "name": "p", "kind": "poll", "candidates": ["a", "b"], "epsilon": 1,
            "min_reports": 0})
        post(h, "poll", 1, [0, 1])
        s, doc, _ = close(h, cid="poll")
        expect(s == 409 and doc["error"]["code"] == "not_synthetic", "poll %s" % doc)
        # nothing changed: still round 1, still every report
        s, est, _ = h.json("GET", "/v1/campaigns/mail/estimates")
        expect(est["round"] == 1 and est["n_reports"] == 63, "unchanged %s" % est)
        # min_z keeps what is voted well above its noise: at epsilon 8 the
        # standard error of a count c is about sqrt(0.02 + 0.0017 c), so
        # c0 (40 votes) and c3 (20) stand at z > 80, c1 (3) near 18
        s, doc, _ = close(h, body={"min_z": 50, "keep": 5, "population": 8})
        expect(s == 201 and doc["kept"] == 2 and doc["candidates"] == 8, "min_z close %s" % doc)
        ids = [c["id"] for c in publication(h)[2]["candidates"]]
        expect(ids[:2] == ["c0", "c3"], "kept %s" % ids)
    finally:
        h.cleanup()


def generator_script(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, stat.S_IRWXU)
    return path


@test
def a_failing_external_generator_leaves_the_round_open():
    d = tempfile.mkdtemp(prefix="hush-gen-")
    good = generator_script(d, "good.py", """#!/usr/bin/env python3
import json, os, sys
kept = [json.loads(l) for l in sys.stdin if l.strip()]
for i in range(int(os.environ["HUSH_WANT"])):
    p = kept[i % len(kept)]
    print(json.dumps({"text": p["text"] + " (variation %d of %s)" % (i, p["id"])}))
""")
    cases = [("echo 'GPU out of memory' >&2; exit 2", "GPU out of memory"),
             ("sleep 20", "did not finish within 1 s"),
             ("echo '<html>oops</html>'", "line 1")]
    try:
        for cmd, fragment in cases:
            h = Hushd(HUSHD, extra=["--generator-cmd", cmd, "--generator-timeout", "1"])
            try:
                create(h, refine={"generator": "external", "keep": 2})
                post(h, "mail", 1, [0] * 10 + [1] * 5)
                t0 = time.time()
                s, doc, _ = close(h)
                expect(s == 502 and doc["error"]["code"] == "generator_failed" and
                       fragment in doc["error"]["message"] and
                       "stays open" in doc["error"]["message"], "%s: %s %s" % (cmd, s, doc))
                expect(time.time() - t0 < 10, "the time limit holds")
                expect(publication(h)[2]["round"] == 1, "round 1 stays open")
                s, doc, _ = post(h, "mail", 1, [2])
                expect(s == 200, "round 1 still takes reports")
                s, hist, _ = h.json("GET", "/v1/campaigns/mail/rounds")
                expect(len(hist["rounds"]) == 1 and hist["rounds"][0]["n_reports"] == 16,
                       "history %s" % hist)
            finally:
                h.cleanup()
        h = Hushd(HUSHD, extra=["--generator-cmd", good])
        try:
            create(h, refine={"generator": "external", "keep": 2})
            post(h, "mail", 1, [0] * 10 + [1] * 5)
            s, doc, _ = close(h)
            expect(s == 201 and doc["generated"] == 4, "external close %s" % doc)
            texts = [c["text"] for c in publication(h)[2]["candidates"]]
            expect("(variation 0 of c0)" in texts[2], "the generator's texts %s" % texts)
            # without --generator-cmd the external generator is refused
        finally:
            h.cleanup()
        h = Hushd(HUSHD)
        try:
            create(h, refine={"generator": "external"})
            post(h, "mail", 1, [0] * 10)
            s, doc, _ = close(h)
            expect(s == 502 and "--generator-cmd" in doc["error"]["message"], "%s" % doc)
        finally:
            h.cleanup()
    finally:
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


@test
def history_survives_a_restart():
    h = Hushd(HUSHD)
    try:
        create(h, refine={"keep": 3})
        post(h, "mail", 1, [0] * 10 + [2] * 8 + [4] * 6)
        s, doc, _ = close(h, body={"metrics": {"coverage": 0.5}})
        expect(s == 201, "close %s" % doc)
        post(h, "mail", 2, [1] * 7)
        s, hist1, _ = h.json("GET", "/v1/campaigns/mail/rounds")
        s, est1, _ = h.json("GET", "/v1/campaigns/mail/estimates?round=1")
        body1, sig1, _ = publication(h)
        dbody1, dsig1, _ = publication(h, view="?view=device")
        expect(h.stop() == 0, "clean stop")
        h.start()
        s, hist2, _ = h.json("GET", "/v1/campaigns/mail/rounds")
        s, est2, _ = h.json("GET", "/v1/campaigns/mail/estimates?round=1")
        body2, sig2, _ = publication(h)
        dbody2, dsig2, _ = publication(h, view="?view=device")
        expect(hist1 == hist2, "history %s\nvs %s" % (hist1, hist2))
        expect(est1 == est2, "frozen estimates")
        expect(body1 == body2 and sig1 == sig2 and dbody1 == dbody2 and dsig1 == dsig2,
               "round 2's publication, both views, byte for byte")
        s, est, _ = h.json("GET", "/v1/campaigns/mail/estimates")
        expect(est["round"] == 2 and est["n_reports"] == 7, "round 2 rebuilt %s" % est)
        # kill -9 after another close: still there
        s, doc, _ = close(h)
        expect(s == 201 and doc["round"] == 3, "close 2 %s" % doc)
        h.kill()
        h.start()
        s, hist3, _ = h.json("GET", "/v1/campaigns/mail/rounds")
        expect(hist3["round"] == 3 and len(hist3["rounds"]) == 3, "after kill -9 %s" % hist3)
    finally:
        h.cleanup()


@test
def batches_racing_a_close_are_counted_or_refused():
    h = Hushd(HUSHD)
    try:
        create(h, refine={"keep": 2})
        post(h, "mail", 1, [0] * 5)
        acked, stop = [], threading.Event()
        lock = threading.Lock()

        def sender():
            while not stop.is_set():
                s, doc, _ = post(h, "mail", 1, [0, 1, 2, 3])
                if s == 200:
                    with lock:
                        acked.append(doc["accepted"])
                elif s == 409:
                    return
                else:
                    raise AssertionError("unexpected %s %s" % (s, doc))

        threads = [threading.Thread(target=sender) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        s, doc, _ = close(h)
        stop.set()
        for t in threads:
            t.join()
        expect(s == 201, "close %s" % doc)
        s, est, _ = h.json("GET", "/v1/campaigns/mail/estimates?round=1")
        expect(est["n_reports"] == 5 + sum(acked),
               "frozen %d == 5 + acknowledged %d" % (est["n_reports"], sum(acked)))
        expect(doc["n_reports"] == est["n_reports"], "the answer agrees")
    finally:
        h.cleanup()


@test
def automatic_rounds_close_after_n_reports():
    h = Hushd(HUSHD)
    try:
        create(h, refine={"keep": 2, "auto": {"reports": 50}})
        post(h, "mail", 1, [0] * 30)
        time.sleep(1.5)
        expect(publication(h)[2]["round"] == 1, "not yet at 30 reports")
        post(h, "mail", 1, [1] * 30)
        deadline = time.time() + 10
        while time.time() < deadline and publication(h)[2]["round"] == 1:
            time.sleep(0.2)
        expect(publication(h)[2]["round"] == 2, "closed by itself after 50 reports")
        s, hist, _ = h.json("GET", "/v1/campaigns/mail/rounds")
        expect(hist["rounds"][0]["n_reports"] == 60, "history %s" % hist)
    finally:
        h.cleanup()


@test
def shuffled_votes_are_a_control_without_signal():
    """"votes": "shuffled" selects each candidate by another's estimate (a
    seeded permutation): the loop runs with the same vote distribution and
    no information, which is the control a measurement of the loop needs.
    The round's own estimates stay the real ones."""
    h = Hushd(HUSHD)
    try:
        create(h, refine={"keep": 1, "population": 6})
        # every vote for c0: with real votes c0 is kept
        post(h, "mail", 1, [0] * 60)
        s, doc, _ = close(h, body={"round": 1, "votes": "shuffled", "seed": 7})
        expect(s == 201 and doc["kept"] == 1, "close %s %s" % (s, doc))
        _, _, pub = publication(h)
        kept = pub["candidates"][0]["id"]
        expect(kept != "c0", "the permutation kept %s, not the voted c0" % kept)
        s, est, _ = h.json("GET", "/v1/campaigns/mail/estimates?round=1&top=1")
        expect(est["items"][0]["candidate_id"] == "c0", "frozen estimates are real: %s" % est)
        s, hist, _ = h.json("GET", "/v1/campaigns/mail/rounds")
        expect(hist["rounds"][0]["policy"]["votes"] == "shuffled", "history %s" % hist)
        s, doc, _ = close(h, body={"round": 2, "votes": "loud"})
        expect(s == 400 and doc["error"]["code"] == "invalid_policy", "bad votes %s" % doc)
    finally:
        h.cleanup()


@test
def retrieval_publishes_unused_public_texts():
    """"generator": "retrieval" fills the next round with texts of the public
    corpus (documents, paragraphs, sentences) near the kept samples, none of
    them already in the population; without a corpus it is refused and the
    round stays open."""
    work = tempfile.mkdtemp(prefix="hush-e2e-retr-")
    corpus = os.path.join(work, "public.jsonl")
    docs = ["Team lunch moved to Friday at one. Bring your laptop. See you all there.",
            "Your bill for November is attached. Payment is due within fourteen days.",
            "The parcel you bought has been sent. It should arrive on Tuesday.",
            "The training on phishing must be finished by Friday, please.",
            "Could you look at my patch before the freeze? Thank you so much.",
            "The yearly report is done. The figures look better this year."]
    with open(corpus, "w") as f:
        for d in docs:
            f.write(json.dumps({"text": d}) + "\n")
    h = Hushd(HUSHD, extra=["--generator-corpus", corpus])
    try:
        create(h, refine={"keep": 2, "population": 5, "generator": "retrieval"})
        post(h, "mail", 1, [0] * 30 + [1] * 20)
        s, doc, _ = close(h, body={"round": 1})
        expect(s == 201 and doc["generated"] >= 1, "close %s %s" % (s, doc))
        _, _, pub = publication(h)
        new = [c["text"] for c in pub["candidates"][2:]]
        expect(all(any(t in d for d in docs) for t in new), "public units: %s" % new)
        expect(not set(new) & set(TEXTS), "nothing the population held: %s" % new)
        s, hist, _ = h.json("GET", "/v1/campaigns/mail/rounds")
        expect(hist["rounds"][0]["policy"]["generator"] == "retrieval", "%s" % hist)
    finally:
        h.cleanup()
    h = Hushd(HUSHD)
    try:
        create(h, refine={"keep": 2, "population": 5, "generator": "retrieval"})
        post(h, "mail", 1, [0] * 30)
        s, doc, _ = close(h, body={"round": 1})
        expect(s == 409 and doc["error"]["code"] == "generator_failed" and
               "--generator-corpus" in doc["error"]["message"], "no corpus: %s %s" % (s, doc))
        s, doc, _ = post(h, "mail", 1, [1])
        expect(s == 200, "round 1 stays open: %s" % doc)
    finally:
        h.cleanup()


def sif_table(work):
    """A small SIF table (hush-embed sif-table) in which the words of TEXTS
    and of the public corpus below are content words: 100 frequent filler
    words first, then the rest with seeded random vectors."""
    import random
    rng = random.Random(7)
    words = ["the", "a", "and", "of", "to", "in", "is", "you", "for", "on", "at", "be",
             "your", "it", "this", "my", "by", "all", "there", "so"]
    words += ["q%s%s" % (chr(97 + i // 26), chr(97 + i % 26)) for i in range(100 - len(words))]
    content = set()
    for t in TEXTS + PUBLIC_DOCS:
        for w in t.lower().replace(".", " ").replace(",", " ").replace("?", " ").split():
            if w.isalpha() and w not in words:
                content.add(w)
    words += sorted(content)
    src = os.path.join(work, "vectors.txt")
    with open(src, "w") as f:
        for w in words:
            f.write(w + " " + " ".join("%.4f" % rng.gauss(0, 1) for _ in range(16)) + "\n")
    table = os.path.join(work, "table.hsif")
    embed = os.path.join(os.path.dirname(HUSHD), "hush-embed")
    p = subprocess.run([embed, "sif-table", "--out", table, src], capture_output=True,
                       text=True, check=True)
    return table, json.loads(p.stdout)


PUBLIC_DOCS = ["Team lunch moved to Friday at one. Bring your laptop. See you all there.",
               "Your bill for November is attached. Payment is due within fourteen days.",
               "The parcel you bought has been sent. It should arrive on Tuesday.",
               "The training on phishing must be finished by Friday, please.",
               "Could you look at my patch before the freeze? Thank you so much.",
               "The yearly report is done. The figures look better this year."]


def words_of(t):
    return len(t.split())


@test
def sif_campaigns_use_the_word_vector_table_and_substitute_words():
    """A campaign whose embedder is "sif" names its table by checksum: hushd
    embeds with the table given by --word-vectors (refusing a campaign
    without it, or naming another), devices embed with theirs (hush-agent
    --word-vectors), and retrieval replaces content words by their
    neighbours, keeping every text's word count."""
    work = tempfile.mkdtemp(prefix="hush-e2e-sif-")
    table, desc = sif_table(work)
    corpus = os.path.join(work, "public.jsonl")
    with open(corpus, "w") as f:
        for d in PUBLIC_DOCS:
            f.write(json.dumps({"text": d}) + "\n")
    body = {"id": "mail", "name": "Mail", "kind": "synthetic", "candidates": TEXTS,
            "epsilon": 8, "mechanism": "grr", "match_threshold": -1, "embedder": desc,
            "min_reports": 0, "refine": {"keep": 2, "population": 6}}
    h = Hushd(HUSHD)
    try:
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body=body)
        expect(s == 400 and "--word-vectors" in doc["error"]["message"],
               "no table: %s %s" % (s, doc))
    finally:
        h.cleanup()
    h = Hushd(HUSHD, extra=["--generator-corpus", corpus, "--word-vectors", table])
    try:
        other = json.loads(json.dumps(desc))
        other["table"]["checksum"] = "0123456789abcdef"
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body=dict(body, embedder=other))
        expect(s == 400 and doc["error"]["code"] in ("invalid_embedder", "invalid_campaign"),
               "another table: %s %s" % (s, doc))
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body=body)
        expect(s == 201, "create %s %s" % (s, doc))
        # a device with the table takes part
        s, keys, _ = h.json("GET", "/v1/keys")
        samples = os.path.join(work, "samples.jsonl")
        with open(samples, "w") as f:
            f.write(json.dumps({"text": TEXTS[1]}) + "\n")
        agent = os.path.join(os.path.dirname(HUSHD), "hush-agent")
        p = subprocess.run([agent, "run", "--collector", h.base, "--key", keys["signing_key"],
                            "--samples", samples, "--state", os.path.join(work, "state"),
                            "--seed", "3", "--word-vectors", table],
                           capture_output=True, text=True, timeout=60)
        expect(p.returncode == 0 and '"accepted":1' in p.stdout,
               "hush-agent with the table: %s %s" % (p.stdout, p.stderr))
        p = subprocess.run([agent, "run", "--collector", h.base, "--key", keys["signing_key"],
                            "--samples", samples, "--state", os.path.join(work, "state2"),
                            "--seed", "3"], capture_output=True, text=True, timeout=60)
        expect("word-vector table" in p.stdout + p.stderr,
               "hush-agent without it says why: %s %s" % (p.stdout, p.stderr))
        post(h, "mail", 1, [0] * 30 + [1] * 20)
        s, doc, _ = close(h, body={"round": 1, "substitute": 0.9})
        expect(s == 400 and doc["error"]["code"] == "invalid_policy", "0.9: %s %s" % (s, doc))
        s, doc, _ = close(h, body={"round": 1, "substitute": 0.5})
        expect(s == 201 and doc["generated"] >= 1, "close %s %s" % (s, doc))
        _, _, pub = publication(h)
        new = [c["text"] for c in pub["candidates"][2:]]
        units = [u.strip() for d in PUBLIC_DOCS for u in [d] + d.replace("? ", ". ").split(". ")]
        expect(all(any(words_of(t) == words_of(u) for u in units) for t in new),
               "word counts of public units: %s" % new)
        expect(any(not any(t in d for d in PUBLIC_DOCS) for t in new),
               "at 0.5 some words were replaced: %s" % new)
        s, hist, _ = h.json("GET", "/v1/campaigns/mail/rounds")
        expect(hist["rounds"][0]["policy"]["substitute"] == 0.5, "%s" % hist)
    finally:
        h.cleanup()
    h = Hushd(HUSHD, extra=["--generator-corpus", corpus])
    try:
        create(h, refine={"keep": 2, "population": 5, "generator": "retrieval"})
        post(h, "mail", 1, [0] * 30)
        s, doc, _ = close(h, body={"round": 1, "substitute": 0.2})
        expect(s == 409 and doc["error"]["code"] == "no_word_vectors", "%s %s" % (s, doc))
        s, doc, _ = close(h, body={"round": 1})
        expect(s == 201, "without a table retrieval does not substitute: %s %s" % (s, doc))
        s, hist, _ = h.json("GET", "/v1/campaigns/mail/rounds")
        expect(hist["rounds"][0]["policy"]["substitute"] == 0, "%s" % hist)
    finally:
        h.cleanup()


@test
def numbers_survive_javascript_and_jq():
    """A 64-bit round seed goes in and out as a decimal string (as a JSON
    number beyond 2^53 JavaScript and jq change it), and a number too large
    to be exact is refused; reals are written in their shortest exact form
    (0.1, not 0.10000000000000001)."""
    h = Hushd(HUSHD)
    try:
        create(h, refine={"keep": 2, "population": 4})
        post(h, "mail", 1, [0] * 10 + [1] * 5)
        s, doc, _ = close(h, body={"round": 1, "seed": 2 ** 53 + 1})
        expect(s == 400 and doc["error"]["code"] == "invalid_policy", "2^53+1: %s %s" % (s, doc))
        s, doc, _ = close(h, body={"round": 1, "seed": "18446744073709551615"})
        expect(s == 201, "close %s %s" % (s, doc))
        s, raw, _ = h.request("GET", "/v1/campaigns/mail/rounds")
        expect(b'"seed":"18446744073709551615"' in raw, "the seed as a string: %r" % raw[:400])
        validate(json.loads(raw), "rounds")
        s, raw, _ = h.request("GET", "/v1/campaigns/mail")
        expect(b"0000000000000" not in raw and b'"match_threshold":0.1' in raw,
               "shortest reals: %r" % raw[:300])
    finally:
        h.cleanup()


@test
def compaction_drops_closed_rounds_batches_and_changes_no_estimate():
    """POST /v1/store/compact (admin) deletes the batches of closed rounds,
    says how many and how many bytes, and changes nothing anyone can see:
    closed rounds' frozen estimates, the open round's estimates (before and
    after a restart), a resent batch of the open round still a duplicate, a
    resent batch of a closed round still refused."""
    h = Hushd(HUSHD)
    try:
        create(h, refine={"keep": 2, "population": 6})
        old = [{"campaign": "mail", "round": 1, "batch_id": batch_id(), "reports": [0] * 20 + [1] * 10}
               for _ in range(3)]
        for b in old:
            expect(h.json("POST", "/v1/reports", body=b)[0] == 200, "round 1 batch")
        s, doc, _ = close(h, body={"round": 1})
        expect(s == 201, "close %s %s" % (s, doc))
        cur = [{"campaign": "mail", "round": 2, "batch_id": batch_id(), "reports": [0, 1, 2]}
               for _ in range(2)]
        for b in cur:
            expect(h.json("POST", "/v1/reports", body=b)[0] == 200, "round 2 batch")
        _, est1, _ = h.request("GET", "/v1/campaigns/mail/estimates?round=1")
        _, est2, _ = h.request("GET", "/v1/campaigns/mail/estimates")
        s, doc, _ = h.json("POST", "/v1/store/compact")
        expect(s == 401, "admin only: %s" % s)
        s, doc, _ = h.json("POST", "/v1/store/compact", admin=True)
        validate(doc, "compaction")
        expect(s == 200 and doc["rounds"] == 1 and doc["batches_deleted"] == 3 and
               doc["reports_deleted"] == 90 and doc["bytes_freed"] >= 3 * (30 + 16) and
               doc["file_bytes"] > 0, "compact: %s %s" % (s, doc))
        expect(h.request("GET", "/v1/campaigns/mail/estimates?round=1")[1] == est1,
               "round 1's frozen estimates")
        expect(h.request("GET", "/v1/campaigns/mail/estimates")[1] == est2, "round 2's")
        s, doc, _ = h.json("POST", "/v1/reports", body=cur[0])
        expect(s == 200 and doc["duplicate"], "the open round still dedupes: %s" % doc)
        s, doc, _ = h.json("POST", "/v1/reports", body=old[0])
        expect(s == 409, "a closed round's batch is still refused: %s %s" % (s, doc))
        h.stop()
        h.start()
        expect(h.request("GET", "/v1/campaigns/mail/estimates")[1] == est2, "after a restart")
        expect(h.request("GET", "/v1/campaigns/mail/estimates?round=1")[1] == est1, "round 1 too")
        s, doc, _ = h.json("POST", "/v1/store/compact", admin=True)
        expect(s == 200 and doc["batches_deleted"] == 0, "nothing left: %s" % doc)
    finally:
        h.cleanup()


@test
def a_campaign_ends_now_or_at_its_date():
    """POST /v1/campaigns/{id}/end (admin) ends a campaign: reports get 409
    campaign_ended (counted per campaign), devices' view 410, a round close
    409; its estimates and full publication stay; the list shows it only
    with ?state=all; a second end is 409; it stays ended after a restart.
    "ends_at" ends one by itself when the time comes."""
    h = Hushd(HUSHD)
    try:
        create(h, refine={"keep": 2, "population": 6})
        expect(post(h, "mail", 1, [0] * 5)[0] == 200, "a batch")
        s, doc, _ = h.json("POST", "/v1/campaigns/mail/end")
        expect(s == 401, "admin only: %s" % s)
        s, doc, _ = h.json("POST", "/v1/campaigns/mail/end", admin=True)
        expect(s == 200 and doc["state"] == "ended" and doc["ended_at"] > 0, "end %s %s" % (s, doc))
        s, doc, _ = post(h, "mail", 1, [1])
        expect(s == 409 and doc["error"]["code"] == "campaign_ended", "report %s %s" % (s, doc))
        s, doc, _ = h.json("GET", "/v1/campaigns/mail?view=device")
        expect(s == 410 and doc["error"]["code"] == "campaign_ended", "device view %s" % s)
        expect(h.json("GET", "/v1/campaigns/mail")[0] == 200, "the full view stays")
        s, est, _ = h.json("GET", "/v1/campaigns/mail/estimates")
        expect(s == 200 and est["n_reports"] == 5, "estimates stay: %s" % est)
        s, doc, _ = close(h, body={"round": 1})
        expect(s == 409 and doc["error"]["code"] == "campaign_ended", "close %s %s" % (s, doc))
        s, doc, _ = h.json("POST", "/v1/campaigns/mail/end", admin=True)
        expect(s == 409, "twice: %s" % s)
        s, lst, _ = h.json("GET", "/v1/campaigns")
        expect(lst["campaigns"] == [], "the default list has the active ones: %s" % lst)
        s, lst, _ = h.json("GET", "/v1/campaigns?state=all")
        validate(lst, "campaign-list")
        expect(lst["campaigns"][0]["state"] == "ended", "all: %s" % lst)
        s, text, _ = h.request("GET", "/metrics")
        expect(b'hush_campaign_batches_rejected_total{campaign="mail",reason="campaign_ended"} 1'
               in text, "counted")
        h.stop()
        h.start()
        s, doc, _ = post(h, "mail", 1, [1])
        expect(s == 409 and doc["error"]["code"] == "campaign_ended", "after a restart: %s" % s)
        # a scheduled end
        body = {"id": "soon", "name": "Soon", "kind": "poll", "candidates": ["a", "b"],
                "epsilon": 1, "min_reports": 0, "ends_at": int(time.time()) + 2}
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body=body)
        expect(s == 201, "create with ends_at %s %s" % (s, doc))
        expect(h.json("POST", "/v1/reports", body={"campaign": "soon", "round": 1,
                      "batch_id": batch_id(), "reports": [0]})[0] == 200, "before its end")
        s, lst, _ = h.json("GET", "/v1/campaigns")
        expect([c["id"] for c in lst["campaigns"]] == ["soon"], "listed: %s" % lst)
        time.sleep(2.5)
        s, doc, _ = h.json("POST", "/v1/reports", body={"campaign": "soon", "round": 1,
                           "batch_id": batch_id(), "reports": [0]})
        expect(s == 409 and doc["error"]["code"] == "campaign_ended", "after it: %s" % s)
        s, lst, _ = h.json("GET", "/v1/campaigns")
        expect(lst["campaigns"] == [], "and gone from the list: %s" % lst)
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True,
                           body=dict(body, id="past", ends_at=int(time.time()) - 1))
        expect(s == 400 and doc["error"]["code"] == "invalid_ends_at", "a past date: %s" % doc)
    finally:
        h.cleanup()


@test
def an_ended_campaign_archives_and_keeps_its_estimates():
    """POST /v1/campaigns/{id}/archive (admin, ended campaigns only) saves
    the open round's state as its final checkpoint and deletes every batch
    of the campaign in one transaction, saying what it freed; the estimates
    stay byte for byte, across a restart too; other campaigns keep theirs."""
    h = Hushd(HUSHD)
    try:
        create(h, refine={"keep": 2, "population": 6})
        for _ in range(4):
            expect(post(h, "mail", 1, [0] * 20 + [1] * 10)[0] == 200, "a batch")
        body = {"id": "other", "name": "O", "kind": "poll", "candidates": ["a", "b"],
                "epsilon": 1, "min_reports": 0}
        expect(h.json("POST", "/v1/campaigns", admin=True, body=body)[0] == 201, "other")
        expect(h.json("POST", "/v1/reports", body={"campaign": "other", "round": 1,
                      "batch_id": batch_id(), "reports": [0, 1]})[0] == 200, "other's batch")
        s, doc, _ = h.json("POST", "/v1/campaigns/mail/archive", admin=True)
        expect(s == 409 and doc["error"]["code"] == "campaign_active", "active: %s %s" % (s, doc))
        expect(h.json("POST", "/v1/campaigns/mail/end", admin=True)[0] == 200, "end")
        _, est, _ = h.request("GET", "/v1/campaigns/mail/estimates")
        _, other, _ = h.request("GET", "/v1/campaigns/other/estimates")
        s, doc, _ = h.json("POST", "/v1/campaigns/mail/archive")
        expect(s == 401, "admin only: %s" % s)
        s, doc, _ = h.json("POST", "/v1/campaigns/mail/archive", admin=True)
        expect(s == 200 and doc["state"] == "archived" and doc["batches_deleted"] == 4 and
               doc["reports_deleted"] == 120 and doc["bytes_freed"] > 0, "archive %s %s" % (s, doc))
        s, doc, _ = h.json("POST", "/v1/campaigns/mail/archive", admin=True)
        expect(s == 409 and doc["error"]["code"] == "campaign_archived", "twice: %s" % s)
        expect(h.request("GET", "/v1/campaigns/mail/estimates")[1] == est, "estimates stay")
        s, lst, _ = h.json("GET", "/v1/campaigns?state=all")
        validate(lst, "campaign-list")
        expect([c.get("archived_at", 0) > 0 for c in lst["campaigns"]] == [True, False],
               "listed: %s" % lst)
        h.kill()   # no checkpoint at shutdown: the archive's own must do
        h.start()
        expect(h.request("GET", "/v1/campaigns/mail/estimates")[1] == est,
               "estimates after kill -9 and a restart")
        expect(h.request("GET", "/v1/campaigns/other/estimates")[1] == other, "the other's too")
        s, doc, _ = h.json("POST", "/v1/store/compact", admin=True)
        expect(s == 200 and doc["batches_deleted"] == 0, "nothing of it left: %s" % doc)
    finally:
        h.cleanup()


@test
def a_rotated_signing_key_is_followed_from_the_pinned_one():
    """POST /v1/keys/rotate (admin): a new signing key, a continuity
    document signed by the old key and the new one in GET /v1/keys, the
    open publications re-signed (and still after a restart); a device that
    pins the old key follows the document and takes part, one that is shown
    a forged document refuses it and trusts nothing new."""
    work = tempfile.mkdtemp(prefix="hush-e2e-rotate-")
    h = Hushd(HUSHD)
    try:
        create(h)
        sodium = Sodium()
        _, keys, _ = h.json("GET", "/v1/keys")
        k1 = keys["signing_key"]
        expect(keys.get("continuity") == [], "no rotation yet: %s" % keys)
        s, doc, _ = h.json("POST", "/v1/keys/rotate")
        expect(s == 401, "admin only: %s" % s)
        s, doc, _ = h.json("POST", "/v1/keys/rotate", admin=True)
        expect(s == 200 and doc["signing_key"] != k1, "rotate %s %s" % (s, doc))
        _, keys, _ = h.json("GET", "/v1/keys")
        validate(keys, "keys")
        k2 = keys["signing_key"]
        expect(k2 == doc["signing_key"] and len(keys["continuity"]) == 1, "keys %s" % keys)
        e = keys["continuity"][0]
        d = json.loads(e["document"])
        expect(d["old_key"] == k1 and d["new_key"] == k2, "document %s" % d)
        text = e["document"].encode()
        expect(sodium.verify(base64.b64decode(e["old_signature"]), text, base64.b64decode(k1))
               and sodium.verify(base64.b64decode(e["new_signature"]), text,
                                 base64.b64decode(k2)), "signed by both keys")
        for view in ("", "?view=device"):
            body, sig, _ = publication(h, view=view)
            expect(sodium.verify(base64.b64decode(sig), body, base64.b64decode(k2)),
                   "re-signed with the new key (%s)" % view)
        h.stop()
        h.start()
        body, sig, _ = publication(h)
        expect(sodium.verify(base64.b64decode(sig), body, base64.b64decode(k2)),
               "after a restart too")
        # a device pinning the old key
        samples = os.path.join(work, "samples.jsonl")
        with open(samples, "w") as f:
            f.write(json.dumps({"text": TEXTS[0]}) + "\n")
        agent = os.path.join(os.path.dirname(HUSHD), "hush-agent")
        p = subprocess.run([agent, "run", "--collector", h.base, "--key", k1, "--samples",
                            samples, "--state", os.path.join(work, "state"), "--seed", "4"],
                           capture_output=True, text=True, timeout=60)
        expect(p.returncode == 0 and '"accepted":1' in p.stdout and "followed 1" in p.stderr,
               "an agent pinning the old key: %s %s" % (p.stdout, p.stderr))
        with open(os.path.join(work, "state", "trusted-keys")) as f:
            expect(f.read().strip() == k2, "the followed key is kept")
    finally:
        h.cleanup()
        shutil.rmtree(work, ignore_errors=True)


@test
def pe_selection_draws_children_in_proportion_and_keeps_none():
    """"selection": "pe": each candidate's weight is its count minus
    pe_threshold standard errors; those with weight > 0 are parents, none
    survives, and the children are drawn in proportion to the weights."""
    work = tempfile.mkdtemp(prefix="hush-e2e-pe-")
    corpus = os.path.join(work, "public.jsonl")
    with open(corpus, "w") as f:
        # forty distinct notes (not one template with a number: retrieval
        # refuses near-copies)
        import random
        rng = random.Random(3)
        vocab = ("meeting invoice parcel monday friday report budget office train "
                 "dinner garden release patch review travel hotel payment slides "
                 "weather football concert holiday").split()
        for i in range(40):
            f.write(json.dumps({"text": "Note: " + " ".join(rng.sample(vocab, 9)) + "."}) + "\n")
    h = Hushd(HUSHD, extra=["--generator-corpus", corpus])
    try:
        create(h, refine={"population": 12, "selection": "pe", "pe_threshold": 3},
               epsilon=8)
        # c0 400 votes, c1 100, c2 1: at epsilon 8 the standard error is about
        # 1-2 counts, so c0 and c1 clear 3 of them and c2 does not
        post(h, "mail", 1, [0] * 400 + [1] * 100 + [2] * 1)
        s, doc, _ = close(h, body={"round": 1})
        expect(s == 201 and doc["kept"] == 0 and doc["generated"] >= 1, "close %s %s" % (s, doc))
        _, _, pub = publication(h)
        ids = [c["id"] for c in pub["candidates"]]
        expect(all(i.startswith("r2-") for i in ids), "no survivors: %s" % ids)
        s, hist, _ = h.json("GET", "/v1/campaigns/mail/rounds")
        r0 = hist["rounds"][0]
        expect(r0["policy"]["selection"] == "pe" and r0["policy"]["parents"] == 2,
               "policy %s" % r0["policy"])
        parents = list(r0["lineage"].values())
        expect(set(parents) <= {"c0", "c1"}, "parents %s" % parents)
        # 12 draws at weights about 4:1: c0 gets most (P[c0 < 6 of 12] < 1%)
        expect(parents.count("c0") >= 6, "in proportion: %s" % parents)
        s, doc, _ = close(h, body={"round": 2, "selection": "best"})
        expect(s == 400 and doc["error"]["code"] == "invalid_policy", "bad %s" % doc)
    finally:
        h.cleanup()


def main():
    global HUSHD
    if len(sys.argv) != 2:
        sys.exit("usage: test_rounds.py path/to/hushd")
    HUSHD = os.path.abspath(sys.argv[1])
    for t in [close_keeps_the_most_voted_and_publishes_the_next_round,
              shuffled_votes_are_a_control_without_signal,
              retrieval_publishes_unused_public_texts,
              sif_campaigns_use_the_word_vector_table_and_substitute_words,
              numbers_survive_javascript_and_jq,
              compaction_drops_closed_rounds_batches_and_changes_no_estimate,
              a_campaign_ends_now_or_at_its_date,
              an_ended_campaign_archives_and_keeps_its_estimates,
              a_rotated_signing_key_is_followed_from_the_pinned_one,
              pe_selection_draws_children_in_proportion_and_keeps_none,
              round_policy_and_what_cannot_be_closed,
              a_failing_external_generator_leaves_the_round_open, history_survives_a_restart,
              batches_racing_a_close_are_counted_or_refused,
              automatic_rounds_close_after_n_reports]:
        t()
    SUITE.finish()


if __name__ == "__main__":
    main()
