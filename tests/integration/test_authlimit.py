"""
test_authlimit.py -- failed AUTH limited per client address (listen keys
auth_fail_limit and auth_fail_window; docs/relayd.conf.5, docs/security.md).

Clients from 127.0.0.1 guess passwords over STARTTLS, many at once and then
reconnecting one after the other; 127.0.0.2 is another client address. Both
are in the listener's default `allow`: allowed networks are not exempt.

Assumptions beyond the contract (additions documented in docs/):
  * after auth_fail_limit failures from one address within auth_fail_window,
    AUTH from that address gets "454 4.7.0 Error: too many failed
    authentication attempts from this address; try again later" at once and
    without a password check (a right password included), at the AUTH
    command itself (no 334), until auth_fail_window has passed; password
    checks in flight count, so clients in parallel get no more checks than
    the limit between them;
  * one warning when an address reaches the limit: "CLIENT: too many failed
    authentication attempts from ADDR: N within Ws; AUTH from there is
    refused (454 4.7.0) for Ws (listen NAME)";
  * /metrics: relayd_auth_attempts_total{status="ok|failed|blocked"},
    relayd_auth_limit_reached_total, relayd_auth_blocked_addresses;
  * a 535 comes after a per-session delay of at least 1 s;
  * a reload keeps the counts; auth_fail_limit = 0 turns the limit off;
  * defaults: auth_fail_limit 5, auth_fail_window 10m.
"""

import base64
import re
import smtplib
import subprocess
import threading
import time

import pytest

from harness import free_port, wait_until
from test_metrics import scrape, value
from tlsca import TestCA, client_context

REFUSED = ("454 4.7.0 Error: too many failed authentication attempts from this address; "
           "try again later")
FAST = 1.0  # a 454 comes at once; a 535 after the session's delay of 1 s or more


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    ca = TestCA(tmp_path_factory.mktemp("ca"))
    ca.good = ca.issue("relay.test", sans=["relay.test"])
    return ca


def listener(start_relayd, ca, tmp_path, metrics_port=None, **lkeys):
    h = subprocess.run(["openssl", "passwd", "-6", "good-pass"], capture_output=True,
                       text=True, check=True).stdout.strip()
    users = tmp_path / "users"
    users.write_text(f"alice:{h}\n")
    users.chmod(0o600)
    cert, key = ca.good
    listen = {"tls": "starttls", "tls_cert": cert, "tls_key": key, "auth_users": str(users)}
    listen.update(lkeys)
    extra = f'metrics_listen = "127.0.0.1:{metrics_port}"' if metrics_port else ""
    return start_relayd(listen=listen, extra=extra)


def plain(user, pw):
    return "PLAIN " + base64.b64encode(f"\0{user}\0{pw}".encode()).decode()


class AuthClient:
    """One session from SOURCE, up to EHLO after STARTTLS."""

    def __init__(self, port, source):
        self.s = smtplib.SMTP("127.0.0.1", port, timeout=15, source_address=(source, 0))
        self.s.ehlo("client.test")
        self.s.starttls(context=client_context())
        code, text = self.s.ehlo("client.test")
        assert code == 250 and b"AUTH PLAIN LOGIN" in text, (code, text)

    def auth(self, arg):
        """(code, reply line, seconds until the reply)."""
        t0 = time.monotonic()
        code, msg = self.s.docmd("AUTH", arg)
        return code, f"{code} {msg.decode()}", time.monotonic() - t0

    def close(self):
        try:
            self.s.quit()
        except (smtplib.SMTPException, OSError):
            self.s.close()


def attempt(r, source, arg):
    """A new session from SOURCE sends AUTH ARG: (code, line, seconds)."""
    c = AuthClient(r.port, source)
    try:
        return c.auth(arg)
    finally:
        c.close()


def parallel_guesses(r, source, n):
    """N sessions from SOURCE send a wrong password at the same moment."""
    clients = [AuthClient(r.port, source) for _ in range(n)]
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        results[i] = clients[i].auth(plain("alice", f"guess-{i}"))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for c in clients:
        c.close()
    assert all(results), results
    return results


def check_guesses(results, checked):
    """CHECKED of RESULTS got 535 after the delay; the rest 454 at once."""
    codes = sorted(res[0] for res in results)
    assert codes == [454] * (len(results) - checked) + [535] * checked, \
        f"want exactly {checked} passwords checked (535), the rest refused (454): {results}"
    for code, line, dt in results:
        if code == 454:
            assert line == REFUSED and dt < FAST, (line, dt)
        else:
            assert line.startswith("535 5.7.8") and dt >= 0.9, (line, dt)


def limit_re(addr, n, window):
    a = re.escape(addr)
    return (rf"unknown\[{a}\]: too many failed authentication attempts from {a}: "
            rf"{n} within {window}s; AUTH from there is refused \(454 4\.7\.0\) for "
            rf"{window}s \(listen main\)")


