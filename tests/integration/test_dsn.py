"""
test_dsn.py -- what the sender gets back (contract: "On the wire (outbound)
and what happens to each recipient"): a 5xx produces an RFC 3464 DSN that
Python's email parser reads as multipart/report; mixed outcomes; expiry
with a short lifetime; one delay warning; <> is never bounced; a bounce to
a sender whose own domain bounces does not loop.

DSNs are queued and routed like any message: each test routes "*" to one
scripted server, so the DSN to the original sender arrives there too.
"""

import email
import email.policy
import re
import subprocess
import time
from pathlib import Path

import pytest

from harness import simple_message, sent_re, transport

SENDER = "alice@origin.test"


def dsns(server):
    """Messages from <> recorded by SERVER, parsed."""
    return [email.message_from_bytes(m.content, policy=email.policy.default)
            for m in server.messages if m.mail_from in ("", "<>")]


def parts(msg):
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    ps = list(msg.iter_parts())
    assert [p.get_content_type() for p in ps] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"], \
        [p.get_content_type() for p in ps]
    return ps


def status_blocks(part):
    """The message/delivery-status part: [per-message fields, rcpt1, ...]."""
    raw = part.as_bytes().decode("utf-8", "replace")
    body = raw.split("\n\n", 1)[1] if "\n\n" in raw else raw
    body = body.replace("\r\n", "\n")
    blocks = []
    for chunk in re.split(r"\n\s*\n", body.strip()):
        fields = {}
        for line in re.sub(r"\n[ \t]+", " ", chunk).splitlines():
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.strip()
        blocks.append(fields)
    return blocks


def test_5xx_bounce_dsn(relay_sink):
    r, sink = relay_sink(rcpt_replies=lambda a: "550 5.1.1 <nobody@dest.test>: no such user"
                         if a.startswith("nobody@") else None)
    qid = r.send(SENDER, ["nobody@dest.test"], simple_message(subject="Quarterly report"))
    r.wait_log(sent_re("nobody@dest.test", qid=qid, status="bounced"))
    r.wait_log(r"%s: sender non-delivery notification: [0-9A-F]+" % qid)
    sink.wait_for(lambda s: len(dsns(s)) >= 1, 10, "a DSN")
    m = [x for x in sink.messages if x.mail_from in ("", "<>")][0]
    assert m.rcpt_tos == [SENDER]
    d = dsns(sink)[0]
    assert "MAILER-DAEMON@relay.test" in str(d["From"])
    assert d["Auto-Submitted"] == "auto-replied"
    text, status, headers = parts(d)
    body = text.get_content()
    assert "nobody@dest.test" in body
    assert "550 5.1.1 <nobody@dest.test>: no such user" in body
    assert "127.0.0.2" in body                      # remote host address
    blocks = status_blocks(status)
    assert blocks[0]["reporting-mta"] == "dns; relay.test"
    assert "arrival-date" in blocks[0]
    rc = blocks[1]
    assert rc["final-recipient"] == "rfc822; nobody@dest.test"
    assert rc["action"] == "failed"
    assert rc["status"] == "5.1.1"
    assert rc["remote-mta"].startswith("dns; ")
    assert rc["diagnostic-code"].startswith("smtp; 550 5.1.1")
    assert "last-attempt-date" in rc
    orig = headers.get_content() if hasattr(headers, "get_content") else headers.get_payload()
    if not isinstance(orig, str):
        orig = headers.as_string()
    assert "Subject: Quarterly report" in orig


