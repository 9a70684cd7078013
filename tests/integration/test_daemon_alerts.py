"""Alerting end to end through the real daemon: `keyhealthd run` polls the
KMS emulator, and its alerts travel through the alert table, the durable
outbox and the notifiers to real receivers (a webhook checking the HMAC, a
systemd-journald in its own mount namespace, a prometheus-alertmanager).
Also `make demo`'s script, in its --fast form, and its Ctrl-C.
"""
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import REPO_TOP, pick_free_port
from emuclient import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from test_notifiers import JOURNALD_SCRIPT, catalog_ids

sys.path.insert(0, os.path.join(REPO_TOP, "tests", "demo"))
from demo import gearset_policy  # noqa: E402

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
VERSION = re.search(r"^VERSION\s*=\s*(\S+)", open(
    os.path.join(REPO_TOP, "Makefile")).read(), re.M).group(1)
DAY = 86400


# -- helpers ----------------------------------------------------------------

def daemon_env(tmp_path):
    """The emulator's credentials for the daemon only; an empty HOME."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home), "TZ": "UTC",
            "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_KEY,
            "AWS_EC2_METADATA_DISABLED": "true",
            "KEYHEALTHD_VENDOR_DIR": os.environ["KEYHEALTHD_VENDOR_DIR"]}


def seed(emu, region="eu-west-1", policy=None, **meta):
    """A Gearset-compliant key; returns its KeyMetadata."""
    return emu.client.seed_key(region=region,
                               Policy=policy or gearset_policy(region),
                               **meta)


def fingerprint(arn, check):
    return hashlib.sha256((arn + "\n" + check).encode()).hexdigest()


def write_config(tmp_path, emu, keys, notifiers, interval="1s",
                 renotify="1h", extra="", name="keyhealthd.yaml"):
    """keys: [(KeyMetadata, name)] or [(KeyMetadata, name, alias)]."""
    lines = ["interval: %s" % interval, "slow_interval: %s" % interval,
             "renotify: %s" % renotify,
             "state_dir: %s" % (tmp_path / "state"),
             "aws:", "  endpoint_url: %s" % emu.url, "keys:"]
    for k in keys:
        lines += ["  - arn: %s" % k[0]["Arn"], "    name: %s" % k[1],
                  "    vendor: gearset"]
        if len(k) > 2:
            lines.append("    alias: %s" % k[2])
    text = "\n".join(lines) + "\n" + extra + "notifiers:\n" + notifiers
    path = tmp_path / name
    path.write_text(text)
    os.chmod(path, 0o600)
    return str(path)


def webhook_block(recv, name="hook", secret_file=None, extra=""):
    b = "  - type: webhook\n    name: %s\n    url: %s\n    timeout: 2s\n" % (
        name, recv.url)
    if secret_file:
        b += "    secret_file: %s\n" % secret_file
    return b + extra


def start_daemon(spawn, kh_bin, config, tmp_path, name="keyhealthd"):
    p = spawn(name, ["timeout", "120", kh_bin, "-c", config, "run"],
              env=daemon_env(tmp_path))
    p.wait_for_log(" started: ", timeout=10)
    return p


def daemon_signal(p, sig):
    """Signals the daemon itself, not the timeout(1) that runs it."""
    with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
        pids = [int(x) for x in f.read().split()]
    assert len(pids) == 1, pids
    os.kill(pids[0], sig)


def stop_daemon(p):
    p.signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0, p.log()


def bodies(recv, path=None):
    return [r["json"] for r in recv.accepted()
            if path is None or r["path"] == path]


def wait_bodies(recv, pred, timeout=20.0, path=None, what="alerts"):
    """Waits until pred(list of accepted JSON bodies) holds; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        got = bodies(recv, path)
        if pred(got):
            return got
        if time.monotonic() > deadline:
            raise AssertionError("no %s; the receiver has:\n%s" % (
                what, json.dumps([(b.get("status"), b.get("check"),
                                   b.get("severity")) for b in got])))
        time.sleep(0.05)


def has(status, check, n=1, key=None):
    """A predicate: at least n bodies with this status and check."""
    def pred(bs):
        return sum(1 for b in bs if b.get("status") == status and
                   b.get("check") == check and
                   (key is None or b["key"]["name"] == key)) >= n
    return pred


