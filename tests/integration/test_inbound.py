"""
test_inbound.py -- what relayd answers on the wire (contract: "On the wire
(inbound)" and the listen keys): greeting, EHLO, commands, pipelining, relay
and route refusals, size and recipient limits, max_clients, bare newlines,
SMTP smuggling, and garbage input.

Assumptions beyond the contract (Postfix/OpenSMTPD practice):
  * a 512-byte command line (CRLF included) is accepted; 600 bytes is not.
  * after "500 5.5.2" for a long line, or after a rejected message, the
    session goes on (or relayd closes it; both are accepted where noted).
  * an oversized or rejected message leaves the session usable for the next
    transaction; a second MAIL inside a transaction gets 503.
  * "MAIL FROM:<unterminated" and a bare "MAIL" are syntax errors (501).
  * in normalize mode relayd accepts the message and, for bare LF, the
    delivered content has CRLF in its place (contract); what happens to a
    bare CR in normalize mode is not asserted beyond "no second message".
"""

import os
import random
import re
import resource
import select
import socket
import threading
import time

import pytest

import harness
from harness import (QUEUED_REPLY, ehlo_keywords, queued_re, received_prefix, sent_re,
                     simple_message, wait_until, wire_body)


def begin(c, mail_from="sender@origin.test", rcpts=("rcpt@example.com",)):
    """EHLO, MAIL, RCPT..., DATA on client C; asserts each step."""
    r = c.cmd("EHLO client.test")
    assert r.code == 250, f"EHLO: {r}"
    r = c.cmd(f"MAIL FROM:<{mail_from}>")
    assert r.code == 250, f"MAIL: {r}"
    for rc in rcpts:
        r = c.cmd(f"RCPT TO:<{rc}>")
        assert r.code == 250, f"RCPT TO:<{rc}>: {r}"
    r = c.cmd("DATA")
    assert r.code == 354, f"DATA: {r}"


def queued(reply):
    m = QUEUED_REPLY.match(reply.line)
    assert reply.code == 250 and m, f"want '250 2.0.0 Ok: queued as QID', got {str(reply)!r}"
    return m.group("qid")


def send_control(r, sink, subject="control"):
    """Relay a harmless message and wait for it, to show that relayd still
    works and to bound the time anything queued earlier had to show up."""
    content = simple_message(subject, to="control@example.com")
    qid = r.send("control@origin.test", ["control@example.com"], content)
    r.wait_log(sent_re(qid=qid, status="sent"))
    sink.wait_for(lambda s: any(m.rcpt_tos == ["control@example.com"] for m in s.messages),
                  what="the control message")
    return qid


# -- greeting, EHLO, commands ------------------------------------------------

def test_greeting_and_ehlo(relay_sink):
    r, _ = relay_sink()
    with r.client() as c:
        assert re.match(r"^220 relay\.test ESMTP relayd(?: .*)?$", c.greeting.line), \
            f"greeting {str(c.greeting)!r}, want '220 relay.test ESMTP relayd'"
        assert len(c.greeting.lines) == 1
        e = c.cmd("EHLO client.test")
        assert e.code == 250 and len(e.lines) > 1, f"EHLO: {e}"
        assert e.lines[0].split()[0][4:] == "relay.test", f"EHLO first line: {e.lines[0]!r}"
        kw = ehlo_keywords(e)
        for k in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"):
            assert k in kw, f"EHLO does not advertise {k}: {e}"
        assert kw.get("SIZE") == str(50 * 1024 * 1024), f"SIZE should be the default 50M: {e}"
        assert "STARTTLS" not in kw, "STARTTLS offered on a tls = none listener"
        assert not any(k.startswith("AUTH") for k in kw), "AUTH offered without auth_users"
        h = c.cmd("HELO client.test")
        assert h.code == 250, f"HELO: {h}"


