#!/usr/bin/python3
"""keyhealthd's benchmark (make bench): keyhealthd, a boto3 polling loop
(peer_boto3.py) and a minimal C client (floor.c) check the same keys of
the same KMS emulator in one run; the table gives each figure and the
ratios keyhealthd/peer.  Method: tests/bench/RESULTS.md.

    bench.py --bin build/keyhealthd --floor build/bench/floor --out DIR
             [--keys 100,1000,10000] [--quick]

A key check is one full poll of a key: DescribeKey + GetKeyPolicy (no
alias, no rotation status configured, so every poll is exactly those two
requests, for all three clients; keyhealthd also lists each key's grants,
one ListGrants on its first poll and then hourly, which the peers do not).
"""
import argparse
import http.server
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "kmsemu"))
from emuclient import EmuClient  # noqa: E402

PY = "/usr/bin/python3"
ACCOUNT = "111122223333"
REGION = "eu-west-1"
GEARSET = "347752291521"
AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
PEER_AKID = "AKIDBENCHPEER0000001"
PEER_SECRET = "benchpeerSecretKey0000000000000000000001"
FLOOR_AKID = "AKIDBENCHFLOOR000001"
FLOOR_SECRET = "benchfloorSecretKey000000000000000000001"
CONNS = 8               # connections/threads for every client
BENCH_RATE = 10000      # kms.rate_limit in the bench config (the maximum)
BENCH_INFLIGHT = 64     # kms.max_inflight in the bench config
HZ = os.sysconf("SC_CLK_TCK")

POLICY = json.dumps({
    "Version": "2012-10-17", "Id": "key-policy",
    "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCOUNT},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Allow use of the key", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::%s:root" % GEARSET},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                    "kms:GenerateDataKey*", "kms:DescribeKey"],
         "Resource": "*"},
        {"Sid": "Allow attachment of persistent resources",
         "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::%s:root" % GEARSET},
         "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
         "Resource": "*",
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}]},
    indent=2)


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def key_id(i):
    return "%08x-0000-4000-8000-%012x" % (i, i)


def key_arn(i):
    return "arn:aws:kms:%s:%s:key/%s" % (REGION, ACCOUNT, key_id(i))


# -- /proc ---------------------------------------------------------------

def proc_cpu(pid):
    """CPU seconds (user + sys) of every thread of pid, nanosecond
    precise: the sum of /proc/PID/task/*/schedstat (on-CPU time), falling
    back to /proc/PID/stat's tick counts.  Threads that ended are counted
    by the process's stat only, so take the larger of the two."""
    ticks = 0.0
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = (int(fields[11]) + int(fields[12])) / HZ
    except (OSError, IndexError, ValueError):
        return None
    ns = 0
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                ns += int(f.read().split()[0])
    except (OSError, ValueError):
        return ticks
    # schedstat is exact for live threads; the tick count also holds the
    # threads that have exited, at 1/HZ resolution.
    return ns / 1e9 if ns / 1e9 + 2.0 / HZ >= ticks else ticks


def proc_status(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def pct(values, p):
    """The p-th percentile, nearest rank."""
    v = sorted(values)
    if not v:
        return None
    k = max(0, min(len(v) - 1, int(math.ceil(p / 100.0 * len(v))) - 1))
    return v[k]


# -- the emulator ----------------------------------------------------------

class Emulator:
    def __init__(self, workdir):
        self.errf = open(os.path.join(workdir, "kmsemu.log"), "w")
        self.p = subprocess.Popen(
            [PY, os.path.join(TOP, "tests/kmsemu/kmsemu.py"), "--port", "0",
             "--exit-after", "3600"],
            stdout=subprocess.PIPE, stderr=self.errf, text=True)
        line = self.p.stdout.readline()
        m = re.search(r"listening on ([\d.]+):(\d+)", line)
        if not m:
            raise SystemExit("bench: the emulator did not start: %r" % line)
        self.url = "http://%s:%s" % (m.group(1), m.group(2))
        self.pid = self.p.pid
        self.client = EmuClient(self.url, timeout=120)

    def seed(self, n):
        self.client.reset()
        self.client.add_account(ACCOUNT, access_key_id=PEER_AKID,
                                secret_access_key=PEER_SECRET)
        self.client.add_account(ACCOUNT, access_key_id=FLOOR_AKID,
                                secret_access_key=FLOOR_SECRET)
        for lo in range(0, n, 200):
            self.client.seed({"keys": [
                {"region": REGION, "account": ACCOUNT, "KeyId": key_id(i),
                 "Policy": POLICY}
                for i in range(lo, min(n, lo + 200))]})
        self.client.clear_requests()
        self.client.clear_counters()

    def checks_done(self):
        """KMS requests answered so far (DescribeKey + GetKeyPolicy)."""
        c = self.client.counters()
        ops = c.get("by_operation", {})
        bad = sum(v for k, v in c.get("by_status", {}).items() if k != "200")
        return ops.get("DescribeKey", 0) + ops.get("GetKeyPolicy", 0), bad

    def cpu(self):
        return proc_cpu(self.pid)

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.errf.close()


# -- keyhealthd --------------------------------------------------------------

def write_config(path, emu_url, n, state_dir, interval, bench_limits,
                 listen=None, webhook=None):
    lines = ["interval: %s" % interval, "state_dir: %s" % state_dir,
             "aws:", "  endpoint_url: %s" % emu_url]
    if bench_limits:
        lines += ["kms:", "  rate_limit: %d" % BENCH_RATE,
                  "  max_inflight: %d" % BENCH_INFLIGHT]
    if listen:
        lines += ["http:", "  listen: %s" % listen]
    if webhook:
        lines += ["notifiers:", "  - type: webhook", "    name: bench",
                  "    url: %s" % webhook]
    lines.append("keys:")
    for i in range(n):
        lines.append("  - {arn: '%s', name: k%05d, vendor: gearset}"
                     % (key_arn(i), i))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)