def sent(bs):
    return [(b["status"], b["check"], b["key"]["name"]) for b in bs]


def outbox_files(tmp_path, name):
    d = tmp_path / "state" / "outbox" / name
    if not d.is_dir():
        return []
    return sorted(f for f in os.listdir(d) if f.endswith(".json"))


def wait_until(pred, timeout=20.0, what="condition", log=None):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s%s" % (
                what, "\n" + log() if log else ""))
        time.sleep(0.05)


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "webhook-secret"
    path.write_text("s3cr3t-for-the-hmac\n")
    os.chmod(path, 0o600)
    return str(path), b"s3cr3t-for-the-hmac"


# -- webhook: the payload, its signature, resolve, renotify -----------------

def test_firing_and_resolved_reach_the_webhook_signed_with_payload_v1(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin, secret):
    key = seed(kmsemu)
    recv = webhook_receiver(secret=secret[1])
    conf = write_config(tmp_path, kmsemu, [(key, "gearset-eu")],
                        webhook_block(recv, secret_file=secret[0]))
    d = start_daemon(spawn, kh_bin, conf, tmp_path)
    kmsemu.client.update_key(key["KeyId"], region="eu-west-1",
                             KeyState="Disabled")
    fired = wait_bodies(recv, has("firing", "key-disabled"))[0]
    kmsemu.client.update_key(key["KeyId"], region="eu-west-1",
                             KeyState="Enabled")
    got = wait_bodies(recv, has("resolved", "key-disabled"))
    assert sent(got) == [("firing", "key-disabled", "gearset-eu"),
                         ("resolved", "key-disabled", "gearset-eu")]
    reqs = recv.accepted()
    for r in reqs:
        assert r["sig_ok"] is True
        assert r["headers"]["content-type"].startswith("application/json")
        assert re.fullmatch(r"[0-9a-f-]{36}", r["headers"]["idempotency-key"])
        assert r["headers"]["x-keyhealthd-signature"] == "sha256=" + \
            hmac.new(secret[1], r["body"], hashlib.sha256).hexdigest()
    assert reqs[0]["headers"]["idempotency-key"] != \
        reqs[1]["headers"]["idempotency-key"]

    fp = fingerprint(key["Arn"], "key-disabled")
    assert set(fired) >= {"version", "status", "check", "severity", "key",
                          "summary", "details", "fingerprint", "started_at",
                          "ended_at", "sent_at", "host", "source"}
    assert fired["version"] == 1
    assert fired["severity"] == "critical"
    assert fired["key"] == {"arn": key["Arn"], "name": "gearset-eu",
                            "region": "eu-west-1", "account": "111122223333"}
    assert "disabled" in fired["summary"]
    assert fired["details"]["state"] == "Disabled"
    assert fired["fingerprint"] == fp
    assert RFC3339.match(fired["started_at"])
    assert RFC3339.match(fired["sent_at"])
    assert fired["ended_at"] is None
    assert fired["source"] == "keyhealthd/" + VERSION
    assert fired["host"] == os.uname().nodename

    resolved = got[1]
    assert resolved["fingerprint"] == fp
    assert resolved["severity"] == "critical"     # what it fired with
    assert resolved["started_at"] == fired["started_at"]
    assert RFC3339.match(resolved["ended_at"])
    assert resolved["ended_at"] >= resolved["started_at"]
    stop_daemon(d)
    assert outbox_files(tmp_path, "hook") == []


def test_a_lasting_alert_is_sent_again_every_renotify(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin):
    key = seed(kmsemu, KeyState="Disabled")
    recv = webhook_receiver()
    conf = write_config(tmp_path, kmsemu, [(key, "gearset-eu")],
                        webhook_block(recv), renotify="3s")
    d = start_daemon(spawn, kh_bin, conf, tmp_path)
    wait_bodies(recv, has("firing", "key-disabled", 3), timeout=20)
    reqs = recv.accepted()[:3]
    docs = [r["json"] for r in reqs]
    assert len({b["fingerprint"] for b in docs}) == 1
    assert len({r["headers"]["idempotency-key"] for r in reqs}) == 3
    assert len({b["started_at"] for b in docs}) == 1
    # sent_at has a one-second resolution: the re-sends are >= 2s apart
    # and not much more than renotify plus a poll interval.
    sent_at = [time.mktime(time.strptime(b["sent_at"], "%Y-%m-%dT%H:%M:%SZ"))
               for b in docs]
    for a, b in zip(sent_at, sent_at[1:]):
        assert 2 <= b - a <= 6, docs
    stop_daemon(d)


