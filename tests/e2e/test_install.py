#!/usr/bin/env python3
"""`make install` as an operator would use it, into a temporary root:

  - the tools, man pages, hushd's systemd unit and its example settings
    land where they belong, and every tool answers --version;
  - the unit passes `systemd-analyze verify` and names the installed paths;
  - the man pages render without a warning (groff -ww);
  - hushd starts from the installed settings (their paths moved into the
    temporary root), answers /healthz and /readyz, and stops on SIGTERM
    with status 0; --check-config accepts them and refuses a broken one;
  - `make uninstall` takes it all away again, and keeps the settings.

Usage: test_install.py BUILD_DIR
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hushlib import REPO, Suite, expect  # noqa: E402

SUITE = Suite("install")
BUILD = None


@SUITE.test
def install_verify_start_uninstall():
    root = tempfile.mkdtemp(prefix="hush-e2e-install-")
    try:
        prefix, etc = os.path.join(root, "usr"), os.path.join(root, "etc")
        make = ["make", "--no-print-directory", "-C", REPO, "BUILD=" + BUILD,
                "PREFIX=" + prefix, "SYSCONFDIR=" + etc]
        p = subprocess.run(make + ["install"], capture_output=True, text=True, timeout=600)
        expect(p.returncode == 0, "make install: %s%s" % (p.stdout[-2000:], p.stderr[-2000:]))
        unit = os.path.join(prefix, "lib/systemd/system/hushd.service")
        conf = os.path.join(etc, "hush/hushd.conf")
        for f in [unit, conf] + [os.path.join(prefix, "share/man", x) for x in
                                 ("man8/hushd.8", "man1/hush-agent.1", "man1/hush-embed.1",
                                  "man1/hush-privacy.1", "man1/hush-generate-llm.1")]:
            expect(os.path.isfile(f), "installed: %s" % f)
        for tool in ("hushd", "hush-agent", "hush-embed", "hush-privacy", "hush-generate-llm"):
            out = subprocess.run([os.path.join(prefix, "bin", tool), "--version"],
                                 capture_output=True, text=True)
            expect(out.returncode == 0 and re.match(r"^%s \d+\.\d+\.\d+\n$" % tool, out.stdout),
                   "%s --version: %r" % (tool, out.stdout))
        text = open(unit).read()
        expect("ExecStart=%s/bin/hushd --config %s/hush/hushd.conf" % (prefix, etc) in text,
               "the unit names the installed paths:\n%s" % text)
        for opt in ("DynamicUser=yes", "StateDirectory=hush", "ProtectSystem=strict",
                    "NoNewPrivileges=yes", "ExecReload=/bin/kill -HUP $MAINPID"):
            expect(opt in text, "unit has %s" % opt)
        env = dict(os.environ, MANPATH=os.path.join(prefix, "share/man") + ":")
        v = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                           env=env)
        expect(v.returncode == 0 and "hushd.service" not in v.stdout + v.stderr,
               "systemd-analyze verify: %s %s" % (v.stdout, v.stderr))
        for page in os.listdir(os.path.join(prefix, "share/man/man1")) + ["../man8/hushd.8"]:
            path = os.path.join(prefix, "share/man/man1", page)
            g = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", path],
                               capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
            expect(g.returncode == 0 and g.stderr == "", "groff %s: %s" % (page, g.stderr))
        # hushd from the installed settings, its directories moved into the root
        state, logs = os.path.join(root, "var/lib/hush"), os.path.join(root, "var/log/hush")
        os.makedirs(logs)
        moved = ["--store", "sqlite:" + state + "/hush.db", "--key-dir", state + "/keys",
                 "--admin-token-file", state + "/admin-token",
                 "--access-log", logs + "/access.log", "--port", "0"]
        hushd = os.path.join(prefix, "bin", "hushd")
        c = subprocess.run([hushd, "--check-config", "--config", conf] + moved,
                           capture_output=True, text=True)
        expect(c.returncode == 0 and "configuration OK" in c.stdout, "check: %s %s" % (c.stdout, c.stderr))
        c = subprocess.run([hushd, "--check-config", "--config", conf, "--listen", "nowhere"],
                           capture_output=True, text=True)
        expect(c.returncode == 1 and "listen" in c.stderr, "a broken one: %s" % c.stderr)
        proc = subprocess.Popen([hushd, "--config", conf] + moved, stderr=subprocess.PIPE,
                                text=True)
        try:
            line = proc.stderr.readline()
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            expect(m is not None, "started: %r" % line)
            base = "http://127.0.0.1:%s" % m.group(1)
            for path in ("/healthz", "/readyz"):
                with urllib.request.urlopen(base + path, timeout=10) as r:
                    expect(r.status == 200, "%s %s" % (path, r.status))
            expect(os.path.exists(state + "/keys") and os.path.exists(state + "/admin-token"),
                   "state made under the state directory")
            proc.send_signal(signal.SIGTERM)
            expect(proc.wait(timeout=60) == 0, "SIGTERM: exit 0")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        p = subprocess.run(make + ["uninstall"], capture_output=True, text=True, timeout=120)
        expect(p.returncode == 0, "make uninstall: %s" % p.stderr)
        left = [os.path.join(d, f) for d, _, fs in os.walk(prefix) for f in fs]
        expect(left == [], "uninstall left %s" % left)
        expect(os.path.isfile(conf), "the settings are kept")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    global BUILD
    if len(sys.argv) != 2:
        sys.exit("usage: test_install.py BUILD_DIR")
    BUILD = sys.argv[1]
    install_verify_start_uninstall()
    SUITE.finish()


if __name__ == "__main__":
    main()
