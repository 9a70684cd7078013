"""Fixtures to drive the real keyhealthd against the KMS emulator.

kh_env          a clean environment: HOME an empty tmp dir, the
                emulator's default credentials, no other AWS_* variable
                from outside (a developer's profile must not leak in)
kh_config       kh_config(emu, keys, notifiers=None, **top) -> path of a
                keyhealthd.yaml for the emulator, state_dir in tmp_path
kh_check        kh_check(config, *keys, json_out=True, env=None)
                -> (exit code, parsed JSON or the table text, stderr)
kh_baseline     kh_baseline(config, *keys) -> CompletedProcess
daemon          daemon(config, timeout=60) -> Daemon: `keyhealthd -c FILE
                run` under a timeout with NOTIFY_SOCKET bound by the test,
                so READY=1 / STATUS= / RELOADING=1 / STOPPING=1 are read
                back as systemd would read them

Helpers for the vendor's key: gearset_policy(), seed_gearset_key().
"""
import copy
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest
import yaml

from emuclient import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

ACCOUNT = "111122223333"
GEARSET = {"eu-west-1": "347752291521", "us-west-2": "157764733222",
           "ap-southeast-2": "178658833999", "ca-central-1": "877694686213"}

USE_SID = "Allow use of the key"
GRANT_SID = "Allow attachment of persistent resources"
USE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
               "kms:GenerateDataKey*", "kms:DescribeKey"]
GRANT_ACTIONS = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
GRANT_CONDITION = {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def gearset_policy(vendor_account="347752291521", account=ACCOUNT):
    """The key policy of the vendor's BYOK guide: the customer account's
    admin statement and the vendor's two statements."""
    root = "arn:aws:iam::%s:root" % vendor_account
    return {
        "Version": "2012-10-17",
        "Id": "key-consolepolicy-3",
        "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::%s:root" % account},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": USE_SID, "Effect": "Allow", "Principal": {"AWS": root},
             "Action": list(USE_ACTIONS), "Resource": "*"},
            {"Sid": GRANT_SID, "Effect": "Allow",
             "Principal": {"AWS": root}, "Action": list(GRANT_ACTIONS),
             "Resource": "*", "Condition": copy.deepcopy(GRANT_CONDITION)},
        ]}


def statement(policy, sid):
    for s in policy["Statement"]:
        if s.get("Sid") == sid:
            return s
    raise KeyError(sid)


def seed_gearset_key(emu, region="eu-west-1", alias=None, policy=None,
                     account=ACCOUNT, **meta):
    """A healthy Gearset key (unless meta says otherwise); returns its
    KeyMetadata."""
    if policy is None:
        policy = gearset_policy(GEARSET.get(region, "347752291521"),
                                account)
    doc = dict(meta)
    doc["Policy"] = json.dumps(policy)
    if alias is not None:
        doc["Aliases"] = [alias]
    return emu.client.seed_key(account=account, region=region, **doc)


def key_entry(meta, name, vendor="gearset", alias=None, **kw):
    """One keys: entry for kh_config."""
    e = {"arn": meta["Arn"], "name": name}
    if vendor is not None:
        e["vendor"] = vendor
    if alias is not None:
        e["alias"] = alias
    e.update(kw)
    return e


