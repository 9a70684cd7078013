"""Every way a vendor's BYOK key can break, made real in the KMS emulator
and detected by `keyhealthd check --json` (the real binary, its real KMS
client and checks): check id, severity, key status, exit code and the
details that matter.  And no false alarms on a healthy key.

One emulator serves the module; each test starts from client.reset().
"""
import calendar
import json
import math
import os
import re
import stat
import time

import pytest

from fixture_daemon import (ACCOUNT, GEARSET, GRANT_SID, USE_SID,
                            checks_of, finding, gearset_policy, key_entry,
                            key_result, seed_gearset_key, statement)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ALIAS = "alias/gearset-backup"
EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3


@pytest.fixture
def emu(kmsemu_session):
    kmsemu_session.client.reset()
    yield kmsemu_session
    kmsemu_session.client.reset()


_clients = {}


def kms(emu, region="eu-west-1"):
    """A boto3 KMS client (the customer's admin) for the emulator."""
    key = (emu.url, region)
    if key not in _clients:
        _clients[key] = emu.kms_client(region=region)
    return _clients[key]


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def parse_rfc3339(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def healthy(emu, kh_config, name="gearset-eu", region="eu-west-1",
            alias=ALIAS, expect_rotation=True, **meta):
    """A healthy Gearset key and a config watching it: (meta, config)."""
    meta.setdefault("KeyRotationEnabled", True)
    m = seed_gearset_key(emu, region=region, alias=alias, **meta)
    cfg = kh_config(emu, [key_entry(m, name, alias=alias,
                                    expect_rotation=expect_rotation)])
    return m, cfg


def only(doc, name="gearset-eu"):
    assert doc["status"] == key_result(doc, name)["status"]
    return key_result(doc, name)


def assert_single(doc, check, severity, rc, want_rc, name="gearset-eu"):
    """Exactly one finding, check, with severity; exit code want_rc."""
    k = only(doc, name)
    assert checks_of(k) == [check], json.dumps(k, indent=1)
    f = finding(k, check)
    assert f["severity"] == severity
    assert k["status"] == severity
    assert doc["status"] == severity
    assert rc == want_rc
    assert "\n" not in f["summary"] and f["summary"]
    return k, f


def put_policy(emu, m, policy, region="eu-west-1"):
    kms(emu, region).put_key_policy(KeyId=m["KeyId"], PolicyName="default",
                                    Policy=json.dumps(policy))


# -- healthy -----------------------------------------------------------------

def test_healthy_gearset_key_exits_0_without_findings(emu, kh_config,
                                                      kh_check):
    m, cfg = healthy(emu, kh_config)
    rc, doc, err = kh_check(cfg)
    assert rc == EXIT_OK, err
    k = only(doc)
    assert k["findings"] == []
    assert k["status"] == "ok" and doc["status"] == "ok"
    assert k["state"] == "Enabled"
    assert k["arn"] == m["Arn"]
    assert k["region"] == "eu-west-1" and k["account"] == ACCOUNT
    assert RFC3339.match(k["polled_at"])
    assert abs(parse_rfc3339(k["polled_at"]) - time.time()) < 60


def test_healthy_keys_in_every_gearset_region(emu, kh_config, kh_check):
    keys = []
    for region in sorted(GEARSET):
        m = seed_gearset_key(emu, region=region, KeyRotationEnabled=True)
        keys.append(key_entry(m, "gs-" + region, expect_rotation=True))
    rc, doc, err = kh_check(kh_config(emu, keys))
    assert rc == EXIT_OK, err
    assert [k["findings"] for k in doc["keys"]] == [[]] * len(GEARSET)


def test_check_writes_nothing(emu, kh_config, kh_check):
    m, cfg = healthy(emu, kh_config)
    rc, doc, err = kh_check(cfg)
    assert rc == EXIT_OK
    assert not os.path.exists(cfg.state_dir)


def test_check_reports_a_corrupt_state_file_and_leaves_it(emu, kh_config,
                                                          kh_check,
                                                          kh_baseline):
    m, cfg = healthy(emu, kh_config)
    assert kh_baseline(cfg, "--all").returncode == 0
    keys = os.path.join(cfg.state_dir, "keys")
    (name,) = os.listdir(keys)
    with open(os.path.join(keys, name), "w") as f:
        f.write("{garbage")
    os.chmod(os.path.join(keys, name), 0o644)
    rc, doc, err = kh_check(cfg)
    # Read-only: no file moved aside, no mode fixed; the key is checked
    # without a baseline, and the log says why.
    assert os.listdir(keys) == [name]
    assert stat.S_IMODE(os.stat(os.path.join(keys, name)).st_mode) == 0o644
    assert "corrupt" in err and name in err
    assert rc == EXIT_OK and only(doc)["findings"] == []


# -- key state -----------------------------------------------------------------

def test_disabled_key_is_key_disabled_critical(emu, kh_config, kh_check):
    m, cfg = healthy(emu, kh_config)
    kms(emu).disable_key(KeyId=m["KeyId"])
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "key-disabled", "critical", rc, EXIT_CRITICAL)
    assert k["state"] == "Disabled"
    assert "gearset-eu" in f["summary"] and "disabled" in f["summary"]


