"""Multi-Region keys through the real daemon against the emulator.

KMS copies neither a primary's key policy nor its key state to its
replicas (ReplicateKey without a Policy attaches the default key policy),
so with replicas: watch every replica the primary's DescribeKey lists is
polled as a key of its own, signed for its own Region, reported under its
own ARN with the primary's ARN in the details.  The replicas are made with
ReplicateKey through boto3, as an operator would.
"""
import json
import signal
import urllib.request

import pytest

from conftest import pick_free_port

from fixture_daemon import (GEARSET, checks_of, finding,
                            gearset_policy, key_entry, seed_gearset_key)
from test_daemon_alerts import (bodies, daemon_signal, has, sent,
                                start_daemon, stop_daemon, wait_bodies,
                                webhook_block)

PRIMARY_REGION = "eu-west-1"
SERVED = "us-west-2"        # Gearset has an account there
UNSERVED = "us-east-1"      # Gearset does not


def seed_primary(emu, **meta):
    return seed_gearset_key(emu, region=PRIMARY_REGION, MultiRegion=True,
                            **meta)


def replicate(emu, primary, region, policy="gearset"):
    """ReplicateKey through boto3; policy "gearset" is the vendor's
    statements for region, None KMS's default policy."""
    kms = emu.boto3_client(region=PRIMARY_REGION)
    args = {"KeyId": primary["Arn"], "ReplicaRegion": region}
    if policy == "gearset":
        policy = gearset_policy(GEARSET[region])
    if policy is not None:
        args["Policy"] = json.dumps(policy)
    return kms.replicate_key(**args)["ReplicaKeyMetadata"]


def replicas_of(keydoc):
    return {r["arn"]: r for r in keydoc.get("replicas", [])}


def requests_to(emu, region, operation=None):
    return [r for r in emu.client.requests(operation=operation)
            if r["region"] == region]


# -- the emulator's side: ReplicateKey, what DescribeKey lists ---------------

