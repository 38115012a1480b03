#!/usr/bin/env python3
"""The integration guide's example, as an app developer would use it.

Extracts the complete C example from docs/integration.md, installs the
device libraries with `make install DESTDIR=... PREFIX=/usr`, builds the
example with pkg-config against that tree (shared and static), and runs both
builds against a real hushd: a synthetic campaign from local texts and a
poll from a value, each accepted once and refused by the budget the second
time.

Usage: test_integration.py BUILD_DIR [SANITIZE]
"""
import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hushlib import REPO, Hushd, Suite, expect  # noqa: E402

SUITE = Suite("integration")


def run(cmd, env=None, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, **kw)
    expect(p.returncode == 0, "%s failed (%d):\n%s%s" % (" ".join(cmd), p.returncode,
                                                         p.stdout, p.stderr))
    return p.stdout


def extract_example():
    with open(os.path.join(REPO, "docs", "integration.md")) as f:
        text = f.read()
    m = re.search(r"<!-- example: participate\.c -->\s*```c\n(.*?)```", text, re.S)
    expect(m is not None, "docs/integration.md has the participate.c example")
    return m.group(1)


def example_builds_from_an_install_and_takes_part():
    work = tempfile.mkdtemp(prefix="hush-e2e-integration-")
    h = None
    try:
        root = os.path.join(work, "root")
        run(["make", "-C", REPO, "--no-print-directory", "install", "BUILD=" + BUILD,
             "DESTDIR=" + root, "PREFIX=/usr"])
        for f in ["usr/include/hush/hush_device.h", "usr/include/hush/hush_transport.h",
                  "usr/lib/libhush-device.a", "usr/lib/libhush-device.so.0",
                  "usr/lib/libhush-device-curl.so", "usr/lib/pkgconfig/hush-device.pc",
                  "usr/bin/hush-agent"]:
            expect(os.path.exists(os.path.join(root, f)), "installed %s" % f)
        src = os.path.join(work, "participate.c")
        with open(src, "w") as f:
            f.write(extract_example())
        env = dict(os.environ, PKG_CONFIG_SYSROOT_DIR=root,
                   PKG_CONFIG_PATH=os.path.join(root, "usr/lib/pkgconfig"))
        version = run(["pkg-config", "--modversion", "hush-device"], env=env).strip()
        expect(re.match(r"^\d+\.\d+\.\d+$", version), "version %s" % version)
        san = ["-fsanitize=" + SANITIZE] if SANITIZE else []
        bins = {}
        cflags = run(["pkg-config", "--cflags", "hush-device-curl"], env=env).split()
        system = run(["pkg-config", "--libs", "libcurl", "libsodium", "jansson", "libxxhash"],
                     env=env).split()
        links = {
            "shared": run(["pkg-config", "--libs", "hush-device-curl"], env=env).split(),
            # as docs/integration.md shows: the hush libraries static, the rest shared
            "static": ["-L" + os.path.join(root, "usr/lib"), "-Wl,-Bstatic",
                       "-lhush-device-curl", "-lhush-device", "-Wl,-Bdynamic"] + system + ["-lm"],
        }
        for kind, link in links.items():
            out = os.path.join(work, "participate-" + kind)
            run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", out, src] + san + cflags +
                link)
            bins[kind] = out
        ldd = run(["ldd", bins["shared"]],
                  env=dict(os.environ, LD_LIBRARY_PATH=os.path.join(root, "usr/lib")))
        expect(os.path.join(root, "usr/lib/libhush-device.so.0") in ldd,
               "the shared build uses the installed library:\n" + ldd)
        expect("libhush-device" not in run(["ldd", bins["static"]]),
               "the static build needs no libhush-device.so")

        h = Hushd(HUSHD)
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "mail", "name": "Mail", "kind": "synthetic",
            "candidates": ["lunch at noon on friday", "the invoice is attached"],
            "epsilon": 2, "mechanism": "grr", "match_threshold": 0.2,
            "embedder": {"kind": "hashed-ngram", "version": 1, "dim": 64, "seed": 1},
            "budget": {"reports_per_device_per_day": 2}, "min_reports": 0})
        expect(s == 201, "create mail: %s" % doc)
        s, doc, _ = h.json("POST", "/v1/campaigns", admin=True, body={
            "id": "emoji", "name": "Emoji", "kind": "poll",
            "candidates": ["red heart", "fire"], "epsilon": 1, "mechanism": "grr",
            "min_reports": 0})
        expect(s == 201, "create emoji: %s" % doc)
        s, keys, _ = h.json("GET", "/v1/keys")
        key = keys["signing_key"]
        env_run = dict(os.environ, LD_LIBRARY_PATH=os.path.join(root, "usr/lib"))
        for kind, exe in bins.items():
            state = os.path.join(work, "state-" + kind)
            out = run([exe, h.base, key, state, "mail", "lunch at noon on friday?",
                       "see attached invoice"], env=env_run)
            expect(out.startswith("HTTP 200 ") and '"accepted":2' in out, out)
            out = run([exe, h.base, key, state, "emoji", "--value", "fire"], env=env_run)
            expect(out.startswith("HTTP 200 ") and '"accepted":1' in out, out)
            out = run([exe, h.base, key, state, "mail", "lunch"], env=env_run)
            expect(out.startswith("nothing to send today"), out)
            # a wrong pinned key: refused, nothing sent
            other = base64.b64encode(bytes([1] * 32)).decode()
            p = subprocess.run([exe, h.base, other, state, "emoji", "--value", "fire"],
                               capture_output=True, text=True, env=env_run, timeout=60)
            expect(p.returncode == 1 and "signature" in p.stderr, p.stderr)
        s, est, _ = h.json("GET", "/v1/campaigns/mail/estimates")
        expect(est["n_reports"] == 4, "mail reports %s" % est["n_reports"])
        s, est, _ = h.json("GET", "/v1/campaigns/emoji/estimates")
        expect(est["n_reports"] == 2, "emoji reports %s" % est["n_reports"])
    finally:
        if h is not None:
            h.cleanup()
        shutil.rmtree(work, ignore_errors=True)


def main():
    global BUILD, HUSHD, SANITIZE
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: test_integration.py BUILD_DIR [SANITIZE]")
    BUILD = os.path.abspath(sys.argv[1])
    HUSHD = os.path.join(BUILD, "bin", "hushd")
    SANITIZE = sys.argv[2] if len(sys.argv) == 3 else ""
    SUITE.run("example_builds_from_an_install_and_takes_part",
              example_builds_from_an_install_and_takes_part)
    SUITE.finish()


if __name__ == "__main__":
    main()