def test_a_severity_change_fires_again(tmp_path, kmsemu, webhook_receiver,
                                       spawn, kh_bin):
    now = time.time()
    key = seed(kmsemu, Origin="EXTERNAL",
               ExpirationModel="KEY_MATERIAL_EXPIRES",
               ValidTo=now + 20 * DAY)
    recv = webhook_receiver()
    conf = write_config(tmp_path, kmsemu, [(key, "gearset-eu")],
                        webhook_block(recv))
    d = start_daemon(spawn, kh_bin, conf, tmp_path)
    first = wait_bodies(recv, has("firing", "key-material-expiring"))[0]
    assert first["severity"] == "warning"
    assert first["details"]["days_left"] in (19, 20)
    # The material now expires in 3 days: under 7, critical.
    kmsemu.client.update_key(key["KeyId"], region="eu-west-1",
                             ValidTo=now + 3 * DAY)
    got = wait_bodies(recv, has("firing", "key-material-expiring", 2))
    second = got[1]
    assert second["severity"] == "critical"
    assert second["details"]["days_left"] in (2, 3)
    assert second["fingerprint"] == first["fingerprint"]
    assert [b["status"] for b in got] == ["firing", "firing"]
    stop_daemon(d)


# -- the outbox: receiver down, SIGKILL ---------------------------------------

def test_receiver_down_for_a_while_then_every_alert_arrives_in_order(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin, free_port):
    eu = seed(kmsemu)
    us = seed(kmsemu, region="us-west-2")
    recv = webhook_receiver(port=free_port)
    recv.stop()                                 # down from the start
    conf = write_config(tmp_path, kmsemu, [(eu, "gearset-eu"),
                                           (us, "gearset-us")],
                        webhook_block(recv))
    d = start_daemon(spawn, kh_bin, conf, tmp_path)
    c = kmsemu.client
    c.update_key(eu["KeyId"], region="eu-west-1", KeyState="Disabled")
    d.wait_for_log("key-disabled on key gearset-eu")
    c.update_key(us["KeyId"], region="us-west-2", KeyState="PendingDeletion",
                 DeletionDate=time.time() + 7 * DAY)
    d.wait_for_log("key-pending-deletion on key gearset-us")
    c.update_key(eu["KeyId"], region="eu-west-1", KeyState="Enabled")
    d.wait_for_log("resolved: key-disabled on key gearset-eu")
    # The line is logged as the event is queued; its file follows (two
    # fsyncs later) in the same turn of the loop.
    wait_until(lambda: len(outbox_files(tmp_path, "hook")) == 3, 10,
               "three queued alerts", d.log)
    assert "failed" in d.log() and "retrying" in d.log()
    time.sleep(2)                               # down a while longer
    recv.start()
    daemon_signal(d, signal.SIGUSR1)            # retry now, not at backoff
    got = wait_bodies(recv, lambda bs: len(bs) >= 3, timeout=30)
    assert sent(got) == [("firing", "key-disabled", "gearset-eu"),
                         ("firing", "key-pending-deletion", "gearset-us"),
                         ("resolved", "key-disabled", "gearset-eu")]
    wait_until(lambda: outbox_files(tmp_path, "hook") == [], 10,
               "an empty outbox", d.log)
    time.sleep(1.5)
    assert len(bodies(recv)) == 3               # no duplicates
    stop_daemon(d)


