"""
harness.py -- drive the real relayd binary against scripted SMTP servers.

  relayd_bin(), relayctl_bin()  the binaries under $RELAYD_BUILD (default build/)
  free_port(host)               a TCP port nobody listens on right now
  make_config(...)              a typical relayd.conf text; transport(...) one transport
  Relayd                        one relayd process: start, wait_log, send, kill, stop, restart
  ScriptedServer                aiosmtpd server whose replies are scripted per command
  RawServer, read_line(), smtp_until()  a socket server: the test writes every byte
  RawClient, Reply              socket SMTP client: the test controls every byte
  wire_body(), sent_re(), queued_re(), received_prefix()  message and log helpers

Everything is on loopback (127.0.0.0/8); every wait has a timeout and fails
with what it saw (the relayd log tail, the replies read so far).

Contract bits relied on (shared/contract.md), and assumptions beyond it:
  * `relayd -d` logs to stderr; log lines may carry a prefix (time, program,
    pid) before the contract's "QID: ..." text, so regexes only anchor the
    end of the line and require a non-alphanumeric character before QID.
  * QIDs are upper-case hex ([0-9A-F]+) as in the "queued as QID" reply.
  * relayd sets SO_REUSEADDR, so a restart can bind the same port at once.
  * The test config sets dns_servers to a dead loopback UDP port, so relayd
    never sends DNS traffic off the machine and lookups fail fast.
"""

import asyncio
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Union

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP

REPO = Path(__file__).resolve().parents[2]

# Default timeouts (seconds). Every wait in the suite is bounded.
START_TIMEOUT = 10.0
WAIT_TIMEOUT = 10.0
REPLY_TIMEOUT = 5.0
STOP_TIMEOUT = 10.0


# --------------------------------------------------------------------------
# small utilities


def build_dir() -> Path:
    """The build directory: $RELAYD_BUILD (relative to the repo) or build/."""
    b = Path(os.environ.get("RELAYD_BUILD", "build"))
    return b if b.is_absolute() else REPO / b


def relayd_bin() -> Path:
    return build_dir() / "relayd"


def relayctl_bin() -> Path:
    return build_dir() / "relayctl"


def require_binary(path: Path) -> str:
    """Fail the test (not hang, not skip) when a binary is missing."""
    if not (path.is_file() and os.access(path, os.X_OK)):
        shown = os.environ.get("RELAYD_BUILD", "build") + "/" + path.name
        pytest.fail(f"{path.name} binary not found: {shown} ({path}); run `make` first",
                    pytrace=False)
    return str(path)


def family(host: str) -> int:
    """The address family of the literal HOST ("127.0.0.2", "::1")."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """Bind port 0 on HOST (IPv4 or IPv6), close, return the number (nobody
    listens there)."""
    with socket.socket(family(host), kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(pred: Callable[[], object], timeout: float, what: str,
               detail: Callable[[], str] = lambda: "") -> object:
    """Poll PRED until it returns a true value; fail after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            extra = detail()
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}"
                        + (f"\n{extra}" if extra else ""), pytrace=False)
        time.sleep(0.02)


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------
# configuration text


