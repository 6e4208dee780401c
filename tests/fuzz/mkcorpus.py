#!/usr/bin/python3
"""
mkcorpus.py -- write the seed corpora of tests/fuzz/corpus/<target>/.

  /usr/bin/python3 tests/fuzz/mkcorpus.py

Each seed is a small, meaningful input in the harness's format (see the
comment at the top of each tests/fuzz/fuzz_*.c): real SMTP sessions with
pipelining, STARTTLS and AUTH, the DATA smuggling sequences, real
multi-line replies, real addresses, the example configuration, real
rejection texts (taken from the table of tests/unit/test_classify.c),
files relayd wrote to its spool (journal records, state files). The
seeds are committed; rerun this after changing a harness's input format.
Files are named after what they hold, and the directories are rewritten
whole.
"""

import re
import shutil
import struct
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
OUT = REPO / "tests" / "fuzz" / "corpus"

WHOLE = 0xFF  # a piece size byte meaning "the rest"


def b(s):
    return s.encode() if isinstance(s, str) else s


# ---- fuzz_server: 10-byte header, then the client's bytes ----------------

def server_hdr(normalize=False, starttls=False, tls=False, require_tls=False,
               auth=False, max_rcpt=8, size=2, end=0, pieces=(WHOLE,) * 4, decisions=()):
    """DECISIONS: the hooks' answers in the order they are asked (see
    fuzz_server.c), 0 being "yes" everywhere."""
    f = (normalize << 0) | (starttls << 1) | (tls << 2) | (require_tls << 3) | (auth << 4)
    f |= (max_rcpt - 1) << 5
    bits = sum(d << (2 * k) for k, d in enumerate(decisions))
    return bytes([f, size | end << 2, *pieces]) + struct.pack("<I", bits)


EHLO = "EHLO client.example.org\r\n"
TXN = ("MAIL FROM:<sender@example.org> SIZE=120 BODY=8BITMIME\r\n"
       "RCPT TO:<someone@gmail.com>\r\nRCPT TO:<other@example.net>\r\nDATA\r\n")
BODY = ("Received: from client.example.org\r\nFrom: <sender@example.org>\r\n"
        "To: <someone@gmail.com>\r\nSubject: test\r\nMessage-ID: <1@example.org>\r\n"
        "\r\nHello.\r\n..a line starting with a dot\r\n\r\n")


def smuggle(ending):
    """A body whose "end" is ENDING, then a second message after it."""
    return (EHLO + TXN + "Subject: one\r\n\r\nfirst" + ending +
            "MAIL FROM:<spoofed@bank.example>\r\nRCPT TO:<victim@gmail.com>\r\nDATA\r\n"
            "Subject: smuggled\r\n\r\nsecond\r\n.\r\nQUIT\r\n")


