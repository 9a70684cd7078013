"""The running daemon (`keyhealthd run`) against the KMS emulator: the
systemd notify protocol read from a real NOTIFY_SOCKET, the poll
schedule, reload with a good and a bad file, stopping with polls in
flight, the state directory, and `baseline accept` next to a running
daemon.  Intervals are 2 s so the whole module stays short.
"""
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import time
import urllib.request

import pytest

from fixture_daemon import (gearset_policy, key_entry, seed_gearset_key,
                            statement, USE_SID)
from conftest import pick_free_port

INTERVAL = 2.0         # where the interval itself is under test
FAST = 1.0             # elsewhere


@pytest.fixture
def emu(kmsemu_session):
    kmsemu_session.client.reset()
    yield kmsemu_session
    kmsemu_session.client.reset()


def state_file(state_dir, arn):
    return os.path.join(str(state_dir), "keys",
                        hashlib.sha256(arn.encode()).hexdigest()[:32]
                        + ".json")


def describes(emu, arn, since=0):
    """Real times of the DescribeKey requests for this key (not alias)."""
    return [r["real_time"] for r in emu.client.requests(
        since=since, operation="DescribeKey") if r.get("key_id") == arn]


def wait_until(pred, timeout, what, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(step)


def get_status(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/status" % port,
                                timeout=5) as r:
        return json.loads(r.read())


def one_key(emu, kh_config, name="gs", notifiers=None, **top):
    m = seed_gearset_key(emu, alias="alias/" + name, KeyRotationEnabled=True)
    top.setdefault("interval", "2s")
    cfg = kh_config(emu, [key_entry(m, name, alias="alias/" + name,
                                    expect_rotation=True)],
                    notifiers=notifiers, **top)
    return m, cfg


def status_value(d, pred=None, timeout=10.0):
    return d.wait_notify("STATUS", pred, timeout=timeout)


# -- start-up and schedule -----------------------------------------------------

def test_ready_status_and_first_poll_at_start_then_every_interval(
        emu, kh_config, daemon):
    m, cfg = one_key(emu, kh_config)
    t0 = time.time()
    d = daemon(cfg)
    t_ready = time.time()
    first = d.notifications()
    # READY=1 comes with a first STATUS in the same datagram.
    assert ("READY", "1") in first
    assert any(k == "STATUS" and v.startswith("1 key:") for k, v in first)
    st = status_value(d, lambda v: "ok" in v)
    assert st == "1 key: 1 ok, 0 warning, 0 critical, 0 unknown"
    times = wait_until(lambda: (lambda t: t if len(t) >= 3 else None)(
        describes(emu, m["Arn"])), 4 * INTERVAL + 2, "three polls")
    # The first poll at start-up, not after an interval.
    assert times[0] - t0 < 2.0 and times[0] <= t_ready + 1.0
    # Then every interval, +-10% jitter (and some slack for a busy host).
    gaps = [b - a for a, b in zip(times, times[1:])]
    for g in gaps[:2]:
        assert 0.85 * INTERVAL <= g <= 1.1 * INTERVAL + 0.6, times
    # Rotation status and the alias: once an hour (slow_interval), here
    # only at the first poll.
    reqs = [r for r in emu.client.requests()
            if m["KeyId"] in (r.get("key_id") or "") or
            "alias/gs" in (r.get("key_id") or "")]
    assert len([r for r in reqs
                if r["operation"] == "GetKeyRotationStatus"]) == 1
    assert len([r for r in reqs if r["operation"] == "DescribeKey" and
                "alias/" in (r.get("key_id") or "")]) == 1
    # The third poll's GetKeyPolicy follows its DescribeKey.
    wait_until(lambda: len([
        r for r in emu.client.requests(operation="GetKeyPolicy")
        if m["KeyId"] in (r.get("key_id") or "") or
        "alias/gs" in (r.get("key_id") or "")]) >= 3, 2 * INTERVAL,
        "the third poll's GetKeyPolicy")
    assert d.running()
    assert "started" in d.log()


def test_key_disabled_while_running_shows_within_one_interval(
        emu, kh_config, daemon, webhook_receiver):
    recv = webhook_receiver()
    port = pick_free_port()
    m, cfg = one_key(emu, kh_config,
                     notifiers=[{"type": "webhook", "name": "oncall",
                                 "url": recv.url}],
                     http={"listen": "127.0.0.1:%d" % port})
    d = daemon(cfg)
    status_value(d, lambda v: "1 ok" in v)
    assert get_status(port)["keys"][0]["state"] == "Enabled"
    emu.client.update_key(m["KeyId"], region="eu-west-1",
                          KeyState="Disabled")
    t = time.monotonic()
    status_value(d, lambda v: "1 critical" in v, timeout=INTERVAL * 1.2 + 2)
    assert time.monotonic() - t <= INTERVAL * 1.15 + 1.0
    k = get_status(port)["keys"][0]
    assert k["state"] == "Disabled"
    assert [f["check"] for f in k["findings"]] == ["key-disabled"]
    assert k["alerts_firing"] == ["key-disabled"]
    hooks = recv.wait_for(1, timeout=5)
    h = hooks[0]["json"]
    assert (h["status"], h["check"], h["severity"]) == (
        "firing", "key-disabled", "critical")
    assert h["key"]["arn"] == m["Arn"] and h["key"]["name"] == "gs"
    # Enabled again: resolved once.
    emu.client.update_key(m["KeyId"], region="eu-west-1", KeyState="Enabled")
    hooks = recv.wait_for(2, timeout=INTERVAL * 1.2 + 3)
    assert hooks[1]["json"]["status"] == "resolved"
    assert hooks[1]["json"]["fingerprint"] == h["fingerprint"]


def test_key_material_rotated_is_info_on_the_next_poll(emu, kh_config,
                                                       daemon):
    m, cfg = one_key(emu, kh_config, interval="1s")
    d = daemon(cfg)
    status_value(d, lambda v: "1 ok" in v)
    n = len(describes(emu, m["Arn"]))
    emu.kms_client(region="eu-west-1").rotate_key_on_demand(
        KeyId=m["KeyId"])
    d.wait_log("key-material-rotated on key gs", timeout=FAST * 1.2 + 2)
    assert len(describes(emu, m["Arn"])) >= n + 1
    log = d.log()
    line = [l for l in log.splitlines() if "key-material-rotated" in l][0]
    assert "info" in line
    # Once per rotation: resolved at the poll after.
    d.wait_log("resolved: key-material-rotated on key gs",
               timeout=FAST * 1.2 + 2)
    assert d.log().count("key-material-rotated on key gs:") == 1


# -- reload ----------------------------------------------------------------------

def test_sighup_with_good_file_adds_a_key(emu, kh_config, daemon):
    m, cfg = one_key(emu, kh_config, interval="30s")
    d = daemon(cfg)
    status_value(d, lambda v: "1 ok" in v)
    m2 = seed_gearset_key(emu, KeyState="Disabled")
    cfg.doc["keys"].append(key_entry(m2, "second"))
    cfg.write()
    mark = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_notify("RELOADING", "1", after=mark)
    d.wait_notify("READY", "1")
    # The new key is polled right away (interval 30s: not by chance).
    wait_until(lambda: describes(emu, m2["Arn"]), 5, "a poll of the new key")
    st = status_value(d, lambda v: v.startswith("2 keys") and
                      "1 critical" in v)
    assert st == "2 keys: 1 ok, 0 warning, 1 critical, 0 unknown"
    assert "reloaded: 2 keys" in d.log()


def test_sighup_with_bad_file_keeps_old_config(emu, kh_config, daemon):
    m, cfg = one_key(emu, kh_config)
    d = daemon(cfg)
    status_value(d, lambda v: "1 ok" in v)
    good = open(cfg.path).read()
    bad = good.replace("interval: 2s", "interval: 2 fortnights") + \
        "frobnicate: true\n"
    cfg.write(bad)
    mark = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_notify("RELOADING", "1", after=mark)
    d.wait_notify("READY", "1")
    log = d.wait_log("keeping the running configuration")
    errs = re.findall(r"%s:(\d+):(\d+): (.*)" % re.escape(cfg.path), log)
    assert len(errs) == 2, log
    lines = bad.splitlines()
    for ln, col, msg in errs:
        node = lines[int(ln) - 1][int(col) - 1:]
        assert node.startswith("2 fortnights") or \
            node.startswith("frobnicate"), (ln, col, msg)
    assert any("frobnicate" in e[2] for e in errs)
    # Still polling with the old config, every 2 s.
    n = len(describes(emu, m["Arn"]))
    wait_until(lambda: len(describes(emu, m["Arn"])) >= n + 1,
               INTERVAL * 1.2 + 1, "a poll after the failed reload")
    assert d.running()


# -- stopping ----------------------------------------------------------------------

def test_sigterm_with_polls_in_flight_stops_within_seconds(emu, kh_config,
                                                           daemon):
    m, cfg = one_key(emu, kh_config, interval="1s")
    d = daemon(cfg)
    status_value(d, lambda v: "1 ok" in v)
    # Every KMS request now hangs for 20 s: the next poll (due within
    # 1.1 intervals of the last) stays in flight.
    emu.client.fault("latency", "*", latency=20, duration=60)
    time.sleep(FAST * 1.1 + 0.5)
    mark = d.mark()
    t = time.monotonic()
    d.signal(signal.SIGTERM)
    d.wait_notify("STOPPING", "1", after=mark, timeout=2)
    rc = d.wait(timeout=8)
    took = time.monotonic() - t
    assert rc == 0, d.log()
    assert took < 5, took
    assert "stopped" in d.log()
    # The cancelled poll said nothing about the key.
    assert "check-failed" not in d.log()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_when_idle_exits_0_and_saves_state(emu, kh_config,
                                                       daemon, sig):
    m, cfg = one_key(emu, kh_config)
    d = daemon(cfg)
    status_value(d, lambda v: "1 ok" in v)
    mark = d.mark()
    d.signal(sig)
    d.wait_notify("STOPPING", "1", after=mark, timeout=2)
    assert d.wait(timeout=5) == 0
    assert os.path.exists(state_file(cfg.state_dir, m["Arn"]))


# -- state ---------------------------------------------------------------------------

def test_state_files_0600_in_a_0700_dir(emu, kh_config, daemon,
                                       webhook_receiver):
    recv = webhook_receiver()
    recv.default_status = 503       # keeps an alert in the outbox
    m, cfg = one_key(emu, kh_config, notifiers=[
        {"type": "webhook", "name": "oncall", "url": recv.url}])
    emu.client.update_key(m["KeyId"], region="eu-west-1",
                          KeyState="Disabled")
    d = daemon(cfg)
    status_value(d, lambda v: "1 critical" in v)
    wait_until(lambda: recv.requests, 5, "a delivery attempt")
    path = wait_until(lambda: os.path.exists(state_file(
        cfg.state_dir, m["Arn"])), 5, "the key's state file")
    assert path
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=5) == 0
    files = []
    for top, dirs, names in os.walk(cfg.state_dir):
        mode = stat.S_IMODE(os.stat(top).st_mode)
        assert mode == 0o700, (top, oct(mode))
        for n in names:
            files.append(os.path.join(top, n))
    assert len(files) >= 3, files      # key state, alerts, outbox entry
    for f in files:
        mode = stat.S_IMODE(os.stat(f).st_mode)
        assert mode == 0o600, (f, oct(mode))
    doc = json.load(open(state_file(cfg.state_dir, m["Arn"])))
    assert json.dumps(doc).count(m["Arn"]) >= 1