def test_sigkilled_with_undelivered_alerts_delivers_them_after_restart(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin, free_port):
    key = seed(kmsemu)
    recv = webhook_receiver(port=free_port)
    recv.stop()
    conf = write_config(tmp_path, kmsemu, [(key, "gearset-eu")],
                        webhook_block(recv))
    d1 = start_daemon(spawn, kh_bin, conf, tmp_path, "keyhealthd1")
    kmsemu.client.update_key(key["KeyId"], region="eu-west-1",
                             KeyState="Disabled")
    d1.wait_for_log("delivery of firing key-disabled")   # tried, failed
    files = outbox_files(tmp_path, "hook")
    assert len(files) == 1
    queued = json.loads((tmp_path / "state" / "outbox" / "hook" /
                         files[0]).read_text())
    os.killpg(d1.pid, signal.SIGKILL)
    d1.wait(timeout=10)

    recv.start()
    d2 = start_daemon(spawn, kh_bin, conf, tmp_path, "keyhealthd2")
    got = wait_bodies(recv, has("firing", "key-disabled"))
    assert "1 undelivered alerts from before" in d2.log()
    r = recv.accepted()[0]
    assert r["headers"]["idempotency-key"] == queued["event"]["id"]
    assert r["json"]["fingerprint"] == fingerprint(key["Arn"],
                                                   "key-disabled")
    # The receiver records the post before the daemon reads the answer
    # and removes the outbox file.
    wait_until(lambda: outbox_files(tmp_path, "hook") == [], 10,
               "an empty outbox", d2.log)
    # The alert state survived too: the still disabled key is not a new
    # alert (renotify is an hour).
    time.sleep(3)
    assert sent(bodies(recv)) == [("firing", "key-disabled", "gearset-eu")]
    assert outbox_files(tmp_path, "hook") == []
    stop_daemon(d2)


# -- filters -------------------------------------------------------------------

def test_min_severity_and_check_filters_hold_end_to_end(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin):
    key = seed(kmsemu)
    recv = webhook_receiver()
    url = "http://127.0.0.1:%d" % recv.port
    blocks = ("  - type: webhook\n    name: crit\n    url: %s/crit\n"
              "    min_severity: critical\n"
              "  - type: webhook\n    name: policy\n    url: %s/policy\n"
              "    checks: [policy-changed]\n"
              "  - type: webhook\n    name: nodisable\n    url: %s/nodisable\n"
              "    exclude_checks: [key-disabled]\n"
              "  - type: webhook\n    name: all\n    url: %s/all\n"
              % (url, url, url, url))
    conf = write_config(tmp_path, kmsemu, [(key, "gearset-eu")], blocks)
    d = start_daemon(spawn, kh_bin, conf, tmp_path)
    wait_until(lambda: len(kmsemu.client.requests(
        operation="GetKeyPolicy")) >= 1, 10, "the first poll")
    time.sleep(1.5)                     # the baseline is recorded
    c = kmsemu.client
    c.update_key(key["KeyId"], region="eu-west-1", KeyState="Disabled")
    # A change that leaves Gearset's access alone: policy-changed only.
    pol = json.loads(gearset_policy("eu-west-1"))
    pol["Statement"].append({"Sid": "Auditors", "Effect": "Allow",
                             "Principal": {"AWS": "arn:aws:iam::"
                                           "111122223333:role/Audit"},
                             "Action": "kms:DescribeKey", "Resource": "*"})
    c.update_key(key["KeyId"], region="eu-west-1", Policy=json.dumps(pol))
    wait_bodies(recv, lambda bs: has("firing", "key-disabled")(bs) and
                has("firing", "policy-changed")(bs), path="/all")
    c.update_key(key["KeyId"], region="eu-west-1", KeyState="Enabled",
                 Policy=gearset_policy("eu-west-1"))
    wait_bodies(recv, lambda bs: has("resolved", "key-disabled")(bs) and
                has("resolved", "policy-changed")(bs), path="/all")
    # Each notifier delivers on its own: wait for what each must get.
    wait_bodies(recv, has("resolved", "key-disabled"), path="/crit")
    wait_bodies(recv, has("resolved", "policy-changed"), path="/policy")
    wait_bodies(recv, has("resolved", "policy-changed"), path="/nodisable")
    time.sleep(1.5)                     # anything late would show now

    def checks(path):
        return sorted((b["status"], b["check"]) for b in bodies(recv, path))
    assert checks("/all") == [("firing", "key-disabled"),
                              ("firing", "policy-changed"),
                              ("resolved", "key-disabled"),
                              ("resolved", "policy-changed")]
    assert checks("/crit") == [("firing", "key-disabled"),
                               ("resolved", "key-disabled")]
    assert checks("/policy") == [("firing", "policy-changed"),
                                 ("resolved", "policy-changed")]
    assert checks("/nodisable") == [("firing", "policy-changed"),
                                    ("resolved", "policy-changed")]
    stop_daemon(d)


