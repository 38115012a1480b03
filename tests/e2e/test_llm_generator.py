#!/usr/bin/env python3
"""hush-generate-llm against a fake OpenAI-compatible endpoint.

A language model cannot run here, so a fake chat-completions server on
loopback stands in for it, and checks what it receives: the path, the
method, the JSON body (model, messages with the parent's text and its word
count, temperature, max_tokens, seed), the Authorization header when a key
file is given. It answers what each case needs: good variations, malformed
JSON, a missing field, an HTTP error, an answer too long or too short, a
stall past the timeout. Then hushd itself runs the adapter as its external
generator and publishes its texts.

Usage: test_llm_generator.py BUILD_DIR
"""
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hushlib import Hushd, batch_id, Suite, expect  # noqa: E402

BUILD = None
SUITE = Suite("llm generator")
test = SUITE.test
KEPT = [
    {"id": "c0", "text": "Lunch meeting moved to Thursday at noon in the small room.",
     "estimate": 30.0, "std_error": 2.0},
    {"id": "c1", "text": "Your invoice for October is attached and due in thirty days.",
     "estimate": 20.0, "std_error": 2.0},
]


class Fake:
    """The fake endpoint: `mode` decides the answer; every request is kept."""

    def __init__(self):
        self.mode = "good"
        self.requests = []
        self.problems = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                fake.requests.append({"path": self.path, "headers": dict(self.headers),
                                      "body": body})
                if self.path != "/v1/chat/completions" or body is None:
                    fake.problems.append("bad request %s %r" % (self.path, raw[:80]))
                    self.send_response(404)
                    self.end_headers()
                    return
                user = body["messages"][-1]["content"]
                words = 10
                for k in KEPT:
                    if k["text"] in user:
                        words = len(k["text"].split())
                if fake.mode == "slow":
                    time.sleep(3)
                if fake.mode == "http500":
                    self.send_response(500)
                    self.end_headers()
                    return
                text = " ".join(["variation"] * words)
                if fake.mode == "long":
                    text = " ".join(["word"] * (words * 5))
                answer = {"choices": [{"index": 0, "message": {"role": "assistant",
                                                               "content": "\n" + text}}]}
                out = json.dumps(answer).encode()
                if fake.mode == "garbage":
                    out = b"{not json"
                if fake.mode == "nocontent":
                    out = json.dumps({"choices": [{"message": {"role": "assistant"}}]}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the "slow" case): as it should

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self):
        return "http://127.0.0.1:%d/v1/chat/completions" % self.port

    def close(self):
        self.server.shutdown()


def run_tool(fake, want, extra=(), timeout=30):
    env = dict(os.environ, HUSH_WANT=str(want), HUSH_SEED="42", HUSH_ROUND="1")
    stdin = "".join(json.dumps(k) + "\n" for k in KEPT)
    return subprocess.run([os.path.join(BUILD, "bin", "hush-generate-llm"), "--endpoint",
                           fake.url(), "--model", "tiny-test", "--temperature", "0.7",
                           "--max-tokens", "300", "--timeout", "1"] + list(extra),
                          input=stdin, capture_output=True, text=True, env=env,
                          timeout=timeout)


@test
def it_sends_aug_pe_prompts_and_prints_the_variations():
    fake = Fake()
    work = tempfile.mkdtemp(prefix="hush-e2e-llm-")
    try:
        key = os.path.join(work, "key")
        with open(key, "w") as f:
            f.write("sk-test-123\n")
        p = run_tool(fake, 4, ["--api-key-file", key])
        expect(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr))
        lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
        expect(len(lines) == 4 and all(set(l) == {"text", "parent"} for l in lines),
               "out %s" % lines)
        expect([l["parent"] for l in lines] == ["c0", "c1", "c0", "c1"], "parents %s" % lines)
        expect(lines[0]["text"] == " ".join(["variation"] * 11), "trimmed: %r" % lines[0])
        expect(not fake.problems, "the fake saw %s" % fake.problems)
        expect(len(fake.requests) == 4, "one request per text: %d" % len(fake.requests))
        parents = []
        for r in fake.requests:
            b, h = r["body"], r["headers"]
            expect(h.get("Authorization") == "Bearer sk-test-123", "auth %s" % h)
            expect(h.get("Content-Type") == "application/json", "type %s" % h)
            expect(b["model"] == "tiny-test" and b["temperature"] == 0.7 and
                   b["max_tokens"] == 300 and isinstance(b["seed"], int) and
                   b["stream"] is False, "parameters %s" % b)
            roles = [m["role"] for m in b["messages"]]
            expect(roles == ["system", "user"], "roles %s" % roles)
            user = b["messages"][1]["content"]
            parent = [k for k in KEPT if k["text"] in user]
            expect(len(parent) == 1, "the prompt quotes one kept sample: %s" % user)
            n = len(parent[0]["text"].split())
            expect("about %d words" % n in user and "same topic" in user and
                   "Change the" in user, "an Aug-PE prompt: %s" % user)
            parents.append(parent[0]["id"])
        # the kept samples take turns, most voted first
        expect(parents == ["c0", "c1", "c0", "c1"], "parents %s" % parents)
        seeds = [r["body"]["seed"] for r in fake.requests]
        expect(len(set(seeds)) == 4, "a seed per text: %s" % seeds)
    finally:
        fake.close()