def test_commands(relay_sink):
    r, sink = relay_sink()
    with r.client() as c:
        assert c.cmd("EHLO client.test").code == 250
        assert c.cmd("NOOP").code == 250
        h = c.cmd("HELP")
        assert h.code in (214, 250), f"HELP: {h}"
        v = c.cmd("VRFY rcpt@example.com")
        assert v.code == 252, f"VRFY: {v}"
        u = c.cmd("FROBNICATE now")
        assert u.line.startswith("500 5.5.1"), f"unknown command: {u}"
        d = c.cmd("DATA")
        assert d.line.startswith("503 5.5.1"), f"DATA before MAIL: {d}"
        t = c.cmd("RCPT TO:<rcpt@example.com>")
        assert t.line.startswith("503 5.5.1"), f"RCPT before MAIL: {t}"
        b = c.cmd("MAIL FROM:<unterminated@origin.test")
        assert b.code == 501, f"bad MAIL syntax: {b}"
        b = c.cmd("MAIL")
        assert b.code == 501, f"MAIL without argument: {b}"
        assert c.cmd("MAIL FROM:<sender@origin.test>").code == 250
        d = c.cmd("DATA")
        assert d.line.startswith("503 5.5.1"), f"DATA before RCPT: {d}"
        n = c.cmd("MAIL FROM:<again@origin.test>")
        assert n.code == 503, f"nested MAIL: {n}"
        b = c.cmd("RCPT TO:<no-brackets-and-junk")
        assert b.code == 501, f"bad RCPT syntax: {b}"
        assert c.cmd("RSET").code == 250
        t = c.cmd("RCPT TO:<rcpt@example.com>")
        assert t.line.startswith("503 5.5.1"), f"RCPT after RSET must need a new MAIL: {t}"
        # verbs are case-insensitive
        assert c.cmd("noop").code == 250
        q = c.cmd("QUIT")
        assert q.code == 221, f"QUIT: {q}"
        assert c.wait_closed(5), "relayd must close the connection after 221"
    assert sink.messages == []
    assert not r.find_log(queued_re())


def test_command_line_length(relay_sink):
    r, _ = relay_sink()
    with r.client() as c:
        assert c.cmd("EHLO client.test").code == 250
        ok = c.cmd("NOOP " + "x" * 505)   # 510 + CRLF = 512 bytes: the RFC limit
        assert ok.code == 250, f"512-byte command line (with CRLF) refused: {ok}"
        long = c.cmd("NOOP " + "x" * 595)  # 600 + CRLF
        assert long.line.startswith("500 5.5.2"), f"600-byte command line: {long}"
        c.send("NOOP\r\n")
        after = c.try_read_reply()
        assert after is None or after.code == 250, f"after the long line: {after}"


# -- pipelining --------------------------------------------------------------

def test_pipelining(relay_sink):
    r, sink = relay_sink()
    m1 = simple_message("pipelined one", body="first\r\n.dot line\r\n")
    m2 = simple_message("pipelined two", body="second\r\n")
    with r.client() as c:
        assert c.cmd("EHLO client.test").code == 250
        c.send(b"MAIL FROM:<pipe@origin.test>\r\nRCPT TO:<a@example.com>\r\n"
               b"RCPT TO:<b@example.com>\r\nDATA\r\n")
        rs = c.read_replies(4)
        assert [x.code for x in rs] == [250, 250, 250, 354], [str(x) for x in rs]
        # the body, then the next transaction in the same write
        c.send(wire_body(m1) + b"MAIL FROM:<pipe2@origin.test>\r\nRCPT TO:<c@example.com>\r\n"
               b"DATA\r\n")
        rs = c.read_replies(4)
        qid1 = queued(rs[0])
        assert [x.code for x in rs[1:]] == [250, 250, 354], [str(x) for x in rs]
        c.send(wire_body(m2) + b"QUIT\r\n")
        rs = c.read_until_closed()
        assert len(rs) == 2, f"want the final 250 and 221, got {[str(x) for x in rs]}"
        qid2 = queued(rs[0])
        assert rs[1].code == 221
    assert qid1 != qid2, "queue ids must be unique"
    msgs = sink.wait_messages(2)
    r.wait_log(sent_re(qid=qid2, status="sent"))
    by_from = {m.mail_from: m for m in msgs}
    assert set(by_from) == {"pipe@origin.test", "pipe2@origin.test"}
    assert sorted(by_from["pipe@origin.test"].rcpt_tos) == ["a@example.com", "b@example.com"]
    assert by_from["pipe2@origin.test"].rcpt_tos == ["c@example.com"]
    received_prefix(by_from["pipe@origin.test"].content, m1)
    received_prefix(by_from["pipe2@origin.test"].content, m2)


