"""The KMS emulator behaves like AWS for boto3, and breaks on request."""

import datetime
import http.client
import json
import os
import socket
import time
import urllib.parse

import botocore.config
import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from fixture_kmsemu import boto3_client, botocore_session
from emuclient import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, EmuError

ACCOUNT = "111122223333"
OTHER = "444455556666"
REGION = "us-east-1"


@pytest.fixture
def emu(kmsemu_session):
    """The shared emulator, reset for this test."""
    kmsemu_session.client.reset()
    return kmsemu_session


@pytest.fixture
def kms(emu):
    return emu.kms_client()


def code_of(excinfo):
    return excinfo.value.response["Error"]["Code"]


def sign(url, op, params, region=REGION, service="kms",
         access_key=DEFAULT_ACCESS_KEY, secret_key=DEFAULT_SECRET_KEY,
         token=None, when=None):
    """A KMS request signed by botocore at time when (default now)."""
    body = json.dumps(params).encode()
    host = urllib.parse.urlsplit(url).netloc
    req = AWSRequest(method="POST", url=url + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "TrentService." + op, "Host": host})
    signer = SigV4Auth(Credentials(access_key, secret_key, token), service,
                       region)
    t = datetime.datetime.utcfromtimestamp(when or time.time())
    req.context["timestamp"] = t.strftime("%Y%m%dT%H%M%SZ")
    signer._modify_request_before_signing(req)
    sig = signer.signature(signer.string_to_sign(
        req, signer.canonical_request(req)), req)
    signer._inject_signature_to_request(req, sig)
    return body, dict(req.headers.items())


def raw_call(emu, op, params, conn=None, **kw):
    body, headers = sign(emu.url, op, params, **kw)
    c = conn or http.client.HTTPConnection(emu.host, emu.port, timeout=10)
    c.request("POST", "/", body, headers)
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return r, data


# ---------------------------------------------------------------------------
# Start-up and transport

def test_fresh_emulator_prints_its_port_and_answers(kmsemu):
    assert kmsemu.port > 0
    assert kmsemu.url == "http://127.0.0.1:%d" % kmsemu.port
    assert kmsemu.client.health() == {"ok": True}
    assert os.path.exists(kmsemu.log_path)


def test_one_connection_serves_many_requests(emu):
    conn = http.client.HTTPConnection(emu.host, emu.port, timeout=10)
    for _ in range(3):
        r, data = raw_call(emu, "ListKeys", {}, conn=conn)
        assert r.status == 200
        assert json.loads(data)["Keys"] == []
        assert r.getheader("x-amzn-RequestId")
        assert r.getheader("Content-Type") == "application/x-amz-json-1.1"
    conn.close()


# ---------------------------------------------------------------------------
# Every supported operation through boto3

def test_boto3_performs_every_supported_operation(emu, kms):
    md = kms.create_key(Description="gearset backups")["KeyMetadata"]
    kid, arn = md["KeyId"], md["Arn"]
    assert md["KeyState"] == "Enabled" and md["Enabled"] is True
    assert md["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert md["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert md["KeyManager"] == "CUSTOMER" and md["Origin"] == "AWS_KMS"
    assert arn == "arn:aws:kms:%s:%s:key/%s" % (REGION, ACCOUNT, kid)
    assert len(md["CurrentKeyMaterialId"]) == 64
    assert isinstance(md["CreationDate"], datetime.datetime)

    kms.create_alias(AliasName="alias/gearset", TargetKeyId=kid)
    alias_arn = "arn:aws:kms:%s:%s:alias/gearset" % (REGION, ACCOUNT)
    for ident in (kid, arn, "alias/gearset", alias_arn):
        assert kms.describe_key(KeyId=ident)["KeyMetadata"]["KeyId"] == kid

    pol = json.loads(kms.get_key_policy(KeyId=kid,
                                        PolicyName="default")["Policy"])
    assert pol["Statement"][0]["Principal"]["AWS"] == \
        "arn:aws:iam::%s:root" % ACCOUNT
    assert pol["Statement"][0]["Action"] == "kms:*"
    new = {"Version": "2012-10-17", "Statement": [
        {"Sid": "root", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCOUNT},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Allow use of the key", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::347752291521:root"},
         "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]}
    kms.put_key_policy(KeyId=kid, PolicyName="default",
                       Policy=json.dumps(new))
    assert json.loads(kms.get_key_policy(
        KeyId=arn, PolicyName="default")["Policy"]) == new
    assert kms.list_key_policies(KeyId=kid)["PolicyNames"] == ["default"]

    assert [k["KeyId"] for k in kms.list_keys()["Keys"]] == [kid]
    md2 = kms.create_key()["KeyMetadata"]
    kms.update_alias(AliasName="alias/gearset", TargetKeyId=md2["KeyId"])
    mine = [a for a in kms.list_aliases()["Aliases"]
            if a["AliasName"] == "alias/gearset"]
    assert mine[0]["TargetKeyId"] == md2["KeyId"]
    assert mine[0]["AliasArn"] == alias_arn
    assert kms.list_aliases(KeyId=kid)["Aliases"] == []
    kms.delete_alias(AliasName="alias/gearset")
    assert kms.list_aliases(KeyId=md2["KeyId"])["Aliases"] == []

    kms.disable_key(KeyId=kid)
    md = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"]) == ("Disabled", False)
    kms.enable_key(KeyId=kid)
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"

    st = kms.get_key_rotation_status(KeyId=kid)
    assert st["KeyRotationEnabled"] is False
    kms.enable_key_rotation(KeyId=kid, RotationPeriodInDays=180)
    st = kms.get_key_rotation_status(KeyId=kid)
    assert st["KeyRotationEnabled"] is True
    assert st["RotationPeriodInDays"] == 180
    assert isinstance(st["NextRotationDate"], datetime.datetime)
    kms.disable_key_rotation(KeyId=kid)
    assert kms.get_key_rotation_status(KeyId=kid)["KeyRotationEnabled"] is \
        False

    before = kms.describe_key(KeyId=kid)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert kms.rotate_key_on_demand(KeyId=kid)["KeyId"] == kid
    after = kms.describe_key(KeyId=kid)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert after != before
    rots = kms.list_key_rotations(KeyId=kid)["Rotations"]
    assert [(r["RotationType"], r["KeyMaterialId"]) for r in rots] == [
        ("ON_DEMAND", after)]

    g = kms.create_grant(KeyId=kid, GranteePrincipal=(
        "arn:aws:iam::347752291521:root"), Operations=["Decrypt", "Encrypt"],
        Name="backup")
    grants = kms.list_grants(KeyId=kid)["Grants"]
    assert [x["GrantId"] for x in grants] == [g["GrantId"]]
    assert grants[0]["Operations"] == ["Decrypt", "Encrypt"]
    assert grants[0]["IssuingAccount"] == "arn:aws:iam::%s:root" % ACCOUNT
    kms.revoke_grant(KeyId=kid, GrantId=g["GrantId"])
    assert kms.list_grants(KeyId=kid)["Grants"] == []

    r = kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    assert r["KeyState"] == "PendingDeletion" and r["PendingWindowInDays"] == 7
    md = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert md["KeyState"] == "PendingDeletion"
    left = md["DeletionDate"] - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=6.99) < left < datetime.timedelta(days=7)
    assert kms.cancel_key_deletion(KeyId=kid)["KeyId"] == arn
    md = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert md["KeyState"] == "Disabled" and "DeletionDate" not in md
    assert kms.schedule_key_deletion(KeyId=kid)["PendingWindowInDays"] == 30


def test_list_operations_paginate_with_limit_and_marker(emu, kms):
    emu.client.config(aws_managed_aliases=False)
    ids = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)]
    for i, kid in enumerate(ids):
        kms.create_alias(AliasName="alias/k%d" % i, TargetKeyId=kid)
    seen, marker, pages = [], None, 0
    while True:
        kw = {"Limit": 2}
        if marker:
            kw["Marker"] = marker
        page = kms.list_aliases(**kw)
        pages += 1
        seen += [a["AliasName"] for a in page["Aliases"]]
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
    assert pages == 3
    assert seen == ["alias/k%d" % i for i in range(5)]
    keys = [k["KeyId"] for p in kms.get_paginator("list_keys").paginate(
        PaginationConfig={"PageSize": 2}) for k in p["Keys"]]
    assert sorted(keys) == sorted(ids)
    with pytest.raises(kms.exceptions.InvalidMarkerException):
        kms.list_keys(Marker="bogus")