SERVER = {
    "basic": server_hdr() + b(EHLO + TXN + BODY + ".\r\nQUIT\r\n"),
    "pipelined_pieces": server_hdr(pieces=(6, 0, 40, 2)) +
    b(EHLO + TXN + BODY + ".\r\n" + TXN + "x\r\n.\r\nQUIT\r\n"),
    "postfix_session": server_hdr(pieces=(WHOLE, 30, WHOLE, 3)) +
    b("EHLO mail.example.org\r\nMAIL FROM:<> SIZE=2048 AUTH=<>\r\n"
      "RCPT TO:<postmaster@example.com>\r\nDATA\r\n" + BODY + ".\r\n"
      "RSET\r\nNOOP\r\nHELO mail.example.org\r\nVRFY someone\r\nHELP\r\nQUIT\r\n"),
    "empty_message": server_hdr() + b(EHLO + TXN + ".\r\nQUIT\r\n"),
    "smuggle_lf_dot_lf_reject": server_hdr() + b(smuggle("\n.\n")),
    "smuggle_lf_dot_lf_normalize": server_hdr(normalize=True) + b(smuggle("\n.\n")),
    "smuggle_lf_dot_crlf": server_hdr(normalize=True) + b(smuggle("\n.\r\n")),
    "smuggle_crlf_dot_lf": server_hdr(normalize=True) + b(smuggle("\r\n.\n")),
    "smuggle_cr_dot_cr": server_hdr(normalize=True) + b(smuggle("\r.\r")),
    "smuggle_crlf_dot_cr": server_hdr(normalize=True, pieces=(1, 1, 1, 1)) +
    b(smuggle("\r\n.\r")),
    "smuggle_real_end": server_hdr(normalize=True) + b(smuggle("\r\n.\r\n")),
    "bare_lf_reject": server_hdr() + b(EHLO + TXN + "a\nb\r\n.\r\nQUIT\r\n"),
    "too_big_in_pieces": server_hdr(size=0, pieces=(20, 20, 20, 20)) +
    b(EHLO + TXN + "x" * 150 + "\r\n.\r\nQUIT\r\n"),
    "size_param_too_big": server_hdr(size=1) +
    b(EHLO + "MAIL FROM:<a@example.org> SIZE=999999999999\r\nQUIT\r\n"),
    "errors": server_hdr() +
    b("MAIL FROM:<a@example.org>\r\nHELO\r\nEHLO x\r\nRCPT TO:<a@example.org>\r\nDATA\r\n"
      "MAIL FROM:a@example.org\r\nMAIL FROM:<a@@example.org>\r\nMAIL FROM:<a@example.org> FOO=1\r\n"
      "MAIL FROM:<\"quoted local\"@example.org> SMTPUTF8\r\nMAIL FROM:<a@example.org>\r\n"
      "RCPT TO:<b@example.org> NOTIFY=SUCCESS\r\nRCPT TO:<>\r\nDATA x\r\nEXPN list\r\n"
      "BDAT 10 LAST\r\nXFORWARD NAME=x\r\n" + "X" * 600 + "\r\nQUIT\r\n"),
    "too_many_errors": server_hdr() + b("BOGUS\r\n" * 21),
    # r0 accepted, r1 450, r2 looked up then accepted, r3 and r4 over max_rcpt
    "rcpt_limits_refusals": server_hdr(max_rcpt=2, decisions=(0, 2, 1, 0)) +
    b(EHLO + "MAIL FROM:<a@example.org>\r\n" +
      "".join("RCPT TO:<r%d@example.com>\r\n" % i for i in range(5)) + "DATA\r\nx\r\n.\r\n"),
    "route_ipv6_utf8": server_hdr() +
    b("EHLO [IPv6:2001:db8::1]\r\nMAIL FROM:<@relay.example,@b.example:a@example.org>\r\n"
      "RCPT TO:<user@[192.0.2.1]>\r\nRCPT TO:<user@[IPv6:2001:db8::25]>\r\n") +
    "RCPT TO:<bücher@bücher.example>\r\nDATA\r\n".encode() + b"caf\xc3\xa9\r\n.\r\n",
    "verdict_451_then_timeout": server_hdr(decisions=(0, 0, 0, 2, 0, 0, 0, 3)) +
    b(EHLO + TXN + "one\r\n.\r\n" + TXN + "two\r\n.\r\n" + TXN + "three\r\n.\r\n"),
    "rcpt_lookups": server_hdr(decisions=(1, 0, 1, 3, 0, 0), pieces=(WHOLE, 5, 17, WHOLE)) +
    b(EHLO + TXN + "x\r\n.\r\n" + "RCPT TO:<late@example.com>\r\nQUIT\r\n"),
    "rcpt_lookup_at_end": server_hdr(decisions=(1, 2), end=3) +
    b(EHLO + "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\n"),
    "data_refused": server_hdr(decisions=(0, 0, 3)) + b(EHLO + TXN + "x\r\n.\r\nQUIT\r\n"),
    "shutdown_in_data": server_hdr(end=3) + b(EHLO + TXN + "partial body"),
    "starttls": server_hdr(starttls=True, require_tls=True) +
    b("EHLO x\r\nMAIL FROM:<a@example.org>\r\nSTARTTLS\r\nEHLO x\r\n" + TXN + "x\r\n.\r\n"),
    "starttls_injection": server_hdr(starttls=True, pieces=(WHOLE, WHOLE, 1, WHOLE)) +
    b("EHLO x\r\nSTARTTLS\r\nMAIL FROM:<injected@example.org>\r\n"
      "EHLO x\r\nSTARTTLS\r\nQUIT\r\n"),
    "starttls_failed": server_hdr(starttls=True, decisions=(3,)) + b("EHLO x\r\nSTARTTLS\r\nQUIT\r\n"),
    "auth_plain": server_hdr(tls=True, auth=True) +
    b("EHLO x\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nAUTH PLAIN\r\n" + TXN + "x\r\n.\r\n"),
    "auth_login": server_hdr(tls=True, auth=True, decisions=(1, 0)) +
    b("EHLO x\r\nAUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\nAUTH LOGIN YWxpY2U=\r\nc2VjcmV0\r\n"
      "AUTH PLAIN\r\n*\r\nAUTH CRAM-MD5\r\nAUTH PLAIN !!!\r\nQUIT\r\n"),
    "auth_without_tls": server_hdr(auth=True, starttls=True) +
    b("EHLO x\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nQUIT\r\n"),
}


# ---- fuzz_client: 3-byte header, then the server's lines ----------------

def client_hdr(nrcpt=1, smtputf8=False, eightbit=False, size=1, quit_in_done=False,
               twice=False, ntxn=2, null_sender=False, quit_at_end=False, tls=0,
               smtps=False, auth=False, tls_hangs=False):
    h0 = (nrcpt - 1) | smtputf8 << 2 | eightbit << 3 | size << 4 | quit_in_done << 6 | twice << 7
    h1 = (ntxn - 1) | null_sender << 6 | quit_at_end << 7
    h2 = tls | smtps << 2 | auth << 3 | tls_hangs << 4
    return bytes([h0, h1, h2])


