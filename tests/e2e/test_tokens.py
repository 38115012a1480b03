#!/usr/bin/env python3
"""Anonymous tokens against a real hushd, with a device side written apart
from hush's C code (voprf.py: hashlib and libsodium through ctypes).

The issuer keys are signed and pinned; issuance sits behind an attestation
(here the shared-secret scheme an attester and hushd agree on) with a
daily limit; a campaign with require_tokens takes each report only with a
token of its own, checked against its epoch's key and spent once; a resend
of the same batch stays idempotent.  Everything refused changes nothing.

Usage: test_tokens.py BUILD_DIR
"""
import base64
import hashlib
import hmac
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hushlib import Hushd, Sodium, batch_id, validate, Suite, expect  # noqa: E402
import voprf  # noqa: E402

SUITE = Suite("tokens")
BUILD = None
SECRET = b"attester and collector share this secret"


def b64(b):
    return base64.b64encode(b).decode()


def unb64(s):
    return base64.b64decode(s)


def hushd(*extra):
    h = Hushd(os.path.join(BUILD, "bin", "hushd"), extra=list(extra))
    return h


def with_secret(*extra):
    """A hushd with the hmac attestation, its secret in its directory."""
    import tempfile
    d = tempfile.mkdtemp(prefix="hush-e2e-")
    with open(os.path.join(d, "attest.secret"), "wb") as f:
        f.write(SECRET)
    return Hushd(os.path.join(BUILD, "bin", "hushd"), workdir=d,
                 extra=["--token-attestation", "hmac:attest.secret"] + list(extra))


def attestation(device):
    return {"id": device, "mac": hmac.new(SECRET, device.encode(), hashlib.sha256).hexdigest()}


def pinned_keys(h):
    """The token keys, their signature checked with the pinned signing key."""
    s, body, hdrs = h.request("GET", "/v1/tokens/keys")
    expect(s == 200, "keys %s" % s)
    pk = unb64(h.json("GET", "/v1/keys")[1]["signing_key"])
    expect(Sodium().verify(unb64(hdrs["Hush-Signature"]), body, pk), "the keys are signed")
    validate(json.loads(body), "token-keys")
    return json.loads(body)


def get_tokens(h, device, n, att=None):
    """A device's n tokens, its proof checked: [(epoch, nonce, authenticator)]."""
    keys = pinned_keys(h)
    epoch = keys["current_epoch"]
    pk = unb64([k for k in keys["keys"] if k["epoch"] == epoch][0]["public_key"])
    nonces = [voprf.new_nonce() for _ in range(n)]
    blinds = [voprf.blind(voprf.token_input(epoch, nonce)) for nonce in nonces]
    req = {"attestation": att or attestation(device), "blinded": [b64(b) for _, b in blinds]}
    if isinstance(req["attestation"], dict):
        validate(req, "token-request")
    s, doc, _ = h.json("POST", "/v1/tokens", body=req)
    if s != 200:
        return s, doc
    validate(doc, "token-issued")
    expect(doc["epoch"] == epoch and unb64(doc["public_key"]) == pk, "the pinned key")
    evaluated = [unb64(e) for e in doc["evaluated"]]
    expect(voprf.verify_proof(pk, [b for _, b in blinds], evaluated, unb64(doc["proof"])),
           "the issuer's proof verifies against the pinned key")
    return s, [(epoch, nonce, voprf.finalize(voprf.token_input(epoch, nonce), r, ev))
               for nonce, (r, _), ev in zip(nonces, blinds, evaluated)]


def wire(tokens):
    return [{"epoch": e, "nonce": b64(n), "authenticator": b64(a)} for e, n, a in tokens]


def post(h, cid, reports, tokens=None, bid=None):
    body = {"campaign": cid, "round": 1, "batch_id": bid or batch_id(), "reports": reports}
    if tokens is not None:
        body["tokens"] = tokens
        if tokens and all(set(t) == {"epoch", "nonce", "authenticator"} for t in tokens):
            validate(body, "report-batch")
    return h.json("POST", "/v1/reports", body=body)


def counted(h, cid):
    return h.json("GET", "/v1/campaigns/%s/estimates" % cid)[1]["n_reports"]