# -- who may relay where -----------------------------------------------------

def test_no_route_550(relay_sink):
    r, sink = relay_sink(routes={"example.com": "sink"})
    with r.client() as c:
        assert c.cmd("EHLO client.test").code == 250
        assert c.cmd("MAIL FROM:<sender@origin.test>").code == 250
        no = c.cmd("RCPT TO:<someone@other.org>")
        assert no.line.startswith("550 5.1.2"), f"RCPT to an unrouted domain: {no}"
        ok = c.cmd("RCPT TO:<rcpt@example.com>")
        assert ok.code == 250, f"RCPT to a routed domain: {ok}"
        assert c.cmd("DATA").code == 354
        content = simple_message("routed only")
        c.send(wire_body(content))
        qid = queued(c.read_reply())
    (m,) = sink.wait_messages(1)
    assert m.rcpt_tos == ["rcpt@example.com"]
    q = r.wait_log(queued_re(qid=qid))
    assert q.group("nrcpt") == "1"


def test_relay_denied_outside_allow(relay_sink):
    r, sink = relay_sink(listen={"allow": ["127.0.0.1/32"]})
    with r.client(source="127.0.0.2") as c:
        assert c.greeting.code == 220
        assert c.cmd("EHLO outsider.test").code == 250
        assert c.cmd("MAIL FROM:<sender@origin.test>").code == 250
        d = c.cmd("RCPT TO:<rcpt@example.com>")
        assert d.line.startswith("554 5.7.1"), f"RCPT from 127.0.0.2 outside allow: {d}"
        d = c.cmd("DATA")
        assert d.code in (503, 554), f"DATA without any accepted recipient: {d}"
    # from 127.0.0.1 the same works
    qid = r.send("sender@origin.test", ["rcpt@example.com"], simple_message("allowed"))
    q = r.wait_log(queued_re(qid=qid))
    assert q.group("clientip") == "127.0.0.1"
    (m,) = sink.wait_messages(1)
    assert m.mail_from == "sender@origin.test"
    assert len(r.find_log(queued_re())) == 1


# -- limits ------------------------------------------------------------------

