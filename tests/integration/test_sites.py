"""
test_sites.py -- destinations by site (contract-v2 section 1: transport
destination_by = "mx"): every domain whose MX records name the same host set
shares one destination: recipients of one message that share a site go in
one transaction, one connection carries mail for several of its domains,
one rate and one detour apply to all of them; relayctl destinations and
route show the site; a domain follows its MX set when it changes. Real DNS
(dnsmasq) names the MX hosts; scripted servers answer on 127.0.0.2/.3.
"""

import json
import re
import time

import pytest

from dnsserver import DnsServer
from harness import free_port, sent_re, simple_message, transport
from test_shaping import send_many

SPAMHAUS = ("550 5.7.1 Service unavailable; client [127.0.0.1] blocked using "
            "zen.spamhaus.org")

# a.test and b.test: one site (mx1.site.test, mx2.site.test, both 127.0.0.2);
# c.test: its own host (127.0.0.3).
RECORDS = ["mx-host=a.test,mx1.site.test,10", "mx-host=a.test,mx2.site.test,20",
           "mx-host=b.test,MX2.site.test,5", "mx-host=b.test,mx1.site.test,10",
           "mx-host=c.test,mx.c.test,10",
           "host-record=mx1.site.test,127.0.0.2", "host-record=mx2.site.test,127.0.0.2",
           "host-record=mx.c.test,127.0.0.3"]
SITE = "mx1.site.test,mx2.site.test"


@pytest.fixture
def dns(tmp_path):
    d = DnsServer(RECORDS, tmp_path).start()
    yield d
    d.stop()


def two_servers(scripted, **script):
    """The site's server on 127.0.0.2 and c.test's on 127.0.0.3, one port."""
    for _ in range(20):
        port = free_port("127.0.0.2")
        try:
            site = scripted("127.0.0.2", port=port, name="site", **script)
            other = scripted("127.0.0.3", port=port, name="c")
            return port, site, other
        except OSError:
            continue
    raise RuntimeError("no port free on both addresses")


def test_one_transaction_for_a_site(start_relayd, scripted, dns):
    port, site, other = two_servers(scripted)
    r = start_relayd(transports={"mx": transport(port=port, destination_by="mx")},
                     routes={"*": "mx"}, dns_port=dns.port)
    qid = r.send("a@origin.test", ["u@a.test", "v@b.test", "w@c.test"], simple_message("one"))
    for rc in ("u@a.test", "v@b.test", "w@c.test"):
        r.wait_log(sent_re(rc, qid=qid, status="sent"))
    [m] = site.wait_messages(1)
    assert sorted(m.rcpt_tos) == ["u@a.test", "v@b.test"], m.rcpt_tos
    assert [x.rcpt_tos for x in other.wait_messages(1)] == [["w@c.test"]]
    time.sleep(0.3)
    assert len(site.messages) == 1, "a site's recipients went in more than one transaction"

    # Mail for a.test, then b.test: one connection to the site carries both.
    conns = site.connections
    for rc in ("x@a.test", "y@b.test", "z@a.test"):
        q = r.send("a@origin.test", [rc], simple_message(rc))
        r.wait_log(sent_re(rc, qid=q, status="sent"))
    assert site.connections == conns, f"{site.connections - conns} new connections"

    out = r.ctl("destinations", "--json")
    assert out.returncode == 0, out
    js = json.loads(out.stdout)
    s = [e for e in js if e["kind"] == "site"]
    assert [e["destination"] for e in s] == ["mx.c.test", SITE], js  # sorted
    assert s[1]["mx"] == ["mx1.site.test", "mx2.site.test"] and s[0]["mx"] == ["mx.c.test"], s
    assert s[1]["last_hour"]["sent"] == 5 and s[0]["last_hour"]["sent"] == 1, s
    text = r.ctl("destinations").stdout
    assert f"destination: site {SITE}\n" in text, text
    route = r.ctl("route", "v@b.test").stdout
    assert re.search(rf"(?m)^destination: site {re.escape(SITE)} \(transport mx\)$", route), route
    assert re.search(r"(?m)^destination_by: mx ", route), route


def test_by_domain_is_one_transaction_per_domain(start_relayd, scripted, dns):
    """The default, destination_by = "domain": the same message makes one
    transaction per domain (the contrast the site exists for)."""
    port, site, other = two_servers(scripted)
    r = start_relayd(transports={"mx": transport(port=port)}, routes={"*": "mx"},
                     dns_port=dns.port)
    qid = r.send("a@origin.test", ["u@a.test", "v@b.test"], simple_message("two"))
    for rc in ("u@a.test", "v@b.test"):
        r.wait_log(sent_re(rc, qid=qid, status="sent"))
    assert sorted(m.rcpt_tos[0] for m in site.wait_messages(2)) == ["u@a.test", "v@b.test"]
    js = json.loads(r.ctl("destinations", "--json").stdout)
    assert sorted((e["kind"], e["destination"]) for e in js) == [("domain", "a.test"),
                                                                 ("domain", "b.test")], js