@test
def malformed_answers_are_refused():
    fake = Fake()
    try:
        for mode, reason in [("garbage", "not JSON"), ("nocontent", "message.content"),
                             ("http500", "HTTP 500"), ("long", "words for a parent"),
                             ("slow", "")]:
            fake.mode = mode
            fake.requests.clear()
            p = run_tool(fake, 2, ["--attempts", "2"])
            expect(p.returncode == 1 and p.stdout.strip() == "",
                   "%s: exit %d, out %r" % (mode, p.returncode, p.stdout))
            expect("refused" in p.stderr and reason in p.stderr and
                   "no usable text" in p.stderr, "%s: %s" % (mode, p.stderr))
            if mode != "slow":
                expect(len(fake.requests) == 4, "%s: two attempts per text" % mode)
        # bad usage: no endpoint, no HUSH_WANT
        p = subprocess.run([os.path.join(BUILD, "bin", "hush-generate-llm")], input="",
                           capture_output=True, text=True)
        expect(p.returncode == 2 and "--endpoint" in p.stderr, p.stderr)
        p = subprocess.run([os.path.join(BUILD, "bin", "hush-generate-llm"), "--endpoint",
                            fake.url()], input="", capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if k != "HUSH_WANT"})
        expect(p.returncode == 2 and "HUSH_WANT" in p.stderr, p.stderr)
    finally:
        fake.close()


@test
def hushd_publishes_what_the_model_wrote():
    fake = Fake()
    try:
        cmd = "%s --endpoint %s --model tiny-test --timeout 5" % (
            os.path.join(BUILD, "bin", "hush-generate-llm"), fake.url())
        h = Hushd(os.path.join(BUILD, "bin", "hushd"), extra=["--generator-cmd", cmd])
        try:
            texts = [k["text"] for k in KEPT] + ["The package you ordered has shipped today."]
            body = {"id": "mail", "name": "Mail", "kind": "synthetic", "candidates": texts,
                    "epsilon": 8, "mechanism": "grr", "match_threshold": 0.1,
                    "embedder": {"kind": "hashed-ngram", "version": 1, "dim": 64, "seed": 3},
                    "min_reports": 0, "refine": {"keep": 2, "population": 5,
                                                 "generator": "external"}}
            s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body=body)
            expect(s == 201, "create %s" % doc)
            s, doc, _ = h.json("POST", "/v1/reports", body={
                "campaign": "mail", "round": 1, "batch_id": batch_id(),
                "reports": [0] * 30 + [1] * 20})
            expect(s == 200, "reports %s" % doc)
            s, doc, _ = h.json("POST", "/v1/campaigns/mail/rounds", admin=True,
                               body={"round": 1})
            expect(s == 201 and doc["generated"] >= 1, "close %s %s" % (s, doc))
            s, pub, _ = h.json("GET", "/v1/campaigns/mail")
            new = [c["text"] for c in pub["candidates"][2:]]
            expect(new and all(t.startswith("variation") for t in new),
                   "the model's texts were published: %s" % new)
            expect(len(fake.requests) == 3 and not fake.problems, "three asked for")
            s, hist, _ = h.json("GET", "/v1/campaigns/mail/rounds")
            lineage = hist["rounds"][0]["lineage"]
            expect(lineage and set(lineage.values()) <= {"c0", "c1"},
                   "the adapter's parents are the round's lineage: %s" % lineage)
        finally:
            h.cleanup()
    finally:
        fake.close()


def main():
    global BUILD
    if len(sys.argv) != 2:
        sys.exit("usage: test_llm_generator.py BUILD_DIR")
    BUILD = os.path.abspath(sys.argv[1])
    for t in [it_sends_aug_pe_prompts_and_prints_the_variations,
              malformed_answers_are_refused, hushd_publishes_what_the_model_wrote]:
        t()
    SUITE.finish()


if __name__ == "__main__":
    main()