def test_scheduled_deletion_is_key_pending_deletion(emu, kh_config,
                                                    kh_check):
    m, cfg = healthy(emu, kh_config)
    r = kms(emu).schedule_key_deletion(KeyId=m["KeyId"],
                                       PendingWindowInDays=7)
    deletion = r["DeletionDate"].timestamp()
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "key-pending-deletion", "critical", rc,
                         EXIT_CRITICAL)
    assert k["state"] == "PendingDeletion"
    d = f["details"]
    assert RFC3339.match(d["deletion_date"])
    assert d["deletion_date"] == rfc3339(int(deletion))
    assert isinstance(d["days_left"], int)
    polled = parse_rfc3339(k["polled_at"])
    # floor((DeletionDate - now) / 1 day), now in whole seconds: 7 days
    # minus the time since scheduling, so 6 (7 within the same second).
    assert d["days_left"] in (
        math.floor((deletion - polled) / 86400),
        math.floor((deletion - polled - 1) / 86400))
    assert d["days_left"] in (6, 7)
    assert d["deletion_date"] in f["summary"]
    assert "%d days left" % d["days_left"] in f["summary"]


def test_clock_past_deletion_date_is_key_deleted(emu, kh_config, kh_check):
    m, cfg = healthy(emu, kh_config)
    kms(emu).schedule_key_deletion(KeyId=m["KeyId"], PendingWindowInDays=7)
    emu.client.skew_check("real")
    emu.client.advance(8 * 86400)
    rc, doc, _ = kh_check(cfg)
    # Its alias went with it: that is key-deleted's news, not a
    # replacement.
    k, f = assert_single(doc, "key-deleted", "critical", rc, EXIT_CRITICAL)
    assert k["state"] == "NotFound"
    assert f["details"]["code"] == "NotFoundException"


def test_cancelled_deletion_is_key_disabled(emu, kh_config, kh_check):
    m, cfg = healthy(emu, kh_config)
    kms(emu).schedule_key_deletion(KeyId=m["KeyId"], PendingWindowInDays=30)
    kms(emu).cancel_key_deletion(KeyId=m["KeyId"])
    rc, doc, _ = kh_check(cfg)
    k, _ = assert_single(doc, "key-disabled", "critical", rc, EXIT_CRITICAL)
    assert k["state"] == "Disabled"


def test_pending_replica_deletion(emu, kh_config, kh_check):
    m, cfg = healthy(emu, kh_config, KeyState="PendingReplicaDeletion",
                     MultiRegion=True, PendingDeletionWindowInDays=9)
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "key-pending-replica-deletion", "critical",
                         rc, EXIT_CRITICAL)
    assert k["state"] == "PendingReplicaDeletion"
    assert f["details"]["pending_window_days"] == 9


def test_unavailable_custom_key_store_is_key_unavailable(emu, kh_config,
                                                         kh_check):
    emu.client.add_keystore("hsm", region="eu-west-1",
                            CustomKeyStoreId="cks-1234567890abcdef0",
                            ConnectionState="DISCONNECTED")
    m, cfg = healthy(emu, kh_config, KeyState="Unavailable",
                     Origin="AWS_CLOUDHSM",
                     CustomKeyStoreId="cks-1234567890abcdef0",
                     KeyRotationEnabled=False, expect_rotation=False)
    rc, doc, _ = kh_check(cfg)
    k = only(doc)
    # The store's own finding comes with it (test_keystore.py).
    assert checks_of(k) == ["key-unavailable", "keystore-disconnected"]
    f = finding(k, "key-unavailable")
    assert f["severity"] == "critical" and rc == EXIT_CRITICAL
    assert k["state"] == "Unavailable"
    assert f["details"]["custom_key_store_id"] == "cks-1234567890abcdef0"


def test_pending_import_is_key_unavailable(emu, kh_config, kh_check):
    m, cfg = healthy(emu, kh_config, Origin="EXTERNAL",
                     KeyRotationEnabled=False, expect_rotation=False)
    assert m["KeyState"] == "PendingImport"
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "key-unavailable", "critical", rc,
                         EXIT_CRITICAL)
    assert k["state"] == "PendingImport"
    assert f["details"]["origin"] == "EXTERNAL"


