"""KEYHEALTHD_TEST_STALL, the test-only way to stall the event loop that
`make systemd-test` uses to watch systemd's watchdog catch a stuck daemon:
here, the daemon side of it, read from a real NOTIFY_SOCKET (keep-alives
stop, signals go unanswered) and a bad value refused at start.
"""
import signal
import time

import pytest

from fixture_daemon import key_entry, seed_gearset_key


@pytest.fixture
def emu(kmsemu_session):
    kmsemu_session.client.reset()
    yield kmsemu_session
    kmsemu_session.client.reset()


def one_key_config(emu, kh_config):
    m = seed_gearset_key(emu, "eu-west-1")
    return kh_config(emu, [key_entry(m, "gs")], interval="1s")


def test_stall_stops_watchdog_keepalives_and_signals(emu, kh_config, daemon,
                                                     kh_env):
    cfg = one_key_config(emu, kh_config)
    env = dict(kh_env, WATCHDOG_USEC="600000", KEYHEALTHD_TEST_STALL="2s")
    d = daemon(cfg, env=env, timeout=60)
    d.wait_notify("WATCHDOG", "1", timeout=5)
    d.wait_log("stalling the event loop (test only)", timeout=20)
    mark = d.mark()
    # Ten keep-alive periods: a live loop would have sent about ten.
    time.sleep(3.0)
    late = [kv for kv in d.notifications()[mark:] if kv[0] == "WATCHDOG"]
    assert late == []
    # SIGTERM is handled on the loop, so a stalled daemon ignores it.
    d.signal(signal.SIGTERM)
    time.sleep(1.0)
    assert d.running()
    assert "stopping on signal" not in d.log()
    d.signal(signal.SIGKILL)
    d.wait(10)


def test_bad_stall_value_refuses_to_start(emu, kh_config, daemon, kh_env):
    cfg = one_key_config(emu, kh_config)
    env = dict(kh_env, KEYHEALTHD_TEST_STALL="soon")
    d = daemon(cfg, env=env, ready=False)
    assert d.wait(10) != 0
    assert "KEYHEALTHD_TEST_STALL: bad duration 'soon'" in d.log()
