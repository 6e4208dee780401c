"""
test_relayctl.py -- relayctl against a running relayd (contract: "Programs",
relayctl table): queue (text and --json), flush, delete, route (online and
offline), stats, usage and exit statuses, the control socket itself, and
relayd started without -d (it detaches once ready and still serves).

Assumptions beyond the contract (docs/relayctl.md):
  * the text listing shows the QID, the size in bytes, the sender in <>,
    each pending recipient in <> with "transport NAME", "attempts N", the
    last reply verbatim and its classification label in [brackets].
  * queue --json lists only pending recipients; "class" is the stable
    category name of smtp/classify.h (replies.md) or null without a reply;
    an extra "label" field holds the human label.
  * the listing is in queue id order, oldest first.
  * the control socket is <spool>/control.sock, mode 0600, owned by the user
    relayd runs as; a stale one is replaced at start; a second relayd on the
    same socket refuses to start (exit 1) and names the socket.
  * relayctl prints nothing on success for flush and delete.
  * a long listing is produced in batches (of 512 messages) and still lists
    every message once, in order.
"""

import json
import os
import re
import stat
import subprocess
import time

import pytest

from harness import sent_re, simple_message, transport, wire_body

BLOCKED = "450 4.7.1 Client host rejected: blocked using zen.spamhaus.org"
HOUR = {"retry": ["1h"]}


def ctl_ok(r, *args):
    p = r.ctl(*args)
    assert p.returncode == 0, f"relayctl {' '.join(args)}: exit {p.returncode}\n" \
                              f"stdout {p.stdout!r}\nstderr {p.stderr!r}"
    return p.stdout


def queue_json(r):
    out = ctl_ok(r, "queue", "--json")
    try:
        data = json.loads(out)
    except ValueError as e:
        pytest.fail(f"relayctl queue --json is not JSON ({e}): {out!r}", pytrace=False)
    assert isinstance(data, list), f"want one JSON array, got {type(data).__name__}: {out!r}"
    return data


def stats(r):
    out = ctl_ok(r, "stats")
    got = {}
    for line in out.splitlines():
        m = re.fullmatch(r"([a-z_]+) (\d+)", line)
        assert m, f"stats line {line!r} is not 'name value'"
        got[m.group(1)] = int(m.group(2))
    return got


def deferred(r, qid, rcpt=None, count=1):
    return r.wait_log(sent_re(rcpt, qid=qid, status="deferred", strict_relay=False), count=count)


# -- queue -------------------------------------------------------------------

def test_queue_text_and_json(relay_sink):
    r, sink = relay_sink(queue=HOUR, rcpt_replies=lambda a: BLOCKED if a.startswith("b") else
                         "451 4.3.0 local problem")
    before = int(time.time())
    qid = r.send("jürgen@origin.test", ["a@dest.test", "b@dest.test"],
                 simple_message("listed"), mail_params="SMTPUTF8")
    deferred(r, qid, count=2)
    qid2 = r.send("", ["c@other.test"], simple_message("second"))
    deferred(r, qid2)

    text = ctl_ok(r, "queue")
    block = text[text.index(qid):]
    block = block[:block.index("\n\n")]
    assert "<jürgen@origin.test>" in block, text
    assert re.search(r"\b\d+ bytes\b", block), text
    for a in ("a@dest.test", "b@dest.test"):
        assert f"<{a}>" in block, text
    assert "transport sink" in block and "attempts 1" in block, text
    assert "blocked using zen.spamhaus.org [blocklist: Spamhaus ZEN]" in block, text
    assert "451 4.3.0 local problem" in block, text
    assert re.search(r"next attempt in (59m|1h0m)", block), text
    assert text.index(qid) < text.index(qid2), "want oldest first"
    assert "from <>" in text[text.index(qid2):], text

    data = queue_json(r)
    ids = [m["id"] for m in data]
    assert ids == sorted(ids) and {qid, qid2} <= set(ids), ids
    m = next(m for m in data if m["id"] == qid)
    assert set(m) >= {"id", "size", "arrival", "sender", "recipients"}, m
    assert m["sender"] == "jürgen@origin.test"
    assert isinstance(m["size"], int) and m["size"] > 0
    assert before - 1 <= m["arrival"] <= time.time() + 1, m
    rc = {x["address"]: x for x in m["recipients"]}
    assert set(rc) == {"a@dest.test", "b@dest.test"}, m
    for x in rc.values():
        assert set(x) >= {"address", "transport", "attempts", "next_attempt", "last_reply",
                          "class"}, x
        assert x["transport"] == "sink" and x["attempts"] == 1, x
        assert x["next_attempt"] >= time.time() + 3000, x
    assert rc["b@dest.test"]["last_reply"] == BLOCKED
    assert rc["b@dest.test"]["class"] == "blocklist"
    assert rc["a@dest.test"]["last_reply"].startswith("451 4.3.0 local problem")
    assert next(x for x in data if x["id"] == qid2)["sender"] == ""


