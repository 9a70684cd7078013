"""Operations: the status endpoint (/metrics, /healthz, /status) of the
running daemon against the KMS emulator, Prometheus' own checks of it,
`make install`, the IAM policy and the example configuration, notifier
option errors in `validate`, and the documentation's coverage of what the
code exposes."""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import REPO_TOP, VENDOR_ENV, pick_free_port, run
from fixture_kmsemu import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

REGION = "eu-west-1"
GEARSET_EU = "347752291521"
WEBHOOK_SECRET = "whsec-ops-7c1d0f5e9b2a4e68a3f1"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

KEY_ACTIONS = {"kms:DescribeKey", "kms:GetKeyPolicy",
               "kms:GetKeyRotationStatus", "kms:ListGrants",
               "kms:ListKeyRotations", "kms:GetKeyLastUsage"}
# No resource-level permissions: these go on "*".
STAR_ACTIONS = {"kms:ListAliases", "kms:ListKeys",
                "kms:DescribeCustomKeyStores"}
ALL_ACTIONS = KEY_ACTIONS | STAR_ACTIONS

CHECK_IDS = ["key-disabled", "key-pending-deletion",
             "key-pending-replica-deletion", "key-deleted",
             "key-unavailable", "key-material-expiring", "key-replaced",
             "vendor-access-missing", "key-misconfigured", "policy-changed",
             "rotation-disabled", "key-material-rotated",
             "key-material-pending", "keystore-disconnected", "key-unused",
             "check-failed"]


def gearset_policy(account="111122223333"):
    """The key policy of Gearset's BYOK guide for eu-west-1."""
    vendor = "arn:aws:iam::%s:root" % GEARSET_EU
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::%s:root" % account},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "Allow use of the key", "Effect": "Allow",
             "Principal": {"AWS": vendor},
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                        "kms:GenerateDataKey*", "kms:DescribeKey"],
             "Resource": "*"},
            {"Sid": "Allow attachment of persistent resources",
             "Effect": "Allow", "Principal": {"AWS": vendor},
             "Action": ["kms:CreateGrant", "kms:ListGrants",
                        "kms:RevokeGrant"],
             "Resource": "*",
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
        ]})


def daemon_env(tmp_path, **extra):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": str(home),
           "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY,
           "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_KEY,
           "AWS_EC2_METADATA_DISABLED": "true",
           "KEYHEALTHD_VENDOR_DIR": os.environ["KEYHEALTHD_VENDOR_DIR"]}
    env.update(extra)
    return env


def http_get(url, timeout=5):
    """(status, content type, body text); HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type"), \
                r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), \
            e.read().decode("utf-8")


def wait_until(predicate, timeout, what, step=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(step)
    raise AssertionError("timed out waiting for %s (last: %r)"
                         % (what, last))


def metric_samples(text):
    """{name: [(labels dict, value)]} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        assert m, "bad sample line: %r" % line
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|'
                                 r'\\.)*)"', m.group(3) or ""))
        out.setdefault(m.group(1), []).append((labels, float(m.group(4))))
    return out


class Daemon:
    """keyhealthd run with http.listen on a free port."""

    def __init__(self, spawn, kh_bin, tmp_path, config_text, env):
        self.port = pick_free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.conf = tmp_path / "keyhealthd.yaml"
        self.conf.write_text(config_text.replace("@HTTP@", "127.0.0.1:%d"
                                                 % self.port))
        self.proc = spawn("keyhealthd", [kh_bin, "-c", str(self.conf),
                                         "run"], env=env)
        self.proc.wait_for_log("http: serving", timeout=10)

    def get(self, path):
        return http_get(self.base + path)

    def metrics(self):
        status, ctype, body = self.get("/metrics")
        assert status == 200
        return body