# -- manual replacement ----------------------------------------------------------

def test_alias_moved_to_another_key_is_key_replaced(emu, kh_config,
                                                    kh_check):
    m, cfg = healthy(emu, kh_config)
    new = seed_gearset_key(emu, KeyRotationEnabled=True)
    kms(emu).update_alias(AliasName=ALIAS, TargetKeyId=new["KeyId"])
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "key-replaced", "critical", rc, EXIT_CRITICAL)
    assert k["state"] == "Enabled"
    d = f["details"]
    assert d["alias"] == ALIAS and d["alias_exists"] is True
    assert d["expected_key"] == m["Arn"]
    assert d["actual_key"] == new["Arn"]
    assert ALIAS in f["summary"]


def test_alias_deleted_is_key_replaced_alias_gone(emu, kh_config, kh_check):
    m, cfg = healthy(emu, kh_config)
    kms(emu).delete_alias(AliasName=ALIAS)
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "key-replaced", "critical", rc, EXIT_CRITICAL)
    assert f["details"]["alias_exists"] is False
    assert f["details"]["actual_key"] is None
    assert "no longer exists" in f["summary"]


# -- the vendor's access ---------------------------------------------------------

def test_vendor_statement_removed_is_vendor_access_missing(emu, kh_config,
                                                           kh_check):
    m, cfg = healthy(emu, kh_config)
    p = gearset_policy()
    p["Statement"] = [s for s in p["Statement"] if s.get("Sid") != USE_SID]
    put_policy(emu, m, p)
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "vendor-access-missing", "critical", rc,
                         EXIT_CRITICAL)
    d = f["details"]
    assert d["vendor"] == "gearset" and d["account"] == GEARSET["eu-west-1"]
    assert d["principal"] == "arn:aws:iam::347752291521:root"
    missing = {a["action"] for a in d["actions"] if a["status"] == "missing"}
    assert {"kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"} <= missing
    assert not missing & {"kms:CreateGrant", "kms:ListGrants",
                          "kms:RevokeGrant"}
    assert "gearset" in f["summary"] and "kms:" in f["summary"]


def test_grant_statement_without_condition_is_still_ok(emu, kh_config,
                                                       kh_check):
    # Broader than the guide asks: the vendor still gets what it needs.
    m, cfg = healthy(emu, kh_config)
    p = gearset_policy()
    del statement(p, GRANT_SID)["Condition"]
    put_policy(emu, m, p)
    rc, doc, err = kh_check(cfg)
    assert rc == EXIT_OK, err
    assert only(doc)["findings"] == []


def test_grant_condition_that_never_holds_is_vendor_access_missing(
        emu, kh_config, kh_check):
    m, cfg = healthy(emu, kh_config)
    p = gearset_policy()
    statement(p, GRANT_SID)["Condition"] = {
        "Bool": {"kms:GrantIsForAWSResource": "false"}}
    put_policy(emu, m, p)
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "vendor-access-missing", "critical", rc,
                         EXIT_CRITICAL)
    missing = {a["action"] for a in f["details"]["actions"]
               if a["status"] == "missing"}
    assert missing == {"kms:CreateGrant", "kms:ListGrants",
                       "kms:RevokeGrant"}
    assert "kms:CreateGrant" in f["summary"]


def test_deny_on_decrypt_is_vendor_access_missing_naming_the_deny(
        emu, kh_config, kh_check):
    m, cfg = healthy(emu, kh_config)
    p = gearset_policy()
    p["Statement"].append({
        "Sid": "NoVendorDecrypt", "Effect": "Deny",
        "Principal": {"AWS": "arn:aws:iam::347752291521:root"},
        "Action": "kms:Decrypt", "Resource": "*"})
    put_policy(emu, m, p)
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "vendor-access-missing", "critical", rc,
                         EXIT_CRITICAL)
    acts = [a for a in f["details"]["actions"] if a["status"] != "ok"]
    assert [a["action"] for a in acts] == ["kms:Decrypt"]
    assert "NoVendorDecrypt" in acts[0]["denied_by"]
    assert "NoVendorDecrypt" in f["summary"]
    assert "kms:Decrypt" in f["summary"]


def test_wrong_vendor_account_for_region_is_vendor_access_missing(
        emu, kh_config, kh_check):
    # Gearset's us-west-2 account granted on an eu-west-1 key.
    m, cfg = healthy(emu, kh_config)
    put_policy(emu, m, gearset_policy(GEARSET["us-west-2"]))
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "vendor-access-missing", "critical", rc,
                         EXIT_CRITICAL)
    assert f["details"]["account"] == GEARSET["eu-west-1"]
    missing = {a["action"] for a in f["details"]["actions"]
               if a["status"] == "missing"}
    assert "kms:Decrypt" in missing and "kms:CreateGrant" in missing