def test_list_page_size_pages_below_the_limit_asked(emu, kms):
    # KMS may answer fewer items than Limit: config list_page_size makes
    # the emulator do so, and botocore's paginator follows the markers.
    emu.client.config(aws_managed_aliases=False, list_page_size=2)
    ids = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)]
    for i, kid in enumerate(ids):
        kms.create_alias(AliasName="alias/k%d" % i, TargetKeyId=kid)
    pages = list(kms.get_paginator("list_keys").paginate())
    assert [len(p["Keys"]) for p in pages] == [2, 2, 1]
    assert sorted(k["KeyId"] for p in pages for k in p["Keys"]) == \
        sorted(ids)
    page = kms.list_aliases(Limit=100)
    assert len(page["Aliases"]) == 2 and page["Truncated"]
    emu.client.config(list_page_size=None)
    assert len(kms.list_keys(Limit=1000)["Keys"]) == 5


def test_aws_managed_aliases_are_listed_without_target(emu, kms):
    aliases = kms.list_aliases()["Aliases"]
    assert "alias/aws/ebs" in [a["AliasName"] for a in aliases]
    assert all("TargetKeyId" not in a for a in aliases)


# ---------------------------------------------------------------------------
# Errors, as botocore parses them

def _key(kms, **kw):
    return kms.create_key(**kw)["KeyMetadata"]["KeyId"]