# -- check-failed ----------------------------------------------------------------

def test_check_failed_does_not_resolve_the_keys_other_alerts(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin):
    key = seed(kmsemu, KeyState="Disabled")
    recv = webhook_receiver()
    conf = write_config(tmp_path, kmsemu, [(key, "gearset-eu")],
                        webhook_block(recv),
                        extra="kms:\n  max_attempts: 2\n")
    d = start_daemon(spawn, kh_bin, conf, tmp_path)
    wait_bodies(recv, has("firing", "key-disabled"))
    # Throttled for longer than the client's retries last.
    kmsemu.client.fault("error", "DescribeKey", duration=6, status=400,
                        code="ThrottlingException", message="Rate exceeded")
    failed = wait_bodies(recv, has("firing", "check-failed"))
    cf = [b for b in failed if b["check"] == "check-failed"][0]
    assert cf["severity"] == "unknown"
    assert "ThrottlingException" in json.dumps(cf["details"])
    # Once KMS answers again, check-failed resolves and key-disabled is
    # still the same alert: never resolved, never fired again.
    got = wait_bodies(recv, has("resolved", "check-failed"), timeout=30)
    time.sleep(2)
    got = bodies(recv)
    assert [b for b in got if b["check"] == "key-disabled"] == got[:1], \
        sent(got)
    assert sent(got) == [("firing", "key-disabled", "gearset-eu"),
                         ("firing", "check-failed", "gearset-eu"),
                         ("resolved", "check-failed", "gearset-eu")]
    stop_daemon(d)


# -- journald ----------------------------------------------------------------

DAEMON_IN_NAMESPACE = JOURNALD_SCRIPT.split('"$@" <"$T/events"')[0] + r"""
"$@" >"$T/daemon.out" 2>&1 &
DPID=$!
# (set -e holds in the trap too: a failing kill would be the status.)
trap 'kill $DPID 2>/dev/null || :; wait $DPID 2>/dev/null || :
      kill $JPID 2>/dev/null || :; wait $JPID 2>/dev/null || :' EXIT
touch "$T/journald-ready"
i=0
while [ ! -e "$T/stop" ]; do
    i=$((i + 1)); [ $i -lt 1200 ] || { echo "never told to stop" >&2; exit 1; }
    sleep 0.05
done
kill $DPID; wait $DPID || { echo "daemon exited with $?" >&2; exit 1; }
journalctl --sync
journalctl --update-catalog
D=/run/log/journal/$(cat /etc/machine-id)
journalctl --directory="$D" -o json SYSLOG_IDENTIFIER=keyhealthd \
    KEYHEALTH_CHECK=key-disabled >"$T/entries.json"
journalctl --directory="$D" -x --no-pager SYSLOG_IDENTIFIER=keyhealthd \
    KEYHEALTH_CHECK=key-disabled >"$T/explained.txt"
"""