def client_env(workdir, akid=AKID, secret=SECRET):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k not in ("NOTIFY_SOCKET",
                                                     "WATCHDOG_USEC")}
    home = os.path.join(workdir, "home")
    os.makedirs(home, exist_ok=True)
    env.update(HOME=home, AWS_ACCESS_KEY_ID=akid,
               AWS_SECRET_ACCESS_KEY=secret,
               AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=os.path.join(home, "none"),
               AWS_SHARED_CREDENTIALS_FILE=os.path.join(home, "none"))
    return env


class Daemon:
    def __init__(self, args, workdir, emu, n, name, interval, bench_limits,
                 webhook=None, state_dir=None):
        self.dir = os.path.join(workdir, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.state = state_dir or os.path.join(self.dir, "state")
        shutil.rmtree(self.state, ignore_errors=True)
        os.makedirs(self.state)
        self.conf = os.path.join(self.dir, "keyhealthd.yaml")
        self.port = free_port()
        write_config(self.conf, emu.url, n, self.state, interval,
                     bench_limits, listen="127.0.0.1:%d" % self.port,
                     webhook=webhook)
        # validate reads the same file as the start-up: its parse time.
        t = time.monotonic()
        subprocess.run([args.bin, "-c", self.conf, "validate"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=client_env(self.dir), check=True)
        self.validate_s = time.monotonic() - t
        self.errf = open(os.path.join(self.dir, "keyhealthd.log"), "w")
        self.p = subprocess.Popen(
            [args.bin, "-c", self.conf, "run"], stdin=subprocess.DEVNULL,
            stdout=self.errf, stderr=subprocess.STDOUT,
            env=client_env(self.dir))
        self.pid = self.p.pid
        self.started = time.monotonic()

    def alive(self):
        return self.p.poll() is None

    def metric(self, name, missing=0.0):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics"
                                        % self.port, timeout=10) as r:
                text = r.read().decode()
        except OSError:
            return None
        total, found = 0.0, False
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
                found = True
        return total if found else missing

    def own_lag(self):
        """The lag the daemon caused (less waits for a CPU), or None."""
        return self.metric("keyhealthd_loop_lag_own_max_seconds", None)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                # Stopping writes every key's state: minutes at 100,000
                # keys on a slow disk.
                self.p.wait(900)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.errf.close()
        return self.p.returncode


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(cond, timeout, what, step=0.02):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise SystemExit("bench: timed out waiting for %s" % what)


def tmpfs_dir():
    """A directory on tmpfs for the state, or None."""
    try:
        with open("/proc/mounts") as f:
            mounts = [ln.split() for ln in f]
    except OSError:
        return None
    for m in mounts:
        if len(m) > 2 and m[2] == "tmpfs" and m[1] == "/dev/shm" and \
                os.access(m[1], os.W_OK):
            return tempfile.mkdtemp(prefix="kh-bench-state-", dir=m[1])
    return None


def bench_daemon(args, workdir, emu, n, min_checks, min_window,
                 bench_limits=True, name="keyhealthd", steady=True,
                 state_dir=None):
    """keyhealthd in two phases.  (1) interval 5m (the default): its
    first sweep (state files written) and its memory after it, as in
    production.  (2) SIGHUP to interval 1s: it polls continuously (each
    key again 0.9-1.1 s after its last poll), and a steady window shows
    its CPU per check and its throughput."""
    d = Daemon(args, workdir, emu, n, "%s-%d" % (name, n), "5m",
               bench_limits, state_dir=state_dir)
    res = {"n": n, "validate_s": d.validate_s}
    try:
        t0 = time.monotonic()
        first = None

        def done_at_least(k):
            def cond():
                nonlocal first
                if not d.alive():
                    raise SystemExit("bench: keyhealthd exited; see %s"
                                     % d.errf.name)
                done, _ = emu.checks_done()
                if done > 0 and first is None:
                    first = time.monotonic()
                return done >= k
            return cond
        wait_for(done_at_least(2 * n), 900, "keyhealthd's first sweep")
        res["first_sweep_s"] = time.monotonic() - (first or t0)
        res["startup_to_first_request_s"] = (first or t0) - t0
        # The state files are durable once the writer thread is done.
        wait_for(lambda: d.metric("keyhealthd_state_writes_pending") == 0,
                 900, "keyhealthd's state writes", step=0.1)
        res["state_written_s"] = time.monotonic() - (first or t0)
        time.sleep(2)
        res["idle_hwm_kib"] = proc_status(d.pid, "VmHWM")
        res["idle_rss_kib"] = proc_status(d.pid, "VmRSS")
        res["idle_anon_kib"] = proc_status(d.pid, "RssAnon")
        res["lag_max_first_s"] = d.metric("keyhealthd_loop_lag_max_seconds")
        res["lag_own_max_first_s"] = d.own_lag()
        if not steady:
            res["rps"] = 2 * n / res["first_sweep_s"]
            res["sweep_s"] = res["first_sweep_s"]
            return res
        write_config(d.conf, emu.url, n, os.path.join(d.dir, "state"), "1s",
                     bench_limits, listen="127.0.0.1:%d" % d.port)
        t_hup = time.monotonic()
        d.p.send_signal(signal.SIGHUP)
        wait_for(lambda: d.metric("keyhealthd_reloads_total") == 1, 900,
                 "keyhealthd's reload")
        res["reload_s"] = time.monotonic() - t_hup
        res["lag_max_reload_s"] = d.metric(
            "keyhealthd_loop_lag_max_seconds")
        res["lag_own_max_reload_s"] = d.own_lag()
        wait_for(done_at_least(4 * n), 900, "keyhealthd's sweep after "
                 "the reload")
        time.sleep(1.5)
        c0, e0 = emu.checks_done()
        k0, m0, w0 = proc_cpu(d.pid), emu.cpu(), time.monotonic()
        res["polls_metric_0"] = d.metric("keyhealthd_polls_total")
        k0b = proc_cpu(d.pid)   # /metrics itself costs CPU: not counted
        wait_for(lambda: (emu.checks_done()[0] - c0 >= 2 * min_checks and
                          time.monotonic() - w0 >= min_window),
                 900, "keyhealthd's steady window", step=0.1)
        c1, e1 = emu.checks_done()
        k1, m1, w1 = proc_cpu(d.pid), emu.cpu(), time.monotonic()
        res["polls_metric_1"] = d.metric("keyhealthd_polls_total")
        wall = w1 - w0
        checks = (c1 - c0) / 2.0
        res.update(
            wall=wall, requests=c1 - c0, checks=checks,
            errors=e1 - e0,
            cpu=(k1 - k0) - (k0b - k0),
            rps=(c1 - c0) / wall,
            emu_busy=(m1 - m0) / wall,
            hwm_kib=proc_status(d.pid, "VmHWM"),
            rss_kib=proc_status(d.pid, "VmRSS"),
            anon_kib=proc_status(d.pid, "RssAnon"),
            lag_max_s=d.metric("keyhealthd_loop_lag_max_seconds"),
            lag_own_max_s=d.own_lag(),
            runq_wait_s=d.metric(
                "keyhealthd_loop_runqueue_wait_seconds_total", None),
            waiting_end=d.metric("keyhealthd_polls_waiting"))
        res["cpu_per_1k"] = res["cpu"] / checks * 1000.0
        res["client_busy"] = res["cpu"] / wall
        res["checks_per_s"] = checks / wall
        # A sweep in steady state: every key once at the rate sustained.
        res["sweep_s"] = n / res["checks_per_s"]
        # Each key is due 0.9-1.1 s after its last poll: a sweep that
        # takes about 1 s is the interval's doing, not a bottleneck.
        res["interval_bound"] = res["sweep_s"] <= 1.15
    finally:
        res["exit"] = d.stop()
    return res


def bench_peer(args, workdir, emu, n, kind, min_checks):
    """floor or boto3: a warm-up of 100 keys, then enough full sweeps to
    make min_checks key checks; CPU and wall per sweep reported by the
    client itself (getrusage), the emulator's CPU sampled at each sweep's
    start and end."""
    keyfile = os.path.join(workdir, "keys-%d.txt" % n)
    sweeps = max(1, int(math.ceil(min_checks / float(n))))
    if kind == "floor":
        cmd = [args.floor, "-e", emu.url, "-k", keyfile, "-c", str(CONNS),
               "-s", str(sweeps), "-w", "100"]
        env = client_env(workdir, FLOOR_AKID, FLOOR_SECRET)
    else:
        cmd = [PY, os.path.join(TOP, "tests/bench/peer_boto3.py"),
               "--endpoint", emu.url, "--keys", keyfile,
               "--threads", str(CONNS), "--sweeps", str(sweeps),
               "--warmup", "100"]
        env = client_env(workdir, PEER_AKID, PEER_SECRET)
    errf = open(os.path.join(workdir, "%s-%d.log" % (kind, n)), "w")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, env=env,
                         text=True)
    res = {"n": n, "sweeps": sweeps, "wall": 0.0, "cpu": 0.0,
           "requests": 0, "errors": 0, "emu_cpu": 0.0}
    m0 = None
    for line in p.stdout:
        ev = json.loads(line)
        if ev["event"] == "start":
            m0 = emu.cpu()
        elif ev["event"] == "end":
            res["emu_cpu"] += emu.cpu() - m0
            for k in ("wall", "cpu", "requests", "errors"):
                res[k] += ev[k]
        elif ev["event"] == "done":
            res["hwm_kib"] = ev["hwm_kib"]
            res["anon_kib"] = ev.get("anon_kib")
    p.wait()
    errf.close()
    if p.returncode != 0:
        raise SystemExit("bench: %s exited %d; see %s"
                         % (kind, p.returncode, errf.name))
    checks = res["requests"] / 2.0
    res.update(checks=checks, cpu_per_1k=res["cpu"] / checks * 1000.0,
               client_busy=res["cpu"] / res["wall"],
               rps=res["requests"] / res["wall"],
               sweep_s=res["wall"] / sweeps,
               emu_busy=res["emu_cpu"] / res["wall"])
    return res


