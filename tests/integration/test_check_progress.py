"""The one-shot commands over many keys: `keyhealthd check` and `baseline
accept` show their progress (keys done / total, time left) on stderr when
it is a terminal and the run lasts more than 2 s; never on a pipe, never
with --json.

The terminal is a pseudo-terminal (python's pty module) on the real
binary's stderr; the keys live in the KMS emulator.  kms.rate_limit makes
every run last long enough: N keys take 2N requests and the limiter lets
only 2 x rate_limit of them go at once, then rate_limit per second, so a
run cannot end sooner than (2N - 2 x rate) / rate seconds whatever the
machine's load.
"""
import errno
import json
import os
import pty
import re
import select
import subprocess
import time

from fixture_daemon import (assert_no_sanitizer_report, key_entry,
                            seed_gearset_key)

NKEYS = 12
RATE = 4            # 24 requests, 8 at once, then 4/s: at least 4 s
MIN_RUN = (2 * NKEYS - 2 * RATE) / RATE
PROGRESS = re.compile(r"keyhealthd: (\d+)/(\d+) keys checked"
                      r"(?:, about (\d+h\d\dm|\d+m\d\ds|\d+s) left)?")


def many_keys(kmsemu, kh_config):
    keys = [key_entry(seed_gearset_key(kmsemu), "k%02d" % i)
            for i in range(NKEYS)]
    return kh_config(kmsemu, keys, kms={"rate_limit": RATE})


def run_on_pty(argv, env, timeout=120, on_progress=None):
    """Runs argv with stderr on a pseudo-terminal and stdout on a pipe;
    calls on_progress() once, when the first progress line arrives.
    Returns (exit code, stdout, [(seconds since start, stderr bytes)],
    seconds the run took)."""
    master, slave = pty.openpty()
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    chunks, out = [], []
    fds = [master, p.stdout.fileno()]
    deadline = t0 + timeout
    try:
        while fds and time.monotonic() < deadline:
            ready, _, _ = select.select(fds, [], [], 1.0)
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError as e:
                    # Linux: EIO once the last holder of the slave is gone.
                    if e.errno != errno.EIO:
                        raise
                    data = b""
                if not data:
                    fds.remove(fd)
                elif fd == master:
                    chunks.append((time.monotonic() - t0, data))
                    if on_progress is not None and PROGRESS.search(
                            data.decode("utf-8", "replace")):
                        on_progress()
                        on_progress = None
                else:
                    out.append(data)
        rc = p.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        p.stdout.close()
    assert_no_sanitizer_report(b"".join(d for _, d in chunks).decode(
        "utf-8", "replace"), argv[1])
    return rc, b"".join(out).decode(), chunks, time.monotonic() - t0


def redraws(chunks):
    """Each progress line drawn: (when, done, total, time left or None)."""
    got = []
    for when, data in chunks:
        for m in PROGRESS.finditer(data.decode("utf-8", "replace")):
            got.append((when, int(m.group(1)), int(m.group(2)), m.group(3)))
    return got


def assert_progress_shown_then_erased(chunks, took):
    lines = redraws(chunks)
    assert lines, "no progress line on the terminal in a %.1f s run: %r" % (
        took, chunks)
    # Only after 2 s (the clock starts before the process does).
    assert all(when >= 2.0 for when, _, _, _ in lines), lines
    assert all(total == NKEYS for _, _, total, _ in lines), lines
    done = [d for _, d, _, _ in lines]
    assert done == sorted(done) and done[-1] <= NKEYS, done
    # In place: every line starts with a carriage return, none with a
    # newline; at most 4 redraws a second.
    text = b"".join(d for _, d in chunks).decode()
    assert "\n" not in text, repr(text)
    assert len(lines) <= took * 4 + 1, (len(lines), took)
    assert any(left is not None for _, _, _, left in lines), lines
    # Erased at the end: the last thing written is a blank over it.
    assert text.endswith("\r"), repr(text[-80:])
    assert text.rstrip("\r").rsplit("\r", 1)[-1].strip() == "", \
        repr(text[-80:])
    print("progress: %d redraws in %.1f s: %s" % (
        len(lines), took, ", ".join("%.1fs %d/%d %s" % l for l in lines)))


