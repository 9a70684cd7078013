"""The notifiers: section as `keyhealthd validate` and `keyhealthd run`
read it: one owner (lib/notify), one error list with the rest of the file,
one duration grammar for every option that takes a duration, and a type
added as the documented recipe says (here the sample external module)
checked by validate like a built-in one."""
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import REPO_TOP, run
from fixture_daemon import key_entry, seed_gearset_key

KEY_ARN = ("arn:aws:kms:eu-west-1:111122223333:key/"
           "1234abcd-12ab-34cd-56ef-1234567890ab")

# Every option that takes a duration: (name shown in errors, how many).
PLACES = 12


def durations_config(tmp_path, d):
    key = tmp_path / "pd-key"
    key.write_text("R0utingKey\n")
    os.chmod(key, 0o600)
    text = (
        "interval: {d}\n"
        "slow_interval: {d}\n"
        "renotify: {d}\n"
        "kms:\n  connect_timeout: {d}\n  timeout: {d}\n"
        "alerts:\n  material_expiry_warning: {d}\n"
        "keys:\n  - arn: {arn}\n    interval: {d}\n"
        "notifiers:\n"
        "  - type: webhook\n    url: https://h.example/x\n"
        "    timeout: {d}\n"
        "  - type: exec\n    command: [/bin/true]\n    timeout: {d}\n"
        "  - type: pagerduty\n    routing_key_file: {key}\n"
        "    timeout: {d}\n"
        "  - type: slack\n    url: https://hooks.slack.com/services/X\n"
        "    timeout: {d}\n"
        "  - type: alertmanager\n    url: http://127.0.0.1:9093\n"
        "    repost_interval: {d}\n").format(d=d, arn=KEY_ARN, key=key)
    path = tmp_path / "kh.yaml"
    path.write_text(text)
    os.chmod(path, 0o600)
    return str(path)


def validate(kh_bin, path, **env_extra):
    env = dict(os.environ)
    env.pop("KEYHEALTHD_CONFIG", None)
    env.update(env_extra)
    return run([kh_bin, "validate", "-c", path], env=env)


def error_lines(r):
    return [l for l in r.stderr.splitlines() if l.strip()]


# Every value is within every option's range: only the grammar counts.
@pytest.mark.parametrize("d", ["1s", "30s", "2m", "1m30s", "90s", "5m",
                               "1000ms", "2m0s"])
def test_a_duration_is_accepted_by_every_option(kh_bin, tmp_path, d):
    r = validate(kh_bin, durations_config(tmp_path, d))
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout


@pytest.mark.parametrize("d,why", [
    ("30", "missing unit"),
    ("1.5m", "fractions are not supported"),
    ("1h 30m", "no spaces allowed"),
    ("-5s", "no sign allowed"),
    ("1m1h", "repeated or out of order"),
    ("5min", "unknown unit 'min'"),
    ("s", "expected a number"),
])
def test_a_duration_is_refused_by_every_option_for_the_same_reason(
        kh_bin, tmp_path, d, why):
    path = durations_config(tmp_path, d)
    r = validate(kh_bin, path)
    assert r.returncode == 1
    lines = error_lines(r)
    assert len(lines) == PLACES, r.stderr
    for l in lines:
        assert re.match(re.escape(path) + r":\d+:\d+: ", l), l
        assert "bad duration '%s'" % d in l and why in l, l


def test_milliseconds_only_where_the_option_takes_them(kh_bin, tmp_path):
    path = durations_config(tmp_path, "1500ms")
    r = validate(kh_bin, path)
    lines = error_lines(r)
    # The seven options in whole seconds refuse it, the notifiers' five
    # take it.
    assert len(lines) == 7, r.stderr
    for l in lines:
        assert "this option takes whole seconds" in l, l


def sample_module(tools_dir):
    return os.path.join(os.path.dirname(tools_dir), "modules",
                        "sample_notify.so")


def test_validate_reports_a_module_option_error_with_the_files_errors(
        kh_bin, tools_dir, tmp_path):
    """A type added by the recipe (the sample module) is checked by
    validate, its errors in the file's list, sorted by position."""
    path = tmp_path / "kh.yaml"
    path.write_text(
        "intervall: 5m\n"
        "keys:\n  - arn: %s\n"
        "notifiers:\n"
        "  - type: module\n    name: mine\n    path: %s\n"
        "    file: %s\n    fiel: typo\n"
        "  - type: webhook\n    url: https://h.example/x\n"
        "    timout: 5s\n"
        % (KEY_ARN, sample_module(tools_dir), tmp_path / "out"))
    r = validate(kh_bin, str(path))
    assert r.returncode == 1
    p = str(path)
    assert error_lines(r) == [
        "%s:1:1: unknown key 'intervall'; did you mean 'interval'?" % p,
        "%s:9:5: sample module: unknown option 'fiel'" % p,
        "%s:12:5: unknown option \"timout\" for a webhook "
        "notifier (did you mean \"timeout\"?)" % p,
    ], r.stderr


def test_validate_accepts_the_sample_module_and_run_delivers_through_it(
        kh_bin, tools_dir, tmp_path):
    path = tmp_path / "kh.yaml"
    out = tmp_path / "out"
    path.write_text(
        "keys:\n  - arn: %s\n"
        "notifiers:\n"
        "  - type: module\n    name: mine\n    path: %s\n    file: %s\n"
        % (KEY_ARN, sample_module(tools_dir), out))
    r = validate(kh_bin, str(path))
    assert r.returncode == 0, r.stderr
    assert "1 notifier" in r.stdout


def test_run_refuses_what_validate_refuses(kh_bin, tmp_path):
    """Same file, same verdict and message: run goes through the same
    load as validate."""
    path = durations_config(tmp_path, "30")
    v = validate(kh_bin, path)
    assert v.returncode == 1
    state = tmp_path / "state"
    state.mkdir()
    env = dict(os.environ)
    env.pop("KEYHEALTHD_CONFIG", None)
    env["STATE_DIRECTORY"] = str(state)
    r = subprocess.run([kh_bin, "run", "-c", path], capture_output=True,
                       text=True, timeout=30, env=env, cwd=REPO_TOP)
    assert r.returncode != 0
    for line in error_lines(v):
        assert line in r.stderr, (line, r.stderr)
    assert "not starting" in r.stderr


@pytest.fixture
def emu(kmsemu_session):
    kmsemu_session.client.reset()
    yield kmsemu_session
    kmsemu_session.client.reset()


def test_each_load_configures_the_notifiers_once(emu, kh_config, daemon,
                                                 tools_dir, tmp_path):
    """Start and each reload build every notifier once (the reload used
    to build them twice: once to check, once to apply)."""
    log = tmp_path / "configured.log"
    m = seed_gearset_key(emu)
    cfg = kh_config(emu, [key_entry(m, "gs")], interval="30s",
                    notifiers=[{"type": "module", "name": "mine",
                                "path": sample_module(tools_dir),
                                "file": str(tmp_path / "out"),
                                "configured_log": str(log)}])
    d = daemon(cfg)         # waits for READY=1
    assert log.read_text().count("configured") == 1
    for n in (2, 3):
        mark = d.mark()
        d.signal(signal.SIGHUP)
        d.wait_notify("RELOADING", "1", after=mark)
        d.wait_notify("READY", "1", after=mark)
        d.wait_log("reloaded: 1 key", count=n - 1)
        assert log.read_text().count("configured") == n
