"""
test_literal.py -- recipients whose domain is an address literal (contract:
"On the wire (outbound)"): user@[192.0.2.7] and user@[IPv6:2001:db8::7] are
delivered to that address on an MX-delivery transport, never looked up in
DNS, and mx: routes never apply to them; on a transport with relay they go
to the relay like any other recipient.

The DNS server is a dnsmasq on loopback that logs every query: a test that
must make no lookup reads its log. Each scripted server listens on the
transport's port at the literal's address (127.0.0.x, or ::1).
"""

import re
import time

import pytest

from dnsserver import DnsServer
from harness import free_port, sent_re, simple_message, transport


@pytest.fixture
def dns(tmp_path):
    made = []

    def factory(*records):
        d = DnsServer(records, tmp_path).start()
        made.append(d)
        return d

    yield factory
    for d in made:
        d.stop()


def queries(d):
    """The queries D answered, but its own readiness probe ("test" A)."""
    return [ln for ln in d.log_text().splitlines()
            if "query[" in ln and not ln.endswith("query[A] test from 127.0.0.1")]


@pytest.mark.parametrize("host,literal", [
    ("127.0.0.3", "[127.0.0.3]"),
    ("::1", "[IPv6:::1]"),
], ids=["ipv4", "ipv6"])
def test_literal_delivered_to_its_address(start_relayd, scripted, dns, host, literal):
    """With an mx: route configured (it would need the MX hosts), the
    literal takes "*", an MX-delivery transport, and goes straight to the
    address: no MX or address lookup at RCPT or at delivery."""
    port = free_port(host)
    srv = scripted(host, port=port, name="literal")
    google = scripted("127.0.0.4", name="google")
    d = dns("mx-host=corp.test,aspmx.l.google.com,10")
    r = start_relayd(transports={"mx": transport(port=port), "gmail": transport(google)},
                     routes={"mx:.google.com": "gmail", "*": "mx"}, dns_port=d.port)
    rcpt = f"user@{literal}"
    qid = r.send("a@origin.test", [rcpt], simple_message(subject="literal"))
    (m,) = srv.wait_messages(1)
    assert m.rcpt_tos == [rcpt], m.rcpt_tos
    got = r.wait_log(sent_re(rcpt, qid=qid, status="sent", transport="mx", attempts=1))
    assert (got["relayhost"], got["relayip"], got["relayport"]) == (host, host, str(port)), \
        got.group(0)
    assert google.messages == []
    time.sleep(0.3)
    assert queries(d) == [], queries(d)

    # relayctl route says so, and looks nothing up either.
    out = r.ctl("route", rcpt)
    assert out.returncode == 0, out.stderr
    assert "route: *\n" in out.stdout and "transport: mx\n" in out.stdout, out.stdout
    assert f"relay: [{host}]:{port} (the address literal, no DNS)" in out.stdout, out.stdout
    assert "mx:" not in out.stdout and "note:" not in out.stdout, out.stdout
    assert queries(d) == [], queries(d)


def test_literal_without_dns(start_relayd, scripted):
    """No DNS server at all (the configured port is dead): a literal is
    still delivered at once, where any lookup would time out and defer."""
    port = free_port("127.0.0.5")
    srv = scripted("127.0.0.5", port=port, name="literal")
    r = start_relayd(transports={"mx": transport(port=port)},
                     routes={"mx:.example.net": "mx", "*": "mx"})
    qid = r.send("a@origin.test", ["x@[127.0.0.5]", "y@[127.0.0.5]"],
                 simple_message(subject="no dns"))
    (m,) = srv.wait_messages(1, timeout=5)
    assert sorted(m.rcpt_tos) == ["x@[127.0.0.5]", "y@[127.0.0.5]"]
    for a in ("x@[127.0.0.5]", "y@[127.0.0.5]"):
        r.wait_log(sent_re(a, qid=qid, status="sent", transport="mx", attempts=1))
    assert not r.find_log(r"4\.4\.3|DNS failure"), r.log_text()


def test_literal_on_relay_transport_goes_to_the_relay(start_relayd, scripted, dns):
    """A literal only changes MX delivery: through a transport with relay
    it goes to the relay, which gets the address as it was written."""
    sink = scripted("127.0.0.2", name="relay")
    other = scripted("127.0.0.6", port=sink.port, name="the literal's host")
    d = dns()
    r = start_relayd(transports={"out": transport(sink)}, routes={"*": "out"},
                     dns_port=d.port)
    qid = r.send("a@origin.test", ["user@[127.0.0.6]"], simple_message(subject="relay"))
    (m,) = sink.wait_messages(1)
    assert m.rcpt_tos == ["user@[127.0.0.6]"]
    r.wait_log(sent_re("user@[127.0.0.6]", qid=qid, status="sent", transport="out"))
    assert other.messages == [] and other.connections == 0
    assert queries(d) == [], queries(d)


def test_literal_down_defers_without_lookup(start_relayd, scripted, dns):
    """Nothing listens at the literal's address: deferred with the
    connection failure (not a DNS failure, not a bounce), and no lookup."""
    port = free_port("127.0.0.7")
    d = dns()
    r = start_relayd(transports={"mx": transport(port=port)},
                     routes={"mx:.google.com": "mx", "*": "mx"}, dns_port=d.port,
                     queue={"retry": ["1h"]})
    qid = r.send("a@origin.test", ["user@[127.0.0.7]"], simple_message())
    m = r.wait_log(sent_re("user@[127.0.0.7]", qid=qid, status="deferred", strict_relay=False))
    assert m["dsn"] == "4.4.1" and re.search(r"connect to 127\.0\.0\.7\[127\.0\.0\.7\]:%d"
                                             % port, m["reason"]), m.group(0)
    assert queries(d) == [], queries(d)
