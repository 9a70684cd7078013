"""The pagerduty, alertmanager and slack notifiers against their receivers.

Alertmanager is the real prometheus-alertmanager on loopback: the alert the
notifier posts is read back from its API with the contract's labels, kept
alive by the notifier's re-posts, and gone once resolved.  PagerDuty and
Slack are played by a local receiver that checks every body against the
documented shapes (Events API v2; incoming webhooks with Block Kit) and
answers as the real services do, including 5xx, 429 and 400.
"""
import datetime
import json
import os
import signal
import subprocess
import time

from conftest import run
from fixture_notifiers import ARN, make_event

ROUTING_KEY = "R0ut1ngK3yThatMustNeverBeLogged0"
SLACK_TOKEN = "XyZ5ecretW3bh00kT0ken"


def parse_time(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


# ---------------------------------------------------------------- shapes

PD_TOP = {"routing_key", "event_action", "dedup_key", "payload", "images",
          "links", "client", "client_url"}
PD_PAYLOAD = {"summary", "source", "severity", "timestamp", "component",
              "group", "class", "custom_details"}


def check_pagerduty_event(body):
    """Events API v2, as PagerDuty documents 'Send an Alert Event'."""
    assert isinstance(body, dict)
    assert set(body) <= PD_TOP, set(body) - PD_TOP
    assert isinstance(body["routing_key"], str) and body["routing_key"]
    assert body["event_action"] in ("trigger", "acknowledge", "resolve")
    assert isinstance(body["dedup_key"], str)
    assert 0 < len(body["dedup_key"]) <= 255
    if body["event_action"] != "trigger":
        return
    p = body["payload"]
    assert isinstance(p, dict)
    assert set(p) <= PD_PAYLOAD, set(p) - PD_PAYLOAD
    for field in ("summary", "source", "severity"):
        assert isinstance(p[field], str) and p[field], field
    assert len(p["summary"]) <= 1024
    assert p["severity"] in ("critical", "error", "warning", "info")
    for field in ("component", "group", "class"):
        if field in p:
            assert isinstance(p[field], str)
    if "timestamp" in p:
        parse_time(p["timestamp"])
    if "custom_details" in p:
        assert isinstance(p["custom_details"], dict)


def check_text_object(t, limit, types=("plain_text", "mrkdwn")):
    assert t["type"] in types
    assert isinstance(t["text"], str) and 0 < len(t["text"]) <= limit


def check_slack_message(body):
    """An incoming-webhook message: fallback text plus Block Kit blocks
    within Slack's documented limits."""
    assert isinstance(body["text"], str) and body["text"]
    blocks = body["blocks"]
    assert isinstance(blocks, list) and 0 < len(blocks) <= 50
    for b in blocks:
        assert b["type"] in ("header", "section", "context", "divider")
        if b["type"] == "header":
            check_text_object(b["text"], 150, types=("plain_text",))
        elif b["type"] == "section":
            assert "text" in b or "fields" in b
            if "text" in b:
                check_text_object(b["text"], 3000)
            for f in b.get("fields", []):
                check_text_object(f, 2000)
            assert len(b.get("fields", [])) <= 10
        elif b["type"] == "context":
            assert 0 < len(b["elements"]) <= 10
            for e in b["elements"]:
                check_text_object(e, 3000)


def pd_config(url, key_path, extra=""):
    return ("type: pagerduty\nname: pd\nmin_severity: warning\n"
            "routing_key_file: %s\nurl: %s/v2/enqueue\ntimeout: 5s\n%s"
            % (key_path, url, extra))


# ---------------------------------------------------------- alertmanager

def test_alertmanager_lists_the_posted_alert_with_the_contract_labels(
        alertmanager, drive, amtool):
    d = drive("type: alertmanager\nname: am\nurl: %s\n" % alertmanager.url)
    d.send(make_event("e1", check="key-pending-deletion",
                      details={"days_left": 7}))
    d.wait_result("e1", "ack")
    alerts = alertmanager.wait_for(lambda a: len(a) == 1)
    labels = alerts[0]["labels"]
    assert labels == {
        "alertname": "KeyhealthdKeyPendingDeletion",
        "check": "key-pending-deletion",
        "severity": "critical",
        "key_arn": ARN,
        "key_name": "gearset-eu",
        "region": "eu-west-1",
        "account": "111122223333",
    }
    ann = alerts[0]["annotations"]
    assert ann["summary"] == "KMS key gearset-eu: key-pending-deletion"
    assert "days_left" in ann["description"]
    assert alerts[0]["status"]["state"] == "active"
    # endsAt is bounded (now + 3 x repost_interval), never open-ended.
    ends = parse_time(alerts[0]["endsAt"])
    now = datetime.datetime.now(datetime.timezone.utc)
    assert now < ends <= now + datetime.timedelta(minutes=3, seconds=5)
    if amtool:
        r = run([amtool, "--alertmanager.url=" + alertmanager.url, "alert",
                 "query", "-o", "json",
                 "alertname=KeyhealthdKeyPendingDeletion"])
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)[0]["labels"]["key_arn"] == ARN
    assert d.finish() == 0


