#!/usr/bin/python3
"""`make systemd-test`: the Debian package under a real systemd.

    systemd_test.py --deb build/keyhealthd_VERSION_ARCH.deb --work DIR
                    [--keep]

Makes (once, cached in DIR/root-cache) a Debian 12 root with debootstrap:
systemd, systemd-sysv, dbus and the package's run-time dependencies, from
the apt mirror this machine uses.  Each run copies it to DIR/root, boots
it with `systemd-nspawn -b --register=no --keep-unit` and drives it from
outside with `nsenter -t <its PID 1> -a systemctl ...`.  The container
shares the host's network, so the service inside reaches the KMS emulator
(tests/kmsemu) and a webhook receiver that run here on loopback.

Prints PASS or FAIL for each check, the time each part took, and a last
line "N passed, N failed"; exits 1 if any check failed or could not run.
The container, the emulator and the receiver are stopped by PID on every
way out (end, failure, SIGINT, SIGTERM); DIR/root is removed after a run
that passed and kept for a look after one that failed (or with --keep).
Needs root (debootstrap, systemd-nspawn).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "kmsemu"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from conftest import pick_free_port  # noqa: E402
from emuclient import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY  # noqa: E402
from fixture_daemon import seed_gearset_key  # noqa: E402
from fixture_kmsemu import EmuProcess  # noqa: E402
from fixture_webhook import Receiver  # noqa: E402

SUITE = "bookworm"
BASE_PACKAGES = ["systemd", "systemd-sysv", "dbus"]
CATALOG = os.path.join(REPO, "systemd", "keyhealthd.catalog")
UNIT = "keyhealthd.service"
SECRET = b"systemd-test-webhook-secret"
# Generous: the machine may be shared and busy.
BOOT_TIMEOUT = 180
WAIT = 90
# What the running system rewrites by itself; not the package's leftovers.
VOLATILE = ("proc", "sys", "dev", "run", "tmp", "var/tmp", "var/log",
            "var/cache", "var/lib/systemd/random-seed",
            "var/lib/systemd/catalog/database", "var/lib/dpkg/status-old",
            "var/lib/dpkg/triggers", "var/lib/dpkg/lock",
            "var/lib/dpkg/lock-frontend", "root/keyhealthd.deb")


class CheckFailed(Exception):
    pass


def fail(msg):
    raise CheckFailed(msg)


def log(msg):
    print(msg, flush=True)


class Timer:
    def __init__(self):
        self.figures = []

    def part(self, name, start):
        secs = time.monotonic() - start
        self.figures.append((name, secs))
        log("  time: %s %.1fs" % (name, secs))


# -- the cached root ---------------------------------------------------------

def apt_mirror():
    """The Debian mirror this machine's apt uses for SUITE (one-line
    sources.list or deb822 .sources); KEYHEALTHD_DEBIAN_MIRROR wins."""
    if os.environ.get("KEYHEALTHD_DEBIAN_MIRROR"):
        return os.environ["KEYHEALTHD_DEBIAN_MIRROR"]
    try:
        with open("/etc/apt/sources.list") as f:
            for line in f:
                # deb [option=value ...] URI SUITE COMPONENT...
                line = re.sub(r"\[[^]]*\]", " ", line.split("#")[0])
                w = line.split()
                if len(w) >= 3 and w[0] == "deb" and w[2] == SUITE:
                    return w[1]
    except OSError:
        pass
    d = "/etc/apt/sources.list.d"
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if not name.endswith(".sources"):
            continue
        with open(os.path.join(d, name)) as f:
            for stanza in f.read().split("\n\n"):
                fields = dict(
                    (k.strip().lower(), v.strip()) for k, _, v in
                    (ln.partition(":") for ln in stanza.splitlines()
                     if ln and not ln.startswith("#") and ":" in ln))
                if (SUITE in fields.get("suites", "").split()
                        and "deb" in fields.get("types", "").split()
                        and fields.get("uris")):
                    return fields["uris"].split()[0]
    sys.exit("systemd-test: no Debian %s mirror in apt's sources; "
             "set KEYHEALTHD_DEBIAN_MIRROR" % SUITE)


def deb_depends(deb):
    """The package names of the .deb's Depends (first of alternatives)."""
    out = subprocess.run(["dpkg-deb", "-f", deb, "Depends"], check=True,
                         capture_output=True, text=True).stdout
    names = []
    for dep in out.split(","):
        name = dep.split("|")[0].split("(")[0].split(":")[0].strip()
        if name:
            names.append(name)
    return names


