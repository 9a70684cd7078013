"""Grants on the vendor's key, through the real daemon and its real KMS
client against the emulator: vendor-grant-revoked and grant-changed fire
and resolve, a healthy key with grants stays quiet, ListGrants failing is
check-failed without touching the other findings, every page of a long
list is read, and the order KMS lists grants in never counts.

The emulator's config pages ListGrants by grants_page_size (so a handful
of grants take several pages) and lists them newest first with
grants_reverse.
"""
import json
import os
import re
import signal
import time
import urllib.request

import pytest

from conftest import pick_free_port
from fixture_daemon import (ACCOUNT, GEARSET, checks_of, finding, key_entry,
                            key_result, seed_gearset_key)

VENDOR = GEARSET["eu-west-1"]
EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3
FAST = 1.0


@pytest.fixture
def emu(kmsemu_session):
    kmsemu_session.client.reset()
    yield kmsemu_session
    kmsemu_session.client.reset()


def kms(emu):
    """A boto3 KMS client of the key's account (the customer's admin)."""
    return emu.kms_client(region="eu-west-1")


def vendor_grant(ops=("Decrypt", "Encrypt", "GenerateDataKey"), **kw):
    """A grant the vendor's AWS service holds (grantee in its account)."""
    g = {"GranteePrincipal": "arn:aws:iam::%s:role/gearset-backup" % VENDOR,
         "Operations": list(ops)}
    g.update(kw)
    return g


def role_grant(role="app", ops=("Decrypt",)):
    return {"GranteePrincipal": "arn:aws:iam::%s:role/%s" % (ACCOUNT, role),
            "Operations": list(ops)}


def grants_key(emu, kh_config, grants, name="gs", **top):
    m = seed_gearset_key(emu, Grants=grants)
    cfg = kh_config(emu, [key_entry(m, name)], **top)
    return m, cfg


def all_grants(emu, m):
    return [g for p in kms(emu).get_paginator("list_grants").paginate(
        KeyId=m["KeyId"]) for g in p["Grants"]]


def grant_ids(emu, m):
    return [g["GrantId"] for g in all_grants(emu, m)]


def list_grants_requests(emu):
    return [r for r in emu.client.requests(operation="ListGrants")]


def only(doc, name="gs"):
    return key_result(doc, name)


def vendor_grants(emu, m):
    return [g for g in all_grants(emu, m) if VENDOR in g["GranteePrincipal"]]


def revoke_vendor_grant_while_running(emu, m, d):
    """With daemon d healthy, revokes the vendor's one grant and waits for
    the alert; returns the grant as it was."""
    d.wait_notify("STATUS", lambda v: "1 ok" in v, timeout=10)
    (vg,) = vendor_grants(emu, m)
    kms(emu).revoke_grant(KeyId=m["KeyId"], GrantId=vg["GrantId"])
    d.wait_log("critical: vendor-grant-revoked on key gs",
               timeout=4 * FAST + 5)
    return vg


# -- no false alarm ------------------------------------------------------------

def test_healthy_key_with_grants_is_ok_and_shows_them(emu, kh_config,
                                                      kh_check, kh_baseline):
    m, cfg = grants_key(emu, kh_config, [vendor_grant(), vendor_grant(
        ops=["Decrypt"]), role_grant()])
    rc, doc, err = kh_check(cfg)
    assert rc == EXIT_OK, err
    k = only(doc)
    assert k["findings"] == []
    assert k["grants"]["count"] == 3 and k["grants"]["vendor"] == 2
    assert len(k["grants"]["digest"]) == 64
    r = kh_baseline(cfg)
    assert r.returncode == 0, r.stderr
    assert "and its 3 grants as the baseline" in r.stdout
    rc, doc2, err = kh_check(cfg)
    assert rc == EXIT_OK, err
    assert only(doc2)["findings"] == []
    assert only(doc2)["grants"]["digest"] == k["grants"]["digest"]
    # The set is on disk under grants/, the key's file names its digest.
    gdir = os.path.join(cfg.state_dir, "grants")
    (gname,) = os.listdir(gdir)
    with open(os.path.join(gdir, gname)) as f:
        stored = json.load(f)
    assert stored["arn"] == m["Arn"]
    assert stored["digest"] == k["grants"]["digest"]
    assert sorted(g["id"] for g in stored["grants"]) == sorted(
        grant_ids(emu, m))
    with open(os.path.join(cfg.state_dir, "keys", gname)) as f:
        assert json.load(f)["baseline"]["grants"]["digest"] == \
            k["grants"]["digest"]


