"""The notifiers and the outbox end to end, driven by tests/tools/notify_send:
a real systemd-journald in its own mount namespace, a webhook receiver that
goes down and comes back, SIGKILL with undelivered events, exec retries."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import REPO_TOP

ARN = ("arn:aws:kms:eu-west-1:111122223333:key/"
       "1234abcd-12ab-34cd-56ef-1234567890ab")


def event(check="key-disabled", severity="critical", status="firing",
          **kw):
    ev = {"check": check, "severity": severity, "status": status,
          "key": {"arn": ARN, "name": "gearset-eu", "region": "eu-west-1",
                  "account": "111122223333"},
          "summary": "%s on gearset-eu" % check,
          "details": {"why": "test"}}
    ev.update(kw)
    return ev


def write_config(tmp_path, body):
    path = tmp_path / "notify.yaml"
    path.write_text("notifiers:\n" + body)
    return str(path)


def notify_send_argv(tools_dir, config, state_dir, *extra):
    return [os.path.join(tools_dir, "notify_send"), "-c", config,
            "--state-dir", str(state_dir)] + list(extra)


def run_notify_send(tools_dir, config, state_dir, events, *extra,
                    timeout=30):
    stdin = "".join(json.dumps(e) + "\n" for e in events)
    p = subprocess.run(notify_send_argv(tools_dir, config, state_dir,
                                        *extra),
                       input=stdin, capture_output=True, text=True,
                       timeout=timeout, cwd=REPO_TOP)
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    return p, lines


def results(lines, notifier=None):
    return [l for l in lines if "result" in l and
            (notifier is None or l["notifier"] == notifier)]


def summary(lines, notifier):
    for l in lines:
        if l.get("notifier") == notifier and "summary" in l:
            return l["summary"]
    raise AssertionError("no summary for %s in %r" % (notifier, lines))


def outbox_files(state_dir, name):
    d = os.path.join(str(state_dir), "outbox", name)
    return sorted(f for f in os.listdir(d) if f.endswith(".json"))


# -- journald ---------------------------------------------------------------

def catalog_ids():
    """check id (or "resolved") -> MESSAGE_ID, from the shipped catalog."""
    text = open(os.path.join(REPO_TOP, "systemd",
                             "keyhealthd.catalog")).read()
    ids = {}
    for block in text.split("\n-- ")[1:]:
        msgid = block.split("\n", 1)[0].strip()
        m = re.search(r"^Check: (\S+) ", block, re.M)
        ids[m.group(1) if m else "resolved"] = msgid
    return ids


JOURNALD_SCRIPT = r"""
set -e
T="$1"; shift
mkdir -p "$T/run-log" "$T/varlog/journal" "$T/catdb" "$T/catsrc"
# Everything below is private to this mount namespace: the host's
# journald, /run and catalog are untouched.
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/journal /run/log/journal
mount --bind "$T/run-log" /run/log/journal
mount --bind "$T/varlog" /var/log
cp systemd/keyhealthd.catalog "$T/catsrc/"
mount --bind "$T/catsrc" /usr/lib/systemd/catalog
mount --bind "$T/catdb" /var/lib/systemd/catalog
/lib/systemd/systemd-journald >"$T/journald.log" 2>&1 &
JPID=$!
trap 'kill $JPID 2>/dev/null; wait $JPID 2>/dev/null' EXIT
i=0
while [ ! -S /run/systemd/journal/socket ]; do
    i=$((i + 1)); [ $i -lt 200 ] || { echo "no journald socket" >&2; exit 1; }
    sleep 0.05
done
"$@" <"$T/events" >"$T/notify.out" 2>"$T/notify.err"
journalctl --sync
journalctl --update-catalog
D=/run/log/journal/$(cat /etc/machine-id)
journalctl --directory="$D" -o json SYSLOG_IDENTIFIER=keyhealthd \
    >"$T/entries.json"