def test_unsupported_region_is_key_misconfigured(emu, kh_config, kh_check):
    m, cfg = healthy(emu, kh_config, region="us-east-1")
    rc, doc, _ = kh_check(cfg)
    # vendor-access-missing is not evaluated without a vendor account.
    k, f = assert_single(doc, "key-misconfigured", "critical", rc,
                         EXIT_CRITICAL)
    assert f["details"]["region"] == "us-east-1"
    assert any("us-east-1" in p for p in f["details"]["problems"])
    assert "us-east-1" in f["summary"]


@pytest.mark.parametrize("meta,field,value", [
    ({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"},
     "key_spec", "RSA_2048"),
    ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
     "key_usage", "GENERATE_VERIFY_MAC"),
    ({"KeyManager": "AWS"}, "key_manager", "AWS"),
])
def test_wrong_key_spec_or_usage_is_key_misconfigured(emu, kh_config,
                                                      kh_check, meta, field,
                                                      value):
    m, cfg = healthy(emu, kh_config, KeyRotationEnabled=False,
                     expect_rotation=False, **meta)
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "key-misconfigured", "critical", rc,
                         EXIT_CRITICAL)
    assert f["details"][field] == value
    assert value in f["summary"]


# -- rotation and material ---------------------------------------------------------

def test_rotation_off_with_expect_rotation_is_rotation_disabled(
        emu, kh_config, kh_check):
    m, cfg = healthy(emu, kh_config)
    kms(emu).disable_key_rotation(KeyId=m["KeyId"])
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "rotation-disabled", "warning", rc,
                         EXIT_WARNING)
    assert f["details"]["rotation_enabled"] is False
    # And quiet again once it is on.
    kms(emu).enable_key_rotation(KeyId=m["KeyId"])
    rc, doc, _ = kh_check(cfg)
    assert rc == EXIT_OK and only(doc)["findings"] == []


def test_rotation_off_without_expect_rotation_is_quiet(emu, kh_config,
                                                       kh_check):
    m, cfg = healthy(emu, kh_config, expect_rotation=False,
                     KeyRotationEnabled=False)
    rc, doc, _ = kh_check(cfg)
    assert rc == EXIT_OK and only(doc)["findings"] == []


@pytest.mark.parametrize("days,severity,rc_want", [
    (20, "warning", EXIT_WARNING),
    (3, "critical", EXIT_CRITICAL),
])
def test_imported_material_expiring(emu, kh_config, kh_check, days,
                                    severity, rc_want):
    valid_to = int(time.time()) + days * 86400 + 3600
    m, cfg = healthy(emu, kh_config, Origin="EXTERNAL", ValidTo=valid_to,
                     ExpirationModel="KEY_MATERIAL_EXPIRES",
                     KeyRotationEnabled=False, expect_rotation=False)
    assert m["KeyState"] == "Enabled"
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "key-material-expiring", severity, rc,
                         rc_want)
    d = f["details"]
    assert d["days_left"] == days
    assert d["valid_to"] == rfc3339(valid_to)
    assert d["expired"] is False


def test_key_material_rotated_after_baseline(emu, kh_config, kh_check,
                                             kh_baseline):
    m, cfg = healthy(emu, kh_config)
    r = kh_baseline(cfg, "gearset-eu")
    assert r.returncode == 0, r.stderr
    kms(emu).rotate_key_on_demand(KeyId=m["KeyId"])
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "key-material-rotated", "info", rc, EXIT_OK)
    d = f["details"]
    assert d["previous_material_id"] == m["CurrentKeyMaterialId"]
    assert d["current_material_id"] != m["CurrentKeyMaterialId"]


# -- the monitor's own trouble: check-failed, never a false alarm ------------------

def test_access_denied_is_check_failed(emu, kh_config, kh_check, kh_env):
    m, cfg = healthy(emu, kh_config)
    emu.client.add_account(ACCOUNT, access_key_id="AKIDDENIED00000000001",
                           secret_access_key="denied-secret-0123456789",
                           deny_actions=["kms:DescribeKey"])
    env = dict(kh_env, AWS_ACCESS_KEY_ID="AKIDDENIED00000000001",
               AWS_SECRET_ACCESS_KEY="denied-secret-0123456789")
    rc, doc, _ = kh_check(cfg, env=env)
    k, f = assert_single(doc, "check-failed", "unknown", rc, EXIT_UNKNOWN)
    assert f["details"]["code"] == "AccessDeniedException"
    assert f["details"]["operation"] == "DescribeKey"
    assert "AccessDeniedException" in f["summary"]
    assert k["state"] is None


