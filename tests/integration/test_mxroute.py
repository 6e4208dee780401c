"""
test_mxroute.py -- "mx:" routes (contract: route PATTERN): a domain that
matches no domain pattern is routed by its MX host names, so every domain
hosted "at Google" takes the Google transport; the MX lookup happens at
RCPT time, and a DNS failure there gives 451 4.4.3.
"""

import pytest

from dnsserver import DnsServer
from harness import RawClient, sent_re, simple_message, transport


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


RECORDS = (
    "mx-host=custom.test,aspmx.l.google.test,1",
    "mx-host=custom.test,alt1.aspmx.l.google.test,5",
    "mx-host=elsewhere.test,mx.elsewhere.test,10",
    "host-record=aspmx.l.google.test,127.0.0.9",
    "host-record=mx.elsewhere.test,127.0.0.9",
)


def test_mx_route_takes_google_hosted_domains(start_relayd, scripted, dns):
    google = scripted("127.0.0.2", name="google-smarthost")
    other = scripted("127.0.0.3", name="other")
    d = dns(*RECORDS)
    r = start_relayd(transports={"google": transport(google), "other": transport(other)},
                     routes={"mx:.google.test": "google", "*": "other"}, dns_port=d.port)
    q1 = r.send("a@origin.test", ["user@custom.test"], simple_message())
    q2 = r.send("a@origin.test", ["user@elsewhere.test"], simple_message())
    r.wait_log(sent_re("user@custom.test", qid=q1, status="sent", transport="google"))
    r.wait_log(sent_re("user@elsewhere.test", qid=q2, status="sent", transport="other"))
    assert [m.rcpt_tos for m in google.messages] == [["user@custom.test"]]
    assert [m.rcpt_tos for m in other.messages] == [["user@elsewhere.test"]]


def test_mx_route_only_without_star(start_relayd, scripted, dns):
    google = scripted("127.0.0.2", name="google-smarthost")
    d = dns(*RECORDS)
    r = start_relayd(transports={"google": transport(google)},
                     routes={"mx:.google.test": "google"}, dns_port=d.port)
    with RawClient(r.host, r.port) as c:
        c.cmd("EHLO client.test")
        assert c.cmd("MAIL FROM:<a@origin.test>").code == 250
        assert c.cmd("RCPT TO:<user@custom.test>").code == 250
        rep = c.cmd("RCPT TO:<user@elsewhere.test>")
        assert rep.code == 550 and rep.line.startswith("550 5.1.2"), rep.line


def test_dns_failure_at_rcpt(start_relayd, scripted, dns):
    other = scripted("127.0.0.3", name="other")
    d = dns(*RECORDS)
    r = start_relayd(transports={"other": transport(other)},
                     routes={"mx:.google.test": "other", "*": "other"}, dns_port=d.port)
    d.stop()
    with RawClient(r.host, r.port, timeout=15) as c:
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<a@origin.test>")
        rep = c.cmd("RCPT TO:<user@custom.test>", timeout=15)
        assert rep.code == 451 and rep.line.startswith("451 4.4.3"), rep.line
        # The session goes on.
        assert c.cmd("NOOP").code == 250
