#!/usr/bin/python3
"""The benchmark's peer: what a user would write instead of keyhealthd.

A boto3 loop that checks every key with a thread pool: DescribeKey and
GetKeyPolicy, KeyState must be Enabled, the key policy must still name the
vendor's account, and posts a webhook when a key goes bad.

    peer_boto3.py --endpoint URL --keys FILE [--threads N]
                  [--sweeps S --warmup W]                       # sweep mode
                  [--interval SEC --duration SEC --webhook URL]  # loop mode

Sweep mode writes one JSON line per event on stdout (flushed), the same as
floor.c, so that the harness can sample the emulator at those moments:
{"event": "start", "sweep": 1}, {"event": "end", "sweep": 1, "wall",
"cpu", "requests", "errors"}, {"event": "done", "hwm_kib", "anon_kib"}.
Credentials come from the environment, as for any boto3 program.
"""
import argparse
import concurrent.futures
import json
import os
import resource
import sys
import threading
import time
import urllib.request

import boto3
import botocore.config

VENDOR_ACCOUNTS = {"eu-west-1": "347752291521", "us-west-2": "157764733222",
                   "ap-southeast-2": "178658833999",
                   "ca-central-1": "877694686213"}


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def status_kib(name):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return -1


class Checker:
    def __init__(self, endpoint, threads):
        self.endpoint = endpoint
        self.cfg = botocore.config.Config(
            max_pool_connections=threads,
            retries={"max_attempts": 4, "mode": "standard"})
        self.clients = {}
        self.lock = threading.Lock()

    def client(self, region):
        with self.lock:
            c = self.clients.get(region)
            if c is None:
                c = boto3.session.Session().client(
                    "kms", region_name=region, endpoint_url=self.endpoint,
                    config=self.cfg)
                self.clients[region] = c
            return c

    def check(self, arn):
        """Returns (problems, requests, errors) for one key."""
        region = arn.split(":")[3]
        kms = self.client(region)
        problems = []
        errors = 0
        try:
            meta = kms.describe_key(KeyId=arn)["KeyMetadata"]
            if meta["KeyState"] != "Enabled":
                problems.append("key-" + meta["KeyState"].lower())
        except kms.exceptions.NotFoundException:
            problems.append("key-deleted")
        except Exception as e:          # noqa: BLE001 - report, go on
            problems.append("check-failed: %s" % e)
            errors += 1
        try:
            pol = json.loads(kms.get_key_policy(
                KeyId=arn, PolicyName="default")["Policy"])
            if not grants_vendor(pol, VENDOR_ACCOUNTS.get(region)):
                problems.append("vendor-access-missing")
        except Exception as e:          # noqa: BLE001
            problems.append("check-failed: %s" % e)
            errors += 1
        return problems, 2, errors


def grants_vendor(policy, account):
    """The simple check a user writes: some Allow statement names the
    vendor's account and the use actions."""
    if account is None:
        return True
    for st in policy.get("Statement", []):
        if st.get("Effect") != "Allow":
            continue
        princ = st.get("Principal", {})
        aws = princ.get("AWS", []) if isinstance(princ, dict) else princ
        if isinstance(aws, str):
            aws = [aws]
        if not any(account in p for p in aws):
            continue
        acts = st.get("Action", [])
        if isinstance(acts, str):
            acts = [acts]
        if "kms:Decrypt" in acts or "kms:*" in acts:
            return True
    return False


def sweep(pool, checker, arns):
    requests = errors = 0
    results = {}
    for arn, (problems, r, e) in zip(arns, pool.map(checker.check, arns)):
        requests += r
        errors += e
        results[arn] = problems
    return results, requests, errors


def emit(doc):
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def post(url, doc):
    req = urllib.request.Request(url, data=json.dumps(doc).encode(),
                                 headers={"Content-Type": "application/json"},
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
    except OSError as e:
        sys.stderr.write("peer: webhook: %s\n" % e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--keys", required=True)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--sweeps", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--interval", type=float)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--webhook")
    args = ap.parse_args()
    with open(args.keys) as f:
        arns = [line.strip() for line in f if line.strip()]
    checker = Checker(args.endpoint, args.threads)
    pool = concurrent.futures.ThreadPoolExecutor(args.threads)

    if args.interval is None:
        if args.warmup > 0:
            _, r, e = sweep(pool, checker, arns[:args.warmup])
            emit({"event": "warmup", "requests": r, "errors": e})
        for i in range(1, args.sweeps + 1):
            emit({"event": "start", "sweep": i})
            t0, c0 = time.monotonic(), cpu_seconds()
            _, r, e = sweep(pool, checker, arns)
            emit({"event": "end", "sweep": i,
                  "wall": time.monotonic() - t0, "cpu": cpu_seconds() - c0,
                  "requests": r, "errors": e})
        emit({"event": "done", "hwm_kib": status_kib("VmHWM"),
              "anon_kib": status_kib("RssAnon")})
        return 0

    # Loop mode: a sweep every interval, an alert per new problem.
    alerted = set()
    start = time.monotonic()
    k = 0
    while time.monotonic() - start < args.duration:
        results, _, _ = sweep(pool, checker, arns)
        for arn, problems in results.items():
            for p in problems:
                if (arn, p) in alerted:
                    continue
                alerted.add((arn, p))
                if args.webhook:
                    post(args.webhook, {"status": "firing", "check": p,
                                        "key": {"arn": arn},
                                        "source": "peer_boto3"})
        k += 1
        delay = start + k * args.interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    emit({"event": "done", "hwm_kib": status_kib("VmHWM"),
              "anon_kib": status_kib("RssAnon")})
    return 0


if __name__ == "__main__":
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    sys.exit(main())
