"""pytest fixtures for the KMS emulator (tests/kmsemu/kmsemu.py).

kmsemu          a fresh emulator for one test
kmsemu_session  one emulator for the whole run; tests that need a clean
                state call kmsemu_session.client.reset()

Both yield an EmuProcess: .url, .port, .pid, .client (EmuClient),
.log_path, .kms_client(...)/.boto3_client(...).  The emulator's stderr is
appended to the report of a failing test.

boto3_client(url, ...) builds a boto3 client pointed at any emulator URL,
using the KMS model with the operations newer than Debian's botocore
(RotateKeyOnDemand, ListKeyRotations, CurrentKeyMaterialId).
"""

import atexit
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

KMSEMU_DIR = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "kmsemu")
if KMSEMU_DIR not in sys.path:
    sys.path.insert(0, KMSEMU_DIR)

import emuclient  # noqa: E402
from emuclient import (DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY,  # noqa: E402
                       EmuClient)

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
    else sys.executable
START_TIMEOUT = 15.0
LIFETIME = 3600.0

_model_dir = None


def model_data_path():
    """A directory with the extended KMS model for botocore's loader."""
    global _model_dir
    if _model_dir is None:
        import kmsmodel
        _model_dir = tempfile.mkdtemp(prefix="kmsemu-model-")
        atexit.register(shutil.rmtree, _model_dir, True)
        kmsmodel.write_data_path(_model_dir)
    return _model_dir


def botocore_session():
    """A botocore session that knows the extended KMS model (and otherwise
    resolves credentials and config as botocore always does)."""
    import botocore.session
    s = botocore.session.Session()
    s.get_component("data_loader").search_paths.insert(0, model_data_path())
    return s


def boto3_client(url, service="kms", region="us-east-1",
                 access_key=DEFAULT_ACCESS_KEY, secret_key=DEFAULT_SECRET_KEY,
                 session_token=None, retries=0, timeout=10, session=None,
                 **kwargs):
    """A boto3 client for the emulator at url.

    retries is the number of retries (0: one attempt, so injected faults
    surface).  Pass access_key=None to use session's own credentials.
    """
    import boto3
    import botocore.config
    bs = session or botocore_session()
    b3 = boto3.session.Session(botocore_session=bs)
    cfg = botocore.config.Config(
        retries={"total_max_attempts": retries + 1, "mode": "standard"},
        connect_timeout=timeout, read_timeout=timeout)
    if "config" in kwargs:
        cfg = cfg.merge(kwargs.pop("config"))
    creds = {}
    if access_key is not None:
        creds = {"aws_access_key_id": access_key,
                 "aws_secret_access_key": secret_key,
                 "aws_session_token": session_token}
    return b3.client(service, endpoint_url=url, region_name=region,
                     config=cfg, **creds, **kwargs)


class EmuProcess:
    def __init__(self, log_path, extra_args=()):
        self.log_path = str(log_path)
        self._log = open(self.log_path, "ab")
        script = os.path.join(KMSEMU_DIR, "kmsemu.py")
        self.proc = subprocess.Popen(
            [PYTHON, script, "--port", "0", "--exit-after", str(LIFETIME)]
            + list(extra_args),
            stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        line = self._first_line(START_TIMEOUT)
        prefix = "kmsemu listening on "
        if not line.startswith(prefix):
            self.stop()
            raise RuntimeError("kmsemu did not start: %r; log:\n%s"
                               % (line, self.log_text()))
        self.host, _, port = line[len(prefix):].strip().rpartition(":")
        self.port = int(port)
        self.url = "http://%s:%d" % (self.host, self.port)
        self.client = EmuClient(self.url)

    def _first_line(self, timeout):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                break
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
        sel.close()
        return buf.decode("utf-8", "replace")

    def log_text(self, max_bytes=200000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - max_bytes))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def kms_client(self, **kwargs):
        return boto3_client(self.url, "kms", **kwargs)

    def boto3_client(self, service="kms", **kwargs):
        return boto3_client(self.url, service, **kwargs)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()


@pytest.fixture
def kmsemu(tmp_path):
    emu = EmuProcess(tmp_path / "kmsemu.log")
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="session")
def kmsemu_session(tmp_path_factory):
    emu = EmuProcess(tmp_path_factory.mktemp("kmsemu") / "kmsemu.log")
    try:
        yield emu
    finally:
        emu.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    seen = set()
    for name, value in getattr(item, "funcargs", {}).items():
        if isinstance(value, EmuProcess) and id(value) not in seen:
            seen.add(id(value))
            rep.sections.append(("kmsemu log (%s, %s)" % (name,
                                                         value.log_path),
                                 value.log_text(20000)))


__all__ = ["EmuProcess", "boto3_client", "botocore_session",
           "model_data_path", "emuclient"]