@pytest.fixture
def ops_setup(kmsemu, webhook_receiver, spawn, kh_bin, tmp_path):
    """Two Gearset keys (one healthy, one disabled) in the emulator, a
    webhook receiver with an HMAC secret, a dead webhook, and a function
    starting the daemon with extra config lines."""
    healthy = kmsemu.client.seed_key(region=REGION, Policy=gearset_policy())
    kmsemu.client.create_alias("alias/gearset-backup", healthy["KeyId"],
                               region=REGION)
    disabled = kmsemu.client.seed_key(region=REGION, KeyState="Disabled",
                                      Policy=gearset_policy())
    recv = webhook_receiver(secret=WEBHOOK_SECRET.encode())
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "webhook-secret").write_text(WEBHOOK_SECRET + "\n")
    os.chmod(creds / "webhook-secret", 0o600)
    state = tmp_path / "state"
    dead_port = pick_free_port()

    def start(interval="1s", extra="", keys=None):
        keys = keys or [(healthy, "gearset-eu", "alias/gearset-backup"),
                        (disabled, "gearset-disabled", None)]
        text = ("interval: %s\nstate_dir: %s\n"
                "aws: {endpoint_url: '%s'}\n"
                "kms: {connect_timeout: 1s, timeout: 2s, max_attempts: 1}\n"
                "http: {listen: '@HTTP@'}\n" % (interval, state, kmsemu.url))
        text += "keys:\n"
        for meta, name, alias in keys:
            text += "  - arn: %s\n    name: %s\n    vendor: gearset\n" % (
                meta["Arn"], name)
            if alias:
                text += "    alias: %s\n" % alias
        text += ("notifiers:\n"
                 "  - type: webhook\n    name: oncall\n    url: %s\n"
                 "    secret_file: webhook-secret\n"
                 "  - type: webhook\n    name: dead\n"
                 "    url: http://127.0.0.1:%d/hook\n    timeout: 1s\n"
                 % (recv.url, dead_port))
        text += extra
        env = daemon_env(tmp_path, CREDENTIALS_DIRECTORY=str(creds))
        return Daemon(spawn, kh_bin, tmp_path, text, env)

    return {"emu": kmsemu, "healthy": healthy, "disabled": disabled,
            "recv": recv, "start": start}


def polled_twice(d):
    s = metric_samples(d.metrics())
    polls = [v for _, v in s.get("keyhealthd_polls_total", [])]
    return polls and min(polls) >= 2


def by_notifier(samples, family):
    """notifier label -> value of one family's samples ({} if none)."""
    return {lb["notifier"]: v for lb, v in samples.get(family, [])}


def test_metrics_pass_promtool_and_carry_every_family(ops_setup):
    emu = ops_setup["emu"]
    # The healthy key's policy read is refused: a KMS error by code.
    emu.client.fault("error", "GetKeyPolicy", count=1000, status=400,
                     code="AccessDeniedException", message="not you",
                     key_id=ops_setup["healthy"]["KeyId"])
    d = ops_setup["start"]()
    wait_until(lambda: polled_twice(d), 20, "two polls of each key")
    ops_setup["recv"].wait_for(2)

    # The receiver records a post before the daemon reads the answer and
    # counts the delivery and drops the outbox file: wait for those too.
    def settled():
        t = d.metrics()
        if 'notifier="dead",kind="transient"} 0' in t:
            return None
        s = metric_samples(t)
        delivered = by_notifier(s, "keyhealthd_notifier_delivered_total")
        depth = by_notifier(s, "keyhealthd_outbox_depth")
        if delivered.get("oncall", 0) >= 2 and depth.get("oncall") == 0:
            return t
        return None
    text = wait_until(settled, 20, "a failed delivery to the dead webhook"
                      " and both deliveries to oncall counted")

    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr

    s = metric_samples(text)
    healthy = ops_setup["healthy"]["Arn"]
    disabled = ops_setup["disabled"]["Arn"]
    assert s["keyhealthd_build_info"][0][0]["version"]
    states = {lb["key_arn"]: lb["state"] for lb, v in
              s["keyhealthd_key_state"] if v == 1}
    assert states == {healthy: "Enabled", disabled: "Disabled"}
    status = {lb["key_name"]: v for lb, v in s["keyhealthd_key_status"]}
    assert status == {"gearset-eu": 3, "gearset-disabled": 4}
    findings = {(lb["check"], lb["severity"]): v
                for lb, v in s["keyhealthd_findings"]}
    assert findings[("key-disabled", "critical")] == 1
    assert findings[("check-failed", "unknown")] == 1
    assert ("gearset-disabled", "key-disabled") in {
        (lb["key_name"], lb["check"]) for lb, _ in
        s["keyhealthd_key_finding"]}
    assert all(v >= 2 for _, v in s["keyhealthd_polls_total"])
    assert {lb["key_name"] for lb, _ in s["keyhealthd_poll_failures_total"]} \
        == {"gearset-eu", "gearset-disabled"}
    errors = {lb["code"]: v for lb, v in s["keyhealthd_kms_errors_total"]}
    assert errors.get("AccessDeniedException", 0) >= 2
    buckets = [(lb["le"], v) for lb, v in
               s["keyhealthd_poll_duration_seconds_bucket"]]
    assert buckets[-1][0] == "+Inf"
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    count = s["keyhealthd_poll_duration_seconds_count"][0][1]
    assert count == buckets[-1][1] and count >= 4
    assert s["keyhealthd_poll_duration_seconds_sum"][0][1] > 0
    delivered = by_notifier(s, "keyhealthd_notifier_delivered_total")
    assert delivered["oncall"] >= 2 and delivered["dead"] == 0
    failures = {(lb["notifier"], lb["kind"]): v for lb, v in
                s["keyhealthd_notifier_failures_total"]}
    assert failures[("dead", "transient")] >= 1
    assert failures[("oncall", "permanent")] == 0
    depth = by_notifier(s, "keyhealthd_outbox_depth")
    assert depth["dead"] >= 2 and depth["oncall"] == 0
    now = time.time()
    last = [v for _, v in
            s["keyhealthd_last_successful_poll_timestamp_seconds"]]
    assert len(last) == 2 and all(now - 30 < v <= now + 1 for v in last)
    assert s["keyhealthd_alerts_firing"][0][1] == 2
    assert s["keyhealthd_keys"][0][1] == 2
    assert s["keyhealthd_reloads_total"]
    assert s["keyhealthd_state_write_failures_total"][0][1] == 0