def lines(*ls):
    return "".join(l + "\r\n" for l in ls).encode()


GREET = ("220 mx.google.com ESMTP a1si2b3c4d5e.6 - gsmtp",)
EHLO_PIPE = ("250-mx.google.com at your service, [192.0.2.1]", "250-SIZE 157286400",
             "250-8BITMIME", "250-STARTTLS", "250-ENHANCEDSTATUSCODES", "250-PIPELINING",
             "250-CHUNKING", "250 SMTPUTF8")
EHLO_PLAIN = ("250-smtp.example.net", "250-SIZE 10240000", "250 8BITMIME")
OK_TXN3 = ("250 2.1.0 OK", "250 2.1.5 OK", "250 2.1.5 OK", "250 2.1.5 OK",
           "354 Go ahead", "250 2.0.0 OK 1700000000 a1si2b3c4d5e.6 - gsmtp")
GMAIL_550 = ("550-5.7.1 [192.0.2.1] Our system has detected that this message is",
             "550-5.7.1 likely suspicious due to the very low reputation of the sending",
             "550-5.7.1 IP address. To best protect our users from spam, the message has",
             "550-5.7.1 been blocked. Please visit",
             "550 5.7.1  https://support.google.com/mail/answer/188131 for more information. - gsmtp")

CLIENT = {
    "gmail_pipelined": client_hdr(nrcpt=3, eightbit=True) +
    lines(*GREET, *EHLO_PIPE, *OK_TXN3, *OK_TXN3, "221 2.0.0 closing connection"),
    "gmail_reputation_550": client_hdr(nrcpt=2) +
    lines(*GREET, *EHLO_PIPE, "250 2.1.0 OK", *GMAIL_550, *GMAIL_550, "554 5.5.1 No recipients",
          "250 2.1.5 Flushed", "221 2.0.0 Bye"),
    "no_pipelining_mixed_rcpt": client_hdr(nrcpt=3, ntxn=3) +
    lines("220 smtp.example.net ESMTP Postfix", *EHLO_PLAIN, "250 2.1.0 Ok", "250 2.1.5 Ok",
          "450 4.2.0 <other@example.net>: Recipient address rejected: Greylisted",
          "550 5.1.1 <b@example.de>: Recipient address rejected: User unknown",
          "354 End data with <CR><LF>.<CR><LF>", "250 2.0.0 Ok: queued as 4F1A2B3C",
          "250 2.0.0 Ok", "550 5.1.8 Sender address rejected: Domain not found",
          "250 2.0.0 Ok", "221 2.0.0 Bye"),
    "helo_fallback": client_hdr() +
    lines("220 old.example.net SMTP", "502 5.5.2 Error: command not recognized",
          "250 old.example.net", "250 ok", "250 ok", "354 go", "250 ok", "221 bye"),
    "all_refused_then_354": client_hdr(nrcpt=2) +
    lines(*GREET, *EHLO_PIPE, "250 2.1.0 OK", "550 5.1.1 no such user", "550 5.1.1 no such user",
          "354 Go ahead", "250 2.0.0 discarded", "250 2.0.0 reset"),
    "mail_refused": client_hdr(nrcpt=3) +
    lines(*GREET, *EHLO_PIPE, "553 5.7.1 Sender rejected", "503 5.5.1 need MAIL",
          "503 5.5.1 need MAIL", "503 5.5.1 need MAIL", "503 5.5.1 need MAIL", "250 reset"),
    "data_554": client_hdr(nrcpt=1) +
    lines(*GREET, *EHLO_PIPE, "250 2.1.0 OK", "250 2.1.5 OK",
          "554 5.7.9 Message not accepted for policy reasons", "250 ok"),
    "body_rejected_spam": client_hdr(nrcpt=1) +
    lines(*GREET, *EHLO_PIPE, "250 2.1.0 OK", "250 2.1.5 OK", "354 go",
          "550-5.7.1 This message was blocked because its content presents a potential",
          "550 5.7.1 security issue. - gsmtp"),
    "421_mid_transaction": client_hdr(nrcpt=2) +
    lines(*GREET, *EHLO_PIPE, "250 2.1.0 OK",
          "421-4.7.28 [192.0.2.1] Our system has detected an unusual rate of",
          "421 4.7.28 unsolicited mail originating from your IP address. - gsmtp"),
    "greeting_554": client_hdr() + lines("554 5.7.1 Service unavailable; Client host [192.0.2.1] "
                                         "blocked using zen.spamhaus.org"),
    "malformed": client_hdr() + lines(*GREET, "250-first line", "251 other code"),
    "malformed_short": client_hdr() + lines("220 ok", "25"),
    "smtputf8_not_offered": client_hdr(smtputf8=True) + lines(*GREET, *EHLO_PLAIN, "221 bye"),
    "size_too_big": client_hdr(size=2) +
    lines(*GREET, "250-mx.example", "250 SIZE 1000000", "221 bye"),
    "rset_fails": client_hdr(nrcpt=1) +
    lines(*GREET, *EHLO_PIPE, "250 ok", "550 no", "554 no valid recipients", "500 what"),
    "starttls_auth_plain": client_hdr(tls=2, auth=True, ntxn=1) +
    lines("220 smtp.example.net ESMTP", "250-smtp.example.net", "250-STARTTLS",
          "250 PIPELINING", "220 2.0.0 Ready to start TLS", "250-smtp.example.net",
          "250-AUTH PLAIN LOGIN", "250 PIPELINING", "235 2.7.0 Authentication successful",
          "250 ok", "250 ok", "354 go", "250 ok", "221 bye"),
    "starttls_auth_login": client_hdr(tls=1, auth=True, ntxn=1) +
    lines("220 smtp.example.net ESMTP", "250-smtp.example.net", "250 STARTTLS",
          "220 Ready", "250-smtp.example.net", "250 AUTH LOGIN", "334 VXNlcm5hbWU6",
          "334 UGFzc3dvcmQ6", "535 5.7.8 Error: authentication failed"),
    "starttls_refused_required": client_hdr(tls=2) +
    lines("220 mx ESMTP", "250-mx", "250 STARTTLS", "454 4.7.0 TLS not available"),
    "tls_required_not_offered": client_hdr(tls=3) + lines("220 mx ESMTP", "250 mx"),
    "auth_without_tls": client_hdr(auth=True) + lines("220 mx ESMTP", "250-mx", "250 AUTH PLAIN"),
    "starttls_injected_replies": client_hdr(tls=1) +
    lines("220 mx ESMTP", "250-mx", "250 STARTTLS", "220 go ahead", "250 injected",
          "250-mx", "250 PIPELINING", "250 ok", "250 ok", "354 go", "250 ok"),
    "smtps_auth": client_hdr(smtps=True, auth=True, tls=2) +
    lines("220 mx ESMTP", "250-mx", "250-AUTH=PLAIN", "250 AUTH PLAIN", "235 ok",
          "250 ok", "250 ok", "354 go", "250 ok"),
    "quit_in_done": client_hdr(quit_in_done=True, twice=True, ntxn=4) +
    lines(*GREET, *EHLO_PIPE, *OK_TXN3[:2], *OK_TXN3[4:], *OK_TXN3[:2], *OK_TXN3[4:], "221 bye"),
    "unsolicited_421": client_hdr(ntxn=1, quit_at_end=True) +
    lines(*GREET, *EHLO_PLAIN, "250 ok", "250 ok", "354 go", "250 ok", "421 4.4.2 timeout"),
}


