"""
test_relayctl.py -- relayctl against a running relayd (contract: "Programs",
relayctl table): queue (text, --json, --summary), show, flush (and the down
pause it lifts), delete (several, ALL), hold and release (QIDs, ALL,
@DOMAIN; across a restart), route (online with MX lookups and the
destination's state, and offline), resume, stats, options before or after
the command, the default socket, usage and exit statuses, the control
socket itself, and relayd started without -d (it detaches once ready and
still serves).

Assumptions beyond the contract (docs/relayctl.md):
  * the text listing shows the QID, the size in bytes, the sender in <>,
    each pending recipient in <> with "transport NAME", "attempts N", the
    last reply verbatim and its classification label in [brackets].
  * queue --json lists only pending recipients; "class" is the stable
    category name of smtp/classify.h (replies.md) or null without a reply;
    an extra "label" field holds the human label, "advice" what the
    operator can do (also for relayd's own reasons), or null. The text
    listing shows that advice as "what to do:", wrapped at 78 columns.
  * the listing is in queue id order, oldest first.
  * the control socket is <spool>/control.sock, mode 0600, owned by the user
    relayd runs as; a stale one is replaced at start; a second relayd on the
    same socket refuses to start (exit 1) and names the socket.
  * relayctl prints nothing on success for flush; delete, hold and release
    print one line, "deleted N messages" (N counts the messages actually
    removed; "messages" also for 1, as the contract writes it).
  * the text listing marks a held message with "held" at the end of its
    first line, and --json gives each message a boolean "held".
  * `show` prints "key: value" envelope lines ("sender: <...>", one
    "recipient: <...> STATE, ..." each), a blank line, then the message
    exactly as relayd will send it (its Received: header first).
  * `queue --summary` right-aligns its columns; rows are "DOMAIN T 5 ...".
  * `resume` prints "TRANSPORT DESTINATION: ended WHAT" per destination
    ("relay" for a relay transport's), or "...: nothing to end".
  * `route` through relayd prints "mx: HOST (PREF), ..." when it looked the
    MX hosts up, then "destination:", "detour:" (with a fallback),
    "back-off:" and "down:" lines.
  * a long listing is produced in batches (of 256 messages) and still lists
    every message once, in order.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import time

import pytest

from harness import received_prefix, sent_re, simple_message, transport, wire_body

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


LIVE = ("destination:", "detour:", "back-off:", "down:", "activity:", "mx:")


def static_part(route_text):
    """What `route` prints without relayd: the lines that do not come from
    the running daemon (its MX lookup and the destination's state)."""
    return "".join(ln for ln in route_text.splitlines(True) if not ln.startswith(LIVE))


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
    # What the operator can do, under the reply (a DSN tells the sender
    # in plain words instead): wrapped, in relayd's terms.
    advice = re.search(r"<b@dest\.test>\n.*\n.*\n        what to do: ((?:.*\n)(?:          .*\n)*)",
                       block + "\n")
    assert advice, text
    lines = ("        what to do: " + advice.group(1)).splitlines()
    assert len(lines) > 1 and all(len(ln) <= 78 for ln in lines), text
    assert "smarthost" in " ".join(advice.group(1).split()), text
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
    assert "smarthost" in rc["b@dest.test"]["advice"], rc
    # "451 4.3.0 local problem": a reply nothing recognises, no advice.
    assert rc["a@dest.test"]["class"] is None and rc["a@dest.test"]["advice"] is None, rc
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
    # A local reason fits no category of replies: the contract says null;
    # what to do about it is still said.
    assert "refused" in x["last_reply"].lower() and x["class"] is None
    assert "connection" in x["advice"], x
    assert "what to do: No host of the destination accepted a connection" in \
        ctl_ok(r, "queue"), ctl_ok(r, "queue")


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
    # More messages than one listing batch (256): every one listed once, in order.
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
    assert ctl_ok(r, "delete", qid) == "deleted 1 messages\n"
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

    # Through relayd: the destination's state too.
    assert re.search(r"(?m)^destination: relay \(transport A\)", online), online
    assert re.search(r"(?m)^back-off: none$", online) and re.search(r"(?m)^down: no$", online)
    r.stop()
    assert ctl_ok(r, "route", "someone@example.com") == static_part(online)
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
    for cmd in (["stats"], ["queue"], ["queue", "--json"], ["--summary", "queue"], ["flush"],
                ["reload"], ["show", "0123456789ABCDEF"], ["delete", "ALL"],
                ["hold", "@dest.test"], ["release", "ALL"], ["resume", "sink"]):
        p = r.ctl(*cmd)
        assert p.returncode == 1, p
        assert p.stderr == (f"relayctl: cannot connect to relayd at {sock}: "
                            "No such file or directory (is relayd running?)\n"), p.stderr
    p = subprocess.run([relayctl_path, "-s", str(tmp_path / "nope.sock"), "stats"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and "is relayd running?" in p.stderr, p


def test_usage(relayctl_path, tmp_path):
    for args in ([], ["frobnicate"], ["delete"], ["route"], ["stats", "x"], ["queue", "--xml"],
                 ["-s", "a", "-f", "b", "stats"], ["-x", "stats"], ["queue", "x"],
                 ["queue", "--json", "--summary"], ["--summary", "queue", "--json"],
                 ["stats", "--json"], ["show"], ["show", "A", "B"], ["delete", "ALL", "X"],
                 ["delete", "@dest.test"], ["hold"], ["hold", "@"], ["release", "X", "ALL"],
                 ["resume"], ["resume", "a", "b", "c"], ["route", "a@b", "c@d"]):
        p = subprocess.run([relayctl_path, *args], capture_output=True, text=True, timeout=10)
        assert p.returncode == 2, f"relayctl {args}: exit {p.returncode}, want 2: {p.stderr!r}"
        assert "usage" in p.stderr
    p = subprocess.run([relayctl_path, "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and "usage" in p.stdout and "resume TRANSPORT" in p.stdout, p


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
        s.sendall(b"x" * 70000)   # over the 64 KiB limit, without a line end
        got = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break   # closed with what it did not read: after the answer
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


# -- options before or after the command ------------------------------------------

def test_option_order(relay_sink, relayctl_path):
    r, sink = relay_sink(queue=HOUR, rcpt_replies="450 4.2.0 try later")
    qid = r.send("s@origin.test", ["x@dest.test"], simple_message("order"))
    deferred(r, qid)
    conf = str(r.conf_path)
    runs = {}
    for args in (["-f", conf, "queue", "--json"], ["--json", "-f", conf, "queue"],
                 ["queue", "-f", conf, "--json"], ["-f", conf, "--summary", "queue"],
                 ["queue", "--summary", "-f", conf], ["show", qid, "-f", conf],
                 ["-f", conf, "show", qid], ["route", "x@dest.test", "-f", conf]):
        p = subprocess.run([relayctl_path, *args], capture_output=True, timeout=10)
        assert p.returncode == 0, (args, p)
        runs[tuple(args)] = p.stdout
    vals = list(runs.values())
    assert vals[0] == vals[1] == vals[2] and json.loads(vals[0])[0]["id"] == qid
    assert vals[3] == vals[4] and b"TOTAL" in vals[3]
    # `show` says ages and waits in seconds: the two runs may fall in two.
    ages = re.compile(rb"(\d+[dhms])+")
    assert ages.sub(b"T", vals[5]) == ages.sub(b"T", vals[6]) and qid.encode() in vals[5]


# -- delete -------------------------------------------------------------------------

def test_delete_several_and_all(relay_sink):
    r, sink = relay_sink(queue=HOUR, rcpt_replies="450 4.2.0 try later")
    qids = [r.send("s@origin.test", [f"x{i}@dest.test"], simple_message(f"d{i}"))
            for i in range(5)]
    for q in qids:
        deferred(r, q)
    # An unknown id among known ones: exit 1, it is named, nothing deleted.
    p = r.ctl("delete", qids[0], "0123456789ABCDEF", qids[1])
    assert p.returncode == 1 and p.stdout == "", p
    assert p.stderr.startswith("relayctl: 0123456789ABCDEF: no such message in the queue"), \
        p.stderr
    assert "nothing deleted" in p.stderr
    assert [m["id"] for m in queue_json(r)] == qids
    # Several at once (a repeated id counts once).
    assert ctl_ok(r, "delete", qids[0], qids[1], qids[0]) == "deleted 2 messages\n"
    assert [m["id"] for m in queue_json(r)] == qids[2:]
    # ALL.
    assert ctl_ok(r, "delete", "ALL") == "deleted 3 messages\n"
    assert queue_json(r) == []
    assert ctl_ok(r, "delete", "ALL") == "deleted 0 messages\n"
    assert stats(r)["queued"] == 0
    r.wait_log(r"relayctl delete: 3 messages removed")


# -- hold and release -----------------------------------------------------------------

def test_hold_survives_restart_and_release_is_due_at_once(relay_sink):
    r, sink = relay_sink(queue=HOUR, rcpt_replies=["450 4.2.0 try later", None, None])
    qid = r.send("s@origin.test", ["x@dest.test"], simple_message("hold me"))
    deferred(r, qid)
    assert ctl_ok(r, "hold", qid) == "held 1 messages\n"
    r.wait_log(rf"{qid}: placed on hold")
    assert ctl_ok(r, "hold", qid) == "held 0 messages\n"   # already held
    text = ctl_ok(r, "queue")
    first = next(ln for ln in text.splitlines() if ln.startswith(qid))
    assert first.endswith("  held"), text
    assert "next attempt when released" in text, text
    (m,) = queue_json(r)
    assert m["held"] is True

    # A held message is not delivered, not even by a flush.
    assert ctl_ok(r, "flush") == ""
    p = r.ctl("flush", qid)
    assert p.returncode == 1 and "on hold" in p.stderr and f"release {qid}" in p.stderr, p

    # The hold is in the state file and survives a restart.
    state = (r.workdir / "spool" / "state" / qid).read_text()
    assert "\nheld 1\n" in state, state
    r.restart()
    (m,) = queue_json(r)
    assert m["id"] == qid and m["held"] is True
    assert m["recipients"][0]["attempts"] == 1
    time.sleep(1)
    assert not sink.messages

    # Released: due at once, though its retry was an hour away.
    mark = r.mark()
    assert ctl_ok(r, "release", qid) == "released 1 messages\n"
    r.wait_log(rf"{qid}: released from hold", since=mark)
    r.wait_log(sent_re("x@dest.test", qid=qid, status="sent", attempts=2), since=mark,
               timeout=5)
    assert len(sink.messages) == 1
    p = r.ctl("release", qid)
    assert p.returncode == 1 and "no such message" in p.stderr, p


def test_hold_release_by_domain_and_all(relay_sink):
    r, sink = relay_sink(queue=HOUR, rcpt_replies=lambda a: "450 4.2.0 try later"
                         if not a.startswith("go@") else None)
    q1 = r.send("s@origin.test", ["a@one.test"], simple_message("one"))
    q2 = r.send("s@origin.test", ["b@two.test", "c@ONE.test"], simple_message("both"))
    q3 = r.send("s@origin.test", ["d@two.test"], simple_message("two"))
    for q, n in ((q1, 1), (q2, 2), (q3, 1)):
        deferred(r, q, count=n)

    def held():
        return {m["id"] for m in queue_json(r) if m["held"]}

    # @DOMAIN: every message with a recipient there (any case).
    assert ctl_ok(r, "hold", "@One.Test") == "held 2 messages\n"
    assert held() == {q1, q2}
    assert ctl_ok(r, "hold", "@nowhere.test") == "held 0 messages\n"
    assert ctl_ok(r, "release", "@two.test") == "released 1 messages\n"
    assert held() == {q1}
    # ALL, and ids with domains mixed.
    assert ctl_ok(r, "hold", "ALL") == "held 2 messages\n"
    assert held() == {q1, q2, q3}
    assert ctl_ok(r, "release", q1, "@two.test") == "released 3 messages\n"
    assert held() == set()
    # An unknown id: nothing held.
    p = r.ctl("hold", q1, "0123456789ABCDEF")
    assert p.returncode == 1 and "nothing held" in p.stderr, p
    assert held() == set()
    assert ctl_ok(r, "hold", "ALL") == "held 3 messages\n"
    assert ctl_ok(r, "release", "ALL") == "released 3 messages\n"


def test_held_lifetime_keeps_running(relay_sink):
    # Held past max_lifetime: released, the recipient expires at once.
    r, sink = relay_sink(queue={"retry": ["1h"], "max_lifetime": "3s", "delay_warning": "0"},
                         rcpt_replies="450 4.2.0 try later")
    qid = r.send("s@origin.test", ["x@dest.test"], simple_message("expire"))
    deferred(r, qid)
    assert ctl_ok(r, "hold", qid) == "held 1 messages\n"
    time.sleep(3.5)
    assert [m["id"] for m in queue_json(r)] == [qid]
    assert ctl_ok(r, "release", qid) == "released 1 messages\n"
    r.wait_log(sent_re("x@dest.test", qid=qid, status="expired", strict_relay=False),
               timeout=5)
    assert len(sink.rcpts_tried("x@dest.test")) == 1


# -- show -----------------------------------------------------------------------------

def test_show_message_byte_for_byte(relay_sink, relayctl_path):
    r, sink = relay_sink(queue=HOUR, rcpt_replies=lambda a: "450 4.2.0 try later"
                         if a.startswith("w") else None)
    content = (b"From: <s@origin.test>\r\nTo: <w@dest.test>\r\nSubject: dots\r\n\r\n"
               b".leading dot\r\n..two dots\r\n.\r\n. \r\n"
               b"caf\xc3\xa9 \xe9t\xe9 \xff raw 8-bit\r\n"
               + b"x" * 900 + b"\r\nlast line\r\n")
    qid = r.send("s\u00e9@origin.test", ["w@dest.test", "ok@dest.test"], content,
                 mail_params="BODY=8BITMIME SMTPUTF8")
    deferred(r, qid, "w@dest.test")
    r.wait_log(sent_re("ok@dest.test", qid=qid, status="sent"))
    p = subprocess.run([relayctl_path, "-f", str(r.conf_path), "show", qid],
                       capture_output=True, timeout=10)
    assert p.returncode == 0, p
    env, _, msg = p.stdout.partition(b"\n\n")
    env = env.decode()
    assert re.search(rf"(?m)^id: {qid}$", env), env
    assert re.search(r"(?m)^sender: <s\u00e9@origin.test>$", env), env
    assert re.search(r"(?m)^held: no$", env), env
    assert re.search(r"(?m)^body: 8BITMIME, SMTPUTF8$", env), env
    assert re.search(r"(?m)^recipient: <w@dest.test> deferred, transport sink, attempts 1, "
                     r"next attempt in .*last reply: 450 4\.2\.0 try later", env), env
    assert re.search(r"(?m)^recipient: <ok@dest.test> sent, transport sink, attempts 1, "
                     r"relay 127\.0\.0\.2\[127\.0\.0\.2\]:\d+$", env), env
    # The message as queued: relayd's Received: header, then the content.
    received_prefix(msg, content)
    # ... and exactly what relayd sent to the other recipient.
    assert sink.wait_messages(1)[0].content == msg
    # Unknown: exit 1.
    p = r.ctl("show", "0123456789ABCDEF")
    assert p.returncode == 1 and "no such message" in p.stderr, p


def test_show_large_message(relay_sink, relayctl_path):
    # Larger than the control socket's buffers: streamed, still exact.
    r, sink = relay_sink(queue=HOUR, rcpt_replies="450 4.2.0 try later")
    lines = [(b"." if i % 7 == 0 else b"") + b"line %d " % i + b"y" * 70 for i in range(40000)]
    content = b"Subject: big\r\n\r\n" + b"\r\n".join(lines) + b"\r\n"
    qid = r.send("s@origin.test", ["w@dest.test"], content)
    deferred(r, qid)
    p = subprocess.run([relayctl_path, "-f", str(r.conf_path), "show", qid],
                       capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr
    received_prefix(p.stdout.partition(b"\n\n")[2], content)


# -- queue --summary ------------------------------------------------------------------

def spool_message(spool, qid, arrival, sender, rcpts, body=b"Subject: old\r\n\r\nold\r\n"):
    """Write a committed message into SPOOL/queue as relayd stores it
    (relayd/spool_fmt.h), arrived at ARRIVAL."""
    stored = wire_body(body)
    head = (f"RELAYD 1\nid {qid}\narrival {int(arrival)}\nsize {len(body):020d}\n"
            f"client unknown[127.0.0.1]\nbody 0\nsmtputf8 0\nfrom {sender}\n"
            + "".join(f"rcpt {a}\n" for a in rcpts) + "\n").encode()
    (spool / "queue").mkdir(parents=True, exist_ok=True)
    (spool / "queue" / qid).write_bytes(head + stored)


def summary(r, *opts):
    out = ctl_ok(r, "queue", "--summary", *opts)
    lines = out.splitlines()
    assert lines[0].split() == ["T", "5", "10", "20", "40", "80", "160", "320", "640", "1280",
                                "1280+"], out
    rows = []
    for ln in lines[1:]:
        f = ln.split()
        assert len(f) == 12 and all(x.isdigit() for x in f[1:]), out
        rows.append((f[0], [int(x) for x in f[1:]]))
    # Right-aligned: every line as long as the header.
    assert len({len(ln) for ln in lines}) == 1, out
    return rows


def test_queue_summary(start_relayd, scripted):
    down = scripted("127.0.0.3", name="down", start=False)
    r = start_relayd(transports={"t": transport(down)}, routes={"*": "t"},
                     queue={"retry": ["1h"], "delay_warning": "0"}, start=False)
    spool = r.workdir / "spool"
    now = time.time()
    spool_message(spool, "0000000000000001", now - 2 * 86400, "s@origin.test",
                  ["a1@old.test", "a2@old.test"])
    spool_message(spool, "0000000000000002", now - 50 * 60, "s@origin.test",
                  ["b@mid.test", "c@OLD.test"])
    spool_message(spool, "0000000000000003", now - 7 * 60, "", ["d@mid.test"])
    r.start()
    assert summary(r) == [("TOTAL", [5, 0, 1, 0, 0, 2, 0, 0, 0, 0, 2]),
                          ("old.test", [3, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2]),
                          ("mid.test", [2, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0])]
    qid = r.send("s@origin.test", ["x@new.test", "y@new.test", "z@NEW.test"],
                 simple_message("new"))
    deferred(r, qid, count=3)
    # Most recipients first; a tie by name.
    assert summary(r) == [("TOTAL", [8, 3, 1, 0, 0, 2, 0, 0, 0, 0, 2]),
                          ("new.test", [3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
                          ("old.test", [3, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2]),
                          ("mid.test", [2, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0])]
    assert ctl_ok(r, "delete", "ALL") == "deleted 4 messages\n"
    assert summary(r) == [("TOTAL", [0] * 11)]


def test_queue_summary_in_batches(start_relayd, scripted):
    # More messages than one batch (256): every recipient counted once.
    down = scripted("127.0.0.3", name="down", start=False)
    r = start_relayd(transports={"t": transport(down)}, routes={"*": "t"}, queue=HOUR,
                     start=False)
    now = time.time()
    for i in range(1300):
        spool_message(r.workdir / "spool", f"{i + 1:016X}", now - 100 * 60, "s@origin.test",
                      [f"r{i}@d{i % 3}.test"])
    r.start()
    rows = dict(summary(r))
    assert rows["TOTAL"] == [1300, 0, 0, 0, 0, 0, 1300, 0, 0, 0, 0]
    assert [rows[f"d{k}.test"][0] for k in range(3)] == [434, 433, 433]


# -- route through relayd -------------------------------------------------------------

def test_route_resolves_mx_through_relayd(start_relayd, scripted, tmp_path):
    from dnsserver import DnsServer
    google = scripted("127.0.0.2", name="google-smarthost")
    other = scripted("127.0.0.3", name="other")
    dns = DnsServer(["mx-host=custom.test,aspmx.l.google.test,1",
                     "mx-host=custom.test,alt1.aspmx.l.google.test,5",
                     "mx-host=elsewhere.test,mx.elsewhere.test,10"], tmp_path).start()
    try:
        r = start_relayd(transports={"google": transport(google),
                                     "other": transport(other, fallback="google")},
                         routes={"mx:.google.test": "google", "*": "other"},
                         dns_port=dns.port)
        online = ctl_ok(r, "route", "user@custom.test")
        assert re.search(r"(?m)^mx: aspmx\.l\.google\.test \(1\), "
                         r"alt1\.aspmx\.l\.google\.test \(5\)$", online), online
        assert re.search(r"(?m)^route: mx:\.google\.test$", online), online
        assert re.search(r"(?m)^transport: google$", online), online
        assert "note:" not in online, online
        assert re.search(r"(?m)^destination: relay \(transport google\)", online), online
        other_dom = ctl_ok(r, "route", "user@elsewhere.test")
        assert re.search(r"(?m)^mx: mx\.elsewhere\.test \(10\)$", other_dom), other_dom
        assert re.search(r"(?m)^route: \*$", other_dom), other_dom
        assert re.search(r"(?m)^detour: none$", other_dom), other_dom
        nx = ctl_ok(r, "route", "user@nonexistent.test")
        assert re.search(r"(?m)^mx: none: the domain does not exist$", nx), nx
        # Without relayd: the route when no mx: pattern matches, and a note.
        r.stop()
        offline = ctl_ok(r, "route", "user@custom.test")
        assert re.search(r"(?m)^route: \*$", offline), offline
        assert "not looked up here" in offline, offline
        assert not re.search(r"(?m)^(mx|destination|down):", offline), offline
    finally:
        dns.stop()


# -- resume -----------------------------------------------------------------------------

SPAMHAUS_550 = "550 5.7.1 Service unavailable; client [127.0.0.1] blocked using zen.spamhaus.org"


def test_resume_ends_detour(start_relayd, scripted):
    direct = scripted("127.0.0.2", name="direct", rcpt_replies=SPAMHAUS_550)
    clean = scripted("127.0.0.3", name="clean")
    r = start_relayd(transports={"direct": transport(direct, fallback="clean",
                                                     fallback_hold="1h"),
                                 "clean": transport(clean)}, routes={"*": "direct"})
    assert ctl_ok(r, "resume", "direct") == \
        "direct: nothing to end (no detour, back-off or down pause)\n"
    qid = r.send("a@origin.test", ["u@gmail.test"], simple_message("detour"))
    r.wait_log(sent_re("u@gmail.test", qid=qid, status="sent", transport="clean"))
    assert "detour: active until" in ctl_ok(r, "route", "u@gmail.test")
    tried = len(direct.rcpts_tried())

    out = ctl_ok(r, "resume", "direct")
    assert re.fullmatch(r"direct relay: ended detour \((59m|1h0m) left\)\n", out), out
    r.wait_log(r"direct: destination \(relay\): detour ended by relayctl resume")
    assert re.search(r"(?m)^detour: none$", ctl_ok(r, "route", "u@gmail.test"))
    assert ctl_ok(r, "resume", "direct", "relay") == \
        "direct relay: nothing to end (no detour, back-off or down pause)\n"
    # The next message probes the direct path again.
    qid2 = r.send("a@origin.test", ["v@gmail.test"], simple_message("probe"))
    r.wait_log(sent_re("v@gmail.test", qid=qid2, status="rerouted", transport="direct"))
    assert len(direct.rcpts_tried()) == tried + 1
    # A transport that does not exist.
    p = r.ctl("resume", "nosuch")
    assert p.returncode == 1 and 'no transport "nosuch"' in p.stderr, p


def test_resume_ends_backoff(start_relayd, scripted):
    # A 421 backs the destination off (a pause of 10 s: the first retry
    # delay, at most 10 s); resume ends it, and the deferred message, which
    # waited for the destination, is retried at once.
    srv = scripted("127.0.0.2", name="busy", greeting=["421 4.7.0 too busy, try later"])
    r = start_relayd(transports={"t": transport(srv)}, routes={"*": "t"}, queue=HOUR)
    qid = r.send("a@origin.test", ["x@dest.test"], simple_message("busy"))
    deferred(r, qid)
    state = ctl_ok(r, "route", "x@dest.test")
    assert re.search(r"(?m)^back-off: level 1, concurrency \d+ of 10, paused for \d+s$",
                     state), state
    mark = r.mark()
    out = ctl_ok(r, "resume", "t")
    assert re.fullmatch(r"t relay: ended back-off \(level 1, concurrency back from \d+ to 10\)"
                        r"\n", out), out
    assert re.search(r"(?m)^back-off: none$", ctl_ok(r, "route", "x@dest.test"))
    r.wait_log(sent_re("x@dest.test", qid=qid, status="sent", attempts=2), since=mark,
               timeout=5)


# -- flush and the down pause --------------------------------------------------------------

def test_flush_lifts_down_pause(start_relayd, scripted):
    """The smarthost is down: a second message during the down pause is
    deferred without a connection (relay=none, not counted); once it is
    back, flush delivers both at once instead of deferring them unseen."""
    from harness import free_port
    port = free_port("127.0.0.2")
    srv = scripted("127.0.0.2", port=port, name="smarthost", start=False)
    r = start_relayd(transports={"t": transport(srv)}, routes={"*": "t"}, queue=HOUR)
    q1 = r.send("a@origin.test", ["one@dest.test"], simple_message("one"))
    m = deferred(r, q1)
    assert m.group("relay") == "none" and m.group("attempts") == "1", m.group(0)
    assert "Connection refused" in m.group("reason"), m.group(0)
    q2 = r.send("a@origin.test", ["two@dest.test"], simple_message("two"))
    m = deferred(r, q2)
    assert m.group("relay") == "none" and m.group("attempts") == "0", m.group(0)
    assert m.group("reason").startswith("delivery temporarily suspended: connect to"), \
        m.group(0)
    (x,) = [m for m in queue_json(r) if m["id"] == q2]
    assert x["recipients"][0]["attempts"] == 0
    assert re.search(r"(?m)^down: for \d+s more \(connect to .*Connection refused\)",
                     ctl_ok(r, "route", "two@dest.test"))
    srv.start()
    mark = r.mark()
    start = time.monotonic()
    assert ctl_ok(r, "flush") == ""
    r.wait_log(sent_re("one@dest.test", qid=q1, status="sent", attempts=2), since=mark,
               timeout=5)
    r.wait_log(sent_re("two@dest.test", qid=q2, status="sent", attempts=1), since=mark,
               timeout=5)
    assert time.monotonic() - start < 5
    assert not r.find_log(r"suspended", since=mark)
    r.wait_log(r"t: destination \(relay\): down pause ended by relayctl flush")


def test_flush_one_qid_lifts_its_down_pause(start_relayd, scripted):
    from harness import free_port
    port = free_port("127.0.0.2")
    srv = scripted("127.0.0.2", port=port, name="smarthost", start=False)
    r = start_relayd(transports={"t": transport(srv)}, routes={"*": "t"}, queue=HOUR)
    q1 = r.send("a@origin.test", ["one@dest.test"], simple_message("one"))
    deferred(r, q1)
    srv.start()
    mark = r.mark()
    assert ctl_ok(r, "flush", q1) == ""
    r.wait_log(sent_re("one@dest.test", qid=q1, status="sent", attempts=2), since=mark,
               timeout=5)


# -- the default socket -----------------------------------------------------------------------

DEFAULT_CONF = "/etc/relayd/relayd.conf"
DEFAULT_SOCK = "/var/spool/relayd/control.sock"


def private_mounts(tmp_path):
    """The command prefix that runs a shell in a mount namespace of its own,
    where /etc can be an overlay whose changes go to a scratch directory and
    /var/spool an empty tmpfs, so files can be put at the default paths
    without touching the machine's; None when this machine cannot (no
    unshare, user namespaces not allowed)."""
    if not shutil.which("unshare"):
        return None
    cmd = ["unshare", "-m", "--propagation", "private"]
    if os.geteuid() != 0:
        cmd.insert(1, "-r")   # root in a user namespace of its own
    up, work = tmp_path / "probe-upper", tmp_path / "probe-work"
    up.mkdir()
    work.mkdir()
    probe = subprocess.run(cmd + ["sh", "-ec", f"mount -t overlay overlay -o lowerdir=/etc,"
                                  f"upperdir={up},workdir={work} /etc; "
                                  "mount -t tmpfs none /var/spool"],
                           capture_output=True, timeout=30)
    return cmd if probe.returncode == 0 else None


def test_default_socket(relay_sink, relayctl_path, tmp_path):
    """Without -s and -f: /etc/relayd/relayd.conf, and when that file does
    not exist /var/spool/relayd/control.sock (so the README's quick start
    needs no -f once installed). Tried where the default paths can be made
    private (a mount namespace); on a machine where they cannot, what can be
    checked without touching /etc."""
    r, sink = relay_sink()
    prefix = private_mounts(tmp_path)
    if prefix is None:
        p = subprocess.run([relayctl_path, "stats"], capture_output=True, text=True,
                           timeout=10)
        if os.path.exists(DEFAULT_CONF):
            # The file is there: relayctl reads it, never the fallback.
            assert "does not exist" not in p.stderr, p
        elif os.path.exists(DEFAULT_SOCK):
            assert DEFAULT_SOCK in p.stderr or p.returncode == 0, p
        else:
            assert p.returncode == 1, p
            assert p.stderr.startswith(f"relayctl: cannot connect to relayd at {DEFAULT_SOCK}:"
                                       " No such file or directory"), p.stderr
            assert f"{DEFAULT_CONF} does not exist" in p.stderr, p.stderr
        return
    up, work = tmp_path / "etc-upper", tmp_path / "etc-work"
    up.mkdir()
    work.mkdir()
    spool = r.workdir / "spool"
    bad = tmp_path / "bad.conf"
    bad.write_text("nonsense = 1\n")
    script = f"""
mount -t overlay overlay -o lowerdir=/etc,upperdir={up},workdir={work} /etc
mount -t tmpfs none /var/spool
rm -rf /etc/relayd
# 1. Neither the file nor the socket: the error says both.
echo "== neither"
{relayctl_path} stats 2>&1 || echo "exit $?"
# 2. No configuration file: the default socket (relayd's spool mounted there).
mkdir -p /var/spool/relayd
mount --bind {spool} /var/spool/relayd
echo "== fallback"
{relayctl_path} stats
umount /var/spool/relayd
# 3. The default file exists: its control_socket, not the default one.
mkdir -p /etc/relayd
cp {r.conf_path} /etc/relayd/relayd.conf
echo "== file"
{relayctl_path} --json queue
# 4. The default file has errors: said, and no fallback.
cp {bad} /etc/relayd/relayd.conf
echo "== bad"
{relayctl_path} stats 2>&1 || echo "exit $?"
"""
    p = subprocess.run(prefix + ["sh", "-ec", script], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p
    part = dict(re.findall(r"(?ms)^== (\w+)\n(.*?)(?=^== |\Z)", p.stdout))
    assert part["neither"].startswith(f"relayctl: cannot connect to relayd at {DEFAULT_SOCK}: "
                                      "No such file or directory"), p.stdout
    assert f"{DEFAULT_CONF} does not exist" in part["neither"], p.stdout
    assert "cannot open" not in part["neither"] and "has errors" not in part["neither"]
    assert part["neither"].endswith("exit 1\n"), p.stdout
    assert part["fallback"].startswith("received ") and "queued 0" in part["fallback"], p.stdout
    assert part["file"] == "[\n]\n", p.stdout
    assert "/etc/relayd/relayd.conf:1:" in part["bad"] and "has errors" in part["bad"], p.stdout
    assert part["bad"].endswith("exit 1\n"), p.stdout
    # Nothing of it reached the machine's /etc.
    assert not (os.path.exists(DEFAULT_CONF) and "nonsense" in open(DEFAULT_CONF).read())
