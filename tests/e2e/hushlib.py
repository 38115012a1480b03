"""Helpers for the end-to-end tests: run a real hushd, talk to it over HTTP,
and reach libsodium directly (ctypes) for what the Python standard library
lacks, so that the checks use an implementation independent of hush's."""
import base64
import ctypes
import ctypes.util
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMAS = os.path.join(REPO, "schemas")
_STORE = None


def schema(name):
    with open(os.path.join(SCHEMAS, name + ".schema.json")) as f:
        return json.load(f)


def validate(doc, name):
    """Validates a document against schemas/NAME.schema.json (references
    resolved among the project's schemas); raises on a mismatch."""
    global _STORE
    import jsonschema
    if _STORE is None:
        _STORE = {}
        for path in glob.glob(os.path.join(SCHEMAS, "*.schema.json")):
            with open(path) as f:
                s = json.load(f)
            _STORE[os.path.basename(path)] = s
            _STORE[s["$id"]] = s
    s = schema(name)
    resolver = jsonschema.RefResolver(base_uri=s["$id"], referrer=s, store=_STORE)
    jsonschema.Draft202012Validator(s, resolver=resolver).validate(doc)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hushd:
    """A hushd process in its own directory, on a free loopback port."""

    def __init__(self, binary, workdir=None, extra=()):
        self.binary = binary
        self.dir = workdir or tempfile.mkdtemp(prefix="hush-e2e-")
        self.port = free_port()
        self.extra = list(extra)
        self.proc = None
        self.start()

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        self.log = open(os.path.join(self.dir, "stderr.log"), "ab")
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--access-log", "access.log",
             "--checkpoint-interval", "1"] + self.extra,
            cwd=self.dir, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("hushd exited: " + self.stderr())
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1).read()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("hushd did not come up")

    def stderr(self):
        with open(os.path.join(self.dir, "stderr.log"), "rb") as f:
            return f.read().decode(errors="replace")

    @property
    def token(self):
        with open(os.path.join(self.dir, "var/admin-token")) as f:
            return f.read().strip()

    def request(self, method, path, body=None, headers=None, raw=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, headers=h, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers

    def json(self, method, path, body=None, admin=False, headers=None, raw=None):
        h = dict(headers or {})
        if admin:
            h["Authorization"] = "Bearer " + self.token
        status, data, hdrs = self.request(method, path, body, h, raw)
        return status, (json.loads(data) if data else None), hdrs

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.log.close()
        if code != 0:  # what it said before it died, for the failing test's report
            print("---- hushd exited %s; the end of its stderr:\n%s" % (code, self.stderr()[-4000:]),
                  flush=True)
        return code

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Postgres:
    """A throw-away PostgreSQL server (Debian's postgresql package): initdb
    in a temporary directory, pg_ctl on a free loopback port, one database
    `hush` owned by a superuser `hush` with trust authentication; stop()
    stops it and removes everything.  As root, the server runs as the
    `postgres` system user (initdb refuses root).  fsync is off unless
    durable: the tests kill hushd, not the machine; benchmarks want the
    server's real commit cost."""

    def __init__(self, durable=False):
        self.durable = durable
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError("PostgreSQL is missing (scripts/install-deps installs it)")
        self.bin = os.path.dirname(bins[-1])
        self.dir = tempfile.mkdtemp(prefix="hush-pg-")
        self.as_user = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.data = os.path.join(self.dir, "data")
        self._run("initdb", "-D", self.data, "-U", "hush", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "hush", "hush")
        self.uri = "postgres://hush@127.0.0.1:%d/hush" % self.port

    def _run(self, tool, *args):
        subprocess.run(self.as_user + [os.path.join(self.bin, tool)] + list(args),
                       check=True, capture_output=True, cwd=self.dir)

    def start(self):
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w",
                  "-o", "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=%s "
                  "-c max_connections=200" % (self.port, self.dir,
                                              "on" if self.durable else "off"), "start")

    def stop(self, cleanup=True):
        try:
            self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        finally:
            if cleanup:
                shutil.rmtree(self.dir, ignore_errors=True)


def batch_id():
    return base64.b64encode(os.urandom(16)).decode()


class Sodium:
    """libsodium through ctypes: sealing batches and checking signatures the
    way a device would, without going through hush's own code."""

    def __init__(self):
        name = ctypes.util.find_library("sodium") or "libsodium.so.23"
        self.lib = ctypes.CDLL(name)
        if self.lib.sodium_init() < 0:
            raise RuntimeError("sodium_init failed")

    def seal(self, message, public_key):
        out = ctypes.create_string_buffer(len(message) + 48)
        if self.lib.crypto_box_seal(out, message, ctypes.c_ulonglong(len(message)),
                                    public_key) != 0:
            raise RuntimeError("crypto_box_seal failed")
        return out.raw

    def verify(self, signature, message, public_key):
        return self.lib.crypto_sign_verify_detached(
            signature, message, ctypes.c_ulonglong(len(message)), public_key) == 0


def expect(cond, what):
    """Fails the current test with `what` unless cond holds."""
    if not cond:
        raise AssertionError(what)


class Suite:
    """The end-to-end runner the test files share: @suite.test records a
    pass or a failure (with its traceback) per function, finish() prints the
    closing line and exits non-zero on any failure."""

    def __init__(self, name):
        self.name = name
        self.results = []

    def run(self, name, fn, *args):
        """Runs fn(*args) as the test `name` (also for tests made in a loop);
        a failure is recorded and printed, never raised."""
        t0 = time.time()
        try:
            fn(*args)
            self.results.append(True)
            print("[PASS] e2e::%s (%.2fs)" % (name, time.time() - t0), flush=True)
        except Exception:  # noqa: BLE001 - every failure is a result
            self.results.append(False)
            print("[FAIL] e2e::%s\n%s" % (name, traceback.format_exc()), flush=True)

    def test(self, fn):
        def run():
            self.run(fn.__name__, fn)
        run.__name__ = fn.__name__
        return run

    def finish(self):
        failed = self.results.count(False)
        print("[====] e2e %s: Tested: %d | Passing: %d | Failing: %d" %
              (self.name, len(self.results), len(self.results) - failed, failed), flush=True)
        sys.exit(1 if failed else 0)