def test_botocore_parses_every_error_code(emu, kms):
    kid = _key(kms)
    ex = kms.exceptions

    def expect(exc_class, code, fn, **kw):
        with pytest.raises(exc_class) as e:
            fn(**kw)
        assert code_of(e) == code
        meta = e.value.response["ResponseMetadata"]
        assert meta["HTTPStatusCode"] == 400
        assert meta["RequestId"]
        assert e.value.response["Error"]["Message"]
        return e

    expect(ex.NotFoundException, "NotFoundException", kms.describe_key,
           KeyId="1234abcd-12ab-34cd-56ef-1234567890ab")
    expect(ex.NotFoundException, "NotFoundException", kms.describe_key,
           KeyId="alias/missing")
    expect(ex.NotFoundException, "NotFoundException", kms.describe_key,
           KeyId="not-a-key")
    expect(ex.InvalidArnException, "InvalidArnException", kms.describe_key,
           KeyId="arn:aws:kms:nonsense")
    e = expect(ex.ClientError, "ValidationException",
               kms.schedule_key_deletion, KeyId=kid, PendingWindowInDays=3)
    assert "pendingWindowInDays" in str(e.value)
    expect(ex.AlreadyExistsException, "AlreadyExistsException",
           _twice(kms.create_alias), AliasName="alias/a", TargetKeyId=kid)
    expect(ex.InvalidAliasNameException, "InvalidAliasNameException",
           kms.create_alias, AliasName="alias/aws/mine", TargetKeyId=kid)
    expect(ex.MalformedPolicyDocumentException,
           "MalformedPolicyDocumentException", kms.put_key_policy, KeyId=kid,
           PolicyName="default", Policy="{not json")
    lockout = json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root"
                                         % OTHER},
        "Action": "kms:*", "Resource": "*"}]})
    expect(ex.MalformedPolicyDocumentException,
           "MalformedPolicyDocumentException", kms.put_key_policy, KeyId=kid,
           PolicyName="default", Policy=lockout)
    kms.put_key_policy(KeyId=kid, PolicyName="default", Policy=lockout,
                       BypassPolicyLockoutSafetyCheck=True)
    expect(ex.InvalidMarkerException, "InvalidMarkerException",
           kms.list_aliases, Marker="nope")
    rsa = _key(kms, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    expect(ex.UnsupportedOperationException, "UnsupportedOperationException",
           kms.enable_key_rotation, KeyId=rsa)

    kms.disable_key(KeyId=kid)
    expect(ex.DisabledException, "DisabledException", kms.enable_key_rotation,
           KeyId=kid)
    kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    e = expect(ex.KMSInvalidStateException, "KMSInvalidStateException",
               kms.enable_key, KeyId=kid)
    assert str(e.value).endswith("is pending deletion.")
    expect(ex.KMSInvalidStateException, "KMSInvalidStateException",
           kms.create_alias, AliasName="alias/b", TargetKeyId=kid)
    other = _key(kms)
    expect(ex.KMSInvalidStateException, "KMSInvalidStateException",
           kms.cancel_key_deletion, KeyId=other)
    for _ in range(10):
        kms.rotate_key_on_demand(KeyId=other)
    expect(ex.LimitExceededException, "LimitExceededException",
           kms.rotate_key_on_demand, KeyId=other)
    # botocore validates client side; send a bad shape raw.
    r, data = raw_call(emu, "DescribeKey", {})
    assert r.status == 400
    assert json.loads(data) == {
        "__type": "ValidationException",
        "message": "1 validation error detected: Value null at 'keyId' "
                   "failed to satisfy constraint: Member must not be null"}
    r, data = raw_call(emu, "DescribeKey", {"KeyId": 5})
    assert json.loads(data)["__type"] == "SerializationException"
    r, data = raw_call(emu, "NoSuchThing", {})
    assert json.loads(data) == {"__type": "UnknownOperationException"}


def _twice(fn):
    def call(**kw):
        fn(**kw)
        fn(**kw)
    return call


def test_namespaced_error_types_parse_like_aws(emu, kms):
    emu.client.config(error_type_style="namespaced",
                      error_message_field="Message")
    r, data = raw_call(emu, "DescribeKey",
                       {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"})
    err = json.loads(data)
    assert err["__type"] == "com.amazonaws.kms#NotFoundException"
    assert err["Message"].endswith("does not exist")
    with pytest.raises(kms.exceptions.NotFoundException) as e:
        kms.describe_key(KeyId="1234abcd-12ab-34cd-56ef-1234567890ab")
    assert e.value.response["Error"]["Message"].endswith("does not exist")


# ---------------------------------------------------------------------------
# Authentication

def test_wrong_secret_is_rejected_with_invalid_signature(emu):
    bad = emu.kms_client(secret_key="wrong" + DEFAULT_SECRET_KEY[5:])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bad.list_keys()
    assert code_of(e) == "InvalidSignatureException"
    assert e.value.response["Error"]["Message"].startswith(
        "The request signature we calculated does not match the signature "
        "you provided.")
    log = emu.client.requests(operation="ListKeys")
    assert log[-1]["signature_valid"] is False
    assert log[-1]["error"] == "InvalidSignatureException"
    assert log[-1]["access_key"] == DEFAULT_ACCESS_KEY
    assert emu.client.counters()["signature_invalid"] == 1


def test_unknown_access_key_is_unrecognized_client(emu):
    bad = emu.kms_client(access_key="AKIAUNKNOWNUNKNOWN00")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bad.list_keys()
    assert code_of(e) == "UnrecognizedClientException"
    assert e.value.response["Error"]["Message"] == \
        "The security token included in the request is invalid."


def test_missing_signature_is_rejected(emu):
    c = http.client.HTTPConnection(emu.host, emu.port, timeout=10)
    c.request("POST", "/", b"{}", {"X-Amz-Target": "TrentService.ListKeys",
                                   "Content-Type":
                                   "application/x-amz-json-1.1"})
    r = c.getresponse()
    assert r.status == 400
    assert json.loads(r.read())["__type"] == \
        "MissingAuthenticationTokenException"
    c.close()


def test_requests_more_than_five_minutes_off_are_expired(emu):
    r, data = raw_call(emu, "ListKeys", {}, when=time.time() - 400)
    err = json.loads(data)
    assert (r.status, err["__type"]) == (400, "InvalidSignatureException")
    assert err["message"].startswith("Signature expired: ")
    assert err["message"].endswith(" - 5 min.)")
    r, data = raw_call(emu, "ListKeys", {}, when=time.time() + 400)
    assert json.loads(data)["message"].startswith("Signature not yet current")
    r, data = raw_call(emu, "ListKeys", {}, when=time.time() - 200)
    assert r.status == 200


def test_skew_is_measured_against_the_emulator_clock(emu, kms):
    emu.client.advance(600)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kms.list_keys()
    assert code_of(e) == "InvalidSignatureException"
    assert "Signature expired" in str(e.value)
    emu.client.skew_check("real")
    kms.list_keys()


def test_credential_scope_must_name_kms_and_a_real_region(emu):
    r, data = raw_call(emu, "ListKeys", {}, service="sts")
    assert json.loads(data)["message"] == \
        "Credential should be scoped to correct service: 'kms'. "
    r, data = raw_call(emu, "ListKeys", {}, region="nowhere")
    assert json.loads(data)["message"] == \
        "Credential should be scoped to a valid region. "


def test_keys_live_per_region_and_the_scope_region_must_match(emu):
    eu = emu.kms_client(region="eu-west-1")
    us = emu.kms_client(region="us-east-1")
    md = eu.create_key()["KeyMetadata"]
    assert md["Arn"].startswith("arn:aws:kms:eu-west-1:")
    assert eu.describe_key(KeyId=md["Arn"])["KeyMetadata"]["KeyId"] == \
        md["KeyId"]
    with pytest.raises(us.exceptions.NotFoundException) as e:
        us.describe_key(KeyId=md["Arn"])
    assert "Invalid arn eu-west-1" in str(e.value)
    with pytest.raises(us.exceptions.NotFoundException):
        us.describe_key(KeyId=md["KeyId"])
    assert us.list_keys()["Keys"] == []


def test_temporary_credentials_work_until_they_expire(emu):
    cred = emu.client.issue_credentials(lifetime=60)
    assert cred["AccessKeyId"].startswith("ASIA")
    ok = emu.kms_client(access_key=cred["AccessKeyId"],
                        secret_key=cred["SecretAccessKey"],
                        session_token=cred["SessionToken"])
    ok.list_keys()
    wrong = emu.kms_client(access_key=cred["AccessKeyId"],
                           secret_key=cred["SecretAccessKey"],
                           session_token="forged")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        wrong.list_keys()
    assert code_of(e) == "UnrecognizedClientException"
    missing = emu.kms_client(access_key=cred["AccessKeyId"],
                             secret_key=cred["SecretAccessKey"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        missing.list_keys()
    assert code_of(e) == "UnrecognizedClientException"
    emu.client.advance(61)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ok.list_keys()
    assert code_of(e) == "ExpiredTokenException"
    assert e.value.response["Error"]["Message"] == \
        "The security token included in the request is expired"


def test_identity_policies_of_a_credential_can_deny_actions(emu):
    c = emu.client.add_account(ACCOUNT, deny_actions=["kms:GetKeyPolicy"])
    kms = emu.kms_client(access_key=c["AccessKeyId"],
                         secret_key=c["SecretAccessKey"])
    kid = _key(kms)
    with pytest.raises(kms.exceptions.ClientError) as e:
        kms.get_key_policy(KeyId=kid, PolicyName="default")
    assert code_of(e) == "AccessDeniedException"
    kms.describe_key(KeyId=kid)


def test_cross_account_access_follows_the_key_policy(emu, kms):
    shared_policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root"
                                          % OTHER},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT},
         "Action": ["kms:DescribeKey", "kms:ListGrants",
                    "kms:ListKeyRotations"], "Resource": "*"}]}
    shared = emu.client.seed_key(account=OTHER, Policy=shared_policy,
                                 Aliases=["alias/shared"])
    private = emu.client.seed_key(account=OTHER)
    md = kms.describe_key(KeyId=shared["Arn"])["KeyMetadata"]
    assert md["AWSAccountId"] == OTHER
    alias_arn = "arn:aws:kms:%s:%s:alias/shared" % (REGION, OTHER)
    assert kms.describe_key(KeyId=alias_arn)["KeyMetadata"]["KeyId"] == \
        shared["KeyId"]
    assert kms.list_grants(KeyId=shared["Arn"])["Grants"] == []
    for fn, kw in ((kms.get_key_policy, {"KeyId": shared["Arn"],
                                         "PolicyName": "default"}),
                   (kms.list_aliases, {"KeyId": shared["Arn"]}),
                   (kms.describe_key, {"KeyId": private["Arn"]}),
                   (kms.get_key_rotation_status, {"KeyId": shared["Arn"]}),
                   # "Cross-account use: No" in the API reference.
                   (kms.list_key_rotations, {"KeyId": shared["Arn"]})):
        with pytest.raises(kms.exceptions.ClientError) as e:
            fn(**kw)
        assert code_of(e) == "AccessDeniedException", fn
    with pytest.raises(kms.exceptions.NotFoundException):
        kms.describe_key(KeyId=shared["KeyId"])   # a bare id is local