def test_grants_listed_in_another_order_are_no_change(emu, kh_config,
                                                      kh_check, kh_baseline):
    m, cfg = grants_key(emu, kh_config, [vendor_grant(), role_grant("a"),
                                         role_grant("b"), role_grant("c")])
    assert kh_baseline(cfg).returncode == 0
    forward = grant_ids(emu, m)
    emu.client.config(grants_reverse=True, grants_page_size=3)
    assert grant_ids(emu, m) == forward[::-1]
    emu.client.clear_requests()
    rc, doc, err = kh_check(cfg)
    assert rc == EXIT_OK, err
    assert only(doc)["findings"] == []
    # Over two pages, in the other order.
    assert len(list_grants_requests(emu)) == 2


def test_every_page_of_a_long_grant_list_is_read(emu, kh_config, kh_check,
                                                 kh_baseline):
    emu.client.config(grants_page_size=7)
    grants = [role_grant("r%02d" % i) for i in range(40)] + [vendor_grant()]
    m, cfg = grants_key(emu, kh_config, grants)
    assert kh_baseline(cfg).returncode == 0
    emu.client.clear_requests()
    # The vendor's grant is the last one listed: on the sixth page.
    rc, doc, err = kh_check(cfg)
    assert rc == EXIT_OK, err
    assert only(doc)["grants"]["count"] == 41
    assert only(doc)["grants"]["vendor"] == 1
    assert len(list_grants_requests(emu)) == 6
    vendor_id = vendor_grants(emu, m)[0]["GrantId"]
    kms(emu).revoke_grant(KeyId=m["KeyId"], GrantId=vendor_id)
    rc, doc, err = kh_check(cfg)
    assert rc == EXIT_CRITICAL, err
    assert checks_of(only(doc)) == ["vendor-grant-revoked"]


# -- vendor-grant-revoked --------------------------------------------------------

def test_some_vendor_grants_revoked_is_a_warning_until_accepted(
        emu, kh_config, kh_check, kh_baseline):
    m, cfg = grants_key(emu, kh_config, [vendor_grant(), vendor_grant(
        ops=["Decrypt"]), role_grant()])
    assert kh_baseline(cfg).returncode == 0
    gone = [g for g in vendor_grants(emu, m)
            if g["Operations"] == ["Decrypt"]][0]
    kms(emu).revoke_grant(KeyId=m["KeyId"], GrantId=gone["GrantId"])
    rc, doc, err = kh_check(cfg)
    assert rc == EXIT_WARNING, err
    k = only(doc)
    assert checks_of(k) == ["vendor-grant-revoked"]
    f = finding(k, "vendor-grant-revoked")
    assert f["severity"] == "warning"
    d = f["details"]
    assert d["vendor"] == "gearset" and d["vendor_account"] == VENDOR
    assert d["vendor_grants"] == 1 and d["vendor_grants_baseline"] == 2
    assert [g["id"] for g in d["revoked"]] == [gone["GrantId"]]
    assert d["diff"] == ["- grant %s to %s: Decrypt" % (
        gone["GrantId"], gone["GranteePrincipal"]) +
        "; issued by arn:aws:iam::%s:root" % ACCOUNT]
    assert "1 grant of vendor gearset" in f["summary"]
    # Accepted: the remaining grants are the baseline now.
    assert kh_baseline(cfg).returncode == 0
    rc, doc, err = kh_check(cfg)
    assert rc == EXIT_OK, err
    assert only(doc)["findings"] == []


def test_vendor_grant_revoked_while_running_fires_and_resolves_on_recreate(
        emu, kh_config, daemon):
    m, cfg = grants_key(emu, kh_config, [vendor_grant(), role_grant()],
                        interval="1s", grants_interval="1s")
    port = pick_free_port()
    cfg.doc["http"] = {"listen": "127.0.0.1:%d" % port}
    cfg.write()
    d = daemon(cfg)
    vg = revoke_vendor_grant_while_running(emu, m, d)
    with urllib.request.urlopen("http://127.0.0.1:%d/status" % port,
                                timeout=5) as r:
        st = json.loads(r.read())
    k = st["keys"][0]
    assert k["grants"]["count"] == 1 and k["grants"]["vendor"] == 0
    assert "vendor-grant-revoked" in checks_of(k)
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=5) as r:
        metrics = r.read().decode()
    assert re.search(r'^keyhealthd_key_grants\{[^}]*key_name="gs"[^}]*'
                     r'kind="vendor"\} 0$', metrics, re.M), metrics
    assert re.search(r'^keyhealthd_key_grants\{[^}]*kind="all"\} 1$',
                     metrics, re.M), metrics
    # The vendor creates it again: a new id, the same access.
    kms(emu).create_grant(KeyId=m["KeyId"],
                          GranteePrincipal=vg["GranteePrincipal"],
                          Operations=vg["Operations"])
    d.wait_log("resolved: vendor-grant-revoked on key gs",
               timeout=4 * FAST + 5)
    d.wait_notify("STATUS", lambda v: "1 ok" in v, timeout=10)


