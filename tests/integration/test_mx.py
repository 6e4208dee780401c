"""
test_mx.py -- MX delivery over real DNS (dnsmasq on loopback): preference
order, failover to the next MX, implicit MX, NXDOMAIN and null MX bounce
at once, a dead DNS server defers.

The transport has no relay, so relayd looks up the recipient domain's MX
and connects to each MX host on the transport's port (all scripted servers
of a test share one port on different 127.0.0.x addresses).
"""

import re

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


def mx_relayd(start_relayd, dns_server, port, **queue):
    return start_relayd(transports={"mx": transport(port=port)}, routes={"*": "mx"},
                        dns_port=dns_server.port, queue=queue or None)


def test_mx_preference_order(start_relayd, scripted, dns):
    port = free_port("127.0.0.3")
    mx1 = scripted("127.0.0.3", port=port, name="mx1")
    mx2 = scripted("127.0.0.4", port=port, name="mx2")
    d = dns("mx-host=pref.test,mx2.pref.test,20", "mx-host=pref.test,mx1.pref.test,10",
            "host-record=mx1.pref.test,127.0.0.3", "host-record=mx2.pref.test,127.0.0.4")
    r = mx_relayd(start_relayd, d, port)
    r.send("a@origin.test", ["user@pref.test"], simple_message())
    mx1.wait_messages(1)
    assert mx2.messages == []
    m = r.wait_log(sent_re("user@pref.test", status="sent", transport="mx"))
    assert (m["relayhost"], m["relayip"], m["relayport"]) == ("mx1.pref.test", "127.0.0.3",
                                                              str(port)), m.group(0)


def test_failover_to_second_mx(start_relayd, scripted, dns):
    port = free_port("127.0.0.3")
    # mx1's address has nothing listening on the port: connection refused.
    mx2 = scripted("127.0.0.4", port=port, name="mx2")
    d = dns("mx-host=fo.test,mx1.fo.test,10", "mx-host=fo.test,mx2.fo.test,20",
            "mx-host=fo2.test,mx1.fo.test,10", "mx-host=fo2.test,mx2.fo.test,20",
            "host-record=mx1.fo.test,127.0.0.3", "host-record=mx2.fo.test,127.0.0.4")
    r = mx_relayd(start_relayd, d, port)
    r.send("a@origin.test", ["user@fo.test"], simple_message())
    mx2.wait_messages(1)
    m = r.wait_log(sent_re("user@fo.test", status="sent", transport="mx", attempts=1))
    assert (m["relayhost"], m["relayip"], m["relayport"]) == ("mx2.fo.test", "127.0.0.4",
                                                              str(port)), m.group(0)

    # The first MX answering 421 also moves on to the second (another
    # domain, so the idle connection to mx2 is not simply reused).
    mx1 = scripted("127.0.0.3", port=port, name="mx1", greeting="421 4.7.0 busy, go away")
    r.send("a@origin.test", ["other@fo2.test"], simple_message())
    mx2.wait_messages(2)
    assert mx1.messages == []
    assert mx1.connections >= 1


def test_implicit_mx(start_relayd, scripted, dns):
    port = free_port("127.0.0.5")
    srv = scripted("127.0.0.5", port=port, name="implicit")
    d = dns("host-record=implicit.test,127.0.0.5")
    r = mx_relayd(start_relayd, d, port)
    r.send("a@origin.test", ["user@implicit.test"], simple_message())
    srv.wait_messages(1)
    r.wait_log(r"relay=implicit\.test\[127\.0\.0\.5\]:%d, .*status=sent" % port)
    r.wait_log(sent_re("user@implicit.test", status="sent"))


@pytest.mark.parametrize("domain,records,dsn,words", [
    ("nxdomain.test", [], "5.1.2", "not found"),
    ("nullmx.test", ["mx-host=nullmx.test,.,0"], "5.1.10", "null MX"),
    ("nomx-noaddr.test", ["txt-record=nomx-noaddr.test,v=spf1 -all"], "5.1.2", "not found"),
])
def test_bounce_at_once(start_relayd, dns, domain, records, dsn, words):
    d = dns(*records)
    r = mx_relayd(start_relayd, d, free_port("127.0.0.6"))
    qid = r.send("a@origin.test", [f"user@{domain}"], simple_message())
    m = r.wait_log(sent_re(f"user@{domain}", qid=qid, status="bounced", transport="mx",
                           attempts=1, strict_relay=False))
    assert m["relay"] == "none" and m["dsn"] == dsn, m.group(0)
    assert words.lower() in m["reason"].lower(), m.group(0)
    # Never retried: the retry period is 1s; nothing more in 3 periods.
    import time
    time.sleep(3)
    assert len(r.find_log(r"to=<user@%s>" % re.escape(domain))) == 1


def test_dns_failure_defers(start_relayd, scripted, dns):
    port = free_port("127.0.0.7")
    srv = scripted("127.0.0.7", port=port, name="late")
    d = dns("mx-host=sf.test,mx.sf.test,10", "host-record=mx.sf.test,127.0.0.7")
    r = mx_relayd(start_relayd, d, port, retry=["2s"])
    d.stop()  # nobody answers: a timeout, i.e. SERVFAIL from relayd's view
    r.send("a@origin.test", ["user@sf.test"], simple_message())
    m = r.wait_log(sent_re("user@sf.test", status="deferred", transport="mx", attempts=1,
                           strict_relay=False), timeout=20)
    assert m["relay"] == "none" and m["dsn"] == "4.4.3", m.group(0)
    assert srv.messages == []
    # DNS comes back: the next attempt delivers.
    d.start()
    srv.wait_messages(1, timeout=25)
    r.wait_log(r"to=<user@sf\.test>, .*status=sent")
