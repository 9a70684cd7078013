"""Fault injection through the emulator and the receivers: every fault
ends in a defined, asserted outcome (a check-failed finding that names
the cause, a recovery, a loud log line) and the daemon keeps running.
"""
import json
import os
import time

import pytest

from fixture_keyhealthd import (binary_is_sanitized, gearset_policy,
                                seed_keys, settled_figures,
                                MAX_KEPT_CONNECTIONS)

FAST_KMS = {"timeout": "2s", "connect_timeout": "1s", "max_attempts": 2}


def findings(k, name):
    return {f["check"]: f for f in k.key(name)["findings"]}


def all_ok(k):
    keys = k.status()["keys"]
    return keys and all(x["status"] == "ok" for x in keys)


def check_failed(k, name):
    """The check-failed finding of key name, or None."""
    return findings(k, name).get("check-failed")


def start(kmsemu, keyhealthd, n=1, kms=None, **kw):
    keys = seed_keys(kmsemu, n)
    extra = dict(kw.pop("extra", {}))
    extra.setdefault("interval", "1s")
    extra["kms"] = dict(FAST_KMS, **(kms or {}))
    k = keyhealthd(kmsemu, keys, extra=extra, **kw)
    k.wait_until(lambda: all_ok(k), timeout=30, what="all keys ok")
    return k


def expect_check_failed(k, name, classes, codes=None, timeout=40):
    cf = k.wait_until(lambda: check_failed(k, name), timeout=timeout,
                      what="check-failed on %s" % name)
    errs = cf["details"]["errors"]
    assert any(e["class"] in classes for e in errs), cf
    if codes:
        assert any(e["code"] in codes for e in errs), cf
    assert cf["severity"] == "unknown"
    return cf


def recovers(kmsemu, k):
    kmsemu.client.clear_faults()
    try:
        k.wait_until(lambda: all_ok(k), timeout=40, what="recovery")
    except AssertionError as e:
        raise AssertionError("%s\nfaults: %r\nlast requests: %r" % (
            e, kmsemu.client.faults(),
            [(x["name"], x["status"], x.get("polled_at"),
              [f.get("summary") for f in x["findings"]])
             for x in k.status()["keys"] if x["status"] != "ok"]))
    assert k.alive()


# -- KMS answers -----------------------------------------------------------

BAD_ANSWERS = {
    # name: (fault kwargs, error classes that may name it)
    "5xx-burst": (dict(action="error", status=500,
                       code="KMSInternalException"), {"server"}),
    "latency-past-timeout": (dict(action="latency", latency=5),
                             {"transport"}),
    "connection-reset": (dict(action="reset"), {"transport"}),
    "connection-closed": (dict(action="close"), {"transport"}),
    "malformed-json": (dict(action="malformed"), {"malformed"}),
    "truncated-body": (dict(action="truncated"),
                       {"transport", "malformed"}),
    "wrongly-typed": (dict(action="raw", status=200,
                           content_type="application/x-amz-json-1.1",
                           body='{"KeyMetadata": {"KeyId": 42, '
                                '"KeyState": ["Enabled"]}}'),
                      {"malformed"}),
    "html-502": (dict(action="html502"), {"server"}),
    "oversized-50MB": (dict(action="oversized", size=50 * 1024 * 1024),
                       {"transport", "malformed"}),
}


@pytest.mark.parametrize("fault", sorted(BAD_ANSWERS))
def test_bad_kms_answer_is_check_failed_then_recovers(
        kmsemu, keyhealthd, fault):
    kw, classes = BAD_ANSWERS[fault]
    k = start(kmsemu, keyhealthd)
    kmsemu.client.fault(operation="DescribeKey", duration=60, **kw)
    cf = expect_check_failed(k, "k0", classes)
    assert "DescribeKey" in cf["summary"]
    assert k.metric("keyhealthd_poll_failures_total") >= 1
    recovers(kmsemu, k)
    log = k.log()
    assert "AddressSanitizer" not in log and "runtime error" not in log