# ---------------------------------------------------------------------------
# Seeded metadata and the clock

def test_seeded_keys_carry_any_metadata(emu, kms):
    c = emu.client
    valid_to = time.time() + 5 * 86400
    ext = c.seed_key(Origin="EXTERNAL", ValidTo=valid_to)
    md = kms.describe_key(KeyId=ext["KeyId"])["KeyMetadata"]
    assert md["Origin"] == "EXTERNAL" and md["KeyState"] == "Enabled"
    assert md["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert abs(md["ValidTo"].timestamp() - valid_to) < 0.01
    pend = c.seed_key(Origin="EXTERNAL")
    assert kms.describe_key(KeyId=pend["KeyId"])["KeyMetadata"][
        "KeyState"] == "PendingImport"
    un = c.seed_key(KeyState="Unavailable", CustomKeyStoreId="cks-1234567890")
    md = kms.describe_key(KeyId=un["KeyId"])["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"]) == ("Unavailable", False)
    mr = c.seed_key(MultiRegion=True, ReplicaRegions=["eu-west-1"])
    assert mr["KeyId"].startswith("mrk-")
    cfg = kms.describe_key(KeyId=mr["KeyId"])["KeyMetadata"][
        "MultiRegionConfiguration"]
    assert cfg["MultiRegionKeyType"] == "PRIMARY"
    assert [r["Region"] for r in cfg["ReplicaKeys"]] == ["eu-west-1"]
    eu = emu.kms_client(region="eu-west-1")
    rep = eu.describe_key(KeyId=mr["KeyId"])["KeyMetadata"]
    assert rep["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    assert rep["MultiRegionConfiguration"]["PrimaryKey"]["Arn"] == mr["Arn"]
    prd = c.seed_key(MultiRegion=True, KeyState="PendingReplicaDeletion",
                     PendingDeletionWindowInDays=7)
    md = kms.describe_key(KeyId=prd["KeyId"])["KeyMetadata"]
    assert md["KeyState"] == "PendingReplicaDeletion"
    assert md["PendingDeletionWindowInDays"] == 7
    aws = c.seed_key(KeyManager="AWS", Aliases=["alias/aws/backup"])
    assert kms.describe_key(KeyId="alias/aws/backup")["KeyMetadata"][
        "KeyManager"] == "AWS"
    with pytest.raises(kms.exceptions.ClientError) as e:
        kms.disable_key(KeyId=aws["KeyId"])
    assert code_of(e) == "AccessDeniedException"
    c.update_key(ext["KeyId"], KeyState="Disabled")
    assert kms.describe_key(KeyId=ext["KeyId"])["KeyMetadata"][
        "KeyState"] == "Disabled"
    with pytest.raises(EmuError):
        c.seed_key(NoSuchField=1)


def test_a_key_past_its_deletion_date_is_deleted_with_its_aliases(emu, kms):
    kid = _key(kms)
    kms.create_alias(AliasName="alias/doomed", TargetKeyId=kid)
    kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    emu.client.skew_check("real")
    emu.client.advance(6 * 86400)
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == \
        "PendingDeletion"
    emu.client.advance(86400 + 1)
    with pytest.raises(kms.exceptions.NotFoundException) as e:
        kms.describe_key(KeyId=kid)
    assert "does not exist" in str(e.value)
    with pytest.raises(kms.exceptions.NotFoundException):
        kms.describe_key(KeyId="alias/doomed")
    assert "alias/doomed" not in [a["AliasName"]
                                  for a in kms.list_aliases()["Aliases"]]


def test_clock_expires_material_and_rotates_keys(emu, kms):
    c = emu.client
    c.skew_check("real")
    ext = c.seed_key(Origin="EXTERNAL", ValidTo=c.now() + 3600)
    kid = _key(kms)
    kms.enable_key_rotation(KeyId=kid, RotationPeriodInDays=90)
    first = kms.describe_key(KeyId=kid)["KeyMetadata"]["CurrentKeyMaterialId"]
    c.set_clock(c.now() + 91 * 86400)
    md = kms.describe_key(KeyId=ext["KeyId"])["KeyMetadata"]
    assert md["KeyState"] == "PendingImport" and "ValidTo" not in md
    second = kms.describe_key(KeyId=kid)["KeyMetadata"][
        "CurrentKeyMaterialId"]
    assert second != first
    assert [r["RotationType"] for r in kms.list_key_rotations(
        KeyId=kid)["Rotations"]] == ["AUTOMATIC"]
    clock = c.clock()
    assert clock["offset"] > 90 * 86400
    c.reset_clock()
    assert abs(c.now() - time.time()) < 5


# ---------------------------------------------------------------------------
# Fault injection

def test_error_faults_hit_the_next_n_matching_requests(emu, kms):
    kid = _key(kms)
    emu.client.throttle("DescribeKey", count=2)
    kms.list_keys()                      # other operations are untouched
    for _ in range(2):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            kms.describe_key(KeyId=kid)
        assert code_of(e) == "ThrottlingException"
        assert e.value.response["Error"]["Message"] == "Rate exceeded"
    kms.describe_key(KeyId=kid)
    emu.client.fault("error", status=500, code="KMSInternalException",
                     message="boom")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kms.list_keys()
    assert code_of(e) == "KMSInternalException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    faults = [r["fault"] for r in emu.client.requests() if r["fault"]]
    assert faults == ["error"] * 3
    assert emu.client.counters()["faults_injected"] == 3


def test_faults_can_last_for_a_duration(emu, kms):
    emu.client.fault("error", code="DependencyTimeoutException", status=503,
                     duration=0.6)
    for _ in range(3):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            kms.list_keys()
        assert code_of(e) == "DependencyTimeoutException"
    time.sleep(0.7)
    kms.list_keys()
    assert emu.client.faults() == []


def test_latency_fault_delays_then_serves(emu, kms):
    emu.client.fault("latency", latency=0.4)
    t = time.monotonic()
    kms.list_keys()
    assert time.monotonic() - t >= 0.4


def test_connection_reset_fault(emu):
    emu.client.fault("reset")
    body, headers = sign(emu.url, "ListKeys", {})
    c = http.client.HTTPConnection(emu.host, emu.port, timeout=10)
    c.request("POST", "/", body, headers)
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        c.getresponse().read()
    c.close()
    emu.client.fault("reset")
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        emu.kms_client().list_keys()


def test_malformed_and_html_bodies(emu):
    emu.client.fault("malformed")
    r, data = raw_call(emu, "ListKeys", {})
    assert r.status == 200
    with pytest.raises(ValueError):
        json.loads(data)
    emu.client.fault("html502")
    r, data = raw_call(emu, "ListKeys", {})
    assert r.status == 502 and r.getheader("Content-Type") == "text/html"
    assert b"502 Bad Gateway" in data
    emu.client.fault("html502")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        emu.kms_client().list_keys()
    assert code_of(e) == "502"


def test_raw_response_fault(emu):
    emu.client.fault("raw", status=503, body="upstream connect error",
                     headers={"Retry-After": "1"})
    r, data = raw_call(emu, "ListKeys", {})
    assert (r.status, data) == (503, b"upstream connect error")
    assert r.getheader("Retry-After") == "1"
    assert r.getheader("Content-Type") == "text/plain"


def test_truncated_body_fault(emu):
    emu.client.fault("truncated")
    with pytest.raises(http.client.IncompleteRead):
        raw_call(emu, "DescribeKey", {"KeyId": "x"})


def test_oversized_body_fault(emu):
    emu.client.fault("oversized", size=50 * 1024 * 1024)
    body, headers = sign(emu.url, "DescribeKey", {"KeyId": "x"})
    c = http.client.HTTPConnection(emu.host, emu.port, timeout=20)
    c.request("POST", "/", body, headers)
    r = c.getresponse()
    assert int(r.getheader("Content-Length")) == 50 * 1024 * 1024
    total = 0
    while True:
        chunk = r.read(1 << 20)
        if not chunk:
            break
        total += len(chunk)
    assert total == 50 * 1024 * 1024
    c.close()


def test_request_log_and_counters(emu, kms):
    kid = _key(kms)
    # A request of an earlier test still in flight on a loaded machine
    # is logged after the reset: wait for it, then start from here.
    n0 = len(emu.client.requests(operation="DescribeKey"))
    emu.client.clear_counters()
    kms.describe_key(KeyId=kid)
    with pytest.raises(kms.exceptions.NotFoundException):
        kms.describe_key(KeyId="alias/none")
    log = emu.client.requests(operation="DescribeKey")[n0:]
    assert [(e["status"], e["error"], e["signature_valid"], e["account"],
             e["access_key"]) for e in log] == [
        (200, None, True, ACCOUNT, DEFAULT_ACCESS_KEY),
        (400, "NotFoundException", True, ACCOUNT, DEFAULT_ACCESS_KEY)]
    assert log[0]["key_id"] == kid
    c = emu.client.counters()
    assert c["by_operation"]["DescribeKey"] == 2
    assert c["by_error"] == {"NotFoundException": 1}
    assert c["by_status"]["200"] == 1    # the DescribeKey; CreateKey was before
    emu.client.clear_counters()
    assert emu.client.counters()["total"] == 0


# ---------------------------------------------------------------------------
# Credential endpoints

@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE",
                       str(tmp_path / "none-credentials"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_METADATA_SERVICE_TIMEOUT", "5")
    return monkeypatch


def provider_kms(emu):
    """A KMS client whose credentials come from botocore's provider chain,
    with STS sent to the emulator as AWS_ENDPOINT_URL_STS would do."""
    s = botocore_session()
    url = emu.url

    def to_emulator(request, **kwargs):
        parts = urllib.parse.urlsplit(request.url)
        if not request.url.startswith(url):
            request.url = url + parts.path + (
                "?" + parts.query if parts.query else "")

    s.register("before-sign.sts", to_emulator)
    return s, boto3_client(url, access_key=None, session=s)


def assert_kms_caller(emu, kms, arn_part):
    kms.list_keys()
    last = emu.client.requests(operation="ListKeys")[-1]
    assert last["status"] == 200
    assert last["access_key"].startswith("ASIA")
    assert arn_part in last["caller"]


def test_sts_assume_role_and_caller_identity(emu):
    sts = emu.boto3_client("sts")
    ident = sts.get_caller_identity()
    assert ident["Account"] == ACCOUNT
    role = "arn:aws:iam::%s:role/keyhealthd-ro" % OTHER
    r = sts.assume_role(RoleArn=role, RoleSessionName="kh", DurationSeconds=900)
    cred = r["Credentials"]
    assert cred["AccessKeyId"].startswith("ASIA")
    assert r["AssumedRoleUser"]["Arn"] == \
        "arn:aws:sts::%s:assumed-role/keyhealthd-ro/kh" % OTHER
    left = cred["Expiration"] - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(seconds=890) < left <= datetime.timedelta(
        seconds=900)
    kms = emu.kms_client(access_key=cred["AccessKeyId"],
                         secret_key=cred["SecretAccessKey"],
                         session_token=cred["SessionToken"])
    md = kms.create_key()["KeyMetadata"]
    assert md["AWSAccountId"] == OTHER
    loose = emu.boto3_client("sts", config=botocore.config.Config(
        parameter_validation=False, retries={"total_max_attempts": 1}))
    with pytest.raises(sts.exceptions.ClientError) as e:
        loose.assume_role(RoleArn=role, RoleSessionName="x",
                          DurationSeconds=60)
    assert code_of(e) == "ValidationError"
    assert e.value.response["Error"]["Message"].startswith(
        "2 validation errors detected: ")
    emu.client.add_role("arn:aws:iam::%s:role/locked" % OTHER, trust=[OTHER])
    with pytest.raises(sts.exceptions.ClientError) as e:
        sts.assume_role(RoleArn="arn:aws:iam::%s:role/locked" % OTHER,
                        RoleSessionName="kh")
    assert code_of(e) == "AccessDenied"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    bad = emu.boto3_client("sts", secret_key="x" * 40)
    with pytest.raises(sts.exceptions.ClientError) as e:
        bad.get_caller_identity()
    assert code_of(e) == "SignatureDoesNotMatch"
    bad = emu.boto3_client("sts", access_key="AKIAUNKNOWNUNKNOWN00")
    with pytest.raises(sts.exceptions.ClientError) as e:
        bad.get_caller_identity()
    assert code_of(e) == "InvalidClientTokenId"


def test_short_lived_sts_credentials_expire(emu):
    emu.client.set_cred_lifetime(2)
    cred = emu.boto3_client("sts").assume_role(
        RoleArn="arn:aws:iam::%s:role/r" % ACCOUNT,
        RoleSessionName="kh")["Credentials"]
    kms = emu.kms_client(access_key=cred["AccessKeyId"],
                         secret_key=cred["SecretAccessKey"],
                         session_token=cred["SessionToken"])
    kms.list_keys()
    time.sleep(2.1)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kms.list_keys()
    assert code_of(e) == "ExpiredTokenException"


def test_boto3_container_provider(emu, clean_env):
    emu.client.config(container_token="Bearer sekrit")
    clean_env.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI",
                     emu.url + "/_creds/container/task-1")
    clean_env.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer sekrit")
    s, kms = provider_kms(emu)
    assert s.get_credentials().method == "container-role"
    assert_kms_caller(emu, kms, "kmsemu-container-role")


def test_boto3_imds_provider(emu, clean_env):
    clean_env.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", emu.url + "/")
    s, kms = provider_kms(emu)
    assert s.get_credentials().method == "iam-role"
    assert_kms_caller(emu, kms, "kmsemu-instance-role")
    conn = http.client.HTTPConnection(emu.host, emu.port, timeout=10)
    conn.request("GET", "/latest/meta-data/iam/security-credentials/")
    r = conn.getresponse()
    r.read()
    assert r.status == 401                # IMDSv2: a token is required
    conn.close()


def test_boto3_web_identity_provider(emu, clean_env, tmp_path):
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJub25lIn0.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY2"
                     "91bnQ6a2g6a2giLCJhdWQiOiJzdHMuYW1hem9uYXdzLmNvbSJ9.x")
    clean_env.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    clean_env.setenv("AWS_ROLE_ARN", "arn:aws:iam::%s:role/irsa" % ACCOUNT)
    clean_env.setenv("AWS_ROLE_SESSION_NAME", "kh-pod")
    clean_env.setenv("AWS_ENDPOINT_URL_STS", emu.url)
    s, kms = provider_kms(emu)
    assert_kms_caller(emu, kms, "assumed-role/irsa/kh-pod")
    assert emu.client.requests(service="sts")[-1]["operation"] == \
        "AssumeRoleWithWebIdentity"
    emu.client.config(web_identity_tokens=["another"])
    sts = emu.boto3_client("sts")
    with pytest.raises(sts.exceptions.InvalidIdentityTokenException):
        sts.assume_role_with_web_identity(
            RoleArn="arn:aws:iam::%s:role/irsa" % ACCOUNT,
            RoleSessionName="kh", WebIdentityToken="nope")


