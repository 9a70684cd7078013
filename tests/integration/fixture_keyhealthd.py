"""The `keyhealthd` fixture (the fault, secret, valgrind, soak, endpoint
and KMS-answer tests use it): a keyhealthd run against the emulator, its
config written as JSON (which is YAML), and the process figures (RSS,
descriptors) read from /proc.

    khd = keyhealthd(cfg_extra={...}, keys=[...], env_extra={...},
                     wrapper=[...], args=[...])
    khd.status()  khd.metrics()  khd.figures()  khd.stop()
"""
import json
import os
import re
import signal
import time
import urllib.request

import pytest

from conftest import pick_free_port

EMU_AK = "AKIDEXAMPLE"
EMU_SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
GEARSET_EU = "347752291521"


def gearset_policy(account="111122223333", vendor=GEARSET_EU):
    """A key policy that grants Gearset everything its BYOK guide asks."""
    v = "arn:aws:iam::%s:root" % vendor
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::%s:root" % account},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Allow use of the key", "Effect": "Allow",
         "Principal": {"AWS": v},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                    "kms:GenerateDataKey*", "kms:DescribeKey"],
         "Resource": "*"},
        {"Sid": "Allow attachment of persistent resources",
         "Effect": "Allow", "Principal": {"AWS": v},
         "Action": ["kms:CreateGrant", "kms:ListGrants",
                    "kms:RevokeGrant"], "Resource": "*",
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}]})


def seed_keys(emu, n, region="eu-west-1", prefix="k", state="Enabled"):
    """n healthy Gearset keys (with an alias each); their config entries."""
    pol = gearset_policy()
    out = []
    for i in range(n):
        alias = "alias/%s%d" % (prefix, i)
        m = emu.client.seed_key(region=region, Policy=pol, KeyState=state,
                                Aliases=[alias])
        out.append({"arn": m["Arn"], "name": "%s%d" % (prefix, i),
                    "vendor": "gearset", "alias": alias})
    return out


def tcp_connected_inodes():
    """Socket inodes of every established TCP connection on the host."""
    out = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "01":       # ESTABLISHED
                        out.add(fields[9])
        except OSError:
            pass
    return out


def proc_figures(pid):
    """VmRSS and VmHWM in KiB; open descriptors: "conns" the established
    TCP connections (curl keeps up to kms.max_inflight per endpoint alive,
    and how many it holds depends on how polls overlapped), "fds" all the
    others (files, listeners, pipes, timers: these never vary)."""
    fig = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            m = re.match(r"(VmRSS|VmHWM):\s+(\d+) kB", line)
            if m:
                fig[m.group(1)] = int(m.group(2))
    connected = tcp_connected_inodes()
    fds = conns = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue                    # closed meanwhile
        m = re.match(r"socket:\[(\d+)\]$", target)
        if m and m.group(1) in connected:
            conns += 1
        else:
            fds += 1
    fig["fds"], fig["conns"] = fds, conns
    return fig


# The most connections to one endpoint curl keeps alive (kms.max_inflight's
# default): more after a run than this is a leak.
MAX_KEPT_CONNECTIONS = 16


def settled_figures(pid, n=10, step=0.2):
    """proc_figures over n samples: RSS of the last, descriptors the
    fewest seen (a connection being opened is not a leak)."""
    figs = []
    for _ in range(n):
        figs.append(proc_figures(pid))
        time.sleep(step)
    out = dict(figs[-1])
    out["fds"] = min(f["fds"] for f in figs)
    out["conns"] = min(f["conns"] for f in figs)
    return out


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode("utf-8", "replace")


def binary_is_sanitized(path):
    """True for an ASan build (valgrind can't run those)."""
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