def test_corrupt_state_file_is_moved_aside(emu, kh_config, daemon):
    m, cfg = one_key(emu, kh_config)
    d = daemon(cfg)
    status_value(d, lambda v: "1 ok" in v)
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=5) == 0
    path = state_file(cfg.state_dir, m["Arn"])
    with open(path, "w") as f:
        f.write('{"version": 1, "arn": "trunc')
    d = daemon(cfg, name="keyhealthd-2")
    log = d.wait_log("corrupt")
    line = [l for l in log.splitlines() if "corrupt" in l][0]
    assert path in line and "moved aside" in line, line
    aside = [n for n in os.listdir(os.path.dirname(path))
             if n.startswith(os.path.basename(path) + ".corrupt-")]
    assert len(aside) == 1
    status_value(d, lambda v: "1 ok" in v)
    assert d.running()
    # A fresh state file is written.
    wait_until(lambda: os.path.exists(path), 5, "a new state file")


# -- baseline accept next to the daemon -------------------------------------------

def test_baseline_accept_while_running_resolves_policy_changed(
        emu, kh_config, daemon, kh_baseline):
    m, cfg = one_key(emu, kh_config, interval="1s")
    d = daemon(cfg)
    status_value(d, lambda v: "1 ok" in v)     # first poll: the baseline
    p = gearset_policy()
    statement(p, USE_SID)["Action"].append("kms:GetPublicKey")
    emu.client.set_policy(m["KeyId"], json.dumps(p), region="eu-west-1")
    status_value(d, lambda v: "1 warning" in v, timeout=FAST * 1.2 + 2)
    d.wait_log("warning: policy-changed on key gs")
    # At once: the daemon's save of the warning may still be queued on
    # its writer, and must not put the old baseline back after this.
    r = kh_baseline(cfg, "gs")
    assert r.returncode == 0, r.stderr
    d.wait_log("resolved: policy-changed on key gs",
               timeout=FAST * 1.2 + 2)
    status_value(d, lambda v: "1 ok" in v)
    assert "baseline changed on disk" in d.log()
    # And it stays resolved (the daemon did not write its old baseline
    # back over the accepted one).
    n = len(describes(emu, m["Arn"]))
    wait_until(lambda: len(describes(emu, m["Arn"])) >= n + 1,
               FAST * 1.2 + 1, "one more poll")
    time.sleep(0.3)
    assert d.log().count("warning: policy-changed on key gs") == 1


