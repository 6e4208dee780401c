"""
test_delivery.py -- what leaves relayd and what it logs (contract: "On the
wire (outbound)", "route", "Log lines"): byte-exact relay with one added
Received:, the queued/outcome log lines, routing precedence and splitting,
4xx retry, 5xx bounce, relay host failover.

Assumptions beyond the contract:
  * the client host in "client=HOST[IP]" may be any name (no reverse lookup
    is configured: "unknown" or "localhost" are both fine); IP is 127.0.0.1.
  * size= in the queued line is the content size as received, with or
    without the added Received: header (either is accepted).
  * the outcome line's reason holds the remote reply text (as Postfix's
    "host X said: ..."), so the scripted reply's words appear in it.
  * relayd keeps the local part's case when relaying (RFC 5321); the
    domain may be lower-cased.
  * one attempt tries every relay host in order: a failover delivery is
    logged with attempts=1.
"""

import random
import re
import time

import pytest

from harness import (QUEUED_REPLY, RawClient, queued_re, received_prefix, sent_re,
                     simple_message, transport, wire_body)

BYTE_EXACT = (
    b"Received: from origin.test (origin.test [192.0.2.1])\r\n"
    b"\tby mx.origin.test with ESMTP id 1234; Sat, 22 Nov 2026 10:00:00 +0000\r\n"
    b"From: =?utf-8?q?J=C3=BCrgen?= <sender@origin.test>\r\n"
    b"To: rcpt@example.com\r\n"
    b"Subject: byte-exact\r\n"
    b"Message-ID: <byte-exact.1@origin.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b".leading dot\r\n"
    b"..two leading dots\r\n"
    b".\r\n"                                   # a lone "." line (sent as "..")
    b"\r\n"
    + "Grüße aus Köln — 日本語のテキスト — ñandú\r\n".encode()
    + b"trailing spaces   \r\n"
    b"\ttab-indented\r\n"
    b"From the start of a line\r\n"
    b"\xe2\x82\xac 8-bit euro\r\n"
    b"last line without anything special\r\n"
)


def count_received(content: bytes) -> int:
    head = content.split(b"\r\n\r\n", 1)[0]
    return len(re.findall(rb"(?mi)^received:", head))


def test_byte_exact_relay_and_log_lines(relay_sink):
    r, sink = relay_sink()
    with RawClient(r.host, r.port) as c:
        assert c.cmd("EHLO client.test").code == 250
        assert c.cmd("MAIL FROM:<sender@origin.test> BODY=8BITMIME").code == 250
        assert c.cmd("RCPT TO:<rcpt@example.com>").code == 250
        assert c.cmd("DATA").code == 354
        wire = wire_body(BYTE_EXACT)
        assert b"\r\n..\r\n" in wire and b"\r\n...two" in wire
        c.send(wire)
        final = c.read_reply()
        m = QUEUED_REPLY.match(final.line)
        assert m and len(final.lines) == 1, f"final reply {final!r}, want '250 2.0.0 Ok: queued as QID'"
        qid = m.group("qid")
        assert c.cmd("QUIT").code == 221

    (msg,) = sink.wait_messages(1)
    assert msg.mail_from == "sender@origin.test" and msg.rcpt_tos == ["rcpt@example.com"]
    hdr = received_prefix(msg.content, BYTE_EXACT)
    assert b"relay.test" in hdr, f"the Received: header should name the hostname: {hdr!r}"
    assert count_received(msg.content) == count_received(BYTE_EXACT) + 1

    q = r.wait_log(queued_re(qid=qid, sender="sender@origin.test"))
    assert q.group("nrcpt") == "1"
    assert q.group("clientip") == "127.0.0.1"
    assert int(q.group("size")) in (len(BYTE_EXACT), len(BYTE_EXACT) + len(hdr)), \
        f"size={q.group('size')}, want {len(BYTE_EXACT)} (or +{len(hdr)} with Received:)"

    s = r.wait_log(sent_re(rcpt="rcpt@example.com", qid=qid))
    assert s.group("status") == "sent"
    assert s.group("transport") == "sink"
    assert s.group("relayip") == sink.host and s.group("relayport") == str(sink.port), s.group(0)
    assert s.group("attempts") == "1"
    assert s.group("tls") == "none"
    assert s.group("dsn") == "2.0.0"
    assert s.group("reason").startswith("250"), f"reason should be the remote reply: {s.group(0)}"
    assert float(s.group("delay")) < 60
    log = r.log_text()
    assert log.index(q.group(0)) < log.index(s.group(0)), "the sent line came before the queued line"


