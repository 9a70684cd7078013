"""Key discovery: `keyhealthd discover` (ListKeys, ListAliases,
DescribeKey, GetKeyPolicy against the KMS emulator) and the daemon's
discover: section, through the real binary.
"""
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest
import yaml

from conftest import pick_free_port
from fixture_daemon import (ACCOUNT, GEARSET, assert_no_sanitizer_report,
                            gearset_policy, key_entry, seed_gearset_key)

OTHER = "444455556666"


@pytest.fixture
def emu(kmsemu_session):
    kmsemu_session.client.reset()
    yield kmsemu_session
    kmsemu_session.client.reset()


def kh(kh_bin, env, *args, timeout=120):
    r = subprocess.run([kh_bin] + list(args), capture_output=True,
                       text=True, env=env, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    assert_no_sanitizer_report(r.stderr, "keyhealthd " + args[0])
    return r


def plain_policy(account=ACCOUNT):
    """A key policy that names nobody but the key's own account."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::%s:root" % account},
         "Action": "kms:*", "Resource": "*"}]}


def use_only_policy(region="eu-west-1"):
    """Names the vendor, but without the grant statement."""
    p = gearset_policy(GEARSET[region])
    p["Statement"] = p["Statement"][:2]
    return p


def discover_config(emu, kh_config, keys=(), **discover):
    return kh_config(emu, list(keys), discover=discover)


def listed(out):
    """The keys: of discover's output, parsed as YAML."""
    doc = yaml.safe_load(out) or {}
    return doc.get("keys") or []


def verdicts(out):
    """arn -> the comment line above its entry."""
    v = {}
    last = None
    for line in out.splitlines():
        m = re.match(r"^  # (.*)$", line)
        if m:
            last = m.group(1)
            continue
        m = re.match(r'^  - arn: "(.*)"$', line)
        if m:
            v[m.group(1)] = last
    return v


def get_status(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/status" % port,
                                timeout=5) as r:
        return json.loads(r.read())


def get_metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=5) as r:
        return r.read().decode()


def status_arns(port):
    return {k["arn"]: k for k in get_status(port)["keys"]}


def wait_until(fn, timeout, what, d=None):
    """fn() until true; with the daemon d, reads its sd_notify datagrams
    meanwhile (an unread socket fills and blocks the daemon)."""
    deadline = time.monotonic() + timeout
    while True:
        if d is not None:
            d.notifications()
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ds waiting for %s"
                                 % (timeout, what))
        time.sleep(0.2)


# ---------------------------------------------------------------------------
# keyhealthd discover


def test_discover_lists_vendor_keys_with_a_verdict_each(emu, kh_config,
                                                        kh_bin, kh_env):
    ok = seed_gearset_key(emu, alias="alias/gearset-backup")
    us = seed_gearset_key(emu, region="us-west-2")
    partial = seed_gearset_key(emu, alias="alias/half",
                               policy=use_only_policy())
    seed_gearset_key(emu, alias="alias/plain", policy=plain_policy())
    cfg = discover_config(emu, kh_config)
    r = kh(kh_bin, kh_env, "discover", "-c", cfg.path)
    assert r.returncode == 0, r.stderr
    keys = {k["arn"]: k for k in listed(r.stdout)}
    assert set(keys) == {ok["Arn"], us["Arn"], partial["Arn"]}, r.stdout
    assert keys[ok["Arn"]]["name"] == "gearset-backup"
    assert keys[ok["Arn"]]["alias"] == "alias/gearset-backup"
    assert keys[ok["Arn"]]["vendor"] == "gearset"
    # Without an alias the key id is the name (the config's default).
    assert keys[us["Arn"]]["name"] == us["KeyId"]
    assert "alias" not in keys[us["Arn"]]
    v = verdicts(r.stdout)
    assert v[ok["Arn"]] == "ok: vendor access complete"
    assert v[us["Arn"]] == "ok: vendor access complete"
    assert v[partial["Arn"]].startswith("vendor-access-missing: "), v