journalctl --directory="$D" -x --no-pager SYSLOG_IDENTIFIER=keyhealthd \
    >"$T/explained.txt"
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for unshare")
def test_journald_entries_round_trip_with_their_fields(tmp_path, tools_dir):
    config = write_config(tmp_path, "  - type: journald\n")
    (tmp_path / "events").write_text(
        json.dumps(event("key-disabled")) + "\n" +
        json.dumps(event("key-material-expiring", "warning")) + "\n" +
        json.dumps(event("key-disabled", status="resolved")) + "\n")
    script = tmp_path / "journald.sh"
    script.write_text(JOURNALD_SCRIPT)
    p = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh",
         str(script), str(tmp_path)] +
        notify_send_argv(tools_dir, config, tmp_path / "state"),
        capture_output=True, text=True, timeout=60, cwd=REPO_TOP)
    logs = "".join(
        "\n--- %s\n%s" % (n, (tmp_path / n).read_text())
        for n in ("journald.log", "notify.out", "notify.err")
        if (tmp_path / n).exists())
    assert p.returncode == 0, p.stderr + logs

    entries = [json.loads(l) for l in
               (tmp_path / "entries.json").read_text().splitlines()]
    assert len(entries) == 3, logs
    ids = catalog_ids()
    fired, warned, resolved = entries
    assert fired["MESSAGE_ID"] == ids["key-disabled"]
    assert fired["PRIORITY"] == "2"
    assert fired["KEYHEALTH_CHECK"] == "key-disabled"
    assert fired["KEYHEALTH_STATUS"] == "firing"
    assert fired["KEYHEALTH_SEVERITY"] == "critical"
    assert fired["KEYHEALTH_KEY_ARN"] == ARN
    assert fired["KEYHEALTH_KEY_NAME"] == "gearset-eu"
    assert re.fullmatch(r"[0-9a-f]{64}", fired["KEYHEALTH_FINGERPRINT"])
    assert "key-disabled" in fired["MESSAGE"]
    assert warned["MESSAGE_ID"] == ids["key-material-expiring"]
    assert warned["PRIORITY"] == "4"
    assert resolved["MESSAGE_ID"] == ids["resolved"]
    assert resolved["PRIORITY"] == "5"
    assert resolved["KEYHEALTH_STATUS"] == "resolved"
    assert resolved["KEYHEALTH_FINGERPRINT"] == fired["KEYHEALTH_FINGERPRINT"]
    # journalctl -x finds the catalog text through the MESSAGE_ID.
    explained = (tmp_path / "explained.txt").read_text()
    assert "Re-enable the key" in explained, explained


def test_catalog_has_an_entry_per_check_id():
    ids = catalog_ids()
    # The table the catalog is printed from (see also test_catalog.c).
    src = open(os.path.join(REPO_TOP, "lib", "catalog.c")).read()
    for check, msgid in ids.items():
        assert msgid in src, check
    for check in ("key-disabled", "key-pending-deletion",
                  "key-pending-replica-deletion", "key-deleted",
                  "key-unavailable", "key-material-expiring",
                  "key-replaced", "vendor-access-missing",
                  "key-misconfigured", "policy-changed",
                  "rotation-disabled", "key-material-rotated",
                  "check-failed", "resolved"):
        assert check in ids
    assert len(set(ids.values())) == len(ids)


# -- webhook ----------------------------------------------------------------

PAYLOAD_KEYS = {"version", "status", "check", "severity", "key", "summary",
                "details", "fingerprint", "started_at", "ended_at",
                "sent_at", "host", "source"}
RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def test_webhook_posts_signed_payload_v1(tmp_path, tools_dir,
                                         webhook_receiver):
    recv = webhook_receiver(secret=b"s3cret-value")
    secret = tmp_path / "secret"
    secret.write_text("s3cret-value\n")
    os.chmod(secret, 0o600)
    config = write_config(tmp_path, (
        "  - type: webhook\n    name: oncall\n    url: %s\n"
        "    secret_file: %s\n    timeout: 5s\n"
        "    headers: {X-Team: kms}\n") % (recv.url, secret))
    p, lines = run_notify_send(tools_dir, config, tmp_path / "state",
                               [event(), event(status="resolved")])
    assert p.returncode == 0, p.stderr
    assert "s3cret" not in p.stderr
    got = recv.wait_for(2)
    sent = results(lines, "oncall")
    assert [r["result"] for r in sent] == ["ack", "ack"]
    for req, res in zip(got, sent):
        assert req["sig_ok"] is True
        h = req["headers"]
        assert h["content-type"] == "application/json"
        assert h["idempotency-key"] == res["event"]
        assert h["user-agent"].startswith("keyhealthd/")
        assert h["x-team"] == "kms"
        doc = req["json"]
        assert set(doc) == PAYLOAD_KEYS
        assert doc["version"] == 1
        assert doc["check"] == "key-disabled"
        assert doc["severity"] == "critical"
        assert doc["key"] == {"arn": ARN, "name": "gearset-eu",
                              "region": "eu-west-1",
                              "account": "111122223333"}
        assert re.fullmatch(r"[0-9a-f]{64}", doc["fingerprint"])
        assert re.fullmatch(RFC3339, doc["started_at"])
        assert re.fullmatch(RFC3339, doc["sent_at"])
        assert doc["source"].startswith("keyhealthd/")
        assert doc["details"] == {"why": "test"}
    assert got[0]["json"]["status"] == "firing"
    assert got[0]["json"]["ended_at"] is None
    assert got[1]["json"]["status"] == "resolved"
    assert re.fullmatch(RFC3339, got[1]["json"]["ended_at"])
    assert got[0]["json"]["fingerprint"] == got[1]["json"]["fingerprint"]


