#!/usr/bin/python3
"""`make demo`: keyhealthd against the bundled KMS emulator, with a story.

    demo.py [--fast] [--no-colour] [--keep] [--summary-json FILE]
            [--step-timeout S]

Starts tests/kmsemu/kmsemu.py with four Gearset keys (eu-west-1 and
us-west-2, an alias on the first, one in a CloudHSM key store), the webhook
receiver
(tests/demo/receiver.py, which prints each alert) and build/keyhealthd run
with short intervals, then plays a story: each step is narrated, done with
the KMS API (botocore, as `aws kms ...` would), and the demo waits until the
alert it should cause has reached the receiver.  The last steps move the
emulator's clock a day ahead for the vendor-usage heartbeat (key-unused).  A summary follows; the
exit status is 0 when every step saw its alerts.

Every process runs in its own process group and is stopped by PID on the
way out: at the end, on a failed step, on Ctrl-C (SIGINT), SIGTERM or
SIGHUP.  --fast polls every second and skips the pauses (for the tests).

Needs only Debian's /usr/bin/python3 with python3-botocore (make deps).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "kmsemu"))

from emuclient import (DEFAULT_ACCESS_KEY, DEFAULT_ACCOUNT,  # noqa: E402
                       DEFAULT_SECRET_KEY, EmuClient)

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
    else sys.executable
KH_BIN = os.environ.get("KEYHEALTHD_BIN",
                        os.path.join(REPO, "build", "keyhealthd"))

GEARSET = {"eu-west-1": "347752291521", "us-west-2": "157764733222",
           "ap-southeast-2": "178658833999"}
ALIAS = "alias/gearset-backup"
# A safety net: nothing the demo starts outlives this, even if the demo
# itself is SIGKILLed.
CHILD_LIFETIME = 600


class Interrupted(Exception):
    pass


class StepFailed(Exception):
    pass


def gearset_policy(region, with_use=True):
    """The key policy of Gearset's BYOK guide for region."""
    gearset = "arn:aws:iam::%s:root" % GEARSET[region]
    st = [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
           "Principal": {"AWS": "arn:aws:iam::%s:root" % DEFAULT_ACCOUNT},
           "Action": "kms:*", "Resource": "*"}]
    if with_use:
        st.append({"Sid": "Allow use of the key", "Effect": "Allow",
                   "Principal": {"AWS": gearset},
                   "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                              "kms:GenerateDataKey*", "kms:DescribeKey"],
                   "Resource": "*"})
    st.append({"Sid": "Allow attachment of persistent resources",
               "Effect": "Allow", "Principal": {"AWS": gearset},
               "Action": ["kms:CreateGrant", "kms:ListGrants",
                          "kms:RevokeGrant"],
               "Resource": "*",
               "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}})
    return json.dumps({"Version": "2012-10-17", "Id": "gearset-byok",
                       "Statement": st}, indent=2)


class Out:
    """Serialised terminal output: narration, the daemon's lines, the
    receiver's blocks."""

    def __init__(self, colour):
        self.colour = colour
        self.lock = threading.Lock()
        self.t0 = time.monotonic()

    def paint(self, code, text):
        return "\033[%sm%s\033[0m" % (code, text) if self.colour else text

    def elapsed(self):
        return time.monotonic() - self.t0

    def line(self, text=""):
        with self.lock:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def say(self, text, code="1"):
        self.line(self.paint(code, "[%5.1fs] %s" % (self.elapsed(), text)))

    def more(self, text, code=None):
        text = "         " + text
        self.line(self.paint(code, text) if code else text)


class Child:
    """A process in its own process group, output relayed line by line."""

    def __init__(self, out, name, argv, env=None, prefix=None,
                 transform=None, logfile=None, swallow_first=True):
        self.name = name
        self.out = out
        self.popen = subprocess.Popen(
            # --foreground: timeout passes a signal to the command once
            # (without it, also to the group: twice).
            ["timeout", "--foreground", "--kill-after=5",
             str(CHILD_LIFETIME)] + argv,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env, cwd=REPO,
            start_new_session=True)
        self.pid = self.popen.pid
        self.prefix = prefix
        self.transform = transform
        self.logfile = logfile
        self.swallow_first = swallow_first
        self.first = None
        self.lines = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._relay, daemon=True)
        self.thread.start()

    def _relay(self):
        log = open(self.logfile, "a") if self.logfile else None
        try:
            for raw in self.popen.stdout:
                text = raw.decode("utf-8", "replace").rstrip("\n")
                if log:
                    log.write(text + "\n")
                    log.flush()
                self.lines.append(text)
                if self.first is None:
                    self.first = text
                    self.ready.set()
                    if self.swallow_first:
                        continue
                if self.transform:
                    text = self.transform(text)
                if text is None:
                    continue
                if self.prefix:
                    text = self.out.paint("2", self.prefix) + text
                self.out.line(text)
        finally:
            self.ready.set()
            if log:
                log.close()

    def first_line(self, timeout):
        self.ready.wait(timeout)
        return self.first

    def alive(self):
        return self.popen.poll() is None

    def stop(self, timeout=5.0):
        """SIGTERM (timeout(1) passes it on), SIGKILL to the whole group
        after timeout; the exit status."""
        if self.popen.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(timeout)
        else:
            # The leader is gone; make sure nothing of its group is left.
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.thread.join(2)
        return self.popen.returncode


LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ keyhealthd"
                        r"(\[\d+\])?: ")


