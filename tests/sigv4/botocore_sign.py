#!/usr/bin/python3
"""Randomized SigV4 cases for KMS requests, signed by botocore.

  botocore_sign.py --generate N --seed S   write N cases (JSON lines) to stdout
  botocore_sign.py --sign                  read cases from stdin, print one
                                           Authorization value per case

The C side (build/tests/tools/sigv4_sign) reads the same case lines; the
test compares the two outputs line by line.  botocore.auth.SigV4Auth reads
the clock itself, so the case's timestamp is injected by replacing the
datetime class it uses.
"""

import argparse
import datetime
import json
import random
import string
import sys
import types

REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1",
    "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2", "eu-north-1",
    "eu-south-1", "ap-southeast-1", "ap-southeast-2", "ap-southeast-4",
    "ap-northeast-1", "ap-northeast-3", "ap-south-1", "ca-central-1",
    "ca-west-1", "sa-east-1", "me-south-1", "af-south-1", "il-central-1",
    "cn-north-1", "cn-northwest-1", "us-gov-west-1", "us-gov-east-1",
    "us-iso-east-1", "us-isob-east-1",
]

OPERATIONS = [
    "DescribeKey", "GetKeyPolicy", "GetKeyRotationStatus", "ListAliases",
    "ListGrants", "ListKeys", "Encrypt", "Decrypt", "GenerateDataKey",
    "ListResourceTags", "GetPublicKey",
]

UNICODE_SAMPLES = [
    "caf\u00e9", "\u00fcber", "\u65e5\u672c\u8a9e", "\u0410\u0411\u0412",
    "\U0001f511\U0001f510", "\u200b", "\u00a0nbsp", "\\\"quoted\\\"",
    "tab\there", "new\nline", "\u2028sep", "\ud7ff", "\ufeff",
]


def _rand_text(rng, maxlen=24):
    n = rng.randint(0, maxlen)
    parts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.7:
            parts.append(rng.choice(string.ascii_letters + string.digits +
                                    " -_/:.+=@"))
        else:
            parts.append(rng.choice(UNICODE_SAMPLES))
    return "".join(parts)


def _rand_json(rng, depth=0):
    r = rng.random()
    if depth > 2 or r < 0.3:
        return _rand_text(rng)
    if r < 0.4:
        return rng.randint(-2**40, 2**40)
    if r < 0.45:
        return rng.choice([True, False, None])
    if r < 0.5:
        return rng.random() * 1e6
    if r < 0.75:
        return [_rand_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_rand_text(rng, 8): _rand_json(rng, depth + 1)
            for _ in range(rng.randint(0, 4))}


def _rand_key_id(rng, region):
    part = "aws-cn" if region.startswith("cn-") else (
        "aws-us-gov" if region.startswith("us-gov-") else "aws")
    kid = "%08x-%04x-%04x-%04x-%012x" % (
        rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16),
        rng.getrandbits(16), rng.getrandbits(48))
    acct = "%012d" % rng.randint(0, 10**12 - 1)
    return rng.choice([
        kid, "alias/" + _rand_text(rng, 12).replace(" ", "-"),
        "arn:%s:kms:%s:%s:key/%s" % (part, region, acct, kid),
    ])


def _host(rng, region):
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else \
        "amazonaws.com"
    svc = "kms-fips" if rng.random() < 0.2 else "kms"
    return "%s.%s.%s" % (svc, region, suffix)


def generate(n, seed):
    rng = random.Random(seed)
    alnum = string.ascii_uppercase + string.digits
    b64 = string.ascii_letters + string.digits + "+/"
    lo = int(datetime.datetime(2000, 1, 1,
                               tzinfo=datetime.timezone.utc).timestamp())
    hi = int(datetime.datetime(2099, 12, 31, 23, 59, 59,
                               tzinfo=datetime.timezone.utc).timestamp())
    for i in range(n):
        region = rng.choice(REGIONS)
        op = rng.choice(OPERATIONS)
        body_obj = {"KeyId": _rand_key_id(rng, region)}
        if rng.random() < 0.7:
            extra = _rand_json(rng)
            body_obj.update(extra if isinstance(extra, dict) else
                            {"Extra": extra})
        if rng.random() < 0.05:
            body = b""
        else:
            body = json.dumps(body_obj,
                              ensure_ascii=rng.random() < 0.5).encode("utf-8")
        target = "TrentService." + op
        # Header values with untidy whitespace exercise the Trimall rule.
        if rng.random() < 0.2:
            target = rng.choice(["  ", "\t", " "]) + target + \
                rng.choice(["", "  ", " \t "])
        ctype = "application/x-amz-json-1.1"
        if rng.random() < 0.1:
            ctype = "application/x-amz-json-1.1;  charset=utf-8"
        headers = [["Host", _host(rng, region)],
                   ["Content-Type", ctype],
                   ["X-Amz-Target", target]]
        if rng.random() < 0.3:
            headers.append(["Content-Length", str(len(body))])
        if rng.random() < 0.2:
            headers.append(["X-Amz-Meta-Note", _rand_text(rng, 20)
                            .encode("ascii", "ignore").decode()
                            .replace("\n", " ")])
            if rng.random() < 0.3:
                # A repeated header: signed as one, values joined by ','.
                headers.append(["x-amz-meta-note", "  second   value "])
        rng.shuffle(headers)
        if rng.random() < 0.3:
            headers = [[h[0].lower() if rng.random() < 0.5 else h[0].upper(),
                        h[1]] for h in headers]
        akid = rng.choice(["AKIA", "ASIA"]) + "".join(
            rng.choice(alnum) for _ in range(16))
        secret = "".join(rng.choice(b64) for _ in range(40))
        token = None
        if rng.random() < 0.5:
            token = "".join(rng.choice(b64) for _ in range(
                rng.randint(16, 900))) + rng.choice(["", "=", "=="])
        yield {
            "id": i,
            "method": "POST",
            "path": "/",
            "headers": headers,
            "body_hex": body.hex(),
            "region": region,
            "service": "kms",
            "time": rng.randint(lo, hi),
            "access_key": akid,
            "secret_key": secret,
            "session_token": token,
        }


def _fixed_clock(ts):
    class FixedDatetime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return datetime.datetime.fromtimestamp(
                ts, datetime.timezone.utc).replace(tzinfo=None)

        @classmethod
        def now(cls, tz=None):
            return datetime.datetime.fromtimestamp(ts, tz or
                                                   datetime.timezone.utc)
    return types.SimpleNamespace(datetime=FixedDatetime)


def sign(case):
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    botocore.auth.datetime = _fixed_clock(case["time"])
    host = [v for k, v in case["headers"] if k.lower() == "host"][0]
    req = AWSRequest(method=case["method"],
                     url="https://%s%s" % (host, case["path"]),
                     data=bytes.fromhex(case["body_hex"]))
    for k, v in case["headers"]:
        req.headers[k] = v
    creds = Credentials(case["access_key"], case["secret_key"],
                        case["session_token"])
    botocore.auth.SigV4Auth(creds, case["service"],
                            case["region"]).add_auth(req)
    return req.headers["Authorization"]


def main():
    ap = argparse.ArgumentParser()
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--generate", type=int, metavar="N")
    g.add_argument("--sign", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    out = sys.stdout
    if args.generate is not None:
        for case in generate(args.generate, args.seed):
            out.write(json.dumps(case) + "\n")
        return 0
    for line in sys.stdin:
        if line.strip():
            out.write(sign(json.loads(line)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
