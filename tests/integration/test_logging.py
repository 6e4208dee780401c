"""
test_logging.py -- relayd's log as operators and Postfix's tools read it
(contract: "Log lines"; docs/operation.md, "The log"; conf/relayd.service).

  test_pflogsumm_counts      a scenario's log, stored as rsyslog stores it, read
                             by Debian's `pflogsumm --syslog-name=relayd`: its
                             received, delivered, deferred, bounced and rejected
                             counts are exact
  test_noqueue_reject_lines  every kind of refusal: one Postfix-style
                             "NOQUEUE: reject:" line from relayd/smtpd, counted
                             in relayd_rejects_total{code,reason} and in
                             `relayctl stats` rejected (and by pflogsumm)
  test_journal_stream        relayd -d with stderr connected to the journal
                             ($JOURNAL_STREAM, as systemd sets it): sd-daemon(3)
                             <N> prefixes, the identifiers, no timestamp or pid
                             of relayd's own; start-up errors and fatal errors too
  test_started_as_the_unit   relayd started as conf/relayd.service starts it
                             (ExecStart=, stderr the journal, /dev/log a socket
                             of the test's via $RELAYD_SYSLOG_SOCKET): the parent
                             exits 0 once up; each line is one syslog datagram
                             with facility mail, its priority, identifier and
                             pid, and pflogsumm reads them as rsyslog stores
                             them; a bad configuration exits 1 (which the unit
                             does not restart) with <3> lines on stderr

How a log becomes "the way the journal or rsyslog stores it":
  * relayd -d writes `2024-03-05T07:08:09.456 relayd/smtp[PID]: TEXT`;
    rsyslog's traditional file format is `Mar  5 07:08:09 HOST relayd/smtp[PID]:
    TEXT`. syslog_file() rewrites the timestamp and inserts a host name; the
    identifier, pid and text are relayd's bytes.
  * a syslog datagram is `<PRI>Mar  5 07:08:09 relayd/smtp[PID]: TEXT` (what
    syslog(3) sends); rsyslog drops <PRI> (it files by facility and priority)
    and inserts its host name after the timestamp: datagram_file().

Assumptions beyond the contract: refusal reasons are the words of
docs/relayctl.md (relay_denied, no_route, dns_tempfail, too_many_recipients,
message_too_large, bare_newline, nul, tls_required); $RELAYD_SYSLOG_SOCKET
replaces /dev/log (relayd(8), ENVIRONMENT).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import (REPO, RawClient, free_port, make_config, queued_re, sent_re,
                     simple_message, smtp_send, transport, wait_until, wire_body)
from test_metrics import scrape, value
from tlsca import TestCA

MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
IDENTS = ("relayd", "relayd/smtpd", "relayd/qmgr", "relayd/smtp")
STDERR_LINE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d:\d\d:\d\d)\.\d{3} "
                         r"(relayd(?:/\w+)?\[\d+\]: .*)$")
DATAGRAM = re.compile(r"^<(?P<pri>\d{1,3})>(?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]\d) "
                      r"(?P<time>\d\d:\d\d:\d\d) (?P<ident>[^\[\s:]+)\[(?P<pid>\d+)\]: "
                      r"(?P<text>.*)$", re.S)
HOST = "mail"


def syslog_file(log_text: str) -> str:
    """relayd -d's lines as rsyslog's traditional file format stores them."""
    out = []
    for ln in log_text.splitlines():
        m = STDERR_LINE.match(ln)
        if m:
            out.append(f"{MONTHS[int(m[2]) - 1]} {int(m[3]):2d} {m[4]} {HOST} {m[5]}")
    return "\n".join(out) + "\n"


def datagram_file(grams) -> str:
    """Syslog datagrams as rsyslog stores them: no <PRI>, its host name."""
    out = []
    for g in grams:
        m = DATAGRAM.match(g)
        assert m, g
        out.append(f"{m['mon']} {m['day']} {m['time']} {HOST} {m['ident']}[{m['pid']}]: "
                   f"{m['text']}")
    return "\n".join(out) + "\n"


def pflogsumm(log: str, tmp_path: Path) -> dict:
    """Run pflogsumm --syslog-name=relayd on LOG; its Grand Totals as a dict
    (received, delivered, deferred, deferrals, bounced, rejected) and the
    whole report under "text"."""
    exe = shutil.which("pflogsumm")
    if not exe:
        pytest.fail("pflogsumm not found; `make test` installs it (Debian package pflogsumm)",
                    pytrace=False)
    f = tmp_path / "mail.log"
    f.write_text(log)
    p = subprocess.run([exe, "--syslog-name=relayd", str(f)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, f"pflogsumm: exit {p.returncode}\n{p.stderr}\n{p.stdout}"
    totals = {"text": p.stdout}
    grand = p.stdout.split("Grand Totals", 1)[-1].split("Per-Day", 1)[0]
    for m in re.finditer(r"(?m)^\s*(\d+)\s+(received|delivered|deferred|bounced|rejected)\b"
                         r"(?:\s+\((\d+)\s+deferrals\))?", grand):
        totals.setdefault(m[2], int(m[1]))
        if m[3]:
            totals["deferrals"] = int(m[3])
    return totals


def stats(r) -> dict:
    p = r.ctl("stats")
    assert p.returncode == 0, p
    return {k: int(v) for k, v in (ln.split() for ln in p.stdout.splitlines())}


def noqueue_re(stage, client_ip, reply, sender=None, rcpt=None, proto="ESMTP", helo=None):
    """Regex for the whole line of one refusal, with its identifier."""
    tail = ""
    if sender is not None:
        tail += f" from=<{re.escape(sender)}>"
    if rcpt is not None:
        tail += f" to=<{re.escape(rcpt)}>"
    return (rf"(?m)\brelayd/smtpd\[\d+\]: NOQUEUE: reject: {stage} from "
            rf"unknown\[{re.escape(client_ip)}\]: {re.escape(reply)};{tail} proto={proto} "
            rf"helo=<{re.escape(helo)}>$")


# -- pflogsumm -----------------------------------------------------------------

def test_pflogsumm_counts(start_relayd, scripted, tmp_path):
    def rcpt(a):
        if a.startswith("bad@"):
            return "550 5.1.1 <bad@dest.test>: Recipient address rejected: User unknown"
        if a.startswith("later@"):
            return "450 4.2.0 <later@dest.test>: try again later"
        return None
    sink = scripted("127.0.0.2", name="sink", rcpt_replies=rcpt)
    r = start_relayd(transports={"sink": transport(sink)},
                     routes={"dest.test": "sink", "origin.test": "sink"},
                     listen={"allow": ["127.0.0.1/32"], "max_message_size": "10K"},
                     queue={"retry": ["1h"]})
    # Received 3; delivered 2 + the bounce's DSN to the sender; deferred 1;
    # bounced 1.
    q1 = r.send("a@origin.test", ["good1@dest.test"], simple_message("one"))
    q2 = r.send("a@origin.test", ["good2@dest.test", "bad@dest.test"], simple_message("two"))
    q3 = r.send("a@origin.test", ["later@dest.test"], simple_message("three"))
    # Refused 4: no route, relay denied, too big (MAIL), bare LF (end of DATA).
    with r.client() as c:
        c.cmd("EHLO client.test")
        assert c.cmd("MAIL FROM:<a@origin.test>").code == 250
        assert c.cmd("RCPT TO:<x@nowhere.test>").code == 550
        assert c.cmd("RSET").code == 250
        assert c.cmd("MAIL FROM:<a@origin.test> SIZE=50000").code == 552
        assert c.cmd("MAIL FROM:<a@origin.test>").code == 250
        assert c.cmd("RCPT TO:<y@dest.test>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: bare\nLF\r\n.\r\n")
        assert c.read_reply().code == 550
    with r.client(source="127.0.0.3") as c:
        c.cmd("EHLO outsider.test")
        assert c.cmd("MAIL FROM:<a@origin.test>").code == 250
        assert c.cmd("RCPT TO:<y@dest.test>").code == 554
    r.wait_log(sent_re("good1@dest.test", qid=q1, status="sent"))
    r.wait_log(sent_re("good2@dest.test", qid=q2, status="sent"))
    r.wait_log(sent_re("bad@dest.test", qid=q2, status="bounced"))
    r.wait_log(sent_re("later@dest.test", qid=q3, status="deferred"))
    r.wait_log(sent_re("a@origin.test", status="sent"))  # the DSN
    assert len(r.find_log(r"NOQUEUE: reject: ")) == 4, r.log_text()
    r.stop()

    got = pflogsumm(syslog_file(r.log_text()), tmp_path)
    want = {"received": 3, "delivered": 3, "deferred": 1, "deferrals": 1, "bounced": 1,
            "rejected": 4}
    assert {k: got.get(k) for k in want} == want, got["text"]
    # Its details come from the right fields: per destination domain (sent,
    # deferrals), the sender with its size, the reasons.
    text = got["text"]
    assert re.search(r"(?m)^\s+2\s+\d+\s+1\s+.*\sdest\.test$", text), text
    assert re.search(r"(?m)^\s+1\s+\d+\s+0\s+.*\sorigin\.test$", text), text
    assert re.search(r"Senders by message count\n-+\n\s+3\s+a@origin\.test\n", text), text
    for words in ("Relay access denied (total: 1)",
                  "no route for domain nowhere.test (total: 1)",
                  "Message size exceeds fixed limit (total: 1)",
                  "User unknown", "try again later"):
        assert words in text, f"{words!r} not in\n{text}"


# -- refusals -------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    ca = TestCA(tmp_path_factory.mktemp("ca"))
    ca.good = ca.issue("relay.test", sans=["relay.test"])
    return ca


def test_noqueue_reject_lines(start_relayd, scripted, ca, tmp_path):
    sink = scripted("127.0.0.2", name="sink")
    mport, tport = free_port(), free_port()
    cert, key = ca.good
    tls_listener = (f'listen "submission" {{\n\taddress = "127.0.0.1"\n\tport = {tport}\n'
                    f'\ttls = "starttls"\n\ttls_cert = "{cert}"\n\ttls_key = "{key}"\n'
                    f'\trequire_tls = true\n}}\n')
    r = start_relayd(transports={"sink": transport(sink)}, routes={"dest.test": "sink"},
                     listen={"allow": ["127.0.0.1/32"], "max_recipients": 2,
                             "max_message_size": "2K"},
                     extra=f'metrics_listen = "127.0.0.1:{mport}"\n{tls_listener}')
    s0 = stats(r)
    assert s0["rejected"] == 0
    want = []   # (regex of the whole line, code, reason)

    with r.client(source="127.0.0.3") as c:
        c.cmd("EHLO outsider.test")
        c.cmd("MAIL FROM:<s@origin.test>")
        rep = c.cmd("RCPT TO:<u@dest.test>")
        assert rep.code == 554
        want.append((noqueue_re("RCPT", "127.0.0.3", rep.line, "s@origin.test", "u@dest.test",
                                helo="outsider.test"), "554", "relay_denied"))
    with r.client() as c:
        c.cmd("HELO old.test")
        c.cmd("MAIL FROM:<>")
        rep = c.cmd("RCPT TO:<x@nowhere.test>")
        assert rep.line.startswith("550 5.1.2 "), rep
        want.append((noqueue_re("RCPT", "127.0.0.1", rep.line, "", "x@nowhere.test",
                                proto="SMTP", helo="old.test"), "550", "no_route"))
        assert c.cmd("RCPT TO:<1@dest.test>").code == 250
        assert c.cmd("RCPT TO:<2@dest.test>").code == 250
        rep = c.cmd("RCPT TO:<3@dest.test>")
        assert rep.line.startswith("452 4.5.3 "), rep
        want.append((noqueue_re("RCPT", "127.0.0.1", rep.line, "", "3@dest.test",
                                proto="SMTP", helo="old.test"), "452", "too_many_recipients"))
    with r.client() as c:
        c.cmd("EHLO client.test")
        rep = c.cmd("MAIL FROM:<big@origin.test> SIZE=100000")
        assert rep.line.startswith("552 5.3.4 "), rep
        want.append((noqueue_re("MAIL", "127.0.0.1", rep.line, "big@origin.test",
                                helo="client.test"), "552", "message_too_large"))
        for reason, body, code in (
                ("message_too_large", b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n", "552"),
                ("bare_newline", b"Subject: bare\r\n\r\na\nb\r\n", "550"),
                ("nul", b"Subject: nul\r\n\r\na\0b\r\n", "550")):
            assert c.cmd("MAIL FROM:<s@origin.test>").code == 250
            assert c.cmd("RCPT TO:<first@dest.test>").code == 250
            assert c.cmd("RCPT TO:<last@dest.test>").code == 250
            assert c.cmd("DATA").code == 354
            c.send(wire_body(body * (40 if reason == "message_too_large" else 1)))
            rep = c.read_reply()
            assert rep.code == int(code), (reason, rep)
            # The last recipient, as Postfix's log names.
            want.append((noqueue_re("END-OF-MESSAGE", "127.0.0.1", rep.line, "s@origin.test",
                                    "last@dest.test", helo="client.test"), code, reason))
        # Not refusals of mail: syntax and sequence errors.
        assert c.cmd("MAIL FROM:junk").code == 501
        assert c.cmd("RCPT TO:<a@dest.test>").code == 503
    with RawClient("127.0.0.1", tport) as c:
        c.cmd("EHLO client.test")
        rep = c.cmd("MAIL FROM:<s@origin.test>")
        assert rep.line.startswith("530 5.7.0 "), rep
        want.append((noqueue_re("MAIL", "127.0.0.1", rep.line, "s@origin.test",
                                helo="client.test"), "530", "tls_required"))
    # Something accepted in between logs no refusal.
    qid = r.send("s@origin.test", ["ok@dest.test"], simple_message("fine"))
    r.wait_log(sent_re("ok@dest.test", qid=qid, status="sent"))

    log = r.log_text()
    for rx, code, reason in want:
        assert len(re.findall(rx, log)) == 1, f"{reason}: want one line /{rx}/\n{log[-4000:]}"
    assert len(re.findall(r"NOQUEUE: reject: ", log)) == len(want), log
    samples, types = scrape(mport)
    assert types["relayd_rejects_total"] == "counter"
    counts = {}
    for _, code, reason in want:
        counts[(code, reason)] = counts.get((code, reason), 0) + 1
    got = {(dict(k[1])["code"], dict(k[1])["reason"]): v for k, v in samples.items()
           if k[0] == "relayd_rejects_total"}
    assert got == counts, (got, counts)
    assert stats(r)["rejected"] == len(want) == 8
    r.stop()
    assert pflogsumm(syslog_file(r.log_text()), tmp_path)["rejected"] == len(want)

    # An mx: route needs the MX hosts of every other domain; with the DNS
    # server dead that is 451 4.4.3.
    mport2 = free_port()
    r2 = start_relayd(transports={"sink": transport(sink)}, routes={"mx:.google.test": "sink"},
                      extra=f'metrics_listen = "127.0.0.1:{mport2}"')
    with r2.client() as c:
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<s@origin.test>")
        rep = c.cmd("RCPT TO:<u@hosted.test>", timeout=15)
        assert rep.line.startswith("451 4.4.3 "), rep
    rx = noqueue_re("RCPT", "127.0.0.1", rep.line, "s@origin.test", "u@hosted.test",
                    helo="client.test")
    assert len(re.findall(rx, r2.log_text())) == 1, r2.log_text()
    samples, _ = scrape(mport2)
    assert value(samples, "relayd_rejects_total", code="451", reason="dns_tempfail") == 1
    assert stats(r2)["rejected"] == 1


# -- systemd: the journal's stderr, and the unit's daemon mode ----------------------

def journal_env(stderr_file) -> dict:
    """The environment systemd gives a service whose stderr is the journal:
    $JOURNAL_STREAM names that stream's device and inode."""
    st = os.fstat(stderr_file.fileno())
    env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM",
                                                              "RELAYD_SYSLOG_SOCKET")}
    env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    return env


