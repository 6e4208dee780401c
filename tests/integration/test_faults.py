"""
test_faults.py -- hardening (issue "Hardening", items 3-5): crashes at
random points lose nothing acknowledged; corrupt spool files are moved
aside; a full spool gives 452 4.3.1 and recovers; remote servers that stall,
flood, forget CRLF or reset mid-DATA only defer; slow and idle clients are
bounded by the listener's timeout and memory stays small per session.
"""

import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from harness import (QUEUED_REPLY, RawClient, RawServer, free_port, sent_re, simple_message,
                     smtp_until, transport, wire_body)


# ---- crash safety ----------------------------------------------------------

def test_sigkill_at_random_points_loses_nothing(start_relayd, scripted):
    """200 messages from 20 concurrent clients; relayd is killed with
    SIGKILL at random moments 10 times and restarted each time; every
    message that got a 250 arrives at least once."""
    sink = scripted("127.0.0.2", name="sink")
    r = start_relayd(transports={"sink": transport(sink)}, routes={"*": "sink"})
    rng = random.Random(20261122)
    acked, lock = set(), threading.Lock()
    todo = [f"crash-{i}" for i in range(200)]

    def client(names):
        for name in names:
            for _ in range(60):           # retry while relayd is down
                try:
                    with RawClient("127.0.0.1", r.port, timeout=5) as c:
                        if c.greeting.code != 220:
                            raise OSError("no greeting")
                        c.cmd("EHLO client.test")
                        c.cmd("MAIL FROM:<a@origin.test>")
                        c.cmd(f"RCPT TO:<{name}@dest.test>")
                        if c.cmd("DATA").code != 354:
                            raise OSError("no 354")
                        c.send(wire_body(simple_message(subject=name)))
                        rep = c.read_reply(timeout=10)
                        if rep.code == 250 and QUEUED_REPLY.match(rep.line):
                            with lock:
                                acked.add(name)
                            break
                except (OSError, AssertionError, Exception):
                    time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(todo[i::20],)) for i in range(20)]
    for t in threads:
        t.start()
    for _ in range(10):
        time.sleep(rng.uniform(0.05, 0.4))
        r.kill(signal.SIGKILL)
        r.restart()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert len(acked) >= 150, f"only {len(acked)} of 200 messages were acknowledged"

    def arrived():
        got = {m.rcpt_tos[0].split("@")[0] for m in sink.messages}
        return acked <= got
    sink.wait_for(lambda s: arrived(), 60, "every acknowledged message")


