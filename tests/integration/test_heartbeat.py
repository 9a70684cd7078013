"""The vendor-usage heartbeat (expect_use_within, key-unused) through the
running daemon and `keyhealthd check`, against the KMS emulator's
GetKeyLastUsage: the emulator records each Encrypt/Decrypt/GenerateDataKey
(emu_usage.py) and its control API sets the last use and the date
tracking began.  Windows are days; the emulator's timestamps and clock
make them old, never a sleep.
"""
import json
import re
import time
import urllib.request

from conftest import pick_free_port
from fixture_daemon import key_entry, seed_gearset_key
# The module emulator, reset around each test, and the polling wait.
from test_daemon_run import emu, wait_until  # noqa: F401

DAY = 86400
REGION = "eu-west-1"


def get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                timeout=5) as r:
        return r.read().decode()


def status_key(port):
    return json.loads(get(port, "/status"))["keys"][0]


def findings(port):
    return {f["check"]: f for f in status_key(port)["findings"]}


def usage_requests(emu, since=0):
    return emu.client.requests(since=since, operation="GetKeyLastUsage")


def watched(emu, kh_config, created_days=30, within="2d", port=None,
            notifiers=None, slow_interval="1s", key_kw=None, **top):
    """A healthy Gearset key created created_days ago and a config that
    polls it every second (every part, unless slow_interval says
    otherwise): (meta, config)."""
    m = seed_gearset_key(emu, CreationDate=time.time() - created_days * DAY)
    kw = dict(key_kw or {})
    if within is not None:
        kw["expect_use_within"] = within
    if port is not None:
        top["http"] = {"listen": "127.0.0.1:%d" % port}
    if slow_interval is not None:
        top["slow_interval"] = slow_interval
    cfg = kh_config(emu, [key_entry(m, "gs", **kw)], notifiers=notifiers,
                    interval="1s", **top)
    return m, cfg


def hooks_of(recv, check):
    return [h["json"] for h in recv.accepted()
            if h["json"]["check"] == check]


def test_stale_use_fires_key_unused_and_a_new_use_resolves_it(
        emu, kh_config, daemon, webhook_receiver):
    recv = webhook_receiver()
    port = pick_free_port()
    m, cfg = watched(emu, kh_config, port=port, notifiers=[
        {"type": "webhook", "name": "oncall", "url": recv.url}])
    used_at = time.time() - 3 * DAY - 600
    emu.client.set_usage(m["Arn"], region=REGION, Operation="Decrypt",
                         Timestamp=used_at)
    daemon(cfg)
    wait_until(lambda: hooks_of(recv, "key-unused"), 15, "key-unused")
    h = hooks_of(recv, "key-unused")[0]
    assert (h["status"], h["severity"]) == ("firing", "warning")
    d = h["details"]
    assert d["verdict"] == "stale"
    assert d["operation"] == "Decrypt"
    assert abs(d["age_seconds"] - (3 * DAY + 600)) < 120
    assert d["expect_use_within_seconds"] == 2 * DAY
    assert re.match(r"^[0-9a-f-]{36}$", d["cloudtrail_event_id"])
    assert "last used 3d" in h["summary"] and "Decrypt" in h["summary"]
    assert "expect_use_within 2d" in h["summary"]
    # The metric: the use as KMS reported it.
    metrics = get(port, "/metrics")
    line = [l for l in metrics.splitlines() if l.startswith(
        "keyhealthd_key_last_used_timestamp_seconds{")]
    assert len(line) == 1 and 'key_name="gs"' in line[0], line
    assert abs(float(line[0].split()[-1]) - round(used_at, 3)) < 0.01
    # The vendor's backup runs again: one Encrypt resolves it.
    emu.kms_client(region=REGION).encrypt(KeyId=m["Arn"], Plaintext=b"x")
    wait_until(lambda: len(hooks_of(recv, "key-unused")) >= 2, 15,
               "key-unused resolved")
    assert hooks_of(recv, "key-unused")[1]["status"] == "resolved"
    assert status_key(port)["usage"]["verdict"] == "recent"
    assert status_key(port)["usage"]["operation"] == "Encrypt"
    assert status_key(port)["status"] == "ok"