def test_keys_without_the_vendor_statement_are_not_listed(emu, kh_config,
                                                          kh_bin, kh_env):
    seed_gearset_key(emu, alias="alias/plain", policy=plain_policy())
    # Names Gearset's eu-west-1 account, but lives in us-west-2, where
    # Gearset uses another account: not the vendor's key there.
    seed_gearset_key(emu, region="us-west-2", alias="alias/wrong-region",
                     policy=gearset_policy(GEARSET["eu-west-1"]))
    # AWS managed keys are never listed, whatever their policy says.
    seed_gearset_key(emu, KeyManager="AWS")
    cfg = discover_config(emu, kh_config)
    r = kh(kh_bin, kh_env, "discover", "-c", cfg.path)
    assert r.returncode == 0, r.stderr
    assert listed(r.stdout) == [], r.stdout
    assert "0 keys" in r.stdout


def test_discover_output_pasted_validates_and_watches_the_same_keys(
        emu, kh_config, kh_bin, kh_env, kh_check):
    a = seed_gearset_key(emu, alias="alias/team/backup")
    b = seed_gearset_key(emu, alias="alias/team-backup")   # same name
    c = seed_gearset_key(emu, region="ap-southeast-2", alias="alias/syd")
    cfg = discover_config(emu, kh_config)
    r = kh(kh_bin, kh_env, "discover", "-c", cfg.path)
    assert r.returncode == 0, r.stderr
    names = sorted(k["name"] for k in listed(r.stdout))
    assert names == ["syd", "team-backup", "team-backup-2"], r.stdout
    # Pasted under a configuration without keys: (and without discover:).
    doc = dict(cfg.doc)
    doc.pop("keys")
    doc.pop("discover")
    text = yaml.safe_dump(doc, sort_keys=False) + r.stdout
    cfg.write(text)
    v = kh(kh_bin, kh_env, "validate", "-c", cfg.path)
    assert v.returncode == 0, v.stdout + v.stderr
    rc, out, err = kh_check(cfg)
    assert rc == 0, err
    assert {k["arn"] for k in out["keys"]} == {a["Arn"], b["Arn"],
                                               c["Arn"]}
    assert all(k["origin"] == "configured" for k in out["keys"])
    assert all(k["findings"] == [] for k in out["keys"]), out


def test_discover_pages_through_more_keys_than_a_page(emu, kh_config,
                                                      kh_bin, kh_env):
    emu.client.config(list_page_size=2)
    want = {seed_gearset_key(emu, alias="alias/k%d" % i)["Arn"]
            for i in range(5)}
    for i in range(3):
        seed_gearset_key(emu, alias="alias/p%d" % i, policy=plain_policy())
    cfg = discover_config(emu, kh_config, regions=["eu-west-1"])
    emu.client.clear_requests()
    r = kh(kh_bin, kh_env, "discover", "-c", cfg.path)
    assert r.returncode == 0, r.stderr
    keys = {k["arn"]: k for k in listed(r.stdout)}
    assert set(keys) == want, r.stdout
    # Every alias, though ListAliases pages too.
    assert sorted(k["name"] for k in keys.values()) == \
        ["k0", "k1", "k2", "k3", "k4"]
    # 8 keys, 2 a page: 4 ListKeys requests, each after the first with
    # the previous NextMarker (the emulator refuses a bad one).
    assert len(emu.client.requests(operation="ListKeys")) == 4
    assert len(emu.client.requests(operation="ListAliases")) >= 4


def test_discover_options_narrow_the_search(emu, kh_config, kh_bin,
                                            kh_env):
    eu = seed_gearset_key(emu, alias="alias/eu")
    seed_gearset_key(emu, region="us-west-2", alias="alias/us")
    cfg = discover_config(emu, kh_config)
    r = kh(kh_bin, kh_env, "discover", "-c", cfg.path, "--vendor",
           "gearset", "--region", "eu-west-1")
    assert r.returncode == 0, r.stderr
    assert [k["arn"] for k in listed(r.stdout)] == [eu["Arn"]]
    r = kh(kh_bin, kh_env, "discover", "-c", cfg.path, "--vendor", "nope")
    assert r.returncode == 2
    assert "unknown vendor 'nope'" in r.stderr
    r = kh(kh_bin, kh_env, "discover", "-c", cfg.path, "--region", "mars")
    assert r.returncode == 2
    assert "not an AWS region" in r.stderr
    r = kh(kh_bin, kh_env, "discover", "-c", cfg.path, "--account-role",
           "arn:aws:iam::123:user/x")
    assert r.returncode == 2
    assert "not a role ARN" in r.stderr