def journal_entries(tmp_path, *matches):
    """Reads the namespace's journal files from outside it."""
    mid = open("/etc/machine-id").read().strip()
    d = tmp_path / "run-log" / mid
    if not d.is_dir():
        return []
    r = subprocess.run(["journalctl", "--directory=%s" % d, "-o", "json",
                        "SYSLOG_IDENTIFIER=keyhealthd"] + list(matches),
                       capture_output=True, text=True, timeout=20)
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for unshare")
def test_journald_gets_the_daemons_alert_with_its_fields(
        tmp_path, kmsemu, spawn, kh_bin):
    key = seed(kmsemu)
    conf = write_config(tmp_path, kmsemu, [(key, "gearset-eu")],
                        "  - type: journald\n")
    script = tmp_path / "journald.sh"
    script.write_text(DAEMON_IN_NAMESPACE)
    env = daemon_env(tmp_path)
    p = spawn("unshare", ["timeout", "90", "unshare", "--mount",
                          "--propagation", "private", "sh", str(script),
                          str(tmp_path), kh_bin, "-c", conf, "run"],
              env=env)

    def logs():
        return "".join("\n--- %s\n%s" % (n, (tmp_path / n).read_text())
                       for n in ("journald.log", "daemon.out")
                       if (tmp_path / n).exists()) + "\n--- sh\n" + p.log()
    wait_until(lambda: (tmp_path / "journald-ready").exists(), 20,
               "journald", logs)
    wait_until(lambda: "started" in (tmp_path / "daemon.out").read_text()
               if (tmp_path / "daemon.out").exists() else False, 20,
               "the daemon", logs)
    kmsemu.client.update_key(key["KeyId"], region="eu-west-1",
                             KeyState="Disabled")
    wait_until(lambda: journal_entries(tmp_path, "KEYHEALTH_STATUS=firing"),
               20, "the firing entry", logs)
    kmsemu.client.update_key(key["KeyId"], region="eu-west-1",
                             KeyState="Enabled")
    wait_until(lambda: journal_entries(tmp_path,
                                       "KEYHEALTH_STATUS=resolved"),
               20, "the resolved entry", logs)
    (tmp_path / "stop").touch()
    assert p.wait(timeout=30) == 0, logs()

    entries = [json.loads(l) for l in
               (tmp_path / "entries.json").read_text().splitlines()]
    assert [e["KEYHEALTH_STATUS"] for e in entries] == ["firing",
                                                        "resolved"], logs()
    fired, resolved = entries
    ids = catalog_ids()
    fp = fingerprint(key["Arn"], "key-disabled")
    assert fired["MESSAGE_ID"] == ids["key-disabled"]
    assert fired["PRIORITY"] == "2"
    assert fired["SYSLOG_IDENTIFIER"] == "keyhealthd"
    assert fired["KEYHEALTH_CHECK"] == "key-disabled"
    assert fired["KEYHEALTH_SEVERITY"] == "critical"
    assert fired["KEYHEALTH_KEY_ARN"] == key["Arn"]
    assert fired["KEYHEALTH_KEY_NAME"] == "gearset-eu"
    assert fired["KEYHEALTH_FINGERPRINT"] == fp
    assert "gearset-eu" in fired["MESSAGE"]
    assert resolved["MESSAGE_ID"] == ids["resolved"]
    assert resolved["PRIORITY"] == "5"
    assert resolved["KEYHEALTH_FINGERPRINT"] == fp
    assert "Re-enable the key" in (tmp_path / "explained.txt").read_text()


# -- alertmanager --------------------------------------------------------------

def test_alertmanager_shows_the_daemons_alert_then_resolves_it(
        tmp_path, kmsemu, alertmanager, spawn, kh_bin):
    key = seed(kmsemu)
    conf = write_config(tmp_path, kmsemu, [(key, "gearset-eu")],
                        "  - type: alertmanager\n    name: am\n"
                        "    url: %s\n    repost_interval: 2s\n"
                        "    state_file: %s\n"
                        % (alertmanager.url, tmp_path / "am-state.json"))
    d = start_daemon(spawn, kh_bin, conf, tmp_path)
    kmsemu.client.update_key(key["KeyId"], region="eu-west-1",
                             KeyState="PendingDeletion",
                             DeletionDate=time.time() + 10 * DAY)
    alerts = alertmanager.wait_for(lambda a: len(a) == 1, timeout=20)
    labels = alerts[0]["labels"]
    assert labels["alertname"] == "KeyhealthdKeyPendingDeletion"
    assert labels["check"] == "key-pending-deletion"
    assert labels["severity"] == "critical"
    assert labels["key_arn"] == key["Arn"]
    assert labels["key_name"] == "gearset-eu"
    assert alerts[0]["status"]["state"] == "active"
    kmsemu.client.update_key(key["KeyId"], region="eu-west-1",
                             KeyState="Enabled")
    alertmanager.wait_for(lambda a: a == [], timeout=20,
                          what="the alert resolved")
    d.wait_for_log("resolved: key-pending-deletion")
    stop_daemon(d)
    assert outbox_files(tmp_path, "am") == []


# -- make demo's script ----------------------------------------------------------

def demo_argv(kh_bin, *flags):
    return ["timeout", "150", "/usr/bin/python3",
            os.path.join(REPO_TOP, "tests", "demo", "demo.py"),
            "--no-colour"] + list(flags)


def demo_env(kh_bin):
    env = dict(os.environ, KEYHEALTHD_BIN=kh_bin)
    env.pop("JOURNAL_STREAM", None)
    return env