@SUITE.test
def tokens_are_issued_behind_attestation_and_spent_once():
    h = with_secret("--tokens-per-day", "8")
    try:
        body = {"id": "poll", "name": "P", "kind": "poll", "candidates": ["a", "b", "c"],
                "epsilon": 2, "mechanism": "grr", "min_reports": 0, "require_tokens": True}
        validate(body, "campaign-create")
        s, d, _ = h.json("POST", "/v1/campaigns", admin=True, body=body)
        expect(s == 201, "create %s" % d)
        h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "open", "name": "O", "kind": "poll", "candidates": ["a", "b"], "epsilon": 2,
            "min_reports": 0})
        for cid, want in (("poll", True), ("open", None)):
            s, pub, _ = h.json("GET", "/v1/campaigns/" + cid)
            validate(pub, "publication")
            expect(pub.get("require_tokens") is want, "%s says %s" % (cid, pub.get("require_tokens")))
        keys = pinned_keys(h)
        expect(keys["suite"] == "VOPRF(ristretto255, SHA-512)" and len(keys["keys"]) == 2 and
               keys["tokens_per_day"] == 8 and keys["attestation"] == "hmac", "keys %s" % keys)
        s, toks = get_tokens(h, "device-1", 5)
        expect(s == 200 and len(toks) == 5, "issued %s %s" % (s, toks))
        # spent with the reports, once
        bid = batch_id()
        s, d, _ = post(h, "poll", [0, 1], wire(toks[:2]), bid)
        expect(s == 200 and d["accepted"] == 2, "redeemed %s %s" % (s, d))
        s, d, _ = post(h, "poll", [0, 1], wire(toks[:2]), bid)
        expect(s == 200 and d["duplicate"], "a resend stays idempotent: %s %s" % (s, d))
        s, d, _ = post(h, "poll", [2], wire(toks[1:2]))
        expect(s == 409 and d["error"]["code"] == "token_spent", "spent twice: %s %s" % (s, d))
        expect(counted(h, "poll") == 2, "counted once")
        # every refusal, and nothing counted or spent by one
        forged = [(e, n, bytes(64)) for e, n, _ in toks[2:3]]
        other_epoch = [(e + 5, n, a) for e, n, a in toks[2:3]]
        for reports, tokens, status, code in [
                ([0], None, 403, "tokens_required"),
                ([0], wire(forged), 403, "invalid_token"),
                ([0], wire(other_epoch), 403, "token_expired"),
                ([0, 1], wire(toks[2:3]), 400, "invalid_token"),      # one for two
                ([0], wire(toks[2:3]) * 2, 400, "invalid_token"),     # two for one
                ([0, 1], wire(toks[2:3]) * 2, 409, "token_spent"),    # the same twice
                ([0], [{"epoch": 1, "nonce": "x"}], 400, "invalid_token"),
                ([9], wire(toks[2:3]), 400, "invalid_report")]:
            s, d, _ = post(h, "poll", reports, tokens)
            expect(s == status and d["error"]["code"] == code,
                   "%s: %s %s (want %s %s)" % (tokens and len(tokens), s, d, status, code))
        s, d, _ = post(h, "open", [0], wire(toks[2:3]))
        expect(s == 400 and d["error"]["code"] == "invalid_token", "tokens where none are taken")
        expect(counted(h, "poll") == 2, "nothing more counted")
        s, d, _ = post(h, "poll", [2, 2, 2], wire(toks[2:5]))
        expect(s == 200 and d["accepted"] == 3, "the unspent ones still work: %s %s" % (s, d))
        metrics = h.request("GET", "/metrics")[1].decode()
        expect('hush_batches_rejected_total{reason="token"} 9' in metrics,
               "refusals counted under token")
        # the daily limit: 5 issued, 3 left
        s, d = get_tokens(h, "device-1", 4)
        expect(s == 429 and d["error"]["code"] == "token_limit", "limit %s %s" % (s, d))
        s, d = get_tokens(h, "device-1", 3)
        expect(s == 200, "the rest of the day's %s" % (d,))
        s, d = get_tokens(h, "device-2", 8)
        expect(s == 200, "another attestation has its own %s" % (d,))
        # attestations that do not verify
        for att in ({"id": "device-3", "mac": "00" * 32}, {"id": "device-3"}, "device-3",
                    {"id": "", "mac": attestation("")["mac"]}):
            s, d = get_tokens(h, "device-3", 1, att)
            expect(s in (400, 403) and d["error"]["code"] in ("attestation_refused", "invalid"),
                   "%s: %s %s" % (att, s, d))
        for bad in ({"attestation": attestation("d4"), "blinded": []},
                    {"attestation": attestation("d4"), "blinded": [b64(bytes(32))]},
                    {"attestation": attestation("d4"), "blinded": ["not base64"]},
                    {"attestation": attestation("d4"), "blinded": [b64(bytes(31))]},
                    {"attestation": attestation("d4"), "blinded": [b64(bytes(32))] * 9},
                    {"attestation": attestation("d4"), "blinded": [b64(os.urandom(32))],
                     "epoch": 3},
                    {"attestation": attestation("d4"), "blinded": [], "x": 1}):
            s, d, _ = h.json("POST", "/v1/tokens", body=bad)
            expect(s == 400, "%s: %s %s" % (list(bad), s, d))
        s, d = get_tokens(h, "d4", 8)
        expect(s == 200, "refused requests counted nothing against d4's day: %s" % (d,))
        metrics = h.request("GET", "/metrics")[1].decode()
        for line in ("hush_tokens_issued_total 24",  # device-1 5 + 3, device-2 8, d4 8
                     'hush_token_requests_refused_total{reason="limit"} 1',
                     'hush_token_requests_refused_total{reason="attestation"} 1',
                     'hush_token_requests_refused_total{reason="invalid"} 10',
                     'route="/v1/tokens",status="429"} 1'):
            expect(line in metrics, "metrics: %s in %s" % (line, [ln for ln in metrics.splitlines()
                                                                 if "token" in ln]))
        # spent tokens survive a restart
        h.stop()
        h.start()
        s, d, _ = post(h, "poll", [1], wire(toks[4:5]))
        expect(s == 409 and d["error"]["code"] == "token_spent", "after a restart: %s" % (d,))
    finally:
        h.cleanup()


