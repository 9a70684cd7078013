"""KMS answers that are not a verdict about the watched key: an answer for
another key, account or region; an answer without the fields the checks
judge by; a NotFoundException that is not KMS's (a 5xx, an HTML page).
Each is check-failed (unknown), never OK and never a critical verdict.
"""
import json

import pytest

from fixture_keyhealthd import seed_keys

FAST_KMS = {"timeout": "2s", "connect_timeout": "1s", "max_attempts": 2}
OTHER_ACCOUNT = "444455556666"


def findings(k, name):
    return {f["check"]: f for f in k.key(name)["findings"]}


def all_ok(k):
    keys = k.status()["keys"]
    return keys and all(x["status"] == "ok" for x in keys)


def start(kmsemu, keyhealthd, n=1):
    keys = seed_keys(kmsemu, n)
    k = keyhealthd(kmsemu, keys, extra={"interval": "1s", "kms": FAST_KMS})
    k.wait_until(lambda: all_ok(k), timeout=30, what="all keys ok")
    return k, keys


def key_id(arn):
    return arn.rsplit("/", 1)[1]


def describe_body(arn, state="Enabled", drop=()):
    """A DescribeKey answer as KMS sends it, for arn."""
    part, _, _, region, account, res = arn.split(":", 5)
    meta = {"AWSAccountId": account, "KeyId": res.split("/", 1)[1],
            "Arn": arn, "CreationDate": 1700000000.0,
            "Enabled": state == "Enabled", "Description": "",
            "KeyUsage": "ENCRYPT_DECRYPT", "KeyState": state,
            "Origin": "AWS_KMS", "KeyManager": "CUSTOMER",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "MultiRegion": False}
    for f in drop:
        meta.pop(f, None)
    return json.dumps({"KeyMetadata": meta})


def answer_describe(kmsemu, arn, body, status=200,
                    content_type="application/x-amz-json-1.1"):
    """Every DescribeKey of arn (not of its alias) gets body."""
    kmsemu.client.fault(action="raw", operation="DescribeKey",
                        key_id=key_id(arn), duration=120, status=status,
                        content_type=content_type, body=body)


def wait_check_failed(k, name, timeout=40):
    cf = k.wait_until(lambda: findings(k, name).get("check-failed"),
                      timeout=timeout, what="check-failed on %s" % name)
    assert cf["severity"] == "unknown"
    return cf


def codes(cf):
    return {e["code"] for e in cf["details"]["errors"]}


def other_key(kmsemu, arn, how):
    """The ARN of another key: a real one of the same account, or the
    same id in another account or region."""
    part, svc, _, region, account, res = arn.split(":", 5)
    if how == "another-key":
        return kmsemu.client.seed_key(region=region,
                                      KeyState="Enabled")["Arn"]
    if how == "another-account":
        return ":".join([part, svc, "kms", region, OTHER_ACCOUNT, res])
    return ":".join([part, svc, "kms", "us-west-2", account, res])


@pytest.mark.parametrize("how", ["another-key", "another-account",
                                 "another-region"])
def test_describe_answer_for_another_key_is_check_failed_not_ok(
        kmsemu, keyhealthd, how):
    k, keys = start(kmsemu, keyhealthd)
    arn = keys[0]["arn"]
    # The watched key is disabled; the answer says another key is fine.
    answer_describe(kmsemu, arn, describe_body(other_key(kmsemu, arn, how)))
    kmsemu.client.update_key(arn, KeyState="Disabled")
    cf = wait_check_failed(k, "k0")
    assert "KeyMismatch" in codes(cf), cf
    assert k.key("k0")["status"] != "ok"
    # The true answer again: the disabled key is reported.
    kmsemu.client.clear_faults()
    k.wait_until(lambda: "key-disabled" in findings(k, "k0"), timeout=40,
                 what="key-disabled once KMS answers for the key")


@pytest.mark.parametrize("drop", [("KeySpec", "CustomerMasterKeySpec"),
                                  ("KeyUsage",)])
def test_describe_answer_without_key_spec_or_usage_is_check_failed(
        kmsemu, keyhealthd, drop):
    k, keys = start(kmsemu, keyhealthd)
    arn = keys[0]["arn"]
    answer_describe(kmsemu, arn, describe_body(arn, drop=drop))
    cf = wait_check_failed(k, "k0")
    fs = findings(k, "k0")
    assert "key-misconfigured" not in fs, fs
    assert {e["class"] for e in cf["details"]["errors"]} == {"malformed"}, cf


NOT_KMS_NOT_FOUND = {
    # a 5xx whose JSON names NotFoundException: a server failure
    "http-500-json": (500, "application/x-amz-json-1.1"),
    # a proxy's HTML page that happens to carry the same text
    "http-400-html": (400, "text/html"),
}


@pytest.mark.parametrize("page", sorted(NOT_KMS_NOT_FOUND))
def test_not_found_outside_a_kms_400_is_not_key_deleted(
        kmsemu, keyhealthd, page):
    status, ctype = NOT_KMS_NOT_FOUND[page]
    k, keys = start(kmsemu, keyhealthd)
    body = json.dumps({"__type": "NotFoundException",
                       "message": "Key '%s' does not exist" % keys[0]["arn"]})
    answer_describe(kmsemu, keys[0]["arn"], body, status=status,
                    content_type=ctype)
    cf = wait_check_failed(k, "k0")
    assert "key-deleted" not in findings(k, "k0")
    assert "NotFoundException" not in codes(cf), cf
    assert "key-deleted" not in k.log()
