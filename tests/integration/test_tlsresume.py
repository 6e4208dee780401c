"""
test_tlsresume.py -- TLS session resumption (issue 19): outbound, relayd
keeps one session per SNI name and peer address under each tls_policy and
offers it on the next connection, never under another policy; inbound, the
listener issues session tickets sealed with keys that turn (the one before
still opens a ticket until it expires) and keeps no server-side cache.
Counted in relayd_tls_resumed_total{direction}.
"""

import re
import socket
import time
import urllib.request

import pytest

from harness import free_port, sent_re, simple_message, transport, wait_until
from test_tls import NAME, ca, policy, q, tls_server  # noqa: F401 (ca is a fixture)
from tlsca import client_context


def metric(port, name, **labels):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(rf"(?m)^{name}\{{{re.escape(want)}\}} (\d+)$", text)
    assert m, f"{name}{{{want}}} not in /metrics"
    return int(m.group(1))


def one_by_one(r, srv, n, tag):
    """N messages, each on its own connection (max_messages_per_connection 1)."""
    for i in range(n):
        qid = r.send("a@origin.test", [f"u{i}@dest.test"], simple_message(f"{tag} {i}"))
        r.wait_log(sent_re(f"u{i}@dest.test", qid=qid, status="sent"))
    return srv.wait_messages(n)


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_outbound_sessions_are_resumed(start_relayd, scripted, ca, version):
    srv = tls_server(scripted, *ca.good, min_version=version, max_version=version)
    mport = free_port()
    pol = policy("v", level=q("verify"), ca_file=q(ca.ca_path), match="{%s}" % q(NAME))
    r = start_relayd(transports={"out": transport(srv, tls="v", max_messages_per_connection=1)},
                     routes={"*": "out"}, verbose=True,
                     extra=pol + f'metrics_listen = "127.0.0.1:{mport}"\n')
    msgs = one_by_one(r, srv, 4, "resume")
    assert [m.tls for m in msgs] == [version] * 4
    assert [m.resumed for m in msgs] == [False, True, True, True], [m.resumed for m in msgs]
    # A resumed session is as verified as the one it resumes.
    lines = r.find_log(r"TLS with .*")
    assert len(re.findall(r", verified, resumed", r.log_text())) == 3, lines
    assert metric(mport, "relayd_tls_sessions_total", direction="out") == 4
    assert metric(mport, "relayd_tls_resumed_total", direction="out") == 3


def test_a_session_is_only_resumed_under_its_own_policy(start_relayd, scripted, ca):
    """A session made under encrypt (no certificate check) is never offered
    under verify, to the same host and address; verify makes its own."""
    srv = tls_server(scripted, *ca.good)
    pol = policy("v", level=q("verify"), ca_file=q(ca.ca_path), match="{%s}" % q(NAME))
    r = start_relayd(transports={"enc": transport(srv, tls="encrypt",
                                                  max_messages_per_connection=1),
                                 "ver": transport(srv, tls="v", max_messages_per_connection=1)},
                     routes={"enc.test": "enc", "*": "ver"}, extra=pol)
    for i, dom in enumerate(["enc.test", "enc.test", "dest.test", "dest.test", "enc.test"]):
        qid = r.send("a@origin.test", [f"u{i}@{dom}"], simple_message(f"policy {i}"))
        r.wait_log(sent_re(f"u{i}@{dom}", qid=qid, status="sent"))
    msgs = srv.wait_messages(5)
    assert [m.resumed for m in msgs] == [False, True, False, True, True], \
        [(m.rcpt_tos, m.resumed) for m in msgs]


def test_a_session_is_kept_per_host(start_relayd, scripted, ca):
    """Two smarthosts under one policy: each resumes its own session only."""
    a = tls_server(scripted, *ca.selfsigned, host="127.0.0.2")
    b = tls_server(scripted, *ca.selfsigned, host="127.0.0.3")
    r = start_relayd(transports={"a": transport(a, tls="encrypt", max_messages_per_connection=1),
                                 "b": transport(b, tls="encrypt", max_messages_per_connection=1)},
                     routes={"a.test": "a", "*": "b"})
    for i, dom in enumerate(["a.test", "b.test", "a.test", "b.test"]):
        qid = r.send("x@origin.test", [f"u{i}@{dom}"], simple_message(f"host {i}"))
        r.wait_log(sent_re(f"u{i}@{dom}", qid=qid, status="sent"))
    assert [m.resumed for m in a.wait_messages(2)] == [False, True]
    assert [m.resumed for m in b.wait_messages(2)] == [False, True]


