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

from harness import free_port, simple_message, sent_re, transport

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


# -- the explanation for the sender -------------------------------------------
#
# Contract: the human-readable part speaks to the sender, who is no mail
# administrator, for every kind of failure; advice about relayd's own
# configuration goes to the log and relayctl, never into a DSN.

# Words of an operator (tests/unit/operator_words.h has the same list): never
# in an explanation for the sender. The remote reply and relayd's own reason
# above the explanation are shown verbatim and may hold any of them.
OPERATOR_WORDS = [
    "smarthost", "fallback", "transport", "relay", "relayd", "relayctl", "route", "detour",
    "PTR", "MX", "DNS", "IP", "TLS", "STARTTLS", "EHLO", "HELO", "hostname", "configuration",
    "config", "configure", "max_connections", "auth_user", "auth_password_file", "password",
    "tls policy", "policy of", "ca_file", "certificate", "rate on", "4xx", "5xx", "://",
    "www.", "postmaster tools", "SNDS", "dig", "spool", "reload", "flush", "delist",
    "NXDOMAIN", "SERVFAIL", "RFC", "SMTP", "MTU", "source_address", "data_timeout",
    "command_timeout", "smtps", "A record", "AAAA",
]


def operator_words(text):
    found = []
    for w in OPERATOR_WORDS:
        pre = r"(?<![A-Za-z0-9])" if w[0].isalnum() else ""
        post = r"(?![A-Za-z0-9])" if w[-1].isalnum() else ""
        if re.search(pre + re.escape(w) + post, text, re.I):
            found.append(w)
    return found


def explanation(msg):
    """(label or None, explanation, the whole text part unwrapped) of a
    one-recipient DSN."""
    text = " ".join(parts(msg)[0].get_content().split())
    m = re.search(r"What it most likely means(?: \(([^)]*)\))?: (.*)", text)
    assert m, f"no explanation in the DSN:\n{text}"
    return m.group(1), m.group(2), text


def check_explained(msg, label, says, expired=False):
    got_label, words, text = explanation(msg)
    assert got_label == label, f"label {got_label!r}, want {label!r}: {text}"
    assert says in words, f"want {says!r} in: {words}"
    assert not operator_words(words), f"operator words {operator_words(words)} in: {words}"
    assert ("Gave up: your message could not be delivered for" in words) == expired, words


def one_dsn(sink):
    sink.wait_for(lambda s: len(dsns(s)) >= 1, 15, "a DSN")
    return dsns(sink)[0]


@pytest.mark.parametrize("reply,label,says", [
    ("550 5.1.1 <x@dest.test>: Recipient address rejected: User unknown",
     "unknown user", "Check it for typos"),
    ("554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org",
     "blocklist: Spamhaus ZEN", "tell your IT team"),
    ("550 5.7.1 [CS01] Message rejected due to local policy", None,
     "a security or policy rule of its own"),
], ids=["unknown-user", "blocklist", "unrecognised"])
def test_remote_rejection_explained(relay_sink, reply, label, says):
    """A 5xx: the DSN explains it in plain words (a reply nothing recognises
    gets a generic explanation by its status); the operator's advice goes to
    the log, next to the bounce."""
    r, sink = relay_sink(rcpt_replies=lambda a: reply if a.startswith("x@") else None)
    qid = r.send(SENDER, ["x@dest.test"], simple_message(subject="explained"))
    r.wait_log(sent_re("x@dest.test", qid=qid, status="bounced"))
    check_explained(one_dsn(sink), label, says)
    advice = r.find_log(r"%s: advice for <x@dest\.test> \[([^]]*)\]: (.*)" % qid)
    if label is None:
        assert advice == [], advice
    else:
        assert advice and advice[0].group(1) == label, r.log_text()
        if label.startswith("blocklist"):
            assert "smarthost" in advice[0].group(2), advice[0].group(0)


@pytest.fixture
def dns(tmp_path):
    from dnsserver import DnsServer
    made = []

    def factory(*records):
        d = DnsServer(records, tmp_path).start()
        made.append(d)
        return d

    yield factory
    for d in made:
        d.stop()


