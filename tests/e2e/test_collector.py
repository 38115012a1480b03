#!/usr/bin/env python3
"""End-to-end tests of hushd: a real server on loopback, real HTTP.

  - every JSON Schema example and every live response validates (jsonschema);
  - publications are signed (checked with libsodium directly, and with
    OpenSSL as a second, independent Ed25519 implementation);
  - bad input gets its documented status and error JSON, and changes nothing;
  - sealed batches open, tampered or truncated ones are refused;
  - kill -9 in the middle of concurrent ingestion loses nothing that was
    acknowledged and half-counts nothing: after a restart, resending every
    batch counts each exactly once;
  - SIGTERM stops the server gracefully with exit status 0;
  - no client address appears in the logs.

Usage: test_collector.py path/to/hushd
"""
import base64
import glob
import http.client
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import jsonschema
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hushlib import REPO, SCHEMAS, Hushd, Sodium, Suite, batch_id, expect, validate  # noqa: E402,E501

HUSHD = None
SUITE = Suite("collector")
test = SUITE.test


def n_reports(h, cid):
    status, doc, _ = h.json("GET", "/v1/campaigns/%s/estimates" % cid)
    expect(status == 200, "estimates: %s %s" % (status, doc))
    return doc["n_reports"]


# ---------------------------------------------------------------------------

@test
def schema_examples_validate():
    pairs = {
        "campaign-create.poll": "campaign-create", "campaign-create.synthetic": "campaign-create",
        "campaign-created": "campaign-created", "campaign-list": "campaign-list",
        "publication.poll": "publication", "publication.synthetic": "publication",
        "publication.synthetic-device": "publication",
        "round-close": "round-close", "round-closed": "round-closed", "rounds": "rounds",
        "model-create": "model-create", "model-update": "model-update",
        "model-privacy": "model-privacy",
        "report-batch": "report-batch", "sealed-batch": "sealed-batch",
        "report-ack": "report-ack", "estimates": "estimates",
        "estimates.withheld": "estimates", "keys": "keys", "health": "health", "error": "error",
    }
    for stage in ("keys", "list", "boxes", "masked", "survivors", "signature", "unmask",
                  "reveals"):
        pairs["secagg-" + stage] = "secagg-message"
    examples = sorted(glob.glob(os.path.join(SCHEMAS, "examples", "*.json")))
    expect(len(examples) == len(pairs), "every example is listed: %s" % examples)
    for path in examples:
        name = os.path.basename(path)[:-5]
        with open(path) as f:
            validate(json.load(f), pairs[name])
    for path in glob.glob(os.path.join(SCHEMAS, "*.schema.json")):
        with open(path) as f:
            jsonschema.Draft202012Validator.check_schema(json.load(f))
    with open(os.path.join(SCHEMAS, "openapi.yaml")) as f:
        api = yaml.safe_load(f)
    expect(api["openapi"].startswith("3.1"), "OpenAPI 3.1")
    for ref in json.dumps(api).split('"$ref": "')[1:]:
        target = ref.split('"')[0]
        if not target.startswith("#"):
            expect(os.path.exists(os.path.join(SCHEMAS, target)), "missing " + target)
    # every route of the route table, with its method, is described
    # ("/ui/" as "/ui": the linter refuses trailing slashes; {id} by any name)
    with open(os.path.join(os.path.dirname(SCHEMAS), "collector", "routes.h")) as f:
        table = re.findall(r'X\(\w+, (GET|POST), "([^"]+)"', f.read())
    expect(len(table) > 20, "read the route table")
    described = {(re.sub(r"\{\w+\}", "{}", path), m.upper())
                 for path, ops in api["paths"].items() for m in ops if m in ("get", "post")}
    for method, path in table:
        norm = re.sub(r"\{\w+\}", "{}", path.rstrip("/") or "/")
        expect((norm, method) in described, "OpenAPI covers %s %s" % (method, path))


@test
def routes_respond_and_validate():
    h = Hushd(HUSHD)
    try:
        s, doc, _ = h.json("GET", "/healthz")
        expect(s == 200, "healthz")
        validate(doc, "health")
        s, keys, _ = h.json("GET", "/v1/keys")
        validate(keys, "keys")
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "poll1", "name": "Colours", "kind": "poll", "candidates": ["red", "green", "blue"],
            "epsilon": 2, "min_reports": 0})
        expect(s == 201, "create: %s %s" % (s, doc))
        validate(doc, "campaign-created")
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "syn1", "name": "Emails", "kind": "synthetic", "epsilon": 2,
            "candidates": ["Lunch at noon?", "Invoice attached", "Your package shipped"],
            "match_threshold": 0.2, "embedder": {"kind": "hashed-ngram", "version": 1,
                                                 "dim": 32, "seed": 5}})
        expect(s == 201, "create synthetic: %s %s" % (s, doc))
        expect(doc["mechanism"]["domain"] == 4, "synthetic domain includes none")
        s, doc, _ = h.json("GET", "/v1/campaigns")
        validate(doc, "campaign-list")
        expect([c["id"] for c in doc["campaigns"]] == ["poll1", "syn1"], "listed")
        sodium = Sodium()
        pk = base64.b64decode(keys["signing_key"])
        for cid in ["poll1", "syn1"]:
            s, body, hdrs = h.request("GET", "/v1/campaigns/" + cid)
            expect(s == 200, "publication")
            pub = json.loads(body)
            validate(pub, "publication")
            sig = base64.b64decode(hdrs["Hush-Signature"])
            expect(sodium.verify(sig, body, pk), "libsodium verifies the publication")
            expect(not sodium.verify(sig, body.replace(b"Colours", b"Colourz"), pk)
                   or b"Colours" not in body, "a tampered body does not verify")
            openssl_verify(body, sig, pk)
            # the device view: signed on its own, no candidate texts
            s, dbody, dhdrs = h.request("GET", "/v1/campaigns/%s?view=device" % cid)
            expect(s == 200, "device view")
            dev = json.loads(dbody)
            validate(dev, "publication")
            dsig = base64.b64decode(dhdrs["Hush-Signature"])
            expect(sodium.verify(dsig, dbody, pk), "the device view's signature verifies")
            if cid == "syn1":
                expect("candidates" not in dev and dev["candidate_count"] == 3,
                       "device view replaces the list by its count: %s" % dev.keys())
                expect(b"Invoice" not in dbody and dev["matrix"] == pub["matrix"],
                       "same matrix, no texts")
                expect(len(dbody) < len(body), "the device view is smaller")
            else:
                expect(dbody == body, "a poll has one view")
        s, doc, _ = h.request("GET", "/v1/campaigns/syn1?view=thumbnail")
        expect(s == 400 and json.loads(doc)["error"]["code"] == "invalid_view", "bad view")
        s, doc, _ = h.json("POST", "/v1/reports", body={
            "campaign": "poll1", "round": 1, "batch_id": batch_id(), "reports": [0, 1, 2, 0]})
        expect(s == 200 and doc == {"accepted": 4, "duplicate": False}, "ack %s %s" % (s, doc))
        validate(doc, "report-ack")
        s, doc, _ = h.json("GET", "/v1/campaigns/poll1/estimates?top=2")
        validate(doc, "estimates")
        expect(doc["n_reports"] == 4 and len(doc["items"]) == 2, "estimates %s" % doc)
        s, doc, _ = h.json("GET", "/v1/campaigns/syn1/estimates")
        validate(doc, "estimates")
        expect(doc["withheld"] is True and "min_reports" in doc, "withheld %s" % doc)
        s, body, hdrs = h.request("GET", "/metrics")
        text = body.decode()
        expect("hush_reports_accepted_total 4" in text, "metrics count the reports")
        expect("hush_commit_duration_seconds_bucket" in text, "commit histogram")
    finally:
        h.cleanup()


