"""Endpoints and URLs through the real binary: `validate` accepts exactly
the endpoint URLs that the daemon then uses (one parse, lib/endpoint, for
both), and a secret Slack URL is redacted at -vv as curl sends it, whatever
dot segments or fragment the configured text has.
"""
import json

import pytest

from conftest import pick_free_port, run
from fixture_keyhealthd import base_env, gearset_policy, write_json

KEY = ("arn:aws:kms:eu-west-1:111122223333:key/"
       "1234abcd-12ab-34cd-56ef-1234567890ab")
SLACK_PATH = "/services/T0SECRET1/B0SECRET2/xoxbSlackTok3nValue"


def _endpoint_table(port):
    """(endpoint_url, allow_http, accepted): accepted ones point at a
    loopback port nobody listens on."""
    lo = "127.0.0.1:%d" % port
    return [
        ("http://%s" % lo, False, True),
        ("http://[::1]:%d/" % port, False, True),
        ("http://localhost:%d" % port, False, True),
        ("http://127.1:%d" % port, False, True),
        ("http://127.0.0.1.nip.io:%d" % port, False, False),
        ("http://127.0.0.1.example.com:%d" % port, False, False),
        ("http://%s/#fragment" % lo, False, False),
        ("http://%s/?x=1" % lo, True, False),
        ("http://user:pw@%s" % lo, True, False),
        ("http:///x", True, False),
        ("http://127.0.0.1:99999", False, False),
        ("http://127.0.0.1:0", False, False),
        ("http://[::1", False, False),
        ("http://%s/a\r\nX-Injected: 1" % lo, False, False),
    ]


@pytest.mark.parametrize("where", ["file", "environment"])
def test_validate_and_run_agree_on_every_endpoint_url(tmp_path, kh_bin,
                                                      where):
    """Each URL, as aws.endpoint_url or as AWS_ENDPOINT_URL_KMS, goes to
    `validate` and to `check` (one poll through the code `run` uses); the
    daemon accepts it when it gets as far as trying to connect, and
    refuses it when the config is refused or the key's endpoint is
    (BadEndpoint)."""
    port = pick_free_port()
    disagree = []
    for url, allow_http, accepted in _endpoint_table(port):
        path = tmp_path / "kh.yaml"
        aws = {"allow_http": allow_http}
        env = base_env(tmp_path)
        if where == "file":
            aws["endpoint_url"] = url
        else:
            env["AWS_ENDPOINT_URL_KMS"] = url
        write_json(path, {"state_dir": str(tmp_path / "state"),
                          "kms": {"max_attempts": 1}, "aws": aws,
                          "keys": [{"arn": KEY}]})
        v = run([kh_bin, "-c", str(path), "validate"], env=env)
        c = run([kh_bin, "-c", str(path), "check", "--json"], env=env,
                timeout=120)
        out = c.stdout + c.stderr
        run_ok = c.stdout.lstrip().startswith("{") and \
            "BadEndpoint" not in out
        val_ok = v.returncode == 0
        if val_ok != run_ok or run_ok != accepted:
            disagree.append("%r allow_http=%s: validate %s, run %s, "
                            "expected %s\n%s%s" % (
                                url, allow_http, val_ok, run_ok, accepted,
                                v.stderr, out[-600:]))
        if not val_ok:
            assert "%s:" % path in v.stderr, v.stderr
            assert ("endpoint_url" if where == "file" else
                    "AWS_ENDPOINT_URL_KMS") in v.stderr, v.stderr
    assert not disagree, "\n".join(disagree)


@pytest.mark.parametrize("form", ["fragment", "dot", "dotdot"])
def test_slack_url_forms_curl_rewrites_are_redacted_at_vv(
        tmp_path, kmsemu, webhook_receiver, keyhealthd, form):
    """Issue 13 item 8: the configured text has a fragment, "./" or
    "x/../" segments; curl sends (and logs) the normalised path, which
    must be what is redacted."""
    emu = kmsemu.client
    m = emu.seed_key(region="eu-west-1", Policy=gearset_policy(),
                     KeyState="Disabled")
    recv = webhook_receiver()
    base = "http://127.0.0.1:%d" % recv.port
    head, token = SLACK_PATH.rsplit("/", 1)
    configured = {"fragment": base + SLACK_PATH + "#fragment",
                  "dot": base + head + "/./" + token,
                  "dotdot": base + head + "/x/../" + token}[form]
    url_file = tmp_path / "slack"
    url_file.write_text(configured + "\n")
    url_file.chmod(0o600)
    khd = keyhealthd(kmsemu, [{"arn": m["Arn"], "name": "k",
                              "vendor": "gearset"}],
                     extra={"notifiers": [{"type": "slack",
                                           "url_file": str(url_file)}]},
                     verbose=2)
    recv.wait_for(1, timeout=60)
    assert khd.stop() == 0
    log = khd.log()
    assert any(r["path"] == SLACK_PATH for r in recv.requests), \
        [r["path"] for r in recv.requests]
    assert "curl > POST" in log                 # -vv was on
    for secret in (SLACK_PATH, token, configured.split("://", 1)[1]):
        assert secret not in log, "%s in the -vv log:\n%s" % (
            secret, "\n".join(l for l in log.splitlines() if token in l))
    assert "/<redacted>" in log


@pytest.mark.parametrize("ntype", ["webhook", "slack", "alertmanager",
                                   "pagerduty"])
def test_validate_refuses_notifier_urls_that_can_never_work(
        tmp_path, kh_bin, ntype):
    """Issue 13 item 9: every URL option of every notifier is parsed with
    the code its requests use; URLs that could only fail forever at run
    time fail `validate`, at the option's FILE:LINE:COLUMN."""
    bad = ["http:///x", "https://127.0.0.1:99999/x", "https://[::1/x",
           "https://h/a\r\nb", "https://127.0.0.1:0/x", "ftp://h/x",
           "https://h%41/x"]
    env = base_env(tmp_path)
    path = tmp_path / "kh.yaml"
    extra = ""
    if ntype == "pagerduty":
        rk = tmp_path / "rk"
        rk.write_text("R0utingKey\n")
        rk.chmod(0o600)
        extra = "    routing_key_file: %s\n" % rk
    accepted = []
    for url in bad:
        # Line 6, column 10: the url value.
        path.write_text("state_dir: %s\nkeys:\n  - arn: %s\nnotifiers:\n"
                        "  - type: %s\n    url: %s\n%s" % (
                            tmp_path / "state", KEY, ntype,
                            json.dumps(url), extra))
        path.chmod(0o600)
        v = run([kh_bin, "-c", str(path), "validate"], env=env)
        if v.returncode != 1 or ("%s:6:10: " % path) not in v.stderr:
            accepted.append("%r: rc %d %s" % (url, v.returncode, v.stderr))
    assert not accepted, "\n".join(accepted)
    path.write_text("state_dir: %s\nkeys:\n  - arn: %s\nnotifiers:\n"
                    "  - type: %s\n    url: https://h.example.com/x\n%s" % (
                        tmp_path / "state", KEY, ntype, extra))
    v = run([kh_bin, "-c", str(path), "validate"], env=env)
    assert v.returncode == 0, v.stderr