def test_boto3_assume_role_profile(emu, clean_env, tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text("[profile src]\naws_access_key_id = %s\n"
                   "aws_secret_access_key = %s\n\n[profile kh]\n"
                   "role_arn = arn:aws:iam::%s:role/keyhealthd-ro\n"
                   "source_profile = src\n"
                   % (DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, OTHER))
    clean_env.setenv("AWS_CONFIG_FILE", str(cfg))
    clean_env.setenv("AWS_PROFILE", "kh")
    s, kms = provider_kms(emu)
    assert_kms_caller(emu, kms, "assumed-role/keyhealthd-ro/")


# ---------------------------------------------------------------------------
# Throughput

def test_sustains_hundreds_of_requests_per_second(emu, kms):
    kid = _key(kms)
    n = 300
    t = time.monotonic()
    for _ in range(n):
        kms.describe_key(KeyId=kid)
    rate = n / (time.monotonic() - t)
    print("kmsemu: %.0f DescribeKey/s from one boto3 client" % rate)
    assert rate > 150


def test_control_client_errors_are_reported(emu):
    with pytest.raises(EmuError) as e:
        emu.client.key("1234abcd-12ab-34cd-56ef-1234567890ab")
    assert e.value.status == 404
    with pytest.raises(EmuError):
        emu.client.fault("explode")


def test_plain_socket_reset_is_a_real_rst(emu):
    emu.client.fault("reset")
    body, headers = sign(emu.url, "ListKeys", {})
    s = socket.create_connection((emu.host, emu.port), timeout=10)
    req = "POST / HTTP/1.1\r\n" + "".join(
        "%s: %s\r\n" % kv for kv in headers.items()) + \
        "Content-Length: %d\r\n\r\n" % len(body)
    s.sendall(req.encode() + body)
    with pytest.raises(ConnectionResetError):
        while s.recv(4096):
            pass
    s.close()


def test_seed_file_and_control_aliases(tmp_path):
    from fixture_kmsemu import EmuProcess
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({
        "accounts": [{"account": OTHER, "access_key_id": "AKIAOTHEROTHER000000",
                      "secret_access_key": "s" * 40}],
        "config": {"aws_managed_aliases": False},
        "keys": [{"account": OTHER, "region": "eu-west-1",
                  "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
                  "Aliases": ["alias/gearset-backup"],
                  "KeyRotationEnabled": True}]}))
    emu = EmuProcess(tmp_path / "kmsemu.log", ["--seed", str(seed)])
    try:
        kms = emu.kms_client(region="eu-west-1",
                             access_key="AKIAOTHEROTHER000000",
                             secret_key="s" * 40)
        md = kms.describe_key(KeyId="alias/gearset-backup")["KeyMetadata"]
        assert md["Arn"] == ("arn:aws:kms:eu-west-1:%s:key/1234abcd-12ab-"
                             "34cd-56ef-1234567890ab" % OTHER)
        assert kms.get_key_rotation_status(KeyId=md["KeyId"])[
            "KeyRotationEnabled"] is True
        emu.client.create_alias("alias/second", md["KeyId"], account=OTHER,
                                region="eu-west-1")
        assert len(kms.list_aliases()["Aliases"]) == 2
        emu.client.delete_alias("alias/second", account=OTHER,
                                region="eu-west-1")
        assert [a["AliasName"] for a in kms.list_aliases()["Aliases"]] == [
            "alias/gearset-backup"]
        emu.client.delete_key(md["KeyId"])
        with pytest.raises(kms.exceptions.NotFoundException):
            kms.describe_key(KeyId="alias/gearset-backup")
    finally:
        emu.stop()