def test_corrupt_spool_files_moved_aside(start_relayd, scripted):
    """Damage in both stores: journal records (log/N.log) and queue/ files
    (messages over 256 KiB). Unreadable parts go to corrupt/, are logged,
    and never stop relayd; everything else is delivered."""
    sink = scripted("127.0.0.2", name="sink", start=False)
    r = start_relayd(transports={"sink": transport(sink)}, routes={"*": "sink"})
    big = simple_message(body=("b" * 998 + "\r\n") * 300)       # ~300 KB: a queue/ file
    good = r.send("a@origin.test", ["good@dest.test"], simple_message())
    mangled = r.send("a@origin.test", ["mangled@dest.test"], simple_message())
    after = r.send("a@origin.test", ["after@dest.test"], simple_message())
    cut = r.send("a@origin.test", ["cut@dest.test"], simple_message())
    big_ok = r.send("a@origin.test", ["bigok@dest.test"], big)
    big_cut = r.send("a@origin.test", ["bigcut@dest.test"], big)
    r.stop()
    spool = r.workdir / "spool"
    seg = sorted((spool / "log").glob("*.log"))[-1]
    data = bytearray(seg.read_bytes())
    # A damaged envelope in the middle: its record is set aside, the next
    # ones are still read (the record length is intact).
    i = data.index(b"RELAYD 1\nid " + mangled.encode())
    data[i:i + 8] = b"GARBAGE!"
    # The last record cut short.
    j = data.index(b"@" + cut.encode())
    seg.write_bytes(bytes(data[: j + 200]))
    q = spool / "queue"
    f = q / big_cut
    f.write_bytes(f.read_bytes()[:50000])                        # truncated file
    (q / "0000000000000000").write_bytes(os.urandom(300))        # garbage
    (q / "0000000000000001").write_bytes(b"")                    # empty
    # Left by a stop between two unlinks: a .done without its segment, and
    # the state of a message that is gone. Both are removed at start.
    (spool / "log" / "0000FFFF.done").write_text("00000000DEADBEEF\n")
    (spool / "state" / "00000000000000AB").write_text("RELAYD-STATE 1\nwarned 0\n")
    sink.start()
    r.start()
    r.wait_log(r"%s: corrupt queue file moved to corrupt/: truncated body" % big_cut)
    r.wait_log(r"0000000000000000: corrupt queue file moved to corrupt/")
    r.wait_log(r"%s: corrupt journal record saved to corrupt/: bad header" % mangled)
    r.wait_log(r"%s\.incomplete: corrupt journal record saved to corrupt/: incomplete" % cut)
    for rc, qid in (("good", good), ("after", after), ("bigok", big_ok)):
        r.wait_log(sent_re(f"{rc}@dest.test", qid=qid, status="sent"))
    corrupt = {p.name for p in (spool / "corrupt").iterdir()}
    assert {big_cut, "0000000000000000", "0000000000000001", mangled,
            cut + ".incomplete"} <= corrupt, corrupt
    assert not any(m.rcpt_tos[0].startswith(("mangled", "cut", "bigcut"))
                   for m in sink.messages)
    assert not (spool / "log" / "0000FFFF.done").exists(), "a stale .done file was kept"
    assert not (spool / "state" / "00000000000000AB").exists(), "an orphan state file was kept"


def test_full_spool_452_and_recovery(start_relayd, scripted):
    mnt = tempfile.mkdtemp(prefix="relayd-tiny-", dir="/tmp")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k,mode=0755", "tmpfs", mnt],
                   check=True)
    try:
        sink = scripted("127.0.0.2", name="sink", start=False)
        conf_spool = Path(mnt) / "spool"
        r = start_relayd(transports={"sink": transport(sink)}, routes={"*": "sink"},
                         queue={"retry": ["1s"]})
        r.stop()
        text = r.conf_path.read_text().replace(str(r.workdir / "spool"), str(conf_spool))
        r.conf_path.write_text(text)
        r.start()
        body = simple_message(body="x" * 76 + "\r\n") * 1   # small header
        big = simple_message(body=("y" * 998 + "\r\n") * 100)  # ~100 KB
        acked, refused = [], None
        for i in range(12):
            with RawClient("127.0.0.1", r.port, timeout=10) as c:
                c.cmd("EHLO client.test")
                c.cmd("MAIL FROM:<a@origin.test>")
                c.cmd(f"RCPT TO:<fill{i}@dest.test>")
                assert c.cmd("DATA").code == 354
                c.send(wire_body(big))
                rep = c.read_reply(timeout=10)
            if rep.code == 250:
                acked.append(f"fill{i}")
            else:
                refused = rep
                break
        assert refused is not None, "the 600 KB spool never filled up"
        assert refused.line.startswith("452 4.3.1"), refused.line
        assert acked, "nothing fit at all"
        # Space comes back as the queue drains: everything acknowledged
        # arrives, and new mail is accepted again.
        sink.start()
        sink.wait_for(lambda s: {m.rcpt_tos[0].split("@")[0] for m in s.messages} >= set(acked),
                      30, "every acknowledged message")
        deadline = time.monotonic() + 20
        while True:
            try:
                r.send("a@origin.test", ["after@dest.test"], body)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        sink.wait_for(lambda s: any(m.rcpt_tos == ["after@dest.test"] for m in s.messages), 10,
                      "the message after recovery")
        r.stop()
    finally:
        subprocess.run(["umount", "-l", mnt])
        shutil.rmtree(mnt, ignore_errors=True)


# ---- remote servers that misbehave ------------------------------------------

def stall_mid_reply(c):
    smtp_until(c, b"MAIL")
    c.sendall(b"250-first line of a reply that never ends\r\n")
    time.sleep(30)


