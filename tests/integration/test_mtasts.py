"""
test_mtasts.py -- MTA-STS (RFC 8461, contract-v2 section 4) for MX delivery:
the TXT record, the HTTPS policy fetch (a local HTTPS server on
127.0.0.20:443 with a certificate from the test CA, which relayd trusts
through tls_ca_file), enforce and testing, the cache in the spool across a
restart with the HTTPS server down, and a new policy when the TXT id
changes.

dnsmasq serves _mta-sts.DOMAIN (TXT), the MX records and the addresses; the
MX hosts are scripted STARTTLS servers on 127.0.0.x, all on one port.
"""

import http.server
import ssl
import threading
import time

import pytest

from dnsserver import DnsServer
from harness import free_port, sent_re, simple_message, transport
from tlsca import TestCA, server_context

HTTPS_IP = "127.0.0.20"


class PolicyServer:
    """HTTPS on HTTPS_IP:443: POLICIES {host: (status, content type, body)}."""

    def __init__(self, cert, key):
        self.policies = {}
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                host = self.headers.get("Host", "")
                outer.requests.append((host, self.path))
                status, ctype, body = outer.policies.get(host, (404, "text/plain", b"no"))
                if self.path != "/.well-known/mta-sts.txt":
                    status, body = 404, b"no"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer((HTTPS_IP, 443), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def policy(mode, *mx, max_age=86400):
    lines = ["version: STSv1", f"mode: {mode}"] + [f"mx: {m}" for m in mx] + \
        [f"max_age: {max_age}"]
    return (200, "text/plain", ("\r\n".join(lines) + "\r\n").encode())


class World:
    pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World()
    tmp = tmp_path_factory.mktemp("sts")
    w.dir = tmp
    w.ca = TestCA(tmp / "ca")
    w.port = free_port("127.0.0.21")
    # Every mta-sts.DOMAIN host name the server answers for.
    names = [f"mta-sts.{d}" for d in ("enf.test", "nomatch.test", "badcert.test",
                                      "testing.test", "cached.test", "newid.test",
                                      "notfound.test", "redirect.test", "ctype.test",
                                      "big.test", "garbage.test", "strictrep.test")]
    w.https_cert = w.ca.issue(names[0], sans=names)
    w.mx_cert = w.ca.issue("mx.sts.test")
    w.self_signed = w.ca.self_signed("mx-bad.sts.test")
    w.https = PolicyServer(*w.https_cert)
    w.https.policies.update({
        "mta-sts.enf.test": policy("enforce", "mx.sts.test"),
        "mta-sts.nomatch.test": policy("enforce", "*.elsewhere.test"),
        "mta-sts.badcert.test": policy("enforce", "*.sts.test"),
        "mta-sts.testing.test": policy("testing", "mx.sts.test", "*.elsewhere.test"),
        "mta-sts.cached.test": policy("enforce", "*.elsewhere.test"),
        "mta-sts.newid.test": policy("enforce", "*.elsewhere.test"),
        # Hostile or broken policy hosts: none of these is a policy.
        "mta-sts.redirect.test": (301, "text/plain", b"moved"),
        "mta-sts.ctype.test": (200, "text/html",
                               policy("enforce", "*.elsewhere.test")[2]),
        "mta-sts.big.test": (200, "text/plain", policy("enforce", "*.elsewhere.test")[2] +
                             b"x-pad: " + b"y" * (70 * 1024) + b"\r\n"),
        "mta-sts.garbage.test": (200, "text/plain", b"<html>not a policy</html>\n"),
        "mta-sts.wrongcert.test": policy("enforce", "*.elsewhere.test"),
        "mta-sts.strictrep.test": policy("enforce", "*.elsewhere.test"),
    })
    yield w
    w.https.stop()


def records(world, newid="1"):
    r = ["host-record=mx.sts.test,127.0.0.21", "host-record=mx-bad.sts.test,127.0.0.22"]
    for d, mx in (("redirect.test", "mx.sts.test"), ("ctype.test", "mx.sts.test"),
                  ("big.test", "mx.sts.test"), ("wrongcert.test", "mx.sts.test"),
                  ("garbage.test", "mx.sts.test"),
                  ("enf.test", "mx.sts.test"), ("nomatch.test", "mx.sts.test"),
                  ("badcert.test", "mx-bad.sts.test"), ("testing.test", "mx-bad.sts.test"),
                  ("cached.test", "mx.sts.test"), ("newid.test", "mx.sts.test"),
                  ("notfound.test", "mx.sts.test"), ("none.test", "mx.sts.test")):
        r.append(f"mx-host={d},{mx},10")
        if d != "none.test":
            r.append(f"host-record=mta-sts.{d},{HTTPS_IP}")
            r.append(f'txt-record=_mta-sts.{d},v=STSv1; id={newid if d == "newid.test" else 1};')
    return r


@pytest.fixture
def dns(tmp_path):
    made = []

    def factory(recs):
        d = DnsServer(recs, tmp_path).start()
        made.append(d)
        return d

    yield factory
    for d in made:
        d.stop()


def mx_servers(world, scripted):
    good = scripted("127.0.0.21", port=world.port, name="mx",
                    smtp_kwargs={"tls_context": server_context(*world.mx_cert)})
    bad = scripted("127.0.0.22", port=world.port, name="mx-bad",
                   smtp_kwargs={"tls_context": server_context(*world.self_signed)})
    return good, bad


def sts_relayd(start_relayd, world, d, **kw):
    return start_relayd(transports={"mx": transport(port=world.port, tls="may")},
                        routes={"*": "mx"}, dns_port=d.port,
                        extra=f'tls_ca_file = "{world.ca.ca_path}"\n', **kw)


def test_enforce_verified_delivery(start_relayd, scripted, world, dns):
    good, bad = mx_servers(world, scripted)
    d = dns(records(world))
    r = sts_relayd(start_relayd, world, d)
    qid = r.send("a@origin.test", ["u@enf.test"], simple_message())
    m = r.wait_log(sent_re("u@enf.test", qid=qid, status="sent"))
    assert m.group("tls").startswith("TLSv1."), m.group(0)
    r.wait_log(r"MTA-STS: enf\.test: policy id 1 fetched: mode enforce, max_age 86400, 1 mx")
    assert ("mta-sts.enf.test", "/.well-known/mta-sts.txt") in world.https.requests
    # A domain without a TXT record has no policy: may, as the transport says.
    qid = r.send("a@origin.test", ["u@none.test"], simple_message())
    r.wait_log(sent_re("u@none.test", qid=qid, status="sent"))
    assert not [h for h, _ in world.https.requests if h == "mta-sts.none.test"]


def test_enforce_skips_unlisted_mx_and_bad_certificates(start_relayd, scripted, world, dns):
    good, bad = mx_servers(world, scripted)
    d = dns(records(world))
    r = sts_relayd(start_relayd, world, d)
    qid = r.send("a@origin.test", ["u@nomatch.test"], simple_message())
    m = r.wait_log(sent_re("u@nomatch.test", qid=qid, status="deferred", strict_relay=False))
    assert m.group("dsn") == "4.7.5", m.group(0)
    assert m.group("reason") == (
        "mx.sts.test skipped: mx.sts.test is not an MX host of the MTA-STS policy of "
        "nomatch.test (mode enforce, id 1) (tls_policy=mta-sts)"), m.group(0)
    assert good.connections == 0

    qid = r.send("a@origin.test", ["u@badcert.test"], simple_message())
    m = r.wait_log(sent_re("u@badcert.test", qid=qid, status="deferred"))
    assert m.group("dsn") == "4.7.5", m.group(0)
    assert "certificate verify failed" in m.group("reason"), m.group(0)
    assert m.group("reason").endswith("(tls_policy=mta-sts (badcert.test, id 1))"), m.group(0)
    assert bad.messages == []
    assert not r.find_log(r"trying once more without TLS")


def test_testing_mode_delivers_and_logs(start_relayd, scripted, world, dns):
    good, bad = mx_servers(world, scripted)
    d = dns(records(world))
    r = sts_relayd(start_relayd, world, d)
    qid = r.send("a@origin.test", ["u@testing.test"], simple_message())
    r.wait_log(sent_re("u@testing.test", qid=qid, status="sent"))
    r.wait_log(r"MTA-STS testing: mx-bad\.sts\.test is not an MX host of the MTA-STS policy "
               r"of testing\.test \(mode testing, id 1\); it is used all the same")
    bad.wait_messages(1)


def test_fetch_failure_without_cache_is_no_policy(start_relayd, scripted, world, dns):
    good, bad = mx_servers(world, scripted)
    d = dns(records(world))
    r = sts_relayd(start_relayd, world, d)
    qid = r.send("a@origin.test", ["u@notfound.test"], simple_message())
    r.wait_log(sent_re("u@notfound.test", qid=qid, status="sent"))
    r.wait_log(r"warning: MTA-STS: notfound\.test: the policy fetch from mta-sts\.notfound\.test "
               r"answered HTTP 404, not 200")


def test_cached_policy_survives_restart_with_https_down(start_relayd, scripted, world, dns):
    good, bad = mx_servers(world, scripted)
    d = dns(records(world))
    r = sts_relayd(start_relayd, world, d)
    qid = r.send("a@origin.test", ["u@cached.test"], simple_message())
    r.wait_log(sent_re("u@cached.test", qid=qid, status="deferred", strict_relay=False))
    r.stop()
    saved = dict(world.https.policies)
    world.https.policies.clear()         # every fetch now gets 404
    try:
        r.start()
        r.wait_log(r"MTA-STS: 1 cached policy loaded|MTA-STS: \d+ cached policies loaded")
        n = len(world.https.requests)
        qid = r.send("a@origin.test", ["v@cached.test"], simple_message())
        m = r.wait_log(sent_re("v@cached.test", qid=qid, status="deferred", strict_relay=False))
        assert "MTA-STS policy of cached.test (mode enforce, id 1)" in m.group("reason")
        # The id is the cached one: nothing fetched.
        assert len(world.https.requests) == n
    finally:
        world.https.policies.update(saved)


def test_new_id_fetches_the_new_policy(start_relayd, scripted, world, dns, tmp_path):
    good, bad = mx_servers(world, scripted)
    d = dns(records(world))
    r = sts_relayd(start_relayd, world, d)
    qid = r.send("a@origin.test", ["u@newid.test"], simple_message())
    r.wait_log(sent_re("u@newid.test", qid=qid, status="deferred", strict_relay=False))
    # The domain publishes a new policy under a new id: it lists the MX.
    world.https.policies["mta-sts.newid.test"] = policy("enforce", "mx.sts.test")
    d.stop()
    d.records = records(world, newid="2")
    d.start()
    r.wait_log(r"MTA-STS: newid\.test: policy id 2 fetched", timeout=30)  # answers are reused 10 s
    r.wait_log(sent_re("u@newid.test", qid=qid, status="sent"), timeout=30)
    good.wait_messages(1)


def test_route_shows_the_policy(start_relayd, scripted, world, dns):
    d = dns(records(world))
    r = sts_relayd(start_relayd, world, d)
    out = r.ctl("route", "u@enf.test")
    assert out.returncode == 0, out.stderr
    assert "tls: mta-sts enforce (id 1, max_age 86400, mx mx.sts.test)\n" in out.stdout, out.stdout
    assert "tls_policy: may (may): not used where the MTA-STS policy applies\n" in out.stdout
    out = r.ctl("route", "u@testing.test").stdout
    assert "tls: mta-sts testing (id 1, max_age 86400, mx mx.sts.test, *.elsewhere.test)\n" \
        in out, out
    out = r.ctl("route", "u@none.test").stdout
    assert "tls: may (may)\n" in out and "mta-sts" not in out, out


@pytest.mark.parametrize("domain,reason", [
    ("redirect", r"the policy fetch from mta-sts\.redirect\.test answered HTTP 301, not 200"),
    ("ctype", r"the policy from mta-sts\.ctype\.test is not text/plain "
              r"\(Content-Type: text/html\)"),
    ("big", r"the policy from mta-sts\.big\.test is over 65536 bytes"),
    ("garbage", r"mta-sts\.garbage\.test: the policy does not parse: "),
    ("wrongcert", r"cannot fetch the policy from mta-sts\.wrongcert\.test: certificate verify "
                  r"failed: hostname mismatch"),
])
def test_hostile_policy_hosts_give_no_policy(start_relayd, scripted, world, dns, domain, reason):
    """A redirect, HTML, an oversized body, garbage, a certificate for
    other names: never a policy; the mail goes as the transport says and
    the reason is logged."""
    good, bad = mx_servers(world, scripted)
    d = dns(records(world))
    r = sts_relayd(start_relayd, world, d)
    qid = r.send("a@origin.test", [f"u@{domain}.test"], simple_message())
    r.wait_log(sent_re(f"u@{domain}.test", qid=qid, status="sent"))
    r.wait_log(r"warning: MTA-STS: %s\.test: (%s)" % (domain, reason))


def test_site_connection_reused_only_under_every_policy(start_relayd, scripted, world, dns):
    """destination_by = "mx": domains behind one MX host set share
    connections and transactions; a connection opened for a domain without
    a policy (TLS unverified) is not reused for a domain whose policy is
    enforced; one verified under it is."""
    good, bad = mx_servers(world, scripted)
    d = dns(records(world))
    r = start_relayd(transports={"mx": transport(port=world.port, tls="may",
                                                 destination_by="mx")},
                     routes={"*": "mx"}, dns_port=d.port,
                     extra=f'tls_ca_file = "{world.ca.ca_path}"\n')
    q = r.send("a@origin.test", ["u@none.test"], simple_message("1"))
    r.wait_log(sent_re("u@none.test", qid=q, status="sent"))
    assert good.connections == 1
    q = r.send("a@origin.test", ["v@enf.test"], simple_message("2"))
    r.wait_log(sent_re("v@enf.test", qid=q, status="sent"))
    assert good.connections == 2, "an unverified connection carried mail for an enforced policy"
    # The verified connection serves both domains from now on.
    for rc in ("w@enf.test", "x@none.test"):
        q = r.send("a@origin.test", [rc], simple_message(rc))
        r.wait_log(sent_re(rc, qid=q, status="sent"))
    assert good.connections == 2, good.connections
    # A domain of the site whose enforced policy does not list the host:
    # its recipient never goes there, the other one does.
    q = r.send("a@origin.test", ["y@none.test", "z@nomatch.test"], simple_message("3"))
    r.wait_log(sent_re("y@none.test", qid=q, status="sent"))
    m = r.wait_log(sent_re("z@nomatch.test", qid=q, status="deferred", strict_relay=False))
    assert "not an MX host of the MTA-STS policy of nomatch.test" in m.group("reason")
    assert not [x for x in good.messages if "z@nomatch.test" in x.rcpt_tos]


def test_tls_report_counts(start_relayd, scripted, world, dns):
    """With a tls_report section relayd counts, per policy domain, the TLS
    sessions its MTA-STS policy applied to and the failures with their
    RFC 8460 result types; relayctl tls-report shows them; they survive a
    restart."""
    import json
    good, bad = mx_servers(world, scripted)
    d = dns(records(world))
    r = start_relayd(transports={"mx": transport(port=world.port, tls="may")},
                     routes={"*": "mx"}, dns_port=d.port,
                     extra=f'tls_ca_file = "{world.ca.ca_path}"\n'
                           'tls_report {\n\torganization = "Test Org"\n'
                           '\tcontact = "postmaster@relay.test"\n}\n')
    for rc, st in (("a@enf.test", "sent"), ("b@enf.test", "sent"),
                   ("c@badcert.test", "deferred"), ("d@nomatch.test", "deferred"),
                   ("e@notfound.test", "sent")):
        q = r.send("a@origin.test", [rc], simple_message(rc))
        r.wait_log(sent_re(rc, qid=q, status=st, strict_relay=False))
    p = r.ctl("tls-report", "--json")
    assert p.returncode == 0, p.stderr
    rep = {(e["domain"], e["policy_type"]): e for e in json.loads(p.stdout)}
    enf = rep[("enf.test", "sts")]
    # Sessions, not messages: the second message reused the connection.
    assert enf["successful"] == 1 and enf["failed"] == 0 and enf["failures"] == [], enf
    bc = rep[("badcert.test", "sts")]
    assert bc["successful"] == 0 and bc["failed"] >= 1, bc
    assert {f["result_type"] for f in bc["failures"]} == {"certificate-not-trusted"}, bc
    assert bc["failures"][0]["receiving_mx_hostname"] == "mx-bad.sts.test", bc
    nm = rep[("nomatch.test", "sts")]
    assert [f["result_type"] for f in nm["failures"]] == ["validation-failure"], nm
    nf = rep[("notfound.test", "sts")]
    assert [f["result_type"] for f in nf["failures"]] == ["sts-policy-fetch-error"], nf
    assert ("none.test", "sts") not in rep
    text = r.ctl("tls-report").stdout
    assert "enf.test (sts): 1 successful, 0 failed" in text, text

    r.stop()
    r.start()
    rep2 = {(e["domain"], e["policy_type"]): e
            for e in json.loads(r.ctl("tls-report", "--json").stdout)}
    assert rep2[("enf.test", "sts")]["successful"] == 1, rep2
    # (retries of the deferred ones may have added failures meanwhile)
    assert rep2[("badcert.test", "sts")]["failed"] >= bc["failed"], rep2

    # Without a tls_report section nothing is counted, and relayctl says so.
    r3 = sts_relayd(start_relayd, world, d)
    p = r3.ctl("tls-report")
    assert p.returncode == 1 and "no tls_report section" in p.stderr, p


def test_tls_report_sent_at_the_end_of_the_interval(start_relayd, scripted, world, dns):
    """At the end of an interval relayd looks up _smtp._tls.DOMAIN and
    queues the RFC 8460 report, gzip'd JSON in a multipart/report message,
    to its mailto: address; the report is checked field by field."""
    import email
    import gzip
    import json
    good, bad = mx_servers(world, scripted)
    sink = scripted("127.0.0.23", port=world.port, name="reports")
    d = dns(records(world) + [
        "txt-record=_smtp._tls.enf.test,v=TLSRPTv1; rua=mailto:tlsrpt@reports.test",
        "mx-host=reports.test,rep.sts.test,10", "host-record=rep.sts.test,127.0.0.23"])
    r = start_relayd(transports={"mx": transport(port=world.port, tls="may")},
                     routes={"*": "mx"}, dns_port=d.port,
                     extra=f'tls_ca_file = "{world.ca.ca_path}"\n'
                           'tls_report {\n\torganization = "Test Org"\n'
                           '\tcontact = "postmaster@relay.test"\n\tinterval = "10s"\n}\n')
    q = r.send("a@origin.test", ["u@enf.test"], simple_message("counted"))
    r.wait_log(sent_re("u@enf.test", qid=q, status="sent"))
    m = r.wait_log(r"TLS-RPT: report for enf\.test queued as (?P<qid>[0-9A-F]+) to "
                   r"tlsrpt@reports\.test", timeout=30)
    r.wait_log(sent_re("tlsrpt@reports.test", qid=m.group("qid"), status="sent"))
    [rep] = sink.wait_messages(1)
    assert rep.mail_from == "noreply-smtp-tls-reporting@relay.test", rep.mail_from
    assert rep.rcpt_tos == ["tlsrpt@reports.test"]
    msg = email.message_from_bytes(rep.content)   # relayd's Received: line comes first
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "tlsrpt"
    assert msg["TLS-Report-Domain"] == "enf.test"
    assert msg["TLS-Report-Submitter"] == "relay.test"
    assert msg["Subject"].startswith("Report Domain: enf.test Submitter: relay.test Report-ID: <")
    parts = [p for p in msg.walk() if p.get_content_type() == "application/tlsrpt+gzip"]
    assert len(parts) == 1, [p.get_content_type() for p in msg.walk()]
    fname = parts[0].get_filename()
    sub, dom, begin, end = fname[:-len(".json.gz")].split("!")
    assert (sub, dom) == ("relay.test", "enf.test") and fname.endswith(".json.gz"), fname
    assert int(end) - int(begin) == 10 and int(begin) % 10 == 0, fname
    report = json.loads(gzip.decompress(parts[0].get_payload(decode=True)))
    assert report["organization-name"] == "Test Org"
    assert report["contact-info"] == "postmaster@relay.test"
    assert report["report-id"].endswith("@relay.test")
    import datetime
    start = datetime.datetime.fromtimestamp(int(begin), datetime.timezone.utc)
    assert report["date-range"]["start-datetime"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    [pol] = report["policies"]
    assert pol["policy"]["policy-type"] == "sts"
    assert pol["policy"]["policy-domain"] == "enf.test"
    assert "mode: enforce" in pol["policy"]["policy-string"], pol
    assert pol["policy"]["mx-host"] == ["mx.sts.test"], pol
    assert pol["summary"] == {"total-successful-session-count": 1,
                              "total-failure-session-count": 0}, pol
    assert pol["failure-details"] == [], pol


def test_tls_report_sessions_are_not_counted(start_relayd, scripted, world, dns):
    """The report's own delivery is never counted: its rua domain enforces
    a policy that does not list its MX host, the report is deferred, and
    no failure appears for that domain."""
    import json
    good, bad = mx_servers(world, scripted)
    d = dns(records(world) + [
        "txt-record=_smtp._tls.enf.test,v=TLSRPTv1; rua=mailto:tlsrpt@strictrep.test",
        "mx-host=strictrep.test,rep.sts.test,10", "host-record=rep.sts.test,127.0.0.23",
        "txt-record=_mta-sts.strictrep.test,v=STSv1; id=1;",
        f"host-record=mta-sts.strictrep.test,{HTTPS_IP}"])
    r = start_relayd(transports={"mx": transport(port=world.port, tls="may")},
                     routes={"*": "mx"}, dns_port=d.port,
                     extra=f'tls_ca_file = "{world.ca.ca_path}"\n'
                           'tls_report {\n\torganization = "Test Org"\n'
                           '\tcontact = "postmaster@relay.test"\n\tinterval = "10s"\n}\n')
    q = r.send("a@origin.test", ["u@enf.test"], simple_message("counted"))
    r.wait_log(sent_re("u@enf.test", qid=q, status="sent"))
    m = r.wait_log(r"TLS-RPT: report for enf\.test queued as (?P<qid>[0-9A-F]+) to "
                   r"tlsrpt@strictrep\.test", timeout=30)
    w = r.wait_log(sent_re("tlsrpt@strictrep.test", qid=m.group("qid"), status="deferred",
                           strict_relay=False))
    assert "MTA-STS policy of strictrep.test" in w.group("reason"), w.group(0)
    rep = json.loads(r.ctl("tls-report", "--json").stdout)
    assert not [e for e in rep if e["domain"] == "strictrep.test"], rep
