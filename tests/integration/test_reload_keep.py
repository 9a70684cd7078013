"""A reload keeps each key that stays (its struct, state, findings,
schedule and figures) and builds only what changed; a bad file, wherever
its error is, keeps the running configuration and names FILE:LINE:COLUMN.
The keys: entries are read as the file is parsed (never as one tree), so
these also cover a file whose vendors: and aws: come after its keys."""
import re
import time

from fixture_keyhealthd import seed_keys

FAST_KMS = {"timeout": "5s", "connect_timeout": "2s", "max_attempts": 2}


def polls(k, name):
    return k.metric("keyhealthd_polls_total", {"key_name": name})


def all_ok(k, n):
    keys = k.status()["keys"]
    return len(keys) == n and all(
        polls(k, x["name"]) >= 1 and x["status"] != "unknown" for x in keys)


def reloads(k, result="ok"):
    return k.metric("keyhealthd_reloads_total", {"result": result})


def describes_since(emu, arn, t0):
    return [r for r in emu.client.requests(operation="DescribeKey")
            if r.get("key_id") == arn and r["real_time"] >= t0]


def test_reload_changing_half_the_keys_keeps_the_others(kmsemu, keyhealthd):
    keys = seed_keys(kmsemu, 6)
    kmsemu.client.update_key(keys[0]["arn"], KeyState="Disabled")
    k = keyhealthd(kmsemu, keys, extra={"interval": "10m",
                                        "kms": FAST_KMS})
    k.wait_until(lambda: all_ok(k, 6), timeout=60, what="every key polled")
    k.wait_until(lambda: k.key("k0")["status"] == "critical", timeout=30,
                 what="k0 disabled")
    before = {x["name"]: polls(k, x["name"]) for x in keys}
    assert all(v >= 1 for v in before.values()), before
    # k0-k2 stay as they are; k3 and k4 change (a name, an interval); k5
    # leaves; a new key joins.
    new = seed_keys(kmsemu, 1, prefix="n")
    cfg = dict(k.config)
    changed = [dict(keys[3], name="k3b"), dict(keys[4], interval="9m")]
    cfg["keys"] = keys[:3] + changed + new
    k.write_config(cfg)
    t0 = time.time()
    k.reload()
    k.wait_until(lambda: reloads(k) == 1,
                 timeout=30, what="the reload applied")
    # What changed is polled at once (within the 5 s spread) ...
    for arn in (keys[3]["arn"], keys[4]["arn"], new[0]["arn"]):
        k.wait_until(lambda: describes_since(kmsemu, arn, t0), timeout=30,
                     what="a poll of %s after the reload" % arn)
    time.sleep(2)
    # ... and what did not keeps its place in the 10-minute schedule,
    # its figures and its findings, without a poll.
    for x in keys[:3]:
        assert not describes_since(kmsemu, x["arn"], t0), x["name"]
        assert polls(k, x["name"]) == before[x["name"]], x["name"]
    k0 = k.key("k0")
    assert k0["status"] == "critical"
    assert any(f["check"] == "key-disabled" for f in k0["findings"])
    assert k.metric("keyhealthd_key_finding",
                    {"key_name": "k0", "check": "key-disabled"}) == 1
    names = sorted(x["name"] for x in k.status()["keys"])
    assert names == ["k0", "k1", "k2", "k3b", "k4", "n0"], names
    # The kept keys are still polled when they fall due: a SIGUSR1-free
    # way to see it is a further reload that changes k1's interval.
    cfg["keys"][1] = dict(keys[1], interval="8m")
    k.write_config(cfg)
    t1 = time.time()
    k.reload()
    k.wait_until(lambda: describes_since(kmsemu, keys[1]["arn"], t1),
                 timeout=30, what="k1 polled after its interval changed")
    # The poll's request is seen before its result is counted.
    k.wait_until(lambda: polls(k, "k1") > before["k1"], timeout=30,
                 what="k1's poll counted")


def bad_reload(k, text):
    with open(k.config_path, "w") as f:
        f.write(text)
    failures = reloads(k, "failed")
    k.reload()
    k.wait_until(lambda: reloads(k, "failed") > failures, timeout=30,
                 what="the reload refused")


def yaml_keys(keys):
    out = []
    for x in keys:
        out.append("  - arn: %s" % x["arn"])
        out.append("    name: %s" % x["name"])
        out.append("    vendor: gearset")
    return out


