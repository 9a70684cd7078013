"""The window between the outbox and the alert table (issue 13, item 3).

An alert is written to the notifiers' outboxes before alerts.json is
saved.  When the daemon dies in between, or the save fails, the outbox
holds a firing the alert table does not know; after a restart the firing
is delivered, and the key, fixed meanwhile, must still get its resolved.
Both ways into the window are reproduced through the real daemon: the
files a SIGKILL at that point leaves (the outbox written, alerts.json the
one from before), and a save of alerts.json that fails.
"""
import json
import os
import shutil
import signal

from fixture_daemon import key_entry, seed_gearset_key
from test_statefs import emu, wait_until  # noqa: F401


def sent(recv):
    return [(r["json"]["status"], r["json"]["check"])
            for r in recv.accepted() if r["json"]]


def queued(state):
    d = state / "outbox" / "oncall"
    return sorted(n for n in os.listdir(str(d)) if n.endswith(".json") and
                  not n.startswith(".")) if d.is_dir() else []


def acked(state):
    d = state / "outbox" / "oncall"
    return [n for n in os.listdir(str(d)) if n.endswith(".acked")] \
        if d.is_dir() else []


def one_key(emu, kh_config, recv, state):
    m = seed_gearset_key(emu)
    cfg = kh_config(emu, [key_entry(m, "gs")], notifiers=[
        {"type": "webhook", "name": "oncall", "url": recv.url,
         "timeout": "2s"}], state_dir=str(state), interval="1s",
        slow_interval="1s")
    return m, cfg


def set_state(emu, m, state):
    emu.client.update_key(m["KeyId"], region="eu-west-1", KeyState=state)


def start_healthy(emu, kh_config, daemon, recv, state):
    m, cfg = one_key(emu, kh_config, recv, state)
    d = daemon(cfg)
    d.wait_notify("STATUS", lambda v: "1 ok" in v, timeout=15)
    return m, cfg, d


def alerts_json_in_the_way(state):
    """alerts.json cannot be replaced while a directory holds its name."""
    alerts = state / "alerts.json"
    if alerts.exists():
        os.unlink(str(alerts))
    (alerts / "in-the-way").mkdir(parents=True)
    return alerts


def restart_and_expect_the_resolve(emu, m, cfg, recv, daemon, state):
    """The key is fixed while the daemon is down; after the restart the
    queued firing arrives, then its resolved."""
    set_state(emu, m, "Enabled")
    recv.default_status = 200
    d = daemon(cfg, name="keyhealthd2")
    wait_until(lambda: ("resolved", "key-disabled") in sent(recv), 30,
               "the resolved of the firing delivered after the restart",
               d.log)
    assert sent(recv) == [("firing", "key-disabled"),
                          ("resolved", "key-disabled")], sent(recv)
    assert "was missing from the alert state" in d.log()
    wait_until(lambda: queued(state) == [], 10, "an empty outbox", d.log)
    fired, resolved = [r["json"] for r in recv.accepted()]
    assert fired["fingerprint"] == resolved["fingerprint"]
    assert fired["started_at"] == resolved["started_at"]
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=10) == 0, d.log()
    alerts = json.loads((state / "alerts.json").read_text())
    assert alerts["alerts"] == []


def test_sigkill_between_the_outbox_and_the_alert_state_keeps_the_resolve(
        emu, kh_config, daemon, webhook_receiver, tmp_path):
    state = tmp_path / "state"
    recv = webhook_receiver()
    recv.default_status = 503       # the firing stays queued
    m, cfg, d = start_healthy(emu, kh_config, daemon, recv, state)
    before = state / "alerts.json"
    saved = before.read_bytes() if before.exists() else None
    set_state(emu, m, "Disabled")
    wait_until(lambda: recv.requests, 30, "a delivery attempt", d.log)
    os.kill(d.pid, signal.SIGKILL)
    d.wait(timeout=10)
    assert len(queued(state)) == 1
    # What a SIGKILL right after the outbox write leaves: the event
    # queued, alerts.json as it was before the alert.
    if saved is None:
        os.unlink(str(before))
    else:
        before.write_bytes(saved)
    restart_and_expect_the_resolve(emu, m, cfg, recv, daemon, state)


def test_a_failed_save_of_the_alert_state_keeps_the_resolve(
        emu, kh_config, daemon, webhook_receiver, tmp_path):
    state = tmp_path / "state"
    recv = webhook_receiver()
    recv.default_status = 503
    m, cfg, d = start_healthy(emu, kh_config, daemon, recv, state)
    alerts = alerts_json_in_the_way(state)
    set_state(emu, m, "Disabled")
    d.wait_log("cannot save the alert state", timeout=30)
    wait_until(lambda: recv.requests, 30, "a delivery attempt", d.log)
    os.kill(d.pid, signal.SIGKILL)
    d.wait(timeout=10)
    assert len(queued(state)) == 1
    shutil.rmtree(str(alerts))
    restart_and_expect_the_resolve(emu, m, cfg, recv, daemon, state)


def test_a_firing_delivered_while_the_alert_state_cannot_be_saved_resolves(
        emu, kh_config, daemon, webhook_receiver, tmp_path):
    # The receiver acknowledges the firing while alerts.json cannot be
    # written, then the daemon dies: the outbox must still remember that
    # the receiver saw it.
    state = tmp_path / "state"
    recv = webhook_receiver()
    m, cfg, d = start_healthy(emu, kh_config, daemon, recv, state)
    alerts = alerts_json_in_the_way(state)
    set_state(emu, m, "Disabled")
    wait_until(lambda: sent(recv) == [("firing", "key-disabled")], 30,
               "the firing", d.log)
    d.wait_log("cannot save the alert state")
    # The receiver's answer is read, then the file renamed <seq>.acked:
    # wait for the rename before the kill.
    wait_until(lambda: queued(state) == [] and acked(state), 30,
               "the outbox file acknowledged", d.log)
    os.kill(d.pid, signal.SIGKILL)
    d.wait(timeout=10)
    assert queued(state) == []      # acknowledged: not delivered again
    shutil.rmtree(str(alerts))
    set_state(emu, m, "Enabled")
    d = daemon(cfg, name="keyhealthd2")
    wait_until(lambda: ("resolved", "key-disabled") in sent(recv), 30,
               "the resolved of the firing the receiver saw", d.log)
    assert sent(recv) == [("firing", "key-disabled"),
                          ("resolved", "key-disabled")], sent(recv)
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=10) == 0, d.log()
    # Once alerts.json is saved again, nothing acknowledged is kept.
    assert [n for n in os.listdir(str(state / "outbox" / "oncall"))
            if not n.startswith(".")] == []
