"""
test_benchtools.py -- bench/tools' smtpload and smtpsink (issue 19), the
STARTTLS-speaking stand-ins for Postfix's smtp-source and smtp-sink that
bench/tlscells.py drives: smtpload against smtpsink in plaintext, with
STARTTLS verified against the test CA, with session resumption under TLS
1.2 and 1.3; -r, -M and -d against a scripted server that records each
envelope; the errors that must end a run with exit 1 and the reason (a 450
from the sink's -r, a server that hangs up after its greeting, nobody
listening); and the sink alone against a client that splits the final dot
across TCP segments and pipelines MAIL/RCPT/DATA.

The binaries are $RELAYD_BUILD/bench/smtpload and smtpsink (`make bench-tools`).
"""

import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from harness import RawClient, RawServer, build_dir, free_port, require_binary, wait_until
from tlsca import TestCA

SUMMARY = re.compile(r"^msgs=(\d+) errors=(\d+) seconds=([0-9.]+) rate=([0-9.]+) "
                     r"connections=(\d+) handshakes=(\d+) resumed=(\d+)$")
FIELDS = ("msgs", "errors", "seconds", "rate", "connections", "handshakes", "resumed")
LOAD_TIMEOUT = 30


def tool(name: str) -> str:
    """$RELAYD_BUILD/bench/NAME, or fail the test saying how to build it."""
    path = build_dir() / "bench" / name
    if not (path.is_file()):
        pytest.fail(f"{name} not built: {path}; run `make bench-tools`", pytrace=False)
    return require_binary(path)


