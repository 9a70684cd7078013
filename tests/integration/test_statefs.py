"""Symbolic links and special files in the state tree (issue 13, items 5
and 6), through the real daemon running as root, as the tests do: a
state_dir, keys/ or outbox/NAME that is a link, temporary-file names
planted as links to a victim file, the Alertmanager notifier's state_file
and its temporary file as links, FIFOs named like an outbox event or a
state file.  Each time the victim outside the tree is untouched (contents,
modes, entries), the daemon starts, keeps polling (an alert raised while
it runs reaches the receiver) and answers SIGTERM.
"""
import os
import signal
import stat
import time

import pytest

from fixture_daemon import key_entry, seed_gearset_key


@pytest.fixture
def emu(kmsemu_session):
    kmsemu_session.client.reset()
    yield kmsemu_session
    kmsemu_session.client.reset()


def snapshot(top):
    """Every entry under top (itself included), never followed: type,
    mode, owner and contents (a link's target)."""
    def one(p):
        st = os.lstat(p)
        data = None
        if stat.S_ISREG(st.st_mode):
            with open(p, "rb") as f:
                data = f.read()
        elif stat.S_ISLNK(st.st_mode):
            data = os.readlink(p)
        return (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode),
                st.st_uid, data)

    out = {".": one(top)}
    for dirpath, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, top)] = one(p)
    return out


def make_victim(tmp_path):
    """A directory outside the state tree that nothing may touch."""
    v = tmp_path / "victim"
    v.mkdir()
    os.chmod(v, 0o755)
    (v / "precious.txt").write_text("do not touch\n")
    os.chmod(v / "precious.txt", 0o644)
    (v / ".tmp-precious").write_text("not a temporary file of ours\n")
    (v / "other.txt").write_text("nor this\n")
    return v


def webhook(recv):
    return [{"type": "webhook", "name": "oncall", "url": recv.url,
             "timeout": "2s"}]


def one_key(emu, kh_config, state_dir, notifiers):
    m = seed_gearset_key(emu)
    cfg = kh_config(emu, [key_entry(m, "gs")], notifiers=notifiers,
                    state_dir=str(state_dir), interval="1s",
                    slow_interval="1s")
    return m, cfg


def wait_until(pred, timeout, what, log=None):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s%s" % (
                timeout, what, "\n" + log() if log else ""))
        time.sleep(0.05)


def firing(recv, check="key-disabled"):
    return [r for r in recv.accepted() if r["json"] and
            r["json"].get("status") == "firing" and
            r["json"].get("check") == check]


def still_polls_and_alerts(emu, m, recv, d):
    """The daemon keeps polling: a key disabled now is alerted."""
    emu.client.update_key(m["KeyId"], region="eu-west-1",
                          KeyState="Disabled")
    wait_until(lambda: firing(recv), 30, "the key-disabled alert", d.log)


def stops_on_sigterm(d):
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=10) == 0, d.log()


# -- state_dir itself ------------------------------------------------------

def test_a_state_dir_link_others_could_have_placed_is_refused(
        emu, kh_config, daemon, webhook_receiver, tmp_path):
    victim = make_victim(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)        # like /tmp
    state = shared / "state"
    os.symlink(str(victim), str(state))
    before = snapshot(str(victim))
    recv = webhook_receiver()
    m, cfg = one_key(emu, kh_config, state, webhook(recv))
    d = daemon(cfg)
    log = d.wait_log("running without persistent state")
    assert "is a symbolic link" in log and "refusing to follow it" in log
    still_polls_and_alerts(emu, m, recv, d)
    stops_on_sigterm(d)
    assert snapshot(str(victim)) == before
    assert os.path.islink(str(state))


