"""
test_ciphers.py -- TLS 1.2 cipher suites (issue 12): what a relayd STARTTLS
listener offers, scanned with testssl.sh (JSON findings) and checked suite
by suite with Python handshakes; the listener `ciphers` key; and what the
outbound policies accept from a server that offers only AES128-SHA.

Wanted (docs/tls.md): listeners and the encrypt/verify levels do TLS 1.2
only with ECDHE key exchange and an AEAD cipher (AES-GCM, ChaCha20-Poly1305);
no SSLv3, TLS 1.0 or 1.1; TLS 1.3 as OpenSSL has it. Level may also takes
what OpenSSL enables by default (CBC, static RSA), so an old server gets
encryption rather than plaintext. A policy's or listener's `ciphers` key
overrides.

testssl.sh runs offline: the target is an IP literal, --nodns none, no
--phone-out (no CRL or OCSP fetches), and NXCONNECT=127.0.0.1:0, or its
start-up probes of the local openssl (`s_client -curves X -connect
invalid.`) each send a DNS query for "invalid." (seen with strace; with it,
every socket it opens is to 127.0.0.1 or ::1). Only the protocol (-p),
forward secrecy (-f) and cipher-per-protocol (-E) checks: about 15 s a run.
"""

import json
import os
import re
import shutil
import smtplib
import ssl
import subprocess
import time

import pytest

from harness import sent_re, simple_message, transport
from tlsca import TestCA, client_context, server_context

NAME = "mx.test.example"
TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh")

# TLS 1.2 suites a listener may offer by default: ECDHE and AEAD.
FS_AEAD = re.compile(r"^TLS_ECDHE_(RSA|ECDSA)_WITH_(AES_(128|256)_GCM_SHA(256|384)|"
                     r"CHACHA20_POLY1305_SHA256)$")