# ---- inbound -----------------------------------------------------------------

CTX = {}


def starttls(port, session=None, version=None):
    """EHLO, STARTTLS (offering SESSION), EHLO, QUIT; the TLS socket's session
    and whether it was resumed. One client context per version: a session
    is only offered by the context that made it."""
    ctx = CTX.setdefault(version, client_context(min_version=version, max_version=version))
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")

    def reply(fh):
        while True:
            line = fh.readline()
            assert line, "connection closed"
            if line[3:4] == b" ":
                return line

    reply(f)
    s.sendall(b"EHLO client.test\r\n")
    reply(f)
    s.sendall(b"STARTTLS\r\n")
    assert reply(f).startswith(b"220")
    t = ctx.wrap_socket(s, server_hostname=NAME, session=session)
    tf = t.makefile("rb")
    t.sendall(b"EHLO client.test\r\n")
    reply(tf)
    t.sendall(b"QUIT\r\n")
    reply(tf)          # TLS 1.3: the ticket came with the replies
    out = t.session, t.session_reused
    t.close()
    return out


def tls_listener(start_relayd, scripted, ca, mport):
    sink = scripted("127.0.0.2", name="sink")
    cert, key = ca.good
    return start_relayd(listen={"tls": "starttls", "tls_cert": cert, "tls_key": key},
                        transports={"sink": transport(sink)}, routes={"*": "sink"},
                        extra=f'metrics_listen = "127.0.0.1:{mport}"\n')


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_inbound_session_tickets(start_relayd, scripted, ca, version):
    mport = free_port()
    r = tls_listener(start_relayd, scripted, ca, mport)
    sess, reused = starttls(r.port, version=version)
    assert not reused and sess is not None and sess.has_ticket
    for _ in range(3):
        sess, reused = starttls(r.port, sess, version=version)
        assert reused
    r.wait_log(r"TLS established: " + re.escape(version) + r" \([^)]*\), resumed")
    assert metric(mport, "relayd_tls_resumed_total", direction="in") == 3
    assert metric(mport, "relayd_tls_sessions_total", direction="in") == 4


def test_inbound_ticket_keys_turn(start_relayd, scripted, ca, monkeypatch):
    """Keys turn every RELAYD_TLS_TICKET_SECONDS (6 s here; an hour by
    default) and a ticket lives as long (from its full handshake): one
    sealed with the key before is still opened, an expired one is not, and
    a reload keeps the keys. (OpenSSL counts a session's age in whole
    seconds, hence the margins.)"""
    monkeypatch.setenv("RELAYD_TLS_TICKET_SECONDS", "6")
    mport = free_port()
    r = tls_listener(start_relayd, scripted, ca, mport)
    t0 = time.monotonic()
    old, reused = starttls(r.port, version="TLSv1.3")   # the first key is made now
    assert not reused and old.ticket_lifetime_hint == 6
    time.sleep(max(0.0, t0 + 3.5 - time.monotonic()))
    mid, reused = starttls(r.port, version="TLSv1.3")   # a full handshake at 3.5 s, first key
    assert not reused
    assert r.ctl("reload").returncode == 0
    r.wait_log(r"configuration reloaded")
    time.sleep(max(0.0, t0 + 7.2 - time.monotonic()))
    # 7.2 s: the second key seals; the first still opens mid's ticket
    # (3.7 s old), not old's (7.2 s, past its 6 s lifetime).
    _, reused = starttls(r.port, mid, version="TLSv1.3")
    assert reused, "a ticket of the key before, within its lifetime"
    _, reused = starttls(r.port, old, version="TLSv1.3")
    assert not reused, "an expired ticket"
    assert metric(mport, "relayd_tls_resumed_total", direction="in") == 1