def test_size_limits(relay_sink):
    r, sink = relay_sink(listen={"max_message_size": "10K"})
    with r.client() as c:
        e = c.cmd("EHLO client.test")
        assert ehlo_keywords(e).get("SIZE") == "10240", f"EHLO: {e}"
        big = c.cmd("MAIL FROM:<sender@origin.test> SIZE=20000")
        assert big.line.startswith("552 5.3.4"), f"MAIL with SIZE=20000 over 10K: {big}"
        ok = c.cmd("MAIL FROM:<sender@origin.test> SIZE=2000")
        assert ok.code == 250, f"MAIL with SIZE=2000: {ok}"
        assert c.cmd("RSET").code == 250
        assert c.cmd("MAIL FROM:<sender@origin.test>").code == 250
        assert c.cmd("RCPT TO:<big@example.com>").code == 250
        assert c.cmd("DATA").code == 354
        body = b"".join(b"%05d " % i + b"x" * 72 + b"\r\n" for i in range(260))  # ~20 KB
        c.send(wire_body(b"Subject: too big\r\n\r\n" + body))
        f = c.read_reply()
        assert f.line.startswith("552 5.3.4"), f"20 KB message over a 10K limit: {f}"
        # the session goes on; nothing of the big one is kept
        assert c.cmd("MAIL FROM:<sender@origin.test>").code == 250
        assert c.cmd("RCPT TO:<small@example.com>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(wire_body(simple_message("small one")))
        qid = queued(c.read_reply())
    r.wait_log(sent_re(qid=qid, status="sent"))
    msgs = sink.wait_messages(1)
    assert [m.rcpt_tos for m in msgs] == [["small@example.com"]]
    assert [q.group("qid") for q in r.find_log(queued_re())] == [qid], \
        "only the small message may be queued"


def test_max_recipients(relay_sink):
    r, sink = relay_sink(listen={"max_recipients": 2})
    with r.client() as c:
        assert c.cmd("EHLO client.test").code == 250
        assert c.cmd("MAIL FROM:<sender@origin.test>").code == 250
        assert c.cmd("RCPT TO:<one@example.com>").code == 250
        assert c.cmd("RCPT TO:<two@example.com>").code == 250
        third = c.cmd("RCPT TO:<three@example.com>")
        assert third.line.startswith("452 4.5.3"), f"third RCPT over max_recipients=2: {third}"
        assert c.cmd("DATA").code == 354
        c.send(wire_body(simple_message("two rcpts")))
        qid = queued(c.read_reply())
    (m,) = sink.wait_messages(1)
    assert sorted(m.rcpt_tos) == ["one@example.com", "two@example.com"]
    assert r.wait_log(queued_re(qid=qid)).group("nrcpt") == "2"


def test_max_clients(relay_sink):
    r, _ = relay_sink(listen={"max_clients": 2})
    c1, c2 = r.client(), r.client()
    try:
        assert c1.greeting.code == 220 and c2.greeting.code == 220
        with r.client(read_greeting=False) as c3:
            g = c3.try_read_reply()
            assert g is not None and g.line.startswith("421 4.7.0"), \
                f"third concurrent session: {g}, want 421 4.7.0 instead of the greeting"
            assert c3.wait_closed(5), "relayd must close the connection after the 421"
        # the first two are still served
        assert c1.cmd("NOOP").code == 250 and c2.cmd("NOOP").code == 250
        assert c1.cmd("QUIT").code == 221
        assert c1.wait_closed(5)

        def greeted():
            with r.client(read_greeting=False) as c:
                g = c.try_read_reply()
                return g is not None and g.code == 220
        wait_until(greeted, 5, "a new session to be greeted once one of two ended")
    finally:
        c1.close()
        c2.close()



def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_pauses_accepting(relay_sink):
    """When accept() fails for want of descriptors (EMFILE), relayd logs it,
    stops asking for a while instead of spinning on the still-readable
    listener, keeps serving its sessions, and greets the connections that
    waited once descriptors are free again."""
    r, sink = relay_sink()
    pid = r.proc.pid
    nfds = len(os.listdir(f"/proc/{pid}/fd"))
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (nfds + 2, hard))
    held, waiting = [], []
    try:
        held = [r.client() for _ in range(2)]
        assert all(c.greeting.code == 220 for c in held)
        waiting = [r.client(read_greeting=False) for _ in range(3)]
        r.wait_log(r"accept: Too many open files")
        cpu0 = _cpu_seconds(pid)
        time.sleep(1.0)
        spent = _cpu_seconds(pid) - cpu0
        assert spent < 0.3, f"relayd spent {spent:.2f} s of CPU in 1 s while out of descriptors"
        ready, _, _ = select.select([c.sock for c in waiting], [], [], 0.2)
        assert not ready, "no greeting can come while relayd has no descriptor to accept with"
        assert held[0].cmd("NOOP").code == 250, "a session in progress is still served"
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        for c in waiting:
            g = c.try_read_reply(5)
            assert g is not None and g.code == 220, f"a connection that waited: {g}, want 220"
        c = waiting[0]
        assert c.cmd("EHLO client.test").code == 250
        assert c.cmd("MAIL FROM:<a@origin.test>").code == 250
        assert c.cmd("RCPT TO:<b@example.com>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(wire_body(simple_message("after EMFILE")))
        assert QUEUED_REPLY.match(c.read_reply().line)
        sink.wait_messages(1)
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        for c in held + waiting:
            c.close()


# -- postmaster ----------------------------------------------------------------

@pytest.mark.parametrize("postmaster,want", [(None, "postmaster@relay.test"),
                                             ("ops@example.org", "ops@example.org")],
                         ids=["default", "configured"])
def test_rcpt_postmaster_without_domain(start_relayd, scripted, postmaster, want):
    """RFC 5321 4.5.1: "RCPT TO:<Postmaster>" (any case, no domain) must be
    accepted; it is relayed to `postmaster` (default postmaster@HOSTNAME)."""
    sink = scripted("127.0.0.2", name="sink")
    extra = f'postmaster = "{postmaster}"' if postmaster else ""
    r = start_relayd(transports={"sink": harness.transport(sink)}, routes={"*": "sink"},
                     extra=extra)
    with r.client() as c:
        assert c.cmd("EHLO client.test").code == 250
        assert c.cmd("MAIL FROM:<sender@origin.test>").code == 250
        rep = c.cmd("RCPT TO:<PostMaster>")
        assert rep.code == 250, f"RCPT TO:<PostMaster>: {rep}"
        assert c.cmd("DATA").code == 354
        c.send(wire_body(simple_message("to postmaster")))
        assert QUEUED_REPLY.match(c.read_reply().line)
    r.wait_log(sent_re(want, status="sent"))
    msgs = sink.wait_messages(1)
    assert msgs[0].rcpt_tos == [want]


# -- bare newlines and smuggling ---------------------------------------------

@pytest.mark.parametrize("mode", ["reject", "normalize"])
@pytest.mark.parametrize("body", [b"Subject: nul\r\n\r\nfirst\r\n\x00.\r\nMAIL FROM:<x@evil.test>\r\n",
                                  b"Subject: nul\r\n\r\nab\x00cd\r\n"], ids=["dot", "mid"])
def test_nul_in_data_rejected(relay_sink, mode, body):
    """A NUL anywhere in DATA: 550 5.6.0 in both bare_newline modes, nothing
    queued (a downstream that strips NULs would read "\r\n\0.\r\n" as the
    end of data), and the session goes on."""
    r, sink = relay_sink(listen={"bare_newline": mode})
    with r.client() as c:
        begin(c)
        c.send(wire_body(body))
        f = c.read_reply()
        assert f.line.startswith("550 5.6.0 "), f"message with a NUL ({mode}): {f}"
        assert "NUL" in f.line, f
        assert c.cmd("NOOP").code == 250
    send_control(r, sink)
    assert [m.rcpt_tos for m in sink.messages] == [["control@example.com"]]
    assert len(r.find_log(queued_re())) == 1


@pytest.mark.parametrize("bare", [b"\n", b"\r"], ids=["LF", "CR"])
def test_bare_newline_reject_default(relay_sink, bare):
    r, sink = relay_sink()   # bare_newline defaults to "reject"
    with r.client() as c:
        begin(c)
        c.send(wire_body(b"Subject: bare\r\n\r\nline one" + bare + b"line two\r\n"))
        f = c.read_reply()
        assert f.line.startswith("550 5.5.2"), f"message with a bare {bare!r}: {f}"
    send_control(r, sink)
    assert [m.rcpt_tos for m in sink.messages] == [["control@example.com"]]
    assert len(r.find_log(queued_re())) == 1


def test_bare_newline_normalize(relay_sink):
    r, sink = relay_sink(listen={"bare_newline": "normalize"})
    sent = b"Subject: bare\r\n\r\nline one\nline two\r\nthree\n\nfour\r\n"
    with r.client() as c:
        begin(c)
        c.send(wire_body(sent))
        qid = queued(c.read_reply())
    (m,) = sink.wait_messages(1)
    want = re.sub(rb"(?<!\r)\n", b"\r\n", sent)
    received_prefix(m.content, want)
    r.wait_log(sent_re(qid=qid, status="sent"))


SMUGGLE = [b"\n.\n", b"\r.\r", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n"]


@pytest.mark.parametrize("mode", ["reject", "normalize"])
@pytest.mark.parametrize("payload", SMUGGLE, ids=lambda p: repr(p)[2:-1].replace("\\", ""))
def test_smuggling(relay_sink, mode, payload):
    """A fake end of DATA inside the body never ends it: relayd answers the
    DATA exactly once, and the smarthost never receives a second message."""
    r, sink = relay_sink(listen={"bare_newline": mode})
    content = (b"From: <sender@origin.test>\r\nTo: <rcpt@example.com>\r\nSubject: smuggle\r\n"
               b"\r\nhello" + payload +
               b"MAIL FROM:<evil@x>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nsmuggled\r\n")
    with r.client() as c:
        begin(c)
        c.send(content + b"\r\n.\r\nQUIT\r\n")
        rs = c.read_until_closed()
    assert rs, "no reply at all to the end of DATA"
    final, rest = rs[0], [x.code for x in rs[1:]]
    if mode == "reject":
        assert final.line.startswith("550 5.5.2"), f"final reply {final}, want 550 5.5.2"
        assert rest in ([221], []), f"replies after the final one: {[str(x) for x in rs]}"
    else:
        queued(final)
        assert rest == [221], f"exactly one final reply, then 221: {[str(x) for x in rs]}"
    send_control(r, sink)
    want = 1 if mode == "reject" else 2
    sink.wait_messages(want)
    msgs = list(sink.messages)
    assert len(msgs) == want, f"sink got {len(msgs)} messages, want {want}"
    assert sink.rcpts_tried("victim@example.com") == [], "the smuggled RCPT reached the sink"
    assert all(m.mail_from != "evil@x" for m in msgs), "the smuggled MAIL reached the sink"
    assert len(r.find_log(queued_re())) == want, "relayd queued a smuggled message"
    if mode == "normalize":
        (m,) = [m for m in msgs if m.rcpt_tos == ["rcpt@example.com"]]
        assert b"MAIL FROM:<evil@x>\r\n" in m.content and b"smuggled\r\n" in m.content
        assert not re.search(rb"(?<!\r)\n", m.content), "a bare LF was relayed in normalize mode"
        # Not asserted: whether the "." after a bare LF is unstuffed (the
        # contract leaves it open); the exact normalization is checked by
        # test_bare_newline_normalize on a body without dots.


# -- garbage -----------------------------------------------------------------

@pytest.mark.parametrize("phase", ["command", "data"])
def test_random_bytes(relay_sink, phase):
    """2 MB of random bytes leave relayd serving; nothing is queued from them."""
    r, sink = relay_sink()
    junk = random.Random(20261122).randbytes(2 * 1024 * 1024)
    assert b"\r\n.\r\n" not in junk
    c = r.client()
    if phase == "data":
        begin(c)

    def drain():
        try:
            while c.sock.recv(65536):
                pass
        except OSError:
            pass

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    c.sock.settimeout(10)
    try:
        for i in range(0, len(junk), 65536):
            c.sock.sendall(junk[i:i + 65536])
    except OSError:
        pass   # relayd may hang up on garbage: fine
    try:
        c.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    c.close()
    t.join(5)
    assert r.alive, "relayd died on random input"
    send_control(r, sink)
    assert [m.rcpt_tos for m in sink.messages] == [["control@example.com"]]
    assert len(r.find_log(queued_re())) == 1
