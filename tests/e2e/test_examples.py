#!/usr/bin/env python3
"""examples/inbox-rank, run as apps on many devices would run it.

A real hushd publishes a personalized (Ditto), DP model task with the
labels keep/junk.  Simulated users each have a mailbox of their own: work
mail they keep, spam they junk, and newsletters that half of them junk
("strict") and half keep.  Every round each device runs the example once
(fetch, take part if sampled, train its personal model, rank); the test
closes the round.  At the end the same unread newsletters are ranked by a
strict and a lenient user's own models: each ranks them as its user
treats them, which no shared model can do (it gives one text one score).
Nothing of the mailboxes reaches the collector's files.

Usage: test_examples.py BUILD_DIR
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hushlib import Hushd, Suite, expect  # noqa: E402

SUITE = Suite("examples")
WORK = ["meeting", "budget", "report", "deadline", "project", "review", "agenda",
        "client", "schedule", "draft", "quarter", "team", "invoice", "contract"]
SPAM = ["winner", "prize", "free", "cash", "viagra", "lottery", "claim", "offer",
        "credit", "bonus", "click", "urgent", "guaranteed", "cheap"]
NEWS = ["newsletter", "weekly", "digest", "issue", "subscribe", "edition", "roundup",
        "headlines", "stories", "readers", "featured", "columns", "archive", "update"]
DEVICES, ROUNDS, MARK = 20, 6, "zqxmarkerzq"


def message(rng, words, device):
    text = " ".join(rng.choice(words) for _ in range(rng.randint(8, 14)))
    # a word only this device's mailbox has: it must never reach hushd
    return "%s %s%d" % (text, MARK, device)


def mailboxes(work, rng):
    """Each device's mailbox file; the shared unread newsletters."""
    shared_news = [" ".join(rng.choice(NEWS) for _ in range(10)) for _ in range(3)]
    paths = []
    for d in range(DEVICES):
        strict = d % 2 == 0
        lines = []
        for _ in range(5):
            lines.append("keep\t" + message(rng, WORK, d))
            lines.append("junk\t" + message(rng, SPAM, d))
            lines.append(("junk\t" if strict else "keep\t") + message(rng, NEWS, d))
        lines += ["new\t" + message(rng, WORK, d), "new\t" + message(rng, SPAM, d)]
        lines += ["new\t" + t for t in shared_news]
        path = os.path.join(work, "mailbox-%d.txt" % d)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        paths.append(path)
    return paths, shared_news


def run_example(binary, h, key, state, mailbox):
    p = subprocess.run([binary, h.base, key, state, "inbox", mailbox],
                       capture_output=True, text=True, timeout=120)
    expect(p.returncode == 0, "inbox-rank failed (%d):\n%s" % (p.returncode, p.stderr))
    ranked = []
    for line in p.stdout.splitlines():
        score, text = line.split("\t", 1)
        ranked.append((float(score), text))
    expect(ranked == sorted(ranked, key=lambda r: r[0]), "ranked by P(junk): %s" % ranked)
    return ranked, p.stderr


def personal_models_rank_as_their_users_do(build):
    binary = os.path.join(build, "examples", "inbox-rank")
    work = tempfile.mkdtemp(prefix="hush-e2e-examples-")
    h = Hushd(os.path.join(build, "bin", "hushd"))
    try:
        s, keys, _ = h.json("GET", "/v1/keys")
        key = keys["signing_key"]
        s, doc, _ = h.json("POST", "/v1/models", admin=True, body={
            "id": "inbox", "name": "Inbox ranking", "architecture": {"kind": "logistic"},
            "embedder": {"kind": "hashed-ngram", "version": 1, "dim": 64, "seed": 3},
            "labels": ["keep", "junk"], "clip_norm": 1.0, "expected_clients": 10,
            "population": DEVICES, "rounds": ROUNDS, "min_clients": 1,
            "target_epsilon": 8, "delta": 1e-5, "personalization": "ditto",
            "ditto_lambda": 0.01, "budget": {"updates_per_device_per_day": ROUNDS},
            "local": {"epochs": 10, "batch": 4, "lr": 0.5}})
        expect(s == 201, "task: %s %s" % (s, doc))
        boxes, shared = mailboxes(work, random.Random(11))
        states = [os.path.join(work, "state-%d" % d) for d in range(DEVICES)]
        sent = 0
        for _ in range(ROUNDS):
            for d in range(DEVICES):
                _, said = run_example(binary, h, key, states[d], boxes[d])
                sent += "sent this round's update" in said
            s, doc, _ = h.json("POST", "/v1/models/inbox/rounds", admin=True, body={})
            expect(s in (201, 409), "closing a round: %s %s" % (s, doc))
        expect(sent > 0, "some devices were sampled and sent updates")
        for d in range(DEVICES):
            expect(os.path.exists(os.path.join(states[d], "personal-inbox.mdl")),
                   "device %d keeps its personal model" % d)
        # the same unread newsletters, ranked by each user's own model
        right = 0
        for d in range(DEVICES):
            ranked, _ = run_example(binary, h, key, states[d], boxes[d])
            score = {text: p for p, text in ranked}
            work_p = [p for p, t in ranked if t.split()[0] in WORK]
            spam_p = [p for p, t in ranked if t.split()[0] in SPAM]
            news_p = [score[t] for t in shared]
            if d % 2 == 0:  # strict: newsletters below the work mail it keeps
                right += min(news_p) > max(work_p)
            else:           # lenient: newsletters above the spam it junks
                right += max(news_p) < min(spam_p)
        expect(right == DEVICES, "%d of %d devices rank as their users do" % (right, DEVICES))
        # nothing of any mailbox reached the collector
        h.stop()
        for root, _, files in os.walk(h.dir):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    expect(MARK.encode() not in f.read(),
                           "mailbox text in the collector's %s" % name)
        print("  %d updates sent over %d rounds; %d/%d devices rank as their users do"
              % (sent, ROUNDS, right, DEVICES))
    finally:
        h.cleanup()
        shutil.rmtree(work, ignore_errors=True)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: test_examples.py BUILD_DIR")
    build = os.path.abspath(sys.argv[1])
    SUITE.run("personal_models_rank_as_their_users_do",
              personal_models_rank_as_their_users_do, build)
    SUITE.finish()


if __name__ == "__main__":
    main()