def test_never_used_since_creation_is_reported_as_such(emu, kh_config,
                                                       kh_check):
    # Created after tracking began (the emulator's default: tracking
    # starts with the key), five days ago, never used.
    m, cfg = watched(emu, kh_config, created_days=5)
    rc, doc, err = kh_check(cfg)
    k = doc["keys"][0]
    assert [f["check"] for f in k["findings"]] == ["key-unused"], err
    f = k["findings"][0]
    assert f["details"]["verdict"] == "never-used"
    assert f["details"]["last_used_at"] is None
    assert "never used since it was created 5d" in f["summary"]
    assert k["usage"]["verdict"] == "never-used"
    assert rc == 1      # warning


def test_young_key_never_used_yet_is_quiet(emu, kh_config, kh_check):
    m, cfg = watched(emu, kh_config, created_days=1)
    rc, doc, err = kh_check(cfg)
    k = doc["keys"][0]
    assert k["findings"] == [], err
    assert k["usage"]["verdict"] == "unknown"
    assert rc == 0


def test_created_before_tracking_without_a_record_stays_quiet(
        emu, kh_config, daemon):
    # A year-old key; KMS began tracking a day ago and has no record
    # yet: it may have been used before.  Not an alarm.
    port = pick_free_port()
    m, cfg = watched(emu, kh_config, created_days=365, port=port)
    emu.client.set_usage(m["Arn"], region=REGION,
                         TrackingStartDate=time.time() - DAY)
    daemon(cfg)
    n0 = len(usage_requests(emu))
    wait_until(lambda: len(usage_requests(emu)) >= n0 + 3, 15,
               "three GetKeyLastUsage answers")
    k = status_key(port)
    assert k["findings"] == []
    assert k["usage"]["verdict"] == "unknown"
    assert k["usage"]["last_used_at"] is None
    assert k["usage"]["tracking_start_date"] > k["usage"][
        "key_creation_date"]
    # Tracking has run longer than the window and still nothing: no use
    # within the window, whatever happened before tracking.
    emu.client.set_usage(m["Arn"], region=REGION,
                         TrackingStartDate=time.time() - 10 * DAY)
    f = wait_until(lambda: findings(port).get("key-unused"), 15,
                   "key-unused")
    assert f["details"]["verdict"] == "no-use-since-tracking"
    assert "no recorded use since KMS began tracking it 10d" in \
        f["summary"]


def test_getkeylastusage_failure_is_check_failed_for_it_alone(
        emu, kh_config, daemon, webhook_receiver):
    recv = webhook_receiver()
    port = pick_free_port()
    m, cfg = watched(emu, kh_config, port=port, kms={"max_attempts": 1},
                     key_kw={"expect_rotation": True},
                     notifiers=[{"type": "webhook", "name": "oncall",
                                 "url": recv.url}])
    # Two findings to keep: rotation is off, and the key is unused.
    emu.client.set_usage(m["Arn"], region=REGION, Operation="Encrypt",
                         Timestamp=time.time() - 4 * DAY)
    daemon(cfg)
    wait_until(lambda: {"key-unused", "rotation-disabled"} <= set(
        findings(port)), 15, "key-unused and rotation-disabled")
    emu.client.fault("error", "GetKeyLastUsage", status=400,
                     code="AccessDeniedException", duration=3,
                     message="User is not authorized to perform: "
                     "kms:GetKeyLastUsage")
    f = wait_until(lambda: findings(port).get("check-failed"), 15,
                   "check-failed")
    assert f["details"]["operation"] == "GetKeyLastUsage"
    assert f["details"]["code"] == "AccessDeniedException"
    assert [e["operation"] for e in f["details"]["errors"]] == [
        "GetKeyLastUsage"]
    assert "kms:GetKeyLastUsage" in f["summary"]
    # The other findings of the key are untouched; the firing key-unused
    # alert is neither resolved nor re-judged from stale data.
    assert "rotation-disabled" in findings(port)
    assert status_key(port)["state"] == "Enabled"
    # Once KMS answers again (retried at the next poll, not an hour
    # later): check-failed resolves, key-unused never did.
    wait_until(lambda: [h for h in hooks_of(recv, "check-failed")
                        if h["status"] == "resolved"], 20,
               "check-failed resolved")
    assert [h["status"] for h in hooks_of(recv, "key-unused")] == [
        "firing"]
    assert "key-unused" in findings(port)


