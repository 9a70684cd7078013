"""The daemon under valgrind over a busy run: more than 100 polls, SIGHUP
reloads (one of them changing the keys), injected KMS errors, credentials
that expire and are refreshed (container endpoint, 20 s lifetime), and a
webhook receiver that fails before it accepts, then SIGTERM.  Exit 0, no
valgrind error, nothing definitely lost.  Valgrind cannot run the ASan
build (`make SANITIZE=1 check`): there the same run is checked by
AddressSanitizer and LeakSanitizer, which make the daemon exit non-zero.
"""
import re
import shutil


from fixture_keyhealthd import binary_is_sanitized, seed_keys

VALGRIND = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--error-exitcode=99", "--show-leak-kinds=definite",
            "--num-callers=30"]


def test_daemon_under_valgrind_busy_run_no_errors_no_leaks(
        kmsemu, keyhealthd, webhook_receiver, kh_bin, tmp_path):
    sanitized = binary_is_sanitized(kh_bin)
    if not sanitized:
        assert shutil.which("valgrind"), "valgrind not installed (make deps)"
    emu = kmsemu.client
    emu.config(cred_lifetime=20)
    keys = seed_keys(kmsemu, 6)
    disabled = emu.seed_key(region="eu-west-1", KeyState="Disabled")
    keys.append({"arn": disabled["Arn"], "name": "off", "vendor": "gearset"})
    # A key in a custom key store (one shared fetch per store) and one
    # with imported materials (ListKeyRotations), one of them pending.
    st = emu.add_keystore("vg-hsm", region="eu-west-1",
                          ConnectionState="FAILED",
                          ConnectionErrorCode="NETWORK_ERRORS")
    hsm = emu.seed_key(region="eu-west-1", Origin="AWS_CLOUDHSM",
                       CustomKeyStoreId=st["CustomKeyStoreId"])
    imp = emu.seed_key(region="eu-west-1", Origin="EXTERNAL",
                       ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    emu.set_materials(imp["KeyId"], [
        {"KeyMaterialState": "CURRENT"},
        {"KeyMaterialState": "NON_CURRENT", "ImportState": "PENDING_IMPORT"}],
        region="eu-west-1")
    keys += [{"arn": hsm["Arn"], "name": "hsm", "vendor": "gearset"},
             {"arn": imp["Arn"], "name": "imp", "vendor": "gearset"}]
    recv = webhook_receiver()
    recv.statuses = [500, 503, 500]         # retried, then accepted
    vglog = tmp_path / "valgrind.log"
    extra = {"interval": "1s",
             "kms": {"timeout": "5s", "max_attempts": 2},
             "notifiers": [{"type": "webhook", "url": recv.url},
                           {"type": "journald"}]}
    uri = kmsemu.url + "/_creds/container/vg"
    k = keyhealthd(kmsemu, keys, extra=extra,
                   wrapper=[] if sanitized else
                   VALGRIND + ["--log-file=%s" % vglog],
                   env={"AWS_ACCESS_KEY_ID": None,
                        "AWS_SECRET_ACCESS_KEY": None,
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI": uri})
    k.wait_until(lambda: k.metric("keyhealthd_polls_total") >= 7,
                 timeout=90, what="first polls")
    emu.fault(action="error", operation="DescribeKey", count=3, status=500,
              code="KMSInternalException")
    emu.fault(action="error", operation="GetKeyPolicy", count=3,
              code="ThrottlingException")
    emu.fault(action="reset", operation="DescribeKey", count=2)
    emu.fault(action="malformed", operation="GetKeyPolicy", count=2)
    emu.fault(action="error", operation="DescribeCustomKeyStores", count=2,
              code="ThrottlingException")
    emu.fault(action="malformed", operation="ListKeyRotations", count=1)
    k.reload()
    # Reload with a changed config: one key less, another interval.
    cfg = dict(k.config)
    cfg["keys"] = keys[1:]
    cfg["interval"] = "2s"
    k.write_config(cfg)
    k.reload()
    # The two reloads may coalesce into one, applied once the polls in
    # flight are done: wait for it so that the third is a reload of its own.
    k.wait_until(lambda: k.metric("keyhealthd_reloads_total") >= 1,
                 timeout=90, what="the first reload applied")
    emu.fault(action="latency", latency=8, operation="DescribeKey", count=1)
    k.wait_until(lambda: len(recv.accepted()) >= 1, timeout=120,
                 what="a webhook delivery after the failures")
    cfg["keys"] = keys
    cfg["interval"] = "1s"
    k.write_config(cfg)
    k.reload()
    k.wait_until(lambda: k.metric("keyhealthd_polls_total") >= 110,
                 timeout=150, what="110 polls", step=1.0)
    containers = emu.requests(service="container")
    assert len(containers) >= 2, "credentials were never refreshed"
    # Every injected fault was served (per-key poll counters restart
    # with a reload that rebuilds the keys, the emulator's do not).
    assert emu.counters()["faults_injected"] >= 11
    k.wait_until(lambda: k.metric("keyhealthd_reloads_total") >= 2,
                 timeout=90, what="the third reload applied")
    polls = k.metric("keyhealthd_polls_total")
    rc = k.stop(timeout=60)
    if sanitized:
        assert rc == 0, "ASan/LSan reported (exit %s)" % rc
        return
    text = vglog.read_text()
    summary = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    lost = re.search(r"definitely lost: ([\d,]+) bytes", text)
    print("valgrind: %d polls, %d credential fetches, %d webhook requests; "
          "%s; definitely lost: %s bytes" % (
              polls, len(containers), len(recv.requests),
              summary.group(0) if summary else "no summary",
              lost.group(1) if lost else "0"))
    assert rc == 0, text[-6000:]
    assert summary and summary.group(1) == "0", text[-6000:]
    assert lost is None or lost.group(1) == "0", text[-6000:]