def test_a_state_dir_link_made_by_root_is_followed_but_never_chmoded(
        emu, kh_config, daemon, webhook_receiver, tmp_path):
    # As systemd's StateDirectory= with DynamicUser= makes it: a link in a
    # directory only root can write.  It is used; its target keeps its
    # mode (a warning says it is readable by others).
    target = tmp_path / "private-state"
    target.mkdir()
    os.chmod(target, 0o755)
    state = tmp_path / "state-link"
    os.symlink(str(target), str(state))
    recv = webhook_receiver()
    m, cfg = one_key(emu, kh_config, state, webhook(recv))
    d = daemon(cfg)
    still_polls_and_alerts(emu, m, recv, d)
    stops_on_sigterm(d)
    assert stat.S_IMODE(os.lstat(str(target)).st_mode) == 0o755
    assert "through its symbolic link" in d.log()
    assert "running without persistent state" not in d.log()
    assert os.path.isdir(str(target / "keys"))
    assert os.path.isfile(str(target / "alerts.json"))


# -- keys/ and outbox/NAME ---------------------------------------------------

@pytest.mark.parametrize("link,fallback,refusal", [
    ("keys", "running without persistent state",
     "keys is a symbolic link, not a directory"),
    ("outbox/oncall", "kept in memory",
     "oncall is a symbolic link, not a directory"),
])
def test_a_directory_link_in_the_tree_is_refused_nothing_done_through_it(
        emu, kh_config, daemon, webhook_receiver, tmp_path, link, fallback,
        refusal):
    # On main: key states written into the victim, or its .tmp-precious
    # deleted by the outbox's start-up clean-up and events written there.
    victim = make_victim(tmp_path)
    state = tmp_path / "state"
    (state / link).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for p in (state, (state / link).parent):
        os.chmod(str(p), 0o700)
    os.symlink(str(victim), str(state / link))
    before = snapshot(str(victim))
    recv = webhook_receiver()
    m, cfg = one_key(emu, kh_config, state, webhook(recv))
    d = daemon(cfg)
    assert refusal in d.wait_log(fallback)
    still_polls_and_alerts(emu, m, recv, d)     # without persistence
    stops_on_sigterm(d)
    assert snapshot(str(victim)) == before


def test_temporary_file_names_planted_as_links_are_never_opened(
        emu, kh_config, daemon, webhook_receiver, tmp_path):
    victim = make_victim(tmp_path)
    state = tmp_path / "state"
    recv = webhook_receiver()
    m, cfg = one_key(emu, kh_config, state, webhook(recv))
    d = daemon(cfg)
    outbox = state / "outbox" / "oncall"
    wait_until(outbox.is_dir, 10, "the outbox")
    # The names the next events' temporary files had: planted once the
    # start-up clean-up is over.
    for seq in range(1, 9):
        os.symlink(str(victim / "precious.txt"),
                   str(outbox / (".tmp-%016x.json" % seq)))
    before = snapshot(str(victim))
    still_polls_and_alerts(emu, m, recv, d)
    wait_until(lambda: (state / "alerts.json").is_file(), 10,
               "alerts.json")
    stops_on_sigterm(d)
    assert snapshot(str(victim)) == before
    # The planted links are still links to the victim, never replaced by
    # or written as our files.
    assert os.readlink(str(outbox / ".tmp-0000000000000001.json")) == \
        str(victim / "precious.txt")


