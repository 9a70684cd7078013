"""Vendor profiles as data: the shipped Gearset profile, its override in
vendors.d next to the config (and by the config's vendors:), what
`keyhealthd vendors` reports, and errors in a vendor file, all through the
real binary against the KMS emulator.
"""
import os
import re
import signal
import subprocess

import pytest

from fixture_daemon import (GEARSET, assert_no_sanitizer_report, key_entry,
                            seed_gearset_key)

NEW_ACCOUNT = "999988887777"
OVERRIDE = """\
# The vendor moved eu-west-1 to another account (test data).
vendors:
  gearset:
    source: https://example.com/guide
    date: "2026-12-01"
    accounts:
      eu-west-1: "%s"
    require:
      - label: use of the key
        actions: [kms:Encrypt, kms:Decrypt]
""" % NEW_ACCOUNT


@pytest.fixture
def emu(kmsemu_session):
    kmsemu_session.client.reset()
    yield kmsemu_session
    kmsemu_session.client.reset()


def one_key(emu, kh_config, **top):
    """A key whose policy grants Gearset's shipped eu-west-1 account."""
    m = seed_gearset_key(emu)
    return m, kh_config(emu, [key_entry(m, "gs")], **top)


def vendors_d(cfg):
    d = os.path.join(os.path.dirname(cfg.path), "vendors.d")
    os.makedirs(d, exist_ok=True)
    return d


def put(path, text):
    with open(path, "w") as f:
        f.write(text)


def kh(kh_bin, env, *args):
    r = subprocess.run([kh_bin] + list(args), capture_output=True,
                       text=True, env=env, timeout=60)
    assert_no_sanitizer_report(r.stderr, "keyhealthd " + args[0])
    return r


def test_shipped_profile_is_the_guide_and_keys_pass(emu, kh_config,
                                                    kh_check):
    m, cfg = one_key(emu, kh_config)
    rc, doc, err = kh_check(cfg)
    assert rc == 0, err
    assert doc["keys"][0]["findings"] == []


def test_vendors_d_override_changes_the_account_and_checks_follow(
        emu, kh_config, kh_check):
    m, cfg = one_key(emu, kh_config)
    put(os.path.join(vendors_d(cfg), "gearset.yaml"), OVERRIDE)
    rc, doc, err = kh_check(cfg)
    assert rc == 2, err
    fs = [f for f in doc["keys"][0]["findings"]
          if f["check"] == "vendor-access-missing"]
    assert len(fs) == 1, doc
    assert fs[0]["details"]["account"] == NEW_ACCOUNT
    assert fs[0]["details"]["principal"] == \
        "arn:aws:iam::%s:root" % NEW_ACCOUNT


def test_config_vendors_beats_vendors_d(emu, kh_config, kh_check):
    # vendors.d moves the account; the config's own profile puts it back.
    m = seed_gearset_key(emu)
    cfg = kh_config(emu, [key_entry(m, "gs")], vendors={"gearset": {
        "accounts": {"eu-west-1": GEARSET["eu-west-1"]},
        "require": [{"actions": ["kms:Decrypt"]}]}})
    put(os.path.join(vendors_d(cfg), "gearset.yaml"), OVERRIDE)
    rc, doc, err = kh_check(cfg)
    assert rc == 0, (err, doc)


def test_vendors_command_lists_every_profile_and_its_origin(
        emu, kh_bin, kh_env, kh_config):
    m, cfg = one_key(emu, kh_config)
    r = kh(kh_bin, kh_env, "vendors", "-c", cfg.path)
    assert r.returncode == 0, r.stderr
    shipped = os.path.join(os.environ["KEYHEALTHD_VENDOR_DIR"],
                           "gearset.yaml")
    assert r.stdout.splitlines()[0] == "gearset\tfrom %s" % shipped
    assert "docs.gearset.com" in r.stdout
    for region, account in GEARSET.items():
        assert re.search(r"^  %s +%s$" % (region, account), r.stdout,
                         re.M), r.stdout
    # An override in vendors.d and a custom vendor in the config.
    override = os.path.join(vendors_d(cfg), "gearset.yaml")
    put(override, OVERRIDE)
    cfg.doc["vendors"] = {"acme": {
        "accounts": {"us-east-1": "123456789012"},
        "require": [{"actions": ["kms:Decrypt"]}]}}
    cfg.write()
    r = kh(kh_bin, kh_env, "vendors", "-c", cfg.path)
    assert r.returncode == 0, r.stderr
    line = [i for i, l in enumerate(open(cfg.path).read().splitlines())
            if l.startswith("  acme:")][0] + 1
    assert "gearset\tfrom %s\n" % override in r.stdout
    assert "  eu-west-1        %s\n" % NEW_ACCOUNT in r.stdout
    assert GEARSET["us-west-2"] not in r.stdout
    assert "acme\tfrom %s:%d\n" % (cfg.path, line) in r.stdout
    assert "  us-east-1        123456789012\n" in r.stdout


