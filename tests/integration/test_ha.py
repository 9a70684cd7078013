"""High availability: two keyhealthd instances on different hosts watching
the same keys (README, "Running two for high availability").

Each instance is the real binary in its own UTS namespace, so each has its
own host name (ha-a, ha-b), with its own state directory and its own
credentials for the same account; both poll the one KMS emulator and
notify the same receivers: a real prometheus-alertmanager on loopback, a
webhook receiver and a PagerDuty-shaped receiver.  What must hold:

- Alertmanager shows ONE alert for a (key, check) both instances fire,
  because their labels are identical (the host is an annotation), and it
  is resolved once both have seen the fix;
- webhook payloads carry the same fingerprint from both, PagerDuty events
  the same dedup_key, for the firing and for the resolve;
- each instance keeps to its own kms.rate_limit, so two take twice the
  account's quota of one;
- a resolve has the last word in Alertmanager even when a re-post of the
  firing alert, built before it, reaches Alertmanager after it (two
  instances make twice the re-posts for that race).
"""
import datetime
import hashlib
import http.server
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

import pytest

from fixture_daemon import (ACCOUNT, assert_no_sanitizer_report, clean_env,
                            key_entry, seed_gearset_key)
from fixture_notifiers import http_json, make_event

HOSTS = ("ha-a", "ha-b")
CHECK = "key-disabled"
ROUTING_KEY = "HaR0ut1ngK3yNeverLogged00000000"
B_ACCESS_KEY = "AKIAHAINSTANCEB00001"
B_SECRET_KEY = "ha-instance-b-secret-key-0000000000000000"


def fingerprint(arn, check):
    return hashlib.sha256((arn + "\n" + check).encode()).hexdigest()


def on_host(host):
    """argv prefix: run the rest in a new UTS namespace named host, as a
    second machine would be (root may; anyone else maps themselves to root
    in a user namespace first)."""
    ns = ["unshare", "--uts"] if os.geteuid() == 0 else [
        "unshare", "--user", "--map-root-user", "--uts"]
    return ns + ["sh", "-c", 'hostname "$1" && shift && exec "$@"', "sh",
                 host]


class Pair:
    """The two instances: same keys and notifiers, their own state
    directory, host name and credentials."""

    def __init__(self, kmsemu, kh_config, spawn, kh_bin, tmp_path, keys,
                 notifiers, **top):
        kmsemu.client.add_account(
            ACCOUNT, access_key_id=B_ACCESS_KEY,
            secret_access_key=B_SECRET_KEY,
            arn="arn:aws:iam::%s:user/keyhealthd-b" % ACCOUNT)
        self.access_keys = {}
        self.procs = {}
        for host in HOSTS:
            (tmp_path / ("home-" + host)).mkdir()
            env = clean_env(tmp_path / ("home-" + host))
            if host == "ha-b":
                env["AWS_ACCESS_KEY_ID"] = B_ACCESS_KEY
                env["AWS_SECRET_ACCESS_KEY"] = B_SECRET_KEY
            self.access_keys[host] = env["AWS_ACCESS_KEY_ID"]
            conf = kh_config(kmsemu, keys, notifiers,
                             state_dir=tmp_path / ("state-" + host), **top)
            self.procs[host] = spawn(
                "keyhealthd-" + host,
                ["timeout", "180"] + on_host(host) +
                [kh_bin, "-c", str(conf), "run"], env=env)
        for p in self.procs.values():
            p.wait_for_log(" started: ", timeout=15)

    def wait_log(self, needle, timeout=30.0):
        for p in self.procs.values():
            p.wait_for_log(needle, timeout=timeout)

    def stop(self):
        """SIGTERM through timeout(1), as systemd would stop each one."""
        for p in self.procs.values():
            p.signal(signal.SIGTERM)
        for p in self.procs.values():
            assert p.wait(timeout=15) == 0, p.log()
            assert_no_sanitizer_report(p.log(), p.name)


