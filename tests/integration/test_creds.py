"""lib/creds against the KMS emulator: every provider that talks to the
network, end to end, through build/tests/tools/creds_get (blocking fetcher).

Each credential set the C side obtains is then used with botocore against
the emulator (sts:GetCallerIdentity), so a test passes only if the
emulator issued those credentials and accepts them.  STS AssumeRole is
SigV4-signed by lib/sigv4 and verified by the emulator with botocore.
"""

import json
import os
import subprocess
import time

import pytest

from fixture_kmsemu import boto3_client
from emuclient import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

TIMEOUT = 30
# creds_get resolves with the blocking fetcher (`keyhealthd check`),
# creds_get_async on a libevent loop with lib/http (the daemon).
TOOLS = ("creds_get", "creds_get_async")


@pytest.fixture(params=TOOLS)
def tool(request, tools_dir):
    path = os.path.join(tools_dir, request.param)
    if not os.access(path, os.X_OK):
        pytest.fail("%s not built (make tools)" % request.param)
    return path


def _env(tmp_path, **extra):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def _run(tool, env, *args, ok=True):
    p = subprocess.run([tool] + list(args),
                       env=env, capture_output=True, timeout=TIMEOUT)
    out = p.stdout.decode()
    errtext = p.stderr.decode()
    if ok:
        assert p.returncode == 0, "creds_get failed: %s" % errtext
        return [json.loads(line) for line in out.splitlines()]
    assert p.returncode != 0, "creds_get unexpectedly succeeded: %s" % out
    return errtext


def _whoami(emu, c):
    sts = boto3_client(emu.url, "sts", access_key=c["AccessKeyId"],
                       secret_key=c["SecretAccessKey"],
                       session_token=c["SessionToken"])
    return sts.get_caller_identity()["Arn"]


def test_environment_keys_need_no_network(tool, tmp_path):
    env = _env(tmp_path, AWS_ACCESS_KEY_ID="AKIAENVEXAMPLE",
               AWS_SECRET_ACCESS_KEY="envsecret")
    [c] = _run(tool, env)
    assert c["AccessKeyId"] == "AKIAENVEXAMPLE"
    assert c["source"].startswith("environment")
    assert c["Expiration"] == 0


def test_web_identity_from_environment(kmsemu, tool, tmp_path):
    tok = tmp_path / "token"
    tok.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwb2QifQ.c2ln\n")
    env = _env(tmp_path, AWS_WEB_IDENTITY_TOKEN_FILE=str(tok),
               AWS_ROLE_ARN="arn:aws:iam::111122223333:role/web",
               AWS_ENDPOINT_URL=kmsemu.url)
    [c] = _run(tool, env)
    assert c["AccessKeyId"].startswith("ASIA")
    assert c["Expiration"] > c["Now"]
    assert _whoami(kmsemu, c).endswith("assumed-role/web/keyhealthd")


