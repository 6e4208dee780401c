"""
test_dane.py -- tls_policy dane and dane-only (contract-v2 section 4, RFC
7672) against a real validating resolver: unbound on loopback, validating
the zone dane.test signed offline with ldns-signzone and served by nsd
(dnssec.py), with its DS as the trust anchor; the zone plain.test is
unsigned.

Every MX host is a scripted STARTTLS server on its own 127.0.0.x, all on
one port P; the TLSA records are at _P._tcp.HOST, P being the port
connected to. DANE-EE (3 1 1) records hold the SHA-256 of the server's key,
DANE-TA (2 1 1) that of the test CA's key.
"""

import os
import subprocess

import pytest

from dnssec import SignedDns, available
from harness import free_port, sent_re, simple_message, transport
from tlsca import TestCA, server_context

IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def spki_sha256(cert_path):
    """The SHA-256 of a certificate's SubjectPublicKeyInfo, as TLSA 1 1 data."""
    pub = subprocess.run(["openssl", "x509", "-in", cert_path, "-noout", "-pubkey"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         capture_output=True, check=True).stdout
    import hashlib
    return hashlib.sha256(der).hexdigest().upper()


class World:
    pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One signed world for the module: the CA, certificates, the port, the
    zones, nsd and unbound."""
    if not available():
        what = "nsd, unbound or ldnsutils missing: apt-get install nsd unbound ldnsutils " \
               "(make test-deps)"
        if IN_CI:
            pytest.fail(what + " (CI is set, so this is a failure, not a skip)", pytrace=False)
        pytest.skip(what)
    w = World()
    tmp = tmp_path_factory.mktemp("dane")
    w.dir = tmp
    w.ca = TestCA(tmp / "ca")
    w.other_ca = TestCA(tmp / "other", name="Other CA")
    w.port = free_port("127.0.0.2")
    hosts = {
        "mx-ok": "127.0.0.2",       # 3 1 1 of its own key: good
        "mx-bad": "127.0.0.3",      # 3 1 1 of another key: no match
        "mx-ta": "127.0.0.4",       # 2 1 1 of the CA, certificate for its name
        "mx-taname": "127.0.0.5",   # 2 1 1 of the CA, certificate for another name
        "mx-plain": "127.0.0.6",    # 3 1 1, but no STARTTLS offered
        "mx-none": "127.0.0.7",     # no TLSA at all, no STARTTLS
        "mx-bogus": "127.0.0.8",    # TLSA whose signature does not verify
        "mx-pkix": "127.0.0.9",     # only a PKIX-EE (1 1 1) record: unusable
    }
    w.hosts = hosts
    w.certs = {h: w.ca.issue(f"{h}.dane.test") for h in hosts}
    w.certs["mx-taname"] = w.ca.issue("elsewhere.dane.test")
    w.certs["unsigned"] = w.ca.issue("mx.plain.test")
    other_cert = w.other_ca.issue("mx-bad.dane.test")
    good = lambda h: spki_sha256(w.certs[h][0])
    recs = []
    for h, ip in hosts.items():
        dom = h.replace("mx-", "")
        recs += [f"{dom} MX 10 {h}", f"{h} A {ip}"]
    p = w.port
    recs += [
        f"_{p}._tcp.mx-ok TLSA 3 1 1 {good('mx-ok')}",
        f"_{p}._tcp.mx-bad TLSA 3 1 1 {spki_sha256(other_cert[0])}",
        f"_{p}._tcp.mx-ta TLSA 2 1 1 {spki_sha256(w.ca.ca_path)}",
        f"_{p}._tcp.mx-taname TLSA 2 1 1 {spki_sha256(w.ca.ca_path)}",
        f"_{p}._tcp.mx-plain TLSA 3 1 1 {good('mx-plain')}",
        f"_{p}._tcp.mx-bogus TLSA 3 1 1 {good('mx-bogus')}",
        f"_{p}._tcp.mx-pkix TLSA 1 1 1 {good('mx-pkix')}",
    ]
    plain = ["unsigned MX 10 mx", "mx A 127.0.0.10",
             # An unsigned TLSA record that matches nothing: never trusted.
             f"_{p}._tcp.mx TLSA 3 1 1 {'00' * 32}"]
    w.dns = SignedDns(tmp, {"dane.test": recs, "plain.test": plain}, signed={"dane.test"},
                      bogus={f"_{p}._tcp.mx-bogus.dane.test"}).start()
    yield w
    w.dns.stop()


def servers(world, scripted, *names):
    out = {}
    for h in names:
        ip = "127.0.0.10" if h == "unsigned" else world.hosts[h]
        if h in ("mx-plain", "mx-none"):
            out[h] = scripted(ip, port=world.port, name=h)
            continue
        cert, key = world.certs[h]
        if h in ("mx-ta", "mx-taname"):
            # A digest of a trust anchor matches only when the server
            # sends that certificate in its chain (RFC 7671 5.2.2).
            chain = world.dir / f"{h}-chain.pem"
            chain.write_text(open(cert).read() + open(world.ca.ca_path).read())
            cert = str(chain)
        out[h] = scripted(ip, port=world.port, name=h,
                          smtp_kwargs={"tls_context": server_context(cert, key)})
    return out


def dane_relayd(start_relayd, world, tls="dane", dns_port=None):
    probe = f"_{world.port}._tcp.mx-ok.dane.test"
    return start_relayd(transports={"mx": transport(tls=tls, port=world.port)},
                        routes={"*": "mx"}, dns_port=dns_port or world.dns.port,
                        extra=f'dnssec_probe = "{probe}"\n')


def test_resolver_validates(world):
    """The fixture itself: AD for the signed zone, none for the unsigned
    one, SERVFAIL for the bogus name (drill, from ldnsutils)."""
    def flags(name, t):
        out = subprocess.run(["drill", "-p", str(world.dns.port), "-D", name, "@127.0.0.1", t],
                             capture_output=True, text=True, timeout=10).stdout
        return out
    assert " ad " in flags(f"_{world.port}._tcp.mx-ok.dane.test", "TLSA")
    assert "rcode: SERVFAIL" in flags(f"_{world.port}._tcp.mx-bogus.dane.test", "TLSA")
    out = flags(f"_{world.port}._tcp.mx.plain.test", "TLSA")
    assert "rcode: NOERROR" in out and " ad " not in out


def test_dane_ee_match_and_mismatch(start_relayd, scripted, world):
    s = servers(world, scripted, "mx-ok", "mx-bad")
    r = dane_relayd(start_relayd, world)
    qid = r.send("a@origin.test", ["u@ok.dane.test"], simple_message())
    m = r.wait_log(sent_re("u@ok.dane.test", qid=qid, status="sent"))
    assert m.group("tls").startswith("TLSv1."), m.group(0)
    s["mx-ok"].wait_messages(1)

    qid = r.send("a@origin.test", ["u@bad.dane.test"], simple_message())
    m = r.wait_log(sent_re("u@bad.dane.test", qid=qid, status="deferred"))
    assert m.group("dsn") == "4.7.5", m.group(0)
    assert "no matching DANE TLSA records" in m.group("reason"), m.group(0)
    assert m.group("reason").endswith("(tls_policy=dane (DANE, 1 TLSA record))"), m.group(0)
    assert s["mx-bad"].messages == []


def test_dane_ta_checks_the_name(start_relayd, scripted, world):
    s = servers(world, scripted, "mx-ta", "mx-taname")
    r = dane_relayd(start_relayd, world)
    qid = r.send("a@origin.test", ["u@ta.dane.test"], simple_message())
    r.wait_log(sent_re("u@ta.dane.test", qid=qid, status="sent"))
    s["mx-ta"].wait_messages(1)

    qid = r.send("a@origin.test", ["u@taname.dane.test"], simple_message())
    m = r.wait_log(sent_re("u@taname.dane.test", qid=qid, status="deferred"))
    assert m.group("dsn") == "4.7.5", m.group(0)
    assert "certificate verify failed" in m.group("reason"), m.group(0)
    assert s["mx-taname"].messages == []


def test_usable_tlsa_never_plaintext(start_relayd, scripted, world):
    s = servers(world, scripted, "mx-plain")
    r = dane_relayd(start_relayd, world)
    qid = r.send("a@origin.test", ["u@plain.dane.test"], simple_message())
    m = r.wait_log(sent_re("u@plain.dane.test", qid=qid, status="deferred"))
    assert m.group("dsn").startswith("4.7."), m.group(0)
    assert "not offered" in m.group("reason"), m.group(0)
    assert m.group("reason").endswith("(tls_policy=dane (DANE, 1 TLSA record))"), m.group(0)
    assert s["mx-plain"].messages == []
    assert not r.find_log(r"trying once more without TLS")


def test_no_tlsa_is_may_under_dane_and_skipped_under_dane_only(start_relayd, scripted, world):
    s = servers(world, scripted, "mx-none", "mx-pkix")
    r = dane_relayd(start_relayd, world)
    qid = r.send("a@origin.test", ["u@none.dane.test"], simple_message())
    m = r.wait_log(sent_re("u@none.dane.test", qid=qid, status="sent"))
    assert m.group("tls") == "none", m.group(0)
    # Only unusable records (PKIX-EE): as if there were none.
    qid = r.send("a@origin.test", ["u@pkix.dane.test"], simple_message())
    m = r.wait_log(sent_re("u@pkix.dane.test", qid=qid, status="sent"))
    assert m.group("tls").startswith("TLSv1."), m.group(0)

    r2 = dane_relayd(start_relayd, world, tls="dane-only")
    qid = r2.send("a@origin.test", ["v@none.dane.test"], simple_message())
    m = r2.wait_log(sent_re("v@none.dane.test", qid=qid, status="deferred",
                            strict_relay=False))
    assert m.group("dsn") == "4.7.5", m.group(0)
    assert "no TLSA records for _%d._tcp.mx-none.dane.test" % world.port in m.group("reason")
    assert "(tls_policy=dane-only)" in m.group("reason"), m.group(0)
    qid = r2.send("a@origin.test", ["v@pkix.dane.test"], simple_message())
    m = r2.wait_log(sent_re("v@pkix.dane.test", qid=qid, status="deferred",
                            strict_relay=False))
    assert "none of the 1 TLSA records" in m.group("reason"), m.group(0)
    assert s["mx-none"].wait_messages(1) and len(s["mx-none"].messages) == 1
    assert len(s["mx-pkix"].messages) == 1


def test_bogus_tlsa_defers(start_relayd, scripted, world):
    s = servers(world, scripted, "mx-bogus")
    r = dane_relayd(start_relayd, world)
    qid = r.send("a@origin.test", ["u@bogus.dane.test"], simple_message())
    m = r.wait_log(sent_re("u@bogus.dane.test", qid=qid, status="deferred",
                           strict_relay=False))
    assert m.group("dsn") == "4.7.5", m.group(0)
    assert "mx-bogus.dane.test skipped: TLSA lookup of _%d._tcp.mx-bogus.dane.test failed: " \
        "SERVFAIL" % world.port in m.group("reason"), m.group(0)
    assert m.group("reason").endswith("(tls_policy=dane)"), m.group(0)
    assert s["mx-bogus"].connections == 0


def test_unsigned_tlsa_is_not_trusted(start_relayd, scripted, world):
    s = servers(world, scripted, "unsigned")
    r = dane_relayd(start_relayd, world)
    qid = r.send("a@origin.test", ["u@unsigned.plain.test"], simple_message())
    m = r.wait_log(sent_re("u@unsigned.plain.test", qid=qid, status="sent"))
    assert m.group("tls").startswith("TLSv1."), m.group(0)
    s["unsigned"].wait_messages(1)

    r2 = dane_relayd(start_relayd, world, tls="dane-only")
    qid = r2.send("a@origin.test", ["v@unsigned.plain.test"], simple_message())
    m = r2.wait_log(sent_re("v@unsigned.plain.test", qid=qid, status="deferred",
                            strict_relay=False))
    assert "not DNSSEC-validated" in m.group("reason"), m.group(0)


def test_dnssec_probe_at_start(start_relayd, world, tmp_path):
    """relayd warns at start when dns_servers do not validate: the probe's
    TLSA answer has no AD bit (dnsmasq forwards nothing and validates
    nothing), and says so when they do (unbound)."""
    r = dane_relayd(start_relayd, world)
    r.wait_log(r"DNSSEC probe: dns_servers validate DNSSEC \(_%d\._tcp\.mx-ok\.dane\.test\)"
               % world.port)
    assert not r.find_log(r"warning: DNSSEC probe")

    from dnsserver import DnsServer
    d = DnsServer([f"txt-record=unrelated.test,x"], tmp_path, domains=("test",)).start()
    try:
        r2 = dane_relayd(start_relayd, world, dns_port=d.port)
        r2.wait_log(r"warning: DNSSEC probe: dns_servers do not validate DNSSEC \(no AD bit "
                    r"in the answer for _%d\._tcp\.mx-ok\.dane\.test\): tls_policy dane "
                    r"acts as may" % world.port)
    finally:
        d.stop()
    # No DANE transport: no probe.
    r3 = start_relayd(transports={"mx": transport(port=world.port)}, routes={"*": "mx"},
                      dns_port=world.dns.port)
    r3.send("a@origin.test", ["nobody@nowhere.test"], simple_message())
    assert not r3.find_log(r"DNSSEC probe")


def test_route_shows_the_tlsa_records(start_relayd, world):
    """relayctl route, under a DANE policy, looks up the TLSA records of the
    first MX host and says what they make of TLS."""
    r = dane_relayd(start_relayd, world)
    p = world.port

    def route(addr):
        out = r.ctl("route", addr)
        assert out.returncode == 0, out.stderr
        return out.stdout

    out = route("u@ok.dane.test")
    assert "tls: dane (1 usable TLSA record)\n" in out, out
    assert f"tlsa: _{p}._tcp.mx-ok.dane.test: 1 usable of 1, DNSSEC-validated\n" in out, out
    out = route("u@none.dane.test")
    assert "tls: dane (no usable TLSA records: as may)\n" in out, out
    assert f"tlsa: _{p}._tcp.mx-none.dane.test: none (as may)\n" in out, out
    out = route("u@pkix.dane.test")
    assert f"tlsa: _{p}._tcp.mx-pkix.dane.test: 0 usable of 1, DNSSEC-validated\n" in out, out
    out = route("u@unsigned.plain.test")
    assert f"tlsa: _{p}._tcp.mx.plain.test: 1 record, not DNSSEC-validated (as may)\n" in out, out
    out = route("u@bogus.dane.test")
    assert f"tlsa: _{p}._tcp.mx-bogus.dane.test: lookup failed: SERVFAIL" in out, out
    assert "(the host is skipped)" in out, out

    r2 = dane_relayd(start_relayd, world, tls="dane-only")
    out = r2.ctl("route", "u@none.dane.test").stdout
    assert "tls: dane-only (no usable TLSA records: the host is skipped)\n" in out, out
    # A smarthost under DANE: its first relay host's records.
    r3 = start_relayd(transports={"sh": transport(f"mx-ok.dane.test:{world.port}", tls="dane")},
                      routes={"*": "sh"}, dns_port=world.dns.port,
                      extra=f'dnssec_probe = "_{world.port}._tcp.mx-ok.dane.test"\n')
    out = r3.ctl("route", "u@anything.test").stdout
    assert "tls: dane (1 usable TLSA record)\n" in out, out
    assert f"tlsa: _{world.port}._tcp.mx-ok.dane.test: 1 usable of 1" in out, out