def test_alertmanager_resolve_makes_the_alert_inactive(alertmanager, drive):
    d = drive("type: alertmanager\nurl: %s\n" % alertmanager.url)
    d.send(make_event("fire"))
    d.wait_result("fire", "ack")
    alertmanager.wait_for(lambda a: len(a) == 1)
    d.send(make_event("resolve", status="resolved"))
    d.wait_result("resolve", "ack")
    alertmanager.wait_for(lambda a: a == [], what="no active alert")
    assert d.finish() == 0


def test_alertmanager_reposts_keep_a_firing_alert_alive(alertmanager, drive):
    # endsAt = now + 3s: without re-posts the alert would be gone in 3s.
    d = drive("type: alertmanager\nurl: %s\nrepost_interval: 1s\n"
              % alertmanager.url, "-l", "60")
    d.send(make_event("fire"))
    d.wait_result("fire", "ack")
    first = alertmanager.wait_for(lambda a: len(a) == 1)[0]
    time.sleep(6)
    later = alertmanager.alerts()
    assert len(later) == 1, later
    assert parse_time(later[0]["endsAt"]) > parse_time(first["endsAt"])
    assert parse_time(later[0]["updatedAt"]) > parse_time(first["updatedAt"])
    # The control: once nobody re-posts, Alertmanager lets it expire.
    d.proc.stop()
    alertmanager.wait_for(lambda a: a == [], timeout=10,
                          what="expiry without re-posts")


def test_alertmanager_firing_alerts_survive_a_restart(alertmanager, drive,
                                                     tmp_path):
    """SIGKILLed with a firing alert, restarted: the saved table is re-posted
    at once and kept alive, so Alertmanager does not let it expire while the
    daemon waits for renotify."""
    state = tmp_path / "am-state.json"
    conf = ("type: alertmanager\nname: am\nurl: %s\nrepost_interval: 1s\n"
            "state_file: %s\n" % (alertmanager.url, state))
    d1 = drive(conf, "-l", "60")
    d1.send(make_event("fire"))
    d1.wait_result("fire", "ack")
    alertmanager.wait_for(lambda a: len(a) == 1)
    saved = json.loads(state.read_text())
    assert [x["alert"]["labels"]["check"] for x in saved["alerts"]] == \
        ["key-disabled"]
    os.killpg(d1.proc.pid, signal.SIGKILL)    # the driver, not just timeout
    d1.proc.wait()
    killed_at = datetime.datetime.now(datetime.timezone.utc)
    d2 = drive(conf, "-l", "60")
    # Still active after a post more than 3 x repost_interval (the endsAt
    # the killed process set) past the kill: expired unless re-posted.
    # Waited for, not slept: the new process may be slow to start.
    later = killed_at + datetime.timedelta(seconds=4)
    alerts = alertmanager.wait_for(
        lambda a: len(a) == 1 and parse_time(a[0]["updatedAt"]) > later,
        timeout=20, what="a re-post after the killed one's endsAt")
    assert len(alerts) == 1, alerts
    assert parse_time(alerts[0]["updatedAt"]) > killed_at
    d2.send(make_event("resolve", status="resolved"))
    d2.wait_result("resolve", "ack")
    alertmanager.wait_for(lambda a: a == [])
    assert json.loads(state.read_text())["alerts"] == []


def test_alertmanager_stops_reposting_a_resolved_alert(alertmanager, drive):
    d = drive("type: alertmanager\nurl: %s\nrepost_interval: 1s\n"
              % alertmanager.url, "-l", "60")
    d.send(make_event("fire"))
    d.wait_result("fire", "ack")
    alertmanager.wait_for(lambda a: len(a) == 1)
    d.send(make_event("resolve", status="resolved"))
    d.wait_result("resolve", "ack")
    alertmanager.wait_for(lambda a: a == [])
    time.sleep(3)
    assert alertmanager.alerts() == []