# ---- fuzz_cmd: 1 byte (small output size), then one command line --------

CMD_LINES = [
    "MAIL FROM:<sender@example.org> SIZE=12345 BODY=8BITMIME",
    "MAIL FROM:<> SIZE=2048 AUTH=<>",
    "mail from: <Sender@Example.ORG> smtputf8",
    "MAIL FROM:<\"john smith\\\"\"@example.org>",
    "MAIL FROM:<a@b.example> AUTH=user+2Bname",
    "MAIL FROM:<a@b.example> SIZE=18446744073709551616",
    "RCPT TO:<@relay.example,@b.example:user@c.example>",
    "RCPT TO:<user@[192.0.2.25]>",
    "RCPT TO:<user@[IPv6:2001:db8::25]>",
    "RCPT TO:<bücher@bücher.example>",
    "RCPT TO:<postmaster>",
    "RCPT TO:<someone@gmail.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;someone@gmail.com",
    "RCPT TO:<" + "l" * 65 + "@example.com>",
    "RCPT TO:<a@" + "d" * 64 + ".example>",
    "EHLO client.example.org",
    "HELO [192.0.2.1]",
    "DATA",
    "STARTTLS",
    "AUTH PLAIN AGFsaWNlAHNlY3JldA==",
    "QUIT",
]


# ---- fuzz_reply: lines of replies -----------------------------------------

REPLY = {
    "gmail_550_multiline": lines(*GMAIL_550),
    "ehlo_gmail": lines(*EHLO_PIPE),
    "greeting_utf8": "220 mx.bücher.example ESMTP ready\r\n".encode(),
    "outlook_s3140": lines("550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. "
                           "Please contact your Internet service provider since part of their "
                           "network is on our block list (S3140). You can also refer your "
                           "provider to http://mail.live.com/mail/troubleshooting.aspx#errors. "
                           "[AM7EUR03FT064.eop-EUR03.prod.protection.outlook.com]"),
    "yahoo_421": lines("421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to "
                       "unexpected volume or user complaints - 4.16.55.1; see "
                       "https://postmaster.yahooinc.com/error-codes"),
    "spamhaus": lines("554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using "
                      "zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.1"),
    "status_repeated": lines("452-4.2.2 The email account that you tried to reach is over quota.",
                             "452 4.2.2 Please direct the recipient to https://support.google.com"),
    "malformed_mixed": lines("250-a", "251 b", "2", "600 x", "250xno", "250 ok") +
    b"\x00\xff\x1b[31m\r\n250 \xc2\x85 C1 \xed\xa0\x80 surrogate\r\n",
    "bare_code": lines("250", "354", "250-", "250 "),
}