def test_throttling_storm_backs_off_within_the_rate_limit(
        kmsemu, keyhealthd):
    # A poll is check-failed once one of its requests had its 4 attempts
    # throttled; the attempts of every key's requests share the 5/s, so
    # the storm must outlast 4 rounds of them: 6 keys of 3-4 requests
    # (DescribeKey, GetKeyPolicy, and after a failure the slow parts and
    # ListGrants again) take about 4.5 s a round, 24 s is 5 rounds.
    rate = 5.0
    nkeys = 6
    k = start(kmsemu, keyhealthd, n=nkeys, kms={"rate_limit": rate,
                                                "max_attempts": 4})
    kmsemu.client.clear_requests()
    storm = 24
    t0 = time.time()
    kmsemu.client.fault(action="error", status=400,
                        code="ThrottlingException", duration=storm)
    cf = k.wait_until(lambda: [check_failed(k, "k%d" % i)
                               for i in range(nkeys)
                               if check_failed(k, "k%d" % i)],
                      timeout=storm + 20, what="a check-failed")[0]
    assert any(e["code"] == "ThrottlingException" and
               e["class"] == "throttled" for e in cf["details"]["errors"]), cf
    assert cf["details"]["attempts"] == 4     # retried, then gave up
    time.sleep(max(0, t0 + storm - time.time()))
    reqs = kmsemu.client.requests(service="kms")
    times = sorted(r["real_time"] for r in reqs
                   if t0 <= r["real_time"] <= t0 + storm)
    assert len(times) > 10
    # Token bucket: burst (2 x rate) plus rate per second, in any window.
    burst = 2 * rate
    for i, t in enumerate(times):
        for w in (1.0, 3.0, 6.0):
            n = sum(1 for u in times[i:] if u < t + w)
            assert n <= burst + rate * w + 1, (w, n, t - t0)
    assert len(times) <= burst + rate * storm + 1
    # Whole run, storm included: never above the configured rate on average
    # once the burst is spent.
    recovers(kmsemu, k)
    assert k.metric("keyhealthd_kms_errors_total",
                    {"code": "ThrottlingException"}) >= 1


# -- Credentials -----------------------------------------------------------