def test_a_save_queued_before_baseline_accept_never_replaces_it(
        emu, kh_config, daemon, kh_baseline):
    """The daemon's save of a poll, queued before `baseline accept`
    replaced the key's file, must not write the old baseline back over
    it.  The test holds the state directory's lock (as the command does
    while it writes) so that the daemon's save waits, replaces the file
    with one the real command accepted, and lets go."""
    m, cfg = one_key(emu, kh_config, interval="1s")
    d = daemon(cfg)
    status_value(d, lambda v: "1 ok" in v)     # first poll: the baseline
    path = state_file(cfg.state_dir, m["Arn"])
    old = accepted_on_disk(path)
    lock = os.open(cfg.state_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        p = gearset_policy()
        statement(p, USE_SID)["Action"].append("kms:GetPublicKey")
        emu.client.set_policy(m["KeyId"], json.dumps(p), region="eu-west-1")
        # The command on a copy of the state directory: the lock held
        # here would hold it too.
        copy = cfg.state_dir + "-copy"
        shutil.copytree(cfg.state_dir, copy)
        r = kh_baseline(kh_config(emu, cfg.doc["keys"], state_dir=copy),
                        "gs")
        assert r.returncode == 0, r.stderr
        accepted = json.load(open(state_file(copy, m["Arn"])))["baseline"]
        assert accepted["policy"] != old["policy"]
        # The daemon saw the change; its save waits for the lock.
        d.wait_log("warning: policy-changed on key gs")
        os.rename(state_file(copy, m["Arn"]), path)
    finally:
        os.close(lock)
    d.wait_log("its state file was replaced since the poll")
    d.wait_log("resolved: policy-changed on key gs",
               timeout=FAST * 1.2 + 2)
    # Saved again with the accepted baseline and the poll's result.
    wait_until(lambda: json.load(open(path))["last"]["status"] == "ok",
               FAST * 1.2 + 3, "the resolved result saved")
    assert json.load(open(path))["baseline"]["policy"] == \
        accepted["policy"]
    assert d.log().count("warning: policy-changed on key gs") == 1


def accepted_on_disk(path):
    """The baseline of the key's state file once it holds the accepted
    policy's texts.  The writer is asynchronous: after the first poll's
    status the file may still be an earlier document (the grants'
    baseline is saved as soon as ListGrants answers)."""
    def get():
        try:
            with open(path) as f:
                b = json.load(f)["baseline"]
        except (OSError, ValueError):
            return None
        return b if b.get("policy") and b.get("policy_canonical") else None
    return wait_until(get, 5, "the accepted policy in the state file")


def test_drift_after_the_baseline_is_on_disk_shows_its_diff_and_keeps_it(
        emu, kh_config, daemon):
    # The daemon keeps only a digest of the accepted policy once the
    # key's state file holds its text: a drift read back from there
    # still shows the line-by-line diff, and the state file rewritten on
    # the status change still carries the accepted text.
    port = pick_free_port()
    m, cfg = one_key(emu, kh_config, interval="1s",
                     http={"listen": "127.0.0.1:%d" % port})
    d = daemon(cfg)
    status_value(d, lambda v: "1 ok" in v)     # first poll: the baseline
    path = state_file(cfg.state_dir, m["Arn"])
    accepted = accepted_on_disk(path)
    p = gearset_policy()
    statement(p, USE_SID)["Action"].append("kms:GetPublicKey")
    emu.client.set_policy(m["KeyId"], json.dumps(p), region="eu-west-1")
    status_value(d, lambda v: "1 warning" in v, timeout=FAST * 1.2 + 5)
    d.wait_log("warning: policy-changed on key gs")
    f = [x for x in get_status(port)["keys"][0]["findings"]
         if x["check"] == "policy-changed"]
    assert f and any("kms:GetPublicKey" in line
                     for line in f[0]["details"]["diff"]), f

    def rewritten():
        with open(path) as fh:
            doc = json.load(fh)
        return doc if doc["last"]["status"] == "warning" else None
    doc = wait_until(rewritten, 5, "the state file with the warning")
    assert doc["baseline"]["policy"] == accepted["policy"]
    assert doc["baseline"]["policy_canonical"] == \
        accepted["policy_canonical"]
    # Back to the accepted policy: resolved, no check-failed on the way.
    emu.client.set_policy(m["KeyId"], accepted["policy"],
                          region="eu-west-1")
    d.wait_log("resolved: policy-changed on key gs", timeout=FAST * 1.2 + 5)
    assert "check-failed" not in d.log()


def test_state_file_removed_under_the_daemon_is_never_a_new_baseline(
        emu, kh_config, daemon):
    # The accepted policy's text lives in the state file: removed while
    # the daemon runs, a changed policy is check-failed (review it, then
    # baseline accept), not silently accepted as the new baseline.
    m, cfg = one_key(emu, kh_config, interval="1s")
    d = daemon(cfg)
    status_value(d, lambda v: "1 ok" in v)
    path = state_file(cfg.state_dir, m["Arn"])
    accepted_on_disk(path)
    time.sleep(0.5)
    os.unlink(path)
    p = gearset_policy()
    statement(p, USE_SID)["Action"].append("kms:GetPublicKey")
    emu.client.set_policy(m["KeyId"], json.dumps(p), region="eu-west-1")
    d.wait_log("no longer holds the accepted policy", timeout=FAST * 1.2 + 5)
    status_value(d, lambda v: "1 unknown" in v, timeout=FAST * 1.2 + 5)
    assert "baseline accept" in d.log()


def test_watchdog_keepalive_when_asked(emu, kh_config, daemon, kh_env):
    m, cfg = one_key(emu, kh_config)
    env = dict(kh_env, WATCHDOG_USEC="600000")
    d = daemon(cfg, env=env)
    t = time.monotonic()
    d.wait_notify("WATCHDOG", "1", timeout=2)
    d.wait_notify("WATCHDOG", "1", timeout=2)
    d.wait_notify("WATCHDOG", "1", timeout=2)
    # About twice per WATCHDOG_USEC (0.9 s for three; slack for load).
    assert time.monotonic() - t < 2.0


def test_an_unread_notify_socket_never_stops_the_loop(emu, kh_config,
                                                     daemon, kh_env):
    # Nobody reads NOTIFY_SOCKET after READY=1 while keep-alives go out
    # every 10 ms: its queue fills within seconds.  sd_notify(3) would
    # then block the loop in its send; the daemon drops the datagram
    # instead and keeps polling.
    m, cfg = one_key(emu, kh_config, interval="1s")
    env = dict(kh_env, WATCHDOG_USEC="20000")
    d = daemon(cfg, env=env)
    time.sleep(10)                  # the socket's queue is full by now
    n = len(describes(emu, m["Arn"]))
    wait_until(lambda: len(describes(emu, m["Arn"])) >= n + 2, 10,
               "two more polls with the notify socket full")
    assert d.running()
    assert "not sent" in d.log()


def test_sighup_with_a_poll_in_flight_applies_after_it(emu, kh_config,
                                                       daemon):
    m, cfg = one_key(emu, kh_config, interval="1s")
    d = daemon(cfg)
    status_value(d, lambda v: "1 ok" in v)
    # The next poll's first request is held 4 s.  The emulator drops the
    # fault from its list as a request takes it: from then on that poll
    # is in flight, and the SIGHUP lands inside it.
    fid = emu.client.fault("latency", "*", latency=4.0, count=1)
    wait_until(lambda: all(f["id"] != fid for f in emu.client.faults()),
               FAST * 1.2 + 5, "a poll's request held by the emulator")
    mark = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_notify("RELOADING", "1", after=mark)
    d.wait_notify("READY", "1", timeout=10)
    log = d.log()
    assert "reload: waiting for 1 polls in flight" in log
    assert "reloaded: 1 key," in log
    status_value(d, lambda v: "1 ok" in v)
    assert "check-failed" not in d.log()


def test_removed_key_resolves_and_restart_does_not_refire(
        emu, kh_config, daemon, webhook_receiver):
    recv = webhook_receiver()
    m, cfg = one_key(emu, kh_config, interval="1s", notifiers=[
        {"type": "webhook", "name": "oncall", "url": recv.url}])
    m2 = seed_gearset_key(emu, KeyState="Disabled")
    m3 = seed_gearset_key(emu, KeyState="Disabled")
    cfg.doc["keys"] += [key_entry(m2, "gone"), key_entry(m3, "stays")]
    cfg.write()
    d = daemon(cfg)
    hooks = recv.wait_for(2)
    assert sorted((h["json"]["status"], h["json"]["key"]["name"])
                  for h in hooks) == [("firing", "gone"),
                                      ("firing", "stays")]
    del cfg.doc["keys"][1]
    cfg.write()
    d.signal(signal.SIGHUP)
    hooks = recv.wait_for(3)
    assert (hooks[2]["json"]["status"], hooks[2]["json"]["key"]["name"]) \
        == ("resolved", "gone")
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=5) == 0
    # The alert state survived: "stays" is still firing, not new.
    d = daemon(cfg, name="keyhealthd-2")
    n = len(describes(emu, m3["Arn"]))
    wait_until(lambda: len(describes(emu, m3["Arn"])) >= n + 2,
               2 * FAST * 1.2 + 2, "two polls after the restart")
    time.sleep(0.3)
    assert len(recv.accepted()) == 3, [
        (h["json"]["status"], h["json"]["key"]["name"])
        for h in recv.accepted()]