# ---- fuzz_data: 4-byte header (piece sizes), then the bytes after 354 ----

DATA = {
    "plain_whole": bytes([WHOLE] * 4) + b(BODY + ".\r\nQUIT\r\n"),
    "plain_pieces": bytes([0, 1, 2, 60]) + b(BODY + ".\r\nQUIT\r\n"),
    "empty": bytes([WHOLE] * 4) + b".\r\n",
    "dots": bytes([0, 0, 3, 0]) + b"..\r\n.x\r\n...\r\n.\r.\r\n.\n..\n.\r\n",
    "smuggle_lf_dot_lf": bytes([5, 5, 5, 5]) + b"one\n.\nMAIL FROM:<x@y>\r\n\r\n.\r\n",
    "smuggle_lf_dot_crlf": bytes([WHOLE] * 4) + b"one\n.\r\nMAIL FROM:<x@y>\r\n.\r\n",
    "smuggle_crlf_dot_lf": bytes([WHOLE] * 4) + b"one\r\n.\nMAIL FROM:<x@y>\r\n.\r\n",
    "smuggle_cr_dot_cr": bytes([0, 1, 0, 1]) + b"one\r.\rMAIL FROM:<x@y>\r\n.\r\n",
    "smuggle_crlf_dot_cr": bytes([2, 2, 2, 2]) + b"one\r\n.\rMAIL FROM:<x@y>\r\n.\r\n",
    "smuggle_cr_dot_crlf": bytes([WHOLE] * 4) + b"one\r.\r\nMAIL FROM:<x@y>\r\n.\r\n",
    "bare_mixed": bytes([3, 7, 1, WHOLE]) + b"a\rb\nc\r\r\nd\n\re\r\n.\r\n",
    "no_end": bytes([10, 10, 10, 10]) + b"Subject: x\r\n\r\nno terminator yet\r\n.",
    "binary": bytes([1, 2, 3, 4]) + bytes(range(256)) + b"\r\n.\r\n",
}


# ---- fuzz_classify_dsn ------------------------------------------------------

def s1(v):
    if v is None:
        return b"\xff"
    v = b(v)[:254]
    return bytes([len(v)]) + v


def s2(v):
    if v is None:
        return b"\xff\xff"
    v = b(v)[:65534]
    return struct.pack(">H", len(v)) + v


def dsn_seed(code, status, text, rcpts, delay=False, classified=True, headers=b"",
             hostname="relay.example.org", qid="660DF183FB68C000", sender="me@example.org",
             times=(1700000000, 1700086400, 1700432000, 1700086000), unique=42):
    flags = delay | len(rcpts) << 1 | classified << 3
    rflags = 0
    for i, r in enumerate(rcpts):
        rflags |= r.get("delayed", False) << i | r.get("smtp", True) << (4 + i)
    out = struct.pack(">HBB", code, flags, rflags)
    out += struct.pack(">iiiiI", times[0], times[1], times[2], times[3], unique)
    out += s1(status) + s2(text) + s1(hostname) + s1(qid) + s1(sender)
    for r in rcpts:
        out += s1(r["addr"]) + s1(r.get("status")) + s1(r.get("host")) + s1(r.get("ip"))
        out += s2(r.get("reply")) + s1(r.get("label")) + s1(r.get("explain"))
    return out + b(headers)


def classify_rows():
    """(name, code, status, text) rows of tests/unit/test_classify.c."""
    src = (REPO / "tests" / "unit" / "test_classify.c").read_text()
    rows = []
    for m in re.finditer(r'\{\s*"([^"]+)",\s*(\d+),\s*"([^"]*)",\s*((?:"(?:[^"\\]|\\.)*"\s*)+),',
                         src):
        text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(4)))
        rows.append((m.group(1), int(m.group(2)), m.group(3), text.replace('\\"', '"')))
    return rows


HEADERS = ("Received: from client.example.org (client.example.org [192.0.2.7])\r\n"
           "\tby relay.example.org (relayd) with ESMTP id 660DF183FB68C000\r\n"
           "From: Sender <me@example.org>\r\nTo: someone@gmail.com\r\n"
           "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <1@example.org>\r\n\r\nbody\r\n")