JOURNAL_LINE = re.compile(r"^<(?P<level>[0-7])>(?P<ident>relayd(?:/smtpd|/qmgr|/smtp)?): "
                          r"(?P<text>.*)$")


def no_own_stamp(text: str) -> bool:
    """TEXT carries no timestamp or pid of relayd's own."""
    return not re.match(r"^(?:\d{4}-\d\d-\d\dT|[A-Z][a-z]{2} [ \d]\d \d\d:|\S+\[\d+\]: )", text)


def test_journal_stream(relayd_path, scripted, tmp_path):
    sink = scripted("127.0.0.2", name="sink")
    port = free_port()
    conf = tmp_path / "relayd.conf"

    def config(spool="spool", extra=""):
        return make_config(port=port, spool=tmp_path / spool,
                           transports={"sink": transport(sink)}, routes={"dest.test": "sink"},
                           listen={"allow": ["127.0.0.1/32"]}, extra=extra)
    conf.write_text(config())
    errf = tmp_path / "stderr"
    with open(errf, "wb") as err:
        env = journal_env(err)
        # A sanitizer build: configurations replaced by a reload are kept on
        # purpose (relayd.c), which LeakSanitizer would print at exit.
        env["ASAN_OPTIONS"] = "detect_leaks=0"
        p = subprocess.Popen([relayd_path, "-d", "-v", "-f", str(conf)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=tmp_path)
    try:
        wait_until(lambda: b" started (" in errf.read_bytes() or p.poll() is not None, 10,
                   "relayd to start", lambda: errf.read_text())
        assert p.poll() is None, errf.read_text()
        qid = smtp_send("127.0.0.1", port, "s@origin.test", ["u@dest.test"],
                        simple_message("journal"))
        with RawClient("127.0.0.1", port, source="127.0.0.3") as c:
            c.cmd("EHLO outsider.test")
            c.cmd("MAIL FROM:<s@origin.test>")
            assert c.cmd("RCPT TO:<u@dest.test>").code == 554
        wait_until(lambda: re.search(sent_re("u@dest.test", qid=qid, status="sent"),
                                     errf.read_text()), 10, "the delivery", errf.read_text)
        # A reload with a warning, then one with errors.
        conf.write_text(config(spool="spool2"))
        p.send_signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in errf.read_text(), 10, "the reload",
                   errf.read_text)
        conf.write_text(config() + "\nnot_a_key = 1\n")
        p.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload failed" in errf.read_text(), 10, "the failed reload",
                   errf.read_text)
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(10)
    assert rc == 0, errf.read_text()[-3000:]
    lines = errf.read_text().splitlines()
    parsed = []
    for ln in lines:
        m = JOURNAL_LINE.match(ln)
        assert m, f"not a journal line: {ln!r}"
        assert no_own_stamp(m["text"]), f"relayd's own timestamp or pid: {ln!r}"
        parsed.append((int(m["level"]), m["ident"], m["text"]))

    def has(level, ident, rx):
        assert [t for lv, i, t in parsed if lv == level and i == ident and re.search(rx, t)], \
            f"no <{level}>{ident}: /{rx}/ in\n" + "\n".join(lines)
    has(6, "relayd", r"^relayd \S+ started \(0 queued\)$")
    has(6, "relayd/smtpd", rf"^{qid}: client=unknown\[127\.0\.0\.1\]$")
    has(6, "relayd/qmgr", queued_re(qid=qid, sender="s@origin.test"))
    has(6, "relayd/smtp", sent_re("u@dest.test", qid=qid, status="sent"))
    has(6, "relayd/smtpd", r"^NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.3\]: 554 5\.7\.1 ")
    has(4, "relayd", r"^warning: reload: spool changed")
    has(3, "relayd", r"^error: .*relayd\.conf:\d+: ")
    has(3, "relayd", r"^error: reload failed")
    has(7, "relayd/smtpd", r"^debug: connect from unknown\[127\.0\.0\.1\]")
    has(6, "relayd", r"^relayd stopped$")

    # Start-up errors: the configuration's (FILE:LINE: message, priority
    # err) and a fatal one (priority crit).
    conf.write_text(config() + "\nnot_a_key = 1\n")
    with open(errf, "wb") as err:
        p = subprocess.run([relayd_path, "-d", "-f", str(conf)], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=err, env=journal_env(err),
                           timeout=20)
    assert p.returncode == 1
    text = errf.read_text()
    assert re.fullmatch(rf"(<3>{re.escape(str(conf))}:\d+: [^\n]+\n)+", text), text
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        conf.write_text(make_config(port=busy.getsockname()[1], spool=tmp_path / "spool3"))
        with open(errf, "wb") as err:
            p = subprocess.run([relayd_path, "-d", "-f", str(conf)], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err, env=journal_env(err),
                               timeout=20)
    assert p.returncode == 1
    text = errf.read_text()
    assert re.search(r"(?m)^<2>relayd: fatal: .*127\.0\.0\.1", text), text
    assert all(JOURNAL_LINE.match(ln) for ln in text.splitlines()), text


