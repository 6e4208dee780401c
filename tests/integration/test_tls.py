"""
test_tls.py -- TLS everywhere (contract: listen tls keys, tls_policy,
transport tls/smtps/auth_*): outbound policies against scripted aiosmtpd
servers with STARTTLS or implicit TLS and certificates from a test CA made
here with the openssl CLI; inbound STARTTLS, SMTPS, require_tls, the
STARTTLS injection case, and AUTH.
"""

import smtplib
import socket
import ssl
import subprocess
import time

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from harness import RawClient, free_port, sent_re, simple_message, transport, wire_body
from tlsca import TestCA, client_context, server_context

NAME = "mx.test.example"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    d = tmp_path_factory.mktemp("ca")
    ca = TestCA(d)
    ca.good = ca.issue(NAME, sans=[NAME], ip_sans=["127.0.0.2"])
    ca.expired = ca.issue("old." + NAME, sans=[NAME], expired=True)
    ca.selfsigned = ca.self_signed(NAME)
    return ca


def policy(name, **keys):
    body = "".join(f'\t{k} = {v}\n' for k, v in keys.items())
    return f'tls_policy "{name}" {{\n{body}}}\n'


def q(s):
    return '"%s"' % s


def tls_server(scripted, cert, key, host="127.0.0.2", implicit=False, auth=None, **ctxkw):
    ctx = server_context(cert, key, **ctxkw)
    kw = {}
    if auth is not None:
        kw["authenticator"] = auth
        kw["auth_require_tls"] = False   # so a plaintext server can offer AUTH too
    if implicit:
        return scripted(host, name="smtps", ssl_context=ctx, smtp_kwargs=kw)
    kw["tls_context"] = ctx
    return scripted(host, name="starttls", smtp_kwargs=kw)


def relayd_to(start_relayd, srv, extra="", **tkeys):
    return start_relayd(transports={"out": transport(srv, **tkeys)}, routes={"*": "out"},
                        extra=extra)


# ---- outbound --------------------------------------------------------------

def test_encrypt_without_starttls_is_never_plaintext(start_relayd, scripted):
    srv = scripted("127.0.0.2", name="plain")
    r = relayd_to(start_relayd, srv, tls="encrypt")
    qid = r.send("a@origin.test", ["u@dest.test"], simple_message())
    m = r.wait_log(sent_re("u@dest.test", qid=qid, status="deferred"))
    assert m.group("dsn").startswith("4.7."), m.group(0)
    assert "not offered" in m.group("reason")
    assert m.group("reason").endswith("(tls_policy=encrypt)"), m.group(0)
    time.sleep(0.5)
    assert srv.messages == []
    assert not [e for e in srv.events if e.kind == "mail"], "MAIL was sent in plaintext"


def test_encrypt_sent_over_tls(start_relayd, scripted, ca):
    srv = tls_server(scripted, *ca.selfsigned)
    r = relayd_to(start_relayd, srv, tls="encrypt")
    qid = r.send("a@origin.test", ["u@dest.test"], simple_message())
    m = r.wait_log(sent_re("u@dest.test", qid=qid, status="sent"))
    assert m.group("tls").startswith("TLSv1."), m.group(0)
    msg = srv.wait_messages(1)[0]
    assert msg.tls and msg.tls.startswith("TLSv1.")


def test_old_tls_server_refused_under_default_floor(start_relayd, scripted, ca):
    srv = tls_server(scripted, *ca.selfsigned, min_version="TLSv1.1", max_version="TLSv1.1")
    r = relayd_to(start_relayd, srv, tls="encrypt")
    qid = r.send("a@origin.test", ["u@dest.test"], simple_message())
    m = r.wait_log(sent_re("u@dest.test", qid=qid, status="deferred"))
    assert m.group("dsn") == "4.7.5", m.group(0)
    # Python's server hangs up without a protocol_version alert, so all
    # relayd can know is that the handshake failed there.
    assert "TLS handshake with" in m.group("reason"), m.group(0)
    time.sleep(0.5)
    assert srv.messages == []


def test_may_falls_back_to_plaintext_once(start_relayd, scripted, ca):
    srv = tls_server(scripted, *ca.selfsigned, min_version="TLSv1.1", max_version="TLSv1.1")
    r = relayd_to(start_relayd, srv, tls="may")
    qid = r.send("a@origin.test", ["u@dest.test"], simple_message())
    r.wait_log(r"TLS handshake with .* failed .*; trying once more without TLS")
    m = r.wait_log(sent_re("u@dest.test", qid=qid, status="sent"))
    assert m.group("tls") == "none"
    assert srv.wait_messages(1)[0].tls is None