def test_queue_never_tried_and_empty(start_relayd, scripted):
    sink = scripted("127.0.0.2", name="sink")
    assert queue_json(start_relayd(transports={"sink": transport(sink)},
                                   routes={"*": "sink"})) == []
    # A recipient never attempted: no last reply, the route's transport.
    down = scripted("127.0.0.3", name="down", start=False)
    r = start_relayd(transports={"t": transport(down)}, routes={"*": "t"}, queue=HOUR)
    assert ctl_ok(r, "queue").strip() == "queue is empty"
    qid = r.send("s@origin.test", ["x@dest.test"], simple_message("down"))
    deferred(r, qid)
    (m,) = queue_json(r)
    (x,) = m["recipients"]
    assert x["transport"] == "t" and x["attempts"] == 1
    # A local reason fits no category: the contract says null.
    assert "refused" in x["last_reply"].lower() and x["class"] is None


def test_queue_json_escaping(relay_sink):
    # Control characters never reach the queue from SMTP; a reply with
    # quotes, backslashes and UTF-8 does.
    reply = '450 4.2.0 "quoted" back\\slash caf\u00e9 \u65e5\u672c'
    r, sink = relay_sink(queue=HOUR, rcpt_replies=reply)
    qid = r.send("s@origin.test", ["x@dest.test"], simple_message("esc"))
    deferred(r, qid)
    out = ctl_ok(r, "queue", "--json")
    (m,) = json.loads(out)
    got = m["recipients"][0]["last_reply"]
    assert '"quoted"' in got and "back\\slash" in got, got


def test_queue_listing_in_batches(start_relayd, scripted):
    # More messages than one listing batch (512): every one listed once, in order.
    down = scripted("127.0.0.3", name="down", start=False)
    r = start_relayd(transports={"t": transport(down)}, routes={"*": "t"}, queue=HOUR)
    n = 1100
    qids = []
    with r.client(timeout=30) as c:
        assert c.cmd("EHLO client.test").code == 250
        for i in range(n):
            assert c.cmd("MAIL FROM:<s@origin.test>").code == 250
            assert c.cmd(f"RCPT TO:<r{i}@dest.test>").code == 250
            assert c.cmd("DATA").code == 354
            c.send(wire_body(f"Subject: {i}\r\n\r\nbody {i}\r\n".encode()))
            reply = c.read_reply(timeout=30)
            assert reply.code == 250, reply
            qids.append(reply.line.rsplit(" ", 1)[1])
    data = queue_json(r)
    ids = [m["id"] for m in data]
    assert ids == sorted(qids), f"{len(ids)} listed, want {n} in id order"
    text = ctl_ok(r, "queue")
    assert text.endswith(f"-- {n} messages, {n} recipients pending\n"), text[-200:]
    assert [ln.split()[0] for ln in text.splitlines() if re.match(r"^[0-9A-F]+  ", ln)] == ids


# -- flush and delete ----------------------------------------------------------

@pytest.mark.parametrize("which", ["all", "qid"])
def test_flush(relay_sink, which):
    r, sink = relay_sink(queue=HOUR, rcpt_replies=["450 4.2.0 try later", None])
    qid = r.send("s@origin.test", ["x@dest.test"], simple_message("flush me"))
    deferred(r, qid)
    time.sleep(0.5)
    assert not sink.messages
    start = time.monotonic()
    assert ctl_ok(r, "flush", *([qid] if which == "qid" else [])) == ""
    sink.wait_messages(1, timeout=5)
    assert time.monotonic() - start < 5
    r.wait_log(sent_re("x@dest.test", qid=qid, status="sent", attempts=2))
    assert queue_json(r) == []


def test_flush_unknown_qid(relay_sink):
    r, _ = relay_sink()
    p = r.ctl("flush", "0123456789ABCDEF")
    assert p.returncode == 1 and "0123456789ABCDEF" in p.stderr, p


