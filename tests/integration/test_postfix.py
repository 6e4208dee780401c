"""
test_postfix.py -- relayd behind a real Postfix, as docs/postfix.md sets it
up: Postfix's transport_maps send chosen domains to relayd with
`smtp:[127.0.0.1]:PORT`, relayd delivers them, and what relayd answers is
what Postfix acts on.

Each test runs a private Postfix instance (`postfix -c DIR`) with its own
configuration, queue and log under a fresh directory in /var/tmp; the
system's /etc/postfix is never read for configuration nor changed (checked).
The instance listens on 127.0.0.1:<free port> only, never looks up DNS,
delivers nothing locally, and refuses every domain not in its transport
map. It is stopped at teardown (`postfix -c DIR stop`, then SIGKILL by
master.pid if the master is still there).

  test_happy_path       Postfix -> relayd -> scripted server; both logs agree
  test_unrouted_bounces relayd's 550 5.1.2 at RCPT: Postfix bounces, sender
                        gets Postfix's DSN
  test_relayd_dsn_comes_back  final server 550: relayd bounces, its DSN from
                        <> travels back through Postfix to the sender
  test_relayd_4xx_defers relayd's 452 4.5.3 at RCPT: Postfix defers that
                        recipient and delivers it on its retry

Needs root (Postfix starts as root) and the postfix package; without them
the tests fail with what to do (`make test` installs postfix).
"""

import email
import email.policy
import os
import re
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from harness import free_port, queued_re, sent_re, simple_message, transport

POSTFIX_DIRS = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")
SENDER = "sender@origin.test"
WAIT = 15.0

MASTER_CF = """\
# written by tests/integration/test_postfix.py: Debian's master.cf with
# chroot n, smtpd on {listen} only, no local/virtual/lmtp/tlsmgr/pipe.
{listen} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def postfix_cmd(name: str) -> str:
    """The path of a Postfix program; fails (not skips) when missing."""
    for d in POSTFIX_DIRS:
        p = Path(d) / name
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    found = shutil.which(name)
    if found:
        return found
    pytest.fail(f"{name} not found: Postfix is not installed. `make test` installs it "
                f"(Debian package postfix; as root: apt-get install postfix)", pytrace=False)


def etc_postfix_snapshot():
    """Names, sizes and mtimes under /etc/postfix: must not change."""
    out = []
    for root, dirs, files in os.walk("/etc/postfix"):
        for n in sorted(dirs + files):
            p = os.path.join(root, n)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            out.append((p, st.st_size, st.st_mtime_ns, st.st_mode))
    return sorted(out)


def pid_alive(pid: int) -> bool:
    """True while PID exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