def test_one_rate_for_a_site(start_relayd, scripted, dns):
    port, site, other = two_servers(scripted)
    r = start_relayd(transports={"mx": transport(port=port, destination_by="mx", rate="2/s")},
                     routes={"*": "mx"}, dns_port=dns.port)
    send_many(r, [f"u{i}@a.test" for i in range(3)] + [f"v{i}@b.test" for i in range(3)],
              parallel=6)
    site.wait_messages(6, timeout=20)
    t = [e.t for e in site.events if e.kind == "data"]
    # 6 messages at 2 per second for the site (not 2/s per domain: 1 s).
    assert max(t) - min(t) >= 2.0, f"6 messages of one site at 2/s within {max(t) - min(t):.2f}s"


def test_one_detour_for_a_site(start_relayd, scripted, dns):
    """The site rejects the sending IP: a.test's recipient is re-routed, and
    b.test's mail goes straight to the fallback (the site is not asked
    again, one more rejection being what the hold exists to avoid)."""
    port, site, other = two_servers(scripted, rcpt_replies=SPAMHAUS)
    clean = scripted("127.0.0.4", name="clean")
    r = start_relayd(transports={"mx": transport(port=port, destination_by="mx",
                                                 fallback="clean", fallback_hold="1h"),
                                 "clean": transport(clean)},
                     routes={"*": "mx"}, dns_port=dns.port)
    q1 = r.send("a@origin.test", ["u@a.test"], simple_message("first"))
    r.wait_log(sent_re("u@a.test", qid=q1, status="rerouted", transport="mx"))
    r.wait_log(sent_re("u@a.test", qid=q1, status="sent", transport="clean"))
    r.wait_log(rf"mx: destination {re.escape(SITE)} rejects the sending IP")
    tried = len(site.rcpts_tried())
    q2 = r.send("a@origin.test", ["v@b.test"], simple_message("second"))
    r.wait_log(sent_re("v@b.test", qid=q2, status="sent", transport="clean"))
    assert len(site.rcpts_tried()) == tried, "the site was asked again for another domain"
    assert not r.find_log(sent_re("v@b.test", status="rerouted"))
    route = r.ctl("route", "w@b.test").stdout
    assert re.search(r"(?m)^detour: active until .*: mail goes to transport clean$", route), route


def test_site_follows_the_mx_set(start_relayd, scripted, tmp_path):
    """a.test moves from the site to c.test's host: once the cached answer
    expires, its mail goes to its new site."""
    d = DnsServer(RECORDS, tmp_path).start()
    try:
        port, site, other = two_servers(scripted)
        r = start_relayd(transports={"mx": transport(port=port, destination_by="mx")},
                         routes={"*": "mx"}, dns_port=d.port)
        q = r.send("a@origin.test", ["u@a.test"], simple_message("before"))
        r.wait_log(sent_re("u@a.test", qid=q, status="sent"))
        assert len(site.wait_messages(1)) == 1
        d.stop()
        d.records = ["mx-host=a.test,mx.c.test,10", "host-record=mx.c.test,127.0.0.3"]
        d.start()
        time.sleep(6)  # relayd keeps an answer at least 5 s
        q = r.send("a@origin.test", ["v@a.test"], simple_message("after"))
        r.wait_log(sent_re("v@a.test", qid=q, status="sent"))
        assert [m.rcpt_tos for m in other.wait_messages(1)] == [["v@a.test"]]
        assert len(site.messages) == 1
        route = r.ctl("route", "x@a.test").stdout
        assert re.search(r"(?m)^destination: site mx\.c\.test \(transport mx\)$", route), route
    finally:
        d.stop()


def test_destination_by_needs_mx_delivery(relayd_path, tmp_path):
    import subprocess
    conf = tmp_path / "relayd.conf"
    conf.write_text('spool = "%s"\nlisten "l" {\n\taddress = "127.0.0.1"\n\tport = %d\n}\n'
                    'transport "t" {\n\trelay = { "[127.0.0.1]:2525" }\n'
                    '\tdestination_by = "mx"\n}\nroute "*" {\n\ttransport = "t"\n}\n'
                    % (tmp_path / "spool", free_port()))
    p = subprocess.run([relayd_path, "-n", "-f", str(conf)], capture_output=True, text=True)
    assert p.returncode != 0
    assert ('transport "t": destination_by applies to MX delivery only; remove it, or the '
            'relay list') in p.stderr, p.stderr