def test_guessing_clients_refused_per_address(start_relayd, ca, tmp_path):
    mport = free_port()
    r = listener(start_relayd, ca, tmp_path, mport, auth_fail_limit=3, auth_fail_window="3s")

    # Eight guesses at once: three passwords are checked, five refused unchecked.
    check_guesses(parallel_guesses(r, "127.0.0.1", 8), 3)
    r.wait_log(limit_re("127.0.0.1", 3, 3))

    # Reconnecting guessers get 454 at once; LOGIN gets it before any 334.
    for i in range(10):
        code, line, dt = attempt(r, "127.0.0.1", "LOGIN" if i % 2 else plain("alice", f"x{i}"))
        assert line == REFUSED and dt < FAST, (i, line, dt)
    # Even the right password is refused, and never checked.
    code, line, dt = attempt(r, "127.0.0.1", plain("alice", "good-pass"))
    assert line == REFUSED and dt < FAST, (line, dt)
    assert not r.find_log(r"authenticated as alice")
    assert len(r.find_log(r"authentication failed for user alice")) == 3
    assert len(r.find_log(r"too many failed authentication attempts")) == 1

    # Another client address is not affected.
    code, line, dt = attempt(r, "127.0.0.2", plain("alice", "good-pass"))
    assert code == 235, line
    r.wait_log(r"unknown\[127\.0\.0\.2\]: authenticated as alice")

    s, types = scrape(mport)
    assert types["relayd_auth_attempts_total"] == "counter"
    assert types["relayd_auth_limit_reached_total"] == "counter"
    assert types["relayd_auth_blocked_addresses"] == "gauge"
    assert value(s, "relayd_auth_attempts_total", status="failed") == 3
    assert value(s, "relayd_auth_attempts_total", status="ok") == 1
    assert value(s, "relayd_auth_attempts_total", status="blocked") == 5 + 10 + 1
    assert value(s, "relayd_auth_limit_reached_total") == 1
    assert value(s, "relayd_auth_blocked_addresses") == 1

    # Once the window has passed, AUTH from 127.0.0.1 is answered again.
    def unblocked():
        code, line, dt = attempt(r, "127.0.0.1", "LOGIN")
        if code == 454:
            assert line == REFUSED
            time.sleep(0.2)
            return False
        assert code == 334, line
        return True

    wait_until(unblocked, 6, "AUTH from 127.0.0.1 answered again after auth_fail_window")
    code, line, dt = attempt(r, "127.0.0.1", plain("alice", "good-pass"))
    assert code == 235, line
    s, _ = scrape(mport)
    assert value(s, "relayd_auth_blocked_addresses") == 0
    assert value(s, "relayd_auth_attempts_total", status="ok") == 2
    assert value(s, "relayd_auth_limit_reached_total") == 1


def test_limit_spans_sessions_and_survives_reload(start_relayd, ca, tmp_path):
    r = listener(start_relayd, ca, tmp_path, auth_fail_limit=2, auth_fail_window="1h")
    for i in range(2):
        code, line, dt = attempt(r, "127.0.0.1", plain("alice", f"wrong-{i}"))
        assert code == 535, line
    code, line, dt = attempt(r, "127.0.0.1", plain("alice", "good-pass"))
    assert line == REFUSED and dt < FAST, (line, dt)
    r.wait_log(limit_re("127.0.0.1", 2, 3600))

    # A reload keeps what was counted.
    mark = r.mark()
    assert r.ctl("reload").returncode == 0
    r.wait_log(r"configuration reloaded", since=mark)
    code, line, dt = attempt(r, "127.0.0.1", plain("alice", "good-pass"))
    assert line == REFUSED, line

    # auth_fail_limit = 0 turns the limit off, for the addresses refused too.
    text = r.conf_path.read_text()
    assert "auth_fail_limit = 2\n" in text
    r.conf_path.write_text(text.replace("auth_fail_limit = 2\n", "auth_fail_limit = 0\n"))
    mark = r.mark()
    assert r.ctl("reload").returncode == 0
    r.wait_log(r"configuration reloaded", since=mark)
    code, line, dt = attempt(r, "127.0.0.1", plain("alice", "good-pass"))
    assert code == 235, line


def test_default_limit_is_on(start_relayd, ca, tmp_path):
    r = listener(start_relayd, ca, tmp_path)
    check_guesses(parallel_guesses(r, "127.0.0.1", 7), 5)
    r.wait_log(limit_re("127.0.0.1", 5, 600))
    code, line, dt = attempt(r, "127.0.0.2", plain("alice", "good-pass"))
    assert code == 235, line


def test_bad_values_reported(relayd_path, tmp_path):
    conf = tmp_path / "relayd.conf"
    conf.write_text(f'spool = "{tmp_path}/spool"\n'
                    'listen "main" {\n'
                    '\tauth_fail_limit = "-1"\n'
                    '\tauth_fail_window = "soon"\n'
                    '}\n')
    p = subprocess.run([relayd_path, "-n", "-f", str(conf)], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 1, p
    assert p.stderr.splitlines() == [
        f'{conf}:3: auth_fail_limit = "-1" is not a whole number; write 0 for no limit',
        f'{conf}:4: auth_fail_window = "soon" is not a duration; write e.g. "30s", "5m", '
        '"2h", "5d" or a number of seconds',
    ], p.stderr
