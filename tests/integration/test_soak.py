"""Soak: a day of polling squeezed into minutes.  200 keys every 2 s
(as many polls as 200 keys at a 5-minute interval make in a day once
KEYHEALTHD_SOAK_SECONDS reaches ~10 minutes), with keys disabled and
re-enabled, policies broken and restored, alerts flowing to a webhook,
KMS throttling now and then, and reloads.  RSS (VmRSS, VmHWM) and open
descriptors are read from /proc at the end of the warm-up and at the
end; RSS may not grow by more than 20 %, descriptors may not grow.

`make check` runs it for 60 s; `make soak` for KEYHEALTHD_SOAK_SECONDS
(default 240).  Figures are printed and written to
$KEYHEALTHD_BUILD/soak-figures.txt.
"""
import json
import os
import random
import threading
import time

from fixture_keyhealthd import (binary_is_sanitized, gearset_policy,
                                seed_keys, settled_figures,
                                MAX_KEPT_CONNECTIONS)

NKEYS = 200
SECONDS = int(os.environ.get("KEYHEALTHD_SOAK_SECONDS", "60"))
WARMUP = 15


def test_soak_rss_and_descriptors_stay_flat(kmsemu, keyhealthd,
                                             webhook_receiver, kh_bin):
    emu = kmsemu.client
    keys = seed_keys(kmsemu, NKEYS)
    recv = webhook_receiver()
    extra = {"interval": "2s", "renotify": "10s",
             "kms": {"rate_limit": 2000, "max_inflight": 16},
             "notifiers": [{"type": "webhook", "url": recv.url},
                           {"type": "journald"}]}
    k = keyhealthd(kmsemu, keys, extra=extra, verbose=0)
    k.wait_until(lambda: k.metric("keyhealthd_polls_total") >= NKEYS,
                 timeout=60, what="every key polled")
    stop = threading.Event()
    errors = []
    good = gearset_policy()
    broken = json.dumps({"Version": "2012-10-17", "Statement": [
        json.loads(good)["Statement"][0]]})
    rnd = random.Random(42)
    changes = [0]

    def churn():
        try:
            while not stop.is_set():
                i = rnd.randrange(NKEYS)
                arn = keys[i]["arn"]
                what = rnd.choice(("disable", "policy", "throttle"))
                if what == "disable":
                    emu.update_key(arn, KeyState="Disabled",
                                   region="eu-west-1")
                    stop.wait(3)
                    emu.update_key(arn, KeyState="Enabled",
                                   region="eu-west-1")
                elif what == "policy":
                    emu.set_policy(arn, broken, region="eu-west-1")
                    stop.wait(3)
                    emu.set_policy(arn, good, region="eu-west-1")
                else:
                    emu.throttle(operation="DescribeKey", count=5)
                changes[0] += 1
                stop.wait(0.5)
        except Exception as e:          # reported by the test
            errors.append(e)

    t = threading.Thread(target=churn, daemon=True)
    t.start()
    time.sleep(WARMUP)
    start = settled_figures(k.pid)
    polls0 = k.metric("keyhealthd_polls_total")
    t0 = time.monotonic()
    next_reload = t0 + 20
    while time.monotonic() - t0 < SECONDS - WARMUP:
        assert k.alive(), k.log()[-3000:]
        if time.monotonic() > next_reload:
            k.reload()
            next_reload += 20
        time.sleep(1)
    stop.set()
    t.join(15)
    end = settled_figures(k.pid)
    polls = k.metric("keyhealthd_polls_total") - polls0
    elapsed = time.monotonic() - t0
    delivered = len(recv.accepted())
    report = ("soak: %d keys, %ds measured after %ds warm-up: %d polls "
              "(%.0f/s, a day of 5-minute polls of %d keys every %.0f s), "
              "%d changes, %d alerts delivered\n"
              "soak: RSS %d -> %d KiB (%+.1f%%), HWM %d -> %d KiB, "
              "fds %d -> %d\n" % (
                  NKEYS, elapsed, WARMUP, polls, polls / elapsed,
                  NKEYS, 86400 * NKEYS / 300 / (polls / elapsed),
                  changes[0], delivered,
                  start["VmRSS"], end["VmRSS"],
                  100.0 * (end["VmRSS"] - start["VmRSS"]) / start["VmRSS"],
                  start["VmHWM"], end["VmHWM"], start["fds"], end["fds"]))
    print("\n" + report)
    build = os.environ.get("KEYHEALTHD_BUILD")
    if build and os.path.isdir(build):
        with open(os.path.join(build, "soak-figures.txt"), "w") as f:
            f.write(report)
    assert not errors, errors
    assert polls >= NKEYS * (elapsed / 2) * 0.5, report
    assert delivered >= 1, report
    # ASan keeps freed memory in quarantine: its RSS says nothing about
    # leaks, LeakSanitizer at exit does (a leak is a non-zero exit).
    if not binary_is_sanitized(kh_bin):
        assert end["VmRSS"] <= start["VmRSS"] * 1.2, report
    assert end["fds"] <= start["fds"], report
    assert end["conns"] <= MAX_KEPT_CONNECTIONS, report
    assert k.stop(timeout=30) == 0