def test_vendor_grant_retired_is_revoked_too(emu, kh_config, kh_check,
                                             kh_baseline):
    m, cfg = grants_key(emu, kh_config, [role_grant()])
    g = kms(emu).create_grant(KeyId=m["KeyId"],
                              GranteePrincipal="arn:aws:iam::%s:root"
                              % VENDOR, Operations=["Decrypt", "Encrypt"])
    assert kh_baseline(cfg).returncode == 0
    kms(emu).retire_grant(GrantToken=g["GrantToken"])
    rc, doc, err = kh_check(cfg)
    assert rc == EXIT_CRITICAL, err
    f = finding(only(doc), "vendor-grant-revoked")
    assert f["severity"] == "critical"
    assert f["details"]["vendor_grants"] == 0
    assert "every grant of vendor gearset" in f["summary"]


# -- grant-changed -----------------------------------------------------------------

def test_grant_to_another_principal_is_grant_changed_until_retired(
        emu, kh_config, kh_check, kh_baseline):
    m, cfg = grants_key(emu, kh_config, [vendor_grant()])
    assert kh_baseline(cfg).returncode == 0
    g = kms(emu).create_grant(
        KeyId=m["KeyId"], GranteePrincipal="arn:aws:iam::%s:role/etl"
        % ACCOUNT, RetiringPrincipal="arn:aws:iam::%s:role/ops" % ACCOUNT,
        Operations=["Decrypt"])
    rc, doc, err = kh_check(cfg)
    assert rc == EXIT_WARNING, err
    k = only(doc)
    assert checks_of(k) == ["grant-changed"]
    f = finding(k, "grant-changed")
    assert f["details"]["added"] == 1 and f["details"]["removed"] == 0
    assert f["details"]["diff"] == [
        "+ grant %s to arn:aws:iam::%s:role/etl: Decrypt; retiring "
        "arn:aws:iam::%s:role/ops; issued by arn:aws:iam::%s:root"
        % (g["GrantId"], ACCOUNT, ACCOUNT, ACCOUNT)]
    kms(emu).retire_grant(KeyId=m["Arn"], GrantId=g["GrantId"])
    rc, doc, err = kh_check(cfg)
    assert rc == EXIT_OK, err
    assert only(doc)["findings"] == []


# -- failures ------------------------------------------------------------------------

def test_list_grants_denied_is_check_failed_beside_the_other_findings(
        emu, kh_config, kh_check, kh_baseline):
    m, cfg = grants_key(emu, kh_config, [vendor_grant()])
    assert kh_baseline(cfg).returncode == 0
    kms(emu).disable_key(KeyId=m["KeyId"])
    emu.client.fault("error", "ListGrants", count=10, status=400,
                     code="AccessDeniedException",
                     message="User is not authorized to perform: "
                     "kms:ListGrants")
    rc, doc, err = kh_check(cfg)
    k = only(doc)
    assert checks_of(k) == ["check-failed", "key-disabled"]
    assert rc == EXIT_CRITICAL
    f = finding(k, "check-failed")
    assert f["details"]["operation"] == "ListGrants"
    assert f["details"]["code"] == "AccessDeniedException"
    assert "kms:ListGrants" in f["summary"]
    assert k["grants"]["error"] == "AccessDeniedException"


def test_list_grants_outage_keeps_a_firing_grant_alert(emu, kh_config,
                                                       daemon):
    m, cfg = grants_key(emu, kh_config, [vendor_grant(), role_grant()],
                        interval="1s", grants_interval="1s",
                        kms={"max_attempts": 1})
    d = daemon(cfg)
    revoke_vendor_grant_while_running(emu, m, d)
    emu.client.fault("error", "ListGrants", duration=3, status=500,
                     code="KMSInternalException", message="internal")
    d.wait_log("check-failed on key gs", timeout=4 * FAST + 5)
    emu.client.clear_faults()
    # The outage ends: check-failed resolves, the grant alert never did.
    d.wait_log("resolved: check-failed on key gs", timeout=4 * FAST + 10)
    assert "resolved: vendor-grant-revoked" not in d.log()


def test_failed_list_grants_is_asked_again_at_the_next_poll(emu, kh_config,
                                                           daemon):
    # grants_interval is an hour; one throttled ListGrants must not leave
    # check-failed standing for it.
    m, cfg = grants_key(emu, kh_config, [vendor_grant()], interval="1s",
                        kms={"max_attempts": 2})
    emu.client.fault("error", "ListGrants", duration=1.5, status=400,
                     code="ThrottlingException", message="Rate exceeded")
    d = daemon(cfg)
    d.wait_log("check-failed on key gs", timeout=10)
    d.wait_log("resolved: check-failed on key gs", timeout=4 * FAST + 5)
    n = len(list_grants_requests(emu))
    time.sleep(2.5 * FAST)
    # Then at most once per grants_interval (1h): no more requests.
    assert len(list_grants_requests(emu)) == n