def test_alertmanager_severity_change_ends_the_old_alert(alertmanager,
                                                         drive):
    d = drive("type: alertmanager\nurl: %s\n" % alertmanager.url)
    d.send(make_event("warn", check="key-material-expiring",
                      severity="warning"))
    d.wait_result("warn", "ack")
    alertmanager.wait_for(lambda a: len(a) == 1)
    d.send(make_event("crit", check="key-material-expiring",
                      severity="critical"))
    d.wait_result("crit", "ack")
    alerts = alertmanager.wait_for(
        lambda a: [x["labels"]["severity"] for x in a] == ["critical"],
        what="only the critical alert")
    assert alerts[0]["labels"]["alertname"] == \
        "KeyhealthdKeyMaterialExpiring"
    assert d.finish() == 0


def test_alertmanager_extra_labels_and_generator_url(alertmanager, drive):
    d = drive("type: alertmanager\nurl: %s/api/v2/alerts\n"
              "labels: {team: storage, env: prod}\n"
              "generator_url: https://status.example.com/keyhealthd\n"
              % alertmanager.url)
    d.send(make_event("e1", check="check-failed", severity="unknown"))
    d.wait_result("e1", "ack")
    a = alertmanager.wait_for(lambda a: len(a) == 1)[0]
    assert a["labels"]["team"] == "storage"
    assert a["labels"]["env"] == "prod"
    assert a["labels"]["alertname"] == "KeyhealthdCheckFailed"
    assert a["labels"]["severity"] == "unknown"
    assert a["generatorURL"] == "https://status.example.com/keyhealthd"
    assert d.finish() == 0


def test_alertmanager_down_is_a_retry(drive, free_port):
    d = drive("type: alertmanager\nurl: http://127.0.0.1:%d\n" % free_port)
    d.send(make_event("e1"))
    res = d.wait_result("e1", "retry")
    assert res[0][1]
    assert d.finish() == 0


# ------------------------------------------------------------- pagerduty

def test_pagerduty_trigger_and_resolve_follow_events_v2(receiver, drive,
                                                        secret_file):
    receiver.default = (202, json.dumps({
        "status": "success", "message": "Event processed",
        "dedup_key": "x"}), "application/json")
    key = secret_file("pd-key", ROUTING_KEY + "\n")
    d = drive(pd_config(receiver.url, key))
    d.send(make_event("t1", check="key-pending-deletion",
                      details={"deletion_date": "2026-12-05", "days_left": 7}))
    d.wait_result("t1", "ack")
    d.send(make_event("w1", check="rotation-disabled", severity="warning"))
    d.send(make_event("u1", check="check-failed", severity="unknown"))
    d.send(make_event("i1", check="key-material-rotated", severity="info"))
    d.send(make_event("r1", status="resolved", check="key-pending-deletion"))
    for ev in ("w1", "u1", "i1", "r1"):
        d.wait_result(ev, "ack")
    assert d.finish() == 0
    assert all(r["path"] == "/v2/enqueue" for r in receiver.requests)
    assert all(r["headers"]["content-type"] == "application/json"
               for r in receiver.requests)
    bodies = receiver.json_bodies()
    for b in bodies:
        check_pagerduty_event(b)
        assert b["routing_key"] == ROUTING_KEY
    trig = bodies[0]
    assert trig["event_action"] == "trigger"
    assert trig["dedup_key"] == make_event("x", check="key-pending-deletion")[
        "fingerprint"]
    p = trig["payload"]
    assert p["source"] == "testhost.example"
    assert p["severity"] == "critical"
    assert p["component"] == "gearset-eu"
    assert p["group"] == "eu-west-1/111122223333"
    assert p["class"] == "key-pending-deletion"
    assert p["custom_details"]["key_arn"] == ARN
    assert p["custom_details"]["days_left"] == 7
    sev = {b["payload"]["class"]: b["payload"]["severity"]
           for b in bodies if b["event_action"] == "trigger"}
    assert sev == {"key-pending-deletion": "critical",
                   "rotation-disabled": "warning", "check-failed": "error",
                   "key-material-rotated": "info"}
    # w1..r1 go to the notifier together, so their order may vary.
    resolves = [b for b in bodies if b["event_action"] == "resolve"]
    assert len(resolves) == 1
    res = resolves[0]
    assert res["dedup_key"] == trig["dedup_key"]
    assert ROUTING_KEY not in d.proc.log()