def ensure_root_cache(work, packages, timer):
    """DIR/root-cache, made with debootstrap when missing or made for
    another package list."""
    cache = os.path.join(work, "root-cache")
    mirror = apt_mirror()
    want = "%s %s %s\n" % (SUITE, ",".join(sorted(packages)), mirror)
    stamp = os.path.join(work, "root-cache.stamp")
    try:
        with open(stamp) as f:
            if f.read() == want and os.path.isdir(cache):
                log("root: cached %s (%s)" % (cache, want.strip()))
                return cache
    except OSError:
        pass
    log("root: debootstrap %s from %s with %s" % (SUITE, mirror,
                                                  ",".join(packages)))
    for p in (stamp, cache, cache + ".tmp"):
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.unlink(p)
    t = time.monotonic()
    with open(os.path.join(work, "debootstrap.log"), "w") as lf:
        r = subprocess.run(
            ["debootstrap", "--variant=minbase",
             "--include=" + ",".join(packages), SUITE, cache + ".tmp",
             mirror], stdout=lf, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        fail("debootstrap failed (exit %d), see %s/debootstrap.log"
             % (r.returncode, work))
    os.rename(cache + ".tmp", cache)
    with open(stamp, "w") as f:
        f.write(want)
    timer.part("debootstrap", t)
    return cache


# -- the container -----------------------------------------------------------

class Container:
    def __init__(self, root, log_path):
        self.root = root
        self.log_path = log_path
        self.nspawn = None
        self.pid1 = None

    def boot(self):
        self._log = open(self.log_path, "ab")
        self.nspawn = subprocess.Popen(
            ["systemd-nspawn", "-b", "--register=no", "--keep-unit", "-q",
             "--console=pipe", "-D", self.root,
             "--machine=khtest-%d" % os.getpid()],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            start_new_session=True)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while self.pid1 is None and time.monotonic() < deadline:
            if self.nspawn.poll() is not None:
                fail("systemd-nspawn exited with %d, see %s"
                     % (self.nspawn.returncode, self.log_path))
            self.pid1 = self._find_pid1()
            time.sleep(0.1)
        if self.pid1 is None:
            fail("no PID 1 under systemd-nspawn %d" % self.nspawn.pid)
        # Until systemd has set up its bus, systemctl cannot answer.
        state = wait_until("systemd to finish booting", lambda: (
            lambda s: s if s in ("running", "degraded") else None)(
                self.run(["systemctl", "is-system-running", "--wait"],
                         check=False, timeout=BOOT_TIMEOUT).stdout.strip()),
            timeout=BOOT_TIMEOUT)
        if state == "degraded":
            log("  note: degraded, failed units: %s" % self.run(
                ["systemctl", "--failed", "--no-legend", "--plain"],
                check=False).stdout.strip())
        return state

    def _find_pid1(self):
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/status" % d) as f:
                    st = f.read()
            except OSError:
                continue
            ppid = re.search(r"^PPid:\s*(\d+)", st, re.M)
            nspid = re.search(r"^NSpid:\s*(.*)$", st, re.M)
            # Before it execs systemd, PID 1 is still systemd-nspawn's
            # child setting the container up.
            name = re.search(r"^Name:\s*(\S+)", st, re.M)
            if (ppid and int(ppid.group(1)) == self.nspawn.pid and nspid
                    and nspid.group(1).split()[-1] == "1" and name
                    and name.group(1) == "systemd"):
                return int(d)
        return None

    def run(self, argv, check=True, timeout=WAIT, input=None):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
               "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}
        r = subprocess.run(["nsenter", "-t", str(self.pid1), "-a"]
                           + list(argv), capture_output=True, text=True,
                           timeout=timeout, env=env, input=input,
                           stdin=None if input is not None
                           else subprocess.DEVNULL)
        if check and r.returncode != 0:
            fail("%s: exit %d: %s%s" % (" ".join(argv), r.returncode,
                                         r.stdout[-2000:], r.stderr[-2000:]))
        return r

    def show(self, *props):
        out = self.run(["systemctl", "show", UNIT]
                       + ["-p" + p for p in props]).stdout
        return dict(ln.partition("=")[::2] for ln in out.splitlines())

    def path(self, p):
        """A path of the container as seen from here."""
        return os.path.join(self.root, p.lstrip("/"))

    def write(self, p, text, mode=0o644):
        host = self.path(p)
        os.makedirs(os.path.dirname(host), exist_ok=True)
        with open(host + ".tmp", "w") as f:
            f.write(text)
        os.chmod(host + ".tmp", mode)
        os.replace(host + ".tmp", host)

    def stop(self):
        if self.nspawn is None or self.nspawn.poll() is not None:
            return
        # SIGTERM asks systemd-nspawn to power the container off.
        self.nspawn.send_signal(signal.SIGTERM)
        try:
            self.nspawn.wait(60)
        except subprocess.TimeoutExpired:
            if self.pid1 is not None:
                try:
                    os.kill(self.pid1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.nspawn.kill()
            self.nspawn.wait(30)
        self._log.close()


# -- helpers -----------------------------------------------------------------

def wait_until(what, fn, timeout=WAIT, step=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(step)
    fail("timed out after %ds waiting for %s (last: %r)"
         % (timeout, what, last))


def catalog_entries():
    """MESSAGE_ID -> the entry's lines, from systemd/keyhealthd.catalog."""
    entries, cur = {}, None
    with open(CATALOG) as f:
        for line in f:
            m = re.match(r"^-- ([0-9a-f]{32})", line)
            if m:
                cur = entries.setdefault(m.group(1), [])
            elif cur is not None:
                cur.append(line.rstrip("\n"))
    return entries


def snapshot(root):
    """Every path of the root's persistent tree but the volatile ones."""
    paths = set()
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        rel = "" if rel == "." else rel
        keep = []
        for d in dirs:
            p = os.path.join(rel, d)
            if p in VOLATILE:
                continue
            keep.append(d)
            paths.add(p + "/")
        dirs[:] = keep
        for f in files:
            p = os.path.join(rel, f)
            if p not in VOLATILE:
                paths.add(p)
    return paths


def journal(ct, *args):
    r = ct.run(["journalctl", "--no-pager", "-o", "json"] + list(args))
    return [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]


def journal_cursor(ct):
    out = ct.run(["journalctl", "-n", "0", "--show-cursor", "-q"],
                 check=False).stdout
    m = re.search(r"cursor: (\S+)", out)
    return m.group(1) if m else None


def config_text(emu_url, hook_url, keys):
    lines = ["# written by tests/systemd/systemd_test.py",
             "interval: 2s",
             "aws:",
             "  endpoint_url: %s" % emu_url,
             "keys:"]
    for meta, name in keys:
        lines += ["  - arn: %s" % meta["Arn"],
                  "    name: %s" % name,
                  "    vendor: gearset"]
    lines += ["notifiers:",
              "  - type: journald",
              "  - type: webhook",
              "    name: oncall",
              "    url: %s" % hook_url,
              "    secret_file: webhook-secret"]
    return "\n".join(lines) + "\n"


CREDENTIALS_DROPIN = """\
[Service]
LoadCredential=aws-credentials:/etc/keyhealthd/aws-credentials
LoadCredential=webhook-secret:/etc/keyhealthd/webhook-secret
Environment=AWS_SHARED_CREDENTIALS_FILE=%d/aws-credentials
"""

# A short watchdog and a daemon whose loop stops 4 s after it started
# (KEYHEALTHD_TEST_STALL is test only; see keyhealthd(8)).
WATCHDOG_DROPIN = """\
[Service]
WatchdogSec=3s
RestartSec=1s
Environment=KEYHEALTHD_TEST_STALL=4s
"""


# -- the checks --------------------------------------------------------------

class Run:
    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.work)
        self.timer = Timer()
        self.passed = 0
        self.failed = 0
        self.ct = None
        self.emu = None
        self.hook = None
        self.keys = []

    def check(self, name, fn, fatal=False):
        t = time.monotonic()
        try:
            detail = fn()
        except (CheckFailed, subprocess.SubprocessError, OSError,
                KeyError, ValueError) as e:
            self.failed += 1
            log("FAIL %s: %s" % (name, e))
            if fatal:
                raise
            return False
        self.passed += 1
        log("PASS %s%s (%.1fs)" % (name, ": " + detail if detail else "",
                                   time.monotonic() - t))
        return True

    # -- parts

    def prepare(self):
        os.makedirs(self.work, exist_ok=True)
        deb = os.path.abspath(self.args.deb)
        if not os.path.isfile(deb):
            fail("no %s: run make deb" % deb)
        packages = BASE_PACKAGES + [p for p in deb_depends(deb)
                                    if p not in BASE_PACKAGES]
        cache = ensure_root_cache(self.work, packages, self.timer)
        root = os.path.join(self.work, "root")
        if os.path.exists(root):
            shutil.rmtree(root)
        t = time.monotonic()
        subprocess.run(["cp", "-a", "--reflink=auto", cache, root],
                       check=True)
        shutil.copy(deb, os.path.join(root, "root", "keyhealthd.deb"))
        self.timer.part("copy root", t)
        self.ct = Container(root, os.path.join(self.work, "nspawn.log"))
        return "%s, %d packages" % (SUITE, len(packages))

    def boot(self):
        t = time.monotonic()
        state = self.ct.boot()
        self.timer.part("boot", t)
        self.before = snapshot(self.ct.root)
        return "PID 1 is %d here, system %s" % (self.ct.pid1, state)

    def install(self):
        t = time.monotonic()
        self.ct.run(["dpkg", "-i", "/root/keyhealthd.deb"], timeout=300)
        self.timer.part("dpkg -i", t)
        enabled = self.ct.run(["systemctl", "is-enabled", UNIT],
                              check=False).stdout.strip()
        if enabled != "enabled":
            fail("is-enabled says %r" % enabled)
        st = self.ct.show("ActiveState", "ConditionResult",
                          "UnitFileState")
        if st["ActiveState"] != "inactive" or st["ConditionResult"] != "no":
            fail("without a configuration: %r" % st)
        return "enabled, not started without keyhealthd.yaml (%s)" % \
            ", ".join("%s=%s" % kv for kv in sorted(st.items()))

    def catalog(self):
        want = len(catalog_entries())
        out = self.ct.run(["journalctl", "--list-catalog"]).stdout
        n = sum(1 for ln in out.splitlines() if "keyhealthd" in ln)
        if n != want:
            fail("%d of %d catalog entries installed" % (n, want))
        return "%d entries" % n

    def security(self):
        out = self.ct.run(["systemd-analyze", "security", "--no-pager",
                           UNIT], check=False).stdout
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
        if not m:
            fail("no exposure in: %s" % out[-500:])
        level = float(m.group(1))
        if level > 1.5:
            fail("exposure %.1f > 1.5:\n%s" % (level, out))
        return "exposure %.1f" % level

    def peers(self):
        self.emu = EmuProcess(os.path.join(self.work, "kmsemu.log"))
        self.keys = [(seed_gearset_key(self.emu, "eu-west-1"), "gearset-eu"),
                     (seed_gearset_key(self.emu, "us-west-2"), "gearset-us")]
        self.hook = Receiver(pick_free_port(), secret=SECRET).start()
        return "emulator %s, receiver %s" % (self.emu.url, self.hook.url)

    def start(self):
        ct = self.ct
        ct.write("/etc/keyhealthd/keyhealthd.yaml",
                 config_text(self.emu.url, self.hook.url, self.keys[:1]))
        ct.write("/etc/keyhealthd/aws-credentials",
                 "[default]\naws_access_key_id = %s\n"
                 "aws_secret_access_key = %s\n"
                 % (DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY), 0o600)
        ct.write("/etc/keyhealthd/webhook-secret", SECRET.decode() + "\n",
                 0o600)
        ct.write("/etc/systemd/system/%s.d/credentials.conf" % UNIT,
                 CREDENTIALS_DROPIN)
        ct.run(["systemctl", "daemon-reload"])
        t = time.monotonic()
        ct.run(["systemctl", "start", UNIT], timeout=120)
        self.timer.part("systemctl start", t)
        st = ct.show("Type", "ActiveState", "SubState", "MainPID")
        if (st["Type"], st["ActiveState"], st["SubState"]) != \
                ("notify", "active", "running"):
            fail("after start: %r" % st)
        status = wait_until(
            "the status line of the first poll",
            lambda: (lambda s: s if re.match(r"1 key: 1 ok", s) else None)(
                ct.show("StatusText")["StatusText"]))
        return "Type=notify, active (running), MainPID %s, status %r" % (
            st["MainPID"], status)

    def credentials(self):
        ct = self.ct
        pid = ct.show("MainPID")["MainPID"]
        out = ct.run(["ls", "/run/credentials/" + UNIT]).stdout.split()
        if sorted(out) != ["aws-credentials", "webhook-secret"]:
            fail("credentials directory holds %r" % out)
        env = ct.run(["cat", "/proc/%s/environ" % pid]).stdout.split("\0")
        creds = [e for e in env if e.startswith("CREDENTIALS_DIRECTORY=")]
        if creds != ["CREDENTIALS_DIRECTORY=/run/credentials/" + UNIT]:
            fail("daemon environment: %r" % creds)
        # The emulator verifies every signature with the key pair of the
        # credentials file: a signed DescribeKey means they arrived.
        reqs = [r for r in self.emu.client.requests(operation="DescribeKey")
                if r.get("access_key") == DEFAULT_ACCESS_KEY
                and r.get("signature_valid") and r.get("status") == 200]
        if not reqs:
            fail("the emulator saw no DescribeKey signed with the "
                 "credentials file's key")
        return "%s; %d signed DescribeKey" % (" ".join(sorted(out)),
                                              len(reqs))

    def disabled_key_pages(self):
        meta, name = self.keys[0]
        self.emu.kms_client(region="eu-west-1").disable_key(
            KeyId=meta["Arn"])

        def firing():
            for r in self.hook.accepted():
                j = r["json"] or {}
                if j.get("check") == "key-disabled" and \
                        j.get("status") == "firing":
                    return r
            return None
        r = wait_until("the key-disabled webhook", firing)
        if r["sig_ok"] is not True:
            fail("signature does not verify with the credential's secret")
        j = r["json"]
        if j["key"]["arn"] != meta["Arn"] or j["key"]["name"] != name:
            fail("key in payload: %r" % j["key"])
        self.fingerprint = j["fingerprint"]
        return "firing key-disabled for %s, signed, fingerprint %s..." % (
            name, j["fingerprint"][:12])

    def journal_entry(self):
        meta, name = self.keys[0]

        def entry():
            for e in journal(self.ct, "-t", "keyhealthd",
                             "KEYHEALTH_CHECK=key-disabled"):
                if e.get("KEYHEALTH_STATUS") == "firing":
                    return e
            return None
        e = wait_until("the key-disabled journal entry", entry)
        want = {"KEYHEALTH_CHECK": "key-disabled",
                "KEYHEALTH_STATUS": "firing",
                "KEYHEALTH_SEVERITY": "critical",
                "KEYHEALTH_KEY_ARN": meta["Arn"],
                "KEYHEALTH_KEY_NAME": name,
                "KEYHEALTH_FINGERPRINT": self.fingerprint,
                "PRIORITY": "2", "_SYSTEMD_UNIT": UNIT}
        bad = {k: e.get(k) for k, v in want.items() if e.get(k) != v}
        if bad:
            fail("fields differ: %r (want %r)" % (bad, want))
        mid = e.get("MESSAGE_ID", "")
        cat = catalog_entries().get(mid)
        if cat is None:
            fail("MESSAGE_ID %r is not in the catalog" % mid)
        out = self.ct.run(["journalctl", "--no-pager", "-x", "-t",
                           "keyhealthd", "KEYHEALTH_CHECK=key-disabled",
                           "MESSAGE_ID=" + mid]).stdout
        # The subject and the first lines of the body (after the headers).
        blank = cat.index("") if "" in cat else len(cat)
        pick = [cat[0]] + [ln for ln in cat[blank:] if ln.strip()][:2]
        lines = [re.sub(r"@(\w+)@", lambda m: e.get(m.group(1), ""), ln)
                 for ln in pick]
        missing = [ln for ln in lines if ln not in out]
        if missing:
            fail("journalctl -x lacks the catalog text %r:\n%s"
                 % (missing, out[-1500:]))
        return "KEYHEALTH_* fields, MESSAGE_ID %s, catalog text %r" % (
            mid, lines[0])

    def reload(self):
        ct = self.ct
        before = ct.show("MainPID", "NRestarts")
        ct.write("/etc/keyhealthd/keyhealthd.yaml",
                 config_text(self.emu.url, self.hook.url, self.keys))
        ct.run(["systemctl", "reload", UNIT])
        status = wait_until(
            "a status line with both keys",
            lambda: (lambda s: s if s.startswith("2 keys:") else None)(
                ct.show("StatusText")["StatusText"]))
        after = ct.show("MainPID", "NRestarts", "ActiveState")
        if after["ActiveState"] != "active" or \
                after["MainPID"] != before["MainPID"] or \
                after["NRestarts"] != before["NRestarts"]:
            fail("before %r, after %r" % (before, after))
        return "MainPID %s kept, status %r" % (after["MainPID"], status)

    def watchdog(self):
        ct = self.ct
        dropin = "/etc/systemd/system/%s.d/zz-watchdog-test.conf" % UNIT
        ct.write(dropin, WATCHDOG_DROPIN)
        ct.run(["systemctl", "daemon-reload"])
        cursor = journal_cursor(ct)
        ct.run(["systemctl", "restart", UNIT], timeout=120)
        st = ct.show("MainPID", "NRestarts", "WatchdogUSec")
        stalled = st["MainPID"]
        t = time.monotonic()

        def caught():
            args = ["-u", UNIT] + (["--after-cursor", cursor] if cursor
                                   else [])
            msgs = [str(e.get("MESSAGE", "")) for e in journal(ct, *args)]
            wd = [m for m in msgs if "Watchdog timeout" in m]
            res = [m for m in msgs if "Failed with result 'watchdog'" in m]
            now = ct.show("MainPID", "NRestarts", "ActiveState")
            if wd and res and now["MainPID"] not in ("0", stalled) and \
                    int(now["NRestarts"]) > int(st["NRestarts"]) and \
                    now["ActiveState"] == "active":
                return "%s %s" % (wd[0], res[0]), now
            return None
        msg, now = wait_until("the watchdog to restart the stalled daemon",
                              caught, timeout=120)
        self.timer.part("watchdog catch", t)
        os.unlink(ct.path(dropin))
        ct.run(["systemctl", "daemon-reload"])
        ct.run(["systemctl", "restart", UNIT], timeout=120)
        back = ct.show("ActiveState", "WatchdogUSec")
        if back["ActiveState"] != "active" or back["WatchdogUSec"] != "1min":
            fail("after removing the test drop-in: %r" % back)
        return "%r; PID %s replaced by %s" % (msg, stalled, now["MainPID"])

    def stop(self):
        ct = self.ct
        t = time.monotonic()
        ct.run(["systemctl", "stop", UNIT], timeout=120)
        self.timer.part("systemctl stop", t)
        st = ct.show("ActiveState", "Result", "ExecMainCode",
                     "ExecMainStatus")
        if st != {"ActiveState": "inactive", "Result": "success",
                  "ExecMainCode": "1", "ExecMainStatus": "0"}:
            fail("after stop: %r" % st)
        state = "/var/lib/private/keyhealthd"
        files = ct.run(["find", state, "-type", "f"]).stdout.split()
        names = sorted(os.path.relpath(f, state) for f in files)
        if "alerts.json" not in names or \
                not any(n.startswith("keys/") for n in names):
            fail("state files: %r" % names)
        alerts = ct.run(["cat", state + "/alerts.json"]).stdout
        if self.fingerprint not in alerts:
            fail("alerts.json lacks the firing alert")
        return "exit 0, Result=success; state kept: %s" % ", ".join(names)

    def purge(self):
        ct = self.ct
        t = time.monotonic()
        ct.run(["dpkg", "--purge", "keyhealthd"], timeout=300)
        self.timer.part("dpkg --purge", t)
        left = sorted(snapshot(ct.root) - self.before)
        if left:
            fail("left behind: %s" % ", ".join(left))
        units = ct.run(["systemctl", "list-unit-files", "--no-legend",
                        "keyhealthd*"], check=False).stdout.strip()
        if units:
            fail("systemd still knows %r" % units)
        cat = ct.run(["journalctl", "--list-catalog"]).stdout
        if "keyhealthd" in cat:
            fail("the journal catalog still has keyhealthd's entries")
        return "no file, unit or catalog entry left"

    # -- driver

    def main(self):
        t0 = time.monotonic()
        steps = [
            ("root made or cached, copied", self.prepare, True),
            ("container boots with systemd", self.boot, True),
            ("package installs, enabled, waits for its config",
             self.install, True),
            ("journal catalog installed", self.catalog, False),
            ("systemd-analyze security <= 1.5", self.security, False),
            ("emulator and webhook receiver on loopback", self.peers, True),
            ("service active with Type=notify and a status line",
             self.start, True),
            ("credentials arrive through LoadCredential=",
             self.credentials, False),
            ("a disabled key pages the webhook", self.disabled_key_pages,
             True),
            ("journal entry with KEYHEALTH_* fields and catalog text",
             self.journal_entry, False),
            ("systemctl reload keeps the PID", self.reload, False),
            ("the watchdog catches a stalled loop", self.watchdog, False),
            ("systemctl stop exits cleanly, state kept", self.stop, False),
            ("dpkg --purge leaves nothing behind", self.purge, False),
        ]
        try:
            for i, (name, fn, fatal) in enumerate(steps):
                try:
                    self.check(name, fn, fatal)
                except (CheckFailed, subprocess.SubprocessError, OSError,
                        KeyError, ValueError):
                    for rest, _, _ in steps[i + 1:]:
                        self.failed += 1
                        log("FAIL %s: not run" % rest)
                    break
        finally:
            self.cleanup()
        self.timer.part("whole run", t0)
        log("figures: " + ", ".join("%s %.1fs" % f
                                    for f in self.timer.figures))
        log("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0

    def cleanup(self):
        if self.ct is not None:
            self.ct.stop()
        if self.hook is not None:
            self.hook.stop()
        if self.emu is not None:
            self.emu.stop()
        root = os.path.join(self.work, "root")
        if self.failed or self.args.keep:
            log("kept %s (container log %s/nspawn.log)" % (root, self.work))
        elif os.path.isdir(root):
            shutil.rmtree(root)


def on_signal(sig, frame):
    # Unwinds through Run.main's finally, which stops the container.
    raise KeyboardInterrupt("signal %d" % sig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deb", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--keep", action="store_true",
                    help="keep the container's root after a run")
    args = ap.parse_args()
    if os.geteuid() != 0:
        log("FAIL needs root (debootstrap, systemd-nspawn)")
        log("0 passed, 1 failed")
        return 1
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    return Run(args).main()


if __name__ == "__main__":
    sys.exit(main())