@SUITE.test
def a_collector_without_attestation_issues_nothing():
    h = hushd()
    try:
        keys = pinned_keys(h)
        expect(keys["attestation"] == "none", "keys %s" % keys)
        s, d = get_tokens(h, "device-1", 1)
        expect(s == 400 and d["error"]["code"] == "tokens_off", "%s %s" % (s, d))
    finally:
        h.cleanup()


@SUITE.test
def a_command_attests():
    """The operator's check: gets the attestation on stdin, prints an identity."""
    import tempfile
    d = tempfile.mkdtemp(prefix="hush-e2e-")
    script = os.path.join(d, "attest.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nread doc\ncase \"$doc\" in\n"
                "  *'\"ticket\":\"ok-'*) echo \"$doc\" | sed 's/.*ok-\\([a-z0-9]*\\).*/\\1/' ;;\n"
                "  *) echo refused >&2; exit 1 ;;\nesac\n")
    os.chmod(script, 0o755)
    h = Hushd(os.path.join(BUILD, "bin", "hushd"), workdir=d,
              extra=["--token-attestation", "cmd:" + script, "--tokens-per-day", "2"])
    try:
        s, toks = get_tokens(h, "x", 2, {"ticket": "ok-abc"})
        expect(s == 200 and len(toks) == 2, "attested %s" % (toks,))
        s, d = get_tokens(h, "x", 1, {"ticket": "ok-abc"})
        expect(s == 429, "the same identity's day is used: %s %s" % (s, d))
        s, d = get_tokens(h, "x", 1, {"ticket": "bad"})
        expect(s == 403 and d["error"]["code"] == "attestation_refused", "%s %s" % (s, d))
        expect("token attestation refused" in h.stderr(), "the log says why")
    finally:
        h.cleanup()