def test_check_on_a_terminal_shows_progress_then_erases_it(
        kmsemu, kh_config, kh_bin, kh_env):
    conf = many_keys(kmsemu, kh_config)
    rc, out, chunks, took = run_on_pty([kh_bin, "check", "-c", str(conf)],
                                       kh_env)
    assert rc == 0, (rc, out, chunks)
    assert took >= MIN_RUN
    assert_progress_shown_then_erased(chunks, took)
    # The table on stdout is untouched by it.
    assert "keys checked" not in out
    assert len([ln for ln in out.splitlines() if ln.startswith("k")]) \
        == NKEYS, out


def test_check_with_stderr_on_a_pipe_shows_no_progress(
        kmsemu, kh_config, kh_bin, kh_env):
    conf = many_keys(kmsemu, kh_config)
    t0 = time.monotonic()
    r = subprocess.run([kh_bin, "check", "-c", str(conf)], env=kh_env,
                       capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    took = time.monotonic() - t0
    assert_no_sanitizer_report(r.stderr, "keyhealthd check")
    assert r.returncode == 0, r
    assert took >= MIN_RUN > 2.0
    assert "keys checked" not in r.stderr and "\r" not in r.stderr, \
        repr(r.stderr)
    assert "keys checked" not in r.stdout


def test_check_json_on_a_terminal_shows_no_progress(
        kmsemu, kh_config, kh_bin, kh_env):
    conf = many_keys(kmsemu, kh_config)
    rc, out, chunks, took = run_on_pty(
        [kh_bin, "check", "--json", "-c", str(conf)], kh_env)
    assert rc == 0, (rc, out, chunks)
    assert took >= MIN_RUN > 2.0
    assert redraws(chunks) == [] and b"\r" not in b"".join(
        d for _, d in chunks), chunks
    doc = json.loads(out)
    assert len(doc["keys"]) == NKEYS


def test_baseline_accept_on_a_terminal_shows_progress(
        kmsemu, kh_config, kh_bin, kh_env):
    conf = many_keys(kmsemu, kh_config)
    rc, out, chunks, took = run_on_pty(
        [kh_bin, "baseline", "accept", "--all", "-c", str(conf)], kh_env)
    assert rc == 0, (rc, out, chunks)
    assert_progress_shown_then_erased(chunks, took)
    assert out.count("accepted its current key policy") == NKEYS, out


def rendered(text):
    """The lines a terminal shows for text: a carriage return moves back
    to the start of the line, and what follows overwrites it."""
    lines = []
    for raw in text.split("\n"):
        cells, pos = [], 0
        for ch in raw:
            if ch == "\r":
                pos = 0
                continue
            if pos < len(cells):
                cells[pos] = ch
            else:
                cells.append(ch)
            pos += 1
        lines.append("".join(cells).rstrip())
    return lines


def test_log_lines_during_progress_start_on_a_clean_line(
        kmsemu, kh_config, kh_bin, kh_env):
    conf = many_keys(kmsemu, kh_config)
    # Once the progress line is up, fail a few requests: their retries are
    # logged (-v) while it is on the screen.
    rc, out, chunks, took = run_on_pty(
        [kh_bin, "check", "-v", "-c", str(conf)], kh_env,
        on_progress=lambda: kmsemu.client.fault(
            action="error", status=500, code="KMSInternalException",
            count=3))
    assert rc == 0, (rc, out, chunks)
    text = b"".join(d for _, d in chunks).decode()
    logs = [ln for ln in rendered(text) if " keyhealthd[" in ln]
    retries = [ln for ln in logs if "retry" in ln]
    assert retries, text
    # Each log line stands alone: the progress line was erased before it,
    # not overwritten in part.
    for ln in logs:
        assert "keys checked" not in ln, ln
        assert re.match(r"\d{4}-\d\d-\d\dT", ln), ln
    # ... and the progress line is gone at the end.
    assert rendered(text)[-1] == "", repr(text[-200:])