def test_pagerduty_retries_5xx_and_429_until_accepted(receiver, drive,
                                                      secret_file):
    receiver.script = [(503, "unavailable", "text/plain"),
                       (429, '{"status":"throttle event"}',
                        "application/json"),
                       (500, "oops", "text/plain")]
    receiver.default = (202, '{"status":"success"}', "application/json")
    key = secret_file("pd-key", ROUTING_KEY)
    d = drive(pd_config(receiver.url, key), "-r", "5", "-d", "100")
    d.send(make_event("t1"))
    res = d.wait_result("t1", "ack")
    assert [o for o, _ in res] == ["retry", "retry", "retry", "ack"]
    assert res[0][1].startswith("HTTP 503")
    assert res[1][1].startswith("HTTP 429")
    assert d.finish() == 0
    assert len(receiver.requests) == 4


def test_pagerduty_400_is_permanent(receiver, drive, secret_file):
    receiver.default = (400, json.dumps({
        "status": "invalid event", "message": "Event object is invalid",
        "errors": ["'payload.summary' is missing"]}), "application/json")
    key = secret_file("pd-key", ROUTING_KEY)
    d = drive(pd_config(receiver.url, key), "-r", "5", "-d", "100")
    d.send(make_event("t1"))
    res = d.wait_result("t1", "permanent")
    assert len(res) == 1
    assert "Event object is invalid" in res[0][1]
    assert d.finish() == 0
    assert len(receiver.requests) == 1


def test_pagerduty_summary_is_cut_to_1024_characters(receiver, drive,
                                                     secret_file):
    receiver.default = (202, '{"status":"success"}', "application/json")
    key = secret_file("pd-key", ROUTING_KEY)
    d = drive(pd_config(receiver.url, key))
    d.send(make_event("t1", summary="policy diff: " + "é" * 3000))
    d.wait_result("t1", "ack")
    assert d.finish() == 0
    body = receiver.json_bodies()[0]
    check_pagerduty_event(body)
    assert body["payload"]["summary"].endswith("...")


def test_pagerduty_refuses_a_routing_key_file_others_can_read(
        drive, secret_file, tools_dir, tmp_path):
    key = secret_file("pd-key", ROUTING_KEY, mode=0o644)
    conf = tmp_path / "pd.yaml"
    conf.write_text(pd_config("http://127.0.0.1:9", key))
    r = run([os.path.join(tools_dir, "notify_drive"), str(conf)],
            stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert r.stdout.startswith("config error: %s:4:19: routing_key_file: "
                               % conf)
    assert "other users may read it" in r.stdout
    assert ROUTING_KEY not in r.stdout + r.stderr


def test_pagerduty_reads_the_key_from_credentials_directory(receiver, drive,
                                                           tmp_path):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "pagerduty").write_text(ROUTING_KEY)
    os.chmod(creds / "pagerduty", 0o400)
    receiver.default = (202, '{"status":"success"}', "application/json")
    env = dict(os.environ, CREDENTIALS_DIRECTORY=str(creds))
    d = drive(pd_config(receiver.url, "pagerduty"), env=env)
    d.send(make_event("t1"))
    d.wait_result("t1", "ack")
    assert d.finish() == 0
    assert receiver.json_bodies()[0]["routing_key"] == ROUTING_KEY


