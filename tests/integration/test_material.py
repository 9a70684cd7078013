"""Every imported key material, through the real binary against the KMS
emulator: ListKeyRotations (IncludeKeyMaterial ALL_KEY_MATERIAL, every
page) for keys with imported material (Origin EXTERNAL) only, at most once
per slow_interval; key-material-expiring by the earliest ValidTo of any
material in use, naming it; key-material-pending for a material whose
import state is PENDING_IMPORT; a failed listing is check-failed beside
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

DAY = 86400
EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3
M1 = "1" * 64
M2 = "2" * 64
M3 = "3" * 64


@pytest.fixture
def emu(kmsemu_session):
    kmsemu_session.client.reset()
    yield kmsemu_session
    kmsemu_session.client.reset()


def imported_key(emu, materials, region="eu-west-1"):
    """A Gearset key with imported material holding these materials."""
    m = seed_gearset_key(emu, region=region, Origin="EXTERNAL",
                         ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    emu.client.set_materials(m["KeyId"], materials, region=region)
    return m


def two_materials(emu, old_valid_to, cur_valid_to=None):
    cur = {"KeyMaterialId": M1, "KeyMaterialState": "CURRENT"}
    if cur_valid_to is not None:
        cur["ValidTo"] = cur_valid_to
    return imported_key(emu, [
        cur, {"KeyMaterialId": M2, "KeyMaterialState": "NON_CURRENT",
              "ValidTo": old_valid_to}])


def rotations_requests(emu):
    return emu.client.requests(operation="ListKeyRotations")


# -- key-material-expiring -----------------------------------------------------

def test_the_earliest_material_in_use_is_the_one_reported(emu, kh_config,
                                                          kh_check):
    now = emu.client.now()
    m = two_materials(emu, now + 5 * DAY, now + 200 * DAY)
    rc, doc, err = kh_check(kh_config(emu, [key_entry(m, "imp")]))
    k = key_result(doc, "imp")
    assert checks_of(k) == ["key-material-expiring"], json.dumps(k)
    f = finding(k, "key-material-expiring")
    assert f["severity"] == "critical" and rc == EXIT_CRITICAL
    assert f["details"]["material_id"] == M2
    assert f["details"]["material_state"] == "NON_CURRENT"
    assert f["details"]["days_left"] in (4, 5)
    assert M2[:12] in f["summary"]


def test_imported_key_with_two_valid_materials_is_healthy(emu, kh_config,
                                                          kh_check):
    now = emu.client.now()
    m = two_materials(emu, now + 300 * DAY, now + 200 * DAY)
    rc, doc, err = kh_check(kh_config(emu, [key_entry(m, "imp")]))
    k = key_result(doc, "imp")
    assert rc == EXIT_OK, json.dumps(k)
    assert k["findings"] == []
    got = {x["material_id"]: x for x in k["materials"]}
    assert set(got) == {M1, M2}
    assert got[M1]["material_state"] == "CURRENT"
    assert got[M2]["import_state"] == "IMPORTED"
    assert got[M2]["expiration_model"] == "KEY_MATERIAL_EXPIRES"


def test_materials_are_listed_only_for_imported_keys(emu, kh_config,
                                                     kh_check):
    now = emu.client.now()
    imp = two_materials(emu, now + 300 * DAY)
    plain = seed_gearset_key(emu)
    emu.client.clear_requests()
    rc, doc, err = kh_check(kh_config(emu, [key_entry(imp, "imp"),
                                            key_entry(plain, "plain")]))
    assert rc == EXIT_OK, err
    reqs = rotations_requests(emu)
    assert [r["key_id"] for r in reqs] == [imp["Arn"]]
    assert "materials" not in key_result(doc, "plain")


def test_every_page_of_materials_is_read(emu, kh_config, kh_check):
    now = emu.client.now()
    mats = [{"KeyMaterialState": "CURRENT"}]
    mats += [{"KeyMaterialState": "NON_CURRENT"} for _ in range(150)]
    # The only expiring one comes last: on the second page.
    mats.append({"KeyMaterialId": M3, "KeyMaterialState": "NON_CURRENT",
                 "ValidTo": now + 20 * DAY})
    m = imported_key(emu, mats)
    emu.client.clear_requests()
    rc, doc, err = kh_check(kh_config(emu, [key_entry(m, "imp")]))
    k = key_result(doc, "imp")
    f = finding(k, "key-material-expiring")
    assert f["severity"] == "warning" and rc == EXIT_WARNING
    assert f["details"]["material_id"] == M3
    assert len(k["materials"]) == 152
    assert len(rotations_requests(emu)) == 2


# -- key-material-pending ------------------------------------------------------

def test_material_pending_import_is_reported_with_its_id(emu, kh_config,
                                                         kh_check):
    m = imported_key(emu, [
        {"KeyMaterialId": M1, "KeyMaterialState": "CURRENT"},
        {"KeyMaterialId": M2, "KeyMaterialState": "NON_CURRENT",
         "ImportState": "PENDING_IMPORT"}])
    rc, doc, err = kh_check(kh_config(emu, [key_entry(m, "imp")]))
    k = key_result(doc, "imp")
    # KMS sets the key PendingImport: key-unavailable pages, and the new
    # finding names the material to import again.
    assert checks_of(k) == ["key-material-pending", "key-unavailable"]
    f = finding(k, "key-material-pending")
    assert f["severity"] == "warning"
    assert f["details"]["materials"] == [
        {"material_id": M2, "material_state": "NON_CURRENT",
         "in_use": True}]
    assert f["details"]["key_state"] == "PendingImport"
    assert rc == EXIT_CRITICAL


def test_listing_failure_is_check_failed_beside_the_other_findings(
        emu, kh_config, kh_check):
    now = emu.client.now()
    m = two_materials(emu, now + 300 * DAY, now + 3 * DAY)
    emu.client.fault(action="error", operation="ListKeyRotations",
                     count=100, status=400, code="AccessDeniedException",
                     message="not allowed: kms:ListKeyRotations")
    rc, doc, err = kh_check(kh_config(emu, [key_entry(m, "imp")]))
    k = key_result(doc, "imp")
    assert checks_of(k) == ["check-failed", "key-material-expiring"]
    f = finding(k, "check-failed")
    assert f["details"]["operation"] == "ListKeyRotations"
    assert f["details"]["code"] == "AccessDeniedException"
    # DescribeKey's own ValidTo still says when the current one expires.
    assert finding(k, "key-material-expiring")["severity"] == "critical"
    assert "materials" not in k


# -- the daemon: fired, resolved, and what it costs ----------------------------

def test_pending_material_fires_and_resolves_through_the_daemon(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin):
    m = seed_gearset_key(kmsemu, Origin="EXTERNAL",
                         ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    kmsemu.client.set_materials(m["KeyId"], [
        {"KeyMaterialId": M1, "KeyMaterialState": "CURRENT"},
        {"KeyMaterialId": M3, "KeyMaterialState": "PENDING_ROTATION"}],
        region="eu-west-1")
    recv = webhook_receiver()
    conf = write_config(tmp_path, kmsemu, [(m, "imp")], webhook_block(recv))
    d = start_daemon(spawn, kh_bin, conf, tmp_path)
    # Material staged for the next rotation, deleted: the key stays
    # usable, the material is reported.
    kmsemu.client.update_material(m["KeyId"], M3, region="eu-west-1",
                                  ImportState="PENDING_IMPORT")
    fired = wait_bodies(recv, has("firing", "key-material-pending"))
    body = [b for b in fired if b["check"] == "key-material-pending"][0]
    assert body["severity"] == "warning"
    assert body["details"]["materials"][0]["material_id"] == M3
    kmsemu.client.update_material(m["KeyId"], M3, region="eu-west-1",
                                  ImportState="IMPORTED")
    got = wait_bodies(recv, has("resolved", "key-material-pending"))
    assert [(b["status"], b["check"]) for b in got] == [
        ("firing", "key-material-pending"),
        ("resolved", "key-material-pending")]
    stop_daemon(d)


def test_materials_are_fetched_once_per_slow_interval(
        tmp_path, kmsemu, webhook_receiver, spawn, kh_bin):
    now = kmsemu.client.now()
    m = seed_gearset_key(kmsemu, Origin="EXTERNAL",
                         ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    kmsemu.client.set_materials(m["KeyId"], [
        {"KeyMaterialId": M1, "KeyMaterialState": "CURRENT",
         "ValidTo": now + 300 * DAY}], region="eu-west-1")
    recv = webhook_receiver()
    port = pick_free_port()
    conf = write_config(tmp_path, kmsemu, [(m, "imp")], webhook_block(recv),
                        extra="http:\n  listen: 127.0.0.1:%d\n" % port)
    with open(conf) as f:
        text = f.read().replace("slow_interval: 1s", "slow_interval: 1h")
    with open(conf, "w") as f:
        f.write(text)
    d = start_daemon(spawn, kh_bin, conf, tmp_path)
    deadline = time.monotonic() + 60
    while len(kmsemu.client.requests(operation="DescribeKey")) < 5:
        assert time.monotonic() < deadline, "fewer than 5 polls"
        time.sleep(0.2)
    assert len(rotations_requests(kmsemu)) == 1
    with urllib.request.urlopen("http://127.0.0.1:%d/status" % port,
                                timeout=10) as r:
        st = json.loads(r.read())
    k = [x for x in st["keys"] if x["name"] == "imp"][0]
    assert [x["material_id"] for x in k["materials"]] == [M1]
    # A new ValidTo in DescribeKey makes the list stale: fetched again at
    # the next poll, not an hour later.
    kmsemu.client.update_material(m["KeyId"], M1, region="eu-west-1",
                                  ValidTo=now + 3 * DAY)
    fired = wait_bodies(recv, has("firing", "key-material-expiring"))
    assert fired[0]["severity"] == "critical"
    deadline = time.monotonic() + 30
    while len(rotations_requests(kmsemu)) < 2:
        assert time.monotonic() < deadline, "the list was not fetched again"
        time.sleep(0.2)
    stop_daemon(d)