def test_a_bad_entry_mid_file_keeps_the_old_config_and_names_it(
        kmsemu, keyhealthd):
    keys = seed_keys(kmsemu, 4)
    k = keyhealthd(kmsemu, keys, extra={"interval": "1s",
                                        "kms": FAST_KMS})
    k.wait_until(lambda: all_ok(k, 4), timeout=60, what="every key polled")
    head = ["interval: 1s", "state_dir: %s" % k.state_dir,
            "http: {listen: '127.0.0.1:%d'}" % k.http_port, "keys:"]
    tail = ["aws:", "  endpoint_url: %s" % kmsemu.url]
    extra = seed_keys(kmsemu, 3, prefix="x")
    body = yaml_keys(keys + extra)
    # The second extra entry (keys[5]) has a bad interval.
    body.insert(body.index("    name: x1") + 1, "    interval: 5x")
    lines = head + body + tail
    bad_at = lines.index("    interval: 5x") + 1
    bad_reload(k, "\n".join(lines) + "\n")
    want = "%s:%d:15: keys[5].interval:" % (k.config_path, bad_at)
    assert want in k.log(), (want, k.log()[-3000:])
    # A file that is not YAML after that reports only where it breaks.
    broken = head + body + tail + ["oops: [1, 2"]
    bad_reload(k, "\n".join(broken) + "\n")
    log = k.log()
    last = log[log.rindex("reloading"):]
    assert re.search(r"%s:%d:\d+: " % (re.escape(k.config_path),
                                       len(broken) + 1), last), last
    assert "keys[5].interval" not in last, last
    # The running configuration is the old one, still polling its keys.
    assert sorted(x["name"] for x in k.status()["keys"]) == \
        ["k0", "k1", "k2", "k3"]
    t0 = time.time()
    k.wait_until(lambda: all(describes_since(kmsemu, x["arn"], t0)
                             for x in keys), timeout=30,
                 what="the old keys polled after the bad reloads")
    assert k.alive()


def test_vendors_and_aws_after_the_keys_apply_to_them(kmsemu, keyhealthd):
    keys = seed_keys(kmsemu, 2)
    k = keyhealthd(kmsemu, keys, extra={"interval": "1s",
                                        "kms": FAST_KMS})
    k.wait_until(lambda: all_ok(k, 2), timeout=60, what="every key polled")
    # keys: first, then the custom profile they name and the global aws:
    # block.  A key's http endpoint_url is judged with the global
    # allow_http, which comes after the keys: refused at its position.
    url = "    aws: {endpoint_url: '%s'}" % kmsemu.url
    lines = ["interval: 1s", "state_dir: %s" % k.state_dir,
             "http: {listen: '127.0.0.1:%d'}" % k.http_port, "keys:"]
    for x in keys:
        lines += ["  - arn: %s" % x["arn"], "    name: %s" % x["name"],
                  "    vendor: acme", url.replace("127.0.0.1", "kms.test")]
    lines += ["vendors:", "  acme:",
              "    accounts: {eu-west-1: '347752291521'}",
              "    require:", "      - actions: [kms:Decrypt]",
              "aws:", "  endpoint_url: %s" % kmsemu.url]
    bad_reload(k, "\n".join(lines) + "\n")
    col = url.index("'") + 1
    want = "%s:8:%d: keys[0].aws.endpoint_url:" % (k.config_path, col)
    assert want in k.log(), (want, k.log()[-3000:])
    # With allow_http, written after the keys, the same file is good.
    lines.append("  allow_http: true")
    with open(k.config_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    k.reload()
    k.wait_until(lambda: reloads(k) == 1,
                 timeout=30, what="the reload with allow_http applied")
    # And the profile defined after the keys is theirs: with the
    # emulator's URL they are polled and judged by it.
    lines = [url if ln.startswith("    aws:") else ln for ln in lines]
    with open(k.config_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    t0 = time.time()
    k.reload()
    k.wait_until(lambda: reloads(k) == 2,
                 timeout=30, what="the last reload applied")
    for x in keys:
        k.wait_until(lambda: describes_since(kmsemu, x["arn"], t0),
                     timeout=30, what="%s polled" % x["name"])
    k.wait_until(lambda: all(k.key(x["name"])["status"] == "ok"
                             for x in keys), timeout=30,
                 what="both keys ok under the acme profile")