def conf_value(v) -> str:
    """Python value -> libconfuse value text."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(conf_value(x) for x in v) + "}"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def conf_block(keys: dict, indent: str = "\t") -> str:
    return "".join(f"{indent}{k} = {conf_value(v)}\n" for k, v in keys.items() if v is not None)


def transport(*relays, **keys) -> dict:
    """Keys of a transport section. RELAYS are ScriptedServers or strings
    ("[ip]:port"). Defaults keep the suite fast and plaintext."""
    t = {
        "relay": [r.relay if isinstance(r, ScriptedServer) else str(r) for r in relays],
        "tls": "none",
        "connect_timeout": "2s",
        "command_timeout": "5s",
        "data_timeout": "10s",
    }
    t.update(keys)
    return t


def make_config(*, port: int, spool: Path, hostname: str = "relay.test",
                listen: Optional[dict] = None, transports: Optional[dict] = None,
                routes: Optional[dict] = None, queue: Optional[dict] = None,
                dns_port: Optional[int] = None, extra: str = "",
                check_interval: str = "0") -> str:
    """A typical relayd.conf: one listener on 127.0.0.1:PORT, spool SPOOL,
    TRANSPORTS {name: keys}, ROUTES {pattern: transport name}, queue retry 1s.
    CHECK_INTERVAL "0": relayd runs its self-checks only when asked (a
    check probes every smarthost, which would take a scripted server's
    replies meant for mail); test_selfcheck.py sets it."""
    if dns_port is None:
        dns_port = free_port("127.0.0.1", socket.SOCK_DGRAM)
    lst = {"address": "127.0.0.1", "port": port}
    lst.update(listen or {})
    q = {"retry": ["1s"]}
    q.update(queue or {})
    out = [
        "# written by tests/integration/harness.py\n",
        f"hostname = {conf_value(hostname)}\n",
        f"spool = {conf_value(str(spool))}\n",
        f"dns_servers = {conf_value(['127.0.0.1:%d' % dns_port])}\n",
        f"check_interval = {conf_value(check_interval)}\n",
        "\n",
        'listen "main" {\n', conf_block(lst), "}\n\n",
    ]
    for name, keys in (transports or {}).items():
        out += [f"transport {conf_value(name)} {{\n", conf_block(keys), "}\n\n"]
    for pattern, tname in (routes or {}).items():
        out.append(f"route {conf_value(pattern)} {{ transport = {conf_value(tname)} }}\n")
    out += ["\nqueue {\n", conf_block(q), "}\n"]
    if extra:
        out += ["\n", extra, "\n"]
    return "".join(out)


# --------------------------------------------------------------------------
# messages and log lines


def wire_body(content: bytes) -> bytes:
    """CONTENT (CRLF lines) as a DATA body: dot-stuffed, ending CRLF.CRLF.
    Only CRLF splits lines here, so bare LF/CR stay inside a line as given."""
    if not content.endswith(b"\r\n"):
        content += b"\r\n"
    lines = content[:-2].split(b"\r\n")
    stuffed = [b"." + ln if ln.startswith(b".") else ln for ln in lines]
    return b"\r\n".join(stuffed) + b"\r\n.\r\n"


def simple_message(subject: str = "test", body: str = "hello\r\n",
                   frm: str = "sender@origin.test", to: str = "rcpt@example.com") -> bytes:
    return (f"From: <{frm}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}.{random.getrandbits(32):x}@origin.test>\r\n"
            f"\r\n{body}").encode()


_RECEIVED_PREFIX = re.compile(rb"\AReceived:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*")


def received_prefix(delivered: bytes, original: bytes) -> bytes:
    """Assert DELIVERED is exactly one Received: header (possibly folded)
    followed by ORIGINAL byte for byte; return that header."""
    assert delivered.endswith(original), (
        "delivered content does not end with the original content byte for byte\n"
        f"original ({len(original)} bytes) starts {original[:200]!r}\n"
        f"delivered ({len(delivered)} bytes) starts {delivered[:400]!r}")
    prefix = delivered[:len(delivered) - len(original)]
    m = _RECEIVED_PREFIX.match(prefix)
    assert m and m.end() == len(prefix), (
        f"relayd must add exactly one Received: header at the top and nothing else; added {prefix!r}")
    return prefix


# Log-line regexes, from the contract's "Log lines" section. A prefix
# (timestamp, "relayd/smtp[pid]: ") may come before the QID.
QID = r"[0-9A-F]+"
_B = r"(?<![0-9A-Za-z])"


def sent_re(rcpt: Optional[str] = None, qid: Optional[str] = None,
            status: Optional[str] = None, transport: Optional[str] = None,
            attempts: Optional[int] = None, strict_relay: bool = True) -> str:
    """Regex for a recipient outcome line, Postfix's fields in Postfix's order
    and relayd's own after the reason (where pflogsumm does not mind them):
    QID: to=<rcpt>, relay=HOST[IP]:PORT, delay=S, dsn=X.Y.Z,
    status=WORD (REPLY OR REASON), transport=NAME, attempts=N, tls=PROTO
    With strict_relay=False the relay field may be anything without spaces
    (a deferral where no host answered: Postfix writes relay=none)."""
    relay = (r"(?P<relayhost>[^\s\[\],]*)\[(?P<relayip>[^\]\s]+)\]:(?P<relayport>\d+)"
             if strict_relay else r"(?P<relay>[^\s,]+)")
    qid_p = re.escape(qid) if qid else QID
    to_p = re.escape(rcpt) if rcpt else r"[^>]*"
    tr_p = re.escape(transport) if transport else r"[^,\s]+"
    at_p = str(attempts) if attempts is not None else r"\d+"
    return (rf"(?m){_B}(?P<qid>{qid_p}): "
            rf"to=<(?P<to>{to_p})>, "
            rf"relay={relay}, "
            r"delay=(?P<delay>\d+(?:\.\d+)?), "
            r"dsn=(?P<dsn>[245]\.\d{1,3}\.\d{1,3}), "
            rf"status=(?P<status>{status if status else 'sent|deferred|bounced|expired|rerouted'}) "
            r"\((?P<reason>.*)\), "
            rf"transport=(?P<transport>{tr_p}), "
            rf"attempts=(?P<attempts>{at_p}), "
            r"tls=(?P<tls>[^,\s]+)\s*$")


def queued_re(qid: Optional[str] = None, sender: Optional[str] = None) -> str:
    """Regex for: QID: from=<sender>, size=BYTES, nrcpt=N, client=HOST[IP] (queued)"""
    qid_p = re.escape(qid) if qid else QID
    from_p = re.escape(sender) if sender is not None else r"[^>]*"
    return (rf"(?m){_B}(?P<qid>{qid_p}): "
            rf"from=<(?P<sender>{from_p})>, "
            r"size=(?P<size>\d+), nrcpt=(?P<nrcpt>\d+), "
            r"client=(?P<clienthost>[^\s\[\]]*)\[(?P<clientip>[^\]\s]+)\] \(queued\)\s*$")


# --------------------------------------------------------------------------
# raw SMTP client


@dataclass
class Reply:
    code: int
    lines: List[str]          # full lines, e.g. ["250-relay.test", "250 SIZE 10"]

    @property
    def line(self) -> str:    # the last (or only) line: "250 2.0.0 Ok: queued as ..."
        return self.lines[-1]

    @property
    def text(self) -> str:    # everything after "NNN-"/"NNN " of each line
        return "\n".join(ln[4:] for ln in self.lines)

    def __str__(self) -> str:
        return "\n".join(self.lines)


class RawClient:
    """SMTP over a plain socket: tests choose every byte sent (pipelining,
    bare LF, smuggling) and the client's source address."""

    def __init__(self, host: str, port: int, source: Optional[str] = None,
                 timeout: float = REPLY_TIMEOUT, read_greeting: bool = True):
        self.timeout = timeout
        self.buf = b""
        self.eof = False
        self.sock = socket.socket(family(host), socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if source:
            self.sock.bind((source, 0))
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.greeting = self.read_reply() if read_greeting else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: Union[bytes, str]):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        """Read more bytes; False on EOF. Fails on timeout."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _line(self, deadline: float) -> Optional[bytes]:
        while b"\n" not in self.buf:
            if self.eof or not self._fill(deadline):
                return None
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def read_reply(self, timeout: Optional[float] = None) -> Reply:
        """One complete (possibly multi-line) reply; fails on timeout or EOF."""
        r = self.try_read_reply(timeout)
        if r is None:
            pytest.fail(f"connection closed while waiting for a reply (unparsed bytes: {self.buf!r})",
                        pytrace=False)
        return r

    def try_read_reply(self, timeout: Optional[float] = None) -> Optional[Reply]:
        """Like read_reply, but None when the server closed the connection."""
        deadline = time.monotonic() + (timeout or self.timeout)
        lines: List[str] = []
        try:
            while True:
                raw = self._line(deadline)
                if raw is None:
                    if lines:
                        pytest.fail(f"connection closed inside a multi-line reply: {lines}",
                                    pytrace=False)
                    return None
                s = raw.decode("latin-1")
                if not re.match(r"^[2-5]\d\d(?:[ -]|$)", s):
                    pytest.fail(f"malformed reply line {s!r} (after {lines})", pytrace=False)
                if lines and s[:3] != lines[0][:3]:
                    pytest.fail(f"reply code changed inside a multi-line reply: {lines + [s]}",
                                pytrace=False)
                lines.append(s)
                if len(s) == 3 or s[3] == " ":
                    return Reply(int(s[:3]), lines)
        except socket.timeout:
            pytest.fail(f"no complete reply within {timeout or self.timeout:g}s "
                        f"(lines so far {lines}, unparsed bytes {self.buf[:300]!r})", pytrace=False)

    def read_replies(self, n: int, timeout: Optional[float] = None) -> List[Reply]:
        return [self.read_reply(timeout) for _ in range(n)]

    def cmd(self, line: Union[str, bytes], timeout: Optional[float] = None) -> Reply:
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.read_reply(timeout)

    def read_until_closed(self, timeout: Optional[float] = None) -> List[Reply]:
        """Every reply until the server closes the connection."""
        out = []
        while True:
            r = self.try_read_reply(timeout)
            if r is None:
                return out
            out.append(r)

    def wait_closed(self, timeout: float = REPLY_TIMEOUT) -> bool:
        """True when the server closed the connection (any leftover bytes are
        discarded), False if it is still open after TIMEOUT."""
        deadline = time.monotonic() + timeout
        try:
            while not self.eof:
                self.buf = b""
                self._fill(deadline)
        except socket.timeout:
            return False
        except OSError:
            return True
        return True


def ehlo_keywords(reply: Reply) -> dict:
    """EHLO reply -> {KEYWORD: "params"} (first line, the host name, excluded)."""
    kw = {}
    for ln in reply.lines[1:]:
        parts = ln[4:].split(None, 1)
        if parts:
            kw[parts[0].upper()] = parts[1] if len(parts) > 1 else ""
    return kw


QUEUED_REPLY = re.compile(r"^250 2\.0\.0 Ok: queued as (?P<qid>[0-9A-F]+)$")


def smtp_send(host: str, port: int, mail_from: str, rcpts: Sequence[str], content: bytes, *,
              source: Optional[str] = None, helo: str = "client.test", mail_params: str = "",
              quit: bool = True, timeout: float = REPLY_TIMEOUT) -> str:
    """One transaction over RawClient; asserts every step succeeded; returns QID."""
    with RawClient(host, port, source=source, timeout=timeout) as c:
        assert c.greeting.code == 220, f"greeting: {c.greeting}"
        r = c.cmd(f"EHLO {helo}")
        assert r.code == 250, f"EHLO: {r}"
        r = c.cmd(f"MAIL FROM:<{mail_from}>" + (f" {mail_params}" if mail_params else ""))
        assert r.code == 250, f"MAIL FROM:<{mail_from}>: {r}"
        for rc in rcpts:
            r = c.cmd(f"RCPT TO:<{rc}>")
            assert r.code == 250, f"RCPT TO:<{rc}>: {r}"
        r = c.cmd("DATA")
        assert r.code == 354, f"DATA: {r}"
        c.send(wire_body(content))
        r = c.read_reply(timeout=max(timeout, 30.0))
        m = QUEUED_REPLY.match(r.line)
        assert m and r.code == 250 and len(r.lines) == 1, \
            f"final DATA reply {str(r)!r}, want '250 2.0.0 Ok: queued as QID'"
        if quit:
            q = c.cmd("QUIT")
            assert q.code == 221, f"QUIT: {q}"
        return m.group("qid")


# --------------------------------------------------------------------------
# relayd process


class Relayd:
    """One relayd process: `relayd -d -f CONF` with its output in a log file."""

    def __init__(self, workdir: Path, conf_text: str, port: int, *, verbose: bool = False,
                 name: str = "relayd", host: str = "127.0.0.1"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf_path = self.workdir / "relayd.conf"
        self.conf_path.write_text(conf_text)
        self.log_path = self.workdir / "relayd.log"
        self.log_path.write_bytes(b"")
        self.port = port
        self.host = host
        self.verbose = verbose
        self.name = name
        self.proc: Optional[subprocess.Popen] = None
        self.expect_exit = False  # set when the test stops or kills it on purpose
        self.history: List[str] = []  # "started pid N", "exit 0", ...

    # -- process control
    def start(self):
        exe = require_binary(relayd_bin())
        args = [exe, "-d", "-f", str(self.conf_path)] + (["-v"] if self.verbose else [])
        with open(self.log_path, "ab") as f:
            f.write(f"=== harness: start {' '.join(args)}\n".encode())
            f.flush()
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=f,
                                         stderr=subprocess.STDOUT, cwd=self.workdir)
        self.expect_exit = False
        self.history.append(f"started pid {self.proc.pid}")
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT):
        """Wait until the listener greets; a probe session then QUITs and
        waits for relayd to close it, so it is gone before the test begins."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.history.append(f"exit {rc}")
                pytest.fail(f"relayd exited with status {rc} before accepting connections on "
                            f"{self.host}:{self.port}\n--- log tail ---\n{tail(self.log_text())}",
                            pytrace=False)
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as raw:
                    s = raw
                    if re.search(r'(?m)^\s*tls\s*=\s*"smtps"', self.conf_path.read_text()):
                        # An SMTPS listener greets only after the handshake.
                        import ssl
                        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                        ctx.check_hostname = False
                        ctx.verify_mode = ssl.CERT_NONE
                        s = ctx.wrap_socket(raw)
                    s.settimeout(max(0.1, deadline - time.monotonic()))
                    data = b""
                    while b"\n" not in data:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    if b"\n" in data:
                        s.sendall(b"QUIT\r\n")
                        try:
                            while s.recv(4096):
                                pass
                        except OSError:
                            pass
                        return
                    last = f"connection closed without a greeting ({data!r})"
            except OSError as e:
                last = repr(e)
            time.sleep(0.05)
        pytest.fail(f"relayd did not greet on {self.host}:{self.port} within {timeout:g}s "
                    f"(last: {last})\n--- log tail ---\n{tail(self.log_text())}", pytrace=False)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self, sig: int = signal.SIGKILL, wait: bool = True) -> Optional[int]:
        """Send SIG to this relayd (by PID). Waits for the exit when WAIT."""
        assert self.alive, f"relayd is not running ({self.history})"
        self.expect_exit = True
        os.kill(self.proc.pid, sig)
        if not wait:
            return None
        try:
            rc = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"relayd did not exit within {STOP_TIMEOUT:g}s of signal {sig}\n"
                        f"--- log tail ---\n{tail(self.log_text())}", pytrace=False)
        self.history.append(f"signal {sig}: exit {rc}")
        return rc

    def stop(self, timeout: float = STOP_TIMEOUT):
        """SIGTERM; assert a clean exit (status 0) within TIMEOUT (contract: Signals)."""
        assert self.alive, f"relayd is not running ({self.history})"
        self.expect_exit = True
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"relayd did not exit within {timeout:g}s of SIGTERM\n"
                        f"--- log tail ---\n{tail(self.log_text())}", pytrace=False)
        self.history.append(f"SIGTERM: exit {rc}")
        assert rc == 0, f"relayd exited with status {rc} on SIGTERM, want 0\n" \
                        f"--- log tail ---\n{tail(self.log_text())}"

    def restart(self):
        """Start again with the same configuration and spool."""
        if self.alive:
            self.stop()
        with open(self.log_path, "ab") as f:
            f.write(b"=== harness: restart\n")
        return self.start()

    def cleanup(self) -> Optional[str]:
        """Teardown: stop the process; a problem found is returned as text."""
        if self.proc is None:
            return None
        problem = None
        rc = self.proc.poll()
        if rc is not None and not self.expect_exit:
            problem = f"relayd died during the test with status {rc}"
        elif rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(STOP_TIMEOUT)
                if rc < 0:
                    problem = f"relayd died of signal {-rc} on SIGTERM at teardown"
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problem = f"relayd did not exit within {STOP_TIMEOUT:g}s of SIGTERM at teardown"
        self.history.append(f"teardown: exit {self.proc.returncode}")
        return problem

    # -- log
    def log_text(self) -> str:
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def mark(self) -> int:
        """A position in the log; pass as SINCE to look only at later lines."""
        return len(self.log_text())

    def find_log(self, regex: str, since: int = 0) -> list:
        return list(re.finditer(regex, self.log_text()[since:], re.M))

    def wait_log(self, regex: str, timeout: float = WAIT_TIMEOUT, since: int = 0, count: int = 1):
        """Wait until REGEX matches (COUNT times) in the log after SINCE;
        return the last match."""
        def enough():
            ms = self.find_log(regex, since)
            return ms if len(ms) >= count else None

        found = wait_until(
            enough, timeout, f"relayd log line /{regex}/" + (f" x{count}" if count > 1 else ""),
            lambda: f"relayd {'running' if self.alive else 'NOT running'}; "
                    f"--- log tail ---\n{tail(self.log_text()[since:], 40)}")
        return found[count - 1]

    # -- clients
    def client(self, source: Optional[str] = None, timeout: float = REPLY_TIMEOUT, **kw) -> RawClient:
        return RawClient(self.host, self.port, source=source, timeout=timeout, **kw)

    def send(self, mail_from: str, rcpts: Sequence[str], content: bytes, **kw) -> str:
        """Relay one message through this relayd; returns its QID."""
        return smtp_send(self.host, self.port, mail_from, rcpts, content, **kw)

    def ctl(self, *args: str, timeout: float = 10) -> subprocess.CompletedProcess:
        """Run relayctl -f CONF ARGS."""
        exe = require_binary(relayctl_bin())
        return subprocess.run([exe, "-f", str(self.conf_path), *args], capture_output=True,
                              text=True, timeout=timeout)


