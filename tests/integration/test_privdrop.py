"""
test_privdrop.py -- `user`: started as root, relayd runs as that user once
its listeners are bound (contract: "Global keys", user).

The suite runs as root here. The spool lives in a directory made for the
test under /tmp (mode 0755): pytest's tmp_path is under a 0700 root-owned
directory that the unprivileged user could not reach.

Assumptions beyond the contract (docs/relayctl.md):
  * every thread of relayd has real, effective, saved and file-system uid
    and gid of the user, and no supplementary group but the user's own.
  * the spool, its subdirectories and files (including ones left by an
    earlier run as root) and the control socket are owned by the user;
    spool directories 0700, the socket 0600.
  * root's relayctl still reaches relayd; a message queued by the earlier
    root run is delivered after the drop.
  * a secrets file readable by others is warned about at start.
"""

import os
import pwd
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from harness import free_port, make_config, sent_re, simple_message, transport

USER = "nobody"


@pytest.fixture
def open_dir():
    if os.geteuid() != 0:
        pytest.skip("needs root: relayd only drops privileges when started as root")
    d = Path(tempfile.mkdtemp(prefix="relayd-privdrop-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def ids(pid, field):
    """The four ids of FIELD ("Uid"/"Gid") of every thread of PID."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for ln in (task / "status").read_text().splitlines():
            if ln.startswith(field + ":"):
                out[task.name] = [int(x) for x in ln.split()[1:]]
    return out


def test_privilege_drop(start_relayd, scripted, open_dir):
    pw = pwd.getpwnam(USER)
    sink = scripted("127.0.0.2", name="sink", start=False)
    spool = open_dir / "spool"
    secret = open_dir / "password"
    secret.write_text("hunter2\n")
    os.chmod(secret, 0o644)
    port = free_port()

    def conf(user):
        return make_config(port=port, spool=spool, transports={
            "sink": transport(sink), "auth": transport(sink, auth_user="u",
                                                       auth_password_file=str(secret))},
            routes={"*": "sink"}, queue={"retry": ["1h"]},
            extra=f'user = "{user}"' if user else "")

    # First as root: a message waits in a spool full of root's files.
    r = start_relayd(conf(None), port=port)
    qid = r.send("s@origin.test", ["early@dest.test"], simple_message("before the drop"))
    r.wait_log(sent_re("early@dest.test", qid=qid, status="deferred", strict_relay=False))
    r.stop()
    # Small messages live in the journal (log/N.log), large ones in queue/.
    held = list((spool / "log").glob("*.log")) + list((spool / "queue").iterdir())
    assert held and all(os.stat(f).st_uid == 0 for f in held)

    r.conf_path.write_text(conf(USER))
    mark = r.mark()
    r.start()
    r.wait_log(r"auth_password_file \S+ is readable by everyone", since=mark)
    for field, want in (("Uid", pw.pw_uid), ("Gid", pw.pw_gid)):
        got = ids(r.pid, field)
        assert got and all(v == [want] * 4 for v in got.values()), f"{field}: {got}"
    groups = (Path(f"/proc/{r.pid}/status").read_text().split("Groups:")[1]
              .splitlines()[0].split())
    assert [int(g) for g in groups] in ([], [pw.pw_gid]), groups

    for p in [spool] + [spool / d for d in ("queue", "state", "tmp", "corrupt", "log")]:
        st = os.stat(p)
        assert st.st_uid == pw.pw_uid, f"{p} owned by uid {st.st_uid}, want {pw.pw_uid}"
        assert stat.S_IMODE(st.st_mode) == 0o700, f"{p} mode {oct(st.st_mode)}"
    for f in (list((spool / "queue").iterdir()) + list((spool / "state").iterdir()) +
              list((spool / "log").iterdir())):
        assert os.stat(f).st_uid == pw.pw_uid, f"{f} still owned by uid {os.stat(f).st_uid}"
    st = os.lstat(spool / "control.sock")
    assert st.st_uid == pw.pw_uid and stat.S_IMODE(st.st_mode) == 0o600, \
        (st.st_uid, oct(st.st_mode))

    # Mail still flows: the old message (flushed by root's relayctl) and a new one.
    sink.start()
    p = r.ctl("flush")
    assert p.returncode == 0, p
    qid2 = r.send("s@origin.test", ["late@dest.test"], simple_message("after the drop"))
    msgs = sink.wait_messages(2)
    assert sorted(m.rcpt_tos[0] for m in msgs) == ["early@dest.test", "late@dest.test"]
    r.wait_log(sent_re("early@dest.test", qid=qid, status="sent"))
    r.wait_log(sent_re("late@dest.test", qid=qid2, status="sent"))
    for f in (spool / "queue").iterdir():
        assert os.stat(f).st_uid == pw.pw_uid
    p = r.ctl("stats")
    assert p.returncode == 0 and "sent 2" in p.stdout, p
    r.stop()


def test_unknown_user(start_relayd, open_dir):
    r = start_relayd(make_config(port=free_port(), spool=open_dir / "spool",
                                 extra='user = "no-such-user-here"'), start=False)
    import subprocess
    from harness import relayd_bin
    p = subprocess.run([str(relayd_bin()), "-d", "-f", str(r.conf_path)], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 1, p
    assert "no-such-user-here" in p.stderr, p.stderr
