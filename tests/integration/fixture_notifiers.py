"""Fixtures for the pagerduty, alertmanager and slack notifier tests.

- `alertmanager`: a real prometheus-alertmanager on a loopback port with a
  null receiver, its storage in the test's tmp_path, stopped by PID.
- `receiver`: an HTTP server in the test process that records every request
  and answers from a script (status, body) so a test can make it fail.
- `drive`: starts build/tests/tools/notify_drive on a notifier block
  and feeds it events, one JSON line each.
"""
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import pick_free_port

AM_BIN = "/usr/bin/prometheus-alertmanager"

ARN = ("arn:aws:kms:eu-west-1:111122223333:key/"
       "1234abcd-12ab-34cd-56ef-1234567890ab")


def make_event(ev_id, status="firing", check="key-disabled",
               severity="critical", summary=None, arn=ARN, name="gearset-eu",
               details=None, started_at=None, ended_at=None):
    """One event as notify_drive reads it (the alert_event fields)."""
    now = int(time.time())
    return {
        "id": ev_id,
        "status": status,
        "check": check,
        "severity": severity,
        "key": {"arn": arn, "name": name, "region": "eu-west-1",
                "account": "111122223333"},
        "summary": summary or "KMS key %s: %s" % (name, check),
        "details": details if details is not None else {"key_state":
                                                        "Disabled"},
        "fingerprint": hashlib.sha256(
            (arn + "\n" + check).encode()).hexdigest(),
        "started_at": started_at if started_at is not None else now - 10,
        "ended_at": ended_at if ended_at is not None else
        (now if status == "resolved" else 0),
    }


def http_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


class Alertmanager:
    def __init__(self, proc, port):
        self.proc = proc
        self.port = port
        self.url = "http://127.0.0.1:%d" % port

    def alerts(self, **filters):
        """GET /api/v2/alerts; by default the active ones only."""
        q = "&".join("%s=%s" % (k, str(v).lower())
                     for k, v in filters.items())
        return http_json(self.url + "/api/v2/alerts" + ("?" + q if q else ""))

    def wait_for(self, predicate, timeout=10.0, what="alerts"):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.alerts()
            if predicate(last):
                return last
            time.sleep(0.1)
        raise AssertionError("Alertmanager never had the expected %s; last "
                             "answer: %s\nlog:\n%s"
                             % (what, json.dumps(last, indent=1),
                                self.proc.log()))


@pytest.fixture
def alertmanager(spawn, tmp_path):
    if not os.access(AM_BIN, os.X_OK):
        pytest.fail("%s missing: make deps installs prometheus-alertmanager"
                    % AM_BIN)
    conf = tmp_path / "alertmanager.yml"
    conf.write_text("route:\n  receiver: blackhole\n"
                    "receivers:\n  - name: blackhole\n")
    port = pick_free_port()
    proc = spawn("alertmanager", [
        "timeout", "300", AM_BIN, "--config.file=%s" % conf,
        "--storage.path=%s" % (tmp_path / "am-data"),
        "--web.listen-address=127.0.0.1:%d" % port,
        "--cluster.listen-address=", "--log.level=debug"])
    am = Alertmanager(proc, port)
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(am.url + "/-/ready", timeout=1) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if proc.popen.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("alertmanager did not become ready:\n%s"
                                 % proc.log())
        time.sleep(0.1)
    return am


class Receiver:
    """Records requests; answers with the next scripted answer, then with
    the default.  An answer is (status, text, content_type), or
    (status, body_bytes, content_type, extra_headers, close_delimited):
    close_delimited sends no Content-Length, the body ending with the
    connection."""

    def __init__(self):
        self.requests = []
        self.script = []
        self.default = (200, "ok", "text/plain")
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with outer.lock:
                    outer.requests.append({
                        "path": self.path,
                        "headers": {k.lower(): v
                                    for k, v in self.headers.items()},
                        "body": body})
                    answer = (outer.script.pop(0) if outer.script
                              else outer.default)
                status, data, ctype = answer[:3]
                extra, close_delimited = (answer[3:] if len(answer) > 3
                                          else ({}, False))
                if isinstance(data, str):
                    data = data.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                for k, v in extra.items():
                    self.send_header(k, v)
                if close_delimited:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass        # the client stopped reading: fine

            def handle(self):
                try:
                    super().handle()
                except OSError:
                    pass        # the client closed early

            def log_message(self, fmt, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def json_bodies(self):
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


class Driver:
    def __init__(self, proc):
        self.proc = proc

    def send(self, event):
        self.proc.popen.stdin.write((json.dumps(event) + "\n").encode())
        self.proc.popen.stdin.flush()

    def close_input(self):
        self.proc.popen.stdin.close()

    def results(self):
        out = {}
        for line in self.proc.log().splitlines():
            if line.startswith("result "):
                parts = line.split(" ", 3)
                out.setdefault(parts[1], []).append(
                    (parts[2], parts[3] if len(parts) > 3 else ""))
        return out

    def wait_result(self, ev_id, outcome, count=1, timeout=15.0):
        """Waits until ev_id has count outcomes of that kind."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [o for o, _ in self.results().get(ev_id, [])]
            if got.count(outcome) >= count:
                return self.results()[ev_id]
            if self.proc.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("no %d x %r for %s; output:\n%s"
                             % (count, outcome, ev_id, self.proc.log()))

    def finish(self, timeout=30):
        self.close_input()
        rc = self.proc.wait(timeout=timeout)
        return rc


@pytest.fixture
def drive(spawn, tools_dir, tmp_path):
    """drive(config_text, *flags) -> Driver, started and ready."""
    exe = os.path.join(tools_dir, "notify_drive")
    if not os.access(exe, os.X_OK):
        pytest.fail("%s not built (make tools)" % exe)
    count = [0]

    def _drive(config_text, *flags, env=None):
        count[0] += 1
        conf = tmp_path / ("notifier%d.yaml" % count[0])
        conf.write_text(config_text)
        proc = spawn("notify_drive%d" % count[0],
                     ["timeout", "120", exe, "-t", "100"] + list(flags) +
                     [str(conf)], stdin=subprocess.PIPE, env=env)
        d = Driver(proc)
        proc.wait_for_log("ready\n", timeout=10)
        return d

    return _drive


@pytest.fixture
def secret_file(tmp_path):
    """secret_file(name, text, mode=0o600) -> path."""
    def _make(name, text, mode=0o600):
        path = tmp_path / name
        path.write_text(text)
        os.chmod(path, mode)
        return str(path)
    return _make


@pytest.fixture
def amtool():
    return shutil.which("amtool")