WANT_TLS12 = {
    "rsa": {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
    "ec": {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
           "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
}


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    ca = TestCA(tmp_path_factory.mktemp("ca"))
    ca.rsa = ca.issue(NAME, sans=[NAME], ip_sans=["127.0.0.2"], key="rsa")
    ca.ec = ca.issue(NAME, sans=[NAME], ip_sans=["127.0.0.2"])
    return ca


def listener(start_relayd, ca, key="rsa", start=True, **lkeys):
    cert, k = getattr(ca, key)
    listen = {"tls": "starttls", "tls_cert": cert, "tls_key": k}
    listen.update(lkeys)
    return start_relayd(listen=listen, start=start)


# ---- inbound: testssl.sh ---------------------------------------------------

def run_testssl(port, jsonfile):
    """Run testssl.sh against 127.0.0.1:PORT (STARTTLS SMTP); its findings."""
    if TESTSSL is None:
        pytest.fail("testssl.sh not found: apt-get install testssl.sh (make test-deps)",
                    pytrace=False)
    cmd = [TESTSSL, "--quiet", "--color", "0", "--warnings", "batch", "--nodns", "none",
           "--openssl", "/usr/bin/openssl", "-p", "-f", "-E", "--jsonfile", str(jsonfile),
           "--starttls", "smtp", f"127.0.0.1:{port}"]
    env = dict(os.environ, NXCONNECT="127.0.0.1:0")
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=50, env=env)
    assert p.returncode == 0 and jsonfile.exists(), \
        f"{' '.join(cmd)}: exit {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-2000:]}"
    findings = json.loads(jsonfile.read_text())
    problems = [f for f in findings if f.get("severity") == "FATAL" or f["id"] == "scanProblem"]
    assert not problems, f"testssl.sh could not scan: {problems}\n{p.stdout[-3000:]}"
    return findings


def suites(findings, proto):
    """IANA names of the suites testssl found for PROTO ("tls1_2", "ssl3", ...):
    the finding is "TLS 1.2  xc02f  ECDHE-RSA-AES128-GCM-SHA256  ECDH 253 ...
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"."""
    return {f["finding"].split()[-1] for f in findings
            if f["id"].startswith(f"cipher-{proto}_x")}


@pytest.mark.parametrize("key", ["rsa", "ec"])
def test_testssl_listener(start_relayd, ca, tmp_path, key):
    r = listener(start_relayd, ca, key)
    t0 = time.monotonic()
    f = run_testssl(r.port, tmp_path / "testssl.json")
    took = time.monotonic() - t0
    by_id = {x["id"]: x["finding"] for x in f}
    assert by_id.get("service") == "smtp", by_id

    # Protocols: TLS 1.2 and 1.3 only.
    for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert by_id.get(old, "").startswith("not offered"), f"{old}: {by_id.get(old)!r}"
    assert by_id.get("TLS1_2", "").startswith("offered"), by_id.get("TLS1_2")
    assert by_id.get("TLS1_3", "").startswith("offered"), by_id.get("TLS1_3")
    for old in ("ssl2", "ssl3", "tls1", "tls1_1"):
        assert not suites(f, old), f"{old} suites offered: {sorted(suites(f, old))}"

    # TLS 1.2: ECDHE and AEAD, nothing else.
    got = suites(f, "tls1_2")
    cbc = sorted(s for s in got if "_CBC_" in s)
    krsa = sorted(s for s in got if s.startswith("TLS_RSA_"))
    dhe = sorted(s for s in got if s.startswith("TLS_DHE_"))
    assert not cbc, f"CBC suites offered: {cbc}"
    assert not krsa, f"static-RSA key exchange offered: {krsa}"
    assert not dhe, f"DHE offered (the default list has none): {dhe}"
    assert all(FS_AEAD.match(s) for s in got), f"not ECDHE+AEAD: {sorted(got)}"
    assert got == WANT_TLS12[key], f"got {sorted(got)}, want {sorted(WANT_TLS12[key])}"
    assert by_id.get("PFS", "").startswith("offered"), by_id.get("PFS")

    # TLS 1.3: OpenSSL's suites, all AEAD.
    got13 = suites(f, "tls1_3")
    assert got13 and all(re.match(r"TLS_(AES_\d+_GCM|CHACHA20_POLY1305)_SHA\d+$", s)
                         for s in got13), f"TLS 1.3 suites: {sorted(got13)}"

    # It was relayd that answered: its log has the handshakes.
    assert r.find_log(r"TLS established: TLSv1\.2 \(ECDHE-"), r.log_text()[-2000:]
    assert took < 55, f"testssl.sh took {took:.0f}s"


# ---- inbound: suite by suite -------------------------------------------------

def handshake(port, cipher, tls12=True):
    """STARTTLS to 127.0.0.1:PORT offering only CIPHER (TLS 1.2 unless not
    TLS12); (protocol, cipher) or the error."""
    ctx = client_context(max_version="TLSv1.2" if tls12 else None)
    if cipher:
        ctx.set_ciphers(cipher)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo("client.test")
            s.starttls(context=ctx)
            got = (s.sock.version(), s.sock.cipher()[0])
            s.ehlo("client.test")
            return got
    except (ssl.SSLError, smtplib.SMTPException, OSError) as e:
        return f"error: {e}"


DEFAULT_ROWS = [
    # (what the client offers, TLS 1.2 only, want: cipher or None for a refusal)
    ("AES128-SHA", True, None),                      # static RSA, CBC, SHA-1
    ("AES256-GCM-SHA384", True, None),               # static RSA, AEAD
    ("AES128-SHA256", True, None),
    ("ECDHE-RSA-AES128-SHA", True, None),            # forward secret, CBC
    ("ECDHE-RSA-AES256-SHA384", True, None),
    ("DHE-RSA-AES128-GCM-SHA256", True, None),       # DHE: not in the default list
    ("DHE-RSA-AES256-SHA256", True, None),
    ("ECDHE-RSA-AES128-GCM-SHA256", True, "ECDHE-RSA-AES128-GCM-SHA256"),
    ("ECDHE-RSA-AES256-GCM-SHA384", True, "ECDHE-RSA-AES256-GCM-SHA384"),
    ("ECDHE-RSA-CHACHA20-POLY1305", True, "ECDHE-RSA-CHACHA20-POLY1305"),
    # the listener's order wins, except for a client that wants ChaCha20 first
    ("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256", True,
     "ECDHE-RSA-AES128-GCM-SHA256"),
    ("ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256", True,
     "ECDHE-RSA-CHACHA20-POLY1305"),
    ("AES128-SHA", False, "TLS_AES_256_GCM_SHA384"),  # TLS 1.3 is not limited
]


def check_rows(port, rows):
    bad = []
    for offer, tls12, want in rows:
        got = handshake(port, offer, tls12)
        ok = got[1] == want if want else isinstance(got, str)
        if not ok:
            bad.append(f"{offer} (TLS 1.2 only: {tls12}): got {got!r}, want "
                       f"{want or 'a refused handshake'}")
    assert not bad, "\n".join(bad)


def test_listener_default_suites(start_relayd, ca):
    r = listener(start_relayd, ca)
    check_rows(r.port, DEFAULT_ROWS)
    r.wait_log(r"TLS handshake failed: no cipher in common with the peer")


def test_listener_ciphers_key(start_relayd, ca):
    r = listener(start_relayd, ca, ciphers="ECDHE+AESGCM:AES128-SHA")
    check_rows(r.port, [
        ("AES128-SHA", True, "AES128-SHA"),          # named: an old client gets in
        ("ECDHE-RSA-AES128-SHA", True, None),        # not named
        ("ECDHE-RSA-CHACHA20-POLY1305", True, None),
        ("ECDHE-RSA-AES256-GCM-SHA384:AES128-SHA", True, "ECDHE-RSA-AES256-GCM-SHA384"),
        (None, False, "TLS_AES_256_GCM_SHA384"),
    ])


def test_listener_bad_cipher_list(start_relayd, ca, relayd_path):
    r = listener(start_relayd, ca, start=False, ciphers="NO-SUCH-CIPHER")
    p = subprocess.run([relayd_path, "-d", "-f", str(r.conf_path)], capture_output=True,
                       text=True, timeout=10, cwd=r.workdir)
    assert p.returncode != 0
    # checked before anything starts, at the line of the key
    assert re.search(r'(?m)^\S+:\d+: listen "main": bad cipher list "NO-SUCH-CIPHER"',
                     p.stdout + p.stderr), p.stdout + p.stderr


# ---- outbound: a server that offers only AES128-SHA ----------------------------

def old_server(scripted, ca):
    """STARTTLS with TLS 1.2 at most and only AES128-SHA (static RSA, CBC)."""
    ctx = server_context(*ca.rsa, max_version="TLSv1.2", ciphers="AES128-SHA")
    return scripted("127.0.0.2", name="aes128-sha", smtp_kwargs={"tls_context": ctx})


def policy(name, **keys):
    body = "".join(f'\t{k} = "{v}"\n' for k, v in keys.items())
    return f'tls_policy "{name}" {{\n{body}}}\n'


def to_old_server(start_relayd, scripted, ca, level, ciphers=None):
    srv = old_server(scripted, ca)
    keys = {"level": level}
    if level == "verify":
        keys["ca_file"] = ca.ca_path
    if ciphers:
        keys["ciphers"] = ciphers
    r = start_relayd(transports={"out": transport(srv, tls="p")}, routes={"*": "out"},
                     extra=policy("p", **keys), verbose=True)
    qid = r.send("a@origin.test", ["u@dest.test"], simple_message())
    return r, srv, qid


@pytest.mark.parametrize("level", ["encrypt", "verify"])
def test_strict_levels_refuse_aes128_sha(start_relayd, scripted, ca, level):
    r, srv, qid = to_old_server(start_relayd, scripted, ca, level)
    m = r.wait_log(sent_re("u@dest.test", qid=qid, status="deferred"))
    assert m.group("dsn") == "4.7.5", m.group(0)
    # asyncio's TLS server hangs up without sending its handshake_failure
    # alert; an OpenSSL server (tests/unit/test_tls.c) sends it.
    assert re.search(r"^TLS handshake with \S+ failed: (peer sent TLS alert: handshake failure|"
                     r"connection closed during the TLS handshake)", m.group("reason")), m.group(0)
    time.sleep(0.3)
    assert srv.messages == []
    assert not [e for e in srv.events if e.kind == "mail"], "MAIL was sent"


@pytest.mark.parametrize("level", ["encrypt", "verify"])
def test_policy_ciphers_override(start_relayd, scripted, ca, level):
    r, srv, qid = to_old_server(start_relayd, scripted, ca, level, ciphers="AES128-SHA")
    m = r.wait_log(sent_re("u@dest.test", qid=qid, status="sent"))
    assert m.group("tls") == "TLSv1.2", m.group(0)
    r.wait_log(r"TLS with \S+: TLSv1\.2, cipher AES128-SHA, "
               + ("verified" if level == "verify" else r"\S"))
    assert srv.wait_messages(1)[0].tls == "TLSv1.2"


def test_may_encrypts_with_an_old_server(start_relayd, scripted, ca):
    """RFC 7435: may takes AES128-SHA rather than fall back to plaintext."""
    r, srv, qid = to_old_server(start_relayd, scripted, ca, "may")
    m = r.wait_log(sent_re("u@dest.test", qid=qid, status="sent"))
    assert m.group("tls") == "TLSv1.2", m.group(0)
    r.wait_log(r"TLS with \S+: TLSv1\.2, cipher AES128-SHA")
    assert not r.find_log(r"trying once more without TLS")
    assert srv.wait_messages(1)[0].tls == "TLSv1.2"