def test_delete(relay_sink):
    r, sink = relay_sink(queue={"retry": ["1s"]}, rcpt_replies="450 4.2.0 try later")
    qid = r.send("s@origin.test", ["x@dest.test", "y@dest.test"], simple_message("delete me"))
    deferred(r, qid, "x@dest.test")
    mark = r.mark()
    assert ctl_ok(r, "delete", qid) == ""
    assert qid not in [m["id"] for m in queue_json(r)]
    assert qid not in ctl_ok(r, "queue")
    spool = r.workdir / "spool"
    deadline = time.monotonic() + 5
    while (spool / "queue" / qid).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (spool / "queue" / qid).exists(), "the message file is still in the spool"
    time.sleep(2.5)   # two retry periods: a retry or a DSN would show by now
    log = r.log_text()[mark:]
    assert not re.search(rf"{qid}: to=", log), f"delivery attempted after delete:\n{log}"
    assert "notification" not in log and "from=<>" not in log, f"a DSN after delete:\n{log}"
    assert not sink.messages
    assert stats(r)["queued"] == 0
    p = r.ctl("delete", qid)
    assert p.returncode == 1, p
    assert qid in p.stderr and p.stderr.startswith("relayctl: "), p.stderr


# -- route ---------------------------------------------------------------------

def test_route_online_and_offline(start_relayd, scripted):
    a, b = scripted("127.0.0.2", name="A"), scripted("127.0.0.3", name="B")
    r = start_relayd(transports={"A": transport(a), "B": transport(b, helo="b.relay.test")},
                     routes={"example.com": "A", "*": "B"})
    online = ctl_ok(r, "route", "someone@example.com")
    assert re.search(r"(?m)^route: example\.com$", online), online
    assert re.search(r"(?m)^transport: A$", online), online
    assert f"[127.0.0.2]:{a.port}" in online, online
    other = ctl_ok(r, "route", "x@elsewhere.org")
    assert re.search(r"(?m)^route: \*$", other) and re.search(r"(?m)^transport: B$", other)
    assert "b.relay.test" in other
    p = r.ctl("route", "no-domain")
    assert p.returncode == 1 and "no-domain" in p.stderr, p

    r.stop()
    assert ctl_ok(r, "route", "someone@example.com") == online
    assert not (r.workdir / "spool" / "control.sock").exists(), "socket left after stop"


SPAMHAUS = "550 5.7.1 Service unavailable; client [127.0.0.1] blocked using zen.spamhaus.org"


def test_route_shows_detour(start_relayd, scripted):
    direct = scripted("127.0.0.2", name="direct", rcpt_replies=SPAMHAUS)
    clean = scripted("127.0.0.3", name="clean")
    r = start_relayd(transports={"direct": transport(direct, fallback="clean",
                                                     fallback_hold="1h"),
                                 "clean": transport(clean)}, routes={"*": "direct"})
    before = ctl_ok(r, "route", "u@gmail.test")
    assert re.search(r"(?m)^fallback: clean \(hold 3600s\)$", before), before
    assert re.search(r"(?m)^detour: none$", before), before
    qid = r.send("a@origin.test", ["u@gmail.test"], simple_message("detour"))
    r.wait_log(sent_re("u@gmail.test", qid=qid, status="sent", transport="clean"))
    after = ctl_ok(r, "route", "u@gmail.test")
    assert re.search(r"(?m)^detour: active until .*: mail goes to transport clean$", after), \
        after
    # Offline there is no live state to show.
    r.stop()
    assert "detour:" not in ctl_ok(r, "route", "u@gmail.test")


