"""`keyhealthd validate` at the configuration's limits: the largest file
the key limit allows is accepted, the size limit is reported as such, and
parse cost grows with the file, not with its square.

The time limits here are timeouts tens of times what the parse takes on a
loaded machine (about a second); the quadratic parser took minutes.
"""
import os
import time

from conftest import run

MAX_KEYS = 100000
MAX_BYTES = 32 * 1024 * 1024


def key_entry(i):
    """One key with every field and a comment, as an operator writes it."""
    return ("  # watched for the backup vendor since 2026, ticket OPS-%06d\n"
            "  - arn: arn:aws:kms:eu-west-1:111122223333:key/"
            "%08x-12ab-34cd-56ef-1234567890ab\n"
            "    name: gearset-backup-key-%06d\n"
            "    vendor: gearset\n"
            "    alias: alias/gearset-backup-%06d\n"
            "    interval: 10m\n"
            "    expect_rotation: true\n" % (i, i, i, i))


def write_keys(path, n, state_dir):
    with open(path, "w") as f:
        f.write("state_dir: %s\nkeys:\n" % state_dir)
        for i in range(n):
            f.write(key_entry(i))
    return os.path.getsize(path)


def validate(kh_bin, path, timeout):
    t0 = time.monotonic()
    r = run([kh_bin, "validate", "-c", str(path)], timeout=timeout)
    print("validate %s: %.2f s" % (os.path.basename(str(path)),
                                   time.monotonic() - t0))
    return r


def test_the_largest_key_list_fits_the_file_limit(kh_bin, tmp_path):
    path = tmp_path / "keys.yaml"
    size = write_keys(path, MAX_KEYS, tmp_path / "state")
    assert size > 4 * 1024 * 1024 and size < MAX_BYTES
    r = validate(kh_bin, path, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "configuration OK (100000 keys" in r.stdout + r.stderr


def test_one_key_more_is_too_many_keys_not_too_large(kh_bin, tmp_path):
    path = tmp_path / "keys.yaml"
    write_keys(path, MAX_KEYS + 1, tmp_path / "state")
    r = validate(kh_bin, path, timeout=120)
    assert r.returncode == 1
    assert r.stderr == "%s:4:3: keys: too many keys (at most %d)\n" % (
        path, MAX_KEYS)


def test_a_file_over_the_size_limit_says_so(kh_bin, tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "w") as f:
        f.write("keys:\n")
        f.write("# padding\n" * (MAX_BYTES // 10 + 1))
    r = validate(kh_bin, path, timeout=60)
    assert r.returncode == 1
    assert r.stderr == "%s: file too large (%d bytes, at most %d)\n" % (
        path, os.path.getsize(path), MAX_BYTES)


def test_many_unknown_top_level_keys_parse_in_linear_time(kh_bin, tmp_path):
    path = tmp_path / "unknown.yaml"
    with open(path, "w") as f:
        f.write("keys:\n  - arn: arn:aws:kms:eu-west-1:111122223333:key/"
                "1234abcd-12ab-34cd-56ef-1234567890ab\n")
        for i in range(200000):
            f.write("unknown_%06d: 1\n" % i)
    r = validate(kh_bin, path, timeout=60)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[0].startswith("%s:3:1: unknown key 'unknown_000000'" % path)
    assert lines[-1] == "%s: 199950 more errors not shown" % path


def test_a_late_duplicate_among_many_keys_is_found(kh_bin, tmp_path):
    path = tmp_path / "dup.yaml"
    n = 60000
    with open(path, "w") as f:
        f.write("state_dir: %s\nkeys:\n" % (tmp_path / "state"))
        for i in range(n):
            f.write(key_entry(i))
        f.write(key_entry(5).replace("gearset-backup-key-000005",
                                     "a-new-name"))
    r = validate(kh_bin, path, timeout=60)
    assert r.returncode == 1
    line = 3 + 7 * n + 1
    assert r.stderr == (
        "%s:%d:10: keys[%d].arn: duplicate key ARN (also keys[5] at line "
        "%d)\n" % (path, line, n, 3 + 7 * 5 + 1))