# --------------------------------------------------------------------------
# scripted SMTP server (aiosmtpd)
#
# aiosmtpd 1.4.3 quirks worth knowing:
#  * commands are split on LF (a bare LF ends a command line), but DATA lines
#    are read up to CRLF only, so a bare LF or CR stays inside the line it is
#    in: the recorded content shows exactly what relayd sent. relayd only ever
#    sends CRLF lines, so both are fine for these tests.
#  * DATA lines longer than 1001 bytes get "500 Line too long": test bodies
#    keep lines short.
#  * it does not advertise PIPELINING or ENHANCEDSTATUSCODES.
#  * the Controller opens one connection to itself at start(); that one is
#    recognised by its source port and neither recorded nor counted.

CLOSE = "<close>"   # script value: drop the connection instead of replying

Script = Union[None, str, Sequence[Optional[str]], Callable[[str], Optional[str]]]


class _Script:
    """A per-command reply script: None = always the default; a str = always
    that reply; a list = one entry per use, None entries and the end of the
    list mean the default; a callable(arg) returns the reply or None."""

    def __init__(self, spec: Script):
        self.spec = spec
        self.used = 0

    def next(self, arg: str = "") -> Optional[str]:
        s, i = self.spec, self.used
        self.used += 1
        if s is None:
            return None
        if isinstance(s, str):
            return s
        if callable(s):
            return s(arg)
        return s[i] if i < len(s) else None