def test_webhook_receiver_down_for_a_while_loses_nothing(
        tmp_path, tools_dir, free_port, spawn):
    from fixture_webhook import Receiver
    config = write_config(tmp_path, "  - type: webhook\n    url: "
                          "http://127.0.0.1:%d/hook\n" % free_port)
    checks = ["key-disabled", "key-deleted", "key-replaced",
              "vendor-access-missing", "policy-changed"]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(event(c)) + "\n" for c in checks))
    proc = spawn("notify_send", notify_send_argv(
        tools_dir, config, tmp_path / "state", "--events", str(events),
        "--backoff-min", "100", "--backoff-max", "400", "--timeout", "30"))
    proc.wait_for_log("retry", timeout=10)
    time.sleep(1.5)     # down for a while: several retries
    recv = Receiver(free_port).start()
    try:
        assert proc.wait(timeout=30) == 0, proc.log()
        got = recv.accepted()
        assert [r["json"]["check"] for r in got] == checks
        assert len({r["headers"]["idempotency-key"] for r in got}) == 5
    finally:
        recv.stop()
    assert outbox_files(tmp_path / "state", "webhook") == []


def test_sigkill_with_undelivered_events_delivers_them_after_restart(
        tmp_path, tools_dir, webhook_receiver, spawn):
    recv = webhook_receiver()
    recv.default_status = 503
    config = write_config(tmp_path, "  - type: webhook\n    url: %s\n"
                          % recv.url)
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(event(c)) + "\n" for c in
                              ("key-disabled", "key-deleted",
                               "key-replaced")))
    proc = spawn("notify_send", notify_send_argv(
        tools_dir, config, tmp_path / "state", "--events", str(events),
        "--backoff-min", "100", "--timeout", "30"))
    proc.wait_for_log("retry", timeout=10)
    proc.signal(signal.SIGKILL)
    proc.wait(timeout=5)
    assert len(outbox_files(tmp_path / "state", "webhook")) == 3
    first_ids = {r["headers"]["idempotency-key"] for r in recv.requests}

    recv.default_status = 200
    p, lines = run_notify_send(tools_dir, config, tmp_path / "state", [])
    assert p.returncode == 0, p.stderr
    assert "3 undelivered event(s)" in p.stderr
    got = recv.accepted()
    assert [r["json"]["check"] for r in got] == [
        "key-disabled", "key-deleted", "key-replaced"]
    # The same events (same idempotency keys), not new ones.
    assert first_ids <= {r["headers"]["idempotency-key"] for r in got}
    assert outbox_files(tmp_path / "state", "webhook") == []


def test_webhook_permanent_400_is_dropped_loudly(tmp_path, tools_dir,
                                                 webhook_receiver):
    recv = webhook_receiver()
    recv.statuses = [400]
    config = write_config(tmp_path, "  - type: webhook\n    url: %s\n"
                          % recv.url)
    p, lines = run_notify_send(tools_dir, config, tmp_path / "state",
                               [event("key-disabled"),
                                event("key-deleted")])
    assert p.returncode == 0, p.stderr
    assert [r["result"] for r in results(lines)] == ["permanent", "ack"]
    assert "HTTP 400" in results(lines)[0]["why"]
    assert "PERMANENT FAILURE, event DROPPED" in p.stderr
    s = summary(lines, "webhook")
    assert s["failed"] == 1 and s["delivered"] == 1 and s["depth"] == 0
    assert outbox_files(tmp_path / "state", "webhook") == []


def test_webhook_tls_with_ca_file(tmp_path, tools_dir, webhook_receiver):
    from fixture_webhook import make_self_signed
    cert, key = make_self_signed(tmp_path)
    recv = webhook_receiver(tls=(cert, key))
    config = write_config(tmp_path, (
        "  - type: webhook\n    name: trusted\n    url: %s\n"
        "    ca_file: %s\n"
        "  - type: webhook\n    name: untrusted\n    url: %s\n")
        % (recv.url, cert, recv.url))
    p, lines = run_notify_send(tools_dir, config, tmp_path / "state",
                               [event()], "--timeout", "3")
    assert [r["result"] for r in results(lines, "trusted")] == ["ack"]
    # Without the CA the certificate is refused, and that is retried.
    rs = results(lines, "untrusted")
    assert rs and all(r["result"] == "retry" for r in rs)
    assert len(recv.accepted()) == 1
    assert p.returncode == 1


def test_webhook_429_and_503_are_retried(tmp_path, tools_dir,
                                         webhook_receiver):
    recv = webhook_receiver()
    recv.statuses = [429, 503, 408]
    config = write_config(tmp_path, "  - type: webhook\n    url: %s\n"
                          % recv.url)
    p, lines = run_notify_send(tools_dir, config, tmp_path / "state",
                               [event()], "--backoff-min", "50")
    assert p.returncode == 0, p.stderr
    assert [r["result"] for r in results(lines)] == [
        "retry", "retry", "retry", "ack"]