# -- detection latency -------------------------------------------------------

class Receiver:
    def __init__(self):
        self.got = []
        self.lock = threading.Lock()
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                t = time.time()
                body = self.rfile.read(int(self.headers.get(
                    "Content-Length", "0")))
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = None
                with recv.lock:
                    recv.got.append((t, self.path, doc))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def first(self, path, arn, check):
        with self.lock:
            for t, p, doc in self.got:
                if (p == path and isinstance(doc, dict) and
                        doc.get("status") == "firing" and
                        doc.get("check") == check and
                        (doc.get("key") or {}).get("arn") == arn):
                    return t
        return None


def bench_latency(args, workdir, emu, n, changes, spacing):
    """keyhealthd (interval 10s, webhook) and the boto3 loop (a sweep
    every 10 s, webhook) watch the same n keys; keys are disabled one at
    a time at random moments; each latency is the receiver's clock at the
    alert minus the clock just before the change (time.time() in this
    process, the receiver's thread and the emulator: one clock)."""
    emu.seed(n)
    keyfile = os.path.join(workdir, "keys-%d.txt" % n)
    recv = Receiver()
    hook = "http://127.0.0.1:%d" % recv.port
    d = Daemon(args, workdir, emu, n, "latency-keyhealthd", "10s", True,
               webhook=hook + "/kh")
    changes_at = []
    duration = 30 + changes * spacing[1] + 30
    peer_err = open(os.path.join(workdir, "latency-boto3.log"), "w")
    peer = subprocess.Popen(
        [PY, os.path.join(TOP, "tests/bench/peer_boto3.py"),
         "--endpoint", emu.url, "--keys", keyfile, "--threads", str(CONNS),
         "--interval", "10", "--duration", str(duration),
         "--webhook", hook + "/peer"],
        stdout=subprocess.DEVNULL, stderr=peer_err,
        env=client_env(workdir, PEER_AKID, PEER_SECRET))
    res = {"n": n, "changes": changes, "interval_s": 10}
    try:
        wait_for(lambda: emu.checks_done()[0] >= 4 * n, 120,
                 "the first sweeps")
        time.sleep(2 + random.uniform(0, 10))
        rnd = random.Random(10)
        for j in range(changes):
            arn = key_arn(j)
            t = time.time()
            emu.client.update_key(arn, KeyState="Disabled")
            changes_at.append((arn, t))
            time.sleep(rnd.uniform(*spacing))

        def all_in():
            return all(recv.first("/kh", a, "key-disabled") is not None and
                       recv.first("/peer", a, "key-disabled") is not None
                       for a, _ in changes_at)
        try:
            wait_for(all_in, 45, "the alerts", step=0.2)
        except SystemExit as e:
            log(str(e) + " (some alerts missing)")
        reqs = (emu.client.requests(operation="DescribeKey") +
                emu.client.requests(operation="GetKeyPolicy"))
    finally:
        d.stop()
        peer.terminate()
        peer.wait(20)
        peer_err.close()
    for who, path, akid in (("keyhealthd", "/kh", AKID),
                            ("boto3", "/peer", PEER_AKID)):
        lat, deliv, missing = [], [], 0
        for arn, t in changes_at:
            tr = recv.first(path, arn, "key-disabled")
            if tr is None:
                missing += 1
                continue
            lat.append(tr - t)
            # Detection: the poll that saw the change has all it needs
            # when the later of its two responses (DescribeKey, then the
            # GetKeyPolicy sent with it) has left the emulator; that
            # DescribeKey is the client's last of this key before the
            # alert arrived (polls of a key are 10 s apart).
            mine = [(r["real_time"], r["real_time"] +
                     r["duration_ms"] / 1000.0, r["operation"])
                    for r in reqs if r.get("key_id") == arn and
                    r.get("access_key") == akid and
                    r["real_time"] >= t - 0.5]
            ds = [m for m in mine if m[2] == "DescribeKey" and m[1] <= tr]
            if ds:
                d0 = max(ds, key=lambda m: m[1])
                ends = [m[1] for m in mine if abs(m[0] - d0[0]) < 1.0]
                deliv.append(tr - max(ends))
        res[who] = {
            "missing": missing, "n": len(lat),
            "p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat or [0]),
            "delivery_p50": pct(deliv, 50), "delivery_p99": pct(deliv, 99),
            "delivery_max": max(deliv or [0])}
    return res