def test_alias_moved_while_running_is_key_replaced(emu, kh_config, daemon):
    m, cfg = one_key(emu, kh_config, slow_interval="1s", interval="1s")
    d = daemon(cfg)
    status_value(d, lambda v: "1 ok" in v)
    new = seed_gearset_key(emu)
    emu.boto3_client(region="eu-west-1").update_alias(
        AliasName="alias/gs", TargetKeyId=new["KeyId"])
    d.wait_log("critical: key-replaced on key gs",
               timeout=2 * FAST * 1.2 + 2)
    status_value(d, lambda v: "1 critical" in v)


def test_key_deleted_while_running(emu, kh_config, daemon):
    m, cfg = one_key(emu, kh_config, slow_interval="1s", interval="1s")
    d = daemon(cfg)
    status_value(d, lambda v: "1 ok" in v)
    emu.boto3_client(region="eu-west-1").schedule_key_deletion(
        KeyId=m["KeyId"], PendingWindowInDays=7)
    d.wait_log("critical: key-pending-deletion on key gs",
               timeout=FAST * 1.2 + 2)
    emu.client.skew_check("real")
    emu.client.advance(8 * 86400)
    d.wait_log("critical: key-deleted on key gs", timeout=FAST * 1.2 + 2)
    d.wait_log("resolved: key-pending-deletion on key gs")
    n = len(describes(emu, m["Arn"]))
    wait_until(lambda: len(describes(emu, m["Arn"])) >= n + 1,
               FAST * 1.2 + 2, "one more poll")
    time.sleep(0.3)
    log = d.log()
    # No noise next to key-deleted: its alias went with it, its policy
    # cannot be read.
    assert "check-failed" not in log and "key-replaced" not in log
    assert "vendor-access-missing" not in log