def test_metrics_of_many_keys_read_slowly_are_whole_and_grouped(
        kmsemu, spawn, kh_bin, tmp_path):
    # /metrics goes out in pieces (a run of keys per loop turn) as the
    # reader takes it: every family once, every key in each, valid for
    # promtool, with a reader slower than the daemon.
    import socket
    n = 700                     # more than two runs of keys
    ids = ["%08x-0000-4000-8000-%012x" % (i, i) for i in range(n)]
    for lo in range(0, n, 200):
        kmsemu.client.seed({"keys": [
            {"region": REGION, "account": "111122223333", "KeyId": k,
             "Policy": gearset_policy()}
            for k in ids[lo:lo + 200]]})
    text = ("interval: 5m\nstate_dir: %s\naws: {endpoint_url: '%s'}\n"
            "kms: {rate_limit: 10000, max_inflight: 64}\n"
            "http: {listen: '@HTTP@'}\nkeys:\n" % (tmp_path / "state",
                                                    kmsemu.url))
    for i, k in enumerate(ids):
        text += ("  - {arn: 'arn:aws:kms:%s:111122223333:key/%s', "
                 "name: k%04d, vendor: gearset}\n" % (REGION, k, i))
    d = Daemon(spawn, kh_bin, tmp_path, text, daemon_env(tmp_path))

    def all_polled():
        s = metric_samples(d.metrics())
        polls = [v for _, v in s.get("keyhealthd_polls_total", [])]
        return len(polls) == n and min(polls) >= 1
    wait_until(all_polled, 120, "a poll of every key")

    sk = socket.socket()
    sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sk.connect(("127.0.0.1", d.port))
    sk.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
    sk.settimeout(10)
    got = b""
    while True:
        chunk = sk.recv(4096)
        if not chunk:
            break
        got += chunk
        time.sleep(0.001)
    sk.close()
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    body = body.decode()
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=body,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    helps = re.findall(r"^# HELP (\S+)", body, re.M)
    assert len(helps) == len(set(helps)), "a family twice"
    s = metric_samples(body)
    for fam in ("keyhealthd_key_status", "keyhealthd_key_state",
                "keyhealthd_polls_total", "keyhealthd_poll_failures_total",
                "keyhealthd_last_successful_poll_timestamp_seconds"):
        assert sorted(lb["key_name"] for lb, _ in s[fam]) == \
            ["k%04d" % i for i in range(n)], fam
    assert s["keyhealthd_keys"][0][1] == n
    assert s["keyhealthd_reloads_total"]