@pytest.mark.parametrize("domain,records,label,says", [
    ("nx.test", [], "domain not found", "does not exist"),
    ("nullmx.test", ["mx-host=nullmx.test,.,0"], "domain accepts no mail",
     "does not receive email at all"),
], ids=["nxdomain", "null-mx"])
def test_dns_failure_explained(start_relayd, scripted, dns, domain, records, label, says):
    """A domain that does not exist, or publishes a null MX: bounced at once
    with no remote reply, and still explained."""
    sink = scripted("127.0.0.2", name="sink")
    d = dns(*records)
    r = start_relayd(transports={"sink": transport(sink), "mx": transport(port=free_port())},
                     routes={"origin.test": "sink", "*": "mx"}, dns_port=d.port)
    qid = r.send(SENDER, [f"user@{domain}"], simple_message(subject="dns"))
    r.wait_log(sent_re(f"user@{domain}", qid=qid, status="bounced", strict_relay=False))
    check_explained(one_dsn(sink), label, says)
    r.wait_log(r"%s: advice for <user@%s> \[%s\]: " % (qid, re.escape(domain), label))


def test_tls_required_explained(start_relayd, scripted):
    """TLS required (encrypt) but the destination offers no STARTTLS: the
    recipient expires, and the DSN says why in plain words."""
    sink = scripted("127.0.0.2", name="sink")
    plain = scripted("127.0.0.3", name="plain")
    r = start_relayd(transports={"sink": transport(sink),
                                 "enc": transport(plain, tls="encrypt")},
                     routes={"dest.test": "enc", "*": "sink"},
                     queue={"max_lifetime": "3s", "delay_warning": "0"})
    qid = r.send(SENDER, ["x@dest.test"], simple_message(subject="tls"))
    r.wait_log(sent_re("x@dest.test", qid=qid, status="expired", strict_relay=False),
               timeout=15)
    check_explained(one_dsn(sink), "TLS not offered", "was not sent unprotected", expired=True)
    assert plain.messages == []


def test_certificate_refused_explained(start_relayd, scripted, tmp_path):
    """Under verify, a self-signed certificate is refused: expired, and
    explained without a word about certificates or policies."""
    from tlsca import TestCA, server_context
    ca = TestCA(tmp_path / "ca")
    cert, key = ca.self_signed("mx.dest.test")
    sink = scripted("127.0.0.2", name="sink")
    tls = scripted("127.0.0.3", name="starttls",
                   smtp_kwargs={"tls_context": server_context(cert, key)})
    pol = ('tls_policy "v" {\n\tlevel = "verify"\n\tca_file = "%s"\n'
           '\tmatch = {"mx.dest.test"}\n}\n' % ca.ca_path)
    r = start_relayd(transports={"sink": transport(sink), "v": transport(tls, tls="v")},
                     routes={"dest.test": "v", "*": "sink"}, extra=pol,
                     queue={"max_lifetime": "3s", "delay_warning": "0"})
    qid = r.send(SENDER, ["x@dest.test"], simple_message(subject="cert"))
    r.wait_log(sent_re("x@dest.test", qid=qid, status="expired", strict_relay=False),
               timeout=15)
    check_explained(one_dsn(sink), "TLS failed", "could not prove its identity", expired=True)
    assert tls.messages == []


def test_expiry_explained(start_relayd, scripted):
    """Expired after connection failures, and expired after a 4xx: the last
    failure explained, then how long it was tried; the delay warning
    explains it too, without the giving up."""
    sink = scripted("127.0.0.2", name="sink",
                    rcpt_replies=lambda a: "452 4.2.2 <full@dest.test>: try later"
                    if a.startswith("full@") else None)
    r = start_relayd(transports={"sink": transport(sink), "dead": transport("[127.0.0.3]:9")},
                     routes={"gone.test": "dead", "*": "sink"},
                     queue={"max_lifetime": "4s", "delay_warning": "1s"})
    qid = r.send(SENDER, ["x@gone.test"], simple_message(subject="gone"))
    qid2 = r.send(SENDER, ["full@dest.test"], simple_message(subject="full"))
    for q, a in ((qid, "x@gone.test"), (qid2, "full@dest.test")):
        r.wait_log(sent_re(a, qid=q, status="expired", strict_relay=False), timeout=15)
    sink.wait_for(lambda s: len(dsns(s)) >= 4, 15, "two warnings and two bounces")
    by = {}
    for d in dsns(sink):
        blk = status_blocks(parts(d)[1])[1]
        by[(blk["final-recipient"], blk["action"])] = d
    check_explained(by[("rfc822; x@gone.test", "delayed")], "no connection",
                    "could not be reached")
    check_explained(by[("rfc822; x@gone.test", "failed")], "no connection",
                    "could not be reached", expired=True)
    # The 4.4.7 of the expiry does not hide the reply's own 4.2.2.
    check_explained(by[("rfc822; full@dest.test", "failed")], "mailbox full",
                    "mailbox is full", expired=True)