def test_sts_errors_are_aws_xml(emu):
    c = http.client.HTTPConnection(emu.host, emu.port, timeout=10)
    c.request("POST", "/", "Action=AssumeRole&Version=2011-06-15",
              {"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    body = r.read().decode()
    assert r.status == 403
    assert body.startswith('<ErrorResponse xmlns="https://sts.amazonaws.com/'
                           'doc/2011-06-15/">')
    assert "<Code>MissingAuthenticationToken</Code>" in body
    assert "<Type>Sender</Type>" in body and "<RequestId>" in body
    c.close()


def test_imds_tokens_and_container_authorization(emu):
    c = http.client.HTTPConnection(emu.host, emu.port, timeout=10)

    def call(method, path, headers=None):
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()

    assert call("PUT", "/latest/api/token")[0] == 400
    status, tok = call("PUT", "/latest/api/token",
                       {"X-aws-ec2-metadata-token-ttl-seconds": "2"})
    assert status == 200
    hdr = {"X-aws-ec2-metadata-token": tok.decode()}
    status, role = call("GET", "/latest/meta-data/iam/security-credentials/",
                        hdr)
    assert (status, role) == (200, b"kmsemu-instance-role")
    status, body = call("GET", "/latest/meta-data/iam/security-credentials/"
                        "kmsemu-instance-role", hdr)
    cred = json.loads(body)
    assert cred["Code"] == "Success" and cred["Token"]
    assert call("GET", "/latest/meta-data/iam/security-credentials/other",
                hdr)[0] == 404
    emu.client.advance(3)
    assert call("GET", "/latest/meta-data/iam/security-credentials/",
                hdr)[0] == 401
    emu.client.config(container_token="tok")
    assert call("GET", "/_creds/container/x")[0] == 401
    assert call("GET", "/_creds/container/x", {"Authorization": "no"})[0] == 403
    status, body = call("GET", "/_creds/container/x", {"Authorization": "tok"})
    assert status == 200 and json.loads(body)["AccessKeyId"].startswith("ASIA")
    c.close()


# ---------------------------------------------------------------------------
# Imported key materials and custom key stores (emu_material, emu_keystore)

def test_imported_key_lists_every_material_with_its_state(emu, kms):
    c = emu.client
    now = time.time()
    k = c.seed_key(Origin="EXTERNAL",
                   ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    first, old, staged = "a" * 64, "b" * 64, "c" * 64
    c.set_materials(k["KeyId"], [
        {"KeyMaterialId": first, "KeyMaterialState": "NON_CURRENT",
         "ValidTo": now + 9 * 86400},
        {"KeyMaterialId": old, "KeyMaterialState": "CURRENT",
         "RotationDate": now - 86400, "RotationType": "ON_DEMAND"},
        {"KeyMaterialId": staged, "KeyMaterialState": "PENDING_ROTATION",
         "ValidTo": now + 86400}])
    md = kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
    assert md["CurrentKeyMaterialId"] == old
    # The earliest ValidTo of the materials the key keeps, not the staged.
    assert abs(md["ValidTo"].timestamp() - (now + 9 * 86400)) < 2
    assert md["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    every = kms.list_key_rotations(KeyId=k["KeyId"],
                                   IncludeKeyMaterial="ALL_KEY_MATERIAL",
                                   Limit=2)
    assert every["Truncated"] is True
    rest = kms.list_key_rotations(KeyId=k["KeyId"],
                                  IncludeKeyMaterial="ALL_KEY_MATERIAL",
                                  Marker=every["NextMarker"])
    got = every["Rotations"] + rest["Rotations"]
    assert [r["KeyMaterialId"] for r in got] == [first, old, staged]
    assert {r["ImportState"] for r in got} == {"IMPORTED"}
    # Only rotations by default.
    assert [r["KeyMaterialId"] for r in kms.list_key_rotations(
        KeyId=k["KeyId"])["Rotations"]] == [old]
    # A material past its ValidTo is deleted: the key waits for it.
    c.advance(10 * 86400)
    c.skew_check("off")
    assert kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"][
        "KeyState"] == "PendingImport"
    states = {r["KeyMaterialId"]: r["ImportState"]
              for r in kms.list_key_rotations(
                  KeyId=k["KeyId"],
                  IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]}
    assert states == {first: "PENDING_IMPORT", old: "IMPORTED",
                      staged: "PENDING_IMPORT"}


def test_custom_key_store_connects_and_its_keys_follow(emu, kms):
    sid = kms.create_custom_key_store(
        CustomKeyStoreName="hsm", CloudHsmClusterId="cluster-1a23b4cdefg",
        TrustAnchorCertificate="cert", KeyStorePassword="kmsuser1")[
        "CustomKeyStoreId"]
    st = kms.describe_custom_key_stores(CustomKeyStoreId=sid)[
        "CustomKeyStores"][0]
    assert st["ConnectionState"] == "DISCONNECTED"
    assert st["CustomKeyStoreType"] == "AWS_CLOUDHSM"
    with pytest.raises(kms.exceptions.CustomKeyStoreInvalidStateException):
        kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=sid)
    kms.connect_custom_key_store(CustomKeyStoreId=sid)
    key = kms.create_key(Origin="AWS_CLOUDHSM",
                         CustomKeyStoreId=sid)["KeyMetadata"]
    assert key["CustomKeyStoreId"] == sid and key["KeyState"] == "Enabled"
    kms.disconnect_custom_key_store(CustomKeyStoreId=sid)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"][
        "KeyState"] == "Unavailable"
    kms.connect_custom_key_store(CustomKeyStoreId=sid)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"][
        "KeyState"] == "Enabled"
    with pytest.raises(kms.exceptions.CustomKeyStoreNotFoundException):
        kms.describe_custom_key_stores(CustomKeyStoreName="nope")
    # The control API fails a store without touching its keys.
    emu.client.update_keystore(sid, region=REGION, ConnectionState="FAILED",
                               ConnectionErrorCode="NETWORK_ERRORS")
    st = kms.describe_custom_key_stores()["CustomKeyStores"][0]
    assert (st["ConnectionState"], st["ConnectionErrorCode"]) == (
        "FAILED", "NETWORK_ERRORS")
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"][
        "KeyState"] == "Enabled"