def test_baseline_accept_then_stop_keeps_the_accepted_baseline(
        emu, kh_config, daemon, kh_baseline, kh_check):
    # Accept, then restart the daemon before its next poll: what it
    # writes on the way out must not be its stale baseline.
    m, cfg = one_key(emu, kh_config, interval="1h")
    p = gearset_policy()
    statement(p, USE_SID)["Action"].append("kms:GetPublicKey")
    d = daemon(cfg)
    status_value(d, lambda v: "1 ok" in v)     # first poll: the baseline
    emu.client.set_policy(m["KeyId"], json.dumps(p), region="eu-west-1")
    r = kh_baseline(cfg, "gs")
    assert r.returncode == 0, r.stderr
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=5) == 0
    rc, doc, err = kh_check(cfg)
    assert [f["check"] for f in doc["keys"][0]["findings"]] == [], err
    assert rc == 0


def test_kms_outage_does_not_resolve_a_firing_alert(emu, kh_config, daemon,
                                                    webhook_receiver):
    recv = webhook_receiver()
    m, cfg = one_key(emu, kh_config, kms={"max_attempts": 2}, notifiers=[
        {"type": "webhook", "name": "oncall", "url": recv.url}])
    emu.client.update_key(m["KeyId"], region="eu-west-1",
                          KeyState="Disabled")
    daemon(cfg)
    recv.wait_for(1)
    emu.client.throttle("DescribeKey", count=None, duration=2.5)
    hooks = recv.wait_for(2, timeout=INTERVAL * 1.2 + 3)
    assert (hooks[1]["json"]["check"], hooks[1]["json"]["status"]) == (
        "check-failed", "firing")
    assert "ThrottlingException" in hooks[1]["json"]["summary"]
    hooks = recv.wait_for(3, timeout=2 * INTERVAL * 1.2 + 3)
    assert (hooks[2]["json"]["check"], hooks[2]["json"]["status"]) == (
        "check-failed", "resolved")
    # key-disabled fired once and never "resolved" during the outage.
    assert [(h["json"]["check"], h["json"]["status"]) for h in hooks] == [
        ("key-disabled", "firing"), ("check-failed", "firing"),
        ("check-failed", "resolved")]


