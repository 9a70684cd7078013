"""lib/kms and lib/http against the KMS emulator, through tests/tools/kms_call.

Each test starts a fresh emulator (the kmsemu fixture), seeds it, injects
faults through its control API, runs kms_call under a timeout and reads
the JSON lines it prints.  The emulator verifies every SigV4 signature.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from emuclient import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

REGION = "us-east-1"
ACCOUNT = "111122223333"


class KmsCall:
    """Runs kms_call against one emulator."""

    def __init__(self, tools_dir, emu, tmp_path):
        self.bin = os.path.join(tools_dir, "kms_call")
        if not os.access(self.bin, os.X_OK):
            pytest.fail("kms_call not built: %s (run make tools)" % self.bin)
        self.emu = emu
        self.tmp_path = tmp_path
        self.last_stderr = ""

    def env(self, secret=DEFAULT_SECRET_KEY, access=DEFAULT_ACCESS_KEY,
            token=None):
        env = dict(os.environ)
        for k in ("AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                  "AWS_ENDPOINT_URL_KMS", "AWS_PROFILE"):
            env.pop(k, None)
        env["AWS_ACCESS_KEY_ID"] = access
        env["AWS_SECRET_ACCESS_KEY"] = secret
        if token is not None:
            env["AWS_SESSION_TOKEN"] = token
        return env

    def run(self, op, keys=(), *args, timeout=120, wrapper=(), env=None,
            keys_file=None):
        argv = list(wrapper) + [self.bin, "--endpoint", self.emu.url,
                                "--region", REGION, "--op", op]
        for k in keys:
            argv += ["--key-id", k]
        if keys_file is not None:
            argv += ["--keys-file", keys_file]
        argv += list(args)
        p = subprocess.run(argv, capture_output=True, text=True,
                           timeout=timeout, env=env or self.env())
        self.last_stderr = p.stderr
        lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
        assert lines and "summary" in lines[-1], \
            "kms_call printed no summary (rc %d):\n%s\n%s" % (
                p.returncode, p.stdout, p.stderr)
        return p.returncode, lines[:-1], lines[-1]["summary"]

    def one(self, op, key, *args, **kw):
        rc, results, summary = self.run(op, [key] if key else [], *args, **kw)
        assert len(results) == 1, results
        return rc, results[0]


@pytest.fixture
def kc(tools_dir, kmsemu, tmp_path):
    return KmsCall(tools_dir, kmsemu, tmp_path)


FAST = ("--backoff-base", "20", "--backoff-cap", "100")


def seed_key(emu, **kw):
    return emu.client.seed_key(**kw)


# --- every operation against a seeded key ---------------------------------

def test_describe_key_returns_every_field(kc, kmsemu):
    m = seed_key(kmsemu, Description="gearset backups",
                 MultiRegion=True, KeyRotationEnabled=True)
    rc, r = kc.one("DescribeKey", m["KeyId"])
    assert rc == 0 and r["ok"], r
    meta = r["meta"]
    for field in ("KeyId", "Arn", "AWSAccountId", "KeyState", "KeySpec",
                  "KeyUsage", "KeyManager", "Origin", "Description",
                  "CurrentKeyMaterialId", "Enabled", "MultiRegion"):
        assert meta[field] == m[field], field
    assert meta["MultiRegionKeyType"] == "PRIMARY"
    assert abs(meta["CreationDate"] - m["CreationDate"]) < 1e-3
    assert r["attempts"] == 1 and r["status"] == 200


def test_describe_key_pending_deletion_and_imported_material(kc, kmsemu):
    m = seed_key(kmsemu, KeyState="PendingDeletion",
                 DeletionDate=1900000000.25)
    rc, r = kc.one("DescribeKey", m["KeyId"])
    assert r["ok"] and r["meta"]["KeyState"] == "PendingDeletion"
    assert r["meta"]["DeletionDate"] == pytest.approx(1900000000.25)
    m = seed_key(kmsemu, Origin="EXTERNAL", ValidTo=1900000000.5)
    rc, r = kc.one("DescribeKey", m["KeyId"])
    assert r["ok"] and r["meta"]["Origin"] == "EXTERNAL"
    assert r["meta"]["ValidTo"] == pytest.approx(1900000000.5)
    assert r["meta"]["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"


def test_describe_key_by_alias_returns_target(kc, kmsemu):
    m = seed_key(kmsemu, Aliases=["alias/gearset-backup"])
    rc, r = kc.one("DescribeKey", "alias/gearset-backup")
    assert r["ok"] and r["meta"]["KeyId"] == m["KeyId"]


def test_get_key_policy(kc, kmsemu):
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "Allow use of the key", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::347752291521:root"},
        "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}]}
    m = seed_key(kmsemu, Policy=policy)
    rc, r = kc.one("GetKeyPolicy", m["KeyId"])
    assert r["ok"], r
    assert json.loads(r["policy"]) == policy


def test_get_key_rotation_status(kc, kmsemu):
    m = seed_key(kmsemu, KeyRotationEnabled=True, RotationPeriodInDays=90,
                 NextRotationDate=1900000000.5)
    rc, r = kc.one("GetKeyRotationStatus", m["KeyId"])
    assert r["ok"], r
    assert r["rotation"] == {"enabled": True, "period_days": 90,
                             "next_rotation": pytest.approx(1900000000.5)}
    m = seed_key(kmsemu)
    rc, r = kc.one("GetKeyRotationStatus", m["KeyId"])
    assert r["rotation"]["enabled"] is False


def test_list_aliases_all_pages_and_key_filter(kc, kmsemu):
    a = seed_key(kmsemu, Aliases=["alias/a-%03d" % i for i in range(130)])
    b = seed_key(kmsemu, Aliases=["alias/b-%03d" % i for i in range(120)])
    rc, r = kc.one("ListAliases", None)
    assert r["ok"], r
    names = [x["AliasName"] for x in r["aliases"]]
    assert len([n for n in names if n.startswith("alias/a-")]) == 130
    assert len([n for n in names if n.startswith("alias/b-")]) == 120
    assert len(names) == len(set(names))
    assert r["attempts"] >= 3           # 50 per page by default, 100 asked
    rc, r = kc.one("ListAliases", a["KeyId"])
    assert r["ok"]
    assert sorted(x["AliasName"] for x in r["aliases"]) == \
        ["alias/a-%03d" % i for i in range(130)]
    assert all(x["TargetKeyId"] == a["KeyId"] for x in r["aliases"])
    rc, r = kc.one("ListAliases", b["Arn"])
    assert len(r["aliases"]) == 120


def test_list_keys_all_pages_one_retried(kc, kmsemu):
    kmsemu.client.config(list_page_size=3)
    want = {seed_key(kmsemu, region=REGION)["Arn"] for _ in range(10)}
    # The second page is throttled once: retried with its own marker.
    kmsemu.client.fault(action="latency", operation="ListKeys", latency=0,
                        count=1)
    kmsemu.client.throttle(operation="ListKeys", count=1)
    rc, r = kc.one("ListKeys", None, *FAST)
    assert r["ok"], r
    assert {k["KeyArn"] for k in r["keys"]} == want
    assert len(r["keys"]) == 10
    assert r["attempts"] == 5           # 4 pages of 3, one retried


def test_list_grants_reads_all_pages(kc, kmsemu):
    grants = [{"GranteePrincipal": "arn:aws:iam::347752291521:root",
               "Operations": ["Decrypt"]} for _ in range(230)]
    m = seed_key(kmsemu, Grants=grants)
    rc, r = kc.one("ListGrants", m["KeyId"])
    assert r["ok"], r
    assert len(r["grants"]) == 230
    assert len({g["id"] for g in r["grants"]}) == 230
    assert r["attempts"] == 3
    ops = [q for q in kmsemu.client.requests(operation="ListGrants")]
    assert len(ops) == 3


# --- error classes -----------------------------------------------------------

def test_unknown_key_is_not_found_without_retry(kc, kmsemu):
    rc, r = kc.one("DescribeKey", "1234abcd-12ab-34cd-56ef-1234567890ab")
    assert rc == 1
    assert (r["class"], r["code"], r["attempts"]) == \
        ("not-found", "NotFoundException", 1)


def test_namespaced_error_type_is_classified(kc, kmsemu):
    kmsemu.client.config(error_type_style="namespaced")
    rc, r = kc.one("DescribeKey", "1234abcd-12ab-34cd-56ef-1234567890ab")
    assert (r["class"], r["code"]) == ("not-found", "NotFoundException")


def test_wrong_secret_is_auth_invalid_signature(kc, kmsemu):
    m = seed_key(kmsemu)
    rc, r = kc.one("DescribeKey", m["KeyId"],
                   env=kc.env(secret="not-the-secret"))
    assert (r["class"], r["code"], r["attempts"]) == \
        ("auth", "InvalidSignatureException", 1)
    assert "not-the-secret" not in json.dumps(r) + kc.last_stderr


def test_unknown_access_key_is_auth(kc, kmsemu):
    m = seed_key(kmsemu)
    rc, r = kc.one("DescribeKey", m["KeyId"],
                   env=kc.env(access="AKIAUNKNOWNUNKNOWN00"))
    assert (r["class"], r["code"]) == ("auth", "UnrecognizedClientException")


def test_session_credentials_are_signed_with_token(kc, kmsemu):
    m = seed_key(kmsemu)
    creds = kmsemu.client.issue_credentials()
    env = kc.env(access=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                 token=creds["SessionToken"])
    rc, r = kc.one("DescribeKey", m["KeyId"], env=env)
    assert r["ok"], r
    log = kmsemu.client.requests(operation="DescribeKey")
    assert log[-1]["access_key"] == creds["AccessKeyId"]
    assert log[-1]["signature_valid"] is True
    env["AWS_SESSION_TOKEN"] = "bogus"
    rc, r = kc.one("DescribeKey", m["KeyId"], env=env)
    assert r["class"] == "auth", r


def test_access_denied(kc, kmsemu):
    kmsemu.client.add_account("444455556666", access_key_id="AKIADENIED000000",
                              secret_access_key="s3cr3t",
                              deny_actions=["kms:DescribeKey"])
    m = seed_key(kmsemu, account="444455556666")
    rc, r = kc.one("DescribeKey", m["Arn"],
                   env=kc.env(access="AKIADENIED000000", secret="s3cr3t"))
    assert (r["class"], r["code"]) == ("access-denied",
                                       "AccessDeniedException"), r


# --- retries -------------------------------------------------------------------

def test_throttling_then_success(kc, kmsemu):
    m = seed_key(kmsemu)
    kmsemu.client.throttle(operation="DescribeKey", count=2)
    rc, r = kc.one("DescribeKey", m["KeyId"], *FAST)
    assert rc == 0 and r["ok"] and r["attempts"] == 3, r
    assert len(kmsemu.client.requests(operation="DescribeKey")) == 3


def test_throttling_outlasting_retries_is_throttled(kc, kmsemu):
    m = seed_key(kmsemu)
    kmsemu.client.throttle(operation="DescribeKey", count=100)
    rc, r = kc.one("DescribeKey", m["KeyId"], *FAST)
    assert (r["class"], r["code"], r["attempts"], r["retryable"]) == \
        ("throttled", "ThrottlingException", 4, True)
    assert len(kmsemu.client.requests(operation="DescribeKey")) == 4


def test_limit_exceeded_is_retried(kc, kmsemu):
    m = seed_key(kmsemu)
    kmsemu.client.fault("error", "GetKeyPolicy", count=1, status=400,
                        code="LimitExceededException", message="slow down")
    rc, r = kc.one("GetKeyPolicy", m["KeyId"], *FAST)
    assert r["ok"] and r["attempts"] == 2


def test_server_errors_retried_then_server_class(kc, kmsemu):
    m = seed_key(kmsemu)
    kmsemu.client.fault("error", "DescribeKey", count=1, status=500,
                        code="KMSInternalException", message="oops")
    rc, r = kc.one("DescribeKey", m["KeyId"], *FAST)
    assert r["ok"] and r["attempts"] == 2
    kmsemu.client.fault("error", "DescribeKey", count=10, status=503,
                        code="DependencyTimeoutException", message="later")
    rc, r = kc.one("DescribeKey", m["KeyId"], *FAST, "--max-attempts", "3")
    assert (r["class"], r["code"], r["attempts"]) == \
        ("server", "DependencyTimeoutException", 3)


def test_html_502_classified_by_status(kc, kmsemu):
    m = seed_key(kmsemu)
    kmsemu.client.fault("html502", "DescribeKey", count=10)
    rc, r = kc.one("DescribeKey", m["KeyId"], *FAST)
    assert (r["class"], r["code"], r["status"], r["attempts"]) == \
        ("server", "HTTP 502", 502, 4)
    assert "502 Bad Gateway" in r["message"]
    kmsemu.client.clear_faults()
    kmsemu.client.fault("html502", "DescribeKey", count=1)
    rc, r = kc.one("DescribeKey", m["KeyId"], *FAST)
    assert r["ok"] and r["attempts"] == 2


def test_latency_past_timeout_is_transport_timeout(kc, kmsemu):
    m = seed_key(kmsemu)
    kmsemu.client.fault("latency", "DescribeKey", count=10, latency=3)
    t0 = time.monotonic()
    rc, r = kc.one("DescribeKey", m["KeyId"], *FAST, "--timeout", "300",
                   "--max-attempts", "3")
    assert (r["class"], r["code"], r["attempts"]) == \
        ("transport", "Timeout", 3)
    assert time.monotonic() - t0 < 3
    kmsemu.client.clear_faults()
    kmsemu.client.fault("latency", "DescribeKey", count=1, latency=2)
    rc, r = kc.one("DescribeKey", m["KeyId"], *FAST, "--timeout", "500")
    assert r["ok"] and r["attempts"] == 2


def test_connection_reset_retried(kc, kmsemu):
    m = seed_key(kmsemu)
    kmsemu.client.fault("reset", "DescribeKey", count=1)
    rc, r = kc.one("DescribeKey", m["KeyId"], *FAST)
    assert r["ok"] and r["attempts"] == 2, r
    kmsemu.client.fault("reset", "DescribeKey", count=10)
    rc, r = kc.one("DescribeKey", m["KeyId"], *FAST)
    assert (r["class"], r["code"], r["attempts"]) == \
        ("transport", "ConnectionReset", 4)


def test_connection_closed_without_response_retried(kc, kmsemu):
    m = seed_key(kmsemu)
    kmsemu.client.fault("close", "DescribeKey", count=10)
    rc, r = kc.one("DescribeKey", m["KeyId"], *FAST)
    assert (r["class"], r["code"], r["attempts"]) == \
        ("transport", "EmptyReply", 4)


def test_malformed_json_is_malformed_not_retried(kc, kmsemu):
    m = seed_key(kmsemu)
    kmsemu.client.fault("malformed", "DescribeKey", count=1)
    rc, r = kc.one("DescribeKey", m["KeyId"], *FAST)
    assert (r["class"], r["attempts"]) == ("malformed", 1)
    assert "not JSON" in r["message"]


def test_truncated_body_is_transport_and_retried(kc, kmsemu):
    m = seed_key(kmsemu)
    kmsemu.client.fault("truncated", "DescribeKey", count=1)
    rc, r = kc.one("DescribeKey", m["KeyId"], *FAST)
    assert r["ok"] and r["attempts"] == 2
    kmsemu.client.fault("truncated", "DescribeKey", count=10)
    rc, r = kc.one("DescribeKey", m["KeyId"], *FAST)
    assert (r["class"], r["code"]) == ("transport", "TruncatedResponse")


def test_50mb_body_hits_the_size_cap(kc, kmsemu):
    m = seed_key(kmsemu)
    kmsemu.client.fault("oversized", "DescribeKey", count=1,
                        size=50 * 1024 * 1024)
    t0 = time.monotonic()
    rc, r = kc.one("DescribeKey", m["KeyId"], *FAST)
    assert (r["class"], r["code"], r["attempts"]) == \
        ("malformed", "ResponseTooLarge", 1)
    assert r["message"] == "response larger than 1048576 bytes"
    assert time.monotonic() - t0 < 10


# --- clock skew ------------------------------------------------------------------

def test_skewed_emulator_clock_is_corrected(kc, kmsemu):
    m = seed_key(kmsemu)
    kmsemu.client.advance(600)
    rc, results, summary = kc.run("DescribeKey", [m["KeyId"]] * 5,
                                  "--concurrency", "1")
    assert rc == 0, results
    assert [r["ok"] for r in results] == [True] * 5
    # One request learnt the skew, the others were signed right at once.
    assert sorted(r["attempts"] for r in results) == [1, 1, 1, 1, 2]
    assert abs(summary["clock_skew"] - 600) < 5
    assert kc.last_stderr.count("signing requests with the server's "
                                "time") == 1


def test_local_clock_behind_is_corrected(kc, kmsemu):
    m = seed_key(kmsemu)
    rc, r = kc.one("DescribeKey", m["KeyId"], "--clock-offset", "-600")
    assert r["ok"] and r["attempts"] == 2, r


# --- many keys, bounded --------------------------------------------------------------

def max_overlap(entries):
    """Most requests the emulator was handling at one time.

    Each request counts from the moment the emulator had read it to the
    moment before the first byte of its answer left: the client sent it
    before the first and cannot have had the answer (and sent its next
    request on that slot) before the second, so these intervals overlap no
    more than the client's own requests in flight, whatever the load.  (The
    request log's rounded real_time and its duration, which ends after the
    answer was written, overlapped by a few ms on a loaded machine.)"""
    ev = []
    for e in entries:
        start, end = e["received_at"], e["answered_at"]
        if end is None:
            continue
        ev.append((start, 1))
        ev.append((end, -1))
    # At equal times an end comes first: -1 sorts before +1.
    ev.sort()
    cur = best = 0
    for _, d in ev:
        cur += d
        best = max(best, cur)
    return best


def max_in_window(entries, window):
    times = sorted(e["real_time"] for e in entries)
    best = 0
    j = 0
    for i, t in enumerate(times):
        while times[j] < t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def seed_many(emu, n):
    doc = {"keys": [{"Description": "k%d" % i} for i in range(n)]}
    return [k["KeyId"] for k in emu.client.seed(doc)["keys"]]


def poll_many(kc, kmsemu, tmp_path, wrapper=(), n=1000, concurrency=8,
              rate=250.0, burst=25):
    ids = seed_many(kmsemu, n)
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("\n".join(ids) + "\n")
    kmsemu.client.clear_requests()
    rc, results, summary = kc.run(
        "DescribeKey", (), "--concurrency", str(concurrency), "--rate",
        str(rate), "--burst", str(burst), "--quiet",
        keys_file=str(keys_file), wrapper=wrapper, timeout=600)
    log = kmsemu.client.requests(operation="DescribeKey")
    return rc, summary, log


def test_1000_keys_polled_with_bounded_concurrency_and_rate(kc, kmsemu,
                                                            tmp_path):
    rc, s, log = poll_many(kc, kmsemu, tmp_path)
    assert rc == 0, (s, kc.last_stderr[-2000:])
    assert s["total"] == 1000 and s["ok"] == 1000
    assert len(log) == 1000
    assert all(e["signature_valid"] for e in log)
    assert s["max_inflight"] <= 8 and s["max_http_inflight"] <= 8
    seen = max_overlap(log)
    assert seen <= 8, seen
    # 250/s after a burst of 25: at least (1000 - 25) / 250 s.
    assert s["elapsed"] >= (1000 - 25) / 250.0 - 0.05, s
    # The bucket lets out at most burst + rate in any second (it refills
    # whenever the slots rather than the tokens are what binds, e.g. while
    # the emulator stalls).  Seen by the server, the requests in flight at a
    # window's start can land inside it (+ concurrency) and its timestamps
    # are rounded to 1 ms (+ 1).
    assert max_in_window(log, 1.0) <= 25 + 250 + 8 + 1
    print("\n1000 keys: %.1f requests/s, client in flight <= %d, emulator "
          "saw <= %d concurrent, busiest second %d requests"
          % (s["rps"], s["max_inflight"], seen, max_in_window(log, 1.0)))


def test_1000_slow_keys_never_exceed_max_inflight(kc, kmsemu, tmp_path):
    # Every answer takes 20 ms: the cap, not the rate, is what binds.
    kmsemu.client.fault("latency", "DescribeKey", latency=0.02, duration=300)
    rc, s, log = poll_many(kc, kmsemu, tmp_path, concurrency=8,
                           rate=100000.0, burst=100000)
    assert rc == 0 and s["ok"] == 1000, s
    seen = max_overlap(log)
    assert 6 <= seen <= 8, seen
    assert s["max_inflight"] == 8
    print("\n1000 slow keys: %.1f requests/s, emulator saw <= %d concurrent"
          % (s["rps"], seen))


def test_1000_keys_under_valgrind_no_errors_no_leaks(kc, kmsemu, tmp_path):
    # An ASan build (make SANITIZE=1) cannot run under valgrind; there
    # AddressSanitizer and LeakSanitizer are the memory checkers instead
    # and fail the process the same way.
    if os.environ.get("KEYHEALTHD_SANITIZE") == "1":
        wrapper = []
    else:
        assert shutil.which("valgrind"), "valgrind not installed (make deps)"
        wrapper = ["valgrind", "--leak-check=full", "--error-exitcode=99",
                   "--errors-for-leak-kinds=definite", "--quiet"]
    rc, s, log = poll_many(kc, kmsemu, tmp_path, wrapper=wrapper,
                           concurrency=8, rate=500.0, burst=50)
    assert rc == 0, "memory checker reported (rc %d):\n%s" % (
        rc, kc.last_stderr[-5000:])
    assert s["ok"] == 1000
    assert max_overlap(log) <= 8
    assert "definitely lost" not in kc.last_stderr
    print("\nunder valgrind: %.1f requests/s" % s["rps"])


# --- GetKeyLastUsage: its answer and its own request budget ---------------

def test_get_key_last_usage_answer(kc, kmsemu):
    m = seed_key(kmsemu, CreationDate=1780000000.5)
    rc, r = kc.one("GetKeyLastUsage", m["Arn"])
    assert r["ok"], r
    assert r["usage"] == {"used": False, "operation": None,
                          "timestamp": 0.0,
                          "tracking_start": pytest.approx(1780000000.5),
                          "key_creation": pytest.approx(1780000000.5)}
    kmsemu.client.set_usage(m["Arn"], Operation="GenerateDataKey",
                            Timestamp=1790000000.25,
                            TrackingStartDate=1785000000)
    rc, r = kc.one("GetKeyLastUsage", m["Arn"])
    assert r["usage"]["used"] is True
    assert r["usage"]["operation"] == "GenerateDataKey"
    assert r["usage"]["timestamp"] == pytest.approx(1790000000.25)
    assert r["usage"]["tracking_start"] == pytest.approx(1785000000)


def test_get_key_last_usage_at_most_one_a_second(kc, kmsemu):
    # Its quota is 5/s per account and region: however generous the
    # shared rate, the client sends one a second.
    m = seed_key(kmsemu)
    rc, results, summary = kc.run("GetKeyLastUsage", [m["Arn"]] * 5,
                                  "--rate", "100", "--burst", "100",
                                  "--concurrency", "5")
    assert rc == 0 and summary["ok"] == 5, summary
    times = sorted(r["real_time"] for r in kmsemu.client.requests(
        operation="GetKeyLastUsage"))
    assert len(times) == 5
    # Four gaps of a second each, less a little for the timestamps.
    assert times[-1] - times[0] >= 3.5, times