class Postfix:
    """A private Postfix instance: config, queue, data and log under BASE."""

    def __init__(self, base: Path, port: int, transports: dict, main: dict):
        self.base = base
        self.port = port
        self.etc = base / "etc"
        self.spool = base / "spool"
        self.data = base / "data"
        self.maillog = base / "maillog"
        self.transports = transports
        self.main = main
        self.started = False

    def setup(self):
        for d in (self.etc, self.spool, self.data):
            d.mkdir(mode=0o755)
            os.chmod(d, 0o755)
        shutil.chown(self.data, "postfix", "postfix")
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.spool),
            "data_directory": str(self.data),
            "maillog_file": str(self.maillog),
            "myhostname": "postfix.test",
            "mydomain": "test",
            "myorigin": "$myhostname",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mydestination": "",
            "local_recipient_maps": "",
            "relay_domains": "",
            "alias_maps": "",
            "alias_database": "",
            "local_transport": "error:local delivery disabled",
            "mynetworks": "127.0.0.0/8",
            "mynetworks_style": "host",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "smtpd_recipient_restrictions": "",
            "smtp_dns_support_level": "disabled",
            "smtp_host_lookup": "native",
            "smtpd_peername_lookup": "no",
            "biff": "no",
            "default_transport": "error:not routed in this test instance",
            "transport_maps": f"hash:{self.etc}/transport",
            "smtpd_tls_security_level": "none",
            "smtp_tls_security_level": "none",
            "maximal_queue_lifetime": "1h",
            "bounce_queue_lifetime": "1h",
        }
        settings.update(self.main)
        (self.etc / "main.cf").write_text(
            "# written by tests/integration/test_postfix.py\n"
            + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        (self.etc / "master.cf").write_text(MASTER_CF.format(listen=f"127.0.0.1:{self.port}"))
        (self.etc / "transport").write_text(
            "".join(f"{dom} {nexthop}\n" for dom, nexthop in self.transports.items()))
        self.run("postmap", "-c", str(self.etc), f"hash:{self.etc}/transport")

    def run(self, prog: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run([postfix_cmd(prog), *args], capture_output=True, text=True,
                           timeout=20, env=dict(os.environ, MAIL_CONFIG=str(self.etc)))
        if check and p.returncode != 0:
            pytest.fail(f"{prog} {' '.join(args)}: exit {p.returncode}\n{p.stdout}{p.stderr}\n"
                        f"--- maillog ---\n{self.log()}", pytrace=False)
        return p

    def start(self):
        self.setup()
        self.run("postfix", "-c", str(self.etc), "start")
        self.started = True
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=2) as s:
                    s.noop()
                return self
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"Postfix did not listen on 127.0.0.1:{self.port} within {WAIT:g}s\n"
                    f"--- maillog ---\n{self.log()}", pytrace=False)

    def master_pid(self):
        try:
            return int((self.spool / "pid" / "master.pid").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def stop(self) -> str:
        """Stop the instance; returns a problem as text, or ""."""
        if not self.started:
            return ""
        self.started = False
        pid = self.master_pid()
        self.run("postfix", "-c", str(self.etc), "stop", check=False)
        if pid is None:
            return ""
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            return f"Postfix master {pid} was still running 10s after `postfix stop`; killed"
        return ""

    def log(self) -> str:
        try:
            return self.maillog.read_text(errors="replace")
        except FileNotFoundError:
            return "(no maillog)"

    def wait_log(self, regex: str, timeout: float = WAIT) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(regex, self.log(), re.M)
            if m:
                return m
            if time.monotonic() >= deadline:
                pytest.fail(f"timed out after {timeout:g}s waiting for Postfix log line "
                            f"/{regex}/\n--- maillog ---\n{self.log()}", pytrace=False)
            time.sleep(0.05)

    def submit(self, rcpts, content: bytes, sender: str = SENDER):
        """One message over SMTP to this instance's smtpd; all accepted."""
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            s.ehlo("client.test")
            refused = s.sendmail(sender, rcpts, content)
        assert not refused, f"Postfix refused {refused}\n--- maillog ---\n{self.log()}"


@pytest.fixture
def postfix(request):
    """postfix(transports={domain: nexthop}, main={key: value}, port=None)
    -> a running private Postfix instance, stopped and removed at teardown."""
    if os.geteuid() != 0:
        pytest.fail("the Postfix tests need root: `postfix start` runs as root "
                    "(run `make test` as root)", pytrace=False)
    postfix_cmd("postfix")
    postfix_cmd("postmap")
    before = etc_postfix_snapshot()
    made = []

    def factory(transports, main=None, port=None):
        # /var/tmp, mode 0755: Postfix wants a root-owned tree that its
        # postfix user can traverse (pytest's tmp_path is mode 0700).
        base = Path(tempfile.mkdtemp(prefix="relayd-postfix.", dir="/var/tmp"))
        os.chmod(base, 0o755)
        pf = Postfix(base, port or free_port(), transports, main or {})
        made.append(pf)
        return pf.start()

    yield factory
    problems = [p for p in (pf.stop() for pf in made) if p]
    for pf in made:
        shutil.rmtree(pf.base, ignore_errors=True)
    assert etc_postfix_snapshot() == before, "the system's /etc/postfix was changed"
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


def postfix_line(rcpt: str, status: str, relayd_port: int, rcpt_re: bool = False) -> str:
    """Postfix's smtp(8) outcome line for RCPT (a regex if RCPT_RE) handed
    to relayd."""
    rcpt = rcpt if rcpt_re else re.escape(rcpt)
    return (rf"postfix/smtp\[\d+\]: (?P<qid>\w+): to=<{rcpt}>, "
            rf"relay=127\.0\.0\.1\[127\.0\.0\.1\]:{relayd_port}, .*"
            rf"status={status} \((?P<reason>.*)\)$")


def dsn_of(server):
    """The first message from <> that SERVER received, parsed."""
    server.wait_for(lambda s: any(m.mail_from in ("", "<>") for m in s.messages), WAIT,
                    "a DSN from <>")
    m = [m for m in server.messages if m.mail_from in ("", "<>")][0]
    return email.message_from_bytes(m.content, policy=email.policy.default)


def test_happy_path(postfix, start_relayd, scripted):
    final = scripted("127.0.0.2", name="final")
    r = start_relayd(transports={"final": transport(final)}, routes={"relayd.test": "final"})
    pf = postfix({"relayd.test": f"smtp:[127.0.0.1]:{r.port}"})

    content = simple_message(subject="through postfix", frm=SENDER, to="user@relayd.test")
    pf.submit(["user@relayd.test"], content)

    msg = final.wait_messages(1, WAIT)[0]
    assert msg.mail_from == SENDER and msg.rcpt_tos == ["user@relayd.test"], \
        f"final server got from=<{msg.mail_from}> to={msg.rcpt_tos}"
    assert b"Subject: through postfix\r\n" in msg.content
    headers = msg.content.split(b"\r\n\r\n", 1)[0]
    received = re.findall(rb"^Received: [^\r\n]*(?:\r\n[ \t][^\r\n]*)*", headers, re.M)
    assert (len(received) == 2 and b"by relay.test (relayd)" in received[0]
            and b"by postfix.test (Postfix)" in received[1]), \
        f"want relayd's Received: on top of Postfix's, got {received}"

    # relayd: accepted from Postfix, then sent to the final server
    q = r.wait_log(queued_re(sender=SENDER))
    assert q.group("clientip") == "127.0.0.1" and q.group("nrcpt") == "1"
    s = r.wait_log(sent_re("user@relayd.test", qid=q.group("qid"), status="sent",
                           transport="final"))
    assert s.group("relayport") == str(final.port)

    # Postfix: sent to relayd, and relayd's queue id in the reply
    m = pf.wait_log(postfix_line("user@relayd.test", "sent", r.port))
    assert f"queued as {q.group('qid')}" in m.group("reason"), m.group(0)


def test_unrouted_bounces(postfix, start_relayd, scripted):
    final = scripted("127.0.0.2", name="final")
    mailbox = scripted("127.0.0.3", name="mailbox")
    r = start_relayd(transports={"final": transport(final)}, routes={"relayd.test": "final"})
    pf = postfix({"relayd.test": f"smtp:[127.0.0.1]:{r.port}",
                  "unrouted.test": f"smtp:[127.0.0.1]:{r.port}",
                  "origin.test": f"smtp:{mailbox.relay}"})

    pf.submit(["user@unrouted.test"],
              simple_message(subject="nowhere", frm=SENDER, to="user@unrouted.test"))

    m = pf.wait_log(postfix_line("user@unrouted.test", "bounced", r.port))
    assert "550 5.1.2" in m.group("reason") and "in reply to RCPT TO" in m.group("reason"), \
        m.group(0)
    assert re.search(r"dsn=5\.1\.2,", m.group(0)), m.group(0)
    # nothing was queued by relayd, nothing reached the final server
    assert not r.find_log(queued_re(sender=SENDER)), "relayd queued a message it refused"
    assert final.messages == []
    # Postfix's own bounce reaches the sender
    dsn = dsn_of(mailbox)
    assert dsn.get_content_type() == "multipart/report"
    assert "5.1.2" in dsn.as_string() and "user@unrouted.test" in dsn.as_string()


def test_relayd_dsn_comes_back(postfix, start_relayd, scripted):
    final = scripted("127.0.0.2", name="final",
                     rcpt_replies="550 5.1.1 <nobody@relayd.test>: no such user")
    mailbox = scripted("127.0.0.3", name="mailbox")
    pf_port = free_port()
    # relayd sends mail for origin.test (its DSNs) back to Postfix
    r = start_relayd(transports={"final": transport(final),
                                 "back": transport(f"[127.0.0.1]:{pf_port}")},
                     routes={"relayd.test": "final", "origin.test": "back"})
    pf = postfix({"relayd.test": f"smtp:[127.0.0.1]:{r.port}",
                  "origin.test": f"smtp:{mailbox.relay}"}, port=pf_port)

    pf.submit(["nobody@relayd.test"],
              simple_message(subject="to nobody", frm=SENDER, to="nobody@relayd.test"))

    # Postfix handed it over; relayd bounced it
    pf.wait_log(postfix_line("nobody@relayd.test", "sent", r.port))
    r.wait_log(sent_re("nobody@relayd.test", status="bounced", transport="final"))
    # relayd's DSN, from <>, came back through Postfix to the sender
    dsn = dsn_of(mailbox)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn["From"] and "MAILER-DAEMON@relay.test" in dsn["From"], dsn["From"]
    assert "550 5.1.1" in dsn.as_string()
    pf.wait_log(r"postfix/smtp\[\d+\]: \w+: to=<sender@origin\.test>, relay=127\.0\.0\.3"
                r"\[127\.0\.0\.3\]:\d+, .*status=sent")


def test_relayd_4xx_defers(postfix, start_relayd, scripted):
    final = scripted("127.0.0.2", name="final")
    r = start_relayd(transports={"final": transport(final)}, routes={"relayd.test": "final"},
                     listen={"max_recipients": 1})
    # retry deferred mail within a second or two
    pf = postfix({"relayd.test": f"smtp:[127.0.0.1]:{r.port}"},
                 main={"queue_run_delay": "1s", "minimal_backoff_time": "1s",
                       "maximal_backoff_time": "2s"})

    pf.submit(["one@relayd.test", "two@relayd.test"],
              simple_message(subject="two rcpts", frm=SENDER, to="one@relayd.test"))

    # relayd took one recipient per transaction; the other waited in
    # Postfix's queue (452 4.5.3) and came in a second transaction
    final.wait_for(lambda s: sorted(x for m in s.messages for x in m.rcpt_tos)
                   == ["one@relayd.test", "two@relayd.test"], WAIT, "both recipients")
    assert all(len(m.rcpt_tos) == 1 for m in final.messages)
    for rcpt in ("one@relayd.test", "two@relayd.test"):
        pf.wait_log(postfix_line(rcpt, "sent", r.port))
    d = pf.wait_log(postfix_line(r"(?:one|two)@relayd\.test", "deferred", r.port, rcpt_re=True))
    assert "dsn=4.5.3" in d.group(0) and "452 4.5.3" in d.group("reason"), d.group(0)
    assert "status=bounced" not in pf.log(), pf.log()