@SUITE.test
def the_collector_cannot_link_a_redemption_to_its_issuance():
    """What the collector keeps of an issuance (a day, a rekeyed hash of the
    attestation, a count) and of a redemption (a hash of the token's input,
    its epoch, the batch id) share nothing: no attestation identity and no
    blinded or evaluated element reaches the store or the log, and the
    blinded element a device sent is unrelated to the token it spends."""
    import sqlite3
    h = with_secret()
    try:
        h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "p", "name": "P", "kind": "poll", "candidates": ["a", "b"], "epsilon": 2,
            "mechanism": "grr", "min_reports": 0, "require_tokens": True})
        keys = pinned_keys(h)
        epoch = keys["current_epoch"]
        pk = unb64(keys["keys"][0]["public_key"])
        nonce = voprf.new_nonce()
        data = voprf.token_input(epoch, nonce)
        r, blinded = voprf.blind(data)
        s, doc, _ = h.json("POST", "/v1/tokens", body={
            "attestation": attestation("alice-phone"), "blinded": [b64(blinded)]})
        expect(s == 200, "issued %s" % doc)
        evaluated = unb64(doc["evaluated"][0])
        expect(voprf.verify_proof(pk, [blinded], [evaluated], unb64(doc["proof"])), "proof")
        auth = voprf.finalize(data, r, evaluated)
        s, d, _ = post(h, "p", [1], wire([(epoch, nonce, auth)]))
        expect(s == 200, "redeemed %s" % d)
        h.stop()
        db = sqlite3.connect(os.path.join(h.dir, "var", "hush.db"))
        issued = db.execute("SELECT day, who, count FROM token_issuance").fetchall()
        spent = db.execute("SELECT id, epoch, batch FROM spent_tokens").fetchall()
        db.close()
        expect(len(issued) == 1 and issued[0][2] == 1 and len(spent) == 1, "%s %s" % (issued, spent))
        expect(issued[0][1] != hashlib.sha256(b"alice-phone").digest(), "the who is keyed")
        expect(spent[0][0] == hashlib.sha256(data).digest(), "a spent token is its input's hash")
        files = []
        for root, _, names in os.walk(h.dir):
            for name in names:
                with open(os.path.join(root, name), "rb") as f:
                    files.append((name, f.read()))
        for needle, what in ((b"alice-phone", "the attestation identity"),
                             (blinded, "the blinded element"), (evaluated, "the evaluated element"),
                             (b64(blinded).encode(), "the blinded element (base64)"),
                             (b64(evaluated).encode(), "the evaluated element (base64)")):
            expect(not any(needle in content for _, content in files),
                   "%s is kept: %s" % (what, [n for n, c in files if needle in c]))
        # the only link the protocol has is the token itself: the same
        # input blinded again gives an unrelated element
        _, again = voprf.blind(data)
        expect(again != blinded, "blinding is fresh every time")
    finally:
        h.cleanup()


def grr(rng, v, d, eps):
    import math
    if rng.random() < math.exp(eps) / (math.exp(eps) + d - 1):
        return v
    o = rng.randrange(d - 1)
    return o if o < v else o + 1