def dsn_seeds():
    seeds = {}
    picked = {}
    for name, code, status, text in classify_rows():
        key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        picked.setdefault(key, (code, status, text))
    for key in sorted(picked)[:40]:
        code, status, text = picked[key]
        seeds["reply_" + key] = dsn_seed(
            code, status, text,
            [{"addr": "someone@gmail.com", "status": status, "host": "gmail-smtp-in.l.google.com",
              "ip": "142.250.27.26", "reply": "%d %s %s" % (code, status, text)}],
            headers=HEADERS)
    seeds["bounce_three_rcpts"] = dsn_seed(
        550, "5.1.1", "The email account that you tried to reach does not exist.",
        [{"addr": "nobody@gmail.com", "status": "5.1.1", "host": "mx.example", "ip": "192.0.2.1",
          "reply": "550 5.1.1 The email account that you tried to reach does not exist."},
         {"addr": "bücher@bücher.example", "status": "4.4.7", "reply": "expired after 5 days",
          "smtp": False},
         {"addr": "x+y=z@example.net", "status": "garbage", "host": None, "ip": "2001:db8::1",
          "reply": None, "label": "unknown user", "explain": "The address does not exist."}],
        classified=False, headers=HEADERS)
    seeds["delay_warning"] = dsn_seed(
        451, "4.7.1", "Greylisted, please try again later",
        [{"addr": "someone@example.com", "status": "4.7.1", "delayed": True, "host": "mx.example",
          "reply": "451 4.7.1 Greylisted, please try again later"}], delay=True, headers=HEADERS)
    seeds["hostile_strings"] = dsn_seed(
        0, None, None,
        [{"addr": "a\r\nBcc: victim@example.com", "status": "5.0.0",
          "host": "evil\r\n\r\n--boundary", "reply": "x" * 1200 + " " + "y" * 2000}],
        hostname="host\r\nX-Injected: 1", qid="../../etc/passwd", sender="s\x00t",
        headers=b"Subject: " + b"z" * 1500 + b"\nX: a\rY: b\x00\r\n\r\nbody", times=(-1, 0, 2**31 - 1, -2**31))
    return seeds


def conf_seeds():
    example = (REPO / "conf" / "relayd.conf.example").read_bytes()
    return {
        "example": example,
        "minimal": b'spool = "/tmp/relayd-spool"\nlisten "l" { address = "127.0.0.1" port = 2525 }\n'
                   b'transport "direct" {}\nroute "*" { transport = "direct" }\n',
        "full": b'hostname = "relay.example.org"\nspool = "./var/spool"\n'
                b'control_socket = "./var/spool/control.sock"\nuser = "relayd"\n'
                b'dns_servers = { "127.0.0.1:5353", "[::1]:53" }\nmetrics_listen = "127.0.0.1:9100"\n'
                b'listen "local" { address = "::1" port = 25 tls = "starttls" '
                b'tls_cert = "/etc/c.pem" tls_key = "/etc/k.pem" tls_min_version = "TLSv1.3" '
                b'require_tls = true allow = { "10.0.0.0/8", "::1/128" } auth_users = "/etc/u" '
                b'max_message_size = "50M" max_recipients = 1000 max_clients = 10 '
                b'bare_newline = "normalize" }\n'
                b'tls_policy "google" { level = "verify" min_version = "TLSv1.2" '
                b'ca_file = "/etc/ssl/certs/ca-certificates.crt" match = { ".google.com" } '
                b'ciphers = "HIGH:!aNULL" }\n'
                b'transport "gmail" { relay = { "smtp.example.net:587", "[192.0.2.1]" } port = 25 '
                b'smtps = false tls = "google" auth_user = "u" auth_password_file = "/etc/p" '
                b'source_address = "192.0.2.10" helo = "relay.example.org" max_connections = 10 '
                b'max_messages_per_connection = 100 rate = "100/m" connect_timeout = "30s" '
                b'command_timeout = "5m" data_timeout = "10m" fallback = "direct" '
                b'fallback_hold = "4h" }\n'
                b'transport "direct" { tls = "may" }\n'
                b'route "gmail.com" { transport = "gmail" }\nroute ".example.com" { transport = "direct" }\n'
                b'route "mx:.google.com" { transport = "gmail" }\nroute "*" { transport = "direct" }\n'
                b'queue { retry = { "1m", "5m", "1h" } max_lifetime = "5d" delay_warning = "4h" }\n',
        "errors": b'# comment\nspool = "./var"\nlisten "l" { address = "999.0.0.1" port = 70000 '
                  b'tls = "maybe" bare_newline = "sure" max_message_size = "5Q" }\n'
                  b'transport "t" { relay = { "[not-an-ip]:x" } tls = "gmial" fallback = "t" rate = "5/y" }\n'
                  b'route "exa mple.com" { transport = "nope" }\nroute "*" { }\n'
                  b'queue { retry = { } }\nqueue { max_lifetime = "-1" }\nbogus_key = 1\n',
        "syntax_error": b'spool = "./var"\nlisten "l" {\n  address = "127.0.0.1"\n  port = \n',
        "unclosed": b'/* block\ncomment */ spool = "x" // line\nlisten "l" { address = "127.0.0.1"\n',
        "include": b'include("relayd-fuzz-missing.conf")\ninclude()\ninclude("/dev/null")\n'
                   b'include("/tmp")\nspool = "./var"\n',
        "escapes": b'spool = "a\\nb\\"c\\x41\\101"\nhostname = \'single quoted\'\nuser = unquoted\n',
    }