def test_5mb_body(relay_sink):
    r, sink = relay_sink()
    rng = random.Random(5)
    alphabet = b"abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,-"
    lines = [b"Subject: five megabytes", b"Message-ID: <5mb@origin.test>", b""]
    size = 0
    while size < 5 * 1024 * 1024:
        n = rng.randrange(0, 120)
        ln = bytes(rng.choice(alphabet) for _ in range(n))
        if rng.random() < 0.02:
            ln = b"." + ln          # some lines need dot-stuffing
        lines.append(ln)
        size += len(ln) + 2
    content = b"\r\n".join(lines) + b"\r\n"
    qid = r.send("big@origin.test", ["big@example.com"], content, timeout=30)
    (msg,) = sink.wait_messages(1, timeout=30)
    received_prefix(msg.content, content)
    r.wait_log(sent_re(qid=qid, status="sent", attempts=1), timeout=30)


# -- routing -----------------------------------------------------------------

ROUTES = {"example.com": "A", ".example.com": "B", "*": "C"}


def three_way(start_relayd, scripted):
    srv = {"A": scripted("127.0.0.2", name="A"), "B": scripted("127.0.0.3", name="B"),
           "C": scripted("127.0.0.4", name="C")}
    r = start_relayd(transports={n: transport(s) for n, s in srv.items()}, routes=ROUTES)
    return r, srv


@pytest.mark.parametrize("rcpt,want", [
    ("user@example.com", "A"),
    ("User@EXAMPLE.COM", "A"),
    ("user@sub.example.com", "B"),
    ("user@deep.Sub.Example.COM", "B"),
    ("user@other.org", "C"),
    ("user@notexample.com", "C"),
    ("user@example.com.other.org", "C"),
])
def test_routing_precedence(start_relayd, scripted, rcpt, want):
    r, srv = three_way(start_relayd, scripted)
    qid = r.send("sender@origin.test", [rcpt], simple_message("route", to=rcpt))
    (msg,) = srv[want].wait_messages(1)
    local, domain = rcpt.rsplit("@", 1)
    got_local, got_domain = msg.rcpt_tos[0].rsplit("@", 1)
    assert len(msg.rcpt_tos) == 1 and got_local == local and got_domain.lower() == domain.lower()
    s = r.wait_log(sent_re(qid=qid, status="sent"))
    assert s.group("transport") == want, s.group(0)
    for name, other in srv.items():
        if name != want:
            assert other.messages == [] and other.connections == 0, \
                f"{rcpt} also reached transport {name}"


def test_routing_split_one_transaction_per_destination(start_relayd, scripted):
    r, srv = three_way(start_relayd, scripted)
    rcpts = ["user@example.com", "user@sub.example.com", "user@other.org", "Second@EXAMPLE.COM"]
    content = simple_message("split", to="many@example.com")
    qid = r.send("sender@origin.test", rcpts, content)
    assert r.wait_log(queued_re(qid=qid)).group("nrcpt") == "4"
    r.wait_log(sent_re(qid=qid, status="sent"), count=4)

    def norm(addrs):
        return sorted((a.rsplit("@", 1)[0], a.rsplit("@", 1)[1].lower()) for a in addrs)

    want = {"A": ["user@example.com", "Second@EXAMPLE.COM"], "B": ["user@sub.example.com"],
            "C": ["user@other.org"]}
    for name, s in srv.items():
        assert len(s.messages) == 1, f"transport {name}: {len(s.messages)} messages, want 1 " \
                                     f"(recipients sharing a destination go in one transaction)"
        m = s.messages[0]
        assert norm(m.rcpt_tos) == norm(want[name]), f"transport {name} got {m.rcpt_tos}"
        received_prefix(m.content, content)
    by_rcpt = {x.group("to").lower(): x.group("transport")
               for x in r.find_log(sent_re(qid=qid, status="sent"))}
    assert by_rcpt == {"user@example.com": "A", "user@sub.example.com": "B",
                       "user@other.org": "C", "second@example.com": "A"}