def test_emulator_replicate_key_lists_the_replica_and_keeps_policies_apart(
        kmsemu):
    primary = seed_primary(kmsemu)
    rep = replicate(kmsemu, primary, SERVED, policy=None)
    assert rep["Arn"] == primary["Arn"].replace(PRIMARY_REGION, SERVED)
    assert rep["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    eu = kmsemu.boto3_client(region=PRIMARY_REGION)
    us = kmsemu.boto3_client(region=SERVED)
    cfg = eu.describe_key(KeyId=primary["Arn"])["KeyMetadata"][
        "MultiRegionConfiguration"]
    assert cfg["MultiRegionKeyType"] == "PRIMARY"
    assert cfg["ReplicaKeys"] == [{"Arn": rep["Arn"], "Region": SERVED}]
    rcfg = us.describe_key(KeyId=rep["Arn"])["KeyMetadata"][
        "MultiRegionConfiguration"]
    assert rcfg["PrimaryKey"] == {"Arn": primary["Arn"],
                                  "Region": PRIMARY_REGION}
    assert rcfg["ReplicaKeys"] == cfg["ReplicaKeys"]
    # The default policy, not the primary's: no vendor statement.
    assert "347752291521" in eu.get_key_policy(
        KeyId=primary["Arn"], PolicyName="default")["Policy"]
    assert "157764733222" not in us.get_key_policy(
        KeyId=rep["Arn"], PolicyName="default")["Policy"]
    with pytest.raises(Exception) as e:
        eu.replicate_key(KeyId=primary["Arn"], ReplicaRegion=SERVED)
    assert "AlreadyExistsException" in str(e.value)
    single = seed_gearset_key(kmsemu, region=PRIMARY_REGION)
    with pytest.raises(Exception) as e:
        eu.replicate_key(KeyId=single["Arn"], ReplicaRegion=SERVED)
    assert "UnsupportedOperationException" in str(e.value)
    # UpdatePrimaryRegion swaps the roles.
    eu.update_primary_region(KeyId=primary["Arn"], PrimaryRegion=SERVED)
    cfg = us.describe_key(KeyId=rep["Arn"])["KeyMetadata"][
        "MultiRegionConfiguration"]
    assert cfg["MultiRegionKeyType"] == "PRIMARY"
    assert cfg["ReplicaKeys"] == [{"Arn": primary["Arn"],
                                   "Region": PRIMARY_REGION}]


# -- keyhealthd check --------------------------------------------------------

def test_healthy_primary_and_replica_raise_nothing(kmsemu, kh_config,
                                                   kh_check):
    primary = seed_primary(kmsemu)
    rep = replicate(kmsemu, primary, SERVED)
    conf = kh_config(kmsemu, [key_entry(primary, "gs")])
    rc, doc, err = kh_check(conf)
    assert rc == 0, err
    k = doc["keys"][0]
    assert len(doc["keys"]) == 1          # the replica is under its primary
    assert k["findings"] == [] and "primary" not in k
    r = replicas_of(k)[rep["Arn"]]
    assert r["status"] == "ok" and r["findings"] == []
    assert r["region"] == SERVED and r["state"] == "Enabled"
    assert r["primary"] == primary["Arn"] and r["origin"] == "replica"
    assert r["name"] == "gs@" + SERVED
    # Polled in its own Region like a configured key: DescribeKey,
    # GetKeyPolicy and (its first poll) ListGrants, signed for it (the
    # emulator checks every signature).
    ops = sorted(x["operation"] for x in requests_to(kmsemu, SERVED))
    assert ops == ["DescribeKey", "GetKeyPolicy", "ListGrants"]
    assert all(x["signature_valid"] for x in requests_to(kmsemu, SERVED))


def test_replica_without_the_vendor_statement_fires_under_its_own_arn(
        kmsemu, kh_config, kh_check):
    primary = seed_primary(kmsemu)
    rep = replicate(kmsemu, primary, SERVED, policy=None)
    conf = kh_config(kmsemu, [key_entry(primary, "gs")])
    rc, doc, err = kh_check(conf)
    assert rc == 2, err
    k = doc["keys"][0]
    assert k["findings"] == []            # the primary is fine
    r = replicas_of(k)[rep["Arn"]]
    f = finding(r, "vendor-access-missing")
    assert f["details"]["primary"] == primary["Arn"]
    # Judged against Gearset's account for the replica's Region.
    assert GEARSET[SERVED] in json.dumps(f["details"])
    assert checks_of(r) == ["vendor-access-missing"]


def test_disabled_replica_fires_key_disabled(kmsemu, kh_config, kh_check):
    primary = seed_primary(kmsemu)
    rep = replicate(kmsemu, primary, SERVED)
    kmsemu.boto3_client(region=SERVED).disable_key(KeyId=rep["Arn"])
    rc, doc, err = kh_check(kh_config(kmsemu, [key_entry(primary, "gs")]))
    assert rc == 2, err
    k = doc["keys"][0]
    assert k["findings"] == [] and k["state"] == "Enabled"
    r = replicas_of(k)[rep["Arn"]]
    assert r["state"] == "Disabled"
    assert finding(r, "key-disabled")["details"]["primary"] == \
        primary["Arn"]


def test_replicas_off_polls_only_the_primary(kmsemu, kh_config, kh_check):
    primary = seed_primary(kmsemu)
    replicate(kmsemu, primary, SERVED, policy=None)
    conf = kh_config(kmsemu, [key_entry(primary, "gs", replicas="off")])
    rc, doc, err = kh_check(conf)
    assert rc == 0, err
    assert "replicas" not in doc["keys"][0]
    assert requests_to(kmsemu, SERVED) == []
    # The global setting, and a key without a vendor (default off).
    conf = kh_config(kmsemu, [key_entry(primary, "gs")], replicas="off")
    assert kh_check(conf)[1]["keys"][0].get("replicas") is None
    conf = kh_config(kmsemu, [key_entry(primary, "plain", vendor=None)])
    assert kh_check(conf)[1]["keys"][0].get("replicas") is None
    assert requests_to(kmsemu, SERVED) == []


def test_replica_in_a_region_the_vendor_does_not_serve_is_state_checked(
        kmsemu, kh_config, kh_check):
    primary = seed_primary(kmsemu)
    rep = replicate(kmsemu, primary, UNSERVED, policy=None)
    conf = kh_config(kmsemu, [key_entry(primary, "gs")])
    rc, doc, err = kh_check(conf)
    assert rc == 0, err
    r = replicas_of(doc["keys"][0])[rep["Arn"]]
    # Neither key-misconfigured (region) nor vendor-access-missing.
    assert r["findings"] == [] and r["state"] == "Enabled"
    assert [x["operation"] for x in requests_to(kmsemu, UNSERVED)] == \
        ["DescribeKey"]
    kmsemu.boto3_client(region=UNSERVED).disable_key(KeyId=rep["Arn"])
    rc, doc, err = kh_check(conf)
    assert rc == 2, err
    r = replicas_of(doc["keys"][0])[rep["Arn"]]
    assert checks_of(r) == ["key-disabled"]


def test_replica_describe_failing_is_check_failed_for_that_replica_only(
        kmsemu, kh_config, kh_check):
    primary = seed_primary(kmsemu)
    rep = replicate(kmsemu, primary, SERVED)
    other = replicate(kmsemu, primary, "ap-southeast-2")
    # The key id is the same in every Region: the fault names the ARN.
    kmsemu.client.fault("error", "DescribeKey", status=400,
                        code="AccessDeniedException",
                        message="not authorized in this Region",
                        key_id=rep["Arn"], count=10)
    rc, doc, err = kh_check(kh_config(kmsemu, [key_entry(primary, "gs")]))
    assert rc == 3, err
    k = doc["keys"][0]
    assert k["findings"] == []
    reps = replicas_of(k)
    f = finding(reps[rep["Arn"]], "check-failed")
    assert f["details"]["code"] == "AccessDeniedException"
    assert f["details"]["primary"] == primary["Arn"]
    assert reps[other["Arn"]]["findings"] == []


def test_a_configured_replica_is_reported_with_its_primary(
        kmsemu, kh_config, kh_check):
    primary = seed_primary(kmsemu)
    rep = replicate(kmsemu, primary, SERVED)
    kmsemu.boto3_client(region=SERVED).disable_key(KeyId=rep["Arn"])
    # Listed under keys: too: polled once, as the configured key.
    conf = kh_config(kmsemu, [key_entry(primary, "gs"),
                              key_entry(rep, "gs-us")])
    rc, doc, err = kh_check(conf)
    assert rc == 2, err
    assert [k["name"] for k in doc["keys"]] == ["gs", "gs-us"]
    assert "replicas" not in doc["keys"][0]
    r = doc["keys"][1]
    assert r["primary"] == primary["Arn"] and r["origin"] == "configured"
    assert finding(r, "key-disabled")["details"]["primary"] == \
        primary["Arn"]
    assert len(requests_to(kmsemu, SERVED, "DescribeKey")) == 1


def test_baseline_accept_all_covers_the_replicas_with_a_policy(
        kmsemu, kh_config, kh_baseline):
    primary = seed_primary(kmsemu)
    replicate(kmsemu, primary, SERVED)
    replicate(kmsemu, primary, UNSERVED, policy=None)
    r = kh_baseline(kh_config(kmsemu, [key_entry(primary, "gs")]))
    assert r.returncode == 0, r.stderr
    # The replica watched for its state only has no policy to accept.
    assert sorted(ln.split(":")[0] for ln in r.stdout.splitlines()) == [
        "gs", "gs@" + SERVED]


def test_after_update_primary_region_the_configured_key_is_a_replica(
        kmsemu, kh_config, kh_check):
    primary = seed_primary(kmsemu)
    rep = replicate(kmsemu, primary, SERVED)
    conf = kh_config(kmsemu, [key_entry(primary, "gs")])
    assert rep["Arn"] in replicas_of(kh_check(conf)[1]["keys"][0])
    kmsemu.boto3_client(region=PRIMARY_REGION).update_primary_region(
        KeyId=primary["Arn"], PrimaryRegion=SERVED)
    rc, doc, err = kh_check(conf)
    assert rc == 0, err
    k = doc["keys"][0]
    # Reported with its new primary; it lists no replicas of its own.
    assert k["primary"] == rep["Arn"] and "replicas" not in k
    assert k["findings"] == []


# -- keyhealthd run: replicas come and go -----------------------------------

def run_config(tmp_path, emu, primary, recv, name="gs", port=None,
               replicas="watch"):
    text = "\n".join([
        "interval: 1s", "slow_interval: 1h", "renotify: 1h",
        "replicas: %s" % replicas,
        "http:", "  listen: 127.0.0.1:%d" % (port or pick_free_port()),
        "state_dir: %s" % (tmp_path / "state"),
        "aws:", "  endpoint_url: %s" % emu.url,
        "keys:", "  - arn: %s" % primary["Arn"], "    name: %s" % name,
        "    vendor: gearset", "notifiers:"]) + "\n" + webhook_block(recv)
    path = tmp_path / "keyhealthd.yaml"
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


def test_replica_added_later_is_watched_and_one_removed_resolves(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin):
    primary = seed_primary(kmsemu)
    recv = webhook_receiver()
    d = start_daemon(spawn, kh_bin, run_config(tmp_path, kmsemu, primary,
                                               recv), tmp_path)
    # Added while the daemon runs, without the vendor's statement.
    rep = replicate(kmsemu, primary, SERVED, policy=None)
    fired = wait_bodies(recv, has("firing", "vendor-access-missing"))
    f = [b for b in fired if b["check"] == "vendor-access-missing"][0]
    assert f["key"]["arn"] == rep["Arn"]
    assert f["key"]["region"] == SERVED
    assert f["key"]["name"] == "gs@" + SERVED
    assert f["details"]["primary"] == primary["Arn"]
    d.wait_for_log("watching its replica %s" % rep["Arn"], timeout=10)
    # Deleted: its alert resolves, with no key-deleted in between, also
    # when its own poll (NotFound) comes before its primary's (which no
    # longer lists it): the primary's answers are held back a while.
    kmsemu.client.fault("latency", "DescribeKey", latency=2.5, count=2,
                        key_id=primary["Arn"])
    kmsemu.client.delete_key(rep["KeyId"], region=SERVED)
    got = wait_bodies(recv, has("resolved", "vendor-access-missing"))
    assert sent(got) == [
        ("firing", "vendor-access-missing", "gs@" + SERVED),
        ("resolved", "vendor-access-missing", "gs@" + SERVED)]
    d.wait_for_log("no longer watched", timeout=10)
    n = len(requests_to(kmsemu, SERVED))
    # A few more polls of the primary: nothing goes to the old Region.
    more = len(kmsemu.client.requests(operation="DescribeKey")) + 4
    wait_bodies(recv, lambda bs: len(kmsemu.client.requests(
        operation="DescribeKey")) >= more, what="more polls")
    assert len(requests_to(kmsemu, SERVED)) == n
    assert [b["check"] for b in bodies(recv)] == [
        "vendor-access-missing", "vendor-access-missing"]
    stop_daemon(d)


def test_a_replica_alert_survives_a_restart_without_resolving(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin):
    primary = seed_primary(kmsemu)
    rep = replicate(kmsemu, primary, SERVED)
    kmsemu.boto3_client(region=SERVED).disable_key(KeyId=rep["Arn"])
    recv = webhook_receiver()
    conf = run_config(tmp_path, kmsemu, primary, recv)
    d = start_daemon(spawn, kh_bin, conf, tmp_path)
    wait_bodies(recv, has("firing", "key-disabled"))
    stop_daemon(d)
    d = start_daemon(spawn, kh_bin, conf, tmp_path, name="keyhealthd2")
    # Polled again after the restart, still firing: no resolved between.
    mark = len(kmsemu.client.requests(operation="DescribeKey"))
    wait_bodies(recv, lambda bs: len(
        [r for r in kmsemu.client.requests(operation="DescribeKey")
         if r["region"] == SERVED]) >= 3 and len(kmsemu.client.requests(
             operation="DescribeKey")) > mark + 4, what="polls")
    assert [b["status"] for b in bodies(recv)] == ["firing"]
    kmsemu.boto3_client(region=SERVED).enable_key(KeyId=rep["Arn"])
    got = wait_bodies(recv, has("resolved", "key-disabled"))
    assert sent(got)[-1] == ("resolved", "key-disabled", "gs@" + SERVED)
    stop_daemon(d)


def get_status(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/status" % port,
                                timeout=10) as r:
        return json.loads(r.read())


def polls_in(emu, region):
    return len([r for r in emu.client.requests(operation="DescribeKey")
                if r["region"] == region])


def test_reload_keeps_replicas_and_their_alerts_until_turned_off(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin):
    primary = seed_primary(kmsemu)
    rep = replicate(kmsemu, primary, SERVED)
    kmsemu.boto3_client(region=SERVED).disable_key(KeyId=rep["Arn"])
    recv = webhook_receiver()
    port = pick_free_port()
    conf = run_config(tmp_path, kmsemu, primary, recv, port=port)
    d = start_daemon(spawn, kh_bin, conf, tmp_path)
    wait_bodies(recv, has("firing", "key-disabled"))
    # /status: the replica under its primary, not beside it.
    st = get_status(port)
    assert [k["arn"] for k in st["keys"]] == [primary["Arn"]]
    r = replicas_of(st["keys"][0])[rep["Arn"]]
    assert r["alerts_firing"] == ["key-disabled"]
    assert st["status"] == "critical"
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=10) as m:
        metrics = m.read().decode()
    assert 'key_arn="%s",key_name="gs@%s"' % (rep["Arn"], SERVED) in metrics
    assert "keyhealthd_keys 2\n" in metrics

    # A reload that keeps the primary keeps its replica and the alert.
    daemon_signal(d, signal.SIGHUP)
    d.wait_for_log("reloaded: ", timeout=20)
    n = polls_in(kmsemu, SERVED)
    wait_bodies(recv, lambda bs: polls_in(kmsemu, SERVED) >= n + 3,
                what="polls of the replica after the reload")
    assert [b["status"] for b in bodies(recv)] == ["firing"]

    # replicas: off: it is no longer watched and its alert resolves.
    conf = run_config(tmp_path, kmsemu, primary, recv, port=port,
                      replicas="off")
    daemon_signal(d, signal.SIGHUP)
    got = wait_bodies(recv, has("resolved", "key-disabled"))
    assert sent(got) == [("firing", "key-disabled", "gs@" + SERVED),
                         ("resolved", "key-disabled", "gs@" + SERVED)]
    n = polls_in(kmsemu, SERVED)
    more = len(kmsemu.client.requests(operation="DescribeKey")) + 3
    wait_bodies(recv, lambda bs: len(kmsemu.client.requests(
        operation="DescribeKey")) >= more, what="more polls")
    assert polls_in(kmsemu, SERVED) == n
    assert "replicas" not in get_status(port)["keys"][0]
    stop_daemon(d)


def test_check_progress_counts_the_replicas_it_finds(
        kmsemu, kh_config, kh_bin, kh_env):
    from test_check_progress import redraws, run_on_pty
    # 6 primaries, 2 replicas each; 2 requests/s per Region make the run
    # last long enough for the progress line (after 2 s).
    keys = []
    for i in range(6):
        p = seed_primary(kmsemu)
        replicate(kmsemu, p, SERVED)
        replicate(kmsemu, p, "ap-southeast-2")
        keys.append(key_entry(p, "p%d" % i))
    conf = kh_config(kmsemu, keys, kms={"rate_limit": 2})
    rc, out, chunks, took = run_on_pty([kh_bin, "check", "-c", str(conf)],
                                       kh_env)
    assert rc == 0, (rc, out, chunks)
    lines = redraws(chunks)
    assert lines, "no progress line in a %.1f s run" % took
    # Never more done than there are keys; the total grows from the 6
    # configured ones as the primaries' polls find their replicas.
    totals = [total for _, _, total, _ in lines]
    assert all(done <= total for _, done, total, _ in lines), lines
    assert totals == sorted(totals) and 6 < totals[-1] <= 18, lines
    assert len([ln for ln in out.splitlines() if ln.startswith("p")]) == 18