def test_malformed_vendor_file_fails_validate_with_position(
        emu, kh_bin, kh_env, kh_config):
    m, cfg = one_key(emu, kh_config)
    bad = os.path.join(vendors_d(cfg), "gearset.yaml")
    text = OVERRIDE.replace("kms:Decrypt]", "kms:Decrpyt]")
    put(bad, text)
    line = [i for i, l in enumerate(text.splitlines())
            if "Decrpyt" in l][0]
    col = text.splitlines()[line].index("kms:Decrpyt")
    r = kh(kh_bin, kh_env, "validate", "-c", cfg.path)
    assert r.returncode == 1
    assert "%s:%d:%d: vendors.gearset.require[0].actions: unknown KMS " \
        "action 'kms:Decrpyt'; did you mean 'kms:Decrypt'?" % (
            bad, line + 1, col + 1) in r.stderr, r.stderr
    # Broken YAML is reported the same way.
    put(bad, "vendors:\n  gearset: [\n")
    r = kh(kh_bin, kh_env, "validate", "-c", cfg.path)
    assert r.returncode == 1
    assert re.search(r"^%s:\d+:\d+: " % re.escape(bad), r.stderr, re.M), \
        r.stderr
    # A world-writable one is refused: its writer would pick the account.
    put(bad, OVERRIDE)
    os.chmod(bad, 0o666)
    r = kh(kh_bin, kh_env, "validate", "-c", cfg.path)
    assert r.returncode == 1
    assert "%s: refusing a world-writable file" % bad in r.stderr, r.stderr
    # `vendors` refuses it too.
    r = kh(kh_bin, kh_env, "vendors", "-c", cfg.path)
    assert r.returncode == 1 and bad in r.stderr


def test_missing_vendor_dir_is_a_clear_error(emu, kh_bin, kh_env,
                                             kh_config):
    m, cfg = one_key(emu, kh_config)
    env = dict(kh_env, KEYHEALTHD_VENDOR_DIR="/nonexistent/keyhealthd")
    r = kh(kh_bin, env, "validate", "-c", cfg.path)
    assert r.returncode == 1
    assert "keys[0].vendor: unknown vendor 'gearset': the vendor profile " \
        "directory cannot be read (/nonexistent/keyhealthd: No such file " \
        "or directory; set KEYHEALTHD_VENDOR_DIR, or define it under " \
        "vendors:)" in r.stderr, r.stderr
    assert re.match(r"^%s:\d+:\d+: " % re.escape(cfg.path), r.stderr)


def test_reload_follows_a_new_override_and_refuses_a_bad_one(
        emu, kh_config, daemon):
    m, cfg = one_key(emu, kh_config, interval="2s")
    d = daemon(cfg)
    d.wait_notify("STATUS", lambda v: "1 ok" in v, timeout=20)
    path = os.path.join(vendors_d(cfg), "gearset.yaml")
    put(path, OVERRIDE)
    mark = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_notify("READY", "1", after=mark)
    d.wait_log("vendor-access-missing on key gs", timeout=30)
    d.wait_notify("STATUS", lambda v: "1 critical" in v, timeout=30)
    # A bad file: the reload is refused, the override stays in force.
    put(path, OVERRIDE.replace('"%s"' % NEW_ACCOUNT, '"12345"'))
    mark = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_notify("READY", "1", after=mark)
    log = d.wait_log("keeping the running configuration")
    assert "%s:7:18: vendors.gearset.accounts: an AWS account is 12 " \
        "digits, got '12345'" % path in log, log
    assert d.running()



def test_reload_with_a_changed_profile_polls_the_key_at_once(
        emu, kh_config, daemon):
    # A long interval: only the reload can make the next poll come soon.
    m, cfg = one_key(emu, kh_config, interval="1h")
    d = daemon(cfg)
    d.wait_notify("STATUS", lambda v: "1 ok" in v, timeout=20)
    put(os.path.join(vendors_d(cfg), "gearset.yaml"), OVERRIDE)
    mark = d.mark()
    d.signal(signal.SIGHUP)
    d.wait_notify("READY", "1", after=mark)
    d.wait_log("vendor-access-missing on key gs", timeout=30)