def test_throttling_outlasting_retries_is_check_failed(emu, kh_config,
                                                       kh_check):
    m, cfg = healthy(emu, kh_config)
    emu.client.throttle("DescribeKey", count=None, duration=60)
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "check-failed", "unknown", rc, EXIT_UNKNOWN)
    d = f["details"]
    assert d["code"] == "ThrottlingException"
    assert d["class"] == "throttled"
    assert d["attempts"] == 4          # the default max_attempts
    assert "ThrottlingException" in f["summary"]
    n = emu.client.counters()["by_error"].get("ThrottlingException", 0)
    assert n >= 4


def test_kms_that_never_answers_is_check_failed_within_the_timeout(
        emu, kh_config, kh_check):
    m, cfg = healthy(emu, kh_config)
    cfg.doc["kms"] = {"connect_timeout": "1s", "timeout": "1s",
                      "max_attempts": 2}
    cfg.write()
    emu.client.fault("latency", "DescribeKey", latency=4, duration=60)
    t = time.monotonic()
    rc, doc, _ = kh_check(cfg)
    assert time.monotonic() - t < 5
    k, f = assert_single(doc, "check-failed", "unknown", rc, EXIT_UNKNOWN)
    assert f["details"]["class"] == "transport"
    assert f["details"]["attempts"] == 2


def test_throttling_that_passes_is_no_finding(emu, kh_config, kh_check):
    m, cfg = healthy(emu, kh_config)
    emu.client.throttle("DescribeKey", count=2)
    rc, doc, _ = kh_check(cfg)
    assert rc == EXIT_OK and only(doc)["findings"] == []


@pytest.mark.parametrize("key_id,secret,code", [
    ("AKIDEXAMPLE", "not-the-secret-at-all", "InvalidSignatureException"),
    ("AKIDUNKNOWN0000000000", "whatever", "UnrecognizedClientException"),
])
def test_wrong_credentials_are_check_failed(emu, kh_config, kh_check,
                                            kh_env, key_id, secret, code):
    m, cfg = healthy(emu, kh_config)
    env = dict(kh_env, AWS_ACCESS_KEY_ID=key_id,
               AWS_SECRET_ACCESS_KEY=secret)
    rc, doc, _ = kh_check(cfg, env=env)
    k, f = assert_single(doc, "check-failed", "unknown", rc, EXIT_UNKNOWN)
    assert f["details"]["code"] == code
    assert code in f["summary"]
    assert secret not in json.dumps(doc)


# -- policy drift and the baseline ------------------------------------------------

def test_policy_changed_after_baseline_then_accepted(emu, kh_config,
                                                     kh_check, kh_baseline):
    m, cfg = healthy(emu, kh_config)
    r = kh_baseline(cfg, "gearset-eu")
    assert r.returncode == 0, r.stderr
    assert "gearset-eu" in r.stdout
    rc, doc, _ = kh_check(cfg)
    assert rc == EXIT_OK and only(doc)["findings"] == []

    p = gearset_policy()
    p["Statement"].append({
        "Sid": "AuditorsRead", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
        "Action": ["kms:DescribeKey"], "Resource": "*"})
    statement(p, USE_SID)["Action"].append("kms:GetPublicKey")
    put_policy(emu, m, p)
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "policy-changed", "warning", rc, EXIT_WARNING)
    diff = f["details"]["diff"]
    assert isinstance(diff, list) and len(diff) == 2, diff
    text = "\n".join(diff)
    assert "AuditorsRead" in text and "added" in text
    assert USE_SID in text and "kms:getpublickey" in text.lower()
    assert RFC3339.match(f["details"]["baseline_accepted_at"])

    r = kh_baseline(cfg, "gearset-eu")
    assert r.returncode == 0, r.stderr
    rc, doc, _ = kh_check(cfg)
    assert rc == EXIT_OK and only(doc)["findings"] == []


def test_reformatted_policy_is_not_changed(emu, kh_config, kh_check,
                                           kh_baseline):
    m, cfg = healthy(emu, kh_config)
    assert kh_baseline(cfg, "--all").returncode == 0
    p = gearset_policy()
    p["Statement"].reverse()
    statement(p, USE_SID)["Action"].reverse()
    statement(p, USE_SID)["Principal"] = {"AWS": ["347752291521"]}
    put_policy(emu, m, p)
    rc, doc, _ = kh_check(cfg)
    assert rc == EXIT_OK and only(doc)["findings"] == []


# -- several keys, selection, output -------------------------------------------------