def group_gone(pgid):
    """No live process is left in process group pgid (the demo starts each
    child in its own group, led by timeout(1))."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return False
    return True


def test_demo_plays_every_step_and_leaves_nothing_behind(tmp_path, spawn,
                                                        kh_bin):
    summary = tmp_path / "summary.json"
    p = spawn("demo", demo_argv(kh_bin, "--fast", "--summary-json",
                                str(summary)), env=demo_env(kh_bin))
    assert p.wait(timeout=160) == 0, p.log()
    doc = json.loads(summary.read_text())
    # Every step of the story, in order (it grows as checks are added).
    assert len(doc["steps"]) >= 8
    assert [s["step"] for s in doc["steps"]] == list(
        range(1, len(doc["steps"]) + 1))
    assert all(s["ok"] for s in doc["steps"]), doc["steps"]
    got = {(a["status"], a["check"], a["key"]["name"])
           for a in doc["alerts"]}
    for step in doc["steps"]:
        for status, check, key in step["alerts"]:
            assert (status, check, key) in got
    assert all(a["_receiver"]["signature"] == "ok" for a in doc["alerts"])
    assert doc["daemon_status"] == 0
    days = [a["details"]["days_left"] for a in doc["alerts"]
            if a["check"] == "key-pending-deletion" and
            a["status"] == "firing"]
    assert days and days[0] in (6, 7)
    for name, pid in doc["pids"].items():
        assert group_gone(pid), "%s (group %d) is still running" % (name,
                                                                   pid)
    tmpdir = re.search(r"files in (\S+)", p.log()).group(1)
    assert not os.path.exists(tmpdir)
    assert "Summary" in p.log() and "Traceback" not in p.log()


def test_demo_interrupted_with_ctrl_c_stops_every_process(tmp_path, spawn,
                                                          kh_bin):
    summary = tmp_path / "summary.json"
    p = spawn("demo", demo_argv(kh_bin, "--summary-json", str(summary)),
              env=demo_env(kh_bin))
    p.wait_for_log("Step 2/", timeout=60)
    # As the terminal does: SIGINT to the demo (its children run in their
    # own process groups and are stopped by it).
    os.kill(p.pid, signal.SIGINT)
    rc = p.wait(timeout=30)
    # timeout(1) passes the demo's status through.
    assert rc == 130, p.log()
    doc = json.loads(summary.read_text())
    assert set(doc["pids"]) == {"kmsemu", "receiver", "keyhealthd"}
    for name, pid in doc["pids"].items():
        assert group_gone(pid), "%s (group %d) is still running" % (name,
                                                                   pid)
    assert "interrupted (Ctrl-C)" in p.log()
    assert "Traceback" not in p.log()


# -- daemon/run.c: no state dir, reload, stop, keys gone while stopped --------

def test_without_a_usable_state_dir_alerts_are_still_sent(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin):
    # It used to crash on the first alert (no outbox to queue it on).
    key = seed(kmsemu, KeyState="Disabled")
    recv = webhook_receiver()
    conf = write_config(tmp_path, kmsemu, [(key, "gearset-eu")],
                        webhook_block(recv))
    text = open(conf).read().replace(str(tmp_path / "state"),
                                     "/dev/null/state")
    open(conf, "w").write(text)
    d = start_daemon(spawn, kh_bin, conf, tmp_path)
    assert "running without persistent state" in d.log()
    wait_bodies(recv, has("firing", "key-disabled"))
    kmsemu.client.update_key(key["KeyId"], region="eu-west-1",
                             KeyState="Enabled")
    wait_bodies(recv, has("resolved", "key-disabled"))
    stop_daemon(d)


def test_reload_keeps_queued_alerts_and_resolves_removed_keys(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin, free_port):
    eu = seed(kmsemu, KeyState="Disabled")
    us = seed(kmsemu, region="us-west-2")
    recv = webhook_receiver(port=free_port)
    recv.stop()
    conf = write_config(tmp_path, kmsemu, [(eu, "gearset-eu"),
                                           (us, "gearset-us")],
                        webhook_block(recv))
    d = start_daemon(spawn, kh_bin, conf, tmp_path)
    d.wait_for_log("delivery of firing key-disabled")
    # gearset-eu leaves the configuration: its alert resolves.
    write_config(tmp_path, kmsemu, [(us, "gearset-us")], webhook_block(recv))
    daemon_signal(d, signal.SIGHUP)
    d.wait_for_log("reloaded: 1 key,")
    assert "resolved: key-disabled on key gearset-eu" in d.log()
    assert len(outbox_files(tmp_path, "hook")) == 2
    recv.start()
    daemon_signal(d, signal.SIGUSR1)
    got = wait_bodies(recv, lambda bs: len(bs) >= 2)
    assert sent(got) == [("firing", "key-disabled", "gearset-eu"),
                         ("resolved", "key-disabled", "gearset-eu")]
    wait_until(lambda: outbox_files(tmp_path, "hook") == [], 10,
               "an empty outbox", d.log)
    time.sleep(1.5)
    assert len(bodies(recv)) == 2
    stop_daemon(d)


def test_a_key_removed_while_stopped_resolves_its_alerts_at_start(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin):
    eu = seed(kmsemu, KeyState="Disabled")
    us = seed(kmsemu, region="us-west-2")
    recv = webhook_receiver()
    conf = write_config(tmp_path, kmsemu, [(eu, "gearset-eu"),
                                           (us, "gearset-us")],
                        webhook_block(recv))
    d1 = start_daemon(spawn, kh_bin, conf, tmp_path, "keyhealthd1")
    wait_bodies(recv, has("firing", "key-disabled"))
    stop_daemon(d1)
    write_config(tmp_path, kmsemu, [(us, "gearset-us")], webhook_block(recv))
    d2 = start_daemon(spawn, kh_bin, conf, tmp_path, "keyhealthd2")
    got = wait_bodies(recv, has("resolved", "key-disabled"))
    assert sent(got) == [("firing", "key-disabled", "gearset-eu"),
                         ("resolved", "key-disabled", "gearset-eu")]
    state = json.loads((tmp_path / "state" / "alerts.json").read_text())
    assert [a for a in state["alerts"] if a["key_arn"] == eu["Arn"]] == []
    stop_daemon(d2)


class SlowReceiver:
    """Answers every POST after a delay: a delivery in flight for a while."""

    def __init__(self, delay):
        import http.server
        import threading
        self.bodies = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay)
                outer.bodies.append(json.loads(body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_stop_finishes_a_delivery_in_flight(tmp_path, kmsemu, spawn, kh_bin):
    key = seed(kmsemu, KeyState="Disabled")
    slow = SlowReceiver(1.0)
    try:
        conf = write_config(tmp_path, kmsemu, [(key, "gearset-eu")],
                            "  - type: webhook\n    name: hook\n"
                            "    url: %s\n" % slow.url)
        d = start_daemon(spawn, kh_bin, conf, tmp_path)
        d.wait_for_log("critical: key-disabled")
        t0 = time.monotonic()
        stop_daemon(d)                  # while the receiver sleeps
        assert time.monotonic() - t0 < 5
        assert [b["check"] for b in slow.bodies] == ["key-disabled"]
        assert outbox_files(tmp_path, "hook") == []
    finally:
        slow.close()


def test_a_renamed_notifier_leaves_its_queue_and_says_so(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin, free_port):
    key = seed(kmsemu, KeyState="Disabled")
    recv = webhook_receiver(port=free_port)
    recv.stop()
    conf = write_config(tmp_path, kmsemu, [(key, "gearset-eu")],
                        webhook_block(recv, name="hook"))
    d = start_daemon(spawn, kh_bin, conf, tmp_path)
    d.wait_for_log("delivery of firing key-disabled")
    write_config(tmp_path, kmsemu, [(key, "gearset-eu")],
                 webhook_block(recv, name="pager"))
    daemon_signal(d, signal.SIGHUP)
    d.wait_for_log("outbox hook: 1 undelivered alerts for a notifier no "
                   "longer configured")
    # Named so again, the queue is delivered.
    recv.start()
    write_config(tmp_path, kmsemu, [(key, "gearset-eu")],
                 webhook_block(recv, name="hook"))
    daemon_signal(d, signal.SIGHUP)
    got = wait_bodies(recv, has("firing", "key-disabled"))
    assert sent(got) == [("firing", "key-disabled", "gearset-eu")]
    stop_daemon(d)