class SyslogSocket:
    """A unix datagram socket standing in for /dev/log; keeps every datagram."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.grams = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                g = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.grams.append(g.decode("utf-8", "replace"))

    def all(self):
        with self.lock:
            return list(self.grams)

    def text(self):
        return "\n".join(self.all())

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


def unit_argv(relayd_path: str, conf: Path):
    """ExecStart= of conf/relayd.service, with the binary and file under test."""
    line = [ln for ln in (REPO / "conf/relayd.service").read_text().splitlines()
            if ln.startswith("ExecStart=")]
    assert len(line) == 1, line
    argv = line[0][len("ExecStart="):].split()
    assert argv[0] == "/usr/local/sbin/relayd", argv
    return [relayd_path] + [str(conf) if a == "/etc/relayd/relayd.conf" else a
                            for a in argv[1:]]


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_started_as_the_unit(relayd_path, scripted, tmp_path):
    sink = scripted("127.0.0.2", name="sink")
    port = free_port()
    conf = tmp_path / "relayd.conf"
    good = make_config(port=port, spool=tmp_path / "spool",
                       transports={"sink": transport(sink)}, routes={"dest.test": "sink"})
    conf.write_text(good)
    log = SyslogSocket(tmp_path / "dev-log")
    errf = tmp_path / "stderr"
    daemon = None
    try:
        with open(errf, "wb") as err:
            env = journal_env(err)
            env["RELAYD_SYSLOG_SOCKET"] = str(log.path)
            env["ASAN_OPTIONS"] = "detect_leaks=0"  # as above: the reload keeps the old one
            # Type=forking: the parent exits 0 once relayd is up.
            p = subprocess.run(unit_argv(relayd_path, conf), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err, env=env, cwd="/",
                               timeout=20)
        assert p.returncode == 0, errf.read_text()
        started = wait_until(lambda: re.search(r"relayd\[(\d+)\]: relayd \S+ started", log.text()),
                             10, "the start line", log.text)
        daemon = int(started[1])
        qid = smtp_send("127.0.0.1", port, "s@origin.test", ["u@dest.test"],
                        simple_message("syslog"))
        wait_until(lambda: re.search(sent_re("u@dest.test", qid=qid, status="sent"), log.text()),
                   10, "the delivery", log.text)
        with RawClient("127.0.0.1", port) as c:
            c.cmd("EHLO client.test")
            c.cmd("MAIL FROM:<s@origin.test>")
            assert c.cmd("RCPT TO:<x@nowhere.test>").code == 550
        conf.write_text(good + "\nnot_a_key = 1\n")
        os.kill(daemon, signal.SIGHUP)
        wait_until(lambda: "reload failed" in log.text(), 10, "the failed reload", log.text)
        os.kill(daemon, signal.SIGTERM)
        wait_until(lambda: "relayd stopped" in log.text() and gone(daemon), 10,
                   "relayd to stop", log.text)
        daemon = None
    finally:
        if daemon and not gone(daemon):
            os.kill(daemon, signal.SIGKILL)
        log.close()

    grams = log.all()
    parsed = []
    for g in grams:
        m = DATAGRAM.match(g)
        assert m, f"not a syslog datagram: {g!r}"
        assert "\n" not in g and no_own_stamp(m["text"]), f"one line, one timestamp: {g!r}"
        assert m["ident"] in IDENTS and m["mon"] in MONTHS, g
        assert int(m["pid"]) == int(started[1]), f"another pid: {g!r}"
        pri = int(m["pri"])
        assert pri >> 3 == 2, f"facility {pri >> 3}, want 2 (mail): {g!r}"
        parsed.append((pri & 7, m["ident"], m["text"]))

    def has(level, ident, rx):
        assert [t for lv, i, t in parsed if lv == level and i == ident and re.search(rx, t)], \
            f"no mail.{level} {ident}: /{rx}/ in\n" + "\n".join(grams)
    has(6, "relayd", r"^relayd \S+ started")
    has(6, "relayd/smtpd", rf"^{qid}: client=unknown\[127\.0\.0\.1\]$")
    has(6, "relayd/qmgr", queued_re(qid=qid, sender="s@origin.test"))
    has(6, "relayd/smtp", sent_re("u@dest.test", qid=qid, status="sent"))
    has(6, "relayd/smtpd", r"^NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.1\]: 550 5\.1\.2 ")
    has(3, "relayd", r"^error: reload failed")
    has(6, "relayd", r"^relayd stopped$")
    # What came before the detach is on stderr (the journal), each line once.
    for ln in errf.read_text().splitlines():
        m = JOURNAL_LINE.match(ln)
        assert m, f"stderr: {ln!r}"
        assert not [g for g in grams if g.endswith(m["text"])], f"logged twice: {ln!r}"
    # rsyslog's mail.log of these datagrams is pflogsumm's.
    got = pflogsumm(datagram_file(grams), tmp_path)
    assert (got["received"], got["delivered"], got["rejected"]) == (1, 1, 1), got["text"]

    # A configuration that cannot start: exit status 1, which the unit does
    # not restart (RestartPreventExitStatus=1), and why, at priority err.
    conf.write_text(good + "\nnot_a_key = 1\n")
    log = SyslogSocket(tmp_path / "dev-log2")
    try:
        with open(errf, "wb") as err:
            env = journal_env(err)
            env["RELAYD_SYSLOG_SOCKET"] = str(log.path)
            p = subprocess.run(unit_argv(relayd_path, conf), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err, env=env, timeout=20)
        assert p.returncode == 1
        unit = (REPO / "conf/relayd.service").read_text()
        assert re.search(r"(?m)^RestartPreventExitStatus=1$", unit)
        text = errf.read_text()
        assert re.fullmatch(rf"(<3>{re.escape(str(conf))}:\d+: [^\n]+\n)+", text), text
        time.sleep(0.2)
        assert log.all() == []
    finally:
        log.close()
