"""lib/sigv4 against botocore's SigV4Auth on randomized KMS requests.

Both signers see the same cases (random regions across the aws, aws-cn and
aws-us-gov partitions, times, JSON bodies with unicode, session tokens,
X-Amz-Target operations, header case and whitespace); every Authorization
header must be identical.  One process per side signs the whole batch.
"""

import os
import subprocess

PYTHON = "/usr/bin/python3"
NCASES = 1500
SEEDS = (20151130, 4)


def _run(argv, stdin, timeout=120):
    p = subprocess.run(argv, input=stdin, capture_output=True,
                       timeout=timeout)
    assert p.returncode == 0, "%s failed (%d): %s" % (
        argv[0], p.returncode, p.stderr.decode(errors="replace")[-2000:])
    return p.stdout.decode().splitlines()


def _cross_check(repo_top, tools_dir, seed, n):
    helper = os.path.join(repo_top, "tests", "sigv4", "botocore_sign.py")
    cases = subprocess.run(
        [PYTHON, helper, "--generate", str(n), "--seed", str(seed)],
        capture_output=True, check=True, timeout=120).stdout
    c_out = _run([os.path.join(tools_dir, "sigv4_sign")], cases)
    py_out = _run([PYTHON, helper, "--sign"], cases)
    lines = cases.decode().splitlines()
    assert len(lines) == n
    assert len(c_out) == n, "C signer printed %d lines for %d cases" % (
        len(c_out), n)
    assert len(py_out) == n
    bad = [(i, c, p) for i, (c, p) in enumerate(zip(c_out, py_out))
           if c != p]
    assert not bad, "%d of %d differ; first: case %s\nC:        %s\n" \
        "botocore: %s" % (len(bad), n, lines[bad[0][0]], bad[0][1],
                          bad[0][2])
    return n


def test_authorization_equals_botocore_on_randomized_kms_requests(
        repo_top, tools_dir):
    total = sum(_cross_check(repo_top, tools_dir, seed, NCASES // 2
                             if i else NCASES - NCASES // 2)
                for i, seed in enumerate(SEEDS))
    assert total >= 1000
