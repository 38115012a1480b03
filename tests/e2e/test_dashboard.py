#!/usr/bin/env python3
"""The dashboard in a real browser, and the formats analysts read.

A real hushd gets a poll with 5,000 randomized reports, a synthetic campaign
with closed rounds (quality figures recorded) and an open one, and a
DP-FedAvg task with closed rounds.  HTTP tests check CSV (same columns and
values as the JSON), ETags on estimates, CORS, /openapi.yaml, the asset
headers and --ui off.  The browser test opens /ui/ in Debian's Chromium
(playwright-core from the npm registry, pinned by tests/e2e/browser/
package-lock.json), and compares what the page shows with what the API
answers: the top-k table, the charts' marks, the round selector's frozen
round, the admin token's whereabouts, a phone-sized screen.  Screenshots
go to BUILD/screenshots/.

Usage: test_dashboard.py BUILD_DIR
"""
import base64
import csv
import gzip
import http.client
import io
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hushlib import Hushd, batch_id, validate, Suite, expect  # noqa: E402

SUITE = Suite("dashboard")
BUILD = None
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CANDIDATES = ["red heart", "fire", "rocket", "<b>pizza</b>", "=1+1", "rainbow", "sparkles",
              "thumbs up"]
TEXTS = [
    "Lunch meeting moved to Thursday at noon. Bring the slides. See you there.",
    "Your invoice for October is attached. Payment is due in thirty days.",
    "The package you ordered has shipped. It will arrive on Monday.",
    "Reminder: the security training must be completed this week.",
    "Can you review my pull request before the release? Thanks a lot.",
    "The quarterly report is ready. Numbers look good this time.",
]


def grr(rng, v, d, eps):
    """A device's GRR report of value v (what the device library sends)."""
    if rng.random() < math.exp(eps) / (math.exp(eps) + d - 1):
        return v
    o = rng.randrange(d - 1)
    return o if o < v else o + 1


def post_reports(h, cid, rnd, values):
    for i in range(0, len(values), 500):
        s, d, _ = h.json("POST", "/v1/reports", body={
            "campaign": cid, "round": rnd, "batch_id": batch_id(), "reports": values[i:i + 500]})
        expect(s == 200, "reports: %s %s" % (s, d))


def populate(h, rng):
    """The three kinds of thing the dashboard shows, with data in each."""
    s, d, _ = h.json("POST", "/v1/campaigns", admin=True, body={
        "id": "emoji", "name": "Emoji", "kind": "poll", "candidates": CANDIDATES, "epsilon": 4,
        "mechanism": "grr", "min_reports": 10})
    expect(s == 201, "poll: %s" % d)
    w = [1 / (i + 1) for i in range(len(CANDIDATES))]
    post_reports(h, "emoji", 1, [grr(rng, rng.choices(range(len(CANDIDATES)), w)[0],
                                     len(CANDIDATES), 4) for _ in range(5000)])
    s, d, _ = h.json("POST", "/v1/campaigns", admin=True, body={
        "id": "mail", "name": "Mail", "kind": "synthetic", "candidates": TEXTS, "epsilon": 8,
        "mechanism": "grr", "match_threshold": 0.1, "min_reports": 50,
        "embedder": {"kind": "hashed-ngram", "version": 1, "dim": 64, "seed": 3},
        "refine": {"keep": 2, "population": 6}})
    expect(s == 201, "synthetic: %s" % d)
    for rnd in range(1, 5):
        post_reports(h, "mail", rnd, [rng.choice([0, 0, 0, 1, 1, 2, 3, 4, 5]) for _ in range(300)])
        if rnd < 4:
            s, d, _ = h.json("POST", "/v1/campaigns/mail/rounds", admin=True, body={
                "round": rnd, "metrics": {"fd": 1.0 - 0.1 * rnd, "coverage": 0.1 * rnd}})
            expect(s == 201, "close: %s" % d)
    n = 17
    s, d, _ = h.json("POST", "/v1/models", admin=True, body={
        "id": "spam", "name": "Spam", "architecture": {"kind": "logistic"},
        "embedder": {"kind": "hashed-ngram", "version": 1, "dim": 16, "seed": 2},
        "labels": ["ham", "spam"], "clip_norm": 1.0, "expected_clients": 5, "population": 1000,
        "rounds": 10, "min_clients": 3, "target_epsilon": 8, "upload": {"encoding": "float32"},
        "local": {"epochs": 1, "batch": 4, "lr": 0.1}})
    expect(s == 201, "model: %s" % d)
    for rnd in range(1, 4):
        for _ in range(5):
            v = [rng.gauss(0, 0.1) for _ in range(n)]
            s, d, _ = h.json("POST", "/v1/models/spam/updates", body={
                "model": "spam", "round": rnd, "batch_id": batch_id(), "unclipped": True,
                "update": base64.b64encode(struct.pack("<%df" % n, *v)).decode()})
            expect(s == 200, "update: %s" % d)
        s, d, _ = h.json("POST", "/v1/models/spam/rounds", admin=True)
        expect(s == 201, "model close: %s" % d)
        # an evaluator of the operator's records what it measured
        s, d, _ = h.json("POST", "/v1/models/spam/metrics", admin=True, body={
            "round": rnd, "metrics": {"accuracy": round(0.8 + 0.03 * rnd, 2), "test_emails": 500}})
        expect(s == 200, "metrics: %s" % d)


