#!/usr/bin/python3
"""The demo's webhook receiver: prints each keyhealthd alert readably.

    receiver.py --port N [--secret-file F] [--log FILE]

Verifies X-Keyhealthd-Signature when a secret is given, answers 204, and
prints one block per alert.  Each payload is also appended as a JSON line to
--log, which the demo reads to know when an alert has arrived.
"""
import argparse
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COLOURS = {"critical": "\033[1;31m", "warning": "\033[1;33m",
           "unknown": "\033[1;35m", "info": "\033[1;36m",
           "resolved": "\033[1;32m"}
RESET = "\033[0m"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--secret-file")
    ap.add_argument("--log")
    ap.add_argument("--no-colour", action="store_true")
    args = ap.parse_args()
    secret = None
    if args.secret_file:
        with open(args.secret_file, "rb") as f:
            secret = f.read().strip()
    colour = sys.stdout.isatty() and not args.no_colour

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if secret is not None:
                want = "sha256=" + hmac.new(secret, body,
                                            hashlib.sha256).hexdigest()
                got = self.headers.get("X-Keyhealthd-Signature", "")
                if not hmac.compare_digest(want, got):
                    print("receiver: REJECTED a payload with a bad signature",
                          flush=True)
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            try:
                ev = json.loads(body)
            except ValueError:
                self.send_response(400)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            kind = "resolved" if ev.get("status") == "resolved" \
                else ev.get("severity", "?")
            label = "RESOLVED" if kind == "resolved" else kind.upper()
            if colour:
                label = COLOURS.get(kind, "") + label + RESET
            key = ev.get("key", {})
            print("  >> webhook: %s %s on %s: %s" % (
                label, ev.get("check"), key.get("name"), ev.get("summary")),
                flush=True)
            if args.log:
                with open(args.log, "a") as f:
                    f.write(json.dumps(ev) + "\n")
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    print("receiver listening on 127.0.0.1:%d" % srv.server_address[1],
          flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
