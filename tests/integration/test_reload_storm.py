"""Signal storms: a stream of SIGHUPs must not starve polling (reloads
coalesce, and keys whose settings did not change keep their schedule),
and a stream of SIGUSR1s must not become a stream of requests to a
receiver that is failing.  Figures are printed, not asserted."""
import signal
import time

from fixture_keyhealthd import seed_keys

FAST_KMS = {"timeout": "5s", "connect_timeout": "2s", "max_attempts": 2}


def all_ok(k):
    keys = k.status()["keys"]
    return keys and all(x["status"] == "ok" for x in keys)


def describes(emu, arn, t0, t1):
    """DescribeKey requests for arn (not its alias) between t0 and t1."""
    return [r for r in emu.client.requests(operation="DescribeKey")
            if r.get("key_id") == arn and t0 <= r["real_time"] <= t1]


def has_finding(k, name, check):
    return any(f["check"] == check for f in k.key(name)["findings"])


def test_sighup_storm_keeps_every_key_polled(kmsemu, keyhealthd):
    n, interval = 6, 2
    keys = seed_keys(kmsemu, n)
    k = keyhealthd(kmsemu, keys, extra={"interval": "%ds" % interval,
                                        "kms": FAST_KMS})
    k.wait_until(lambda: all_ok(k), timeout=60, what="all keys ok")
    victim = keys[-1]
    storm, step = 300, 0.05
    t0 = time.time()
    disabled_at = alerted_at = None
    for i in range(storm):
        k.proc.signal(signal.SIGHUP)
        time.sleep(step)
        if i == 40:
            kmsemu.client.update_key(victim["arn"], KeyState="Disabled")
            disabled_at = time.time()
        if disabled_at and alerted_at is None and i % 10 == 0 and \
                has_finding(k, victim["name"], "key-disabled"):
            alerted_at = time.time()
    t1 = time.time()
    assert k.alive()
    polls = {x["name"]: len(describes(kmsemu, x["arn"], t0, t1))
             for x in keys}
    print("storm of %d SIGHUPs over %.1f s: DescribeKey per key %r; "
          "key-disabled seen %s s after the change" % (
              storm, t1 - t0, polls,
              None if alerted_at is None else round(alerted_at -
                                                    disabled_at, 1)))
    # Every key keeps being polled: at least one poll in every two
    # intervals of the storm (the schedule says one per interval).
    want = int((t1 - t0) / (2 * interval))
    starved = {name: c for name, c in polls.items() if c < want}
    assert not starved, (polls, want)
    # The key disabled during the storm was reported during the storm.
    assert alerted_at is not None, polls
    # And the last reload is applied.
    k.wait_until(lambda: "reloaded:" in k.log(), timeout=30,
                 what="a reload applied")


def test_sigusr1_storm_is_rate_limited(kmsemu, keyhealthd,
                                       webhook_receiver, free_port):
    recv = webhook_receiver(port=free_port)
    recv.default_status = 503
    keys = seed_keys(kmsemu, 1, state="Disabled")
    k = keyhealthd(kmsemu, keys, extra={
        "interval": "30s", "kms": FAST_KMS,
        "notifiers": [{"type": "webhook", "name": "hook",
                       "url": recv.url}]})
    k.wait_until(lambda: len(recv.requests) >= 1, timeout=60,
                 what="a first delivery attempt")
    time.sleep(1)
    before = len(recv.requests)
    t0 = time.time()
    for _ in range(1000):
        k.proc.signal(signal.SIGUSR1)
        time.sleep(0.002)
    time.sleep(3)
    t1 = time.time()
    during = len(recv.requests) - before
    print("1000 SIGUSR1 over %.1f s: %d POSTs to the failing receiver" % (
        t1 - t0, during))
    assert k.alive()
    # One retry at once, one when the window ends, and the outbox's own
    # backoff: a handful, not one per signal.
    assert during <= 10, during
    assert "retrying again in" in k.log()
    # A receiver that recovers gets the alert.
    recv.default_status = 200
    k.proc.signal(signal.SIGUSR1)
    k.wait_until(lambda: any(r["status"] == 200 for r in recv.requests),
                 timeout=60, what="delivery after the receiver recovered")


def write_big_bad_config(k, n):
    """The running config plus n more keys, the last with a bad interval:
    a long parse that ends in an error (so the keys are never polled)."""
    arn = "arn:aws:kms:eu-west-1:111122223333:key/%08x-12ab-34cd-56ef-" \
          "1234567890ab"
    with open(k.config_path) as f:
        text = f.read()
    import json
    doc = json.loads(text)
    lines = ["%s: %s" % (key, json.dumps(v)) for key, v in doc.items()
             if key != "keys"]
    lines.append("keys:")
    for x in doc["keys"]:
        lines.append("  - %s" % json.dumps(x))
    for i in range(n):
        lines.append("  - arn: %s" % (arn % i))
        lines.append("    interval: %s" % ("5x" if i == n - 1 else "10m"))
    with open(k.config_path, "w") as f:
        f.write("\n".join(lines) + "\n")


def test_a_long_reload_parse_does_not_stall_the_loop(kmsemu, keyhealthd):
    from fixture_keyhealthd import http_get
    keys = seed_keys(kmsemu, 1)
    k = keyhealthd(kmsemu, keys, extra={"interval": "1s", "kms": FAST_KMS})
    k.wait_until(lambda: all_ok(k), timeout=60, what="all keys ok")
    # Under the old 4 MiB limit, so that the old parser parses it too.
    write_big_bad_config(k, 35000)
    # Probe /metrics from the SIGHUP on; count the answers given while the
    # log says the reload began and has not ended.  A loop that parses
    # inline cannot answer inside that window.
    k.proc.signal(signal.SIGHUP)
    answered, worst, t0 = 0, 0.0, time.monotonic()
    while True:
        assert time.monotonic() - t0 < 120, "the reload never ended"
        t = time.monotonic()
        http_get("http://127.0.0.1:%d/metrics" % k.http_port, timeout=60)
        worst = max(worst, time.monotonic() - t)
        log = k.log()
        if "reload failed" in log:
            break
        if "reloading" in log:
            answered += 1
        time.sleep(0.005)
    print("reload parse of 35,000 keys: /metrics answered %d times during "
          "it, slowest answer %.3f s" % (answered, worst))
    assert answered >= 1
    log = k.log()
    assert "interval: bad duration '5x'" in log, log[-3000:]
    assert "keeping the running configuration" in log
    k.wait_until(lambda: all_ok(k), timeout=30, what="still polling")