def several(emu, kh_config):
    ok = seed_gearset_key(emu, KeyRotationEnabled=True)
    disabled = seed_gearset_key(emu, KeyRotationEnabled=True,
                                KeyState="Disabled")
    norot = seed_gearset_key(emu, KeyRotationEnabled=False)
    pending = seed_gearset_key(emu, KeyRotationEnabled=True,
                               KeyState="PendingDeletion",
                               DeletionDate=int(time.time()) + 10 * 86400
                               + 600)
    cfg = kh_config(emu, [
        key_entry(ok, "ok-key", expect_rotation=True),
        key_entry(disabled, "disabled-key"),
        key_entry(norot, "norot-key", expect_rotation=True),
        key_entry(pending, "pending-key"),
    ])
    return cfg, {"ok-key": ok, "disabled-key": disabled,
                 "norot-key": norot, "pending-key": pending}


def test_several_keys_exit_2_and_list_each_keys_findings(emu, kh_config,
                                                         kh_check):
    cfg, keys = several(emu, kh_config)
    rc, doc, _ = kh_check(cfg)
    assert rc == EXIT_CRITICAL
    assert doc["status"] == "critical"
    assert [k["name"] for k in doc["keys"]] == list(keys)
    want = {"ok-key": ("ok", []),
            "disabled-key": ("critical", ["key-disabled"]),
            "norot-key": ("warning", ["rotation-disabled"]),
            "pending-key": ("critical", ["key-pending-deletion"])}
    for name, (status, checks) in want.items():
        k = key_result(doc, name)
        assert k["arn"] == keys[name]["Arn"]
        assert (k["status"], checks_of(k)) == (status, checks), name
    assert finding(key_result(doc, "pending-key"),
                   "key-pending-deletion")["details"]["days_left"] == 10


def test_critical_wins_over_unknown(emu, kh_config, kh_check):
    cfg, keys = several(emu, kh_config)
    emu.client.fault("error", "DescribeKey", duration=60,
                     key_id=keys["ok-key"]["KeyId"], status=400,
                     code="ThrottlingException", message="Rate exceeded")
    rc, doc, _ = kh_check(cfg)
    assert rc == EXIT_CRITICAL
    assert key_result(doc, "ok-key")["status"] == "unknown"
    # Unknown beats warning.
    rc, doc, _ = kh_check(cfg, "ok-key", "norot-key")
    assert rc == EXIT_UNKNOWN and doc["status"] == "unknown"


def test_select_keys_by_name_and_by_arn(emu, kh_config, kh_check):
    cfg, keys = several(emu, kh_config)
    rc, doc, _ = kh_check(cfg, "norot-key")
    assert rc == EXIT_WARNING
    assert [k["name"] for k in doc["keys"]] == ["norot-key"]
    assert doc["status"] == "warning"
    rc, doc, _ = kh_check(cfg, keys["ok-key"]["Arn"])
    assert rc == EXIT_OK
    assert [k["name"] for k in doc["keys"]] == ["ok-key"]
    # Both forms at once; config order.
    rc, doc, _ = kh_check(cfg, "pending-key", keys["ok-key"]["Arn"])
    assert rc == EXIT_CRITICAL
    assert [k["name"] for k in doc["keys"]] == ["ok-key", "pending-key"]
    # Only the selected keys are polled.
    emu.client.clear_requests()
    kh_check(cfg, "ok-key")
    ours = {m["Arn"] for m in keys.values()}
    polled = {r.get("key_id") for r in emu.client.requests()
              if r["operation"] == "DescribeKey"} & ours
    assert polled == {keys["ok-key"]["Arn"]}


def test_unknown_key_name_exits_3_with_a_message(emu, kh_config, kh_check):
    cfg, keys = several(emu, kh_config)
    emu.client.clear_requests()
    rc, out, err = kh_check(cfg, "ok-key", "no-such-key")
    assert rc == EXIT_UNKNOWN
    assert out == ""
    assert "no-such-key" in err and "no key named" in err
    assert cfg.path in err
    ours = {m["Arn"] for m in keys.values()}
    assert [r for r in emu.client.requests()
            if r.get("key_id") in ours] == []


