"""What every HTTP notifier (webhook, pagerduty, alertmanager, slack) does
with the answers a real receiver can give: a 2xx with a huge body, a
redirect; what it logs at -vv; and what the exec notifier's child sees in
its environment.  Driven through tests/tools/notify_send (the notifiers and
the outbox, as the daemon runs them) against a local HTTP server (the
`receiver` fixture).
"""
import json
import os
import subprocess

import pytest

from conftest import REPO_TOP

ARN = ("arn:aws:kms:eu-west-1:111122223333:key/"
       "1234abcd-12ab-34cd-56ef-1234567890ab")
BIG = 200 * 1024            # over the 64 KiB response cap


def event(**kw):
    ev = {"check": "key-disabled", "severity": "critical",
          "status": "firing",
          "key": {"arn": ARN, "name": "gearset-eu", "region": "eu-west-1",
                  "account": "111122223333"},
          "summary": "key-disabled on gearset-eu",
          "details": {"why": "test"}}
    ev.update(kw)
    return ev


def notifier_block(kind, url, tmp_path):
    """One notifier of type kind posting to url (a loopback receiver)."""
    if kind == "webhook":
        return "  - type: webhook\n    url: %s/hook\n    timeout: 5s\n" % url
    if kind == "pagerduty":
        key = tmp_path / "pd-key"
        key.write_text("R0ut1ngK3yThatMustNeverBeLogged0\n")
        os.chmod(key, 0o600)
        return ("  - type: pagerduty\n    url: %s/v2/enqueue\n"
                "    routing_key_file: %s\n    timeout: 5s\n" % (url, key))
    if kind == "alertmanager":
        return ("  - type: alertmanager\n    url: %s\n    timeout: 5s\n"
                "    repost_interval: 1h\n    state_file: %s\n"
                % (url, tmp_path / "am-state.json"))
    if kind == "slack":
        return ("  - type: slack\n    url: %s/services/T0/B0/XyZ5ecret\n"
                "    timeout: 5s\n" % url)
    raise ValueError(kind)


def run_notify_send(tools_dir, tmp_path, notifiers, events, *extra,
                    env=None, timeout=60):
    config = tmp_path / "notify.yaml"
    config.write_text("notifiers:\n" + notifiers)
    argv = [os.path.join(tools_dir, "notify_send"), "-c", str(config),
            "--state-dir", str(tmp_path / "state")] + list(extra)
    stdin = "".join(json.dumps(e) + "\n" for e in events)
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                       timeout=timeout, cwd=REPO_TOP, env=env)
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    return p, [l for l in lines if "result" in l]


HTTP_KINDS = ["webhook", "pagerduty", "alertmanager", "slack"]


@pytest.mark.parametrize("close_delimited", [False, True],
                         ids=["content-length", "close-delimited"])
@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_2xx_with_a_body_over_the_cap_acknowledges(
        tmp_path, tools_dir, receiver, kind, close_delimited):
    receiver.script = [(200, b"x" * BIG, "application/json", {},
                        close_delimited)]
    p, rs = run_notify_send(tools_dir, tmp_path,
                            notifier_block(kind, receiver.url, tmp_path),
                            [event()], "--timeout", "10",
                            "--backoff-min", "100")
    assert [r["result"] for r in rs] == ["ack"], (rs, p.stderr)
    assert p.returncode == 0, p.stderr
    # Acknowledged once: never sent again.
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_3xx_is_retried_and_logged_not_dropped(tmp_path, tools_dir,
                                               receiver, kind, status):
    receiver.script = [(status, b"", "text/plain",
                        {"Location": "https://elsewhere.example/moved"},
                        False)]
    p, rs = run_notify_send(tools_dir, tmp_path,
                            notifier_block(kind, receiver.url, tmp_path),
                            [event()], "--timeout", "20",
                            "--backoff-min", "100", "--backoff-max", "200")
    assert [r["result"] for r in rs] == ["retry", "ack"], (rs, p.stderr)
    assert "HTTP %d" % status in rs[0]["why"]
    assert "redirect" in rs[0]["why"]
    assert "PERMANENT" not in p.stderr
    assert "HTTP %d" % status in p.stderr      # the outbox logs it
    assert p.returncode == 0, p.stderr
    assert len(receiver.requests) == 2


def test_webhook_custom_header_values_never_reach_the_log(tmp_path,
                                                          tools_dir,
                                                          receiver):
    block = ("  - type: webhook\n    url: %s/hook\n    headers:\n"
             "      X-Api-Key: K3yValueNeverLogged1\n"
             "      X-Team: TeamValueNeverLogged2\n"
             "      Api-Key-Token: T0kValueNeverLogged3\n" % receiver.url)
    # A receiver that echoes what it got in its error body: the body
    # goes to the log (as the reason of the retry).
    receiver.script = [(503, b'{"error": "bad key K3yValueNeverLogged1"}',
                        "application/json", {}, False)]
    p, rs = run_notify_send(tools_dir, tmp_path, block, [event()],
                            "-v", "-v", "--backoff-min", "100")
    assert [r["result"] for r in rs] == ["retry", "ack"], p.stderr
    assert "HTTP 503" in rs[0]["why"]
    h = receiver.requests[0]["headers"]
    assert h["x-api-key"] == "K3yValueNeverLogged1"
    assert h["x-team"] == "TeamValueNeverLogged2"
    # -vv logs the request headers (so the test sees the log path) ...
    assert "Idempotency-Key:" in p.stderr, p.stderr
    assert "X-Api-Key: <redacted>" in p.stderr, p.stderr
    # ... but no configured value.
    for v in ("K3yValueNeverLogged1", "TeamValueNeverLogged2",
              "T0kValueNeverLogged3"):
        assert v not in p.stderr and v not in p.stdout


def test_exec_child_gets_a_minimal_environment(tmp_path, tools_dir):
    out = tmp_path / "env.out"
    block = ("  - type: exec\n    command: [/bin/sh, -c, 'env > %s']\n"
             % out)
    env = dict(os.environ)
    env.update({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE",
                "AWS_SECRET_ACCESS_KEY": "S3cretAccessKeyMustNotLeak",
                "AWS_SESSION_TOKEN": "SessionTokenMustNotLeak",
                "CREDENTIALS_DIRECTORY": str(tmp_path),
                "SOME_OTHER_VARIABLE": "whatever",
                "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC"})
    p, rs = run_notify_send(tools_dir, tmp_path, block, [event()], env=env)
    assert [r["result"] for r in rs] == ["ack"], p.stderr
    child = dict(l.split("=", 1) for l in out.read_text().splitlines()
                 if "=" in l)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_SESSION_TOKEN", "CREDENTIALS_DIRECTORY",
                 "SOME_OTHER_VARIABLE"):
        assert name not in child, name
    assert "MustNotLeak" not in out.read_text()
    # What it documents: PATH, LANG, TZ passed on, and the event.
    assert child["PATH"] == "/usr/bin:/bin"
    assert child["LANG"] == "C.UTF-8"
    assert child["TZ"] == "UTC"
    assert child["KEYHEALTH_CHECK"] == "key-disabled"
    assert child["KEYHEALTH_KEY_ARN"] == ARN