def test_unknown_option_is_a_positioned_error_with_a_suggestion(tools_dir,
                                                                 tmp_path):
    conf = tmp_path / "am.yaml"
    conf.write_text("type: alertmanager\nurl: http://127.0.0.1:9\n"
                    "repost_intervall: 1m\n")
    r = run([os.path.join(tools_dir, "notify_drive"), str(conf)],
            stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert r.stdout.strip() == (
        "config error: %s:3:1: unknown option \"repost_intervall\" for an "
        "alertmanager notifier (did you mean \"repost_interval\"?)" % conf)


# ----------------------------------------------------------------- slack

def test_slack_message_follows_block_kit(receiver, drive, secret_file):
    url = secret_file("slack-url", "%s/services/T000/B000/%s\n"
                      % (receiver.url, SLACK_TOKEN))
    d = drive("type: slack\nname: chat\nurl_file: %s\n" % url, "-v")
    d.send(make_event("f1", check="vendor-access-missing",
                      summary="vendor lost kms:Decrypt <!channel> & co",
                      details={"missing": ["kms:Decrypt"]}))
    d.send(make_event("r1", status="resolved",
                      check="vendor-access-missing"))
    d.wait_result("f1", "ack")
    d.wait_result("r1", "ack")
    assert d.finish() == 0
    assert receiver.requests[0]["path"] == "/services/T000/B000/" + \
        SLACK_TOKEN
    # The driver hands both events to the notifier at once (no outbox
    # here), so they may arrive in either order.
    bodies = receiver.json_bodies()
    assert len(bodies) == 2
    res = next(b for b in bodies if "RESOLVED" in b["text"])
    fire = next(b for b in bodies if b is not res)
    check_slack_message(fire)
    check_slack_message(res)
    text = json.dumps(fire)
    assert ARN in text and "gearset-eu" in text and "critical" in text
    assert "firing" in text and "missing=" in text
    # The summary cannot ping the channel: mrkdwn control characters are
    # escaped.
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; &amp; co" in text
    assert "RESOLVED" in res["text"]
    assert SLACK_TOKEN not in d.proc.log()


def test_slack_4xx_is_permanent_5xx_is_retried(receiver, drive):
    receiver.script = [(500, "rollup_error", "text/plain"),
                       (404, "no_service", "text/plain")]
    d = drive("type: slack\nurl: %s/services/T0/B0/%s\n"
              % (receiver.url, SLACK_TOKEN), "-r", "3", "-d", "100")
    d.send(make_event("f1"))
    res = d.wait_result("f1", "permanent")
    assert [o for o, _ in res] == ["retry", "permanent"]
    assert res[1][1] == "HTTP 404: no_service"
    assert d.finish() == 0
    assert SLACK_TOKEN not in d.proc.log()


# ------------------------------------------- through the registry and outbox

def test_registry_and_outbox_deliver_to_all_three(alertmanager, receiver,
                                                  secret_file, tools_dir,
                                                  tmp_path):
    """The three types through notify.c's table, its common options and the
    durable outbox (notify_send), a 503 first retried by the outbox."""
    receiver.script = [(503, "unavailable", "text/plain")]
    receiver.default = (202, '{"status":"success"}', "application/json")
    key = secret_file("pd-key", ROUTING_KEY)
    conf = tmp_path / "keyhealthd.yaml"
    conf.write_text(
        "notifiers:\n"
        "  - type: pagerduty\n    name: pd\n    min_severity: warning\n"
        "    routing_key_file: %s\n    url: %s/v2/enqueue\n"
        "  - type: slack\n    name: chat\n"
        "    exclude_checks: [key-material-rotated]\n"
        "    url: %s/services/T0/B0/%s\n"
        "  - type: alertmanager\n    name: am\n    checks: [key-disabled]\n"
        "    url: %s\n"
        % (key, receiver.url, receiver.url, SLACK_TOKEN, alertmanager.url))
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in [
        make_event("crit"),
        make_event("info", check="key-material-rotated", severity="info"),
    ]) + "\n")
    r = run([os.path.join(tools_dir, "notify_send"), "-c", str(conf),
             "--state-dir", str(tmp_path / "state"), "--events", str(events),
             "--timeout", "30", "--backoff-min", "100"], timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    results = {(x["notifier"], x["event"]): x["result"]
               for x in lines if "result" in x}
    assert results[("pd", "info")] == "filtered"
    assert results[("chat", "info")] == "filtered"
    assert results[("am", "info")] == "filtered"
    assert results[("pd", "crit")] == "ack"
    assert results[("chat", "crit")] == "ack"
    assert results[("am", "crit")] == "ack"
    assert ROUTING_KEY not in r.stdout + r.stderr
    assert SLACK_TOKEN not in r.stdout + r.stderr
    pd = [b for b in receiver.json_bodies() if "routing_key" in b]
    slack = [b for b in receiver.json_bodies() if "blocks" in b]
    for b in pd:
        check_pagerduty_event(b)
    for b in slack:
        check_slack_message(b)
    # One of the two got the 503 first and was delivered on the retry.
    assert len(pd) + len(slack) == 3
    alerts = alertmanager.wait_for(lambda a: len(a) == 1)
    assert alerts[0]["labels"]["check"] == "key-disabled"