def test_profile_role_arn_with_source_profile_assumes_role(
        kmsemu, tool, tmp_path):
    (tmp_path / "config").write_text(
        "[profile ops]\nrole_arn = arn:aws:iam::111122223333:role/ops\n"
        "source_profile = base\nrole_session_name = ops-session\n"
        "region = eu-west-1\n")
    (tmp_path / "credentials").write_text(
        "[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
        % (DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY))
    env = _env(tmp_path, AWS_CONFIG_FILE=str(tmp_path / "config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
               AWS_PROFILE="ops", AWS_ENDPOINT_URL_STS=kmsemu.url)
    [c] = _run(tool, env)
    assert _whoami(kmsemu, c).endswith("assumed-role/ops/ops-session")
    reqs = kmsemu.client.requests(service="sts")
    assert [r["signature_valid"] for r in reqs
            if r["operation"] == "AssumeRole"] == [True]


def test_credential_process_profile(kmsemu, tool, tmp_path):
    script = tmp_path / "proc.sh"
    script.write_text(
        "#!/bin/sh\nprintf '{\"Version\": 1, \"AccessKeyId\": \"%s\", "
        "\"SecretAccessKey\": \"%s\"}'\n" % (DEFAULT_ACCESS_KEY,
                                             DEFAULT_SECRET_KEY))
    script.chmod(0o755)
    (tmp_path / "config").write_text(
        "[default]\ncredential_process = %s\n" % script)
    env = _env(tmp_path, AWS_CONFIG_FILE=str(tmp_path / "config"))
    [c] = _run(tool, env)
    assert c["AccessKeyId"] == DEFAULT_ACCESS_KEY
    assert c["source"] == "profile default (credential_process)"
    assert _whoami(kmsemu, c).endswith(":user/kmsemu")


def test_container_full_uri_with_token_file(kmsemu, tool, tmp_path):
    kmsemu.client.config(container_token="Bearer s3cr3t-container")
    tf = tmp_path / "ctoken"
    tf.write_text("Bearer s3cr3t-container\n")
    env = _env(tmp_path, AWS_CONTAINER_CREDENTIALS_FULL_URI=(
        kmsemu.url + "/_creds/container/task-1"),
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(tf))
    [c] = _run(tool, env)
    assert "kmsemu-container-role" in _whoami(kmsemu, c)


def test_container_wrong_token_is_reported_without_it(
        kmsemu, tool, tmp_path):
    kmsemu.client.config(container_token="Bearer right")
    env = _env(tmp_path, AWS_CONTAINER_CREDENTIALS_FULL_URI=(
        kmsemu.url + "/_creds/container/task-1"),
        AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer wrong-s3cr3t")
    err = _run(tool, env, ok=False)
    assert "HTTP 403" in err
    assert "wrong-s3cr3t" not in err


def test_imds_v2(kmsemu, tool, tmp_path):
    env = _env(tmp_path, AWS_EC2_METADATA_DISABLED=None,
               AWS_EC2_METADATA_SERVICE_ENDPOINT=kmsemu.url)
    [c] = _run(tool, env)
    assert c["source"] == "EC2 instance metadata (IMDSv2)"
    assert "kmsemu-instance-role" in _whoami(kmsemu, c)


def test_assume_role_on_top_of_imds(kmsemu, tool, tmp_path):
    env = _env(tmp_path, AWS_EC2_METADATA_DISABLED=None,
               AWS_EC2_METADATA_SERVICE_ENDPOINT=kmsemu.url)
    [c] = _run(tool, env, "--assume-role",
               "arn:aws:iam::444455556666:role/keyhealthd-ro",
               "--region", "eu-west-1", "--sts-endpoint", kmsemu.url)
    assert _whoami(kmsemu, c) == (
        "arn:aws:sts::444455556666:assumed-role/keyhealthd-ro/keyhealthd")


def test_assume_role_denied_reports_sts_code(kmsemu, tool, tmp_path):
    kmsemu.client.add_role("arn:aws:iam::444455556666:role/locked",
                           trust=["999999999999"])
    env = _env(tmp_path, AWS_ACCESS_KEY_ID=DEFAULT_ACCESS_KEY,
               AWS_SECRET_ACCESS_KEY=DEFAULT_SECRET_KEY,
               AWS_ENDPOINT_URL=kmsemu.url)
    err = _run(tool, env, "--assume-role",
               "arn:aws:iam::444455556666:role/locked", ok=False)
    assert "AccessDenied" in err
    assert "role/locked" in err
    assert DEFAULT_SECRET_KEY not in err


def test_imds_unreachable_names_the_provider(tool, tmp_path,
                                              free_port):
    env = _env(tmp_path, AWS_EC2_METADATA_DISABLED=None,
               AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:%d"
               % free_port)
    err = _run(tool, env, "--timeout-ms", "2000", ok=False)
    assert "EC2 instance metadata" in err


def test_temporary_credentials_are_refreshed_before_expiry(
        kmsemu, tool, tmp_path):
    kmsemu.client.set_cred_lifetime(6)
    env = _env(tmp_path, AWS_EC2_METADATA_DISABLED=None,
               AWS_EC2_METADATA_SERVICE_ENDPOINT=kmsemu.url)
    sets = _run(tool, env, "--watch", "8")
    assert len(sets) >= 2, sets
    # Each set was replaced before it expired.
    for old, new in zip(sets, sets[1:]):
        assert new["Now"] < old["Expiration"], (old, new)
    assert "kmsemu-instance-role" in _whoami(kmsemu, sets[-1])


def test_hanging_credential_process_is_killed_at_the_deadline(
        tool, tmp_path):
    (tmp_path / "config").write_text(
        "[default]\ncredential_process = sleep 30\n")
    env = _env(tmp_path, AWS_CONFIG_FILE=str(tmp_path / "config"))
    t0 = time.monotonic()
    err = _run(tool, env, "--timeout-ms", "500", ok=False)
    assert "timed out" in err
    assert time.monotonic() - t0 < 10