def daemon_line(text):
    """The daemon's log line without its timestamp and name."""
    return LOG_PREFIX.sub("", text)


class Demo:
    def __init__(self, args):
        self.args = args
        colour = not args.no_colour and sys.stdout.isatty() and \
            os.environ.get("TERM", "dumb") != "dumb"
        self.out = Out(colour)
        self.tmp = tempfile.mkdtemp(prefix="keyhealthd-demo-")
        self.children = []
        self.emu = self.receiver = self.daemon = None
        self.keys = {}
        self.results = []
        self.alerts_log = os.path.join(self.tmp, "alerts.jsonl")
        self.state_dir = os.path.join(self.tmp, "state")
        self.daemon_rc = None
        fast = args.fast
        self.interval = 1 if fast else 3
        self.pause = 0 if fast else 2.5
        self.step_timeout = args.step_timeout or (20 if fast else 30)

    # -- set-up -----------------------------------------------------------
    def start_emulator(self):
        self.emu = self.spawn("kmsemu", [
            PYTHON, os.path.join(REPO, "tests", "kmsemu", "kmsemu.py"),
            "--port", "0", "--exit-after", str(CHILD_LIFETIME)],
            prefix="   kmsemu | ",
            logfile=os.path.join(self.tmp, "kmsemu.log"))
        line = self.emu.first_line(20) or ""
        m = re.match(r"kmsemu listening on ([\d.]+):(\d+)", line)
        if not m:
            raise StepFailed("the emulator did not start: %r\n%s" % (
                line, "\n".join(self.emu.lines)))
        self.emu_url = "http://%s:%s" % (m.group(1), m.group(2))
        self.emu_client = EmuClient(self.emu_url)
        self.out.more("kmsemu (pid %d) listening on %s" % (self.emu.pid,
                                                          self.emu_url))

    def kms(self, region):
        import botocore.config
        import botocore.session
        s = botocore.session.Session()
        return s.create_client(
            "kms", region_name=region, endpoint_url=self.emu_url,
            aws_access_key_id=DEFAULT_ACCESS_KEY,
            aws_secret_access_key=DEFAULT_SECRET_KEY,
            config=botocore.config.Config(retries={"max_attempts": 3}))

    def seed_keys(self):
        self.eu = self.kms("eu-west-1")
        self.us = self.kms("us-west-2")
        for name, region, client, desc in (
                ("gearset-eu", "eu-west-1", self.eu,
                 "Gearset backups (EU)"),
                ("gearset-us", "us-west-2", self.us,
                 "Gearset backups (US)"),
                ("gearset-eu-2", "eu-west-1", self.eu,
                 "Gearset backups (EU), new key")):
            # gearset-eu is a multi-Region primary: step 8 replicates it.
            meta = client.create_key(
                Description=desc, Policy=gearset_policy(region),
                KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT",
                MultiRegion=name == "gearset-eu")["KeyMetadata"]
            self.keys[name] = {"arn": meta["Arn"], "id": meta["KeyId"],
                               "region": region, "client": client}
            self.out.more("%-13s %s" % (name, meta["Arn"]))
        self.eu.create_alias(AliasName=ALIAS,
                             TargetKeyId=self.keys["gearset-eu"]["id"])
        self.out.more("%-13s -> gearset-eu" % ALIAS)
        # A key in a CloudHSM key store, for the store's step.
        self.store_id = self.eu.create_custom_key_store(
            CustomKeyStoreName="hsm-eu",
            CloudHsmClusterId="cluster-1a23b4cdefg",
            TrustAnchorCertificate="-----BEGIN CERTIFICATE-----",
            KeyStorePassword="kmsuser-demo")["CustomKeyStoreId"]
        self.eu.connect_custom_key_store(CustomKeyStoreId=self.store_id)
        meta = self.eu.create_key(
            Description="Gearset backups (EU), CloudHSM",
            Policy=gearset_policy("eu-west-1"), Origin="AWS_CLOUDHSM",
            CustomKeyStoreId=self.store_id)["KeyMetadata"]
        self.keys["gearset-hsm"] = {"arn": meta["Arn"], "id": meta["KeyId"],
                                    "region": "eu-west-1",
                                    "client": self.eu}
        self.out.more("%-13s %s (key store %s)" % ("gearset-hsm",
                                                   meta["Arn"],
                                                   self.store_id))
        # Tonight's backup: KMS records the key's last use.
        self.eu.encrypt(KeyId=self.keys["gearset-eu"]["id"],
                        Plaintext=b"backup")
        self.out.more("gearset-eu    used for a backup (Encrypt)")
        # The grant Gearset's AWS services hold on the key.
        self.vendor_grant = {
            "GranteePrincipal": "arn:aws:iam::%s:root"
            % GEARSET["eu-west-1"],
            "Operations": ["Decrypt", "Encrypt", "GenerateDataKey"]}
        self.grant_id = self.eu.create_grant(
            KeyId=self.keys["gearset-eu"]["id"],
            **self.vendor_grant)["GrantId"]
        self.out.more("%-13s grant %s... to Gearset" % (
            "gearset-eu", self.grant_id[:12]))

    def start_receiver(self):
        secret = os.path.join(self.tmp, "webhook-secret")
        with open(os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600),
                  "w") as f:
            f.write(os.urandom(24).hex() + "\n")
        self.secret_file = secret
        argv = [PYTHON, os.path.join(HERE, "receiver.py"), "--port", "0",
                "--secret-file", secret, "--log", self.alerts_log]
        argv.append("--colour" if self.out.colour else "--no-colour")
        self.receiver = self.spawn("receiver", argv,
                                   logfile=os.path.join(self.tmp,
                                                        "receiver.log"))
        line = self.receiver.first_line(20) or ""
        m = re.match(r"receiver listening on ([\d.]+):(\d+)", line)
        if not m:
            raise StepFailed("the receiver did not start: %r" % line)
        self.hook_url = "http://%s:%s/hook" % (m.group(1), m.group(2))
        self.out.more("webhook receiver (pid %d) on %s, checking the "
                      "HMAC signature" % (self.receiver.pid, self.hook_url))

    def write_config(self):
        i = self.interval
        conf = [
            "# keyhealthd demo: written by tests/demo/demo.py",
            "interval: %ds" % i,
            "slow_interval: %ds" % i,
            "grants_interval: %ds" % i,
            "renotify: 4h",
            "state_dir: %s" % self.state_dir,
            "aws:",
            "  endpoint_url: %s" % self.emu_url,
            "keys:",
        ]
        for name in ("gearset-eu", "gearset-us", "gearset-hsm"):
            conf += ["  - arn: %s" % self.keys[name]["arn"],
                     "    name: %s" % name,
                     "    vendor: gearset"]
            if name == "gearset-eu":
                conf += ["    alias: %s" % ALIAS,
                         "    expect_use_within: 1d"]
        conf += ["notifiers:",
                 "  - type: webhook",
                 "    name: demo-receiver",
                 "    url: %s" % self.hook_url,
                 "    secret_file: %s" % self.secret_file,
                 "    timeout: 5s", ""]
        self.config = os.path.join(self.tmp, "keyhealthd.yaml")
        fd = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o600)
        with open(fd, "w") as f:
            f.write("\n".join(conf))

    def kh_env(self):
        home = os.path.join(self.tmp, "home")
        os.makedirs(home, 0o700, exist_ok=True)
        # The emulator's credentials, for this process only; HOME empty so
        # no ~/.aws of the machine is used.
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": home,
               "LANG": "C.UTF-8", "TZ": "UTC",
               "AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY,
               "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_KEY,
               "AWS_EC2_METADATA_DISABLED": "true",
               # The shipped vendor profiles of the source tree.
               "KEYHEALTHD_VENDOR_DIR": os.environ.get(
                   "KEYHEALTHD_VENDOR_DIR", os.path.join(REPO, "vendors"))}

    def discover(self):
        """`keyhealthd discover`: the keys whose policy names Gearset,
        as a keys: block to paste."""
        path = os.path.join(self.tmp, "discover.yaml")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w") as f:
            f.write("aws:\n  endpoint_url: %s\nstate_dir: %s\n"
                    "discover:\n  regions: [eu-west-1, us-west-2]\n"
                    % (self.emu_url, self.state_dir))
        self.out.more("$ keyhealthd -c %s discover" % path, "36")
        r = subprocess.run([KH_BIN, "-c", path, "discover"],
                           capture_output=True, text=True,
                           env=self.kh_env(), timeout=60,
                           stdin=subprocess.DEVNULL)
        for line in r.stdout.splitlines():
            self.out.more("  " + line)
        want = len(self.keys)
        if r.returncode != 0 or r.stdout.count("- arn:") != want:
            raise StepFailed("keyhealthd discover (status %d) did not "
                             "list the %d keys:\n%s%s" % (
                                 r.returncode, want, r.stdout, r.stderr))

    def start_daemon(self):
        env = self.kh_env()
        self.daemon = self.spawn("keyhealthd", [KH_BIN, "-c", self.config,
                                                "run"],
                                 env=env, prefix="   keyhealthd | ",
                                 transform=daemon_line,
                                 logfile=os.path.join(self.tmp,
                                                      "keyhealthd.log"),
                                 swallow_first=False)
        deadline = time.monotonic() + 10
        while not any(" started: " in l for l in self.daemon.lines):
            if not self.daemon.alive() or time.monotonic() > deadline:
                raise StepFailed("keyhealthd did not start")
            time.sleep(0.05)

    def spawn(self, name, argv, **kw):
        # A signal between the fork and the bookkeeping is held until
        # after it, so whatever is started is stopped.  (Not by blocking
        # the signals: children would inherit the mask.)
        SIGNALS["hold"] = True
        try:
            c = Child(self.out, name, argv, **kw)
            self.children.append(c)
        finally:
            SIGNALS["hold"] = False
        if SIGNALS["pending"] is not None:
            on_signal(SIGNALS["pending"], None)
        return c

    def wait_first_polls(self):
        """Until the daemon has read every key's policy once (its
        baseline), with no alert."""
        deadline = time.monotonic() + self.step_timeout
        want = {self.keys[n]["id"] for n in ("gearset-eu", "gearset-us")}
        while time.monotonic() < deadline:
            self.check_alive()
            seen = {k for r in self.emu_client.requests(
                operation="GetKeyPolicy") for k in want
                if k in (r.get("key_id") or "")}
            if seen == want:
                return
            time.sleep(0.2)
        raise StepFailed("keyhealthd did not poll both keys within %ds"
                         % self.step_timeout)

    def check_alive(self):
        for c in (self.emu, self.receiver, self.daemon):
            if c is not None and not c.alive():
                raise StepFailed("%s (pid %d) exited with status %s" % (
                    c.name, c.pid, c.popen.returncode))

    # -- the story --------------------------------------------------------
    def received(self):
        try:
            with open(self.alerts_log) as f:
                return [json.loads(l) for l in f if l.strip()]
        except FileNotFoundError:
            return []

    def step(self, n, total, title, commands, action, expect):
        """Narrates, acts, waits for every (status, check, key) of expect
        among the alerts that arrive after the action."""
        self.out.line()
        self.out.say("Step %d/%d: %s" % (n, total, title))
        for c in commands:
            self.out.more("$ " + c, "36")
        self.out.more("expect: " + "; ".join(
            "%s %s on %s" % ("RESOLVED" if s == "resolved" else sev.upper(),
                             chk, key) for s, sev, chk, key in expect))
        if self.pause:
            time.sleep(self.pause)
        start = len(self.received())
        t0 = time.monotonic()
        action()
        got = {}
        deadline = t0 + self.step_timeout
        while True:
            self.check_alive()
            for ev in self.received()[start:]:
                for e in expect:
                    s, sev, chk, key = e
                    if e in got:
                        continue
                    if (ev.get("status") == s and ev.get("check") == chk and
                            (ev.get("key") or {}).get("name") == key and
                            (s == "resolved" or ev.get("severity") == sev)):
                        got[e] = (time.monotonic() - t0, ev)
            if len(got) == len(expect):
                break
            if time.monotonic() > deadline:
                missing = [e for e in expect if e not in got]
                self.results.append({"step": n, "title": title, "ok": False,
                                     "missing": missing})
                raise StepFailed("step %d (%s): no %s within %ds" % (
                    n, title, missing, self.step_timeout))
            time.sleep(0.1)
        secs = max(t for t, _ in got.values())
        self.out.more(self.out.paint("32", "ok: %d alert%s arrived %.1fs "
                                     "after the change" % (
                                         len(got), "s"[len(got) == 1:],
                                         secs)))
        self.results.append({"step": n, "title": title, "ok": True,
                             "seconds": round(secs, 2),
                             "alerts": [[s, chk, key] for s, _, chk, key
                                        in expect]})
        return {e[2]: ev for e, (_, ev) in got.items()}

    def story(self):
        eu, us, eu2 = (self.keys[n] for n in ("gearset-eu", "gearset-us",
                                              "gearset-eu-2"))
        total = 13

        def cmd(region, text):
            return "aws kms --region %s %s" % (region, text)

        self.step(1, total, "someone disables gearset-eu: Gearset can no "
                  "longer encrypt or decrypt backups",
                  [cmd("eu-west-1", "disable-key --key-id %s" % eu["id"])],
                  lambda: self.eu.disable_key(KeyId=eu["id"]),
                  [("firing", "critical", "key-disabled", "gearset-eu")])
        self.step(2, total, "it is re-enabled: the alert resolves",
                  [cmd("eu-west-1", "enable-key --key-id %s" % eu["id"])],
                  lambda: self.eu.enable_key(KeyId=eu["id"]),
                  [("resolved", "critical", "key-disabled", "gearset-eu")])
        got = self.step(
            3, total, "gearset-us is scheduled for deletion in 7 days: "
            "after that, its backups are gone for good",
            [cmd("us-west-2", "schedule-key-deletion --key-id %s "
                 "--pending-window-in-days 7" % us["id"])],
            lambda: self.us.schedule_key_deletion(KeyId=us["id"],
                                                  PendingWindowInDays=7),
            [("firing", "critical", "key-pending-deletion", "gearset-us")])
        d = got["key-pending-deletion"].get("details") or {}
        self.out.more("the alert says: %s days left (deletion on %s)" % (
            d.get("days_left"), d.get("deletion_date")))
        if d.get("days_left") not in (6, 7):
            raise StepFailed("step 3: days_left is %r, not 7"
                             % d.get("days_left"))

        def cancel():
            self.us.cancel_key_deletion(KeyId=us["id"])
            self.us.enable_key(KeyId=us["id"])
        self.step(4, total, "the deletion is cancelled and the key enabled "
                  "again (a cancelled key stays disabled until then)",
                  [cmd("us-west-2", "cancel-key-deletion --key-id %s"
                       % us["id"]),
                   cmd("us-west-2", "enable-key --key-id %s" % us["id"])],
                  cancel,
                  [("resolved", "critical", "key-pending-deletion",
                    "gearset-us")])
        self.step(5, total, "a manual rotation: %s is moved to a new key, "
                  "but Gearset still uses gearset-eu" % ALIAS,
                  [cmd("eu-west-1", "update-alias --alias-name %s "
                       "--target-key-id %s" % (ALIAS, eu2["id"]))],
                  lambda: self.eu.update_alias(AliasName=ALIAS,
                                               TargetKeyId=eu2["id"]),
                  [("firing", "critical", "key-replaced", "gearset-eu")])
        self.step(6, total, "the \"Allow use of the key\" statement for "
                  "Gearset's account %s is removed from gearset-us's "
                  "policy" % GEARSET["us-west-2"],
                  [cmd("us-west-2", "put-key-policy --key-id %s "
                       "--policy-name default --policy file://"
                       "without-gearset.json" % us["id"])],
                  lambda: self.us.put_key_policy(
                      KeyId=us["id"], PolicyName="default",
                      Policy=gearset_policy("us-west-2", with_use=False)),
                  [("firing", "critical", "vendor-access-missing",
                    "gearset-us"),
                   ("firing", "warning", "policy-changed", "gearset-us")])

        self.step(7, total, "the CloudHSM key store of gearset-hsm is "
                  "disconnected: KMS cannot use its keys",
                  [cmd("eu-west-1", "disconnect-custom-key-store "
                       "--custom-key-store-id %s" % self.store_id)],
                  lambda: self.eu.disconnect_custom_key_store(
                      CustomKeyStoreId=self.store_id),
                  [("firing", "critical", "keystore-disconnected",
                    "gearset-hsm"),
                   ("firing", "critical", "key-unavailable",
                    "gearset-hsm")])
        self.step(8, total, "Gearset's grant on gearset-eu is revoked: its "
                  "AWS services lose the key",
                  [cmd("eu-west-1", "revoke-grant --key-id %s --grant-id "
                       "%s" % (eu["id"], self.grant_id))],
                  lambda: self.eu.revoke_grant(KeyId=eu["id"],
                                               GrantId=self.grant_id),
                  [("firing", "critical", "vendor-grant-revoked",
                    "gearset-eu")])

        def restore():
            self.eu.update_alias(AliasName=ALIAS, TargetKeyId=eu["id"])
            self.us.put_key_policy(KeyId=us["id"], PolicyName="default",
                                   Policy=gearset_policy("us-west-2"))
            self.eu.connect_custom_key_store(CustomKeyStoreId=self.store_id)
            self.eu.create_grant(KeyId=eu["id"], **self.vendor_grant)
        self.step(9, total, "all is put right: the alias goes back, the "
                  "policy is restored, the key store reconnected and "
                  "Gearset's grant created again",
                  [cmd("eu-west-1", "update-alias --alias-name %s "
                       "--target-key-id %s" % (ALIAS, eu["id"])),
                   cmd("us-west-2", "put-key-policy --key-id %s "
                       "--policy-name default --policy file://"
                       "gearset.json" % us["id"]),
                   cmd("eu-west-1", "connect-custom-key-store "
                       "--custom-key-store-id %s" % self.store_id),
                   cmd("eu-west-1", "create-grant --key-id %s "
                       "--grantee-principal arn:aws:iam::%s:root "
                       "--operations Decrypt Encrypt GenerateDataKey"
                       % (eu["id"], GEARSET["eu-west-1"]))],
                  restore,
                  [("resolved", "critical", "key-replaced", "gearset-eu"),
                   ("resolved", "critical", "vendor-access-missing",
                    "gearset-us"),
                   ("resolved", "warning", "policy-changed", "gearset-us"),
                   ("resolved", "critical", "keystore-disconnected",
                    "gearset-hsm"),
                   ("resolved", "critical", "key-unavailable",
                    "gearset-hsm"),
                   ("resolved", "critical", "vendor-grant-revoked",
                    "gearset-eu")])
        rep = "gearset-eu@ap-southeast-2"
        ap = self.kms("ap-southeast-2")
        self.step(10, total, "gearset-eu is replicated to ap-southeast-2 "
                  "without a policy: KMS gives the replica its default "
                  "one, without Gearset's account %s" % GEARSET[
                      "ap-southeast-2"],
                  [cmd("eu-west-1", "replicate-key --key-id %s "
                       "--replica-region ap-southeast-2" % eu["id"])],
                  lambda: self.eu.replicate_key(
                      KeyId=eu["id"], ReplicaRegion="ap-southeast-2"),
                  [("firing", "critical", "vendor-access-missing", rep)])
        self.step(11, total, "the replica gets Gearset's statements: the "
                  "alert resolves",
                  [cmd("ap-southeast-2", "put-key-policy --key-id %s "
                       "--policy-name default --policy file://"
                       "gearset.json" % eu["id"])],
                  lambda: ap.put_key_policy(
                      KeyId=eu["id"], PolicyName="default",
                      Policy=gearset_policy("ap-southeast-2")),
                  [("resolved", "critical", "vendor-access-missing", rep)])
        # The heartbeat: KMS's clock jumps a day; the daemon learns the
        # skew and judges KMS's timestamps by KMS's clock.
        got = self.step(
            12, total, "a day passes and Gearset never uses gearset-eu "
            "(expect_use_within: 1d): the emulator's clock moves 25 hours "
            "ahead",
            ["curl -X POST %s/_emu/clock -d '{\"advance\": 90000}'"
             % self.emu_url],
            lambda: self.emu_client.advance(25 * 3600),
            [("firing", "warning", "key-unused", "gearset-eu")])
        d = got["key-unused"].get("details") or {}
        self.out.more("the alert says: last %s at %s, %.1f hours ago" % (
            d.get("operation"), d.get("last_used_at"),
            (d.get("age_seconds") or 0) / 3600.0))
        self.step(13, total, "Gearset's backup runs again and decrypts with "
                  "gearset-eu (recorded by the emulator, whose clock is "
                  "now a day ahead of ours)",
                  ["curl -X POST %s/_emu/keys/%s/usage -d "
                   "'{\"Operation\": \"Decrypt\", \"region\": "
                   "\"eu-west-1\"}'" % (self.emu_url, eu["id"])],
                  lambda: self.emu_client.set_usage(
                      eu["id"], region="eu-west-1", Operation="Decrypt"),
                  [("resolved", "warning", "key-unused", "gearset-eu")])

    # -- the whole run ----------------------------------------------------
    def run(self):
        o = self.out
        o.say("keyhealthd demo: the daemon watches two Gearset BYOK keys in "
              "a local KMS emulator")
        o.more("files in %s" % self.tmp)
        if not os.access(KH_BIN, os.X_OK):
            raise StepFailed("%s is not built: run make" % KH_BIN)
        self.start_emulator()
        o.say("Creating the keys with Gearset's key policy (accounts %s)"
              % ", ".join("%s in %s" % (GEARSET[r], r)
                          for r in ("eu-west-1", "us-west-2")))
        self.seed_keys()
        o.say("Finding them: keyhealthd discover lists the keys whose "
              "policy names Gearset's account, ready to paste")
        self.discover()
        self.start_receiver()
        self.write_config()
        o.say("Starting keyhealthd: polls every %ds, the alias every %ds, "
              "alerts to the webhook" % (self.interval, self.interval))
        o.more("$ keyhealthd -c %s run" % self.config, "36")
        self.start_daemon()
        self.wait_first_polls()
        o.more(o.paint("32", "first polls done: both keys healthy, no "
                       "alert; their policies are the baseline"))
        self.story()
        self.out.line()
        self.finish()

    def finish(self):
        o = self.out
        o.say("Stopping keyhealthd (SIGTERM)")
        self.daemon_rc = self.daemon.stop()
        left = []
        obdir = os.path.join(self.state_dir, "outbox", "demo-receiver")
        if os.path.isdir(obdir):
            left = [f for f in os.listdir(obdir) if f.endswith(".json")]
        alerts = self.received()
        signed = sum(1 for a in alerts
                     if (a.get("_receiver") or {}).get("signature") == "ok")
        o.line()
        o.say("Summary")
        for r in self.results:
            o.more("step %d  %-4s %5.1fs  %s" % (
                r["step"], "ok" if r["ok"] else "FAIL",
                r.get("seconds", 0.0), ", ".join(
                    "%s %s/%s" % (s, c, k) for s, c, k in r["alerts"])))
        o.more("%d alerts delivered, %d with a valid HMAC signature; "
               "%d left in the outbox; keyhealthd exited with status %s"
               % (len(alerts), signed, len(left), self.daemon_rc))
        o.more("total %.0fs" % o.elapsed())
        if self.daemon_rc != 0:
            raise StepFailed("keyhealthd exited with status %s"
                             % self.daemon_rc)
        if left:
            raise StepFailed("%d alerts were not delivered" % len(left))
        if signed != len(alerts):
            raise StepFailed("some alerts were not signed")

    def cleanup(self):
        # Children in reverse: the daemon before what it talks to.
        for c in reversed(self.children):
            try:
                c.stop()
            except Exception as e:  # noqa: BLE001 - keep stopping the rest
                self.out.line("demo: stopping %s (pid %d): %s"
                              % (c.name, c.pid, e))
        if self.args.summary_json:
            with open(self.args.summary_json, "w") as f:
                json.dump({"steps": self.results,
                           "alerts": self.received(),
                           "daemon_status": self.daemon_rc,
                           "pids": {c.name: c.pid for c in self.children},
                           "seconds": round(self.out.elapsed(), 1)}, f,
                          indent=1)
        if self.args.keep:
            self.out.line("demo: kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


SIGNALS = {"hold": False, "pending": None}


def on_signal(sig, frame):
    if SIGNALS["hold"]:
        SIGNALS["pending"] = sig
        return
    SIGNALS["pending"] = None
    if sig == signal.SIGINT:
        raise KeyboardInterrupt()
    raise Interrupted("signal %d" % sig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fast", action="store_true",
                    help="poll every second and skip the pauses")
    ap.add_argument("--no-colour", action="store_true")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (logs, state)")
    ap.add_argument("--summary-json", metavar="FILE",
                    help="write the steps' results and the alerts here")
    ap.add_argument("--step-timeout", type=float, metavar="S")
    args = ap.parse_args()
    sys.stdout.reconfigure(errors="backslashreplace")
    # Our own botocore must not read the machine's ~/.aws either.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    # SIGINT too: a shell without job control starts background jobs with
    # it ignored, and Ctrl-C must stop the demo however it was started.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    demo = Demo(args)
    rc = 1
    try:
        demo.run()
        rc = 0
        demo.out.say("demo finished: every step raised the alert it should",
                     "1;32")
    except (KeyboardInterrupt, Interrupted) as e:
        demo.out.line()
        demo.out.say("interrupted (%s): stopping everything" % (
            str(e) or "Ctrl-C"), "1;33")
        rc = 130
    except StepFailed as e:
        demo.out.say("FAILED: %s" % e, "1;31")
        demo.out.more("logs: %s (kept)" % demo.tmp)
        args.keep = True
    finally:
        # No second Ctrl-C may leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        demo.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
