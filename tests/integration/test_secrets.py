"""Secrets never leave keyhealthd: a run with static, session and
assumed-role credentials, a webhook secret, a PagerDuty routing key and a
Slack URL, at -vv, under a private journald; everything it writes (output,
journal, state files, /status, /metrics, what the receivers got) is
searched for each secret.  Then the file-permission and plain-http rules.
"""
import http.server
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import REPO_TOP, run
from fixture_keyhealthd import (EMU_SK, base_env, gearset_policy,
                                http_get, write_json)
from conftest import pick_free_port

ROLE = "arn:aws:iam::111122223333:role/keyhealthd-ro"
WEBHOOK_SECRET = "whsec-Zq8N2vXKp41TmC6d"
ROUTING_KEY = "R0utingKeyPD9f8e7d6c5b4a3"
API_KEY_HEADER = "ApiK3yInAWebhookHeader0"
SLACK_PATH = "/services/T0SECRET1/B0SECRET2/xoxbSlackTok3nValue"


class StsProxy:
    """Forwards STS calls to the emulator and keeps the credentials it
    hands out, so that the test knows the assumed-role secrets."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.bodies = []
        proxy = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() not in ("content-length",
                                             "connection")}
                req = urllib.request.Request(proxy.upstream + self.path,
                                             data=body, headers=hdrs,
                                             method="POST")
                try:
                    with urllib.request.urlopen(req, timeout=10) as r:
                        status, out = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, out = e.code, e.read()
                proxy.bodies.append(out.decode("utf-8", "replace"))
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def secrets(self):
        import re
        out = []
        for b in self.bodies:
            for tag in ("SecretAccessKey", "SessionToken"):
                out += re.findall(r"<%s>([^<]+)</%s>" % (tag, tag), b)
        return out

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


JOURNALD_RUN = r"""
set -e
T="$1"; shift
mkdir -p "$T/run-log" "$T/varlog/journal"
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/journal /run/log/journal
mount --bind "$T/run-log" /run/log/journal
mount --bind "$T/varlog" /var/log
/lib/systemd/systemd-journald >"$T/journald.log" 2>&1 &
JPID=$!
trap 'kill $JPID 2>/dev/null; wait $JPID 2>/dev/null' EXIT
i=0
while [ ! -S /run/systemd/journal/socket ]; do
    i=$((i + 1)); [ $i -lt 200 ] || { echo "no journald socket" >&2; exit 1; }
    sleep 0.05
