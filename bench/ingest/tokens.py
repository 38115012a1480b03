#!/usr/bin/env python3
"""bench/ingest/tokens.py: what anonymous tokens cost at ingest.

Starts hushd (durable defaults) with two GRR campaigns of 64 candidates,
one plain and one with require_tokens, and posts the same shapes to both in
one run: batches of 100 reports and of 1 report (one device's day), with
wrk (keep-alive, 32 connections, 4 s): plain batches by
bench/ingest/reports.lua, batches with tokens from bodies written in
advance, each sent once (more than 4 s can use; a run that runs out says
so).  Tokens are minted from the collector's own key file (as issuance
would make them; minting is not measured) with the independent client of
tests/e2e/voprf.py.  One JSON object a line:
  {"bench":"ingest","what":"reports","tokens":…,"shuffler":false,"batch":…,
   "batches":…,"reports_per_s":…,"p50_ms":…,"p99_ms":…,"non2xx":…}
Usage: bench/ingest/tokens.py [--hushd build/bin/hushd] [--batches N]
"""
import argparse
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "e2e"))
import voprf  # noqa: E402
from hushlib import free_port  # noqa: E402


def post(url, doc, token):
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), headers={
        "Content-Type": "application/json", "Authorization": "Bearer " + token})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def bodies(path, campaign, n_batches, size, sk, epoch, rng):
    with open(path, "w") as f:
        for _ in range(n_batches):
            doc = {"campaign": campaign, "round": 1,
                   "batch_id": base64.b64encode(rng.randbytes(16)).decode(),
                   "reports": [rng.randrange(64) for _ in range(size)]}
            if sk is not None:
                toks = []
                for _ in range(size):
                    nonce = rng.randbytes(32)
                    data = voprf.token_input(epoch, nonce)
                    n = voprf.mult(sk, voprf.hash_to_group(data))
                    auth = voprf.hashlib.sha512(voprf._l2(data) + voprf._l2(n) +
                                                b"Finalize").digest()
                    toks.append({"epoch": epoch, "nonce": base64.b64encode(nonce).decode(),
                                 "authenticator": base64.b64encode(auth).decode()})
                doc["tokens"] = toks
            f.write(json.dumps(doc, separators=(",", ":")) + "\n")


def wrk(base, script, env, connections=32, seconds=4):
    env = dict(os.environ, HUSH_THREADS="1", **env)
    out = subprocess.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, "-s",
                          os.path.join(HERE, script), base + "/v1/reports"],
                         capture_output=True, text=True, env=env, check=True).stdout
    return json.loads([ln for ln in out.splitlines() if ln.startswith("{")][0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hushd", default="build/bin/hushd")
    ap.add_argument("--batches", type=int, default=1500,
                    help="batches of 100 with tokens written in advance (x100 tokens minted; "
                         "as many batches of 1)")
    a = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/ingest/tokens.py: wrk is missing (scripts/install-deps --bench)")
    work = tempfile.mkdtemp(prefix="hush-ingest-tokens-")
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    with open(os.path.join(work, "attest.secret"), "wb") as f:
        f.write(os.urandom(32))
    proc = subprocess.Popen([os.path.abspath(a.hushd), "--port", str(port), "--access-log",
                             "access.log", "--token-attestation", "hmac:attest.secret"],
                            cwd=work, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz").read()
                break
            except OSError:
                time.sleep(0.05)
        admin = open(os.path.join(work, "var/admin-token")).read().strip()
        for cid, tok in (("plain", False), ("tok", True)):
            post(base + "/v1/campaigns", {"id": cid, "name": cid, "kind": "poll",
                                          "candidates": ["c%d" % i for i in range(64)],
                                          "epsilon": 2, "mechanism": "grr", "min_reports": 0,
                                          "require_tokens": tok}, admin)
        keys = json.loads(urllib.request.urlopen(base + "/v1/tokens/keys").read())
        epoch = keys["current_epoch"]
        master = open(os.path.join(work, "var/keys/token.key"), "rb").read()
        sk, _ = voprf.derive_key(master, b"hush token epoch %d" % epoch)
        rng = random.Random(5)
        run = 0
        for size, n in ((100, a.batches), (1, a.batches * 100)):
            path = os.path.join(work, "tok-%d.jsonl" % size)
            bodies(path, "tok", n, size, sk, epoch, rng)
            for tokens in (False, True):
                run += 1
                r = (wrk(base, "bodies.lua", {"HUSH_BODIES": path}) if tokens else
                     wrk(base, "reports.lua", {"HUSH_CAMPAIGN": "plain", "HUSH_DOMAIN": "64",
                                               "HUSH_BATCH": str(size), "HUSH_RUN": str(run)}))
                row = {"bench": "ingest", "what": "reports", "tokens": tokens, "shuffler": False,
                       "batch": size, "batches": r["requests"],
                       "reports_per_s": round(r["requests"] * size / r["seconds"]),
                       "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "non2xx": r["non2xx"]}
                if tokens and r["requests"] >= n:
                    row["ran_out"] = True  # the rate is then a lower bound
                print(json.dumps(row), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