def test_mixed_outcomes(relay_sink):
    seen = {"later": 0}

    def rcpt(a):
        if a.startswith("bad@"):
            return "550 5.1.1 no such user"
        if a.startswith("later@"):
            seen["later"] += 1
            return "450 4.2.1 mailbox busy" if seen["later"] == 1 else None
        return None

    r, sink = relay_sink(rcpt_replies=rcpt)
    qid = r.send(SENDER, ["good@dest.test", "bad@dest.test", "later@dest.test"],
                 simple_message(subject="mixed"))
    r.wait_log(sent_re("good@dest.test", qid=qid, status="sent", attempts=1))
    r.wait_log(sent_re("bad@dest.test", qid=qid, status="bounced", attempts=1))
    r.wait_log(sent_re("later@dest.test", qid=qid, status="deferred", attempts=1))
    r.wait_log(sent_re("later@dest.test", qid=qid, status="sent", attempts=2))
    sink.wait_for(lambda s: len(dsns(s)) >= 1, 10, "a DSN")
    time.sleep(1)
    ds = dsns(sink)
    assert len(ds) == 1, "exactly one DSN: only bad@ failed"
    blocks = status_blocks(parts(ds[0])[1])
    assert [b["final-recipient"] for b in blocks[1:]] == ["rfc822; bad@dest.test"]
    # good@ was delivered once, later@ once more on the retry, alone.
    normal = [m for m in sink.messages if m.mail_from == SENDER]
    assert sorted(x for m in normal for x in m.rcpt_tos) == ["good@dest.test", "later@dest.test"]
    assert [m.rcpt_tos for m in normal][-1] == ["later@dest.test"]


def test_expiry_and_one_delay_warning(relay_sink):
    r, sink = relay_sink(rcpt_replies=lambda a: "451 4.3.0 try again later"
                         if a.startswith("slow@") else None,
                         queue={"max_lifetime": "5s", "delay_warning": "2s"})
    qid = r.send(SENDER, ["slow@dest.test"], simple_message(subject="slowpoke"))
    r.wait_log(r"%s: sender delay notification: [0-9A-F]+" % qid, timeout=10)
    m = r.wait_log(sent_re("slow@dest.test", qid=qid, status="expired", strict_relay=False),
                   timeout=15)
    assert m.group("dsn") == "4.4.7"
    r.wait_log(r"%s: sender non-delivery notification: [0-9A-F]+" % qid)
    sink.wait_for(lambda s: len(dsns(s)) >= 2, 10, "two DSNs")
    time.sleep(1.5)
    ds = dsns(sink)
    actions = [status_blocks(parts(d)[1])[1]["action"] for d in ds]
    assert actions == ["delayed", "failed"], actions
    expired = status_blocks(parts(ds[1])[1])[1]
    assert expired["status"] == "4.4.7"
    assert "Delayed Mail" in str(ds[0]["Subject"])
    # Nothing after the expiry.
    n = len(r.find_log(r"to=<slow@dest\.test>"))
    time.sleep(2)
    assert len(r.find_log(r"to=<slow@dest\.test>")) == n


def test_null_sender_never_bounced(relay_sink):
    r, sink = relay_sink(rcpt_replies="550 5.1.1 no such user")
    qid = r.send("", ["nobody@dest.test"], simple_message())
    r.wait_log(sent_re("nobody@dest.test", qid=qid, status="bounced"))
    r.wait_log(r"%s: no non-delivery notification: the sender is <>" % qid)
    time.sleep(1.5)
    assert dsns(sink) == []
    assert sink.messages == []


def test_bounce_to_bouncing_sender_does_not_loop(relay_sink):
    # Everything to bad.test bounces, including the DSN to the sender.
    r, sink = relay_sink(rcpt_replies=lambda a: "550 5.1.1 no such user"
                         if a.endswith("@bad.test") else None)
    qid = r.send("someone@bad.test", ["nobody@bad.test"], simple_message())
    r.wait_log(sent_re("nobody@bad.test", qid=qid, status="bounced"))
    m = r.wait_log(r"%s: sender non-delivery notification: (?P<dsn>[0-9A-F]+)" % qid)
    dsn_qid = m.group("dsn")
    r.wait_log(sent_re("someone@bad.test", qid=dsn_qid, status="bounced"))
    r.wait_log(r"%s: no non-delivery notification: the sender is <>" % dsn_qid)
    time.sleep(2)
    assert len(r.find_log(r"status=bounced")) == 2
    assert len(r.find_log(r"notification: [0-9A-F]+")) == 1


# -- read by a standard DSN parser (Sisimai) ------------------------------------

SISIMAI = Path(__file__).with_name("sisimai_parse.pl")