class Keyhealthd:
    def __init__(self, proc, tmp_path, config_path, state_dir, http_port):
        self.proc = proc
        self.pid = proc.pid
        self.tmp_path = tmp_path
        self.config_path = config_path
        self.state_dir = state_dir
        self.http_port = http_port

    def log(self):
        return self.proc.log()

    def alive(self):
        return self.proc.popen.poll() is None

    def status(self):
        return json.loads(http_get("http://127.0.0.1:%d/status"
                                   % self.http_port))

    def metrics(self):
        return http_get("http://127.0.0.1:%d/metrics" % self.http_port)

    def metric(self, name, labels=None):
        """Sum of the samples of name whose labels include labels."""
        total = 0.0
        for line in self.metrics().splitlines():
            if not line.startswith(name + "{") and \
                    not line.startswith(name + " "):
                continue
            if labels and not all('%s="%s"' % kv in line
                                  for kv in labels.items()):
                continue
            total += float(line.rsplit(" ", 1)[1])
        return total

    def figures(self):
        return proc_figures(self.pid)

    def key(self, name):
        for k in self.status()["keys"]:
            if k["name"] == name:
                return k
        raise KeyError(name)

    def wait_until(self, pred, timeout=30.0, what="condition", step=0.2):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            assert self.alive(), "keyhealthd exited (%s):\n%s" % (
                self.proc.popen.returncode, self.log()[-5000:])
            try:
                last = pred()
                if last:
                    return last
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(step)
        raise AssertionError("timed out waiting for %s (last %r); log:\n%s"
                             % (what, last, self.log()[-5000:]))

    def write_config(self, cfg):
        write_json(self.config_path, cfg)

    def reload(self):
        self.proc.signal(signal.SIGHUP)

    def stop(self, timeout=30.0):
        self.proc.signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def write_json(path, doc):
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.chmod(tmp, 0o600)
    os.rename(tmp, str(path))


def base_env(home, **extra):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": str(home), "AWS_ACCESS_KEY_ID": EMU_AK,
           "AWS_SECRET_ACCESS_KEY": EMU_SK, "AWS_EC2_METADATA_DISABLED": "true",
           "LANG": "C",
           "KEYHEALTHD_VENDOR_DIR": os.environ["KEYHEALTHD_VENDOR_DIR"]}
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


@pytest.fixture
def keyhealthd(spawn, tmp_path, kh_bin):
    """keyhealthd(emu, keys, extra={}, env={}, wrapper=[], verbose=1,
    name="keyhealthd", wait=True) -> a started Keyhealthd."""
    n = [0]

    def _start(emu, keys, extra=None, env=None, wrapper=(), verbose=1,
               name=None, wait=True, state_dir=None, config_path=None):
        n[0] += 1
        name = name or ("keyhealthd%d" % n[0])
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        state_dir = state_dir or str(tmp_path / "state")
        port = pick_free_port()
        cfg = {"interval": "2s", "state_dir": state_dir,
               "aws": {"endpoint_url": emu.url},
               "http": {"listen": "127.0.0.1:%d" % port},
               "keys": keys}
        for k, v in (extra or {}).items():
            if isinstance(v, dict) and isinstance(cfg.get(k), dict):
                cfg[k] = dict(cfg[k], **v)
            else:
                cfg[k] = v
        config_path = config_path or str(tmp_path / ("%s.yaml" % name))
        write_json(config_path, cfg)
        argv = list(wrapper) + [kh_bin] + (["-" + "v" * verbose]
                                           if verbose else []) + \
            ["-c", config_path, "run"]
        p = spawn(name, argv, env=base_env(home, **(env or {})))
        k = Keyhealthd(p, tmp_path, config_path, state_dir, port)
        k.config = cfg
        if wait:
            p.wait_for_log("started", timeout=60)
        return k

    return _start


__all__ = ["EMU_AK", "EMU_SK", "gearset_policy", "seed_keys",
           "proc_figures", "settled_figures", "MAX_KEPT_CONNECTIONS", "http_get", "Keyhealthd", "write_json",
           "base_env", "binary_is_sanitized"]