def test_not_running(start_relayd, relayctl_path, tmp_path):
    r = start_relayd(start=False)
    sock = r.workdir / "spool" / "control.sock"
    for cmd in (["stats"], ["queue"], ["queue", "--json"], ["flush"], ["reload"]):
        p = r.ctl(*cmd)
        assert p.returncode == 1, p
        assert p.stderr == (f"relayctl: cannot connect to relayd at {sock}: "
                            "No such file or directory (is relayd running?)\n"), p.stderr
    p = subprocess.run([relayctl_path, "-s", str(tmp_path / "nope.sock"), "stats"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and "is relayd running?" in p.stderr, p


def test_usage(relayctl_path, tmp_path):
    for args in ([], ["frobnicate"], ["delete"], ["route"], ["stats", "x"], ["queue", "--xml"],
                 ["-s", "a", "-f", "b", "stats"], ["-x", "stats"]):
        p = subprocess.run([relayctl_path, *args], capture_output=True, text=True, timeout=10)
        assert p.returncode == 2, f"relayctl {args}: exit {p.returncode}, want 2: {p.stderr!r}"
        assert "usage" in p.stderr


# -- stats -----------------------------------------------------------------------

def test_stats_counters(relay_sink):
    r, sink = relay_sink(rcpt_replies=lambda a: "550 5.1.1 no such user"
                         if a.startswith("bad") else None)
    s0 = stats(r)
    assert list(s0) == ["received", "sent", "deferred", "bounced", "expired", "rerouted",
                        "rejected", "queued", "sessions_in", "sessions_out"], s0
    qid = r.send("s@origin.test", ["good@dest.test"], simple_message("count"))
    r.wait_log(sent_re("good@dest.test", qid=qid, status="sent"))
    qid = r.send("s@origin.test", ["bad@dest.test"], simple_message("bounce"))
    r.wait_log(sent_re("bad@dest.test", qid=qid, status="bounced"))
    s1 = stats(r)
    assert s1["received"] >= s0["received"] + 2, (s0, s1)
    assert s1["sent"] >= s0["sent"] + 1 and s1["bounced"] == s0["bounced"] + 1, (s0, s1)
    with r.client() as c:
        assert c.cmd("EHLO client.test").code == 250
        assert stats(r)["sessions_in"] == 1
        # Refusals: a MAIL too big, then a bare LF message.
        assert c.cmd("MAIL FROM:<s@origin.test> SIZE=999999999999").code == 552
        assert c.cmd("MAIL FROM:<s@origin.test>").code == 250
        assert c.cmd("RCPT TO:<good@dest.test>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: bare\nLF\r\n.\r\n")
        assert c.read_reply().code == 550
    assert stats(r)["rejected"] == s0["rejected"] + 2


# -- the socket itself ---------------------------------------------------------

def test_socket_mode_and_stale_socket(relay_sink):
    r, sink = relay_sink()
    sock = r.workdir / "spool" / "control.sock"
    st = os.lstat(sock)
    assert stat.S_ISSOCK(st.st_mode), oct(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_uid == os.geteuid()
    r.kill()
    assert sock.exists(), "kill -9 cannot remove the socket"
    r.restart()
    r.wait_log(r"removed the stale socket")
    assert "received" in ctl_ok(r, "stats")


def test_second_relayd_refused(relay_sink, relayd_path):
    r, sink = relay_sink()
    other = r.workdir / "other.conf"
    other.write_text(r.conf_path.read_text().replace(f"port = {r.port}", "port = 1"))
    p = subprocess.run([relayd_path, "-d", "-f", str(other)], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 1, p
    assert "control.sock" in p.stderr and "already running" in p.stderr, p.stderr
    assert "received" in ctl_ok(r, "stats")


def test_request_limits(relay_sink):
    import socket as so
    r, sink = relay_sink()
    path = str(r.workdir / "spool" / "control.sock")
    with so.socket(so.AF_UNIX, so.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"x" * 2000)   # over the 1024-byte limit, within one read
        got = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    assert got.startswith(b"error: "), got
    with so.socket(so.AF_UNIX, so.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"nosuch\n")
        assert s.recv(4096).startswith(b"error: unknown command")
    assert "received" in ctl_ok(r, "stats")


def test_background_start(start_relayd, scripted, relayd_path):
    # Without -d relayd detaches once it is ready; the detached process
    # still has its I/O threads (the 250 after DATA needs them) and serves
    # relayctl. Its pid comes from the control socket's peer credentials.
    import signal
    import socket as so
    import struct
    sink = scripted("127.0.0.2", name="sink")
    r = start_relayd(transports={"sink": transport(sink)}, routes={"*": "sink"}, start=False)
    p = subprocess.run([relayd_path, "-f", "relayd.conf"], capture_output=True, text=True,
                       timeout=10, cwd=r.workdir)
    assert p.returncode == 0, p
    path = str(r.workdir / "spool" / "control.sock")
    with so.socket(so.AF_UNIX, so.SOCK_STREAM) as s:
        s.connect(path)
        pid = struct.unpack("3i", s.getsockopt(so.SOL_SOCKET, so.SO_PEERCRED,
                                               struct.calcsize("3i")))[0]
    try:
        qid = r.send("s@origin.test", ["x@dest.test"], simple_message("detached"))
        sink.wait_messages(1)
        assert stats(r)["sent"] == 1
        assert qid not in ctl_ok(r, "queue")
        # The relative -f path still works for a reload after chdir("/").
        assert "reloaded" in ctl_ok(r, "reload")
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not running(pid), "the detached relayd did not stop on SIGTERM"


def running(pid):
    """PID exists and is not a zombie (PID 1 of a container may not reap)."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