@SUITE.test
def a_poisoner_moves_an_estimate_by_at_most_its_tokens():
    """The issue's attack: three requests of 1,000 reports for item-19
    against a 5,000-report campaign.  With require_tokens the requests are
    refused whole, and what the attacker's one attestation buys (T tokens
    a day) moves item-19 by exactly T (1 - q)/(p - q), the documented
    bound, and the top item stays where it is."""
    import math
    import random
    h = with_secret()  # the defaults: 16 tokens a day
    try:
        d, eps = 20, 4.0
        cands = ["item-%02d" % i for i in range(d)]
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "emoji", "name": "E", "kind": "poll", "candidates": cands, "epsilon": eps,
            "mechanism": "grr", "min_reports": 0, "require_tokens": True})
        expect(s == 201, "create %s" % doc)
        rng = random.Random(11)
        w = [1 / (i + 1) ** 1.1 for i in range(d)]
        honest = [grr(rng, rng.choices(range(d), w)[0], d, eps) for _ in range(5000)]
        wallet = []
        for dev in range(313):  # 16 tokens each, as the day allows
            s, toks = get_tokens(h, "honest-%d" % dev, 16)
            expect(s == 200, "honest issuance %s" % (toks,))
            wallet += toks
        for i in range(0, 5000, 500):
            s, dd, _ = post(h, "emoji", honest[i:i + 500], wire(wallet[i:i + 500]))
            expect(s == 200, "honest batch %s" % dd)
        s, before, _ = h.json("GET", "/v1/campaigns/emoji/estimates?top=20")
        est0 = {it["candidate_id"]: it["estimate"] for it in before["items"]}
        top0 = before["items"][0]["candidate_id"]
        # the attack of the issue: three unauthenticated requests
        for _ in range(3):
            s, dd, _ = post(h, "emoji", [19] * 1000)
            expect(s == 403 and dd["error"]["code"] == "tokens_required", "%s %s" % (s, dd))
        # a stolen or forged attestation gets nothing
        s, dd = get_tokens(h, "attacker", 16, {"id": "attacker", "mac": "ab" * 32})
        expect(s == 403, "forged attestation %s" % (dd,))
        # what one real attestation buys, spent on item-19
        s, toks = get_tokens(h, "attacker", 16)
        expect(s == 200, "attacker's day %s" % (toks,))
        s, dd = get_tokens(h, "attacker", 1)
        expect(s == 429, "and no more today")
        s, dd, _ = post(h, "emoji", [19] * 16, wire(toks))
        expect(s == 200, "the attacker's tokens are valid: %s" % dd)
        s, after, _ = h.json("GET", "/v1/campaigns/emoji/estimates?top=20")
        est1 = {it["candidate_id"]: it["estimate"] for it in after["items"]}
        p = math.exp(eps) / (math.exp(eps) + d - 1)
        q = 1 / (math.exp(eps) + d - 1)
        bound = 16 * (1 - q) / (p - q)
        moved = est1["c19"] - est0["c19"]
        expect(abs(moved - bound) < 1e-6 * bound,
               "item-19 moved by %.3f, the bound is %.3f" % (moved, bound))
        expect(after["items"][0]["candidate_id"] == top0, "the top item stays")
        print("  5,000 honest reports; the attack: 3 x 1,000 refused; 16 tokens moved item-19 "
              "by %.1f (bound %.1f; without tokens 3,000 reports would move it by %.0f)"
              % (moved, bound, 3000 * (1 - q) / (p - q)), flush=True)
    finally:
        h.cleanup()


@SUITE.test
def the_device_library_gets_and_spends_tokens():
    """hush-agent (libhush-device) against a real hushd: the wallet fills
    from the attestation, one token leaves with each report."""
    import subprocess
    import tempfile
    h = with_secret()
    state = tempfile.mkdtemp(prefix="hush-agent-")
    try:
        h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "emoji", "name": "E", "kind": "poll", "candidates": ["a", "b", "c"],
            "epsilon": 2, "mechanism": "grr", "min_reports": 0, "require_tokens": True,
            "budget": {"reports_per_device_per_day": 3, "epsilon_per_device_per_day": 6}})
        key = h.json("GET", "/v1/keys")[1]["signing_key"]
        agent = os.path.join(BUILD, "bin", "hush-agent")
        att = json.dumps(attestation("phone-1"))
        for run in range(2):
            r = subprocess.run([agent, "run", "--collector", h.base, "--key", key, "--state", state,
                                "--value", "b", "--attestation", att, "--tokens", "2"],
                               capture_output=True, text=True, timeout=60)
            lines = [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("{")]
            expect(r.returncode == 0, "run %d: %s %s" % (run, r.stdout, r.stderr))
            sent = [ln for ln in lines if ln.get("campaign") == "emoji"]
            expect(sent and sent[0]["status"] == 200 and sent[0]["accepted"] == 1,
                   "run %d: %s" % (run, lines))
            got = [ln for ln in lines if "tokens_added" in ln]
            expect(got and got[0]["tokens_added"] == (2 if run == 0 else 1),
                   "run %d tops up to 2: %s" % (run, got))
        expect(counted(h, "emoji") == 2, "two reports, one token each")
        with open(os.path.join(state, "tokens")) as f:
            expect(f.read().count("\ntoken ") == 1, "one token left in the wallet")
    finally:
        h.cleanup()
        import shutil
        shutil.rmtree(state, ignore_errors=True)


def main():
    global BUILD
    if len(sys.argv) != 2:
        sys.exit("usage: test_tokens.py BUILD_DIR")
    BUILD = os.path.abspath(sys.argv[1])
    tokens_are_issued_behind_attestation_and_spent_once()
    a_collector_without_attestation_issues_nothing()
    a_command_attests()
    the_collector_cannot_link_a_redemption_to_its_issuance()
    a_poisoner_moves_an_estimate_by_at_most_its_tokens()
    the_device_library_gets_and_spends_tokens()
    SUITE.finish()


if __name__ == "__main__":
    main()