def wait_until(pred, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("never: %s" % what)
        time.sleep(0.1)


def test_two_instances_make_one_alertmanager_alert_resolved_by_both(
        kmsemu, kh_config, spawn, kh_bin, tmp_path, alertmanager):
    key = seed_gearset_key(kmsemu)
    pair = Pair(kmsemu, kh_config, spawn, kh_bin, tmp_path,
                [key_entry(key, "gearset-eu")],
                [{"type": "alertmanager", "name": "am",
                  "url": alertmanager.url, "repost_interval": "1s"}],
                interval="1s")
    kmsemu.client.update_key(key["KeyId"], region="eu-west-1",
                             KeyState="Disabled")
    pair.wait_log("critical: %s on key gearset-eu" % CHECK)
    alertmanager.wait_for(lambda a: len(a) >= 1, timeout=30)
    # Both post and re-post every second; the last post's annotations win.
    # Wait until each host's post has been seen, checking every answer.
    seen_hosts = set()
    answers = 0

    def both_posted():
        nonlocal answers
        alerts = alertmanager.alerts()
        answers += 1
        assert len(alerts) == 1, json.dumps(alerts, indent=1)
        seen_hosts.add(alerts[0]["annotations"]["host"])
        return seen_hosts >= set(HOSTS)

    wait_until(both_posted, "a post from each host", timeout=120)
    alert = alertmanager.alerts()[0]
    labels = alert["labels"]
    assert labels["check"] == CHECK and labels["key_arn"] == key["Arn"]
    for host in HOSTS:
        assert host not in json.dumps(labels), labels
    assert alert["annotations"]["fingerprint"] == fingerprint(key["Arn"],
                                                              CHECK)
    assert alert["status"]["state"] == "active"
    groups = http_json(alertmanager.url + "/api/v2/alerts/groups")
    assert sum(len(g["alerts"]) for g in groups) == 1, groups
    print("alertmanager: one alert over %d answers, annotated by %s"
          % (answers, sorted(seen_hosts)))

    kmsemu.client.update_key(key["KeyId"], region="eu-west-1",
                             KeyState="Enabled")
    pair.wait_log("resolved: %s on key gearset-eu" % CHECK)
    alertmanager.wait_for(lambda a: a == [], timeout=30,
                          what="the alert resolved")
    # Both have resolved: neither re-posts it, so it stays resolved.
    for _ in range(30):
        assert alertmanager.alerts() == []
        time.sleep(0.1)
    pair.stop()


def test_two_instances_send_one_fingerprint_and_one_dedup_key(
        kmsemu, kh_config, spawn, kh_bin, tmp_path, webhook_receiver,
        receiver, secret_file):
    receiver.default = (202, json.dumps({
        "status": "success", "message": "Event processed"}),
        "application/json")
    hook = webhook_receiver()
    key = seed_gearset_key(kmsemu)
    fp = fingerprint(key["Arn"], CHECK)
    pair = Pair(kmsemu, kh_config, spawn, kh_bin, tmp_path,
                [key_entry(key, "gearset-eu")],
                [{"type": "webhook", "name": "hook", "url": hook.url,
                  "timeout": "5s"},
                 {"type": "pagerduty", "name": "pd",
                  "routing_key_file": secret_file("pd-key", ROUTING_KEY),
                  "url": receiver.url + "/v2/enqueue", "timeout": "5s"}],
                interval="1s")
    kmsemu.client.update_key(key["KeyId"], region="eu-west-1",
                             KeyState="Disabled")

    def webhook(status):
        return [r for r in hook.accepted()
                if r["json"]["check"] == CHECK and
                r["json"]["status"] == status]

    def pagerduty(action):
        return [b for b in receiver.json_bodies()
                if b["event_action"] == action]

    fired = wait_until(lambda: {r["json"]["host"] for r in webhook(
        "firing")} >= set(HOSTS) and webhook("firing"),
        "a firing webhook from each host")
    assert {r["json"]["fingerprint"] for r in fired} == {fp}
    # Idempotency-Key is one instance's event id: it dedups retries, not
    # the other instance's copy; the fingerprint does that.
    ids = {r["json"]["host"]: r["headers"]["idempotency-key"] for r in fired}
    assert ids["ha-a"] != ids["ha-b"]
    triggers = wait_until(lambda: len(pagerduty("trigger")) >= 2 and
                          pagerduty("trigger"), "a trigger from each host")
    assert {b["dedup_key"] for b in triggers} == {fp}
    assert {b["payload"]["source"] for b in triggers} == set(HOSTS)

    kmsemu.client.update_key(key["KeyId"], region="eu-west-1",
                             KeyState="Enabled")
    resolved = wait_until(lambda: {r["json"]["host"] for r in webhook(
        "resolved")} >= set(HOSTS) and webhook("resolved"),
        "a resolved webhook from each host")
    assert {r["json"]["fingerprint"] for r in resolved} == {fp}
    resolves = wait_until(lambda: len(pagerduty("resolve")) >= 2 and
                          pagerduty("resolve"), "a resolve from each host")
    assert {b["dedup_key"] for b in resolves} == {fp}
    pair.stop()


def test_each_instance_keeps_to_its_own_rate_limit(
        kmsemu, kh_config, spawn, kh_bin, tmp_path):
    # 10 keys polled every second want 20 requests/s from each instance;
    # the limiter lets through 2 x rate at once, then rate per second.
    rate = 3
    keys = [key_entry(seed_gearset_key(kmsemu), "k%d" % i)
            for i in range(10)]
    kmsemu.client.clear_requests()
    t0 = time.monotonic()
    pair = Pair(kmsemu, kh_config, spawn, kh_bin, tmp_path, keys, None,
                interval="1s", kms={"rate_limit": rate})
    time.sleep(8)
    reqs = kmsemu.client.requests(service="kms")
    took = time.monotonic() - t0
    pair.stop()
    per = {host: sum(1 for r in reqs if r["access_key"] == ak)
           for host, ak in pair.access_keys.items()}
    assert sum(per.values()) == len(reqs), (per, len(reqs))
    for host, n in per.items():
        # Every request counted was sent between t0 and now.
        assert 0 < n <= 2 * rate + rate * took + 1, (host, n, took)
    print("rate_limit %d/s each: %s in %.1f s; together %.1f/s"
          % (rate, ", ".join("%s %d (%.1f/s)" % (h, n, n / took)
                             for h, n in sorted(per.items())),
             took, len(reqs) / took))


# -- Alertmanager: a resolve has the last word --------------------------------

class HoldingProxy:
    """An HTTP proxy in front of the real Alertmanager that, once .hold is
    set, holds the next firing post (a re-post) until a post that ends an
    alert has been forwarded and answered: the order a slow network or a
    busy Alertmanager can produce.  .forwarded lists what Alertmanager got,
    in order: "firing" or "ended" per post."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.hold = False
        self.held = threading.Event()
        self.release = threading.Event()
        self.forwarded = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                now = datetime.datetime.now(datetime.timezone.utc)
                ended = any(datetime.datetime.fromisoformat(
                    a["endsAt"].replace("Z", "+00:00")) <= now
                    for a in json.loads(body))
                if not ended and outer.hold and not outer.held.is_set():
                    outer.held.set()
                    outer.release.wait(60)
                status, answer = outer.forward(self.path, body)
                with outer.lock:
                    outer.forwarded.append("ended" if ended else "firing")
                if ended:
                    outer.release.set()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def forward(self, path, body):
        req = urllib.request.Request(
            self.upstream + path, data=body, method="POST",
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


EXPIRING = "key-material-expiring"


@pytest.mark.parametrize("change", ["resolve", "new-severity"])
def test_a_late_repost_cannot_bring_back_an_ended_alertmanager_alert(
        alertmanager, drive, change):
    """What a post ends (the alert, on a resolve; its old labels, on a new
    severity) stays ended when a re-post built before it arrives after
    it."""
    proxy = HoldingProxy(alertmanager.url)
    try:
        # Re-posts keep an alert for 3 intervals: 30 s here, far longer
        # than the wait for it to go below.
        d = drive("type: alertmanager\nname: am\nurl: %s\n"
                  "repost_interval: 10s\ntimeout: 60s\n" % proxy.url,
                  "-l", "2")
        d.send(make_event("fire", check=EXPIRING, severity="warning"))
        d.wait_result("fire", "ack")
        alertmanager.wait_for(lambda a: len(a) == 1, timeout=20)
        proxy.hold = True
        assert proxy.held.wait(40), "no re-post within 40 s"
        if change == "resolve":
            d.send(make_event("end", status="resolved", check=EXPIRING,
                              severity="warning"))
            want = []
        else:
            d.send(make_event("end", check=EXPIRING, severity="critical"))
            want = ["critical"]
        d.wait_result("end", "ack", timeout=30)

        # The held re-post reaches Alertmanager after that post ...
        def late_repost_forwarded():
            f = list(proxy.forwarded)
            return "ended" in f and "firing" in f[f.index("ended"):]

        wait_until(late_repost_forwarded, "the held re-post forwarded",
                   timeout=30)
        # ... and the notifier ends what it ended again after it.
        alertmanager.wait_for(
            lambda a: [x["labels"]["severity"] for x in a] == want,
            timeout=10, what="only %s after the late re-post" % want)
        # The proxy notes a post once Alertmanager has answered it: after
        # Alertmanager shows its effect.
        def last_forwarded():
            f = list(proxy.forwarded)
            return f if f[-1] == "ended" else None
        f = wait_until(last_forwarded, "the post that ends it again "
                       "noted by the proxy last", timeout=10)
        assert f[-1] == "ended", f
        print("Alertmanager got, in order: %s" % f)
        assert d.finish(timeout=60) == 0, d.proc.log()
        assert_no_sanitizer_report(d.proc.log(), "notify_drive")
    finally:
        proxy.close()