def sisimai(raw: bytes):
    """Sisimai's verdict on the bounce RAW: {recipient: (reason, status,
    action, command, diagnostic type, reply code)}."""
    p = subprocess.run(["perl", str(SISIMAI)], input=raw, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    out = {}
    for line in p.stdout.decode().splitlines():
        f = line.split("\t")
        out[f[0]] = tuple(f[1:])
    assert out, f"Sisimai found no bounce in:\n{raw[:3000].decode(errors='replace')}"
    return out


def raw_dsns(server):
    return [m.content for m in server.messages if m.mail_from in ("", "<>")]


@pytest.mark.parametrize("where,reply,want", [
    ("rcpt", "550 5.1.1 <nobody@dest.test>: Recipient address rejected: User unknown",
     ("userunknown", "5.1.1", "failed", "RCPT", "SMTP", "550")),
    ("data", "554 5.7.1 Message rejected as spam",
     ("spamdetected", "5.7.1", "failed", "DATA", "SMTP", "554")),
], ids=["rcpt", "end-of-data"])
def test_bounce_read_by_sisimai(relay_sink, where, reply, want):
    """A 5xx bounce: Diagnostic-Code "smtp;" with the remote reply, and the
    command it answered said as Postfix says it; Sisimai reads the reason,
    the status and the command."""
    if where == "rcpt":
        r, sink = relay_sink(rcpt_replies=lambda a: reply if a.startswith("nobody@") else None)
    else:
        r, sink = relay_sink(data_replies=[reply])   # the first DATA only
    qid = r.send(SENDER, ["nobody@dest.test"], simple_message(subject="report"))
    r.wait_log(sent_re("nobody@dest.test", qid=qid, status="bounced"))
    sink.wait_for(lambda s: len(raw_dsns(s)) >= 1, 10, "a DSN")
    raw = raw_dsns(sink)[0]
    text = raw.decode(errors="replace")
    phrase = "(in reply to RCPT TO command)" if where == "rcpt" else \
        "(in reply to end of DATA command)"
    assert phrase in re.sub(r"\s+", " ", text), text
    assert "Diagnostic-Code: smtp; " + reply.split(" ")[0] in text, text
    got = sisimai(raw)["nobody@dest.test"]
    assert got == want, f"Sisimai read {got}, want {want}"


def test_expiry_read_by_sisimai(relay_sink):
    """An expired recipient whose last reply was a 4xx: Action failed,
    Status 4.4.7, the last reply as "smtp;" diagnostic; Sisimai says
    expired, 4.4.7 (not a block or a temporary failure)."""
    r, sink = relay_sink(rcpt_replies=lambda a: "451 4.3.0 <slow@dest.test>: try again later"
                         if a.startswith("slow@") else None,
                         queue={"max_lifetime": "3s", "delay_warning": "0"})
    qid = r.send(SENDER, ["slow@dest.test"], simple_message(subject="slowpoke"))
    r.wait_log(sent_re("slow@dest.test", qid=qid, status="expired", strict_relay=False),
               timeout=15)
    sink.wait_for(lambda s: len(raw_dsns(s)) >= 1, 10, "the DSN")
    raw = raw_dsns(sink)[0]
    blk = status_blocks(parts(email.message_from_bytes(raw, policy=email.policy.default))[1])[1]
    assert blk["action"] == "failed" and blk["status"] == "4.4.7", blk
    assert blk["diagnostic-code"].startswith("smtp; 451 4.3.0"), blk
    got = sisimai(raw)["slow@dest.test"]
    assert got[:5] == ("expired", "4.4.7", "failed", "RCPT", "SMTP"), got


def test_expiry_without_connection_read_by_sisimai(start_relayd, scripted):
    """Expired with no connection ever made: the local reason is an
    "X-Relayd;" diagnostic; Sisimai still says expired, 4.4.7."""
    sink = scripted("127.0.0.2", name="sink")
    r = start_relayd(transports={"sink": transport(sink), "dead": transport("[127.0.0.3]:9")},
                     routes={"dest.test": "dead", "*": "sink"},
                     queue={"max_lifetime": "3s", "delay_warning": "0"})
    qid = r.send(SENDER, ["gone@dest.test"], simple_message(subject="nowhere"))
    r.wait_log(sent_re("gone@dest.test", qid=qid, status="expired", strict_relay=False),
               timeout=15)
    sink.wait_for(lambda s: len(raw_dsns(s)) >= 1, 10, "the DSN")
    raw = raw_dsns(sink)[0]
    assert b"Diagnostic-Code: X-Relayd; connect to" in raw, raw
    got = sisimai(raw)["gone@dest.test"]
    assert got[:3] == ("expired", "4.4.7", "failed"), got