def test_expiring_container_credentials_are_refreshed(
        kmsemu, keyhealthd):
    kmsemu.client.config(cred_lifetime=12)
    uri = kmsemu.url + "/_creds/container/task1"
    k = start(kmsemu, keyhealthd, n=2,
              env={"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                   "AWS_CONTAINER_CREDENTIALS_FULL_URI": uri})
    t_up = time.time()  # the first credentials expire before t_up + 12
    kmsemu.client.clear_requests()
    # A refresh, and KMS requests past the first credentials' lifetime
    # (a fixed wait of one lifetime may end before the refresh on a busy
    # host).
    k.wait_until(lambda: len(kmsemu.client.requests(
        service="container")) >= 2 and any(
        r["real_time"] > t_up + 13
        for r in kmsemu.client.requests(service="kms")), timeout=30,
        what="a credentials refresh and polls past the first lifetime")
    fetched = kmsemu.client.requests(service="container")
    assert len(fetched) >= 2, fetched
    kms = kmsemu.client.requests(service="kms")
    assert kms and not [r for r in kms if r.get("error") ==
                        "ExpiredTokenException"]
    assert all_ok(k)


def test_expired_session_credentials_are_check_failed(
        kmsemu, keyhealthd, tmp_path):
    sess = kmsemu.client.issue_credentials(lifetime=8)
    k = start(kmsemu, keyhealthd,
              env={"AWS_ACCESS_KEY_ID": sess["AccessKeyId"],
                   "AWS_SECRET_ACCESS_KEY": sess["SecretAccessKey"],
                   "AWS_SESSION_TOKEN": sess["SessionToken"]})
    cf = expect_check_failed(k, "k0", {"auth"}, {"ExpiredTokenException"},
                             timeout=30)
    assert sess["SecretAccessKey"] not in json.dumps(cf)
    assert k.alive()


def test_ten_minute_clock_skew_is_corrected(kmsemu, keyhealthd):
    kmsemu.client.skew_check("emulator")
    kmsemu.client.advance(600)
    k = start(kmsemu, keyhealthd, n=2)
    # Requests signed before the skew was learnt may still be on the wire
    # (a loaded machine): let them end (FAST_KMS timeout 2 s) first.
    time.sleep(3)
    kmsemu.client.clear_requests()
    time.sleep(3)
    reqs = kmsemu.client.requests(service="kms")
    bad = [(r.get("operation"), r["status"], r.get("error"), r.get("key_id"))
           for r in reqs if r["status"] != 200]
    assert reqs and not bad, bad
    assert "skew" in k.log().lower() or "clock" in k.log().lower()


# -- State directory -------------------------------------------------------

def test_state_dir_that_is_a_file_is_loud_and_alerts_still_go_out(
        kmsemu, keyhealthd, tmp_path, webhook_receiver):
    state = tmp_path / "notadir"
    state.write_text("x")
    recv = webhook_receiver()
    m = kmsemu.client.seed_key(region="eu-west-1", Policy=gearset_policy(),
                               KeyState="Disabled")
    k = keyhealthd(kmsemu, [{"arn": m["Arn"], "name": "d",
                             "vendor": "gearset"}], state_dir=str(state),
                   extra={"interval": "1s", "notifiers": [
                       {"type": "webhook", "url": recv.url}]}, wait=False)
    k.proc.wait_for_log("started", timeout=30)
    got = recv.wait_for(1, timeout=30)
    assert got[0]["json"]["check"] == "key-disabled"
    log = k.log()
    assert "notadir" in log and ("Not a directory" in log or
                                 "ENOTDIR" in log), log
    assert k.alive()
    assert k.stop() == 0


SMALL_TMPFS = r"""
set -e
mount -t tmpfs -o size=12k,mode=0700 tmpfs "$1"
shift
exec "$@"
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for unshare")
def test_full_state_dir_is_loud_and_alerts_still_go_out(
        kmsemu, keyhealthd, tmp_path, webhook_receiver):
    state = tmp_path / "small"
    state.mkdir()
    script = tmp_path / "small.sh"
    script.write_text(SMALL_TMPFS)
    recv = webhook_receiver()
    keys = []
    for i in range(6):
        m = kmsemu.client.seed_key(region="eu-west-1",
                                   Policy=gearset_policy(),
                                   KeyState="Disabled")
        keys.append({"arn": m["Arn"], "name": "d%d" % i,
                     "vendor": "gearset"})
    k = keyhealthd(kmsemu, keys, state_dir=str(state),
                   wrapper=["unshare", "--mount", "--propagation", "private",
                            "sh", str(script), str(state)],
                   extra={"interval": "1s", "notifiers": [
                       {"type": "webhook", "url": recv.url}]})
    k.wait_until(lambda: "No space left on device" in k.log(), timeout=30,
                 what="a loud ENOSPC line")
    got = recv.wait_for(6, timeout=30)
    assert {r["json"]["key"]["name"] for r in got} == \
        {"d%d" % i for i in range(6)}
    time.sleep(3)
    assert k.alive()
    assert k.metric("keyhealthd_state_write_failures_total") >= 1
    assert k.stop() == 0


# -- Signals ---------------------------------------------------------------

def test_hundred_sighups_in_a_row(kmsemu, keyhealthd, kh_bin):
    k = start(kmsemu, keyhealthd, n=5)
    before = settled_figures(k.pid)
    for _ in range(100):
        k.reload()
        time.sleep(0.01)
    k.wait_until(lambda: k.metric("keyhealthd_reloads_total") >= 1,
                 timeout=30, what="reloads counted")
    time.sleep(3)
    assert k.alive()
    st = k.status()
    assert sorted(x["name"] for x in st["keys"]) == \
        ["k%d" % i for i in range(5)]
    k.wait_until(lambda: all_ok(k), timeout=20, what="keys ok")
    after = settled_figures(k.pid)
    # Files and listeners never more; kept-alive connections bounded.
    assert after["fds"] <= before["fds"], (before, after)
    assert after["conns"] <= MAX_KEPT_CONNECTIONS, (before, after)
    # ASan keeps freed memory in quarantine: its RSS says nothing about
    # leaks, LeakSanitizer at exit does (a leak is a non-zero exit).
    if not binary_is_sanitized(kh_bin):
        assert after["VmRSS"] < before["VmRSS"] * 1.3 + 4096, (before, after)
    assert k.stop() == 0


def test_sigterm_with_deliveries_in_flight_then_delivered_after_restart(
        kmsemu, keyhealthd, webhook_receiver, tmp_path):
    recv = webhook_receiver()
    recv.stop()                 # down: deliveries fail and stay queued
    keys = []
    for i in range(3):
        m = kmsemu.client.seed_key(region="eu-west-1",
                                   Policy=gearset_policy(),
                                   KeyState="Disabled")
        keys.append({"arn": m["Arn"], "name": "d%d" % i,
                     "vendor": "gearset"})
    # A receiver that accepts the connection and never answers.
    import socket
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(16)
    hang_url = "http://127.0.0.1:%d/hook" % hang.getsockname()[1]
    extra = {"interval": "1s", "notifiers": [
        {"type": "webhook", "name": "hook", "url": hang_url,
         "timeout": "30s"}]}
    k = keyhealthd(kmsemu, keys, extra=extra)
    outbox = os.path.join(k.state_dir, "outbox", "hook")
    k.wait_until(lambda: len(os.listdir(outbox)) >= 3, timeout=30,
                 what="3 queued events")
    t0 = time.monotonic()
    assert k.stop(timeout=20) == 0
    assert time.monotonic() - t0 < 10
    hang.close()
    queued = [f for f in os.listdir(outbox) if f.endswith(".json")]
    assert len(queued) >= 3
    recv.start()
    extra["notifiers"][0]["url"] = recv.url
    k2 = keyhealthd(kmsemu, keys, extra=extra, name="restarted")
    got = recv.wait_for(3, timeout=30)
    assert {r["json"]["key"]["name"] for r in got} == {"d0", "d1", "d2"}
    k2.wait_until(lambda: not [f for f in os.listdir(outbox)
                               if f.endswith(".json")], timeout=30,
                  what="empty outbox")
    assert k2.stop() == 0


def test_failed_alias_lookup_is_retried_at_the_next_poll(
        kmsemu, keyhealthd):
    # The alias target is a "slow" part (fetched every slow_interval);
    # a failure must not stand until then.
    keys = seed_keys(kmsemu, 1)
    kmsemu.client.fault(action="error", status=500,
                        code="KMSInternalException", key_id="alias/k0",
                        count=2)
    k = keyhealthd(kmsemu, keys, extra={"interval": "1s",
                                        "kms": FAST_KMS})
    cf = expect_check_failed(k, "k0", {"server"}, {"KMSInternalException"})
    assert "alias" in cf["summary"]
    k.wait_until(lambda: all_ok(k), timeout=15, what="alias retried")
