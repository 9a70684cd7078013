"""A webhook receiver for the notifier tests: a threaded HTTP server on
loopback that records every POST (headers, body, parsed JSON, whether the
HMAC signature verified) and answers with a status the test chooses.

It can be stopped and started again on the same port to play "receiver
down for a while".
"""
import hashlib
import hmac
import http.server
import json
import ssl
import subprocess
import threading
import time

import pytest


class Receiver:
    def __init__(self, port, secret=None, tls=None):
        self.port = port
        self.secret = secret
        self.tls = tls          # (certfile, keyfile) or None
        self.requests = []
        self.statuses = []      # consumed one per request; then 200
        self.default_status = 200
        self.lock = threading.Lock()
        self.server = None
        self.thread = None

    @property
    def url(self):
        return "%s://127.0.0.1:%d/hook" % (
            "https" if self.tls else "http", self.port)

    def start(self):
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                sig_ok = None
                if recv.secret is not None:
                    want = "sha256=" + hmac.new(
                        recv.secret, body, hashlib.sha256).hexdigest()
                    got = self.headers.get("X-Keyhealthd-Signature", "")
                    sig_ok = hmac.compare_digest(want, got)
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = None
                with recv.lock:
                    status = (recv.statuses.pop(0) if recv.statuses
                              else recv.default_status)
                    recv.requests.append({
                        "path": self.path,
                        "headers": {k.lower(): v
                                    for k, v in self.headers.items()},
                        "body": body, "json": doc, "sig_ok": sig_ok,
                        "status": status})
                out = b'{"ok": true}' if status < 300 else b'{"error": "no"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        if self.tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.server.socket = ctx.wrap_socket(self.server.socket,
                                                 server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def accepted(self):
        """The JSON bodies answered with a 2xx."""
        with self.lock:
            return [r for r in self.requests if 200 <= r["status"] < 300]

    def wait_for(self, n, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.accepted()) >= n:
                return self.accepted()
            time.sleep(0.05)
        raise AssertionError("receiver got %d accepted requests, wanted %d"
                             % (len(self.accepted()), n))


def make_self_signed(directory):
    """A certificate for 127.0.0.1 and its key: (certfile, keyfile)."""
    cert = str(directory / "cert.pem")
    key = str(directory / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def webhook_receiver(free_port):
    """webhook_receiver(secret=None, tls=None) -> a started Receiver."""
    made = []

    def _make(secret=None, port=None, tls=None):
        r = Receiver(port or free_port, secret, tls).start()
        made.append(r)
        return r

    yield _make
    for r in made:
        r.stop()