@pytest.mark.parametrize("case,match,want", [
    ("right name", NAME, None),
    ("right address", None, None),              # no match list: the host connected to
    ("wrong name", "other.example", "hostname mismatch"),
    ("suffix", ".test.example", None),
])
def test_verify_names(start_relayd, scripted, ca, case, match, want):
    srv = tls_server(scripted, *ca.good)
    keys = {"level": q("verify"), "ca_file": q(ca.ca_path)}
    if match:
        keys["match"] = "{%s}" % q(match)
    r = relayd_to(start_relayd, srv, tls="v", extra=policy("v", **keys))
    qid = r.send("a@origin.test", ["u@dest.test"], simple_message())
    if want is None:
        m = r.wait_log(sent_re("u@dest.test", qid=qid, status="sent"))
        assert m.group("tls").startswith("TLSv1.")
        srv.wait_messages(1)
    else:
        m = r.wait_log(sent_re("u@dest.test", qid=qid, status="deferred"))
        assert m.group("dsn") == "4.7.5" and want in m.group("reason"), m.group(0)
        assert srv.messages == []


@pytest.mark.parametrize("which,want", [
    ("expired", "expired"),
    ("selfsigned", "self-signed"),
])
def test_verify_bad_certificates(start_relayd, scripted, ca, which, want):
    srv = tls_server(scripted, *getattr(ca, which))
    pol = policy("v", level=q("verify"), ca_file=q(ca.ca_path), match="{%s}" % q(NAME))
    r = relayd_to(start_relayd, srv, tls="v", extra=pol)
    qid = r.send("a@origin.test", ["u@dest.test"], simple_message())
    m = r.wait_log(sent_re("u@dest.test", qid=qid, status="deferred"))
    assert m.group("dsn") == "4.7.5" and want in m.group("reason"), m.group(0)
    time.sleep(0.3)
    assert srv.messages == []


def test_untrusted_ca(start_relayd, scripted, ca, tmp_path):
    other = TestCA(tmp_path / "other", name="Other CA")
    srv = tls_server(scripted, *other.issue(NAME))
    pol = policy("v", level=q("verify"), ca_file=q(ca.ca_path), match="{%s}" % q(NAME))
    r = relayd_to(start_relayd, srv, tls="v", extra=pol)
    qid = r.send("a@origin.test", ["u@dest.test"], simple_message())
    m = r.wait_log(sent_re("u@dest.test", qid=qid, status="deferred"))
    assert "issuer" in m.group("reason"), m.group(0)


def test_smtps_implicit_tls(start_relayd, scripted, ca):
    srv = tls_server(scripted, *ca.selfsigned, implicit=True)
    r = relayd_to(start_relayd, srv, tls="encrypt", smtps=True)
    qid = r.send("a@origin.test", ["u@dest.test"], simple_message())
    m = r.wait_log(sent_re("u@dest.test", qid=qid, status="sent"))
    assert m.group("tls").startswith("TLSv1.")
    srv.wait_messages(1)