# -- outcomes ----------------------------------------------------------------

@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_4xx_deferred_then_sent(relay_sink, stage):
    script = {f"{stage}_replies": ["451 4.3.0 try again"]}
    r, sink = relay_sink(**script)
    content = simple_message("retry me")
    qid = r.send("sender@origin.test", ["rcpt@example.com"], content)
    d = r.wait_log(sent_re(rcpt="rcpt@example.com", qid=qid, status="deferred", strict_relay=False))
    assert d.group("attempts") == "1" and d.group("dsn") == "4.3.0", d.group(0)
    assert "try again" in d.group("reason"), f"the reason should hold the remote reply: {d.group(0)}"
    s = r.wait_log(sent_re(rcpt="rcpt@example.com", qid=qid, status="sent"), timeout=15)
    assert s.group("attempts") == "2", s.group(0)
    assert s.group("relayport") == str(sink.port)
    (msg,) = sink.wait_messages(1)
    received_prefix(msg.content, content)
    assert len(sink.messages) == 1
    assert len(r.find_log(sent_re(qid=qid, strict_relay=False))) == 2, \
        "want exactly one deferred and one sent line"


def test_5xx_bounced_not_retried(relay_sink):
    # Only the first RCPT is refused: a wrong retry would be accepted and seen.
    r, sink = relay_sink(routes={"example.com": "sink"},
                         rcpt_replies=["550 5.1.1 no such user"])
    qid = r.send("sender@origin.test", ["nobody@example.com"], simple_message("bounce me"))
    b = r.wait_log(sent_re(rcpt="nobody@example.com", qid=qid, status="bounced",
                           strict_relay=False))
    assert b.group("dsn") == "5.1.1" and b.group("attempts") == "1", b.group(0)
    assert "no such user" in b.group("reason"), b.group(0)
    time.sleep(3.5)   # three retry periods (retry = 1s): a retry would show by now
    assert len(sink.rcpts_tried("nobody@example.com")) == 1, "a bounced recipient was retried"
    assert not [m for m in sink.messages if "nobody@example.com" in m.rcpt_tos]
    assert len(r.find_log(sent_re(rcpt="nobody@example.com", strict_relay=False))) == 1


# -- relay host failover -----------------------------------------------------

def test_failover_dead_port(start_relayd, scripted):
    live = scripted("127.0.0.1", name="live")
    dead = scripted("127.0.0.1", name="dead", start=False)   # nothing listens there
    r = start_relayd(transports={"t": transport(dead, live)}, routes={"*": "t"})
    qid = r.send("sender@origin.test", ["rcpt@example.com"], simple_message("failover"))
    (msg,) = live.wait_messages(1)
    assert msg.rcpt_tos == ["rcpt@example.com"]
    s = r.wait_log(sent_re(qid=qid, status="sent"))
    assert (s.group("relayip"), s.group("relayport")) == ("127.0.0.1", str(live.port)), s.group(0)
    assert s.group("attempts") == "1", s.group(0)


def test_failover_421_greeting(start_relayd, scripted):
    busy = scripted("127.0.0.2", name="busy", greeting="421 4.7.0 busy")
    live = scripted("127.0.0.3", name="live")
    r = start_relayd(transports={"t": transport(busy, live)}, routes={"*": "t"})
    qid = r.send("sender@origin.test", ["rcpt@example.com"], simple_message("busy first"))
    (msg,) = live.wait_messages(1)
    s = r.wait_log(sent_re(qid=qid, status="sent"))
    assert (s.group("relayip"), s.group("relayport")) == ("127.0.0.3", str(live.port)), s.group(0)
    assert s.group("attempts") == "1", s.group(0)
    assert busy.connections >= 1, "the first relay host was never tried"
    assert busy.messages == []