@pytest.mark.parametrize("operation,key_id", [
    ("GetKeyRotationStatus", None),
    ("DescribeKey", "alias/"),
])
def test_failed_slow_part_is_retried_at_the_next_poll(emu, kh_config,
                                                      daemon, operation,
                                                      key_id):
    # Rotation status and the alias are polled hourly; one throttled
    # fetch must not leave check-failed standing for an hour.
    m, cfg = one_key(emu, kh_config, kms={"max_attempts": 2})
    emu.client.fault("error", operation, duration=1.5, key_id=key_id,
                     status=400, code="ThrottlingException",
                     message="Rate exceeded")
    d = daemon(cfg)
    status_value(d, lambda v: "1 unknown" in v)
    assert "check-failed on key gs" in d.log()
    d.wait_log("resolved: check-failed on key gs",
               timeout=2 * INTERVAL * 1.2 + 2)
    status_value(d, lambda v: "1 ok" in v)


def test_rotation_answer_from_before_a_state_change_is_not_reused(
        emu, kh_config, daemon):
    # AWS refuses GetKeyRotationStatus for a key pending deletion
    # (KMSInvalidStateException).  Once the deletion is cancelled and the
    # key enabled again, that hourly answer must not turn into a
    # check-failed for the healthy key.
    m, cfg = one_key(emu, kh_config, interval="1s")
    kms = emu.kms_client(region="eu-west-1")
    kms.schedule_key_deletion(KeyId=m["KeyId"], PendingWindowInDays=7)
    emu.client.fault("error", "GetKeyRotationStatus", count=1, status=400,
                     code="KMSInvalidStateException",
                     message="%s is pending deletion." % m["Arn"])
    d = daemon(cfg)
    status_value(d, lambda v: "1 critical" in v)
    kms.cancel_key_deletion(KeyId=m["KeyId"])
    kms.enable_key(KeyId=m["KeyId"])
    d.wait_log("resolved: key-pending-deletion on key gs",
               timeout=FAST * 1.2 + 2)
    status_value(d, lambda v: "1 ok" in v)
    n = len(describes(emu, m["Arn"]))
    wait_until(lambda: len(describes(emu, m["Arn"])) >= n + 1,
               FAST * 1.2 + 1, "one more poll")
    time.sleep(0.3)
    assert "check-failed" not in d.log()
    # The rotation status was fetched again after the change.
    assert len([r for r in emu.client.requests(
        operation="GetKeyRotationStatus")
        if m["KeyId"] in (r.get("key_id") or "")]) >= 2