done
"$@" >"$T/kh.out" 2>"$T/kh.err" &
KPID=$!
echo $KPID >"$T/kh.pid"
rc=0; wait $KPID || rc=$?
echo $rc >"$T/kh.rc"
journalctl --sync || true
D=/run/log/journal/$(cat /etc/machine-id)
journalctl --directory="$D" -o export >"$T/journal.export" || true
echo done >"$T/journal.done"
"""


def write_secret(path, text):
    path.write_text(text)
    os.chmod(str(path), 0o600)
    return str(path)


def all_files(top):
    for d, _, files in os.walk(top):
        for f in files:
            yield os.path.join(d, f)


@pytest.fixture
def sts_proxy(kmsemu):
    p = StsProxy(kmsemu.url)
    yield p
    p.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for unshare")
def test_no_secret_in_anything_keyhealthd_writes(
        tmp_path, kmsemu, sts_proxy, webhook_receiver, spawn, kh_bin):
    emu = kmsemu.client
    emu.add_role(ROLE)
    sess = emu.issue_credentials(lifetime=3600)
    pol = gearset_policy()
    keys = []
    for name in ("static", "session", "role"):
        m = emu.seed_key(region="eu-west-1", Policy=pol, KeyState="Disabled")
        keys.append({"arn": m["Arn"], "name": name, "vendor": "gearset"})
    keys[1]["aws"] = {"profile": "sess"}
    keys[2]["aws"] = {"assume_role": ROLE}

    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    credfile = home / ".aws" / "credentials"
    write_secret(credfile, "[sess]\naws_access_key_id = %s\n"
                 "aws_secret_access_key = %s\naws_session_token = %s\n"
                 % (sess["AccessKeyId"], sess["SecretAccessKey"],
                    sess["SessionToken"]))
    recv = webhook_receiver(secret=WEBHOOK_SECRET.encode())
    base = "http://127.0.0.1:%d" % recv.port
    port = pick_free_port()
    state = tmp_path / "state"
    cfg = {"interval": "2s", "state_dir": str(state),
           "aws": {"endpoint_url": kmsemu.url},
           "http": {"listen": "127.0.0.1:%d" % port},
           "keys": keys,
           "notifiers": [
               {"type": "journald"},
               {"type": "webhook", "url": base + "/hook",
                "secret_file": write_secret(tmp_path / "wh", WEBHOOK_SECRET),
                "headers": {"X-Api-Key": API_KEY_HEADER}},
               {"type": "pagerduty", "url": base + "/pd",
                "routing_key_file": write_secret(tmp_path / "pd",
                                                 ROUTING_KEY)},
               {"type": "slack", "url_file": write_secret(
                   tmp_path / "slack", base + SLACK_PATH)}]}
    config = tmp_path / "kh.yaml"
    write_json(config, cfg)
    env = base_env(home, AWS_ENDPOINT_URL_STS=sts_proxy.url,
                   AWS_SHARED_CREDENTIALS_FILE=str(credfile))

    # `check` first (the blocking credential path), at -vv.
    chk = subprocess.run([kh_bin, "-vv", "-c", str(config), "check",
                          "--json"], capture_output=True, text=True,
                         timeout=60, env=env, cwd=REPO_TOP)
    assert chk.returncode == 2, chk.stdout + chk.stderr

    script = tmp_path / "run.sh"
    script.write_text(JOURNALD_RUN)
    p = spawn("journald-run", ["unshare", "--mount", "--propagation",
                               "private", "sh", str(script), str(tmp_path),
                               kh_bin, "-vv", "-c", str(config), "run"],
              env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (tmp_path / "kh.err").exists() and \
                "started" in (tmp_path / "kh.err").read_text():
            break
        assert p.popen.poll() is None, p.log()
        time.sleep(0.1)
    # Three disabled keys fire an alert each, to three receivers.
    recv.wait_for(9, timeout=60)
    time.sleep(2.5)         # another round of polls, credentials reused
    status = http_get("http://127.0.0.1:%d/status" % port)
    metrics = http_get("http://127.0.0.1:%d/metrics" % port)
    os.kill(int((tmp_path / "kh.pid").read_text()), signal.SIGTERM)
    p.wait(timeout=30)
    assert (tmp_path / "kh.rc").read_text().strip() == "0", \
        (tmp_path / "kh.err").read_text()[-3000:]

    assumed = sts_proxy.secrets()
    assert len(assumed) >= 2, sts_proxy.bodies     # the role was assumed
    secrets = {"emulator secret key": EMU_SK,
               "session secret key": sess["SecretAccessKey"],
               "session token": sess["SessionToken"],
               "webhook secret": WEBHOOK_SECRET,
               "webhook header value": API_KEY_HEADER,
               "routing key": ROUTING_KEY,
               "slack URL path": SLACK_PATH,
               "slack token": SLACK_PATH.rsplit("/", 1)[1]}
    for i, s in enumerate(assumed):
        secrets["assumed-role secret %d" % i] = s

    journal = (tmp_path / "journal.export").read_text(errors="replace")
    assert "KEYHEALTH_CHECK=key-disabled" in journal   # the notifier wrote
    outputs = {"check stdout": chk.stdout, "check stderr -vv": chk.stderr,
               "run stdout": (tmp_path / "kh.out").read_text(),
               "run stderr -vv": (tmp_path / "kh.err").read_text(),
               "journal": journal, "/status": status, "/metrics": metrics}
    assert "curl > POST" in outputs["run stderr -vv"]   # -vv was on
    for f in all_files(str(state)):
        outputs["state file " + os.path.relpath(f, str(state))] = \
            open(f, errors="replace").read()
    for i, r in enumerate(recv.requests):
        text = r["body"].decode("utf-8", "replace") + json.dumps(
            {k: v for k, v in r["headers"].items()})
        if r["path"] == "/pd":
            # PagerDuty's API takes the routing key in the event itself.
            text = text.replace(ROUTING_KEY, "")
        if r["path"] == "/hook":
            # The receiver is where the configured header goes.
            text = text.replace(API_KEY_HEADER, "")
        outputs["request %d to %s" % (i, r["path"].split("/")[1])] = text
    assert any(r["path"] == SLACK_PATH for r in recv.requests)

    leaks = ["%s in %s" % (sname, oname)
             for oname, text in outputs.items()
             for sname, s in secrets.items() if s in text]
    assert not leaks, leaks


def test_state_files_are_0600_in_a_0700_directory(
        kmsemu, keyhealthd, tmp_path):
    pol = gearset_policy()
    m = kmsemu.client.seed_key(region="eu-west-1", Policy=pol,
                               KeyState="Disabled")
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(str(state), 0o755)     # a loose directory is tightened
    k = keyhealthd(kmsemu, [{"arn": m["Arn"], "name": "k",
                             "vendor": "gearset"}],
                   extra={"notifiers": [{"type": "webhook",
                                         "url": "http://127.0.0.1:9/x"}]})
    k.wait_until(lambda: os.listdir(str(state / "outbox" / "webhook")),
                 what="an outbox file")
    assert k.stop() == 0
    n = 0
    for d, dirs, files in os.walk(str(state)):
        assert os.stat(d).st_mode & 0o777 == 0o700, d
        for f in files:
            n += 1
            assert os.stat(os.path.join(d, f)).st_mode & 0o777 == 0o600, f
    assert n >= 3


def _config(tmp_path, kmsemu_url, **extra):
    cfg = {"state_dir": str(tmp_path / "state"),
           "aws": {"endpoint_url": kmsemu_url},
           "keys": [{"arn": "arn:aws:kms:eu-west-1:111122223333:key/"
                            "1234abcd-12ab-34cd-56ef-1234567890ab"}]}
    cfg.update(extra)
    path = tmp_path / "kh.yaml"
    write_json(path, cfg)
    return str(path)


def test_world_writable_config_is_refused_by_validate_and_run(
        tmp_path, kh_bin):
    path = _config(tmp_path, "http://127.0.0.1:9")
    os.chmod(path, 0o666)
    env = base_env(tmp_path)
    v = run([kh_bin, "-c", path, "validate"], env=env)
    assert v.returncode == 1
    assert "writable" in v.stderr and path in v.stderr, v.stderr
    r = run([kh_bin, "-c", path, "run"], env=env, timeout=30)
    assert r.returncode != 0
    assert "writable" in r.stderr, r.stderr
    os.chmod(path, 0o600)
    assert run([kh_bin, "-c", path, "validate"], env=env).returncode == 0


def _loose_secret_config(tmp_path):
    secret = write_secret(tmp_path / "wh", WEBHOOK_SECRET)
    os.chmod(secret, 0o666)
    path = _config(tmp_path, "http://127.0.0.1:9", notifiers=[
        {"type": "webhook", "url": "http://127.0.0.1:9/h",
         "secret_file": secret}])
    return secret, path


def test_world_writable_secret_file_is_refused_by_run(tmp_path, kh_bin):
    secret, path = _loose_secret_config(tmp_path)
    r = run([kh_bin, "-c", path, "run"], env=base_env(tmp_path), timeout=30)
    assert r.returncode != 0
    assert secret in r.stderr and "writable by others" in r.stderr, r.stderr
    assert WEBHOOK_SECRET not in r.stderr + r.stdout


def test_world_writable_secret_file_is_refused_by_validate(tmp_path, kh_bin):
    secret, path = _loose_secret_config(tmp_path)
    v = run([kh_bin, "-c", path, "validate"], env=base_env(tmp_path))
    assert v.returncode == 1
    assert secret in v.stderr and "writable by others" in v.stderr, v.stderr
    assert WEBHOOK_SECRET not in v.stderr + v.stdout


@pytest.mark.parametrize("key", ["endpoint_url", "sts_endpoint_url"])
def test_plain_http_to_a_remote_endpoint_needs_allow_http(
        tmp_path, kh_bin, key):
    path = _config(tmp_path, "http://127.0.0.1:9")
    cfg = json.load(open(path))
    cfg["aws"][key] = "http://kms.example.com:4566"
    write_json(path, cfg)
    v = run([kh_bin, "-c", path, "validate"], env=base_env(tmp_path))
    assert v.returncode == 1
    assert "allow_http" in v.stderr, v.stderr
    cfg["aws"]["allow_http"] = True
    write_json(path, cfg)
    v = run([kh_bin, "-c", path, "validate"], env=base_env(tmp_path))
    assert v.returncode == 0, v.stderr


def test_secret_slack_url_over_plain_http_to_a_remote_host_is_refused(
        tmp_path, kh_bin):
    url = "http://hooks.example.com" + SLACK_PATH
    slack = write_secret(tmp_path / "slack", url)
    path = _config(tmp_path, "http://127.0.0.1:9", notifiers=[
        {"type": "slack", "url_file": slack}])
    v = run([kh_bin, "-c", path, "validate"], env=base_env(tmp_path))
    assert v.returncode == 1
    assert "https" in v.stderr, v.stderr
    assert SLACK_PATH not in v.stderr + v.stdout
    write_secret(tmp_path / "slack", url.replace("http:", "https:"))
    v = run([kh_bin, "-c", path, "validate"], env=base_env(tmp_path))
    assert v.returncode == 0, v.stderr