class Auth:
    def __init__(self, ok=True):
        self.ok = ok
        self.seen = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            self.seen.append((mechanism, auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=self.ok, handled=False)


def test_auth_over_tls_only(start_relayd, scripted, ca, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    pw.chmod(0o600)

    auth = Auth()
    srv = tls_server(scripted, *ca.selfsigned, auth=auth)
    r = relayd_to(start_relayd, srv, tls="encrypt", auth_user="relay-user",
                  auth_password_file=str(pw))
    qid = r.send("a@origin.test", ["u@dest.test"], simple_message())
    r.wait_log(sent_re("u@dest.test", qid=qid, status="sent"))
    assert auth.seen and auth.seen[0][1:] == ("relay-user", "s3cret")

    # A plaintext smarthost offering AUTH never gets the password.
    auth2 = Auth()
    plain = scripted("127.0.0.3", name="plain-auth",
                     smtp_kwargs={"authenticator": auth2, "auth_require_tls": False})
    r2 = relayd_to(start_relayd, plain, tls="may", auth_user="relay-user",
                   auth_password_file=str(pw))
    qid = r2.send("a@origin.test", ["u@dest.test"], simple_message())
    m = r2.wait_log(sent_re("u@dest.test", qid=qid, status="deferred", strict_relay=False))
    assert "password" in m.group("reason") and m.group("dsn").startswith("4.7."), m.group(0)
    assert auth2.seen == []
    assert plain.messages == []


def test_auth_rejected_defers_loudly(start_relayd, scripted, ca, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("wrong\n")
    srv = tls_server(scripted, *ca.selfsigned, auth=Auth(ok=False))
    r = relayd_to(start_relayd, srv, tls="encrypt", auth_user="relay-user",
                  auth_password_file=str(pw))
    qid = r.send("a@origin.test", ["u@dest.test"], simple_message())
    m = r.wait_log(sent_re("u@dest.test", qid=qid, status="deferred", strict_relay=False))
    assert m.group("dsn") == "4.7.8", m.group(0)
    r.wait_log(r"error: out: authentication to .* failed: .*check auth_user")
    assert "wrong" not in r.log_text()          # passwords never appear in logs
    assert not r.find_log(r"status=bounced")


# ---- inbound ---------------------------------------------------------------

def tls_listener(start_relayd, relay_sink_srv, ca, **lkeys):
    cert, key = ca.good
    listen = {"tls": "starttls", "tls_cert": cert, "tls_key": key}
    listen.update(lkeys)
    return start_relayd(listen=listen, transports={"sink": transport(relay_sink_srv)},
                        routes={"*": "sink"})


def test_inbound_starttls(start_relayd, scripted, ca):
    sink = scripted("127.0.0.2", name="sink")
    r = tls_listener(start_relayd, sink, ca)
    with smtplib.SMTP("127.0.0.1", r.port, timeout=10) as s:
        code, text = s.ehlo("client.test")
        assert b"STARTTLS" in text and b"AUTH" not in text
        s.starttls(context=client_context(min_version="TLSv1.2"))
        s.ehlo("client.test")
        s.sendmail("a@origin.test", ["u@dest.test"], simple_message())
    msg = sink.wait_messages(1)[0]
    assert b"with ESMTPS id" in msg.content.split(b"\r\n\r\n")[0]
    r.wait_log(r"TLS established: TLSv1\.[23]")


def test_inbound_tls11_client_fails(start_relayd, scripted, ca):
    sink = scripted("127.0.0.2", name="sink")
    r = tls_listener(start_relayd, sink, ca)
    with smtplib.SMTP("127.0.0.1", r.port, timeout=10) as s:
        s.ehlo("client.test")
        with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, OSError)):
            s.starttls(context=client_context(min_version="TLSv1.1", max_version="TLSv1.1"))
    r.wait_log(r"TLS handshake failed")


def test_require_tls(start_relayd, scripted, ca):
    sink = scripted("127.0.0.2", name="sink")
    r = tls_listener(start_relayd, sink, ca, require_tls=True)
    with RawClient("127.0.0.1", r.port) as c:
        c.cmd("EHLO client.test")
        rep = c.cmd("MAIL FROM:<a@origin.test>")
        assert rep.code == 530 and rep.line.startswith("530 5.7.0"), rep.line


def test_starttls_injection(start_relayd, scripted, ca):
    sink = scripted("127.0.0.2", name="sink")
    r = tls_listener(start_relayd, sink, ca)
    s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220 ")
    s.sendall(b"EHLO client.test\r\n")
    while True:
        line = f.readline()
        if line[3:4] == b" ":
            break
    # The injected command rides in the same packet as STARTTLS.
    s.sendall(b"STARTTLS\r\nMAIL FROM:<evil@inject.test>\r\n")
    assert f.readline().startswith(b"220 ")
    t = client_context().wrap_socket(s, server_hostname=NAME)
    t.settimeout(1.0)
    with pytest.raises(socket.timeout):
        t.recv(1024)          # nothing was answered for the injected command
    t.settimeout(5)
    t.sendall(b"EHLO client.test\r\n")
    first = t.recv(4096)
    assert first.startswith(b"250-"), first   # the EHLO reply, not a 503/250 for MAIL
    t.close()


def test_inbound_smtps(start_relayd, scripted, ca):
    sink = scripted("127.0.0.2", name="sink")
    cert, key = ca.good
    r = start_relayd(listen={"tls": "smtps", "tls_cert": cert, "tls_key": key},
                     transports={"sink": transport(sink)}, routes={"*": "sink"})
    with smtplib.SMTP_SSL("127.0.0.1", r.port, timeout=10, context=client_context()) as s:
        s.ehlo("client.test")
        s.sendmail("a@origin.test", ["u@dest.test"], simple_message())
    assert sink.wait_messages(1)[0]


def test_inbound_auth_and_relay_permission(start_relayd, scripted, ca, tmp_path):
    sink = scripted("127.0.0.2", name="sink")
    h = subprocess.run(["openssl", "passwd", "-6", "good-pass"], capture_output=True,
                       text=True, check=True).stdout.strip()
    users = tmp_path / "users"
    users.write_text(f"# test users\nalice:{h}\n")
    users.chmod(0o600)
    r = tls_listener(start_relayd, sink, ca, auth_users=str(users), allow=["127.0.0.99/32"])

    def session(user=None, pw=None):
        s = smtplib.SMTP("127.0.0.1", r.port, timeout=15)
        s.ehlo("client.test")
        s.starttls(context=client_context())
        code, text = s.ehlo("client.test")
        assert b"AUTH PLAIN LOGIN" in text
        if user:
            s.login(user, pw)
        return s

    # Not in allow, not authenticated: relay denied.
    s = session()
    s.mail("a@origin.test")
    code, text = s.rcpt("u@dest.test")
    assert code == 554 and text.startswith(b"5.7.1"), (code, text)
    s.quit()

    # Wrong password: 535 5.7.8.
    s = session()
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        s.login("alice", "bad-pass")
    assert e.value.smtp_code == 535 and e.value.smtp_error.startswith(b"5.7.8")
    s.close()
    r.wait_log(r"authentication failed for user alice")
    assert "bad-pass" not in r.log_text()

    # Right password: relaying from anywhere.
    s = session("alice", "good-pass")
    s.sendmail("a@origin.test", ["u@dest.test"], simple_message())
    s.quit()
    msg = sink.wait_messages(1)[0]
    assert b"with ESMTPSA id" in msg.content.split(b"\r\n\r\n")[0]
    assert "good-pass" not in r.log_text()