def flood_reply(c):
    smtp_until(c, b"MAIL")
    line = b"250-" + b"x" * 996 + b"\r\n"
    try:
        for _ in range(10 * 1024):        # 10 MB of continuation lines
            c.sendall(line)
        c.sendall(b"250 ok\r\n")
        while read_line(c):
            c.sendall(b"451 4.3.0 still no\r\n")
    except OSError:
        pass


def no_crlf(c):
    c.sendall(b"220 greeting without a line end")
    time.sleep(30)


def reset_in_data(c):
    smtp_until(c, b"DATA")
    c.sendall(b"354 go\r\n")
    c.recv(100)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()


@pytest.mark.parametrize("behave,words", [
    (stall_mid_reply, "timed out"),
    (flood_reply, ""),
    (no_crlf, "timed out"),
    (reset_in_data, "lost connection"),
])
def test_misbehaving_servers_defer(start_relayd, behave, words):
    srv = RawServer("127.0.0.2", behave)
    try:
        r = start_relayd(transports={"raw": transport(srv.relay, command_timeout="2s",
                                                      data_timeout="2s")},
                         routes={"*": "raw"}, queue={"retry": ["1h"]})
        qid = r.send("a@origin.test", ["u@dest.test"], simple_message(body="z\r\n" * 2000))
        m = r.wait_log(sent_re("u@dest.test", qid=qid, status="deferred", strict_relay=False),
                       timeout=20)
        assert words in m.group("reason"), m.group(0)
        rss = int(next(l for l in open(f"/proc/{r.pid}/status") if l.startswith("VmRSS"))
                  .split()[1])
        assert rss < 64 * 1024, f"relayd grew to {rss} KiB"
        assert r.alive
    finally:
        srv.close()


# ---- clients that are slow, or many ---------------------------------------

def trickle(port, prefix, max_seconds):
    """Send PREFIX, then one byte every 0.3 s until relayd answers; return
    (seconds from the first trickled byte, the answer)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")
    f.readline()
    for cmd in prefix:
        s.sendall(cmd)
        while True:
            line = f.readline()
            if line[3:4] != b"-":
                break
    s.setblocking(False)
    t0 = time.monotonic()
    got = b""
    try:
        while time.monotonic() - t0 < max_seconds and b"\n" not in got:
            s.sendall(b"x")
            time.sleep(0.3)
            try:
                got += s.recv(200)
            except BlockingIOError:
                pass
        return time.monotonic() - t0, got
    finally:
        s.close()


def test_slow_client_cut_off(relay_sink):
    r, sink = relay_sink(listen={"timeout": "2s"})
    # A command line must be complete within the timeout, however steady
    # the trickle of bytes (reads alone would keep an idle timer alive).
    took, got = trickle(r.port, [b"EHLO client.test\r\n"], 10)
    assert got.startswith(b"421 4.4.2"), got
    assert took < 3.5, took
    # DATA gets four times the timeout in all.
    took, got = trickle(r.port, [b"EHLO client.test\r\n", b"MAIL FROM:<a@origin.test>\r\n",
                                 b"RCPT TO:<u@dest.test>\r\n", b"DATA\r\n"], 15)
    assert got.startswith(b"421 4.4.2"), got
    assert 7 <= took < 10, took
    assert sink.messages == []
    r.wait_log(r"deadline passed in state DATA")


def test_2000_idle_sessions(relay_sink):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    r, sink = relay_sink(listen={"max_clients": 3000})

    def rss():
        with open(f"/proc/{r.pid}/status") as f:
            return int(next(l for l in f if l.startswith("VmRSS")).split()[1])

    before = rss()
    socks = []
    try:
        for _ in range(2000):
            s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
            socks.append(s)
        for s in socks:
            assert s.recv(100).startswith(b"220 ")
        after = rss()
        per = (after - before) / 2000
        assert per <= 16, f"{per:.1f} KiB per idle session"
        # A normal message still goes through.
        r.send("a@origin.test", ["u@dest.test"], simple_message())
        sink.wait_messages(1)
    finally:
        for s in socks:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