# -- the emulator's grant operations -------------------------------------------------

def test_emulator_retire_and_list_grants_errors(emu):
    from botocore.exceptions import ClientError

    m = seed_gearset_key(emu)
    c = kms(emu)
    g = c.create_grant(KeyId=m["KeyId"], GranteePrincipal="arn:aws:iam::%s"
                       ":root" % VENDOR, Operations=["Decrypt"])

    def code(fn, **kw):
        with pytest.raises(ClientError) as e:
            fn(**kw)
        return e.value.response["Error"]["Code"]

    assert code(c.retire_grant, GrantToken="bogus") == \
        "InvalidGrantTokenException"
    assert code(c.retire_grant, KeyId=m["KeyId"], GrantId="nope") == \
        "InvalidGrantIdException"
    assert code(c.retire_grant, KeyId=m["KeyId"], GrantId="0" * 64) == \
        "NotFoundException"
    assert code(c.retire_grant) == "ValidationException"
    assert code(c.revoke_grant, KeyId=m["KeyId"], GrantId="x") == \
        "InvalidGrantIdException"
    assert code(c.list_grants, KeyId=m["KeyId"], Limit=101) == \
        "ValidationException"
    assert code(c.list_grants, KeyId=m["KeyId"], Marker="zzz") == \
        "InvalidMarkerException"
    assert code(c.list_grants, KeyId=m["KeyId"], GrantId="bad") == \
        "InvalidGrantIdException"
    c.retire_grant(GrantToken=g["GrantToken"])
    assert c.list_grants(KeyId=m["KeyId"])["Grants"] == []
    # The vendor's account may not retire a grant it is not named in.
    g = c.create_grant(KeyId=m["KeyId"], GranteePrincipal="arn:aws:iam::%s"
                       ":root" % VENDOR, Operations=["Decrypt"])
    assert code(c.retire_grant, GrantToken=g["GrantToken"] + "x") == \
        "InvalidGrantTokenException"
    # Pages: Truncated / NextMarker as botocore's paginator reads them.
    for i in range(5):
        c.create_grant(KeyId=m["KeyId"], GranteePrincipal="arn:aws:iam::%s"
                       ":role/r%d" % (ACCOUNT, i), Operations=["Encrypt"])
    emu.client.config(grants_page_size=2)
    pages = list(c.get_paginator("list_grants").paginate(
        KeyId=m["KeyId"]))
    assert [len(p["Grants"]) for p in pages] == [2, 2, 2]
    assert [p["Truncated"] for p in pages] == [True, True, False]


def test_reload_to_a_shorter_grants_interval_applies_at_once(emu, kh_config,
                                                             daemon):
    m, cfg = grants_key(emu, kh_config, [vendor_grant()], interval="1s")
    d = daemon(cfg)
    d.wait_notify("STATUS", lambda v: "1 ok" in v, timeout=10)
    assert len(list_grants_requests(emu)) == 1
    cfg.doc["grants_interval"] = "1s"
    cfg.write()
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 4 * FAST + 10
    while len(list_grants_requests(emu)) < 3:
        assert time.monotonic() < deadline, "ListGrants not every second"
        time.sleep(0.1)


def test_baseline_accept_while_running_resolves_grant_changed(
        emu, kh_config, daemon, kh_baseline):
    m, cfg = grants_key(emu, kh_config, [vendor_grant()], interval="1s",
                        grants_interval="1s")
    d = daemon(cfg)
    d.wait_notify("STATUS", lambda v: "1 ok" in v, timeout=10)
    kms(emu).create_grant(KeyId=m["KeyId"], GranteePrincipal=(
        "arn:aws:iam::%s:role/etl" % ACCOUNT), Operations=["Decrypt"])
    d.wait_log("warning: grant-changed on key gs", timeout=4 * FAST + 5)
    # At once: the daemon's save of the warning may still be queued on
    # its writer, and must not put the old grants digest back after this.
    r = kh_baseline(cfg, "gs")
    assert r.returncode == 0, r.stderr
    assert "and its 2 grants as the baseline" in r.stdout
    d.wait_log("resolved: grant-changed on key gs", timeout=4 * FAST + 5)
    # It stays resolved: the daemon keeps the accepted grants baseline
    # (its own saves do not write the old digest back).
    n = len(list_grants_requests(emu))
    deadline = time.monotonic() + 4 * FAST + 10
    while len(list_grants_requests(emu)) < n + 3:
        assert time.monotonic() < deadline, "no more ListGrants"
        time.sleep(0.1)
    assert d.log().count("warning: grant-changed on key gs") == 1