class Sink:
    """smtpsink -c on a free port; .counters() reads its last counters line."""

    def __init__(self, workdir: Path, *args: str):
        self.port = free_port()
        self.out = workdir / f"sink-{self.port}.out"
        self.err = workdir / f"sink-{self.port}.err"
        out, err = open(self.out, "ab"), open(self.err, "wb")
        self.proc = subprocess.Popen([tool("smtpsink"), "-c", *args, f"127.0.0.1:{self.port}",
                                      "1024"], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        out.close()
        err.close()
        wait_until(self.greets, 10, f"smtpsink on port {self.port}", self.stderr)

    def greets(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"smtpsink exited {self.proc.returncode}: {self.stderr()}", pytrace=False)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(100).startswith(b"220 ")
        except OSError:
            return False

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def counters(self) -> dict:
        """The last line, "sess=N quit=N tls=N resumed=N mesg=N\\r", as a dict."""
        lines = [ln for ln in self.out.read_bytes().split(b"\r") if ln]
        if not lines:
            return {}
        return {k.decode(): int(v) for k, v in re.findall(rb"(\w+)=(\d+)", lines[-1])}

    def wait_mesg(self, n: int) -> dict:
        wait_until(lambda: self.counters().get("mesg", 0) >= n, 10, f"smtpsink counting {n}",
                   lambda: repr(self.counters()))
        return self.counters()

    def stop(self):
        """SIGTERM: it prints the counters once more and exits 0, with nothing on
        stderr (under ASan: no leak report)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail("smtpsink ignored SIGTERM", pytrace=False)
        assert self.proc.returncode == 0, f"smtpsink exited {self.proc.returncode}: {self.stderr()}"
        assert self.stderr() == "", self.stderr()


@pytest.fixture
def sink(tmp_path):
    """sink(*ARGS) -> Sink, stopped (and checked) at teardown."""
    made = []

    def factory(*args):
        s = Sink(tmp_path, *args)
        made.append(s)
        return s

    yield factory
    for s in made:
        s.stop()


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    ca = TestCA(tmp_path_factory.mktemp("ca"))
    ca.ecdsa = ca.issue("sink.test", ip_sans=["127.0.0.1"])
    ca.other = TestCA(tmp_path_factory.mktemp("other"), name="another CA")
    return ca


def load(port: int, *args: str, timeout: float = LOAD_TIMEOUT):
    """Run smtpload ARGS against 127.0.0.1:PORT: (exit code, summary dict, stderr)."""
    t0 = time.monotonic()
    p = subprocess.run([tool("smtpload"), *args, f"127.0.0.1:{port}"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1, f"want one summary line, got {p.stdout!r} (stderr {p.stderr!r})"
    m = SUMMARY.match(lines[0])
    assert m, f"summary line {lines[0]!r} does not match {SUMMARY.pattern}"
    res = {k: (float(v) if k in ("seconds", "rate") else int(v))
           for k, v in zip(FIELDS, m.groups())}
    res["wall"] = time.monotonic() - t0
    return p.returncode, res, p.stderr


def test_plaintext_one_message_per_connection(sink):
    s = sink()
    rc, res, err = load(s.port, "-q", "-m", "200", "-s", "10", "-l", "1024")
    assert rc == 0, err
    assert err == ""
    assert (res["msgs"], res["errors"], res["connections"], res["handshakes"],
            res["resumed"]) == (200, 0, 200, 0, 0)
    # rate = msgs / seconds, where seconds is printed to the millisecond
    assert abs(res["rate"] * res["seconds"] - 200) <= res["rate"] * 0.0005 + 0.1, res
    got = s.wait_mesg(200)
    assert got["mesg"] == 200 and got["tls"] == 0
    # sess: the 200 and the fixture's probe for the greeting
    wait_until(lambda: s.counters().get("sess") == 201, 5, "201 sessions ended",
               lambda: repr(s.counters()))
    assert s.counters()["quit"] == 200
    # bench.py's Sink.count() reads the file's tail this way
    tail = s.out.read_bytes()[-256:]
    assert int(re.findall(rb"mesg=(\d+)\r", tail)[-1]) == 200


def test_reuse_a_thousand_sessions(sink):
    """-s 1000 (file descriptors raised as needed), then -d: one connection each."""
    s = sink()
    rc, res, err = load(s.port, "-q", "-m", "2000", "-s", "1000", "-l", "300")
    assert rc == 0, err
    assert (res["msgs"], res["connections"]) == (2000, 2000)
    rc, res, err = load(s.port, "-q", "-d", "-m", "3000", "-s", "1000", "-l", "300")
    assert rc == 0, err
    assert (res["msgs"], res["connections"]) == (3000, 1000)
    assert s.wait_mesg(5000)["mesg"] == 5000


def test_starttls_verified_against_the_ca(sink, ca):
    s = sink("--cert", ca.ecdsa[0], "--key", ca.ecdsa[1])
    rc, res, err = load(s.port, "-q", "-S", "-C", ca.ca_path, "-m", "100", "-s", "10",
                        "-l", "1024")
    assert rc == 0, err
    assert (res["msgs"], res["errors"], res["connections"], res["handshakes"],
            res["resumed"]) == (100, 0, 100, 100, 0)
    got = s.wait_mesg(100)
    assert (got["tls"], got["resumed"]) == (100, 0)
    # verified against another CA: every handshake fails, and says why
    rc, res, err = load(s.port, "-q", "-S", "-C", ca.other.ca_path, "-m", "5", "-s", "2")
    assert rc == 1
    assert (res["msgs"], res["errors"], res["handshakes"]) == (0, 5, 0)
    assert "certificate verification failed" in err, err
    # a server without a certificate offers no STARTTLS: -S fails
    plain = sink()
    rc, res, err = load(plain.port, "-q", "-S", "-m", "3")
    assert rc == 1 and res["errors"] == 3
    assert "STARTTLS not offered" in err, err


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_resumption(sink, ca, version):
    s = sink("--cert", ca.ecdsa[0], "--key", ca.ecdsa[1], "-T", version)
    rc, res, err = load(s.port, "-q", "-S", "-R", "-T", version, "-m", "100", "-s", "4",
                        "-l", "1024")
    assert rc == 0, err
    assert (res["msgs"], res["handshakes"]) == (100, 100)
    assert res["resumed"] >= 90, res
    got = s.wait_mesg(100)
    assert got["tls"] == 100
    assert got["resumed"] == res["resumed"]
    # without -R nothing is resumed; against --no-tickets -R resumes nothing
    rc, res, err = load(s.port, "-q", "-S", "-T", version, "-m", "20", "-s", "4")
    assert rc == 0 and res["resumed"] == 0, (err, res)
    nt = sink("--cert", ca.ecdsa[0], "--key", ca.ecdsa[1], "-T", version, "--no-tickets")
    rc, res, err = load(nt.port, "-q", "-S", "-R", "-T", version, "-m", "20", "-s", "1")
    assert rc == 0 and (res["handshakes"], res["resumed"]) == (20, 0), (err, res)


def test_pinned_versions_must_meet(sink, ca):
    s = sink("--cert", ca.ecdsa[0], "--key", ca.ecdsa[1], "-T", "1.3")
    rc, res, err = load(s.port, "-q", "-S", "-T", "1.2", "-m", "2")
    assert rc == 1 and res["errors"] == 2
    assert "TLS handshake" in err, err


def test_recipients_and_messages_per_connection(scripted):
    srv = scripted()
    rc, res, err = load(srv.port, "-q", "-m", "20", "-s", "2", "-M", "5", "-r", "3",
                        "-f", "from@bench.test", "-t", "to@bench.test", "-l", "2000")
    assert rc == 0, err
    assert (res["msgs"], res["connections"]) == (20, 4)
    msgs = srv.wait_messages(20)
    for m in msgs:
        assert m.mail_from == "from@bench.test"
        assert m.rcpt_tos == ["1to@bench.test", "2to@bench.test", "3to@bench.test"]
        assert m.helo == "localhost"
        # -l counts the headers and the body; no line longer than 78 characters
        assert abs(len(m.content) - 2000) <= 2, len(m.content)
        assert max(len(ln) for ln in m.content.split(b"\r\n")) <= 78
    # -d: each session keeps its connection for as many as there are
    srv2 = scripted()
    rc, res, err = load(srv2.port, "-q", "-d", "-m", "12", "-s", "3", "-E", "load.test")
    assert rc == 0, err
    assert (res["msgs"], res["connections"]) == (12, 3)
    assert srv2.wait_messages(12)[0].helo == "load.test"


def test_a_refused_recipient_fails_the_run(sink):
    s = sink("-r", "blocked@bench.test")
    rc, res, err = load(s.port, "-m", "6", "-s", "2", "-t", "blocked@bench.test")
    assert rc == 1
    assert (res["msgs"], res["errors"]) == (0, 6)
    assert "after RCPT TO: 450 4.2.0" in err.splitlines()[0], err
    # the others still get 250; and smtp-sink's "-r RCPT" refuses every RCPT
    rc, res, err = load(s.port, "-q", "-m", "3", "-t", "ok@bench.test")
    assert rc == 0 and res["msgs"] == 3, err
    every = sink("-r", "RCPT")
    rc, res, err = load(every.port, "-q", "-m", "2")
    assert rc == 1 and res["errors"] == 2 and "450" in err


def test_a_server_that_hangs_up_ends_the_run():
    def hang_up(c):
        c.sendall(b"220 raw ESMTP\r\n")

    srv = RawServer("127.0.0.1", hang_up)
    try:
        rc, res, err = load(srv.port, "-q", "-m", "50", "-s", "5", timeout=10)
    finally:
        srv.close()
    assert rc == 1
    assert (res["msgs"], res["errors"], res["connections"]) == (0, 50, 50)
    assert res["wall"] < 5, res
    assert "connection closed by the server" in err, err
    # nobody listening: every attempt fails at once
    rc, res, err = load(free_port(), "-m", "20", "-s", "4", timeout=10)
    assert rc == 1 and (res["errors"], res["connections"]) == (20, 0)
    assert "connect to 127.0.0.1" in err and "refused" in err, err


def test_sink_pipelining_and_a_split_dot(sink):
    s = sink()
    with RawClient("127.0.0.1", s.port) as c:
        assert c.greeting.code == 220
        ehlo = c.cmd("EHLO client.test")
        assert ehlo.code == 250 and "PIPELINING" in ehlo.text and "STARTTLS" not in ehlo.text
        c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<b@sink.test>\r\nDATA\r\n")
        assert [r.code for r in c.read_replies(3)] == [250, 250, 354]
        # a stuffed dot line is content; then CRLF.CRLF one byte a segment
        for part in (b"Subject: split\r\n\r\n..not the end\r\n.x\r\nlast line", b"\r",
                     b"\n", b".", b"\r", b"\n"):
            c.send(part)
            time.sleep(0.05)
        assert c.read_reply().code == 250
        # the next transaction pipelined with its body, the end right after DATA
        c.send(b"MAIL FROM:<a@client.test>\r\nRCPT TO:<b@sink.test>\r\nDATA\r\n")
        assert [r.code for r in c.read_replies(3)] == [250, 250, 354]
        c.send(b".\r\nNOOP\r\nQUIT\r\n")
        assert [r.code for r in c.read_replies(3)] == [250, 250, 221]
        assert c.wait_closed()
    got = s.wait_mesg(2)
    assert (got["mesg"], got["quit"]) == (2, 1)
    # nothing more was counted from the content
    time.sleep(0.05)
    assert s.counters()["mesg"] == 2