def test_links_and_fifos_as_state_files_are_moved_aside_not_followed(
        emu, kh_config, daemon, webhook_receiver, tmp_path):
    victim = make_victim(tmp_path)
    state = tmp_path / "state"
    recv = webhook_receiver()
    m, cfg = one_key(emu, kh_config, state, webhook(recv))
    d = daemon(cfg)
    wait_until(lambda: (state / "keys").is_dir() and any(
        n.endswith(".json") for n in os.listdir(str(state / "keys"))), 10,
        "the key's state file")
    stops_on_sigterm(d)
    keyfile = [n for n in os.listdir(str(state / "keys"))
               if n.endswith(".json")][0]
    os.unlink(str(state / "keys" / keyfile))
    os.symlink(str(victim / "precious.txt"), str(state / "keys" / keyfile))
    if (state / "alerts.json").exists():
        os.unlink(str(state / "alerts.json"))
    os.mkfifo(str(state / "alerts.json"), 0o600)
    before = snapshot(str(victim))
    d = daemon(cfg, name="keyhealthd2")
    log = d.wait_log("moved aside", count=2)
    assert "is a symbolic link, not a regular file" in log
    assert "is a FIFO, not a regular file" in log
    still_polls_and_alerts(emu, m, recv, d)
    stops_on_sigterm(d)
    assert snapshot(str(victim)) == before
    assert stat.S_ISREG(os.lstat(str(state / "keys" / keyfile)).st_mode)
    assert stat.S_ISREG(os.lstat(str(state / "alerts.json")).st_mode)


# -- FIFOs -------------------------------------------------------------------

def test_a_fifo_named_like_an_outbox_event_does_not_hang_the_start(
        emu, kh_config, daemon, webhook_receiver, tmp_path):
    state = tmp_path / "state"
    outbox = state / "outbox" / "oncall"
    outbox.mkdir(mode=0o700, parents=True)
    for p in (state, state / "outbox"):
        os.chmod(str(p), 0o700)
    os.mkfifo(str(outbox / "0000000000000001.json"), 0o600)
    recv = webhook_receiver()
    m, cfg = one_key(emu, kh_config, state, webhook(recv))
    d = daemon(cfg)                 # READY=1 within 10 s, or it fails
    log = d.wait_log("moved aside")
    assert "0000000000000001.json is unusable (is a FIFO" in log
    still_polls_and_alerts(emu, m, recv, d)
    stops_on_sigterm(d)
    aside = [n for n in os.listdir(str(outbox)) if ".json.bad-" in n]
    assert len(aside) == 1
    assert stat.S_ISFIFO(os.lstat(str(outbox / aside[0])).st_mode)


# -- the Alertmanager notifier's state_file ----------------------------------

def alertmanager(recv, state_file):
    return [{"type": "alertmanager", "name": "am",
             "url": "http://127.0.0.1:%d" % recv.port, "timeout": "2s",
             "state_file": str(state_file)}]


def test_alertmanager_state_file_links_are_never_followed(
        emu, kh_config, daemon, webhook_receiver, tmp_path):
    victim = make_victim(tmp_path)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    am_file = state / "am.json"
    os.symlink(str(victim / "precious.txt"), str(am_file))
    os.symlink(str(victim / "other.txt"), str(state / "am.json.tmp"))
    before = snapshot(str(victim))
    recv = webhook_receiver()
    m, cfg = one_key(emu, kh_config, state, alertmanager(recv, am_file))
    d = daemon(cfg)
    log = d.wait_log("not followed")
    assert "am.json is a symbolic link, not a regular file" in log
    emu.client.update_key(m["KeyId"], region="eu-west-1",
                          KeyState="Disabled")
    wait_until(lambda: [r for r in recv.accepted()
                        if r["path"] == "/api/v2/alerts"], 30,
               "a post to Alertmanager", d.log)
    wait_until(lambda: stat.S_ISREG(os.lstat(str(am_file)).st_mode), 10,
               "the table saved as a file of its own", d.log)
    stops_on_sigterm(d)
    assert snapshot(str(victim)) == before
    assert b"KeyDisabled" in am_file.read_bytes()


def test_an_alertmanager_state_file_fifo_does_not_hang_the_start(
        emu, kh_config, daemon, webhook_receiver, tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    am_file = state / "am.json"
    os.mkfifo(str(am_file), 0o600)
    recv = webhook_receiver()
    m, cfg = one_key(emu, kh_config, state, alertmanager(recv, am_file))
    d = daemon(cfg)                 # READY=1 within 10 s, or it fails
    assert "am.json is a FIFO, not a regular file" in d.wait_log(
        "not followed")
    stops_on_sigterm(d)
