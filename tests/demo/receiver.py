#!/usr/bin/python3
"""The demo's webhook receiver: prints each keyhealthd alert readably.

    receiver.py [--port N] [--secret-file F] [--log FILE] [--[no-]colour]

Verifies X-Keyhealthd-Signature when a secret is given (a bad one is
answered 401 and printed), answers 204, and prints one block per alert:
status and severity, check, key, summary, the details that matter for the
check, and the signature and Idempotency-Key.  Each accepted payload is
also appended as a JSON line to --log (with the Idempotency-Key and
whether the signature verified under "_receiver"), which the demo reads to
know when an alert has arrived.  Standard library only.
"""
import argparse
import hashlib
import hmac
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COLOURS = {"critical": "\033[1;31m", "warning": "\033[1;33m",
           "unknown": "\033[1;35m", "info": "\033[1;36m",
           "resolved": "\033[1;32m", "dim": "\033[2m"}
RESET = "\033[0m"
MAX_BODY = 1 << 20


def detail_lines(ev):
    """The few details a person wants to see for this check."""
    d = ev.get("details") or {}
    check = ev.get("check")
    out = []
    if not isinstance(d, dict):
        return out
    if check == "key-pending-deletion" and "days_left" in d:
        out.append("deletion on %s: %s days left" % (d.get("deletion_date"),
                                                     d.get("days_left")))
    elif check == "key-replaced":
        out.append("alias %s -> %s" % (d.get("alias"), d.get("actual_key")))
        out.append("configured key: %s" % d.get("expected_key"))
    elif check == "vendor-access-missing":
        acts = [a.get("action") for a in d.get("actions") or []
                if isinstance(a, dict)]
        out.append("vendor %s (account %s) lacks: %s" % (
            d.get("vendor"), d.get("account"), ", ".join(
                str(a) for a in acts) or "?"))
    elif check == "policy-changed":
        for line in (d.get("diff") or [])[:8]:
            out.append("diff: %s" % line)
    elif check == "check-failed":
        out.append("error: %s" % json.dumps(d, sort_keys=True)[:200])
    else:
        for k in sorted(d)[:4]:
            v = d[k]
            if isinstance(v, (dict, list)):
                v = json.dumps(v, sort_keys=True)[:120]
            out.append("%s: %s" % (k, v))
    return out


def render(ev, sig, idem, colour):
    def paint(kind, text):
        return COLOURS.get(kind, "") + text + RESET if colour else text

    resolved = ev.get("status") == "resolved"
    kind = "resolved" if resolved else ev.get("severity", "?")
    label = "RESOLVED" if resolved else str(kind).upper()
    key = ev.get("key") or {}
    lines = ["  >> webhook: %s %s on %s (%s)" % (
        paint(kind, label), ev.get("check"), key.get("name"),
        key.get("region"))]
    if not resolved:
        lines.append("     %s" % ev.get("summary"))
        lines.extend("     %s" % l for l in detail_lines(ev))
    else:
        lines.append("     firing since %s, ended %s" % (
            ev.get("started_at"), ev.get("ended_at")))
    lines.append(paint("dim", "     fingerprint %s..., Idempotency-Key %s,"
                       " signature %s" % (str(ev.get("fingerprint"))[:12],
                                          idem, sig)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--secret-file")
    ap.add_argument("--log")
    ap.add_argument("--no-colour", action="store_true")
    ap.add_argument("--colour", action="store_true",
                    help="colour even when stdout is not a terminal")
    args = ap.parse_args()
    secret = None
    if args.secret_file:
        with open(args.secret_file, "rb") as f:
            secret = f.read().rstrip(b"\r\n")
    colour = not args.no_colour and (args.colour or sys.stdout.isatty())
    sys.stdout.reconfigure(errors="backslashreplace")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def answer(self, status):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            try:
                n = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                n = -1
            if n < 0 or n > MAX_BODY:
                self.answer(413)
                return
            body = self.rfile.read(n)
            sig = "not checked"
            if secret is not None:
                want = "sha256=" + hmac.new(secret, body,
                                            hashlib.sha256).hexdigest()
                got = self.headers.get("X-Keyhealthd-Signature", "")
                if not hmac.compare_digest(want, got):
                    with lock:
                        print("  >> webhook: REJECTED a payload with a bad "
                              "signature (401)", flush=True)
                    self.answer(401)
                    return
                sig = "ok"
            try:
                ev = json.loads(body)
                if not isinstance(ev, dict):
                    raise ValueError("not an object")
            except ValueError:
                self.answer(400)
                return
            idem = self.headers.get("Idempotency-Key", "")
            with lock:
                print(render(ev, sig, idem, colour), flush=True)
                if args.log:
                    rec = dict(ev, _receiver={"idempotency_key": idem,
                                              "signature": sig})
                    with open(args.log, "a") as f:
                        f.write(json.dumps(rec) + "\n")
            self.answer(204)

    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    print("receiver listening on 127.0.0.1:%d" % srv.server_address[1],
          flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