# ---- fuzz_spool_fmt: 1-byte header, then a spool file or encoder values ---
# Below 0x80 the header is the state file's number of recipients and the
# rest a spool file; these are bytes relayd wrote (copied from a spool: a
# journal segment's records, a queue/ file's header, state files, a .done
# file; the version-1 state file from the writer of commit eae1cbc^).

SPOOL_REC1 = (b"@661BADAF1545E000 485\n"
              b"RELAYD 1\nid 661BADAF1545E000\narrival 1796305025\nsize 00000000000000000262\n"
              b"client unknown[127.0.0.1]\nbody 0\nsmtputf8 0\nfrom sender@origin.test\n"
              b"rcpt a@example.com\nrcpt b@example.com\nrcpt c@example.com\n"
              b"rcpt d@dead.example\n\n"
              b"Received: from client.test (unknown [127.0.0.1])\r\n"
              b"\tby relay.test (relayd) with ESMTP id 661BADAF1545E000;\r\n"
              b"\tThu, 03 Dec 2026 13:37:05 +0000\r\n"
              b"From: <sender@origin.test>\r\nTo: <rcpt@example.com>\r\nSubject: sample\r\n"
              b"Message-ID: <sample.5dd7f8cb@origin.test>\r\n\r\nhello\r\n.\r\n")
SPOOL_REC2 = (b"@661BADAF165BD001 439\n"
              b"RELAYD 1\nid 661BADAF165BD001\narrival 1796305025\nsize 00000000000000000292\n"
              b"client unknown[127.0.0.1]\nbody 0\nsmtputf8 0\nfrom \nrcpt x@example.com\n\n"
              b"Received: from client.test (unknown [127.0.0.1])\r\n"
              b"\tby relay.test (relayd) with ESMTP id 661BADAF165BD001\r\n"
              b"\tfor <x@example.com>; Thu, 03 Dec 2026 13:37:05 +0000\r\n"
              b"From: <sender@origin.test>\r\nTo: <rcpt@example.com>\r\nSubject: null sender\r\n"
              b"Message-ID: <null-sender.72cfa261@origin.test>\r\n\r\nhello\r\n.\r\n")
SPOOL_QUEUE = (b"RELAYD 1\nid 661BADAF17635003\narrival 1796305025\nsize 00000000000000300272\n"
               b"client unknown[127.0.0.1]\nbody 0\nsmtputf8 0\nfrom big@origin.test\n"
               b"rcpt b2@example.com\n\n"
               b"Received: from client.test (unknown [127.0.0.1])\r\n" + b"b" * 998 + b"\r\n")
SPOOL_UTF8 = (b"@661BAE6123903000 447\n"
              b"RELAYD 1\nid 661BAE6123903000\narrival 1796305212\nsize 00000000000000000260\n"
              b"client unknown[127.0.0.1]\nbody 2\nsmtputf8 1\n"
              b"from s\xc3\xa9nder@origin.test\nrcpt e@example.com\nrcpt f\xc3\xbc@example.com\n\n"
              b"Received: from client.test (unknown [127.0.0.1])\r\n"
              b"\tby relay.test (relayd) with UTF8SMTP id 661BAE6123903000;\r\n"
              b"\tThu, 03 Dec 2026 13:40:12 +0000\r\n"
              b"From: <sender@origin.test>\r\nTo: <rcpt@example.com>\r\nSubject: utf8\r\n"
              b"Message-ID: <utf8.7c880c6@origin.test>\r\n\r\nhello\r\n.\r\n")
SPOOL_STATE4 = (b"RELAYD-STATE 2\nwarned 0\n"
                b"r 0 1 1 1796305025 250 10 2.0.0 sink 127.0.0.2[127.0.0.2]:52643 - \n"
                b"r 1 0 1 1796308625 451 8 4.3.0 sink 127.0.0.2[127.0.0.2]:52643 - "
                b"451 4.3.0 greylisted, try later\n"
                b"r 2 2 1 1796305025 550 8 5.1.1 sink 127.0.0.2[127.0.0.2]:52643 - "
                b"550 5.1.1 <c@example.com>: user unknown\n"
                b"r 3 0 1 1796308625 0 0 4.4.1 dead 127.0.0.3[127.0.0.3]:47329 - "
                b"connect to 127.0.0.3[127.0.0.3]:47329: Connection refused\n")
SPOOL_DETOUR = (b"RELAYD-STATE 2\nwarned 0\n"
                b"r 0 0 2 1796308812 0 0 4.4.1 dead 127.0.0.3[127.0.0.3]:42545 dead "
                b"connect to 127.0.0.3[127.0.0.3]:42545: Connection refused\n"
                b"r 1 0 1 1796308812 452 8 4.2.2 sink 127.0.0.2[127.0.0.2]:42625 - "
                b"452 4.2.2 Mailbox full\n")