# -- report -------------------------------------------------------------------

def machine():
    info = {"nproc": os.cpu_count(), "kernel": platform.release()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    info["mem_mib"] = int(line.split()[1]) // 1024
    except OSError:
        pass

    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except OSError:
            return "?"
    info["python"] = platform.python_version()
    import boto3
    import botocore
    info["boto3"] = boto3.__version__
    info["botocore"] = botocore.__version__
    info["libcurl"] = out(["pkg-config", "--modversion", "libcurl"])
    info["openssl"] = out(["pkg-config", "--modversion", "openssl"])
    info["libevent"] = out(["pkg-config", "--modversion", "libevent"])
    info["jansson"] = out(["pkg-config", "--modversion", "jansson"])
    return info


def fnum(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float) and abs(v) >= 1000:
        return "{:,.0f}".format(v)
    return ("{:,.%df}" % digits).format(v)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    r = a / b
    return "%.3f" % r if r < 0.1 else "%.2f" % r


def render(results):
    rows = []

    def row(fig, n, kh, bo, fl, rb=True, rf=True, digits=1):
        rows.append((fig, str(n), fnum(kh, digits), fnum(bo, digits),
                     fnum(fl, digits),
                     ratio(kh, bo) if rb else "", ratio(kh, fl) if rf else ""))

    sizes = results["sizes"]
    for s in sizes:
        n, kh, bo, fl = s["n"], s["keyhealthd"], s["boto3"], s["floor"]
        row("CPU ms / 1,000 key checks", n, kh["cpu_per_1k"] * 1000,
            bo["cpu_per_1k"] * 1000, fl["cpu_per_1k"] * 1000)
        row("client busy (own CPU s / wall s)", n, kh["client_busy"],
            bo["client_busy"], fl["client_busy"], rb=False, rf=False,
            digits=2)
        row("emulator busy (its CPU s / wall s)", n, kh["emu_busy"],
            bo["emu_busy"], fl["emu_busy"], rb=False, rf=False, digits=2)
        row("requests/s sustained", n, kh["rps"], bo["rps"], fl["rps"],
            digits=0)
        row("full sweep s", n, kh["sweep_s"], bo["sweep_s"], fl["sweep_s"],
            digits=2)
        row("first sweep s (kh: + state files)", n, kh["first_sweep_s"],
            None, None, rb=False, rf=False, digits=2)
        tm = s.get("keyhealthd_tmpfs")
        if tm:
            row("  the same, state_dir on tmpfs", n, tm["first_sweep_s"],
                None, None, rb=False, rf=False, digits=2)
        row("  state files durable s (writer thread done)", n,
            kh.get("state_written_s"), None, None, rb=False, rf=False,
            digits=2)
        row("loop lag max ms: first sweep", n,
            _ms(kh.get("lag_max_first_s")), None, None, rb=False, rf=False)
        row("  own ms (less the loop's waits for a CPU)", n,
            _ms(kh.get("lag_own_max_first_s")), None, None, rb=False,
            rf=False)
        row("loop lag max ms: + reload (SIGHUP)", n,
            _ms(kh.get("lag_max_reload_s")), None, None, rb=False,
            rf=False)
        row("  own ms (less the loop's waits for a CPU)", n,
            _ms(kh.get("lag_own_max_reload_s")), None, None, rb=False,
            rf=False)
        row("loop lag max ms: whole run", n, _ms(kh.get("lag_max_s")),
            None, None, rb=False, rf=False)
        row("  own ms (less the loop's waits for a CPU)", n,
            _ms(kh.get("lag_own_max_s")), None, None, rb=False, rf=False)
        row("  loop's waits for a CPU s: whole run", n,
            kh.get("runq_wait_s"), None, None, rb=False, rf=False,
            digits=2)
        row("validate s", n, kh.get("validate_s"), None, None, rb=False,
            rf=False, digits=2)
        row("start-up to first request s", n,
            kh.get("startup_to_first_request_s"), None, None, rb=False,
            rf=False, digits=2)
        row("peak RSS MiB (VmHWM) [1]", n, kh["idle_hwm_kib"] / 1024.0,
            bo["hwm_kib"] / 1024.0, fl["hwm_kib"] / 1024.0)
        row("  of which private (RssAnon) MiB", n,
            kh["idle_anon_kib"] / 1024.0, _kib(bo.get("anon_kib")),
            _kib(fl.get("anon_kib")))
        row("peak RSS MiB, polling flat out [2]", n, kh["hwm_kib"] / 1024.0,
            None, None, rb=False, rf=False)
        row("RSS KiB per key (VmHWM / N) [1]", n,
            kh["idle_hwm_kib"] / float(n), bo["hwm_kib"] / float(n),
            fl["hwm_kib"] / float(n), digits=2)
    if len(sizes) >= 2:
        a, b = sizes[0], sizes[-1]
        dn = float(b["n"] - a["n"])

        def slope(who):
            f = "idle_hwm_kib" if who == "keyhealthd" else "hwm_kib"
            return (b[who][f] - a[who][f]) / dn
        row("RSS KiB per added key (%d->%d)" % (a["n"], b["n"]), "",
            slope("keyhealthd"), slope("boto3"), slope("floor"), digits=2)
    lat = results.get("latency")
    if lat:
        k, bo = lat["keyhealthd"], lat["boto3"]
        row("detection latency p50 s", lat["n"], k["p50"], bo["p50"], None,
            rf=False, digits=2)
        row("detection latency p99 s", lat["n"], k["p99"], bo["p99"], None,
            rf=False, digits=2)
        row("alert delivery after detection p50 ms", lat["n"],
            _ms(k["delivery_p50"]), _ms(bo["delivery_p50"]), None,
            rf=False, digits=1)
        row("alert delivery after detection p99 ms", lat["n"],
            _ms(k["delivery_p99"]), _ms(bo["delivery_p99"]), None,
            rf=False, digits=1)
    head = ("figure", "N", "keyhealthd", "boto3 loop", "floor (C)",
            "kh/boto3", "kh/floor")
    w = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    text = []
    for r in [head] + rows:
        text.append("  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i])
                              for i, c in enumerate(r)))
    md = ["| " + " | ".join(head) + " |",
          "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(text), "\n".join(md)


def _kib(v):
    return None if v is None or v < 0 else v / 1024.0


def _ms(v):
    return None if v is None else v * 1000.0


def targets(results):
    out = []
    if not results["sizes"]:
        return targets_latency(results, out)
    big = results["sizes"][-1]
    kh, bo, fl = big["keyhealthd"], big["boto3"], big["floor"]
    r_b = kh["cpu_per_1k"] / bo["cpu_per_1k"]
    r_f = kh["cpu_per_1k"] / fl["cpu_per_1k"]
    out.append(("CPU per key check <= 1/20 of the boto3 loop's (N=%d)"
                % big["n"], r_b <= 0.05, "ratio %.3f (1/%.0f)"
                % (r_b, 1 / r_b)))
    for s in results["sizes"]:
        if s["n"] < 1000:
            continue
        r_f = s["keyhealthd"]["cpu_per_1k"] / s["floor"]["cpu_per_1k"]
        out.append(("CPU per key check within 2x of the floor (N=%d)"
                    % s["n"], r_f <= 2.0, "ratio %.2f" % r_f))
    sizes = results["sizes"]
    if len(sizes) >= 2:
        a, b = sizes[0], sizes[-1]
        slope = ((b["keyhealthd"]["idle_hwm_kib"] -
                  a["keyhealthd"]["idle_hwm_kib"]) / float(b["n"] - a["n"]))
        out.append(("RSS <= 3 KiB per added key (%d->%d)" % (a["n"], b["n"]),
                    slope <= 3.0, "%.2f KiB" % slope))
    fo = big["keyhealthd"]
    grow = fo["hwm_kib"] / float(fo["idle_hwm_kib"]) - 1
    out.append(("RSS polling flat out within 10%% of steady (N=%d)"
                % big["n"], grow <= 0.10, "%+.0f%% (%.1f vs %.1f MiB)" % (
                    grow * 100, fo["hwm_kib"] / 1024.0,
                    fo["idle_hwm_kib"] / 1024.0)))
    ten = [s for s in results["sizes"] if s["n"] == 10000]
    if ten:
        kh10 = ten[0]["keyhealthd"]
        mib = kh10["idle_hwm_kib"] / 1024.0
        out.append(("peak RSS <= 45 MiB at 10,000 keys", mib <= 45,
                    "%.1f MiB" % mib))
        lag = max(kh10.get("lag_max_s") or 0,
                  kh10.get("lag_max_reload_s") or 0)
        own = [kh10.get(k) for k in ("lag_own_max_s",
                                     "lag_own_max_reload_s")]
        own = max(own) if None not in own else None
        out.append(("loop lag max < 50 ms at 10,000 keys (first sweep, "
                    "reload, polling)", lag < 0.05, "%.1f ms%s" % (
                        lag * 1000, "" if own is None else
                        " (own %.1f ms)" % (own * 1000))))
        tm = ten[0].get("keyhealthd_tmpfs")
        if tm:
            r = kh10["first_sweep_s"] / tm["first_sweep_s"]
            out.append(("first sweep at 10,000 keys within 1.5x of tmpfs",
                        r <= 1.5, "%.2f s vs %.2f s: %.2fx" % (
                            kh10["first_sweep_s"], tm["first_sweep_s"], r)))
    else:
        out.append(("peak RSS <= 45 MiB, loop lag < 50 ms at 10,000 keys",
                    None, "not run (no size 10,000)"))
    for s in results["sizes"]:
        if s["n"] >= 100000:
            kh = s["keyhealthd"]
            out.append(("validate and start-up under 2 s at %d keys"
                        % s["n"], kh["validate_s"] < 2 and
                        kh["startup_to_first_request_s"] < 2,
                        "validate %.2f s, start-up %.2f s" % (
                            kh["validate_s"],
                            kh["startup_to_first_request_s"])))
    return targets_latency(results, out)


def targets_latency(results, out):
    lat = results.get("latency")
    if lat:
        k = lat["keyhealthd"]
        if k["p99"] is not None:
            out.append(("detection latency p99 <= interval + 2 s (12 s)",
                        k["p99"] <= 12.0 and k["missing"] == 0,
                        "p99 %.2f s, %d/%d alerts" % (
                            k["p99"], k["n"], lat["changes"])))
        if k["delivery_p99"] is not None:
            out.append(("alert delivery < 100 ms after detection",
                        k["delivery_max"] < 0.1,
                        "p99 %.1f ms, max %.1f ms" % (
                            k["delivery_p99"] * 1000,
                            k["delivery_max"] * 1000)))
    return out


def main():
    # The shipped vendor profiles of the source tree (nothing installed).
    os.environ.setdefault("KEYHEALTHD_VENDOR_DIR",
                          os.path.join(TOP, "vendors"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(TOP, "build/keyhealthd"))
    ap.add_argument("--floor", default=os.path.join(TOP, "build/bench/floor"))
    ap.add_argument("--out", default=os.path.join(TOP, "build/bench"))
    ap.add_argument("--keys", help="sizes, comma separated")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--parts", default="sizes,defaults,latency",
                    help="what to run (for working on one part)")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)
    args.floor = os.path.abspath(args.floor)
    if args.keys:
        sizes = [int(x.replace("_", "")) for x in args.keys.split(",") if x]
    else:
        sizes = [100, 1000] if args.quick else [100, 1000, 10000]
    min_checks = 1000 if args.quick else 3000
    min_window = 4.0 if args.quick else 8.0
    changes, spacing = (20, (0.5, 1.5)) if args.quick else (30, (2.0, 4.0))
    os.makedirs(args.out, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="kh-bench-")
    t_start = time.monotonic()
    results = {"machine": machine(), "sizes": [], "quick": args.quick,
               "config": {"conns": CONNS, "rate_limit": BENCH_RATE,
                          "max_inflight": BENCH_INFLIGHT}}
    emu = Emulator(workdir)
    try:
        parts = args.parts.split(",")
        for n in (sizes if "sizes" in parts else []):
            with open(os.path.join(workdir, "keys-%d.txt" % n), "w") as f:
                f.write("".join(key_arn(i) + "\n" for i in range(n)))
            s = {"n": n}
            for kind in ("keyhealthd", "floor", "boto3"):
                log("%d keys: %s" % (n, kind))
                emu.seed(n)
                if kind == "keyhealthd":
                    s[kind] = bench_daemon(args, workdir, emu, n,
                                           max(n, min_checks), min_window)
                    tdir = tmpfs_dir()
                    if tdir is not None:
                        # The same first sweep, fsync free: what the
                        # disk costs.
                        log("%d keys: keyhealthd, state on tmpfs" % n)
                        emu.seed(n)
                        try:
                            s["keyhealthd_tmpfs"] = bench_daemon(
                                args, workdir, emu, n, 0, 0,
                                name="keyhealthd-tmpfs", steady=False,
                                state_dir=tdir)
                        finally:
                            shutil.rmtree(tdir, ignore_errors=True)
                        log("  %s" % json.dumps(s["keyhealthd_tmpfs"]))
                else:
                    s[kind] = bench_peer(args, workdir, emu, n, kind,
                                         max(n, min_checks))
                log("  %s" % json.dumps({k: (round(v, 4) if isinstance(
                    v, float) else v) for k, v in s[kind].items()}))
            results["sizes"].append(s)
        # At most 100 keys: at the default 10 requests/s a first sweep
        # of N keys takes N/5 s (100,000 keys: 5.5 hours).
        n0 = min(sizes[0], 100) if sizes else 100
        if "defaults" in parts:
            log("%d keys: keyhealthd with the default kms settings" % n0)
            emu.seed(n0)
            results["default_config"] = bench_daemon(
                args, workdir, emu, n0, 0, 0, bench_limits=False,
                name="keyhealthd-defaults", steady=False)
            log("  %s" % json.dumps(results["default_config"]))
        if "latency" in parts:
            ln = 100
            with open(os.path.join(workdir, "keys-%d.txt" % ln), "w") as f:
                f.write("".join(key_arn(i) + "\n" for i in range(ln)))
            log("detection latency: %d keys, interval 10s, %d changes"
                % (ln, changes))
            results["latency"] = bench_latency(args, workdir, emu, ln,
                                               changes, spacing)
            log("  %s" % json.dumps(results["latency"]))
    finally:
        emu.stop()
    results["total_s"] = time.monotonic() - t_start
    text, md = render(results)
    tg = targets(results)
    notes = notes_for(results)
    print()
    print("keyhealthd benchmark (%s): %d CPUs, %s, %d MiB, Linux %s" % (
        "quick" if args.quick else "full", results["machine"]["nproc"],
        results["machine"].get("cpu", "?"),
        results["machine"].get("mem_mib", 0), results["machine"]["kernel"]))
    print()
    print(text)
    print()
    for line in notes:
        print("note: " + line)
    print()
    for what, ok, detail in tg:
        print("target %-55s %s  (%s)" % (
            what, {True: "MET", False: "NOT MET", None: "-"}[ok], detail))
    print()
    print("method: tests/bench/RESULTS.md; raw figures: %s"
          % os.path.join(args.out, "results.json"))
    results["targets"] = [{"target": a, "met": b, "detail": c}
                          for a, b, c in tg]
    results["notes"] = notes
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md + "\n\n" + "\n".join("- " + x for x in notes) + "\n\n" +
                "\n".join("- %s: **%s** (%s)" % (
                    a, {True: "met", False: "not met", None: "-"}[b], c)
                    for a, b, c in tg) + "\n")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def notes_for(results):
    notes = [
        "a key check = DescribeKey + GetKeyPolicy of one key (no alias or "
        "rotation status configured); every client uses %d connections "
        "(keyhealthd: libcurl's per-host limit; boto3: %d threads; floor: "
        "%d curl handles)" % (CONNS, CONNS, CONNS),
        "keyhealthd: kms.rate_limit %d and kms.max_inflight %d in the "
        "bench config, so that its own limiter is not the bottleneck; "
        "first sweep at interval 5m, then SIGHUP to interval 1s and a "
        "steady window of continuous polling; CPU = its process's "
        "user+sys (/proc/PID/task/*/schedstat) over the window, checks = "
        "the emulator's DescribeKey+GetKeyPolicy count / 2 (cross-checked "
        "with keyhealthd_polls_total); peers: whole sweeps after a 100-key "
        "warm-up, their own getrusage()" % (BENCH_RATE, BENCH_INFLIGHT),
        "[1] keyhealthd: 2 s after its first sweep at interval 5m (as in "
        "production); peers: at exit.  [2] keyhealthd at the end of the "
        "interval-1s window: every key has a poll queued all the time"]
    for s in results["sizes"]:
        for who in ("keyhealthd", "boto3", "floor"):
            r = s[who]
            if r["client_busy"] < 0.8 and not r.get("interval_bound"):
                notes.append(
                    "N=%d %s: the client was busy only %.0f%% of the wall "
                    "time (emulator %.0f%% of a core, Python threads on "
                    "one GIL): the emulator, not the client, limits "
                    "requests/s and sweep time; the CPU figures are the "
                    "client's own and stand" % (
                        s["n"], who, r["client_busy"] * 100,
                        r["emu_busy"] * 100))
            if r.get("errors"):
                notes.append("N=%d %s: %d requests failed" % (
                    s["n"], who, r["errors"]))
        if s["keyhealthd"].get("interval_bound"):
            notes.append(
                "N=%d keyhealthd: requests/s bound by the 1 s interval "
                "(each key is polled once per interval, not faster), not "
                "by the client or the emulator" % s["n"])
        kh = s["keyhealthd"]
        p0, p1 = kh.get("polls_metric_0"), kh.get("polls_metric_1")
        if p0 is not None and p1 is not None and kh["checks"] > 0:
            dev = abs((p1 - p0) - kh["checks"]) / kh["checks"]
            if dev > 0.05:
                notes.append("N=%d keyhealthd: keyhealthd_polls_total grew "
                             "by %d, the emulator counted %d checks" % (
                                 s["n"], p1 - p0, kh["checks"]))
    dc = results.get("default_config")
    if dc:
        notes.append(
            "default kms settings (rate_limit 10/s, burst 20, max_inflight "
            "16), N=%d: the first sweep took %.1f s (%.1f requests/s): "
            "with the defaults an interval shorter than N/5 s cannot be "
            "kept (raise kms.rate_limit)" % (dc["n"], dc["sweep_s"],
                                             dc["rps"]))
    lat = results.get("latency")
    if lat:
        notes.append(
            "detection latency: %d keys, interval 10s (keyhealthd: +-10%% "
            "jitter per key; boto3 loop: a sweep every 10 s), %d keys "
            "disabled one at a time at random moments; latency = webhook "
            "received - change made; delivery = webhook received - the "
            "later of the two responses of the poll that saw the change "
            "left the emulator (one clock)"
            % (lat["n"], lat["changes"]))
    return notes


if __name__ == "__main__":
    sys.exit(main())