def test_table_output_is_readable(emu, kh_config, kh_check):
    cfg, keys = several(emu, kh_config)
    rc, out, err = kh_check(cfg, json_out=False)
    assert rc == EXIT_CRITICAL
    lines = out.splitlines()
    assert re.match(r"^KEY\s+STATE\s+STATUS$", lines[0]), out
    rows = {l.split()[0]: l.split() for l in lines[1:] if l[:1] != " "}
    assert rows["ok-key"][1:] == ["Enabled", "ok"]
    assert rows["disabled-key"][1:] == ["Disabled", "critical"]
    assert rows["norot-key"][1:] == ["Enabled", "warning"]
    assert rows["pending-key"][1:] == ["PendingDeletion", "critical"]
    assert re.search(r"^\s+critical\s+key-disabled: key disabled-key is "
                     r"disabled", out, re.M), out
    assert re.search(r"^\s+warning\s+rotation-disabled: ", out, re.M)
    assert re.search(r"^\s+critical\s+key-pending-deletion: .*10 days left",
                     out, re.M)
    assert err == ""
    # Columns line up: STATE starts at the same offset on every key row.
    col = lines[0].index("STATE")
    for l in lines[1:]:
        if l[:1] != " ":
            assert l[col - 2:col] == "  " and l[col] != " ", out


# -- no false alarms: policies that grant the vendor what it needs, written
# -- differently from the guide ------------------------------------------------

