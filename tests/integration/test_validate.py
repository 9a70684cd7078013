"""`keyhealthd validate`: golden effective configurations, exact error
lines for bad files, exit statuses, and where -c may stand."""
import glob
import os
import shutil
import stat

import pytest

from conftest import REPO_TOP, run

CONFIG_DIR = os.path.join("tests", "config")
GOLDEN = sorted(glob.glob(os.path.join(REPO_TOP, CONFIG_DIR, "golden",
                                       "*.yaml")))
BAD = sorted(glob.glob(os.path.join(REPO_TOP, CONFIG_DIR, "bad", "*.yaml")))


def rel(path):
    return os.path.relpath(path, REPO_TOP)


def env_without_state_directory(**extra):
    env = dict(os.environ)
    env.pop("STATE_DIRECTORY", None)
    env.pop("KEYHEALTHD_CONFIG", None)
    env.update(extra)
    return env


@pytest.fixture
def credentials(tmp_path):
    """validate reads the notifiers' secret files: the golden files name
    systemd credentials, so give them a $CREDENTIALS_DIRECTORY."""
    d = tmp_path / "credentials"
    d.mkdir()
    for name in ("webhook-secret", "pagerduty-key"):
        (d / name).write_text("not-a-real-secret\n")
        os.chmod(d / name, 0o600)
    return str(d)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


@pytest.mark.parametrize("path", GOLDEN, ids=[os.path.basename(p)
                                              for p in GOLDEN])
def test_verbose_prints_the_golden_effective_config(kh_bin, path,
                                                   credentials):
    r = run([kh_bin, "validate", "-v", "-c", rel(path)],
            env=env_without_state_directory(
                CREDENTIALS_DIRECTORY=credentials))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout == read(path[:-len(".yaml")] + ".out")


@pytest.mark.parametrize("path", GOLDEN, ids=[os.path.basename(p)
                                              for p in GOLDEN])
def test_effective_config_is_itself_valid_and_stable(kh_bin, path,
                                                     tmp_path, credentials):
    env = env_without_state_directory(CREDENTIALS_DIRECTORY=credentials)
    first = run([kh_bin, "validate", "-v", "-c", rel(path)], env=env)
    printed = tmp_path / "effective.yaml"
    # The last line is the OK line, not part of the YAML.
    body = first.stdout.rsplit("\n", 2)[0] + "\n"
    # Notifier options are not printed, and validate checks them (a
    # webhook needs its url): read back what comes before the notifiers.
    printed.write_text(body.split("notifiers:")[0])
    again = run([kh_bin, "validate", "-v", "-c", str(printed)], env=env)
    assert again.returncode == 0, again.stderr
    # Notifier options are not printed (values may be secrets), so only
    # the lines before the notifiers must be identical.
    assert again.stdout.split("notifiers:")[0] == body.split(
        "notifiers:")[0]


@pytest.mark.parametrize("path", BAD, ids=[os.path.basename(p)
                                           for p in BAD])
def test_bad_file_prints_exact_errors_and_exits_1(kh_bin, path):
    r = run([kh_bin, "validate", "-c", rel(path)],
            env=env_without_state_directory())
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == read(path[:-len(".yaml")] + ".err")


def test_every_error_line_names_file_line_column(kh_bin):
    for path in BAD:
        r = run([kh_bin, "validate", "-c", rel(path)])
        for line in r.stderr.splitlines():
            where = line.split(": ", 1)[0]
            f, ln, col = where.rsplit(":", 2)
            assert f == rel(path) and ln.isdigit() and col.isdigit(), line


def test_secret_values_never_appear_in_errors(kh_bin):
    r = run([kh_bin, "validate", "-c",
             os.path.join(CONFIG_DIR, "bad", "secrets.yaml")])
    assert r.returncode == 1
    assert "AKIAIOSFODNN7EXAMPLE" not in r.stderr
    assert "wJalrXUtnFEMI" not in r.stderr


def test_example_config_is_valid(kh_bin):
    r = run([kh_bin, "validate", "-c", "conf/keyhealthd.yaml"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("conf/keyhealthd.yaml: configuration OK "
                        "(1 key, 1 notifier)\n")
    assert r.stderr == ""


def test_config_option_before_or_after_the_command(kh_bin):
    path = os.path.join(CONFIG_DIR, "golden", "minimal.yaml")
    want = "%s: configuration OK (1 key, 0 notifiers)\n" % path
    for argv in (["validate", "-c", path], ["-c", path, "validate"],
                 ["validate", "--config", path]):
        r = run([kh_bin] + argv)
        assert (r.returncode, r.stdout) == (0, want), argv


def test_config_from_environment(kh_bin):
    path = os.path.join(CONFIG_DIR, "golden", "minimal.yaml")
    r = run([kh_bin, "validate"],
            env=env_without_state_directory(KEYHEALTHD_CONFIG=path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(path + ": configuration OK")


def test_state_dir_default_comes_from_STATE_DIRECTORY(kh_bin):
    path = os.path.join(CONFIG_DIR, "golden", "minimal.yaml")
    r = run([kh_bin, "validate", "-v", "-c", path],
            env=env_without_state_directory(
                STATE_DIRECTORY="/var/lib/keyhealthd-a:/var/lib/b"))
    assert r.returncode == 0, r.stderr
    assert "\nstate_dir: /var/lib/keyhealthd-a\n" in r.stdout


def test_missing_file_exits_1(kh_bin):
    r = run([kh_bin, "validate", "-c", "tests/config/nonexistent.yaml"])
    assert r.returncode == 1
    assert r.stderr == ("tests/config/nonexistent.yaml: No such file or "
                        "directory\n")


def test_world_writable_file_is_refused(kh_bin, tmp_path):
    path = tmp_path / "keyhealthd.yaml"
    shutil.copy(os.path.join(REPO_TOP, CONFIG_DIR, "golden", "minimal.yaml"),
                path)
    os.chmod(path, 0o666)
    r = run([kh_bin, "validate", "-c", str(path)])
    assert r.returncode == 1
    assert r.stderr == ("%s: refusing a world-writable file (mode 0666): "
                        "anyone could change what it says; chmod o-w it\n"
                        % path)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    assert run([kh_bin, "validate", "-c", str(path)]).returncode == 0


def test_extra_argument_is_a_usage_error(kh_bin):
    r = run([kh_bin, "validate", "-c", "conf/keyhealthd.yaml", "extra"])
    assert r.returncode == 2
    assert "unexpected argument 'extra'" in r.stderr
    assert "usage: keyhealthd" in r.stderr


def test_errors_beyond_the_cap_are_counted(kh_bin, tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text("keys:\n" + "".join("  - arn: bad%d\n" % i
                                        for i in range(60)))
    r = run([kh_bin, "validate", "-c", str(path)])
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 51
    assert lines[-1] == "%s: 10 more errors not shown" % path