@dataclass
class Message:
    mail_from: str
    rcpt_tos: List[str]
    content: bytes          # envelope.original_content: unstuffed, CRLF lines
    peer: tuple
    mail_options: List[str]
    helo: Optional[str]
    reply: str
    tls: Optional[str] = None   # "TLSv1.3" when the session was under TLS
    auth: Optional[str] = None  # the AUTH login name, if any
    resumed: Optional[bool] = None  # under TLS: whether the client resumed a session


@dataclass
class Event:
    kind: str               # connect (reply = the greeting), ehlo, helo, mail, rcpt, data
    arg: str
    reply: str
    peer: tuple = field(default=())
    t: float = field(default_factory=time.monotonic)


class _ScriptedSMTP(SMTP):
    """aiosmtpd's SMTP with a scripted greeting and replies closed on 421."""

    async def _handle_client(self):
        h: "ScriptedServer" = self.event_handler
        if h._is_trigger(self.session.peer):
            self.transport.close()
            return
        self._counted = True
        greeting = h._on_connect(self.session.peer)
        if greeting is CLOSE:
            self.transport.close()
            return
        if greeting is not None:
            if not greeting.startswith("220 "):
                await self.push(greeting)
                self.transport.close()
                return
            # a custom 220: aiosmtpd sends "220 {hostname} {ident}"
            host, _, ident = greeting[4:].partition(" ")
            self.hostname, self.__ident__ = host, ident
        await super()._handle_client()

    _counted = False

    def connection_made(self, transport):
        super().connection_made(transport)
        self.event_handler._live.add(self)

    def connection_lost(self, error):
        h = self.event_handler
        h._live.discard(self)
        if self._counted:
            self._counted = False
            h._on_disconnect()
        super().connection_lost(error)