def hushd(*extra):
    return Hushd(os.path.join(BUILD, "bin", "hushd"),
                 extra=["--test-noise-seed", "1"] + list(extra))


def read_csv(data):
    expect(data.endswith(b"\r\n"), "CSV lines end in CRLF")
    return list(csv.DictReader(io.StringIO(data.decode())))


def cell(v):
    """A JSON value as the CSV writes it."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "%.10g" % v
    s = str(v)
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s


# ---- formats ----

@SUITE.test
def estimates_and_rounds_as_csv_carry_the_jsons_columns():
    h = hushd()
    try:
        populate(h, random.Random(1))
        for path in ("/v1/campaigns/emoji/estimates?top=8", "/v1/campaigns/mail/estimates?round=2"):
            s, doc, _ = h.json("GET", path)
            sep = "&" if "?" in path else "?"
            s1, by_query, hq = h.request("GET", path + sep + "format=csv")
            s2, by_accept, ha = h.request("GET", path, headers={"Accept": "text/csv"})
            expect(s1 == 200 and s2 == 200 and by_query == by_accept, "both ways give CSV")
            expect(hq["Content-Type"].startswith("text/csv"), "type %s" % hq["Content-Type"])
            rows = read_csv(by_query)
            expect(len(rows) == len(doc["items"]), "one row per item")
            for row, it in zip(rows, doc["items"]):
                for k in ("campaign", "round", "n_reports", "epsilon", "mechanism"):
                    expect(row[k] == cell(doc[k]), "%s: %s vs %s" % (k, row[k], doc[k]))
                for k in ("candidate_id", "text", "estimate", "std_error", "frequency",
                          "significant"):
                    expect(row[k] == cell(it[k]), "%s: %r vs %r" % (k, row[k], it[k]))
                expect(float(row["ci95_low"]) == float(cell(it["ci95"][0])) and
                       float(row["ci95_high"]) == float(cell(it["ci95"][1])), "interval")
        # the texts are the candidates' own, a formula defused
        rows = read_csv(h.request("GET", "/v1/campaigns/emoji/estimates?format=csv")[1])
        texts = {r["text"] for r in rows}
        expect("<b>pizza</b>" in texts and "'=1+1" in texts, "texts %s" % texts)
        # rounds: one column per field, objects one level down, lineage as JSON
        s, hist, _ = h.json("GET", "/v1/campaigns/mail/rounds")
        rows = read_csv(h.request("GET", "/v1/campaigns/mail/rounds?format=csv")[1])
        expect(len(rows) == len(hist["rounds"]) == 4, "%d rows" % len(rows))
        for row, r in zip(rows, hist["rounds"]):
            expect(row["round"] == str(r["round"]) and row["campaign"] == "mail", "keys")
            expect(row["n_reports"] == cell(r.get("n_reports")), "n_reports")
            if r["closed_at"] is not None:
                expect(row["metrics.fd"] == cell(r["metrics"]["fd"]) and
                       row["kept"] == str(r["kept"]), "metrics %s" % row)
                expect(json.loads(row["lineage"]) == r["lineage"], "lineage")
            else:
                expect(row["closed_at"] == "" and row["metrics.fd"] == "", "open row %s" % row)
        rows = read_csv(h.request("GET", "/v1/models/spam/rounds?format=csv")[1])
        s, mh, _ = h.json("GET", "/v1/models/spam/rounds")
        expect([float(r["epsilon"]) for r in rows] ==
               [float(cell(r["epsilon"])) for r in mh["rounds"]], "model rounds")
        # a withheld round: the header alone, and why
        h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "few", "name": "Few", "kind": "poll", "candidates": ["a", "b"], "epsilon": 1})
        s, data, hd = h.request("GET", "/v1/campaigns/few/estimates?format=csv")
        expect(s == 200 and data.count(b"\r\n") == 1 and "withheld" in hd["Hush-Withheld"],
               "withheld: %s %s" % (data, dict(hd)))
        # bad formats: 400, and nothing changes
        before = h.request("GET", "/v1/campaigns/emoji/estimates")[1]
        for path in ("/v1/campaigns/emoji/estimates?format=xml",
                     "/v1/campaigns/mail/rounds?format=CSV", "/v1/models/spam/rounds?format="):
            s, doc, _ = h.json("GET", path)
            expect(s == 400 and doc["error"]["code"] == "invalid_format", "%s: %s" % (path, doc))
        expect(h.request("GET", "/v1/campaigns/emoji/estimates")[1] == before, "unchanged")
    finally:
        h.cleanup()


@SUITE.test
def estimates_etags_change_only_with_the_aggregate():
    h = hushd()
    try:
        populate(h, random.Random(2))
        path = "/v1/campaigns/emoji/estimates?top=5"
        s, body, hd = h.request("GET", path)
        tag = hd["ETag"]
        expect(s == 200 and tag.startswith('"') and hd["Cache-Control"] == "no-cache", "tag %s" % tag)
        s, body2, hd2 = h.request("GET", path, headers={"If-None-Match": tag})
        expect(s == 304 and body2 == b"" and hd2["ETag"] == tag, "unchanged: %s" % s)
        s, _, _ = h.request("GET", path, headers={"If-None-Match": "W/" + tag + ', "x"'})
        expect(s == 304, "a weak tag in a list matches")
        s, _, hc = h.request("GET", path + "&format=csv", headers={"If-None-Match": tag})
        expect(s == 200 and hc["ETag"] != tag, "CSV is another representation")
        frozen = "/v1/campaigns/mail/estimates?round=2"
        ftag = h.request("GET", frozen)[2]["ETag"]
        post_reports(h, "emoji", 1, [0, 1, 2])
        post_reports(h, "mail", 4, [0, 1])
        s, body3, hd3 = h.request("GET", path, headers={"If-None-Match": tag})
        expect(s == 200 and hd3["ETag"] != tag and json.loads(body3)["n_reports"] ==
               json.loads(body)["n_reports"] + 3, "new reports, new tag")
        s, _, _ = h.request("GET", frozen, headers={"If-None-Match": ftag})
        expect(s == 304, "a closed round's estimates stay: %s" % s)
        s, _, _ = h.request("GET", "/v1/campaigns/mail/estimates?round=9",
                            headers={"If-None-Match": "*"})
        expect(s == 404, "no 304 for a round that does not exist: %s" % s)
        # a restarted collector's versions start again: its tags never match old ones
        h.stop()
        h.start()
        s, _, hd4 = h.request("GET", path, headers={"If-None-Match": hd3["ETag"]})
        expect(s == 200 and hd4["ETag"] != hd3["ETag"], "after a restart: %s" % s)
    finally:
        h.cleanup()


@SUITE.test
def an_evaluator_records_a_closed_rounds_metrics():
    h = hushd()
    try:
        populate(h, random.Random(6))
        s, hist, _ = h.json("GET", "/v1/models/spam/rounds")
        validate(hist, "model-rounds")
        expect([r["metrics"]["accuracy"] for r in hist["rounds"]] == [0.83, 0.86, 0.89],
               "history %s" % hist)
        rows = read_csv(h.request("GET", "/v1/models/spam/rounds?format=csv")[1])
        expect([r["metrics.accuracy"] for r in rows] == ["0.83", "0.86", "0.89"], "CSV %s" % rows)
        body = {"round": 2, "metrics": {"accuracy": 0.5}}
        validate(body, "model-round-metrics")
        s, doc, _ = h.json("POST", "/v1/models/spam/metrics", body=body)
        expect(s == 401, "needs the token: %s" % s)
        for bad, status, code in [
                ({"round": 4, "metrics": {}}, 404, "unknown_round"),  # open
                ({"round": 9, "metrics": {}}, 404, "unknown_round"),
                ({"round": 0, "metrics": {}}, 400, "invalid_round"),
                ({"round": "1", "metrics": {}}, 400, "invalid_round"),
                ({"round": 1}, 400, "invalid_metrics"),
                ({"round": 1, "metrics": [0.9]}, 400, "invalid_metrics"),
                ({"round": 1, "metrics": {"x": "y" * 17000}}, 400, "invalid_metrics"),
                ({"round": 1, "metrics": {}, "note": 1}, 400, "invalid")]:
            s, doc, _ = h.json("POST", "/v1/models/spam/metrics", admin=True, body=bad)
            expect(s == status and doc["error"]["code"] == code, "%s: %s %s" % (bad, s, doc))
        s, doc, _ = h.json("POST", "/v1/models/nope/metrics", admin=True, body=body)
        expect(s == 404 and doc["error"]["code"] == "unknown_model", "unknown model")
        expect(h.json("GET", "/v1/models/spam/rounds")[1] == hist, "refusals change nothing")
        s, doc, _ = h.json("POST", "/v1/models/spam/metrics", admin=True, body=body)
        expect(s == 200 and doc == {"model": "spam", "round": 2, "metrics": {"accuracy": 0.5}},
               "replaced: %s" % doc)
        h.stop()
        h.start()
        s, hist2, _ = h.json("GET", "/v1/models/spam/rounds")
        expect([r["metrics"]["accuracy"] for r in hist2["rounds"]] == [0.83, 0.5, 0.89],
               "kept across a restart: %s" % hist2)
    finally:
        h.cleanup()


@SUITE.test
def cors_is_off_unless_an_origin_is_listed():
    h = hushd()
    try:
        s, _, hd = h.request("GET", "/v1/campaigns", headers={"Origin": "https://dash.example"})
        expect(s == 200 and hd.get("Access-Control-Allow-Origin") is None, "off by default")
        s, _, hd = h.request("OPTIONS", "/v1/campaigns", headers={
            "Origin": "https://dash.example", "Access-Control-Request-Method": "GET"})
        expect(hd.get("Access-Control-Allow-Origin") is None, "no preflight grant")
    finally:
        h.cleanup()
    h = hushd("--cors-origin", "https://dash.example,http://localhost:3000")
    try:
        populate(h, random.Random(3))
        s, _, hd = h.request("GET", "/v1/campaigns/emoji/estimates",
                             headers={"Origin": "https://dash.example"})
        expect(hd["Access-Control-Allow-Origin"] == "https://dash.example" and
               "Origin" in hd["Vary"] and "ETag" in hd["Access-Control-Expose-Headers"],
               "granted: %s" % dict(hd))
        s, _, hd = h.request("GET", "/v1/campaigns", headers={"Origin": "https://evil.example"})
        expect(s == 200 and hd.get("Access-Control-Allow-Origin") is None, "not listed")
        s, _, hd = h.request("OPTIONS", "/v1/campaigns/emoji/estimates", headers={
            "Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match"})
        expect(s == 204 and hd["Access-Control-Allow-Origin"] == "http://localhost:3000" and
               "If-None-Match" in hd["Access-Control-Allow-Headers"] and
               "POST" not in hd["Access-Control-Allow-Methods"], "preflight %s" % dict(hd))
        # admin routes are never opened to another origin
        s, _, hd = h.request("POST", "/v1/campaigns", body={},
                             headers={"Origin": "https://dash.example"})
        expect(s == 401 and hd.get("Access-Control-Allow-Origin") is None, "admin: %s" % s)
        s, _, hd = h.request("OPTIONS", "/v1/keys/rotate", headers={"Origin": "https://dash.example"})
        expect(hd.get("Access-Control-Allow-Origin") is None, "no preflight for admin")
    finally:
        h.cleanup()


@SUITE.test
def the_api_description_and_the_pages_are_served_from_the_binary():
    h = hushd()
    try:
        with open(os.path.join(ROOT, "schemas", "openapi.yaml"), "rb") as f:
            spec = f.read()
        s, body, hd = h.request("GET", "/openapi.yaml")
        expect(s == 200 and body == spec and hd["Content-Type"].startswith("application/yaml"),
               "the spec as built in")
        s, body, hd = h.request("GET", "/openapi.yaml", headers={"Accept-Encoding": "gzip"})
        expect(hd["Content-Encoding"] == "gzip" and gzip.decompress(body) == spec and
               len(body) < len(spec) / 3, "gzip %d of %d" % (len(body), len(spec)))
        for path, status in (("/", 302), ("/ui", 301)):
            conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=10)
            conn.request("GET", path)
            resp = conn.getresponse()
            expect(resp.status == status and resp.getheader("Location") == "/ui/",
                   "%s -> %s %s" % (path, resp.status, resp.getheader("Location")))
            conn.close()
        s, page, hd = h.request("GET", "/ui/")
        csp = hd["Content-Security-Policy"]
        expect(s == 200 and b"/ui/app.js" in page and "script-src 'self'" in csp and
               "frame-ancestors 'none'" in csp and hd["X-Content-Type-Options"] == "nosniff",
               "page headers %s" % dict(hd))
        expect(b"<script>" not in page and b"style=" not in page, "nothing inline (CSP)")
        for name in ("app.js", "style.css"):
            with open(os.path.join(ROOT, "ui", name), "rb") as f:
                src = f.read()
            s, body, hd = h.request("GET", "/ui/" + name)
            expect(s == 200 and body == src, name)
            s, body, _ = h.request("GET", "/ui/" + name, headers={"If-None-Match": hd["ETag"]})
            expect(s == 304 and body == b"", "%s revalidates" % name)
        s, doc, _ = h.json("GET", "/ui/nope.js")
        expect(s == 404 and doc["error"]["code"] == "not_found", "unknown file")
        s, _, hd = h.request("POST", "/ui/")
        expect(s == 405 and hd["Allow"] == "GET", "read-only")
    finally:
        h.cleanup()
    h = hushd("--ui", "off")
    try:
        for path in ("/ui/", "/ui/app.js", "/ui", "/"):
            s, doc, _ = h.json("GET", path)
            expect(s == 404 and doc["error"]["code"] == "not_found", "%s with --ui off: %s" % (path, s))
        expect(h.request("GET", "/openapi.yaml")[0] == 200, "the spec stays")
    finally:
        h.cleanup()


@SUITE.test
def the_demo_has_reports_to_show():
    h = hushd("--demo")
    try:
        s, est, _ = h.json("GET", "/v1/campaigns/demo-emoji/estimates")
        expect(s == 200 and est["n_reports"] == 20000 and not est["withheld"], "demo %s" % s)
        # the simulated favourites are Zipf(1.1) over 12: each estimate within
        # 4.5 standard errors of its share (12 checks; a false alarm ~1e-4)
        z = sum((i + 1) ** -1.1 for i in range(12))
        for it in est["items"]:
            k = int(it["candidate_id"][1:])
            truth = 20000 * (k + 1) ** -1.1 / z
            expect(abs(it["estimate"] - truth) <= 4.5 * it["std_error"],
                   "%s: %.0f vs %.0f (se %.1f)" % (it["candidate_id"], it["estimate"], truth,
                                                   it["std_error"]))
        expect("simulated devices" in h.stderr(), "the log says the reports are made up")
        h.stop()
        h.start()  # --demo again: nothing new
        s, est2, _ = h.json("GET", "/v1/campaigns/demo-emoji/estimates")
        s, lst, _ = h.json("GET", "/v1/campaigns")
        expect(est2["n_reports"] == 20000 and len(lst["campaigns"]) == 1, "idempotent")
    finally:
        h.cleanup()


# ---- the browser ----

def browser_tools():
    """Chromium and playwright-core, or the reason there are none."""
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        return None, "no Chromium at %s (scripts/install-deps --test installs Debian's chromium; set CHROMIUM to use another)" % chromium
    if shutil.which("npm") is None or shutil.which("node") is None:
        return None, "no node/npm to install playwright-core with"
    npm_dir = os.path.join(BUILD, "npm-browser")
    lock = os.path.join(HERE, "browser", "package-lock.json")
    stamp = os.path.join(npm_dir, "lock")
    with open(lock, "rb") as f:
        want = f.read()
    have = open(stamp, "rb").read() if os.path.exists(stamp) else None
    if have != want or not os.path.isdir(os.path.join(npm_dir, "node_modules", "playwright-core")):
        shutil.rmtree(npm_dir, ignore_errors=True)
        os.makedirs(npm_dir)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(HERE, "browser", name), npm_dir)
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=npm_dir,
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("npm ci playwright-core failed: " + r.stderr[-2000:])
        with open(stamp, "wb") as f:
            f.write(want)
    shutil.copy(os.path.join(HERE, "browser", "dashboard.mjs"), npm_dir)
    return (chromium, npm_dir), None


def shown(text):
    return float(text.replace(",", ""))


@SUITE.test
def the_dashboard_shows_what_the_api_answers():
    tools, why = browser_tools()
    if tools is None:
        print("  SKIPPED: %s" % why, flush=True)
        return
    chromium, npm_dir = tools
    shots = os.path.join(BUILD, "screenshots")
    os.makedirs(shots, exist_ok=True)
    h = hushd()
    try:
        populate(h, random.Random(4))
        post_reports(h, "mail", 4, [random.Random(5).choice([0, 1, 2, 6]) for _ in range(120)])
        s, api_poll, _ = h.json("GET", "/v1/campaigns/emoji/estimates?top=8")
        s, api_open, _ = h.json("GET", "/v1/campaigns/mail/estimates?top=7")
        s, api_frozen, _ = h.json("GET", "/v1/campaigns/mail/estimates?round=2&top=7")
        s, hist, _ = h.json("GET", "/v1/campaigns/mail/rounds")
        s, pub, _ = h.json("GET", "/v1/campaigns/mail")
        s, mrounds, _ = h.json("GET", "/v1/models/spam/rounds")
        s, d, _ = h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "soon", "name": "Soon", "kind": "poll", "candidates": ["a", "b"],
            "epsilon": 2, "min_reports": 100})
        post_reports(h, "soon", 1, [0] * 10)
        config = {"poll": "emoji", "synthetic": "mail", "frozen": 2, "model": "spam",
                  "withheld": "soon", "more": 400, "token": h.token}
        r = subprocess.run(["node", "dashboard.mjs", h.base, shots, json.dumps(config)],
                           cwd=npm_dir, capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, CHROMIUM=chromium))
        expect(r.returncode == 0, "the browser run failed:\n" + r.stderr[-3000:])
        seen = json.loads(r.stdout)
        pages = seen["pages"]
        expect(seen["console"] == [], "console errors: %s" % seen["console"])
        # every request went to hushd; the first load is small and gzipped
        netloc = urllib.parse.urlparse(h.base).netloc
        others = [q["url"] for q in seen["requests"]
                  if urllib.parse.urlparse(q["url"]).netloc != netloc]
        expect(others == [], "requests elsewhere: %s" % others)
        first = sum(q["bytes"] for q in seen["firstLoad"])
        expect(len(seen["firstLoad"]) == 3 and first < 300 * 1024 and
               all(q["encoding"] == "gzip" for q in seen["firstLoad"]),
               "first load %s" % seen["firstLoad"])
        # campaigns: both listed, reports as the API counts them
        listed = {row["key"]: row for row in pages["campaigns"]["rows"]}
        expect(set(listed) == {"emoji", "mail", "soon"}, "listed %s" % list(listed))
        # a client of the public API: GETs without credentials until the token
        early = seen["requests"][:seen["beforeToken"]]
        paths = {urllib.parse.urlparse(q["url"]).path for q in early}
        expect(all(q["method"] == "GET" and not q["auth"] for q in early) and
               all(p.startswith(("/ui/", "/v1/", "/metrics")) for p in paths),
               "requests before the token: %s" % sorted(paths))
        # a 304 to fetch() shows in DevTools as net::ERR_ABORTED (no body to
        # read); the page counts the 304s it reused
        done = [q for q in early if q["failed"] is None]
        aborted = [q for q in early if q["failed"] is not None]
        expect(all(q["status"] in (200, 304) for q in done),
               "every request answered: %s" % [q for q in done if q["status"] not in (200, 304)])
        expect(seen["unchanged"] >= 1 and len(aborted) == seen["unchanged"] and
               all("/estimates" in q["url"] for q in aborted),
               "the page revalidates with ETags: %d reused, %s" % (seen["unchanged"], aborted))
        expect(shown(listed["emoji"]["cells"][5]) == api_poll["n_reports"], "reports column")

        def same_table(rows, api, what):
            expect([r["candidate"] for r in rows] == [i["candidate_id"] for i in api["items"]],
                   "%s: order %s" % (what, [r["candidate"] for r in rows]))
            for r, it in zip(rows, api["items"]):
                expect(float(r["values"][3]) == it["estimate"] and
                       float(r["lo"]) == it["ci95"][0] and float(r["hi"]) == it["ci95"][1] and
                       float(r["values"][6]) == it["frequency"], "%s: values %s" % (what, r))
                expect(abs(shown(r["cells"][3]) - it["estimate"]) <= 0.05 + 1e-9,
                       "%s: shown %s for %s" % (what, r["cells"][3], it["estimate"]))
                sig = {True: "yes", False: "no", None: "–"}[it["significant"]]
                expect(r["cells"][7] == sig, "%s: significant %s" % (what, r["cells"]))
        same_table(pages["poll"]["rows"], api_poll, "poll")
        pizza = [r for r in pages["poll"]["rows"] if r["cells"][2] == "<b>pizza</b>"]
        expect(len(pizza) == 1 and "&lt;b&gt;" in pizza[0]["markup"], "text stays text")
        chart = pages["poll"]["chart"]
        expect(len(chart) == 1 and chart[0]["rects"] == len(api_poll["items"]) and
               chart[0]["significant"] == sum(i["significant"] is True for i in api_poll["items"])
               and chart[0]["width"] > 100, "bar chart %s" % chart)
        # new reports reached the page by itself, and the table is the API's again
        ref = pages["refresh"]
        expect(ref["posted"] == 200 and ref["after"] == ref["before"] + 400 and
               ref["navigations"] == 1, "refresh %s" % {k: ref[k] for k in ref if k != "rows"})
        s, api_now, _ = h.json("GET", "/v1/campaigns/emoji/estimates?top=8")
        same_table(ref["rows"], api_now, "after the refresh")
        expect("withheld until the round holds 100 reports (it holds 10)" in
               pages["withheld"]["text"], "withheld: %s" % pages["withheld"]["text"])
        # the round selector: the open round, then the frozen round 2
        syn = pages["synthetic"]
        expect(syn["options"] == [4, 3, 2, 1] and syn["selected"] == "2", "rounds %s" % syn)
        same_table(syn["open"], api_open, "open round")
        same_table(syn["frozen"], api_frozen, "frozen round")
        expect([r["values"][3] for r in syn["open"]] != [r["values"][3] for r in syn["frozen"]],
               "the numbers changed with the round")
        charts = syn["roundCharts"]
        expect(len(charts) == 4 and all(c["circles"] > 0 for c in charts),
               "fd, coverage, kept/generated, reports: %s" % charts)
        expect(len(syn["roundRows"]) == len(hist["rounds"]), "rounds table")
        texts = [c["text"] for c in pub["candidates"]]
        expect(len(syn["samples"]) == len(texts) and
               all(t in sample for t, sample in zip(texts, syn["samples"])), "samples")
        # the federated task: epsilon, clip norm, participation by round
        model = pages["model"]
        expect(len(model["charts"]) == 5 and
               all(c["circles"] == len(mrounds["rounds"]) for c in model["charts"]),
               "epsilon, clip, updates, accuracy, test_emails: %s" % model["charts"])
        expect(len(model["rows"]) == len(mrounds["rounds"]), "model table")
        ops = pages["ops"]
        total = h.request("GET", "/metrics")[1].decode()
        accepted = [ln.split()[-1] for ln in total.splitlines()
                    if ln.startswith("hush_reports_accepted_total ")][0]
        expect(len(ops["charts"]) == 2 and len(ops["rejected"]) == 1 and
               "{:,}".format(int(accepted)) in ops["text"], "ops %s" % ops["charts"])
        # the admin token: actions appear, one works, the token stays in memory
        admin = seen["admin"]
        expect(not any(b.startswith(("Close", "End")) for b in admin["before"]),
               "no admin action without the token: %s" % admin["before"])
        expect("Close round 4" in admin["after"] and "End campaign" in admin["after"],
               "actions with it: %s" % admin["after"])
        expect(admin["closed"] is not None and admin["closed"]["ok"] == "ok",
               "close: %s" % admin["closed"])
        s, hist2, _ = h.json("GET", "/v1/campaigns/mail/rounds")
        expect(hist2["round"] == 5, "the page closed round 4: %s" % hist2["round"])
        tok = h.token
        expect(tok not in admin["url"] and tok not in admin["storage"] and
               admin["inputValue"] == "", "the token leaked: %s" % admin)
        with open(os.path.join(h.dir, "access.log")) as f:
            expect(tok not in f.read(), "the token in the access log")
        # a phone: no sideways scrolling, the chart fits
        phone = pages["phone"]
        expect(phone["overflow"] <= 0 and 0 < phone["chart"][0]["width"] <= 390,
               "phone %s" % phone)
        for name in ("campaigns", "estimates", "synthetic", "model", "ops", "phone"):
            path = os.path.join(shots, "dashboard-%s.png" % name)
            expect(os.path.getsize(path) > 10000, "screenshot %s" % path)
        print("  first load %d bytes (gzip); screenshots in %s" % (first, shots), flush=True)
    finally:
        h.cleanup()


def main():
    global BUILD
    if len(sys.argv) != 2:
        sys.exit("usage: test_dashboard.py BUILD_DIR")
    BUILD = os.path.abspath(sys.argv[1])
    estimates_and_rounds_as_csv_carry_the_jsons_columns()
    estimates_etags_change_only_with_the_aggregate()
    an_evaluator_records_a_closed_rounds_metrics()
    cors_is_off_unless_an_origin_is_listed()
    the_api_description_and_the_pages_are_served_from_the_binary()
    the_demo_has_reports_to_show()
    the_dashboard_shows_what_the_api_answers()
    SUITE.finish()

if __name__ == "__main__":
    main()
