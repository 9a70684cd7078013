"""Nothing blocks the event loop: the durable writes of the keys' state
files (each file's fsync, its directory's once per group) run on the
state writer thread, never on the loop's thread; polls start no faster
than their endpoint takes them; the loop's own lag is exported as a
histogram.

The fsyncs are observed from outside with strace(1) (-f: every thread,
-y: the path of each descriptor), which names the thread that made each
call: the daemon's main thread is the loop.  No timing is asserted.
"""
import os
import re
import signal
import time
import urllib.request

import pytest

from conftest import pick_free_port
from fixture_daemon import key_entry, seed_gearset_key
from test_ops import metric_samples

STRACE = "/usr/bin/strace"      # DEBS in mk/bench.mk
NKEYS = 20


@pytest.fixture
def emu(kmsemu_session):
    kmsemu_session.client.reset()
    yield kmsemu_session
    kmsemu_session.client.reset()


def wait_until(pred, timeout, what, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(step)


def child_running(pid, exe):
    """The child of pid that runs exe, or None.  strace forks a short-lived
    child of its own at start (to probe ptrace) before the tracee: taking
    the first child seen signalled and filtered the wrong process."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        return None
    want = os.path.realpath(exe)
    for kid in kids:
        try:
            if os.path.realpath("/proc/%d/exe" % kid) == want:
                return kid
        except OSError:
            pass
    return None


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=10) as r:
        return r.read().decode()


def fsyncs(trace):
    """[(tid, path)] of every fsync/fdatasync in an strace -f -y log."""
    out = []
    with open(trace) as f:
        for line in f:
            m = re.match(r"^(\d+)\s+f(?:data)?sync\(\d+<([^>]*)>\)", line)
            if m:
                out.append((int(m.group(1)), m.group(2)))
    return out


def stats(trace):
    """[(tid, path)] of every stat-like call naming a path."""
    out = []
    with open(trace) as f:
        for line in f:
            m = re.match(r'^(\d+)\s+(?:stat|lstat|newfstatat|statx|access)'
                         r'\((?:AT_FDCWD(?:<[^>]*>)?, )?"([^"]*)"', line)
            if m:
                out.append((int(m.group(1)), m.group(2)))
    return out


def start_traced(spawn, kh_bin, kh_env, cfg, trace, calls):
    env = dict(kh_env)
    # strace's ptrace and ASan's start-up checks do not mix well.
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                           ":verify_asan_link_order=0").lstrip(":")
    st = spawn("strace", [STRACE, "-f", "-qq", "-y", "-o", trace, "-e",
                          "trace=" + calls, kh_bin, "-c", str(cfg), "run"],
               env=env)
    pid = wait_until(lambda: child_running(st.pid, kh_bin), 20,
                     "the daemon under strace")
    return st, pid


def polls(port):
    """{key_name: polls} from /metrics, {} while it does not answer."""
    try:
        s = metric_samples(metrics(port))
    except OSError:         # not listening yet
        return {}
    return {lb["key_name"]: v for lb, v in
            s.get("keyhealthd_polls_total", [])}


def test_state_files_are_fsynced_off_the_loop_thread(emu, kh_config, kh_bin,
                                                     kh_env, spawn,
                                                     tmp_path):
    metas = [seed_gearset_key(emu) for _ in range(NKEYS)]
    metas.append(seed_gearset_key(emu, KeyState="Disabled"))
    port = pick_free_port()
    cfg = kh_config(emu, [key_entry(m, "k%d" % i)
                          for i, m in enumerate(metas)],
                    interval="1h", http={"listen": "127.0.0.1:%d" % port})
    trace = str(tmp_path / "fsync.trace")
    st, pid = start_traced(spawn, kh_bin, kh_env, cfg, trace,
                           "fsync,fdatasync")
    keys_dir = os.path.join(cfg.state_dir, "keys")

    def polled():
        p = polls(port)
        return len(p) == len(metas) and min(p.values()) >= 1

    wait_until(lambda: st.popen.poll() is None and polled(), 60,
               "a first poll of every key")
    wait_until(lambda: len([n for n in os.listdir(keys_dir)
                            if n.endswith(".json")]) == len(metas), 60,
               "a state file per key")
    os.kill(pid, signal.SIGTERM)
    st.wait(timeout=30)

    calls = fsyncs(trace)
    # alerts.json stays on the loop (it must be on disk before a delivery
    # starts), saved once per turn: not looked at here.
    state = [(tid, path) for tid, path in calls
             if path.startswith(keys_dir)]
    # The files were made durable ...
    assert any(path.startswith(keys_dir + "/") for _, path in state), calls
    # ... and never by the loop, also not when saving on the way out.
    on_loop = [path for tid, path in state if tid == pid]
    assert on_loop == [], "%d fsyncs on the loop's thread, first %r" % (
        len(on_loop), on_loop[:3])


def test_loop_lag_is_a_histogram_of_a_timer_s_lateness(emu, kh_config,
                                                       daemon):
    metas = [seed_gearset_key(emu) for _ in range(3)]
    port = pick_free_port()
    cfg = kh_config(emu, [key_entry(m, "k%d" % i)
                          for i, m in enumerate(metas)],
                    interval="1s", http={"listen": "127.0.0.1:%d" % port})
    daemon(cfg)

    def samples():
        return metric_samples(metrics(port))

    first = wait_until(
        lambda: (lambda s: s if s.get("keyhealthd_loop_lag_seconds_count",
                                      [({}, 0)])[0][1] > 0 else None)(
            samples()), 20, "a loop lag sample")
    # The timer keeps running: the count grows while the daemon idles.
    later = wait_until(
        lambda: (lambda s: s if s["keyhealthd_loop_lag_seconds_count"][0][1]
                 > first["keyhealthd_loop_lag_seconds_count"][0][1] + 5
                 else None)(samples()), 30, "more loop lag samples")
    buckets = later["keyhealthd_loop_lag_seconds_bucket"]
    les = [lb["le"] for lb, _ in buckets]
    counts = [v for _, v in buckets]
    assert les[-1] == "+Inf"
    assert [float(x) for x in les[:-1]] == sorted(float(x)
                                                  for x in les[:-1])
    assert counts == sorted(counts), "buckets are cumulative"
    assert counts[-1] == later["keyhealthd_loop_lag_seconds_count"][0][1]
    assert later["keyhealthd_loop_lag_seconds_sum"][0][1] >= 0
    lag_max = later["keyhealthd_loop_lag_max_seconds"][0][1]
    assert lag_max >= 0
    # The largest sample is in the bucket of the maximum, none above it.
    above = [v for lb, v in buckets
             if lb["le"] != "+Inf" and float(lb["le"]) >= lag_max]
    assert not above or above[0] == counts[-1]


def schedstat_wait_s(pid, tid):
    """The thread's run-queue wait so far (schedstat field 2), in s."""
    with open("/proc/%d/task/%d/schedstat" % (pid, tid)) as f:
        return int(f.read().split()[1]) / 1e9


def test_loop_lag_own_part_leaves_out_waiting_for_a_cpu(emu, kh_config,
                                                        daemon, spawn):
    """keyhealthd_loop_lag_own_max_seconds is the lag less the loop
    thread's run-queue wait, keyhealthd_loop_runqueue_wait_seconds_total
    that wait.  A busy process pinned to the loop thread's CPU makes the
    thread wait for it; which figures result is not asserted, only that
    they are exposed, consistent and read from the loop thread's
    schedstat (the right field, the right thread)."""
    metas = [seed_gearset_key(emu) for _ in range(3)]
    port = pick_free_port()
    cfg = kh_config(emu, [key_entry(m, "k%d" % i)
                          for i, m in enumerate(metas)],
                    interval="1s", http={"listen": "127.0.0.1:%d" % port})
    d = daemon(cfg)
    cpu = min(os.sched_getaffinity(d.pid))
    hog = spawn("hog", ["/usr/bin/python3", "-c", "while True: pass"])
    os.sched_setaffinity(hog.pid, {cpu})
    os.sched_setaffinity(d.pid, {cpu})      # the loop's thread only

    def samples():
        return metric_samples(metrics(port))

    def waited():
        s = samples()
        return s if s["keyhealthd_loop_lag_seconds_count"][0][1] > 40 and \
            s["keyhealthd_loop_runqueue_wait_seconds_total"][0][1] > 0 \
            else None

    s1 = wait_until(waited, 40, "the loop thread to wait for a CPU")
    hog.stop()
    # Read after the scrape: the thread has waited at least as long as
    # the daemon counted since its lag timer started.
    total = schedstat_wait_s(d.pid, d.pid)
    wait1 = s1["keyhealthd_loop_runqueue_wait_seconds_total"][0][1]
    assert 0 < wait1 <= total + 1e-6, (wait1, total)
    own1 = s1["keyhealthd_loop_lag_own_max_seconds"][0][1]
    wall1 = s1["keyhealthd_loop_lag_max_seconds"][0][1]
    assert 0 <= own1 <= wall1, (own1, wall1)

    s2 = wait_until(
        lambda: (lambda s: s if s["keyhealthd_loop_lag_seconds_count"][0][1]
                 > s1["keyhealthd_loop_lag_seconds_count"][0][1] + 5
                 else None)(samples()), 30, "more loop lag samples")
    wait2 = s2["keyhealthd_loop_runqueue_wait_seconds_total"][0][1]
    own2 = s2["keyhealthd_loop_lag_own_max_seconds"][0][1]
    wall2 = s2["keyhealthd_loop_lag_max_seconds"][0][1]
    assert wait2 >= wait1, "a counter"
    assert own1 <= own2 <= wall2, (own1, own2, wall2)


def test_state_files_are_not_looked_at_per_poll(emu, kh_config, kh_bin,
                                               kh_env, spawn, tmp_path):
    """`baseline accept` is noticed by an inotify watch: a poll does not
    stat() its key's state file (it did, at every poll), and an accept
    while running is still picked up (test_daemon_run covers that)."""
    metas = [seed_gearset_key(emu) for _ in range(3)]
    port = pick_free_port()
    cfg = kh_config(emu, [key_entry(m, "k%d" % i)
                          for i, m in enumerate(metas)],
                    interval="1s", http={"listen": "127.0.0.1:%d" % port})
    trace = str(tmp_path / "stat.trace")
    st, pid = start_traced(spawn, kh_bin, kh_env, cfg, trace,
                           "stat,lstat,newfstatat,statx,access")
    keys_dir = os.path.join(cfg.state_dir, "keys")
    wait_until(lambda: len(polls(port)) == 3 and
               min(polls(port).values()) >= 2, 60, "two polls of each key")
    with open(trace) as f:
        before = len(f.readlines())
    n0 = sum(polls(port).values())
    wait_until(lambda: sum(polls(port).values()) >= n0 + 9, 60,
               "three more polls of each key")
    os.kill(pid, signal.SIGTERM)
    st.wait(timeout=30)
    with open(trace) as f:
        lines = f.readlines()[before:]
    tmp = str(tmp_path / "steady.trace")
    with open(tmp, "w") as f:
        f.writelines(lines)
    # Up to the stop (which saves every key, on the writer's thread).
    looked = [path for tid, path in stats(tmp)
              if tid == pid and path.startswith(keys_dir + "/")]
    assert looked == [], "%d stat()s of key files on the loop, first %r" % (
        len(looked), looked[:3])


def test_polls_start_no_faster_than_the_endpoint_takes_them(emu, kh_config,
                                                           daemon):
    """With every key due all the time (interval 1s, rate limit 2/s), at
    most kms.max_inflight polls run; the other keys wait their turn
    without holding a started poll (they used to queue their requests
    behind the rate limiter, a few KiB each), and every key is still
    polled, in turn."""
    metas = [seed_gearset_key(emu) for _ in range(12)]
    port = pick_free_port()
    cfg = kh_config(emu, [key_entry(m, "k%d" % i)
                          for i, m in enumerate(metas)],
                    interval="1s", kms={"rate_limit": 4, "max_inflight": 2},
                    http={"listen": "127.0.0.1:%d" % port})
    d = daemon(cfg, timeout=120)
    seen = []

    def sample():
        # Read the notify socket as systemd would: unread, its queue
        # fills and sd_notify() waits.
        d.notifications()
        try:
            s = metric_samples(metrics(port))
        except OSError:
            return None
        if "keyhealthd_polls_waiting" not in s:
            return None
        seen.append((s["keyhealthd_polls_running"][0][1],
                     s["keyhealthd_polls_waiting"][0][1]))
        done = {lb["key_name"]: v
                for lb, v in s.get("keyhealthd_polls_total", [])}
        return len(done) == 12 and min(done.values()) >= 2

    wait_until(sample, 60, "two polls of every key", step=0.2)
    assert seen, "no keyhealthd_polls_running/_waiting in /metrics"
    assert max(r for r, _ in seen) <= 2, seen
    assert max(w for _, w in seen) > 0, seen