def _variant(name):
    p = gearset_policy()
    use, grant = statement(p, USE_SID), statement(p, GRANT_SID)
    if name == "bare-account-principal":
        use["Principal"] = {"AWS": "347752291521"}
    elif name == "kms-star-action":
        use["Action"] = "kms:*"
    elif name == "anyone-with-caller-account-condition":
        use["Principal"] = "*"
        use["Condition"] = {"StringEquals": {
            "kms:CallerAccount": "347752291521"}}
    elif name == "condition-as-json-boolean":
        grant["Condition"] = {"Bool": {"kms:GrantIsForAWSResource": True}}
    elif name == "deny-everyone-else-by-notprincipal":
        p["Statement"].append({
            "Sid": "OnlyUs", "Effect": "Deny",
            "NotPrincipal": {"AWS": ["arn:aws:iam::347752291521:root",
                                     "arn:aws:iam::%s:root" % ACCOUNT]},
            "Action": "kms:*", "Resource": "*"})
    elif name == "deny-of-another-action":
        p["Statement"].append({
            "Sid": "NoDeletion", "Effect": "Deny", "Principal": "*",
            "Action": "kms:ScheduleKeyDeletion", "Resource": "*"})
    elif name == "deny-plain-http":
        p["Statement"].append({
            "Sid": "TLSOnly", "Effect": "Deny", "Principal": "*",
            "Action": "kms:*", "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    return p


@pytest.mark.parametrize("variant", [
    "bare-account-principal", "kms-star-action",
    "anyone-with-caller-account-condition", "condition-as-json-boolean",
    "deny-everyone-else-by-notprincipal", "deny-of-another-action",
    "deny-plain-http"])
def test_equivalent_policies_are_no_finding(emu, kh_config, kh_check,
                                            variant):
    m, cfg = healthy(emu, kh_config)
    emu.client.set_policy(m["KeyId"], json.dumps(_variant(variant)),
                          region="eu-west-1")
    rc, doc, err = kh_check(cfg)
    assert rc == EXIT_OK, err
    assert only(doc)["findings"] == []


@pytest.mark.parametrize("condition,what", [
    ({"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}},
     "aws:SourceVpce"),
    ({"FooEquals": {"aws:PrincipalTag/x": "1"}}, "FooEquals"),
])
def test_policy_nobody_can_decide_is_check_failed_not_critical(
        emu, kh_config, kh_check, condition, what):
    m, cfg = healthy(emu, kh_config)
    p = gearset_policy()
    statement(p, USE_SID)["Condition"] = condition
    put_policy(emu, m, p)
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "check-failed", "unknown", rc, EXIT_UNKNOWN)
    assert f["details"]["operation"] == "PolicyEvaluation"
    assert "cannot tell" in f["summary"] and what in f["summary"]


def test_custom_vendor_profile(emu, kh_config, kh_check):
    m = seed_gearset_key(emu, policy={
        "Version": "2012-10-17", "Statement": [
            {"Sid": "Admin", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCOUNT},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "Acme", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
             "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]})
    vendors = {"acme": {"accounts": {"eu-west-1": "123456789012"},
                        "require": [
                            {"actions": ["kms:Encrypt", "kms:Decrypt"]},
                            {"actions": ["kms:CreateGrant"],
                             "condition": {"Bool": {
                                 "kms:GrantIsForAWSResource": "true"}}}]}}
    cfg = kh_config(emu, [key_entry(m, "acme-key", vendor="acme")],
                    vendors=vendors)
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "vendor-access-missing", "critical", rc,
                         EXIT_CRITICAL, name="acme-key")
    assert f["details"]["vendor"] == "acme"
    assert [a["action"] for a in f["details"]["actions"]] == \
        ["kms:CreateGrant"]


@pytest.mark.parametrize("state", ["Creating", "Updating"])
def test_transient_key_states_are_quiet(emu, kh_config, kh_check, state):
    m, cfg = healthy(emu, kh_config, KeyState=state)
    rc, doc, err = kh_check(cfg)
    assert rc == EXIT_OK, err
    assert only(doc)["state"] == state and only(doc)["findings"] == []


def test_imported_material_past_valid_to_is_key_unavailable(emu, kh_config,
                                                            kh_check):
    m, cfg = healthy(emu, kh_config, Origin="EXTERNAL",
                     ValidTo=int(time.time()) + 2 * 86400,
                     ExpirationModel="KEY_MATERIAL_EXPIRES",
                     KeyRotationEnabled=False, expect_rotation=False)
    emu.client.skew_check("real")
    emu.client.advance(3 * 86400)
    rc, doc, _ = kh_check(cfg)
    k, f = assert_single(doc, "key-unavailable", "critical", rc,
                         EXIT_CRITICAL)
    assert k["state"] == "PendingImport"


# -- credentials through a role in the key's account -------------------------------

ROLE = "arn:aws:iam::444455556666:role/keyhealthd-ro"


def _cross_account(emu, kh_config, trust):
    emu.client.add_role(ROLE, trust=trust)
    other = seed_gearset_key(emu, account="444455556666",
                             KeyRotationEnabled=True)
    home = seed_gearset_key(emu, KeyRotationEnabled=True)
    cfg = kh_config(emu, [key_entry(home, "home"),
                          key_entry(other, "other",
                                    aws={"assume_role": ROLE})],
                    aws={"sts_endpoint_url": emu.url,
                         "region": "eu-west-1"})
    return cfg


def test_key_in_another_account_through_assume_role(emu, kh_config,
                                                    kh_check):
    cfg = _cross_account(emu, kh_config, [ACCOUNT])
    rc, doc, err = kh_check(cfg)
    assert rc == EXIT_OK, err
    assert [k["findings"] for k in doc["keys"]] == [[], []]
    ops = {(r["operation"], r["account"]) for r in emu.client.requests()
           if r["status"] == 200}
    assert ("AssumeRole", ACCOUNT) in ops
    assert ("DescribeKey", "444455556666") in ops


def test_assume_role_refused_is_check_failed(emu, kh_config, kh_check):
    cfg = _cross_account(emu, kh_config, ["999999999999"])
    rc, doc, err = kh_check(cfg)
    assert rc == EXIT_UNKNOWN
    assert key_result(doc, "home")["findings"] == []
    f = finding(key_result(doc, "other"), "check-failed")
    assert f["details"]["class"] == "auth"
    assert "AssumeRole" in f["summary"] and "AccessDenied" in f["summary"]


def test_table_shows_deleted_and_unknown_keys(emu, kh_config, kh_check):
    gone = seed_gearset_key(emu)
    slow = seed_gearset_key(emu)
    cfg = kh_config(emu, [key_entry(gone, "gone"), key_entry(slow, "slow")])
    emu.client.delete_key(gone["KeyId"], region="eu-west-1")
    emu.client.fault("error", "DescribeKey", duration=60,
                     key_id=slow["KeyId"], status=400,
                     code="ThrottlingException", message="Rate exceeded")
    rc, out, err = kh_check(cfg, json_out=False)
    assert rc == EXIT_CRITICAL
    rows = {l.split()[0]: l.split() for l in out.splitlines()[1:]
            if l[:1] != " "}
    assert rows["gone"][1:] == ["NotFound", "critical"]
    assert rows["slow"][1:] == ["-", "unknown"]
    assert re.search(r"^\s+unknown\s+check-failed: .*ThrottlingException",
                     out, re.M), out


@pytest.mark.parametrize("resource,ok", [
    ("{arn}", True),
    ("arn:aws:kms:eu-west-1:%s:key/*" % ACCOUNT, True),
    ("arn:aws:kms:eu-west-1:%s:key/00000000-0000-0000-0000-000000000000"
     % ACCOUNT, False),
])
def test_statement_resource_names_the_key(emu, kh_config, kh_check,
                                          resource, ok):
    m, cfg = healthy(emu, kh_config)
    p = gearset_policy()
    for s in p["Statement"]:
        s["Resource"] = resource.format(arn=m["Arn"])
    emu.client.set_policy(m["KeyId"], json.dumps(p), region="eu-west-1")
    rc, doc, _ = kh_check(cfg)
    if ok:
        assert rc == EXIT_OK and only(doc)["findings"] == []
    else:
        assert_single(doc, "vendor-access-missing", "critical", rc,
                      EXIT_CRITICAL)