def openssl_verify(body, sig, pk):
    if shutil.which("openssl") is None:
        return
    d = tempfile.mkdtemp()
    try:
        der = bytes.fromhex("302a300506032b6570032100") + pk
        pem = "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n" % \
            base64.b64encode(der).decode()
        for name, data in (("key.pem", pem.encode()), ("body", body), ("sig", sig)):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "key.pem",
                            "-rawin", "-in", "body", "-sigfile", "sig"], cwd=d,
                           capture_output=True, text=True)
        expect(r.returncode == 0, "OpenSSL verifies the Ed25519 signature: " + r.stdout + r.stderr)
    finally:
        shutil.rmtree(d)


@test
def bad_input_is_refused_and_changes_nothing():
    h = Hushd(HUSHD, extra=["--max-body-bytes", "65536"])
    try:
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "p", "name": "P", "kind": "poll", "candidates": ["a", "b", "c", "d"],
            "epsilon": 1, "mechanism": "grr", "min_reports": 0})
        expect(s == 201, "create")
        good = {"campaign": "p", "round": 1, "batch_id": batch_id(), "reports": [0, 1]}
        s, doc, _ = h.json("POST", "/v1/reports", body=good)
        expect(doc["accepted"] == 2, "first batch")
        keys = h.json("GET", "/v1/keys")[1]
        sodium = Sodium()
        sealed_ok = sodium.seal(json.dumps({"campaign": "p", "round": 1, "batch_id": batch_id(),
                                            "reports": [3]}).encode(),
                                base64.b64decode(keys["sealing_key"]))
        tampered = bytearray(sealed_ok)
        tampered[-1] ^= 1
        cases = [
            ("malformed JSON", None, b'{"campaign":', {}, 400, "malformed"),
            ("not an object", [1, 2], None, {}, 400, "malformed"),
            ("round as a string", dict(good, round="1", batch_id=batch_id()), None, {}, 400,
             "malformed"),
            ("missing reports", {"campaign": "p", "round": 1, "batch_id": batch_id()}, None, {},
             400, "malformed"),
            ("short batch_id", dict(good, batch_id="AAAA"), None, {}, 400, "malformed"),
            ("empty reports", dict(good, batch_id=batch_id(), reports=[]), None, {}, 400,
             "malformed"),
            ("extra field", dict(good, batch_id=batch_id(), device="x"), None, {}, 400,
             "malformed"),
            ("report out of range", dict(good, batch_id=batch_id(), reports=[0, 4]), None, {},
             400, "invalid_report"),
            ("negative report", dict(good, batch_id=batch_id(), reports=[-1]), None, {}, 400,
             "invalid_report"),
            ("report of the wrong type", dict(good, batch_id=batch_id(), reports=["0"]), None,
             {}, 400, "invalid_report"),
            ("unknown campaign", dict(good, campaign="nope", batch_id=batch_id()), None, {}, 404,
             "unknown_campaign"),
            ("future round", dict(good, round=2, batch_id=batch_id()), None, {}, 409,
             "round_closed"),
            ("oversize body", None, b"[" + b"0," * 70000 + b"0]", {}, 413, "too_large"),
            ("wrong content type", None, json.dumps(dict(good, batch_id=batch_id())).encode(),
             {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
            ("tampered sealed batch", {"sealed": base64.b64encode(bytes(tampered)).decode()},
             None, {}, 400, "sealed"),
            ("truncated sealed batch", {"sealed": base64.b64encode(sealed_ok[:40]).decode()},
             None, {}, 400, "sealed"),
            ("sealed with extra fields", {"sealed": base64.b64encode(sealed_ok).decode(),
                                          "x": 1}, None, {}, 400, "sealed"),
        ]
        before = n_reports(h, "p")
        for what, body, raw, headers, want, code in cases:
            s, doc, _ = h.json("POST", "/v1/reports", body=body, raw=raw, headers=headers)
            expect(s == want, "%s: status %s, want %s (%s)" % (what, s, want, doc))
            validate(doc, "error")
            expect(doc["error"]["code"] == code, "%s: code %s, want %s" % (what, doc, code))
            expect(n_reports(h, "p") == before, what + " changed the aggregate")
        s, doc, _ = h.json("POST", "/v1/reports", body=good)
        expect(s == 200 and doc == {"accepted": 0, "duplicate": True}, "replay: %s" % doc)
        expect(n_reports(h, "p") == before, "a replayed batch is not counted again")
        s, doc, _ = h.json("POST", "/v1/reports",
                           body={"sealed": base64.b64encode(sealed_ok).decode()})
        expect(s == 200 and doc["accepted"] == 1, "a sealed batch: %s %s" % (s, doc))
        expect(n_reports(h, "p") == before + 1, "sealed batch counted")
        s, doc, _ = h.json("POST", "/v1/reports", body=dict(good, batch_id=batch_id(),
                                                             reports=[1] * 3 + [9]))
        expect("report 3" in doc["error"]["message"], "names the first bad report: %s" % doc)
        # admin routes
        spec = {"name": "Q", "kind": "poll", "candidates": ["x", "y"], "epsilon": 1}
        s, doc, _ = h.json("POST", "/v1/campaigns", body=spec)
        expect(s == 401 and doc["error"]["code"] == "unauthorized", "no token: %s" % s)
        s, doc, _ = h.json("POST", "/v1/campaigns", body=spec,
                           headers={"Authorization": "Bearer " + "0" * 64})
        expect(s == 401, "wrong token: %s" % s)
        for bad, code in [({"name": "Q", "kind": "vote", "candidates": ["x"], "epsilon": 1},
                           "invalid_kind"),
                          ({"name": "Q", "kind": "poll", "candidates": [], "epsilon": 1},
                           "invalid_candidates"),
                          ({"name": "Q", "kind": "poll", "candidates": ["x"], "epsilon": -1},
                           "invalid_epsilon"),
                          ({"name": "Q", "kind": "poll", "candidates": ["x", "y"], "epsilon": 1,
                            "mechanism": "rappor"}, "invalid_mechanism"),
                          ({"name": "Q", "kind": "poll", "candidates": ["x", "y"], "epsilon": 2,
                            "budget": {"epsilon_per_device_per_day": 1}}, "invalid_budget"),
                          ({"name": "Q", "kind": "poll", "candidates": ["x", "y"], "epsilon": 1,
                            "colour": "red"}, "malformed"),
                          ({"id": "p", "name": "Q", "kind": "poll", "candidates": ["x", "y"],
                            "epsilon": 1}, "exists")]:
            s, doc, _ = h.json("POST", "/v1/campaigns", body=bad, admin=True)
            expect(s in (400, 409) and doc["error"]["code"] == code,
                   "bad campaign %s: %s %s" % (bad, s, doc))
        s, doc, _ = h.json("GET", "/v1/campaigns")
        expect(len(doc["campaigns"]) == 1, "no refused campaign was created")
        s, doc, _ = h.json("GET", "/v1/nothing")
        expect(s == 404, "unknown route")
        s, doc, _ = h.json("DELETE", "/v1/reports")
        expect(s == 405 and doc["error"]["code"] == "method_not_allowed", "405")
        s, doc, _ = h.json("GET", "/v1/campaigns/p/estimates?top=0")
        expect(s == 400, "top=0")
        s, doc, _ = h.json("GET", "/v1/campaigns/p/estimates?round=3")
        expect(s == 404, "unknown round")
        h.stop()
        log = open(os.path.join(h.dir, "access.log")).read() + h.stderr()
        # the server's own address is named once, at start; no client's ever
        lines = [line for line in log.splitlines() if not line.startswith("hushd: listening")]
        expect(not any("127.0.0.1" in line for line in lines), "no client address in the logs")
        expect("POST /v1/reports 400" in log, "one line per request")
    finally:
        h.cleanup()


def raw(h, method, target, body=None, headers=None):
    """One request with the target sent byte for byte (urllib would not
    send some of these)."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", h.port, timeout=10)
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    c.putrequest(method, target, skip_accept_encoding=True)
    data = json.dumps(body).encode() if body is not None else b""
    for k, v in hdrs.items():
        c.putheader(k, v)
    c.putheader("Content-Length", str(len(data)))
    c.endheaders(data)
    r = c.getresponse()
    text = r.read()
    c.close()
    return r.status, (json.loads(text) if text.startswith(b"{") else text), dict(r.getheaders())


@test
def paths_are_routed_exactly():
    """A NUL (%00) or an invalid percent-encoding anywhere in the target is a
    400 (a decoded %00 used to cut the path: /v1/campaigns/p%00/estimates
    served the publication, /v1/reports%00x took a batch); a path no route
    has is a 404, a routed path with the wrong method a 405 naming the right
    ones; a round close naming round 0 is a 400."""
    h = Hushd(HUSHD)
    try:
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "p", "name": "P", "kind": "synthetic",
            "candidates": ["lunch on friday", "the invoice is attached"],
            "epsilon": 1, "mechanism": "grr", "min_reports": 0,
            "embedder": {"kind": "hashed-ngram", "version": 1, "dim": 16, "seed": 1}})
        expect(s == 201, "create %s %s" % (s, doc))
        batch = {"campaign": "p", "round": 1, "batch_id": batch_id(), "reports": [0]}
        for target in ["/v1/campaigns/p%00/estimates", "/v1/campaigns/p%00", "/v1/keys%00",
                       "/v1/campaigns/p%zz", "/v1/campaigns/p%4", "/v1/campaigns/p%",
                       "/v1/campaigns/p/estimates?top=%00", "/v1/campaigns/p/estimates?x=%g1"]:
            s, doc, _ = raw(h, "GET", target)
            expect(s == 400 and doc["error"]["code"] == "bad_request", "%s: %s %s" % (target, s, doc))
        s, doc, _ = raw(h, "POST", "/v1/reports%00x", body=batch)
        expect(s == 400, "POST /v1/reports%%00x: %s %s" % (s, doc))
        expect(n_reports(h, "p") == 0, "the batch was not taken")
        s, doc, _ = raw(h, "GET", "/v1/campaigns/p%2Fx")
        expect(s == 404, "a valid escape decodes and routes: %s %s" % (s, doc))
        for target in ["/v1/campaigns/" + "x" * 66, "/v1/campaigns//estimates",
                       "/v1/campaigns/p/", "/v1/campaigns/p/estimates/extra",
                       "/v1/models/../campaigns", "/v1/campaigns/p/rounds/1", "/v1/keys/",
                       "/v2/campaigns", "/ui/x/y", "/uix"]:
            for method in ("GET", "POST", "DELETE"):
                s, doc, _ = raw(h, method, target, body={} if method == "POST" else None)
                expect(s == 404 and doc["error"]["code"] == "not_found",
                       "%s %s: %s %s" % (method, target, s, doc))
        for method, target, allow in [("DELETE", "/v1/campaigns/p", "GET"),
                                      ("PUT", "/v1/campaigns/p/rounds", "GET, POST"),
                                      ("GET", "/v1/reports", "POST"),
                                      ("POST", "/v1/models/m/privacy", "GET"),
                                      ("GET", "/v1/models/m/updates", "POST"),
                                      ("POST", "/", "GET"), ("DELETE", "/ui/", "GET")]:
            s, doc, hdrs = raw(h, method, target)
            expect(s == 405 and hdrs.get("Allow") == allow,
                   "%s %s: %s %s %s" % (method, target, s, doc, hdrs.get("Allow")))
        s, doc, _ = h.json("POST", "/v1/reports", body=batch)
        expect(s == 200, "a proper batch %s %s" % (s, doc))
        for bad in (0, -1, 2 ** 32, "1"):
            s, doc, _ = h.json("POST", "/v1/campaigns/p/rounds", admin=True, body={"round": bad})
            expect(s == 400 and doc["error"]["code"] == "invalid_round", "round %r: %s %s" % (bad, s, doc))
        s, doc, _ = h.json("POST", "/v1/campaigns/p/rounds", admin=True, body={"round": 2})
        expect(s == 409 and doc["error"]["code"] == "round_mismatch", "round 2: %s %s" % (s, doc))
    finally:
        h.cleanup()


@test
def an_endless_chunked_body_gets_413_at_the_cap():
    """A chunked body past --max-body-bytes is not read for as long as the
    client sends (it was: the 413 waited for a body end that never came).
    hushd drops up to 1 MiB more, so that a body a little too large ends
    and its client reads a clean 413, then answers and closes."""
    import select
    import socket
    h = Hushd(HUSHD, extra=["--max-body-bytes", "65536"])
    head = (b"POST /v1/reports HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"4000\r\n" + b"[" * 0x4000 + b"\r\n"
    try:
        # 1. endless: the server stops reading near cap + 1 MiB
        sock = socket.create_connection(("127.0.0.1", h.port), timeout=10)
        sock.sendall(head)
        sent, answer, closed = 0, b"", False
        deadline = time.time() + 30
        while time.time() < deadline and sent < 64 << 20:
            r, _, _ = select.select([sock], [], [], 0)
            try:
                if r:
                    answer = sock.recv(65536)
                    closed = True
                    break
                sock.sendall(chunk)
            except OSError:
                closed = True  # reset: the server closed with our bytes unread
                break
            sent += len(chunk)
        sock.close()
        expect(closed and sent < 8 << 20,
               "closed by the server after %d bytes (answer %r)" % (sent, answer[:60]))
        expect(answer == b"" or answer.startswith(b"HTTP/1.1 413"), "answer %r" % answer[:80])
        # 2. a body a little too large (200 KB) ends: a clean 413 in JSON
        sock = socket.create_connection(("127.0.0.1", h.port), timeout=10)
        sock.sendall(head + chunk * 12 + b"0\r\n\r\n")
        answer = b""
        while not answer.endswith(b"}") and len(answer) < 65536:
            part = sock.recv(65536)
            if not part:
                break
            answer += part
        sock.close()
        expect(answer.startswith(b"HTTP/1.1 413") and b'"too_large"' in answer,
               "answer %r" % answer[:300])
        s, doc, _ = h.json("GET", "/healthz")
        expect(s == 200, "still serving")
        s, text, _ = h.request("GET", "/metrics")
        expect(b'reason="too_large"} 2' in text, "both counted once: %s" %
               [line for line in text.decode().splitlines() if "too_large" in line])
    finally:
        h.cleanup()

@test
def trickling_clients_do_not_lock_others_out():
    """Slow-loris: 320 connections that trickle header bytes (from 20
    loopback addresses) are closed once --request-timeout passes, however
    steadily they trickle (libmicrohttpd's own timeout counts idle time
    only); one address gets at most --connections-per-client connections;
    and a well-behaved client is served all along."""
    import select
    import socket
    h = Hushd(HUSHD, extra=["--request-timeout", "3", "--connections-per-client", "16"])
    socks = []
    try:
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "p", "name": "P", "kind": "poll", "candidates": ["a", "b"],
            "epsilon": 1, "mechanism": "grr", "min_reports": 0})
        expect(s == 201, "create")

        def opened(src):
            c = socket.socket()
            c.bind((src, 0))
            c.settimeout(2)
            c.connect(("127.0.0.1", h.port))
            c.sendall(b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            return c

        for a in range(2, 22):
            for _ in range(16):
                socks.append(opened("127.0.0.%d" % a))
        # one address over its cap: the 17th and later are closed at once
        extra = [opened("127.0.0.99") for _ in range(24)]
        time.sleep(0.3)
        readable, _, _ = select.select(extra, [], [], 0)
        refused = 0
        for c in readable:
            try:
                refused += c.recv(16) == b""
            except OSError:
                refused += 1
        for c in extra:
            c.close()
        expect(refused >= 8, "over the per-client cap: %d of 24 closed at once" % refused)
        t0 = time.time()
        served = []
        open_midway = None
        while time.time() - t0 < 8:
            for c in socks:  # one more header byte each, every 0.5 s
                try:
                    c.send(b"a")
                except OSError:
                    pass
            if time.time() - t0 < 1.5:
                t = time.time()
                s1, _, _ = h.json("GET", "/healthz")
                s2, doc, _ = h.json("POST", "/v1/reports", body={
                    "campaign": "p", "round": 1, "batch_id": batch_id(), "reports": [1]})
                served.append((s1, s2, time.time() - t))
            if open_midway is None and time.time() - t0 > 1.0:
                open_midway = sum(1 for c in socks if not select.select([c], [], [], 0)[0])
            time.sleep(0.5)
        expect(served and all(a == 200 and b == 200 and dt < 1.0 for a, b, dt in served),
               "a well-behaved client is served while they trickle: %s" % served)
        expect(open_midway is not None and open_midway >= 300,
               "the tricklers were open meanwhile: %s" % open_midway)
        closed = 0
        for c in socks:
            r, _, _ = select.select([c], [], [], 0)
            if r:
                try:
                    closed += c.recv(64) == b""
                except OSError:
                    closed += 1
        expect(closed >= 310, "closed by the deadline: %d of %d" % (closed, len(socks)))
        s, text, _ = h.request("GET", "/metrics")
        line = [x for x in text.decode().splitlines() if x.startswith("hush_requests_timed_out")]
        expect(line and int(line[0].split()[-1]) >= 310, "metric %s" % line)
    finally:
        for c in socks:
            c.close()
        h.cleanup()


@test
def every_limit_is_checked_at_creation():
    """What was accepted and should not have been, each refused with a 400
    that names it, and nothing created: an explicit 0 for olh_g or
    sketch_rows (silently replaced by defaults), unknown budget fields, a
    daily epsilon no device can spend (1e308), max_report_bits 2^40, a
    synthetic campaign whose device view no device can download, duplicate
    model labels, a model whose updates cannot fit --max-body-bytes; and the
    headers: Content-Type matched as a media type (not a prefix), two
    Authorization headers refused."""
    h = Hushd(HUSHD, extra=["--max-body-bytes", "1048576"])
    try:
        poll = {"name": "Q", "kind": "poll", "candidates": ["x", "y", "z"], "epsilon": 1}
        for over, code, word in [
                ({"mechanism": {"name": "olh", "olh_g": 0}}, "invalid_mechanism", "olh_g"),
                ({"mechanism": {"name": "cms", "sketch_rows": 0, "sketch_cols": 64}},
                 "invalid_mechanism", "sketch_rows"),
                ({"budget": {"reports_per_device_per_day": 1, "cap": 3}}, "invalid_budget",
                 "budget.cap"),
                ({"budget": {"reports_per_device_per_day": 2,
                             "epsilon_per_device_per_day": 1e308}}, "invalid_budget", "[1, 2]"),
                ({"max_report_bits": 2 ** 40}, "invalid_mechanism", "max_report_bits")]:
            s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body=dict(poll, **over))
            expect(s == 400 and doc["error"]["code"] == code and word in doc["error"]["message"],
                   "%s: %s %s" % (over, s, doc))
        big = {"name": "Big", "kind": "synthetic", "epsilon": 1, "mechanism": "grr",
               "candidates": ["candidate text number %d" % i for i in range(5000)],
               "embedder": {"kind": "hashed-ngram", "version": 1, "dim": 4096, "seed": 1}}
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body=big)
        expect(s == 400 and doc["error"]["code"] == "too_large_for_devices", "%s %s" % (s, doc))
        s, doc, _ = h.json("GET", "/v1/campaigns")
        expect(doc["campaigns"] == [], "nothing created: %s" % doc)
        model = {"id": "m", "name": "M", "architecture": {"kind": "logistic"},
                 "embedder": {"kind": "hashed-ngram", "version": 1, "dim": 16, "seed": 2},
                 "labels": ["ham", "spam", "ham"], "clip_norm": 1.0, "expected_clients": 3,
                 "population": 30, "rounds": 10, "dp": "none"}
        s, doc, _ = h.json("POST", "/v1/models", admin=True, body=model)
        expect(s == 400 and "twice" in doc["error"]["message"], "labels: %s %s" % (s, doc))
        wide = dict(model, labels=["ham", "spam"], architecture={"kind": "mlp", "hidden": 256},
                    embedder={"kind": "hashed-ngram", "version": 1, "dim": 1024, "seed": 2})
        s, doc, _ = h.json("POST", "/v1/models", admin=True, body=wide)
        expect(s == 400 and doc["error"]["code"] == "too_large_for_updates", "%s %s" % (s, doc))
        s, doc, _ = h.json("GET", "/v1/models")
        expect(doc["models"] == [], "no model created: %s" % doc)
        # headers
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body=dict(poll, id="c1"),
                           headers={"Content-Type": "application/jsonx"})
        expect(s == 415, "application/jsonx: %s %s" % (s, doc))
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body=dict(poll, id="c2"),
                           headers={"Content-Type": "APPLICATION/JSON; charset=utf-8"})
        expect(s == 201, "APPLICATION/JSON: %s %s" % (s, doc))
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", h.port, timeout=10)
        data = json.dumps(dict(poll, id="c3")).encode()
        c.putrequest("POST", "/v1/campaigns")
        c.putheader("Content-Type", "application/json")
        c.putheader("Authorization", "Bearer " + "0" * 64)
        c.putheader("Authorization", "Bearer " + h.token)
        c.putheader("Content-Length", str(len(data)))
        c.endheaders(data)
        r = c.getresponse()
        doc = json.loads(r.read())
        c.close()
        expect(r.status == 400 and doc["error"]["code"] == "bad_request", "two: %s %s" % (r.status, doc))
        s, doc, _ = h.json("GET", "/v1/campaigns")
        expect([x["id"] for x in doc["campaigns"]] == ["c2"], "only c2: %s" % doc)
    finally:
        h.cleanup()


@test
def sighup_reopens_the_log_and_one_store_has_one_hushd():
    """SIGHUP reopens the access log (after a rotation) and re-reads the
    admin token, and hushd keeps serving (it used to die: wait status 129);
    the access log is written out within a second even when idle; a second
    hushd on the same store refuses to start, naming the first one's pid
    (it used to start and count apart)."""
    import signal
    h = Hushd(HUSHD)
    try:
        log = os.path.join(h.dir, "access.log")
        s, _, _ = h.json("GET", "/v1/keys")
        time.sleep(1.6)
        expect("GET /v1/keys 200" in open(log).read(), "flushed while idle: %r" % open(log).read())
        os.rename(log, log + ".1")
        h.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        expect(h.proc.poll() is None, "still running after SIGHUP")
        s, _, _ = h.json("GET", "/healthz")
        expect(s == 200, "serving after SIGHUP")
        time.sleep(1.6)
        expect(os.path.exists(log) and "GET /healthz 200" in open(log).read(),
               "a new access log after the rotation")
        expect(open(log + ".1").read().count("GET /healthz") == 1, "the old one kept the old lines")
        old = h.token
        with open(os.path.join(h.dir, "var/admin-token"), "w") as f:
            f.write("f" * 64 + "\n")
        h.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        s, _, _ = h.json("GET", "/v1/campaigns/x/rounds", headers={"Authorization": "Bearer " + old})
        s2, _, _ = h.json("POST", "/v1/campaigns", body={"name": "Q", "kind": "poll",
                          "candidates": ["a", "b"], "epsilon": 1},
                          headers={"Authorization": "Bearer " + old})
        expect(s2 == 401, "the old token no longer works: %s" % s2)
        s3, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
            "name": "Q", "kind": "poll", "candidates": ["a", "b"], "epsilon": 1})
        expect(s3 == 201, "the new token works: %s %s" % (s3, doc))
        expect("SIGHUP" in h.stderr(), "said so on stderr")
        # a second hushd on the same store
        p = subprocess.run([HUSHD, "--port", "0"], cwd=h.dir, capture_output=True, text=True,
                           timeout=30)
        expect(p.returncode == 1 and "in use by another hushd (pid %d)" % h.proc.pid in p.stderr,
               "second hushd: %s %r" % (p.returncode, p.stderr))
        s, doc, _ = h.json("GET", "/v1/campaigns")
        expect(s == 200 and len(doc["campaigns"]) == 1, "the first still serves")
        expect(h.stop() == 0, "SIGTERM still stops it")
        h.start()
        s, doc, _ = h.json("GET", "/v1/campaigns")
        expect(s == 200 and len(doc["campaigns"]) == 1, "the store is free once it stopped")
    finally:
        h.cleanup()


@test
def a_store_that_cannot_commit_is_said_and_not_ready():
    """When the store cannot commit (another process holds its write lock),
    the batches get 503, hushd says why on stderr with a level (it used to
    say nothing), /readyz answers 503 while /healthz stays 200 (liveness),
    and both recover when the store does."""
    import sqlite3
    h = Hushd(HUSHD)
    try:
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "p", "name": "P", "kind": "poll", "candidates": ["a", "b"], "epsilon": 1,
            "min_reports": 0})
        expect(s == 201, "create")
        s, doc, _ = h.json("GET", "/readyz")
        expect(s == 200 and doc["status"] == "ready", "ready: %s %s" % (s, doc))
        con = sqlite3.connect(os.path.join(h.dir, "var/hush.db"), isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        s, doc, _ = h.json("POST", "/v1/reports", body={"campaign": "p", "round": 1,
                                                         "batch_id": batch_id(), "reports": [0]})
        expect(s == 503 and doc["error"]["code"] == "unavailable", "batch: %s %s" % (s, doc))
        s, doc, _ = h.json("GET", "/readyz")
        expect(s == 503 and "write lock" in doc["error"]["message"], "not ready: %s %s" % (s, doc))
        s, _, _ = h.json("GET", "/healthz")
        expect(s == 200, "still alive")
        err = h.stderr()
        expect("hushd: error: store commit failed" in err and "locked" in err, "stderr: %s" % err)
        con.execute("ROLLBACK")
        con.close()
        s, doc, _ = h.json("GET", "/readyz")
        expect(s == 200, "ready again: %s %s" % (s, doc))
        s, doc, _ = h.json("POST", "/v1/reports", body={"campaign": "p", "round": 1,
                                                         "batch_id": batch_id(), "reports": [0]})
        expect(s == 200, "a batch again: %s %s" % (s, doc))
        expect("hushd: info: store commits work again" in h.stderr(), "said so")
        expect(n_reports(h, "p") == 1, "counted once")
    finally:
        h.cleanup()


@test
def metrics_answer_operators_questions():
    """GET /metrics says, per campaign and per reason, what was counted and
    what was refused (a device's bad upload leaves a trace), has the
    process_* family and hush_build_info, no HELP text broken over lines,
    and passes `promtool check metrics`."""
    h = Hushd(HUSHD)
    try:
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "p", "name": "P", "kind": "poll", "candidates": ["a", "b"], "epsilon": 1,
            "mechanism": "grr", "min_reports": 0})
        expect(s == 201, "create")
        b = {"campaign": "p", "round": 1, "batch_id": batch_id(), "reports": [0, 1]}
        expect(h.json("POST", "/v1/reports", body=b)[0] == 200, "a batch")
        expect(h.json("POST", "/v1/reports", body=b)[0] == 200, "its duplicate")
        expect(h.json("POST", "/v1/reports", body=dict(b, batch_id=batch_id(),
                                                        reports=[0, 7]))[0] == 400, "invalid")
        expect(h.json("POST", "/v1/reports", body=dict(b, batch_id=batch_id(), round=2))[0] == 409,
               "round")
        expect(h.json("POST", "/v1/reports", body=dict(b, campaign="nope"))[0] == 404, "unknown")
        s, text, _ = h.request("GET", "/metrics")
        text = text.decode()
        want = ['hush_campaign_reports_accepted_total{campaign="p"} 2',
                'hush_campaign_batches_accepted_total{campaign="p"} 1',
                'hush_campaign_batches_rejected_total{campaign="p",reason="duplicate"} 1',
                'hush_campaign_reports_rejected_total{campaign="p",reason="invalid_report"} 2',
                'hush_campaign_batches_rejected_total{campaign="p",reason="round_closed"} 1',
                'hush_batches_rejected_total{reason="unknown_campaign"} 1',
                'hush_build_info{version="']
        for w in want:
            expect(w in text, "%s in /metrics:\n%s" % (w, text))
        rss = [line for line in text.splitlines() if line.startswith("process_resident_memory_bytes ")]
        expect(rss and int(rss[0].split()[1]) > 1 << 20, "rss %s" % rss)
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("# HELP "):
                name = line.split()[2]
                expect(lines[i + 1].startswith("# TYPE " + name + " "),
                       "HELP of %s is one line: %r" % (name, lines[i + 1]))
        p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
        expect(p.returncode == 0, "promtool: %s %s" % (p.stdout, p.stderr))
    finally:
        h.cleanup()


@test
def backup_and_restore_serve_the_same_estimates():
    """The documented backup (docs/operations.md): the store copied online
    with sqlite3's .backup while hushd serves, the keys and the admin token
    copied; restored into a new directory, a new hushd serves byte-identical
    estimates and publications (the same signing key)."""
    h = Hushd(HUSHD)
    new = None
    try:
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "p", "name": "P", "kind": "poll", "candidates": ["a", "b", "c"], "epsilon": 2,
            "mechanism": "grr", "min_reports": 0})
        expect(s == 201, "create")
        rng = random.Random(3)
        for _ in range(20):
            s, doc, _ = h.json("POST", "/v1/reports", body={
                "campaign": "p", "round": 1, "batch_id": batch_id(),
                "reports": [rng.randrange(3) for _ in range(25)]})
            expect(s == 200, "batch")
        _, est, _ = h.request("GET", "/v1/campaigns/p/estimates")
        _, pub, hdrs = h.request("GET", "/v1/campaigns/p")
        backup = tempfile.mkdtemp(prefix="hush-e2e-backup-")
        b = subprocess.run(["sqlite3", os.path.join(h.dir, "var/hush.db"),
                            ".backup '%s'" % os.path.join(backup, "hush.db")],
                           capture_output=True, text=True)
        expect(b.returncode == 0, "sqlite3 .backup: %s" % b.stderr)
        shutil.copytree(os.path.join(h.dir, "var/keys"), os.path.join(backup, "keys"))
        shutil.copy2(os.path.join(h.dir, "var/admin-token"), backup)
        # a batch after the backup: not in the restored store
        h.json("POST", "/v1/reports", body={"campaign": "p", "round": 1,
                                             "batch_id": batch_id(), "reports": [0]})
        h.stop()
        restored = tempfile.mkdtemp(prefix="hush-e2e-restored-")
        shutil.copytree(backup, os.path.join(restored, "var"))
        new = Hushd(HUSHD, workdir=restored)
        _, est2, _ = new.request("GET", "/v1/campaigns/p/estimates")
        _, pub2, hdrs2 = new.request("GET", "/v1/campaigns/p")
        expect(est2 == est, "estimates byte for byte:\n%s\n%s" % (est, est2))
        expect(pub2 == pub and hdrs2["Hush-Signature"] == hdrs["Hush-Signature"],
               "the same publication and signature")
        s, doc, _ = new.json("POST", "/v1/campaigns", admin=True, body={
            "id": "q", "name": "Q", "kind": "poll", "candidates": ["a", "b"], "epsilon": 1})
        expect(s == 201, "the restored admin token works: %s" % s)
        shutil.rmtree(backup, ignore_errors=True)
    finally:
        h.cleanup()
        if new is not None:
            new.cleanup()


@test
def large_olh_batches_are_counted_alike_outside_the_writer():
    """A large OLH batch is counted by its HTTP thread and merged by the
    writer (so that it does not stall the other campaigns' ingestion): the
    same reports sent as one 2,000-report batch and as 40 small ones (counted
    by the writer) give identical estimates."""
    h = Hushd(HUSHD)
    try:
        d = 65536
        cands = ["c%d" % i for i in range(d)]
        for cid in ("big", "small"):
            s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
                "id": cid, "name": cid, "kind": "poll", "candidates": cands, "epsilon": 2,
                "mechanism": "olh", "min_reports": 0})
            expect(s == 201 and doc["mechanism"]["name"] == "olh", "create %s %s" % (cid, doc))
            g = doc["mechanism"]["olh_g"]
        rng = random.Random(9)
        reports = [[rng.randrange(2 ** 32), rng.randrange(g)] for _ in range(2000)]
        s, doc, _ = h.json("POST", "/v1/reports", body={"campaign": "big", "round": 1,
                                                         "batch_id": batch_id(), "reports": reports})
        expect(s == 200 and doc["accepted"] == 2000, "the big batch: %s %s" % (s, doc))
        for i in range(0, 2000, 50):
            s, doc, _ = h.json("POST", "/v1/reports", body={
                "campaign": "small", "round": 1, "batch_id": batch_id(),
                "reports": reports[i:i + 50]})
            expect(s == 200, "a small batch: %s %s" % (s, doc))
        _, a, _ = h.json("GET", "/v1/campaigns/big/estimates?top=65536")
        _, b, _ = h.json("GET", "/v1/campaigns/small/estimates?top=65536")
        expect(a["n_reports"] == b["n_reports"] == 2000, "counts %s %s" % (a["n_reports"], b["n_reports"]))
        ea = sorted((e["candidate_id"], e["estimate"]) for e in a["items"])
        eb = sorted((e["candidate_id"], e["estimate"]) for e in b["items"])
        expect(len(ea) == 65536, "every candidate: %d" % len(ea))
        expect(ea == eb, "identical estimates")
    finally:
        h.cleanup()


def post_batches(h, cid, batches, acked, errors, stop):
    for b in batches:
        if stop.is_set():
            return
        try:
            s, doc, _ = h.json("POST", "/v1/reports", body=b)
            if s == 200:
                acked.append(b["batch_id"])
        except Exception:  # noqa: BLE001 - connection reset by the kill
            errors.append(b["batch_id"])
            return


@test
def kill_9_loses_nothing_acknowledged_and_counts_each_batch_once():
    workdir = tempfile.mkdtemp(prefix="hush-crash-")
    h = Hushd(HUSHD, workdir=workdir)
    try:
        d = 16
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "crash", "name": "crash", "kind": "poll",
            "candidates": ["v%d" % i for i in range(d)], "epsilon": 2, "mechanism": "grr",
            "min_reports": 0})
        expect(s == 201, "create")
        rng = random.Random(7)
        clients = []
        for c in range(6):
            batches = []
            for _ in range(400):
                batches.append({"campaign": "crash", "round": 1, "batch_id": batch_id(),
                                "reports": [rng.randrange(d) for _ in range(50)]})
            clients.append(batches)
        acked, errors, stop = [], [], threading.Event()
        threads = [threading.Thread(target=post_batches, args=(h, "crash", b, acked, errors, stop))
                   for b in clients]
        for t in threads:
            t.start()
        time.sleep(1.5)
        h.kill()  # SIGKILL in the middle of the load
        stop.set()
        for t in threads:
            t.join()
        expect(len(acked) > 50, "some batches were acknowledged before the kill (%d)" % len(acked))
        acked_set = set(acked)
        h.start()  # same directory: same store and keys
        # everything acknowledged survived: resending it is a duplicate
        counted_before = n_reports(h, "crash")
        expect(counted_before >= 50 * len(acked_set),
               "acknowledged reports survive: %d < %d" % (counted_before, 50 * len(acked_set)))
        expect(counted_before % 50 == 0, "no half-counted batch (%d)" % counted_before)
        all_batches = [b for bs in clients for b in bs]
        for b in all_batches:
            s, doc, _ = h.json("POST", "/v1/reports", body=b)
            expect(s == 200, "resend: %s %s" % (s, doc))
            if b["batch_id"] in acked_set:
                expect(doc["duplicate"] is True, "an acknowledged batch was lost")
        total = n_reports(h, "crash")
        expect(total == 50 * len(all_batches),
               "every batch counted exactly once: %d != %d" % (total, 50 * len(all_batches)))
        # and the counts are the sent values', exactly: invert the GRR estimator
        counts = [0] * d
        for b in all_batches:
            for v in b["reports"]:
                counts[v] += 1
        s, est, _ = h.json("GET", "/v1/campaigns/crash/estimates?top=%d" % d)
        e = math.exp(2.0)
        p, q = e / (e + d - 1), 1 / (e + d - 1)
        n = total
        for item in est["items"]:
            v = int(item["candidate_id"][1:])
            support = item["estimate"] * (p - q) + n * q
            expect(abs(support - counts[v]) < 1e-6 * n, "value %d: %f vs %d" %
                   (v, support, counts[v]))
        # a graceful stop checkpoints and exits 0; the next start sees it all
        expect(h.stop() == 0, "SIGTERM exits 0")
        h.start()
        expect(n_reports(h, "crash") == total, "after a graceful restart")
    finally:
        h.cleanup()


@test
def sigterm_under_load_answers_in_flight_and_exits_0():
    h = Hushd(HUSHD)
    try:
        h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "t", "name": "t", "kind": "poll", "candidates": ["a", "b"], "epsilon": 1,
            "mechanism": "grr", "min_reports": 0})
        batches = [{"campaign": "t", "round": 1, "batch_id": batch_id(), "reports": [0, 1] * 20}
                   for _ in range(3000)]
        acked, errors, stop = [], [], threading.Event()
        threads = [threading.Thread(target=post_batches,
                                    args=(h, "t", batches[i::4], acked, errors, stop))
                   for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.8)
        code = h.stop()
        stop.set()
        for t in threads:
            t.join()
        expect(code == 0, "exit status %s" % code)
        h.start()
        expect(n_reports(h, "t") >= 40 * len(acked), "every acknowledged batch survives")
    finally:
        h.cleanup()


@test
def sigterm_under_continuous_load_strands_no_batch():
    """Clients that keep posting on their keep-alive connections while
    hushd stops: every batch is either committed and answered or refused
    with 503 -- none waits for a writer that has stopped (libmicrohttpd
    aborts the process if a connection is still suspended when it stops).
    HUSH_TEST_STOP_PAUSE_MS widens the window between the writer's end and
    the HTTP daemon's; before the fix the process died of SIGABRT there."""
    os.environ["HUSH_TEST_STOP_PAUSE_MS"] = "400"
    try:
        h = Hushd(HUSHD)
    finally:
        del os.environ["HUSH_TEST_STOP_PAUSE_MS"]
    try:
        h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "t", "name": "t", "kind": "poll", "candidates": ["a", "b"], "epsilon": 1,
            "mechanism": "grr", "min_reports": 0})
        acked, refused, stop = [], [], threading.Event()

        def post_forever():
            # one keep-alive connection, as devices and load balancers keep
            # (urllib opens one per request, which the stop refuses early)
            conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=30)
            while not stop.is_set():
                b = {"campaign": "t", "round": 1, "batch_id": batch_id(), "reports": [0, 1]}
                try:
                    conn.request("POST", "/v1/reports", body=json.dumps(b),
                                 headers={"Content-Type": "application/json"})
                    r = conn.getresponse()
                    r.read()
                except Exception:  # noqa: BLE001 - the daemon closed the connection
                    return
                (acked if r.status == 200 else refused).append(r.status)

        threads = [threading.Thread(target=post_forever) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        code = h.stop()  # the clients keep posting throughout
        stop.set()
        for t in threads:
            t.join()
        expect(code == 0, "exit status %s" % code)
        expect(len(acked) > 50, "the load ran (%d acknowledged)" % len(acked))
        expect(set(refused) <= {503}, "refused only with 503: %s" % set(refused))
        h.start()
        expect(n_reports(h, "t") >= 2 * len(acked), "every acknowledged batch survives")
    finally:
        h.cleanup()


def main():
    global HUSHD
    if len(sys.argv) != 2:
        sys.exit("usage: test_collector.py path/to/hushd")
    HUSHD = os.path.abspath(sys.argv[1])
    for t in [schema_examples_validate, routes_respond_and_validate,
              bad_input_is_refused_and_changes_nothing, paths_are_routed_exactly,
              an_endless_chunked_body_gets_413_at_the_cap,
              trickling_clients_do_not_lock_others_out, every_limit_is_checked_at_creation,
              sighup_reopens_the_log_and_one_store_has_one_hushd,
              a_store_that_cannot_commit_is_said_and_not_ready,
              metrics_answer_operators_questions,
              backup_and_restore_serve_the_same_estimates,
              large_olh_batches_are_counted_alike_outside_the_writer, kill_9_loses_nothing_acknowledged_and_counts_each_batch_once,
              sigterm_under_load_answers_in_flight_and_exits_0,
              sigterm_under_continuous_load_strands_no_batch]:
        t()
    SUITE.finish()


if __name__ == "__main__":
    main()