# -- exec -------------------------------------------------------------------

EXEC_SCRIPT = r"""
d="$1"
n=$(cat "$d/count" 2>/dev/null || echo 0)
n=$((n + 1))
echo $n >"$d/count"
cat >"$d/stdin.$n"
env | grep '^KEYHEALTH_' | sort >"$d/env.$n"
[ $n -ge 3 ]
"""


def test_exec_failing_command_is_retried_until_it_succeeds(tmp_path,
                                                           tools_dir):
    (tmp_path / "hook.sh").write_text(EXEC_SCRIPT)
    config = write_config(tmp_path, (
        "  - type: exec\n    command: [sh, %s, %s]\n    timeout: 5s\n")
        % (tmp_path / "hook.sh", tmp_path))
    p, lines = run_notify_send(tools_dir, config, tmp_path / "state",
                               [event("key-pending-deletion",
                                      details={"days_left": 6})],
                               "--backoff-min", "50")
    assert p.returncode == 0, p.stderr
    rs = results(lines, "exec")
    assert [r["result"] for r in rs] == ["retry", "retry", "ack"]
    assert "exited with status 1" in rs[0]["why"]
    doc = json.loads((tmp_path / "stdin.3").read_text())
    assert doc["version"] == 1
    assert doc["check"] == "key-pending-deletion"
    assert doc["details"] == {"days_left": 6}
    env = dict(l.split("=", 1) for l in
               (tmp_path / "env.3").read_text().splitlines())
    assert env["KEYHEALTH_CHECK"] == "key-pending-deletion"
    assert env["KEYHEALTH_STATUS"] == "firing"
    assert env["KEYHEALTH_SEVERITY"] == "critical"
    assert env["KEYHEALTH_KEY_ARN"] == ARN
    assert env["KEYHEALTH_KEY_NAME"] == "gearset-eu"
    assert env["KEYHEALTH_FINGERPRINT"] == doc["fingerprint"]
    assert env["KEYHEALTH_SUMMARY"] == "key-pending-deletion on gearset-eu"


def live_members(pgid):
    """Processes of the group that are not zombies (this container's
    init may be slow to reap them)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open("/proc/%s/stat" % pid).read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(pid))
    return out


def wait_group_gone(pgid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not live_members(pgid):
            return True
        time.sleep(0.05)
    return False


def test_exec_timeout_kills_the_process_group(tmp_path, tools_dir):
    pidfile = tmp_path / "pgid"
    config = write_config(tmp_path, (
        "  - type: exec\n    command: [sh, -c, 'echo $$ >> %s; sleep 60 & "
        "sleep 60']\n    timeout: 300ms\n") % pidfile)
    start = time.monotonic()
    p, lines = run_notify_send(tools_dir, config, tmp_path / "state",
                               [event()], "--timeout", "1")
    assert time.monotonic() - start < 10
    rs = results(lines, "exec")
    assert rs and rs[0]["result"] == "retry"
    assert "timeout" in rs[0]["why"]
    assert p.returncode == 1        # still queued: the timeout hit first
    for pgid in map(int, pidfile.read_text().split()):
        assert wait_group_gone(pgid), "process group %d survived" % pgid
    assert len(outbox_files(tmp_path / "state", "exec")) == 1


# -- external module --------------------------------------------------------

def test_sample_module_is_loaded_and_delivers(tmp_path, tools_dir):
    modules = os.path.join(os.path.dirname(tools_dir), "modules")
    out = tmp_path / "sample.out"
    config = write_config(tmp_path, (
        "  - type: module\n    name: mine\n    path: %s/sample_notify.so\n"
        "    file: %s\n    min_severity: critical\n") % (modules, out))
    p, lines = run_notify_send(tools_dir, config, tmp_path / "state",
                               [event(), event("policy-changed", "warning")])
    assert p.returncode == 0, p.stderr
    assert sorted(r["result"] for r in results(lines, "mine")) == [
        "ack", "filtered"]
    text = out.read_text().splitlines()
    assert len(text) == 1
    assert text[0].startswith("firing key-disabled critical " + ARN)


def test_module_with_wrong_abi_is_a_config_error(tmp_path, tools_dir):
    modules = os.path.join(os.path.dirname(tools_dir), "modules")
    config = write_config(tmp_path, (
        "  - type: module\n    path: %s/sample_notify_badabi.so\n") % modules)
    p, lines = run_notify_send(tools_dir, config, tmp_path / "state", [])
    assert p.returncode == 2
    assert re.search(r"notify\.yaml:3:11: module .* has notifier ABI 999",
                     p.stderr), p.stderr