def test_a_prometheus_scrape_config_for_it_passes_promtool(ops_setup,
                                                          tmp_path):
    d = ops_setup["start"]()
    wait_until(lambda: polled_twice(d), 20, "two polls of each key")
    rules = tmp_path / "keyhealthd-rules.yml"
    rules.write_text(PROMETHEUS_RULES)
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 30s\n"
        "rule_files:\n  - %s\n"
        "scrape_configs:\n"
        "  - job_name: keyhealthd\n"
        "    metrics_path: /metrics\n"
        "    static_configs:\n"
        "      - targets: ['127.0.0.1:%d']\n" % (rules, d.port))
    r = subprocess.run([PROMTOOL, "check", "config", str(cfg)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    # The rules evaluate against what the daemon serves: the disabled key
    # is critical, the other is fine.
    series = tmp_path / "test.yml"
    metrics = metric_samples(d.metrics())
    lines = []
    for lb, v in metrics["keyhealthd_key_status"]:
        lines.append("      - series: 'keyhealthd_key_status{key_name=\"%s\","
                     "job=\"keyhealthd\",instance=\"x\"}'\n"
                     "        values: '%s'\n" % (lb["key_name"],
                                                 " ".join(["%g" % v] * 10)))
    series.write_text(
        "rule_files:\n  - %s\nevaluation_interval: 1m\ntests:\n"
        "  - interval: 1m\n    input_series:\n%s"
        "    alert_rule_test:\n"
        "      - eval_time: 6m\n        alertname: KeyhealthdKeyCritical\n"
        "        exp_alerts:\n"
        "          - exp_labels: {severity: critical, key_name: "
        "gearset-disabled, job: keyhealthd, instance: x}\n"
        "            exp_annotations:\n"
        "              summary: 'KMS key gearset-disabled is critical'\n"
        % (rules, "".join(lines)))
    r = subprocess.run([PROMTOOL, "test", "rules", str(series)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def readme_rules():
    """The alerting rules shown in the README (indented block after the
    marker line), so that what operators copy is what is tested."""
    with open(os.path.join(REPO_TOP, "README"), encoding="utf-8") as f:
        text = f.read()
    start = text.index("    groups:\n")
    block = []
    for line in text[start:].splitlines():
        if line and not line.startswith("    "):
            break
        block.append(line[4:])
    return "\n".join(block).strip() + "\n"


PROMETHEUS_RULES = readme_rules()


def test_readme_rules_pass_promtool(tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text(PROMETHEUS_RULES)
    r = subprocess.run([PROMTOOL, "check", "rules", str(rules)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_healthz_turns_503_when_kms_is_unreachable_for_3_intervals(
        ops_setup):
    emu = ops_setup["emu"]
    d = ops_setup["start"](interval="1s")
    status, ctype, body = wait_until(
        lambda: (lambda r: r if r[0] == 200 and polled_twice(d) else None)(
            d.get("/healthz")), 20, "/healthz 200")
    assert body == "ok\n" and ctype.startswith("text/plain")
    # KMS stops answering: every connection is dropped.
    emu.client.fault("reset", "*", duration=600)
    t0 = time.monotonic()
    status, _, body = wait_until(
        lambda: (lambda r: r if r[0] == 503 else None)(d.get("/healthz")),
        20, "/healthz 503")
    # Not before three intervals without an answer.
    assert time.monotonic() - t0 >= 2.0
    assert re.match(r"^no successful poll for 3 intervals of (1 key|2 keys) "
                    r"\(first: gearset-[a-z]+\)\n$", body), body
    # While unhealthy the metrics say the same.
    s = metric_samples(d.metrics())
    assert sum(v for _, v in s["keyhealthd_poll_failures_total"]) >= 2
    # KMS answers again: healthy again within a poll or two.
    emu.client.clear_faults()
    status, _, body = wait_until(
        lambda: (lambda r: r if r[0] == 200 else None)(d.get("/healthz")),
        20, "/healthz 200 again")
    assert body == "ok\n"


def test_status_is_the_check_json_document_plus_alert_states(
        ops_setup, kh_bin, tmp_path):
    d = ops_setup["start"]()
    wait_until(lambda: polled_twice(d), 20, "two polls of each key")
    status, ctype, body = d.get("/status")
    assert status == 200 and ctype == "application/json"
    doc = json.loads(body)
    env = daemon_env(tmp_path, CREDENTIALS_DIRECTORY=str(tmp_path /
                                                         "credentials"))
    r = run([kh_bin, "check", "--json", "-c", str(d.conf)], env=env)
    assert r.returncode == 2, r.stderr       # CRITICAL: a disabled key
    check = json.loads(r.stdout)
    assert doc["status"] == check["status"] == "critical"

    def strip(k):
        k = dict(k)
        k.pop("polled_at", None)
        k.pop("alerts_firing", None)
        if k.get("grants"):
            k["grants"] = dict(k["grants"])
            k["grants"].pop("fetched_at", None)
        return k

    assert [strip(k) for k in doc["keys"]] == \
        [strip(k) for k in check["keys"]]
    firing = {k["name"]: k["alerts_firing"] for k in doc["keys"]}
    assert firing == {"gearset-eu": [], "gearset-disabled": ["key-disabled"]}
    assert all("alerts_firing" not in k for k in check["keys"])


def test_no_secret_is_served_or_logged(ops_setup):
    d = ops_setup["start"]()
    wait_until(lambda: polled_twice(d), 20, "two polls of each key")
    ops_setup["recv"].wait_for(1)
    for path in ("/metrics", "/healthz", "/status", "/nope"):
        _, _, body = d.get(path)
        assert DEFAULT_SECRET_KEY not in body, path
        assert WEBHOOK_SECRET not in body, path
    log = d.proc.log()
    assert DEFAULT_SECRET_KEY not in log and WEBHOOK_SECRET not in log
    # Only GET and HEAD.
    req = urllib.request.Request(d.base + "/metrics", data=b"",
                                 method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 405


# -- make install --------------------------------------------------------

def make_env():
    env = dict(os.environ)
    for v in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(v, None)
    return env


def build_dir_args():
    build = os.environ.get("KEYHEALTHD_BUILD", os.path.join(REPO_TOP,
                                                            "build"))
    rel = os.path.relpath(build, REPO_TOP)
    args = ["BUILD=" + rel]
    if os.path.basename(rel) == "build-san":
        args.append("SANITIZE=1")
    return args


def test_make_install_installs_exactly_the_shipped_files(tmp_path):
    dest = tmp_path / "dest"
    # The unit goes where systemd looks, whatever PREFIX says.
    pc = run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"])
    unitdir = pc.stdout.strip() or "/lib/systemd/system"
    r = run(["make", "--no-print-directory", "-s", "install",
             "DESTDIR=" + str(dest), "PREFIX=/usr"]
            + build_dir_args(), env=make_env(), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    files = set()
    for top, dirs, names in os.walk(dest):
        for n in names:
            files.add(os.path.relpath(os.path.join(top, n), dest))
    assert files == {
        "usr/sbin/keyhealthd",
        unitdir.lstrip("/") + "/keyhealthd.service",
        "usr/lib/systemd/catalog/keyhealthd.catalog",
        "usr/share/man/man8/keyhealthd.8",
        "usr/share/man/man5/keyhealthd.yaml.5",
        "etc/keyhealthd/keyhealthd.yaml.example",
        "usr/share/doc/keyhealthd/iam-policy.json",
        "usr/share/keyhealthd/vendors/gearset.yaml",
    }
    mode = lambda p: os.stat(dest / p).st_mode & 0o7777  # noqa: E731
    assert mode("usr/sbin/keyhealthd") == 0o755
    assert mode("usr/share/man/man8/keyhealthd.8") == 0o644
    assert mode("usr/share/keyhealthd/vendors/gearset.yaml") == 0o644
    unit = (dest / unitdir.lstrip("/") / "keyhealthd.service").read_text()
    assert "ExecStart=/usr/sbin/keyhealthd run\n" in unit
    assert "ExecStartPre=/usr/sbin/keyhealthd validate\n" in unit
    assert "@" not in unit.replace("@system-service", "").replace(
        "@privileged", "").replace("@resources", "")
    installed = dest / "usr/sbin/keyhealthd"
    v = run([str(installed), "--version"])
    assert v.returncode == 0 and v.stdout.startswith("keyhealthd ")
    with open(os.path.join(REPO_TOP, "conf", "iam-policy.json"), "rb") as f:
        assert (dest / "usr/share/doc/keyhealthd/iam-policy.json"
                ).read_bytes() == f.read()


# -- the IAM policy and the example configuration -------------------------

def test_iam_policy_grants_exactly_the_read_only_actions():
    with open(os.path.join(REPO_TOP, "conf", "iam-policy.json")) as f:
        pol = json.load(f)
    assert set(pol) <= {"Version", "Statement", "Id"}
    assert pol["Version"] == "2012-10-17"
    actions = set()
    sids = set()
    for st in pol["Statement"]:
        assert set(st) <= {"Sid", "Effect", "Action", "Resource",
                           "Condition"}, st
        assert st["Effect"] == "Allow"
        assert st["Sid"] not in sids
        sids.add(st["Sid"])
        acts = st["Action"] if isinstance(st["Action"], list) \
            else [st["Action"]]
        for a in acts:
            assert "*" not in a and "?" not in a, a
        actions |= set(acts)
        res = st["Resource"] if isinstance(st["Resource"], list) \
            else [st["Resource"]]
        if set(acts) & KEY_ACTIONS:
            # Key actions only on keys, never on "*".
            assert set(acts) <= KEY_ACTIONS
            for r in res:
                assert re.match(r"^arn:aws:kms:[a-z0-9*-]+:\d{12}:key/.+$",
                                r), r
        else:
            # ListAliases and DescribeCustomKeyStores have no
            # resource-level permissions.
            assert len(acts) == 1 and acts[0] in STAR_ACTIONS, acts
            assert res == ["*"]
    assert actions == ALL_ACTIONS


def test_example_config_is_a_complete_gearset_setup(kh_bin):
    r = run([kh_bin, "validate", "-v", "-c", "conf/keyhealthd.yaml"],
            env={**VENDOR_ENV,
                 "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert r.returncode == 0, r.stderr
    assert "vendor: gearset" in r.stdout
    with open(os.path.join(REPO_TOP, "conf", "keyhealthd.yaml")) as f:
        text = f.read()
    for needle in ("alias:", "expect_rotation:", "http:", "listen:",
                   "iam-policy.json", "assume_role", "LoadCredential",
                   "secret_file", "routing_key_file"):
        assert needle in text, needle


# -- validate: the notifiers' own options --------------------------------

def write_conf(tmp_path, notifiers):
    p = tmp_path / "k.yaml"
    p.write_text(
        "keys:\n"
        "  - arn: arn:aws:kms:eu-west-1:111122223333:key/"
        "1234abcd-12ab-34cd-56ef-1234567890ab\n"
        "    vendor: gearset\n"
        "notifiers:\n" + notifiers)
    return p


def test_validate_reports_a_misspelt_notifier_option_with_its_position(
        kh_bin, tmp_path):
    p = write_conf(tmp_path,
                   "  - type: alertmanager\n"
                   "    url: http://127.0.0.1:9093\n"
                   "    repost_intervl: 1m\n"
                   "  - type: webhook\n"
                   "    url: ftp://hooks.example.com/x\n")
    r = run([kh_bin, "validate", "-c", str(p)], env={**VENDOR_ENV,
                                                    "PATH": "/usr/bin"})
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines() == [
        "%s:7:5: unknown option \"repost_intervl\" for an alertmanager "
        "notifier (did you mean \"repost_interval\"?)" % p,
        "%s:9:10: url: expected an http:// or https:// URL in "
        "'ftp://hooks.example.com/x'" % p,
    ]


def test_validate_refuses_an_exec_program_that_is_not_there(kh_bin,
                                                           tmp_path):
    p = write_conf(tmp_path,
                   "  - type: exec\n"
                   "    command: [/nonexistent/notify-me, --page]\n"
                   "  - type: exec\n"
                   "    name: second\n"
                   "    command: [notify-me-nowhere-in-path]\n")
    r = run([kh_bin, "validate", "-c", str(p)], env={**VENDOR_ENV,
                                                    "PATH": "/usr/bin"})
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "%s:6:15: exec: program '/nonexistent/notify-me' is not an "
        "executable file" % p,
        "%s:9:15: exec: program 'notify-me-nowhere-in-path' not found in "
        "PATH" % p]


def test_secret_file_relative_name_is_a_systemd_credential(kh_bin,
                                                           tmp_path):
    creds = tmp_path / "creds"
    creds.mkdir()
    for name in ("webhook-secret", "pagerduty-key"):
        (creds / name).write_text("s3cr3t-%s\n" % name)
        os.chmod(creds / name, 0o600)
    p = write_conf(tmp_path,
                   "  - type: webhook\n"
                   "    url: https://hooks.example.com/x\n"
                   "    secret_file: webhook-secret\n"
                   "  - type: pagerduty\n"
                   "    routing_key_file: pagerduty-key\n")
    ok = run([kh_bin, "validate", "-c", str(p)],
             env={**VENDOR_ENV, "PATH": "/usr/bin",
                 "CREDENTIALS_DIRECTORY": str(creds)})
    assert ok.returncode == 0, ok.stderr
    bad = run([kh_bin, "validate", "-c", str(p)], env={**VENDOR_ENV,
                                                    "PATH": "/usr/bin"})
    assert bad.returncode == 1
    assert "%s:7:18: secret_file: \"webhook-secret\" is a relative name but "\
        "$CREDENTIALS_DIRECTORY is not set" % p in bad.stderr
    assert "s3cr3t" not in bad.stderr + ok.stderr + ok.stdout
    # A secret others can read is refused, and never printed.
    os.chmod(creds / "webhook-secret", 0o644)
    r = run([kh_bin, "validate", "-c", str(p)],
            env={**VENDOR_ENV, "PATH": "/usr/bin",
                 "CREDENTIALS_DIRECTORY": str(creds)})
    assert r.returncode == 1 and "readable or writable by others" in r.stderr
    assert "s3cr3t" not in r.stderr


# -- the documentation covers what the code exposes -----------------------

def man(name):
    with open(os.path.join(REPO_TOP, "man", name), encoding="utf-8") as f:
        return f.read()


def test_man_page_documents_every_metric_and_check(ops_setup):
    d = ops_setup["start"]()
    wait_until(lambda: polled_twice(d), 20, "two polls of each key")
    page = man("keyhealthd.8")
    names = set(re.findall(r"^# TYPE (\S+) ", d.metrics(), re.M))
    assert len(names) >= 15
    for n in sorted(names):
        assert n in page, "metric %s is not in keyhealthd(8)" % n
    checks = page[page.index(".Sh CHECKS"):]
    for c in CHECK_IDS:
        assert ".It Cm %s" % c in checks, c


NOTIFIER_OPTIONS = {
    "webhook": ["url", "secret_file", "timeout", "headers", "ca_file"],
    "exec": ["command", "timeout"],
    "pagerduty": ["routing_key_file", "url", "source", "timeout"],
    "alertmanager": ["url", "repost_interval", "labels", "generator_url",
                     "state_file", "timeout"],
    "slack": ["url_file", "url", "timeout"],
    "module": ["path"],
}


def test_config_man_page_documents_every_notifier_option():
    page = man("keyhealthd.yaml.5")
    for typ, opts in NOTIFIER_OPTIONS.items():
        start = page.index(".Ss Notifier %s" % typ)
        end = page.find(".Ss ", start + 1)
        section = page[start:end if end != -1 else len(page)]
        for o in opts:
            assert ".It Ic %s" % o in section, "%s: %s" % (typ, o)


def test_reload_with_a_bad_notifier_option_keeps_running(ops_setup):
    import signal
    d = ops_setup["start"]()
    wait_until(lambda: polled_twice(d), 20, "two polls of each key")
    good = d.conf.read_text()
    d.conf.write_text(good.replace("    timeout: 1s\n",
                                   "    timeuot: 1s\n"))
    d.proc.signal(signal.SIGHUP)

    def reloads():
        s = metric_samples(d.metrics())
        return {lb["result"]: v for lb, v in s["keyhealthd_reloads_total"]}

    wait_until(lambda: reloads()["failed"] == 1, 10, "a failed reload")
    log = d.proc.wait_for_log("keeping the running configuration")
    assert re.search(r"%s:\d+:5: unknown option \"timeuot\" for a webhook "
                     r"notifier" % re.escape(str(d.conf)), log), log
    assert d.get("/healthz")[0] == 200
    d.conf.write_text(good)
    d.proc.signal(signal.SIGHUP)
    wait_until(lambda: reloads()["ok"] == 1, 15, "a good reload")
    assert reloads()["failed"] == 1
    wait_until(lambda: d.get("/healthz")[0] == 200, 10, "/healthz 200")