class _Controller(Controller):
    def __init__(self, handler, **kw):
        super().__init__(handler, **kw)
        self.scripted = handler

    def factory(self):
        return _ScriptedSMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self):
        # Same as aiosmtpd's, but from a known source port so the scripted
        # server can ignore this self-test connection.
        with socket.socket(family(self.hostname), socket.SOCK_STREAM) as s:
            s.bind((self.hostname, 0))
            self.scripted._trigger_peers.add(tuple(s.getsockname()[:2]))
            s.settimeout(1.0)
            s.connect((self.hostname, self.port))
            if self.ssl_context:
                import ssl
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                try:
                    with ctx.wrap_socket(s) as t:
                        t.recv(1024)
                except (OSError, ssl.SSLError):
                    pass
                return
            s.recv(1024)


class ScriptedServer:
    """An SMTP server on HOST:PORT (HOST an IPv4 or IPv6 address) whose
    replies are scripted per command.

    greeting: None (220 HOST ESMTP scripted), a reply such as "421 4.7.0 go
      away" (sent, then the connection is closed), CLOSE, or a list/callable.
    ehlo_replies, mail_replies, rcpt_replies, data_replies: see _Script;
      e.g. rcpt_replies=["450 4.2.0 try later", None]. A 421 reply closes
      the connection after it is sent.
    Records: .messages (accepted DATA), .rejected (DATA refused by script),
    .events (every scripted step), .connections, .sessions (EHLO/HELO).
    start=False creates it "down": its port is reserved by number only and
    nothing listens until .start(); .stop() takes it down again.
    """

    def __init__(self, host: str = "127.0.0.1", port: Optional[int] = None, *,
                 greeting: Script = None, ehlo_replies: Script = None, mail_replies: Script = None,
                 rcpt_replies: Script = None, data_replies: Script = None,
                 name: Optional[str] = None, start: bool = True,
                 smtp_kwargs: Optional[dict] = None, ssl_context=None):
        # smtp_kwargs go to aiosmtpd's SMTP: tls_context= (offer STARTTLS),
        # require_starttls=, authenticator=, auth_require_tls=, ...
        # ssl_context= makes the whole connection implicit TLS (SMTPS).
        self.smtp_kwargs = dict(smtp_kwargs or {})
        self.ssl_context = ssl_context
        self.host = host
        self.port = port or free_port(host)
        self.name = name or f"{host}:{self.port}"
        self.greeting = _Script(greeting)
        self.ehlo_replies = _Script(ehlo_replies)
        self.mail_replies = _Script(mail_replies)
        self.rcpt_replies = _Script(rcpt_replies)
        self.data_replies = _Script(data_replies)
        self.messages: List[Message] = []
        self.rejected: List[Message] = []
        self.events: List[Event] = []
        self.connections = 0
        self.active = 0
        self.max_active = 0     # most sessions open at once
        self.sessions = 0
        self._trigger_peers = set()
        self._live = set()      # open protocol objects, to abort on stop()
        self._cond = threading.Condition()
        self._ctl: Optional[_Controller] = None
        if start:
            self.start()

    @property
    def relay(self) -> str:
        """This server as a transport relay entry ("[::1]:PORT" for IPv6)."""
        return f"[{self.host}]:{self.port}"

    @property
    def running(self) -> bool:
        return self._ctl is not None

    def _controller(self):
        return _Controller(self, hostname=self.host, port=self.port,
                           server_hostname=f"scripted-{self.host}", ident="ESMTP scripted",
                           ready_timeout=5.0, ssl_context=self.ssl_context, **self.smtp_kwargs)

    def start(self):
        assert self._ctl is None, f"{self.name} already running"
        # A fresh controller (and event loop) each time: stop() closes the loop.
        self._ctl = self._controller()
        deadline = time.monotonic() + 5
        while True:
            try:
                self._ctl.start()
                return self
            except OSError:
                # the port may still be held briefly after stop(); retry
                self._ctl = self._controller()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        """Stop listening and drop every open connection (the "down" mode)."""
        if self._ctl is None:
            return
        ctl, self._ctl = self._ctl, None

        async def abort_all():
            srv = ctl.server
            if srv is not None:
                srv.close()
            for proto in list(self._live):
                if proto.transport is not None:
                    proto.transport.abort()
            await asyncio.sleep(0.01)

        try:
            asyncio.run_coroutine_threadsafe(abort_all(), ctl.loop).result(2)
        except Exception:
            pass
        ctl.stop(no_assert=True)

    # -- hooks called from the server thread
    def _is_trigger(self, peer) -> bool:
        return tuple(peer[:2]) in self._trigger_peers

    def _on_connect(self, peer):
        with self._cond:
            self.connections += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            g = self.greeting.next()
            self.events.append(Event("connect", "", g or "220 (default)", tuple(peer)))
            self._cond.notify_all()
            return g

    def _on_disconnect(self):
        with self._cond:
            if self.active > 0:
                self.active -= 1
            self._cond.notify_all()

    @staticmethod
    def _close_after(server, reply):
        """A 421 closes the connection once sent; CLOSE drops it unanswered."""
        if reply is CLOSE:
            server.transport.abort()
        elif reply is not None and reply.startswith("421"):
            server.loop.call_soon(server.transport.close)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        r = self.ehlo_replies.next(hostname)
        with self._cond:
            self.sessions += 1
            self.events.append(Event("ehlo", hostname, r or "250 (default)", session.peer))
            self._cond.notify_all()
        if r is None:
            session.host_name = hostname
            return responses
        if r.startswith("2"):
            session.host_name = hostname
        self._close_after(server, r)
        return [r]

    async def handle_HELO(self, server, session, envelope, hostname):
        with self._cond:
            self.sessions += 1
            self.events.append(Event("helo", hostname, "250 (default)", session.peer))
        return MISSING

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        r = self.mail_replies.next(address)
        with self._cond:
            self.events.append(Event("mail", address, r or "250 (default)", session.peer))
        if r is None or r.startswith("2"):
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
        self._close_after(server, r)
        return r or "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        r = self.rcpt_replies.next(address)
        with self._cond:
            self.events.append(Event("rcpt", address, r or "250 (default)", session.peer))
            self._cond.notify_all()
        if r is None or r.startswith("2"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        self._close_after(server, r)
        return r or "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        r = self.data_replies.next()
        with self._cond:
            reply = r or f"250 2.0.0 Ok: queued as S{len(self.messages) + 1}"
            tls = resumed = None
            if getattr(session, "ssl", None):
                obj = session.ssl.get("ssl_object")
                tls = obj.version() if obj is not None else "TLS"
                resumed = obj.session_reused if obj is not None else None
            login = getattr(session, "login_data", None)
            if isinstance(login, bytes):
                login = login.decode(errors="replace")
            msg = Message(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                          tuple(session.peer), list(envelope.mail_options), session.host_name,
                          reply, tls, login, resumed)
            (self.messages if reply.startswith("2") else self.rejected).append(msg)
            self.events.append(Event("data", f"{len(msg.content)} bytes", reply, session.peer))
            self._cond.notify_all()
        self._close_after(server, r)
        return reply

    # -- test side
    def rcpts_tried(self, address: Optional[str] = None) -> List[Event]:
        with self._cond:
            return [e for e in self.events if e.kind == "rcpt" and
                    (address is None or e.arg == address)]

    def wait_for(self, pred: Callable[["ScriptedServer"], object], timeout: float = WAIT_TIMEOUT,
                 what: str = "condition"):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                v = pred(self)
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"timed out after {timeout:g}s waiting for {what} on {self.name}\n"
                                f"{self.describe()}", pytrace=False)
                self._cond.wait(min(left, 0.1))

    def wait_messages(self, n: int = 1, timeout: float = WAIT_TIMEOUT) -> List[Message]:
        self.wait_for(lambda s: len(s.messages) >= n, timeout, f"{n} message(s)")
        with self._cond:
            return list(self.messages)

    def wait_connections(self, n: int = 1, timeout: float = WAIT_TIMEOUT) -> int:
        return self.wait_for(lambda s: s.connections >= n and s.connections, timeout,
                             f"{n} connection(s)")

    def describe(self) -> str:
        with self._cond:
            out = [f"scripted server {self.name} ({'up' if self.running else 'down'}): "
                   f"connections={self.connections} sessions={self.sessions} "
                   f"messages={len(self.messages)} rejected={len(self.rejected)}"]
            for e in self.events[-40:]:
                out.append(f"  {e.kind:7} {e.arg!s:40.40} -> {e.reply}")
            for m in self.messages[-5:]:
                out.append(f"  message from=<{m.mail_from}> to={m.rcpt_tos} "
                           f"{len(m.content)} bytes: {m.content[:120]!r}")
            return "\n".join(out)


# --------------------------------------------------------------------------
# raw SMTP server: the test writes every byte a (hostile) remote sends


class RawServer:
    """A TCP server on 127.0.0.x that runs BEHAVE(conn) per connection."""

    def __init__(self, host, behave):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.behave = behave
        self.conns = 0
        self.stop = False
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self.run, args=(c,), daemon=True).start()

    def run(self, c):
        try:
            self.behave(c)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stop = True
        self.sock.close()

    @property
    def relay(self):
        return f"[{self.host}]:{self.port}"


def read_line(c):
    buf = b""
    while not buf.endswith(b"\n"):
        ch = c.recv(1)
        if not ch:
            raise OSError("eof")
        buf += ch
    return buf


def smtp_until(c, verb, greeting=b"220 raw ESMTP\r\n"):
    """Greet and answer 250 to everything until VERB comes."""
    c.sendall(greeting)
    while True:
        line = read_line(c)
        if line.upper().startswith(verb):
            return line
        if line.upper().startswith(b"DATA"):
            c.sendall(b"354 go\r\n")
        else:
            c.sendall(b"250 ok\r\n")
