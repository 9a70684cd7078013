"""Custom key stores, through the real binary against the KMS emulator:
keys with a CustomKeyStoreId get their store from DescribeCustomKeyStores,
once per store per interval and shared by the store's keys (its request
quota is far lower than DescribeKey's); keystore-disconnected (critical)
when the store is not CONNECTED, before the keys turn Unavailable;
key-unavailable keeps its meaning; a failed fetch is check-failed beside
the key's other findings.
"""
import json
import time
import urllib.request

import pytest

from conftest import pick_free_port
from fixture_daemon import checks_of, finding, key_entry, key_result, \
    seed_gearset_key
from test_daemon_alerts import has, start_daemon, stop_daemon, \
    wait_bodies, webhook_block, write_config

EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3
REGION = "eu-west-1"


@pytest.fixture
def emu(kmsemu_session):
    kmsemu_session.client.reset()
    yield kmsemu_session
    kmsemu_session.client.reset()


def store(emu, name="hsm-eu", state="CONNECTED", **kw):
    return emu.client.add_keystore(name, region=REGION,
                                   ConnectionState=state, **kw)


def key_in(emu, st):
    origin = ("AWS_CLOUDHSM" if st["CustomKeyStoreType"] == "AWS_CLOUDHSM"
              else "EXTERNAL_KEY_STORE")
    return seed_gearset_key(emu, region=REGION, Origin=origin,
                            CustomKeyStoreId=st["CustomKeyStoreId"])


def store_requests(emu):
    return emu.client.requests(operation="DescribeCustomKeyStores")


def test_failed_store_fires_before_the_key_turns_unavailable(
        emu, kh_config, kh_check):
    st = store(emu, state="FAILED", ConnectionErrorCode="NETWORK_ERRORS")
    m = key_in(emu, st)
    rc, doc, err = kh_check(kh_config(emu, [key_entry(m, "hsm")]))
    k = key_result(doc, "hsm")
    assert k["state"] == "Enabled"
    assert checks_of(k) == ["keystore-disconnected"], json.dumps(k)
    f = finding(k, "keystore-disconnected")
    assert f["severity"] == "critical" and rc == EXIT_CRITICAL
    assert f["details"]["custom_key_store_id"] == st["CustomKeyStoreId"]
    assert f["details"]["custom_key_store_name"] == "hsm-eu"
    assert f["details"]["custom_key_store_type"] == "AWS_CLOUDHSM"
    assert f["details"]["connection_state"] == "FAILED"
    assert f["details"]["connection_error_code"] == "NETWORK_ERRORS"
    assert "NETWORK_ERRORS" in f["summary"]


def test_key_in_a_connected_store_is_healthy(emu, kh_config, kh_check):
    st = store(emu, name="xks", CustomKeyStoreType="EXTERNAL_KEY_STORE")
    m = key_in(emu, st)
    rc, doc, err = kh_check(kh_config(emu, [key_entry(m, "xks")]))
    k = key_result(doc, "xks")
    assert rc == EXIT_OK, json.dumps(k)
    assert k["findings"] == []
    assert k["custom_key_store"] == {
        "id": st["CustomKeyStoreId"], "name": "xks",
        "type": "EXTERNAL_KEY_STORE", "connection_state": "CONNECTED",
        "connection_error_code": None}


def test_disconnected_store_keeps_key_unavailable_beside_it(
        emu, kh_config, kh_check):
    st = store(emu)
    m = key_in(emu, st)
    emu.kms_client(region=REGION).disconnect_custom_key_store(
        CustomKeyStoreId=st["CustomKeyStoreId"])
    rc, doc, err = kh_check(kh_config(emu, [key_entry(m, "hsm")]))
    k = key_result(doc, "hsm")
    assert k["state"] == "Unavailable"
    assert checks_of(k) == ["key-unavailable", "keystore-disconnected"]
    assert finding(k, "keystore-disconnected")["details"][
        "connection_state"] == "DISCONNECTED"
    assert rc == EXIT_CRITICAL


def test_store_fetch_failure_is_check_failed_beside_other_findings(
        emu, kh_config, kh_check):
    st = store(emu)
    m = key_in(emu, st)
    emu.client.update_key(m["KeyId"], region=REGION, KeyState="Disabled")
    emu.client.fault(action="error", operation="DescribeCustomKeyStores",
                     count=100, status=400, code="AccessDeniedException",
                     message="not allowed: kms:DescribeCustomKeyStores")
    rc, doc, err = kh_check(kh_config(emu, [key_entry(m, "hsm")]))
    k = key_result(doc, "hsm")
    assert checks_of(k) == ["check-failed", "key-disabled"]
    f = finding(k, "check-failed")
    assert f["details"]["operation"] == "DescribeCustomKeyStores"
    assert f["details"]["code"] == "AccessDeniedException"
    assert "custom_key_store" not in k


