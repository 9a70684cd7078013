"""The command line: version, help, and what a wrong command does."""
import re

from conftest import run


def test_version_prints_version(kh_bin):
    r = run([kh_bin, "--version"])
    assert r.returncode == 0
    assert re.fullmatch(r"keyhealthd \d+\.\d+\.\d+\n", r.stdout)


def test_version_verbose_lists_libraries(kh_bin):
    r = run([kh_bin, "-v", "--version"])
    assert r.returncode == 0
    for lib in ("libcurl", "openssl", "jansson", "libevent", "libyaml"):
        assert re.search(r"^%s \S+" % lib, r.stdout, re.M), r.stdout


def test_help_goes_to_stdout_and_exits_0(kh_bin):
    r = run([kh_bin, "--help"])
    assert r.returncode == 0
    assert r.stdout.startswith("usage: keyhealthd")
    assert "validate" in r.stdout and "baseline accept" in r.stdout
    assert r.stderr == ""


def test_unknown_command_prints_usage_and_exits_2(kh_bin):
    r = run([kh_bin, "frobnicate"])
    assert r.returncode == 2
    assert "unknown command 'frobnicate'" in r.stderr
    assert "usage: keyhealthd" in r.stderr
    assert r.stdout == ""


def test_unknown_option_prints_usage_and_exits_2(kh_bin):
    r = run([kh_bin, "--frobnicate"])
    assert r.returncode == 2
    assert "usage: keyhealthd" in r.stderr
