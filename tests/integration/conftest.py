"""Shared pytest fixtures for keyhealthd's integration tests.

Every tests/integration/fixture_*.py is loaded as a plugin, so each part of
the project keeps its own fixtures (the KMS emulator, receivers, journald)
next to its tests.  Processes are started with `spawn()`, always under a
timeout, stopped by PID, and their output is attached to a failing test's
report.
"""
import glob
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
# The shipped vendor profiles, from the source tree: nothing is installed.
# Environments built from scratch below carry it over (VENDOR_ENV).
os.environ.setdefault("KEYHEALTHD_VENDOR_DIR",
                      os.path.join(REPO_TOP, "vendors"))
VENDOR_ENV = {"KEYHEALTHD_VENDOR_DIR": os.environ["KEYHEALTHD_VENDOR_DIR"]}
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO_TOP, "tests", "kmsemu"))

pytest_plugins = sorted(
    os.path.splitext(os.path.basename(p))[0]
    for p in glob.glob(os.path.join(HERE, "fixture_*.py")))


def _build_dir():
    return os.environ.get("KEYHEALTHD_BUILD",
                          os.path.join(REPO_TOP, "build"))


@pytest.fixture(scope="session")
def repo_top():
    return REPO_TOP


@pytest.fixture(scope="session")
def kh_bin():
    path = os.environ.get("KEYHEALTHD_BIN",
                          os.path.join(_build_dir(), "keyhealthd"))
    if not os.access(path, os.X_OK):
        pytest.fail("keyhealthd binary not built: %s (run make)" % path)
    return path


@pytest.fixture(scope="session")
def tools_dir():
    return os.path.join(_build_dir(), "tests", "tools")


def pick_free_port():
    """A TCP port on loopback that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def free_port():
    return pick_free_port()


class Proc:
    """A process started by a test: output to a log file, killed by PID."""

    def __init__(self, name, argv, log_path, env=None, cwd=None,
                 stdin=subprocess.DEVNULL):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.logf = open(log_path, "wb")
        self.popen = subprocess.Popen(
            argv, stdout=self.logf, stderr=subprocess.STDOUT, env=env,
            cwd=cwd or REPO_TOP, stdin=stdin, start_new_session=True)
        self.pid = self.popen.pid

    def log(self):
        # Also after stop(): a failing test's report reads it then.
        if not self.logf.closed:
            self.logf.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_for_log(self, needle, timeout=10.0):
        """Waits until needle appears in the output; fails on exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log()
            if needle in text:
                return text
            if self.popen.poll() is not None:
                raise AssertionError("%s exited with %s before printing %r:\n%s"
                                     % (self.name, self.popen.returncode,
                                        needle, text))
            time.sleep(0.05)
        raise AssertionError("%s did not print %r within %.0fs:\n%s"
                             % (self.name, needle, timeout, self.log()))

    def signal(self, sig):
        if self.popen.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout=10.0):
        return self.popen.wait(timeout=timeout)

    def stop(self, timeout=5.0):
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=timeout)
        # The leader may be gone with members of its group left (e.g.
        # timeout(1) killed by a signal it does not pass on): no orphans.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.logf.close()
        return self.popen.returncode


@pytest.fixture
def spawn(request, tmp_path):
    """spawn(name, argv, **kw) -> Proc; all are stopped after the test and
    their logs attached to the report when it fails."""
    procs = []

    def _spawn(name, argv, **kw):
        p = Proc(name, argv, str(tmp_path / ("%s.log" % name)), **kw)
        procs.append(p)
        return p

    yield _spawn
    for p in procs:
        p.stop()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for p in procs:
            request.node.add_report_section(
                "call", "log of %s (pid %d)" % (p.name, p.pid), p.log())


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def run(argv, timeout=30, **kw):
    """Runs a command to completion under a timeout; returns CompletedProcess."""
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout, cwd=kw.pop("cwd", REPO_TOP), **kw)