def test_a_store_is_fetched_once_for_all_its_keys(emu, kh_config,
                                                  kh_check):
    st = store(emu)
    other = store(emu, name="hsm-2")
    keys = [key_in(emu, st) for _ in range(6)] + [key_in(emu, other)]
    plain = seed_gearset_key(emu, region=REGION)
    emu.client.clear_requests()
    entries = [key_entry(m, "k%d" % i) for i, m in enumerate(keys)]
    entries.append(key_entry(plain, "plain"))
    rc, doc, err = kh_check(kh_config(emu, entries))
    assert rc == EXIT_OK, err
    reqs = store_requests(emu)
    assert len(reqs) == 2, [r["status"] for r in reqs]
    assert "custom_key_store" not in key_result(doc, "plain")


def test_unknown_store_is_check_failed(emu, kh_config, kh_check):
    m = seed_gearset_key(emu, region=REGION, Origin="AWS_CLOUDHSM",
                         CustomKeyStoreId="cks-0123456789abcdef0")
    rc, doc, err = kh_check(kh_config(emu, [key_entry(m, "hsm")]))
    f = finding(key_result(doc, "hsm"), "check-failed")
    assert f["details"]["code"] == "CustomKeyStoreNotFoundException"
    assert rc == EXIT_UNKNOWN


def test_store_disconnect_fires_and_resolves_through_the_daemon(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin):
    st = kmsemu.client.add_keystore("hsm-eu", region=REGION,
                                    ConnectionState="CONNECTED")
    keys = [key_in(kmsemu, st) for _ in range(3)]
    recv = webhook_receiver()
    port = pick_free_port()
    conf = write_config(tmp_path, kmsemu,
                        [(m, "hsm%d" % i) for i, m in enumerate(keys)],
                        webhook_block(recv),
                        extra="http:\n  listen: 127.0.0.1:%d\n" % port)
    d = start_daemon(spawn, kh_bin, conf, tmp_path)
    kmsemu.client.update_keystore(st["CustomKeyStoreId"], region=REGION,
                                  ConnectionState="FAILED",
                                  ConnectionErrorCode="USER_LOCKED_OUT")
    fired = wait_bodies(recv, has("firing", "keystore-disconnected", n=3))
    assert {b["key"]["name"] for b in fired} == {"hsm0", "hsm1", "hsm2"}
    assert fired[0]["details"]["connection_error_code"] == "USER_LOCKED_OUT"
    with urllib.request.urlopen("http://127.0.0.1:%d/status" % port,
                                timeout=10) as r:
        status = json.loads(r.read())
    assert [(s["id"], s["connection_state"])
            for s in status["custom_key_stores"]] == [
        (st["CustomKeyStoreId"], "FAILED")]
    kmsemu.client.update_keystore(st["CustomKeyStoreId"], region=REGION,
                                  ConnectionState="CONNECTED")
    wait_bodies(recv, has("resolved", "keystore-disconnected", n=3))
    stop_daemon(d)
    # Three keys polled every second share one store: measured, not
    # asserted to a figure (the loaded machine decides how many polls).
    polls = len(kmsemu.client.requests(operation="DescribeKey"))
    fetches = len(store_requests(kmsemu))
    print("DescribeKey %d, DescribeCustomKeyStores %d" % (polls, fetches))
    assert fetches < polls


def test_store_fetches_are_paced_below_their_quota(emu, kh_config,
                                                   kh_check):
    # Custom key store operations share 5 requests/s per account and
    # region: however many stores, at most one DescribeCustomKeyStores
    # per second leaves (a lower bound: a slow machine only spaces them
    # more).
    keys = [key_in(emu, store(emu, name="hsm-%d" % i)) for i in range(4)]
    emu.client.clear_requests()
    rc, doc, err = kh_check(kh_config(emu, [
        key_entry(m, "k%d" % i) for i, m in enumerate(keys)]))
    assert rc == EXIT_OK, err
    times = sorted(r["real_time"] for r in store_requests(emu))
    assert len(times) == 4
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) > 0.8, gaps


def test_a_failing_store_is_not_asked_once_per_key(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin):
    st = kmsemu.client.add_keystore("hsm-eu", region=REGION,
                                    ConnectionState="CONNECTED")
    keys = [key_in(kmsemu, st) for _ in range(4)]
    kmsemu.client.fault(action="error", operation="DescribeCustomKeyStores",
                        duration=600, status=400,
                        code="AccessDeniedException")
    recv = webhook_receiver()
    conf = write_config(tmp_path, kmsemu,
                        [(m, "hsm%d" % i) for i, m in enumerate(keys)],
                        webhook_block(recv), interval="5s")
    d = start_daemon(spawn, kh_bin, conf, tmp_path)
    wait_bodies(recv, has("firing", "check-failed", n=4))
    deadline = time.monotonic() + 90
    while len(kmsemu.client.requests(operation="DescribeKey")) < 12:
        assert time.monotonic() < deadline, "fewer than 12 polls"
        time.sleep(0.2)
    stop_daemon(d)
    polls = len(kmsemu.client.requests(operation="DescribeKey"))
    fetches = len(store_requests(kmsemu))
    print("DescribeKey %d, DescribeCustomKeyStores %d" % (polls, fetches))
    # Four keys spread over the interval share one failed answer.
    assert fetches <= polls // 2, (polls, fetches)