def clean_env(home, extra=None):
    """The daemon's environment: nothing AWS from outside."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k not in (
               "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
               "KEYHEALTHD_CONFIG", "STATE_DIRECTORY", "LISTEN_FDS",
               "LISTEN_PID")}
    env["HOME"] = str(home)
    env["AWS_ACCESS_KEY_ID"] = DEFAULT_ACCESS_KEY
    env["AWS_SECRET_ACCESS_KEY"] = DEFAULT_SECRET_KEY
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    return env


@pytest.fixture
def kh_env(tmp_path):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return clean_env(home)


class ConfigFile:
    """A config written for the emulator; .path, .state_dir, .doc.
    write() rewrites it after the test changed .doc."""

    def __init__(self, path, doc):
        self.path = str(path)
        self.doc = doc
        self.state_dir = doc["state_dir"]
        self.write()

    def write(self, text=None):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            if text is not None:
                f.write(text)
            else:
                yaml.safe_dump(self.doc, f, sort_keys=False)
        os.chmod(tmp, 0o640)
        os.replace(tmp, self.path)

    def __str__(self):
        return self.path


@pytest.fixture
def kh_config(tmp_path):
    n = [0]

    def _make(emu, keys, notifiers=None, state_dir=None, **top):
        n[0] += 1
        doc = {"interval": top.pop("interval", "5m")}
        doc["state_dir"] = str(state_dir or tmp_path / ("state%d" % n[0]))
        doc["aws"] = {"endpoint_url": emu.url}
        doc["aws"].update(top.pop("aws", {}))
        doc.update(top)
        doc["keys"] = list(keys)
        if notifiers:
            doc["notifiers"] = list(notifiers)
        return ConfigFile(tmp_path / ("keyhealthd%d.yaml" % n[0]), doc)

    return _make


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "WARNING: AddressSanitizer")


def assert_no_sanitizer_report(text, who):
    """With make SANITIZE=1 the binary reports memory errors, leaks and
    undefined behaviour on stderr: any of them fails the test."""
    for mark in SANITIZER_MARKS:
        if mark in text:
            raise AssertionError("%s: sanitizer report:\n%s" % (who, text))


def _run(argv, env, timeout):
    return subprocess.run(argv, capture_output=True, text=True, env=env,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def kh_check(kh_bin, kh_env, request):
    """kh_check(config, *keys, json_out=True, env=None) -> (rc, doc or
    the table text, stderr)."""
    def _check(config, *keys, json_out=True, env=None, timeout=30,
               verbose=False):
        argv = [kh_bin, "check", "-c", str(config)]
        if verbose:
            argv.append("-v")
        if json_out:
            argv.append("--json")
        argv += list(keys)
        r = _run(argv, env or kh_env, timeout)
        request.node.add_report_section(
            "call", "keyhealthd check %s" % " ".join(keys),
            "exit %d\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout,
                                                   r.stderr))
        assert_no_sanitizer_report(r.stderr, "keyhealthd check")
        doc = r.stdout
        if json_out and r.stdout.strip():
            doc = json.loads(r.stdout)
        return r.returncode, doc, r.stderr

    return _check


@pytest.fixture
def kh_baseline(kh_bin, kh_env):
    def _accept(config, *keys, env=None):
        argv = [kh_bin, "baseline", "accept", "-c", str(config)]
        argv += list(keys) if keys else ["--all"]
        return _run(argv, env or kh_env, 30)

    return _accept


def key_result(doc, name):
    """The keys[] entry of check --json named name."""
    for k in doc["keys"]:
        if k["name"] == name:
            return k
    raise KeyError("no key %r in %s" % (name, json.dumps(doc)))


def finding(keydoc, check):
    """The finding with this check id of one key (AssertionError if none)."""
    for f in keydoc["findings"]:
        if f["check"] == check:
            return f
    raise AssertionError("no %s finding in %s" % (
        check, json.dumps(keydoc, indent=1)))


def checks_of(keydoc):
    return sorted(f["check"] for f in keydoc["findings"])


class Daemon:
    """keyhealthd run with a NOTIFY_SOCKET the test reads."""

    def __init__(self, proc, sock, config):
        self.proc = proc
        self.sock = sock
        self.config = config
        self.messages = []      # every datagram, decoded, in order
        self._seen = 0

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        return self.proc.log()

    def _drain(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            return False
        self.messages.append(data.decode("utf-8", "replace"))
        return True

    def notifications(self):
        """Every assignment received so far: a list of (NAME, value)."""
        while self._drain(0.001):
            pass
        out = []
        for m in self.messages:
            for line in m.split("\n"):
                if "=" in line:
                    k, _, v = line.partition("=")
                    out.append((k, v))
        return out

    def wait_notify(self, name, value=None, timeout=10.0, after=None):
        """Waits for NAME=value (any value when None) among the
        notifications past index `after` (default: any not consumed by a
        previous wait); returns the value and consumes up to it."""
        start = self._seen if after is None else after
        deadline = time.monotonic() + timeout
        while True:
            items = self.notifications()
            for i in range(start, len(items)):
                k, v = items[i]
                if k == name and (value is None or v == value or (
                        callable(value) and value(v))):
                    self._seen = i + 1
                    return v
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    "no %s=%s from the daemon within %.0fs; got %r\nlog:\n%s"
                    % (name, value, timeout, items, self.log()))
            if self.proc.popen.poll() is not None:
                # One last look: the datagram may have come before exit.
                self._drain(0.05)
                if len(self.notifications()) == len(items):
                    raise AssertionError(
                        "daemon exited (%s) before %s=%s; got %r\nlog:\n%s"
                        % (self.proc.popen.returncode, name, value, items,
                           self.log()))
            self._drain(min(left, 0.2))

    def mark(self):
        """An index for wait_notify(after=...): only what comes later."""
        n = len(self.notifications())
        self._seen = n
        return n

    def wait_log(self, needle, timeout=10.0, count=1):
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if text.count(needle) >= count:
                return text
            if time.monotonic() > deadline:
                raise AssertionError("daemon did not log %r (x%d) within "
                                     "%.0fs:\n%s" % (needle, count, timeout,
                                                     text))
            if self.proc.popen.poll() is not None:
                raise AssertionError("daemon exited (%s) before logging "
                                     "%r:\n%s" % (self.proc.popen.returncode,
                                                  needle, text))
            time.sleep(0.05)

    def signal(self, sig):
        self.proc.signal(sig)

    def wait(self, timeout=10.0):
        return self.proc.wait(timeout)

    def running(self):
        return self.proc.popen.poll() is None


@pytest.fixture
def daemon(spawn, kh_bin, kh_env, tmp_path):
    """daemon(config, timeout=60, args=(), env=None, ready=True) -> Daemon.

    A timer kills the daemon (by PID) after timeout seconds, so a hung
    daemon cannot hang the run; spawn() stops it after the test and
    attaches its log to a failure.  With ready, waits for READY=1.
    """
    socks = []
    timers = []
    procs = []

    def _start(config, timeout=60, args=(), env=None, ready=True,
               name="keyhealthd"):
        path = str(tmp_path / ("notify-%d.sock" % len(socks)))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        socks.append(s)
        e = dict(env or kh_env)
        e["NOTIFY_SOCKET"] = path
        argv = [kh_bin, "-c", str(config)] + list(args) + ["run"]
        p = spawn(name, argv, env=e)
        procs.append(p)

        def _kill():
            if p.popen.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

        t = threading.Timer(timeout, _kill)
        t.daemon = True
        t.start()
        timers.append(t)
        d = Daemon(p, s, config)
        if ready:
            d.wait_notify("READY", "1", timeout=10)
        return d

    yield _start
    # Stop each daemon the way systemd does, so that what it does on the
    # way out (state, leaks under SANITIZE=1) is checked too.
    for p in procs:
        if p.popen.poll() is None:
            p.signal(signal.SIGTERM)
            try:
                p.wait(timeout=8)
            except subprocess.TimeoutExpired:
                pass
    for t in timers:
        t.cancel()
    for s in socks:
        s.close()
    for p in procs:
        assert_no_sanitizer_report(p.log(), p.name)


__all__ = ["ACCOUNT", "GEARSET", "USE_SID", "GRANT_SID", "gearset_policy",
           "statement", "seed_gearset_key", "key_entry", "clean_env",
           "key_result", "finding", "checks_of", "Daemon",
           "assert_no_sanitizer_report"]