def test_discover_skips_keys_already_configured(emu, kh_config, kh_bin,
                                                kh_env):
    a = seed_gearset_key(emu, alias="alias/a")
    b = seed_gearset_key(emu, alias="alias/b")
    cfg = kh_config(emu, [key_entry(a, "a")], discover={})
    r = kh(kh_bin, kh_env, "discover", "-c", cfg.path)
    assert r.returncode == 0, r.stderr
    assert [k["arn"] for k in listed(r.stdout)] == [b["Arn"]]
    assert "1 listed key already in the configuration" in r.stdout


def test_discover_list_keys_failure_is_an_error(emu, kh_config, kh_bin,
                                                kh_env):
    seed_gearset_key(emu, alias="alias/a")
    emu.client.fault(action="error", operation="ListKeys",
                     code="AccessDeniedException", status=400, count=100)
    cfg = discover_config(emu, kh_config, regions=["eu-west-1"])
    r = kh(kh_bin, kh_env, "discover", "-c", cfg.path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "eu-west-1: cannot list the keys: ListKeys: " \
        "AccessDeniedException" in r.stderr
    assert listed(r.stdout) == []


def test_discover_without_kms_list_keys_permission(emu, kh_config, kh_bin,
                                                   kh_env):
    # The caller's IAM policy lacks kms:ListKeys: the emulator refuses
    # as KMS does, and discover says so rather than finding nothing.
    cred = emu.client.add_account(ACCOUNT, deny_actions=["kms:ListKeys"])
    seed_gearset_key(emu, alias="alias/a")
    cfg = discover_config(emu, kh_config, regions=["eu-west-1"])
    env = dict(kh_env, AWS_ACCESS_KEY_ID=cred["AccessKeyId"],
               AWS_SECRET_ACCESS_KEY=cred["SecretAccessKey"])
    r = kh(kh_bin, env, "discover", "-c", cfg.path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "ListKeys: AccessDeniedException: " in r.stderr
    assert "kms:ListKeys" in r.stderr


def test_discover_through_an_assumed_role(emu, kh_config, kh_bin, kh_env):
    role = "arn:aws:iam::%s:role/keyhealthd-ro" % OTHER
    emu.client.add_account(OTHER)
    emu.client.add_role(role)
    theirs = seed_gearset_key(emu, account=OTHER, alias="alias/theirs",
                              policy=gearset_policy(account=OTHER))
    seed_gearset_key(emu, alias="alias/ours")
    cfg = discover_config(emu, kh_config, regions=["eu-west-1"])
    cfg.doc["aws"]["sts_endpoint_url"] = emu.url
    cfg.write()
    r = kh(kh_bin, kh_env, "discover", "-c", cfg.path, "--account-role",
           role)
    assert r.returncode == 0, r.stderr
    keys = listed(r.stdout)
    assert [k["arn"] for k in keys] == [theirs["Arn"]], r.stdout
    assert keys[0]["aws"] == {"assume_role": role}


# ---------------------------------------------------------------------------
# The daemon's discover: section


def daemon_config(emu, kh_config, port, keys=(), **discover):
    discover.setdefault("interval", "2s")
    discover.setdefault("regions", ["eu-west-1"])
    return kh_config(emu, list(keys), interval="2s",
                     http={"listen": "127.0.0.1:%d" % port},
                     discover=discover)


def test_daemon_watches_a_new_vendor_key_and_drops_a_deleted_one(
        emu, kh_config, daemon, free_port):
    first = seed_gearset_key(emu, alias="alias/first")
    seed_gearset_key(emu, alias="alias/plain", policy=plain_policy())
    cfg = daemon_config(emu, kh_config, free_port)
    d = daemon(cfg, timeout=120)
    wait_until(lambda: first["Arn"] in status_arns(free_port), 30,
               "the first key discovered", d=d)
    k = status_arns(free_port)[first["Arn"]]
    assert k["origin"] == "discovered" and k["name"] == "first"
    assert len(status_arns(free_port)) == 1
    # A key created with the vendor's statement: watched within an
    # interval or two.
    new = seed_gearset_key(emu, alias="alias/new")
    wait_until(lambda: new["Arn"] in status_arns(free_port), 30,
               "the new key discovered", d=d)
    d.wait_log("discover: watching key new (%s)" % new["Arn"])
    wait_until(lambda: status_arns(free_port)[new["Arn"]]["state"] ==
               "Enabled", 30, "the new key polled", d=d)
    m = get_metrics(free_port)
    assert "keyhealthd_discovered_keys 2" in m
    assert "keyhealthd_discovered_keys_added_total 2" in m
    # Deleted: key-deleted fires through the normal path, then the key
    # leaves the watched set.
    emu.client.delete_key(first["Arn"])
    d.wait_log("critical: key-deleted on key first", timeout=30)
    wait_until(lambda: first["Arn"] not in status_arns(free_port), 30,
               "the deleted key retired", d=d)
    d.wait_log("discover: key first (%s) is gone from KMS" % first["Arn"])
    assert "keyhealthd_discovered_keys_removed_total 1" in \
        get_metrics(free_port)
    assert set(status_arns(free_port)) == {new["Arn"]}


def test_daemon_explicit_keys_win_over_discovered(emu, kh_config, daemon,
                                                  free_port):
    a = seed_gearset_key(emu, alias="alias/a")
    b = seed_gearset_key(emu, alias="alias/b")
    cfg = daemon_config(emu, kh_config, free_port,
                        keys=[key_entry(a, "mine")])
    d = daemon(cfg, timeout=120)
    wait_until(lambda: b["Arn"] in status_arns(free_port), 30,
               "b discovered", d=d)
    d.wait_log("discover: run done", count=2, timeout=30)
    keys = get_status(free_port)["keys"]
    assert sorted((k["name"], k["origin"]) for k in keys) == [
        ("b", "discovered"), ("mine", "configured")]
    # The configured key is never discovered again (one key, one poll
    # each interval).
    assert d.log().count("discover: watching key") == 1
    polls = [l for l in d.log().splitlines() if a["Arn"] in l]
    assert not any("watching" in l for l in polls), polls


def test_daemon_keeps_discovered_keys_when_list_keys_fails(
        emu, kh_config, daemon, free_port):
    a = seed_gearset_key(emu, alias="alias/a")
    cfg = daemon_config(emu, kh_config, free_port)
    d = daemon(cfg, timeout=120)
    wait_until(lambda: a["Arn"] in status_arns(free_port), 30,
               "a discovered", d=d)
    emu.client.fault(action="error", operation="ListKeys",
                     code="AccessDeniedException", status=400,
                     duration=60)
    d.wait_log("discover: eu-west-1: cannot list the keys (ListKeys: "
               "AccessDeniedException", timeout=30)
    d.wait_log("discover: run incomplete", count=2, timeout=30)
    assert a["Arn"] in status_arns(free_port)
    assert 'keyhealthd_discovery_runs_total{result="failed"}' in \
        get_metrics(free_port)
    assert "no longer watched" not in d.log()


def test_check_json_reports_discovered_keys(emu, kh_config, kh_check):
    a = seed_gearset_key(emu, alias="alias/a")
    b = seed_gearset_key(emu, alias="alias/b")
    cfg = kh_config(emu, [key_entry(a, "mine")],
                    discover={"regions": ["eu-west-1"]})
    rc, out, err = kh_check(cfg)
    assert rc == 0, err
    assert sorted((k["name"], k["origin"]) for k in out["keys"]) == [
        ("b", "discovered"), ("mine", "configured")]
    assert out["keys"][1]["arn"] == b["Arn"]


def test_daemon_reload_keeps_discovered_keys_and_a_listed_one_wins(
        emu, kh_config, daemon, free_port):
    a = seed_gearset_key(emu, alias="alias/a")
    b = seed_gearset_key(emu, alias="alias/b")
    cfg = daemon_config(emu, kh_config, free_port, interval="1h")
    d = daemon(cfg, timeout=120)
    wait_until(lambda: {a["Arn"], b["Arn"]} <= set(status_arns(free_port))
               and all(k["state"] for k in get_status(free_port)["keys"]),
               30, "both keys discovered and polled", d=d)
    # An unchanged file: the discovered keys stay, nothing resolves.
    d.signal(signal.SIGHUP)
    d.wait_log("reloaded: 2 keys")
    d.mark()
    assert {k: v["origin"] for k, v in status_arns(free_port).items()} == \
        {a["Arn"]: "discovered", b["Arn"]: "discovered"}
    # a listed under keys: now: the configured entry takes over.
    cfg.doc["keys"] = [key_entry(a, "listed-a")]
    cfg.write()
    d.signal(signal.SIGHUP)
    d.wait_log("reloaded: 2 keys", count=2)
    d.mark()
    keys = status_arns(free_port)
    assert (keys[a["Arn"]]["name"], keys[a["Arn"]]["origin"]) == \
        ("listed-a", "configured")
    assert keys[b["Arn"]]["origin"] == "discovered"
    # Without discover:, the discovered key leaves.
    del cfg.doc["discover"]
    cfg.write()
    d.signal(signal.SIGHUP)
    d.wait_log("reloaded: 1 key")
    d.mark()
    assert set(status_arns(free_port)) == {a["Arn"]}
    assert "keyhealthd_discovered_keys" not in get_metrics(free_port)


def test_daemon_reload_carries_discovered_keys_and_replicas_alike(
        emu, kh_config, daemon, free_port):
    # One mechanism for the keys added at run time: a replica stays while
    # its primary stays configured, a discovered key while discover: is
    # on, and an entry of keys: wins over both.
    from test_replicas import replicate
    primary = seed_gearset_key(emu, MultiRegion=True)
    rep = replicate(emu, primary, "us-west-2")
    found = seed_gearset_key(emu, alias="alias/found")
    cfg = daemon_config(emu, kh_config, free_port,
                        keys=[key_entry(primary, "gs")], interval="1h")
    d = daemon(cfg, timeout=120)

    def origins():
        out = {}
        for k in get_status(free_port)["keys"]:
            out[k["arn"]] = k["origin"]
            for r in k.get("replicas", []):
                out[r["arn"]] = r["origin"] + " of " + k["arn"]
        return out
    both = {primary["Arn"]: "configured",
            rep["Arn"]: "replica of " + primary["Arn"],
            found["Arn"]: "discovered"}
    wait_until(lambda: origins() == both, 30,
               "the replica and the discovered key watched", d=d)
    d.signal(signal.SIGHUP)
    d.wait_log("reloaded: 3 keys")
    d.mark()
    assert origins() == both
    # The replica listed under keys: the configured entry takes over.
    cfg.doc["keys"] = [key_entry(primary, "gs"), key_entry(rep, "gs-us")]
    cfg.write()
    d.signal(signal.SIGHUP)
    d.wait_log("reloaded: 3 keys", count=2)
    d.mark()
    assert origins() == {primary["Arn"]: "configured",
                         rep["Arn"]: "configured",
                         found["Arn"]: "discovered"}
    # Back as a replica; then its primary leaves keys: and it goes with
    # it, while the discovered key stays.
    cfg.doc["keys"] = [key_entry(primary, "gs")]
    cfg.write()
    d.signal(signal.SIGHUP)
    wait_until(lambda: origins() == both, 30, "the replica again", d=d)
    cfg.doc["keys"] = []
    cfg.write()
    d.signal(signal.SIGHUP)
    wait_until(lambda: rep["Arn"] not in origins() and
               origins().get(found["Arn"]) == "discovered", 30,
               "the replica gone, the discovered key kept", d=d)
    # Without discover:, the discovered keys leave too.
    cfg.doc["keys"] = [key_entry(primary, "gs")]
    del cfg.doc["discover"]
    cfg.write()
    d.signal(signal.SIGHUP)
    wait_until(lambda: origins() == {
        primary["Arn"]: "configured",
        rep["Arn"]: "replica of " + primary["Arn"]}, 30,
        "the discovered key gone, the replica back", d=d)


def test_daemon_restart_keeps_a_discovered_keys_alert_firing(
        emu, kh_config, daemon, free_port, webhook_receiver):
    a = seed_gearset_key(emu, alias="alias/a", KeyState="Disabled")
    recv = webhook_receiver(port=pick_free_port())
    cfg = daemon_config(emu, kh_config, free_port)
    cfg.doc["notifiers"] = [{"type": "webhook", "url": recv.url}]
    cfg.write()
    d = daemon(cfg, timeout=120)
    hooks = recv.wait_for(1, timeout=30)
    assert (hooks[0]["json"]["status"], hooks[0]["json"]["check"]) == \
        ("firing", "key-disabled")
    d.signal(signal.SIGTERM)
    d.wait(timeout=20)
    # At the next start the key is not known until discovery finds it
    # again: its alert must not resolve meanwhile.
    d = daemon(cfg, timeout=120, name="keyhealthd-again")
    d.wait_log("discover: watching key a", timeout=30)
    d.wait_log("discover: run done", count=2, timeout=30)
    time.sleep(1)
    assert [(h["json"]["status"], h["json"]["check"])
            for h in recv.accepted()] == [("firing", "key-disabled")]
    assert "resolved" not in d.log()