SPOOL_STATE_V1 = (b"RELAYD-STATE 1\nwarned 1\n"
                  b"r 0 0 3 1796308625 451 4.3.0 sink 127.0.0.2[127.0.0.2]:52643 - "
                  b"451 4.3.0 greylisted, try later\n"
                  b"r 1 0 0 1796305025 0 - - - - \n"
                  b"r 2 3 9 1796305025 0 4.4.7 dead 127.0.0.3[127.0.0.3]:47329 dead "
                  b"delivery time expired; last reply: none\n")


def spool_enc(idx=1, state=0, attempts=2, nxt=1796308625, code=451, cmd=8, status="4.3.0",
              transport="sink", relay="mx.example[192.0.2.1]:25", detour="", reply="",
              full=False, qid="661BADAF1545E000", arrival=1796305025, size=262, body=0,
              smtputf8=False, client="unknown[127.0.0.1]", sender="sender@origin.test",
              rcpts=("a@example.com",), reclen=485):
    """Encoder values in fuzz_spool_fmt.c's layout (encode_values())."""
    out = bytes([0x80 | full, idx, state + 1]) + struct.pack(">I", attempts)
    out += struct.pack(">q", nxt) + struct.pack(">H", code + 50) + bytes([cmd + 1])
    out += s1(status) + s1(transport) + s2(relay) + s1(detour) + s2(reply)
    out += b"\x00" + bytes.fromhex(qid) + struct.pack(">qQ", arrival, size)
    out += bytes([body, smtputf8]) + s2(client) + s2(sender) + bytes([len(rcpts)])
    out += b"".join(s2(r) for r in rcpts)
    return out + struct.pack(">I", reclen) + b"\x00"


SPOOL = {
    "journal_record": bytes([4]) + SPOOL_REC1,
    "journal_two_records": bytes([1]) + SPOOL_REC1 + SPOOL_REC2,
    "journal_utf8_header": bytes([2]) + SPOOL_UTF8,
    "queue_file": bytes([1]) + SPOOL_QUEUE,
    "state_four_rcpts": bytes([4]) + SPOOL_STATE4,
    "state_detour": bytes([2]) + SPOOL_DETOUR,
    "state_version1": bytes([3]) + SPOOL_STATE_V1,
    "state_held": bytes([2]) + b"RELAYD-STATE 2\nwarned 0\nheld 1\n"
                               b"r 0 0 0 1796305025 0 0 - - - - \n"
                               b"r 1 0 1 1796308625 451 8 4.3.0 sink 127.0.0.2[127.0.0.2]:52643 - "
                               b"451 4.3.0 greylisted, try later\n",
    "state_held_bad": bytes([1]) + b"RELAYD-STATE 1\nwarned 1\nheld 0\nheld 2\nheld\n"
                                   b"r 0 0 0 1796305025 0 - - - - \nheld 1",
    "state_bad_lines": bytes([2]) + b"RELAYD-STATE 2\nwarned 0\nr 0 0 1 1 0 0 - - - - a\n"
                                    b"r 9 0 1 1 0 0 - - - - b\ngarbage\nwarned 1\n"
                                    b"r 1 0 1 1 0 0 - - - - c",
    "done": bytes([0]) + b"661BADAF165BD001\n661BADAF168DA002\n",
    "enc_greylisted": spool_enc(reply="451 4.3.0 greylisted, try later"),
    "enc_forged_line": spool_enc(reply="550 a\r\nr 0 1 0 0 250 0 - - - - injected",
                                 transport="smart host\n", relay="mx .ex\xe9[1.2.3.4]:25\r",
                                 status="5.1.1\r", rcpts=("a@b\nrcpt evil@x",)),
    "enc_full_arrays": spool_enc(full=True, reply="x" * 1100, relay="r" * 420,
                                 transport="t" * 300, detour="d" * 300, status="4.7.650"),
    "enc_out_of_range": spool_enc(state=4, code=600, cmd=12, body=3, rcpts=(), reclen=2**31),
    "enc_dsn": spool_enc(state=3, code=0, cmd=0, status="4.4.7", detour="fallback",
                         reply="delivery time expired; last reply: none", sender="",
                         client="local", body=2, smtputf8=True,
                         rcpts=("s\xe9nder@origin.test", "postmaster")),
}


def write(target, seeds):
    d = OUT / target
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    for name, data in seeds.items():
        (d / name).write_bytes(data)


def main():
    write("fuzz_server", SERVER)
    write("fuzz_client", CLIENT)
    write("fuzz_cmd", {"line%02d" % i: bytes([16 + i * 11]) + l.encode()
                       for i, l in enumerate(CMD_LINES)})
    write("fuzz_reply", REPLY)
    write("fuzz_data", DATA)
    write("fuzz_conf", conf_seeds())
    write("fuzz_classify_dsn", dsn_seeds())
    write("fuzz_spool_fmt", SPOOL)
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print("%d seeds, %d bytes" % (sum(1 for f in OUT.rglob("*") if f.is_file()), total))


if __name__ == "__main__":
    main()