def test_off_by_default_no_getkeylastusage_request(emu, kh_config, daemon,
                                                   kh_check):
    port = pick_free_port()
    m, cfg = watched(emu, kh_config, within=None, port=port)
    emu.client.set_usage(m["Arn"], region=REGION, Operation="Decrypt",
                         Timestamp=time.time() - 300 * DAY)
    rc, doc, err = kh_check(cfg)
    assert doc["keys"][0]["findings"] == [] and "usage" not in doc["keys"][0]
    daemon(cfg)
    wait_until(lambda: len([r for r in emu.client.requests(
        operation="DescribeKey") if r.get("key_id") == m["Arn"]]) >= 4, 15,
        "four polls")
    assert usage_requests(emu) == []
    assert "keyhealthd_key_last_used_timestamp_seconds{" not in get(
        port, "/metrics")
    assert "usage" not in status_key(port)


def test_fetched_once_per_slow_interval_and_again_after_a_failure(
        emu, kh_config, daemon):
    # Default slow_interval (1h): one GetKeyLastUsage while the key is
    # polled every second...
    m, cfg = watched(emu, kh_config, slow_interval=None,
                     kms={"max_attempts": 1})
    emu.client.fault("error", "GetKeyLastUsage", status=500,
                     code="KMSInternalException", count=1)
    daemon(cfg)
    polls = lambda: len([r for r in emu.client.requests(
        operation="DescribeKey") if r.get("key_id") == m["Arn"]])
    wait_until(lambda: polls() >= 5, 20, "five polls")
    reqs = usage_requests(emu)
    # ... except that the failed first one is asked again at the next
    # poll, and then not for an hour.
    assert [r.get("error") for r in reqs] == ["KMSInternalException", None]
    assert all(r["key_id"] == m["Arn"] for r in reqs)


def test_emulator_clock_a_day_ahead_fires_then_a_use_resolves(
        emu, kh_config, daemon):
    # What `make demo` shows: used an hour ago, window a day; KMS's clock
    # jumps two days, so the use is two days old by KMS's clock (the
    # daemon learns the skew from KMS and judges KMS's timestamps by
    # it).
    port = pick_free_port()
    m, cfg = watched(emu, kh_config, within="1d", port=port)
    emu.client.set_usage(m["Arn"], region=REGION, Operation="Decrypt",
                         Timestamp=time.time() - 3600)
    daemon(cfg)
    wait_until(lambda: status_key(port).get("usage", {}).get("verdict") ==
               "recent", 15, "a recent use")
    assert findings(port) == {}
    emu.client.advance(2 * DAY)
    f = wait_until(lambda: findings(port).get("key-unused"), 20,
                   "key-unused after the jump")
    assert f["details"]["verdict"] == "stale"
    assert 2 * DAY <= f["details"]["age_seconds"] < 2 * DAY + 3600 + 300
    # A use now, by KMS's clock (a boto3 client here signs with the
    # real one, which the emulator now refuses as expired).
    emu.client.set_usage(m["Arn"], region=REGION,
                         Operation="GenerateDataKey")
    wait_until(lambda: "key-unused" not in findings(port), 20,
               "key-unused resolved")
    assert status_key(port)["usage"]["operation"] == "GenerateDataKey"


def test_own_rate_limit_for_getkeylastusage_never_holds_the_polls(
        emu, kh_config, daemon):
    # GetKeyLastUsage's quota is 5/s per account and region: the daemon
    # sends at most one a second there, and polls that find no token skip
    # it until their next poll instead of waiting (DescribeKey goes on).
    # Six keys polled every second, each due for its last use every 5 s:
    # they want 1.2 requests a second.
    metas = [seed_gearset_key(emu, CreationDate=time.time() - 30 * DAY)
             for _ in range(6)]
    cfg = kh_config(emu, [key_entry(m, "k%d" % i, expect_use_within="2d")
                          for i, m in enumerate(metas)],
                    interval="1s", slow_interval="5s")
    daemon(cfg)

    def polls(m):
        return len([r for r in emu.client.requests(operation="DescribeKey")
                    if r.get("key_id") == m["Arn"]])

    def asked():
        return {r["key_id"] for r in usage_requests(emu)}
    # Every key has its turn...
    wait_until(lambda: asked() == {m["Arn"] for m in metas}, 40,
               "a GetKeyLastUsage for every key")
    wait_until(lambda: all(polls(m) >= 10 for m in metas), 40,
               "ten polls of each key")
    # ... at no more than one request a second (one of slack for the
    # timestamps of a loaded machine), fewer than the keys' polls.
    times = sorted(r["real_time"] for r in usage_requests(emu))
    span = times[-1] - times[0]
    assert len(times) <= span + 2, (len(times), span)
    assert len(times) < sum(polls(m) for m in metas) / 2