def test_sighup_with_a_missing_file_or_a_bad_notifier_keeps_running(
        emu, kh_config, daemon):
    m, cfg = one_key(emu, kh_config, interval="1s")
    d = daemon(cfg)
    status_value(d, lambda v: "1 ok" in v)
    good = open(cfg.path).read()
    cfg.doc["notifiers"] = [{"type": "webhook", "name": "oncall"}]
    cfg.write()
    for step in ("notifier", "missing"):
        if step == "missing":
            os.unlink(cfg.path)
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_notify("RELOADING", "1", after=mark)
        d.wait_notify("READY", "1")
    log = d.wait_log("keeping the running configuration", count=2)
    assert re.search(r"%s:\d+:\d+: .*url" % re.escape(cfg.path), log), log
    assert "%s: No such file or directory" % cfg.path in log
    n = len(describes(emu, m["Arn"]))
    wait_until(lambda: len(describes(emu, m["Arn"])) >= n + 1,
               FAST * 1.2 + 1, "a poll after the failed reloads")
    # And a good file later is taken.
    cfg.write(good)
    mark = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_notify("READY", "1", after=mark)
    d.wait_log("reloaded: 1 key,")


def test_per_key_interval_overrides_the_global_one(emu, kh_config, daemon):
    fast = seed_gearset_key(emu)
    slow = seed_gearset_key(emu)
    cfg = kh_config(emu, [key_entry(fast, "fast", interval="1s"),
                          key_entry(slow, "slow")], interval="1h")
    d = daemon(cfg)
    wait_until(lambda: len(describes(emu, fast["Arn"])) >= 4, 6,
               "four polls of the fast key")
    # The slow key: its first poll only (spread over the first seconds).
    assert len(describes(emu, slow["Arn"])) == 1
    assert d.running()
