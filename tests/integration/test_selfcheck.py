"""
test_selfcheck.py -- relayd checks its own deliverability (contract-v2
section 3): DNSBL listings and Spamhaus' error codes, forward-confirmed
reverse DNS, SPF of check_senders, smarthost connect / TLS / AUTH probes;
relayctl check's lines, advice, --json and exit codes; every change logged
once; the metrics; a check whose DNS hangs never delays mail.

dnsmasq serves every zone the checks look in: the DNSBL zones (the real
zone names, answered locally: --local keeps every query on loopback), the
reverse zones (PTR) and the sender domains' TXT (SPF) records.
"""

import json
import re
import socket
import time
import urllib.request

import pytest
from aiosmtpd.smtp import AuthResult

from dnsserver import DnsServer
from harness import free_port, sent_re, simple_message, transport, wait_until
from tlsca import TestCA, server_context

ZEN = "zen.spamhaus.org"
PSBL = "psbl.surriel.com"
ZONES = ("test", "arpa", ZEN, PSBL)

LINE = re.compile(r"^(?P<st>ok|problem|unknown|skipped)\s+(?P<t>\S+)\s+(?P<check>\S+)\s+"
                  r"(?P<subject>.*?): (?P<detail>.*)$")


@pytest.fixture
def dns(tmp_path):
    made = []

    def factory(*records, domains=ZONES):
        d = DnsServer(records, tmp_path, domains=domains).start()
        made.append(d)
        return d

    yield factory
    for d in made:
        d.stop()


def check_lines(out):
    """relayctl check's text: [(status, transport, check, subject, detail,
    advice or None)]."""
    rows = []
    for line in out.splitlines():
        if line.startswith(" ") and rows:
            rows[-1]["advice"] = line.strip()
            continue
        m = LINE.match(line)
        assert m, "not a check line: %r" % line
        rows.append(dict(m.groupdict(), advice=None))
    return rows


def find(rows, check, subject=None):
    got = [r for r in rows if r["check"] == check and (subject is None or
                                                       r["subject"] == subject)]
    assert len(got) == 1, (check, subject, rows)
    return got[0]


def check_now(r, *args, timeout=60):
    p = r.ctl("check", "--now", *args, timeout=timeout)
    assert p.returncode in (0, 3), (p.returncode, p.stdout, p.stderr)
    return p


def mx_relayd(start_relayd, d, extra="", metrics=False, **tkeys):
    keys = {"public_address": "192.0.2.7"}
    keys.update(tkeys)
    ex = 'dnsbl = {"%s", "%s"}\n' % (ZEN, PSBL) + extra
    if metrics:
        ex += 'metrics_listen = "127.0.0.1:%d"\n' % metrics
    return start_relayd(transports={"mx": transport(**keys)}, routes={"*": "mx"},
                        dns_port=d.port, extra=ex)


# ---- MX delivery: the sending address ---------------------------------------

def test_pbl_listing_named_with_advice(start_relayd, dns):
    d = dns(f"host-record=7.2.0.192.{ZEN},127.0.0.11",
            "ptr-record=7.2.0.192.in-addr.arpa,mail.example.test",
            "host-record=mail.example.test,192.0.2.7")
    r = mx_relayd(start_relayd, d)
    p = check_now(r)
    assert p.returncode == 3, p.stdout
    rows = check_lines(p.stdout)
    zen = find(rows, "dnsbl", f"192.0.2.7 in {ZEN}")
    assert zen["st"] == "problem" and zen["t"] == "mx"
    assert "127.0.0.11" in zen["detail"] and "Spamhaus PBL" in zen["detail"], zen
    assert "smarthost" in zen["advice"] and "PBL" in zen["advice"], zen
    psbl = find(rows, "dnsbl", f"192.0.2.7 in {PSBL}")
    assert psbl["st"] == "ok" and psbl["advice"] is None, psbl
    rd = find(rows, "fcrdns", "192.0.2.7")
    assert rd["st"] == "ok" and "mail.example.test" in rd["detail"], rd
    spf = find(rows, "spf", "check_senders")
    assert spf["st"] == "skipped", spf
    # Only the transport asked for; an unknown one is an error.
    p = r.ctl("check", "mx")
    assert p.returncode == 3 and check_lines(p.stdout) == rows
    p = r.ctl("check", "nosuch")
    assert p.returncode == 1 and "nosuch" in p.stderr


def test_spamhaus_error_code_is_unknown_not_listed(start_relayd, dns):
    d = dns(f"host-record=7.2.0.192.{ZEN},127.255.255.254",
            "ptr-record=7.2.0.192.in-addr.arpa,mail.example.test",
            "host-record=mail.example.test,192.0.2.7")
    r = mx_relayd(start_relayd, d)
    rows = check_lines(check_now(r).stdout)
    zen = find(rows, "dnsbl", f"192.0.2.7 in {ZEN}")
    assert zen["st"] == "unknown", zen
    assert "public or open resolver" in zen["detail"], zen
    assert "dns_servers" in zen["advice"], zen
    assert "listed in" not in zen["detail"]


def test_all_clear_exits_0_and_json(start_relayd, dns):
    d = dns("ptr-record=7.2.0.192.in-addr.arpa,mail.example.test",
            "host-record=mail.example.test,192.0.2.7",
            "txt-record=example.test,v=spf1 ip4:192.0.2.0/24 -all")
    r = mx_relayd(start_relayd, d, extra='check_senders = {"example.test"}\n')
    p = check_now(r)
    assert p.returncode == 0, p.stdout
    rows = check_lines(p.stdout)
    assert {x["st"] for x in rows} == {"ok"}, rows
    spf = find(rows, "spf", "192.0.2.7 for example.test")
    assert spf["detail"] == "pass (ip4:192.0.2.0/24)", spf

    p = r.ctl("check", "--json")
    assert p.returncode == 0, p.stderr
    items = json.loads(p.stdout)
    assert len(items) == len(rows)
    for it in items:
        assert set(it) == {"transport", "check", "subject", "status", "detail", "advice",
                           "checked_at"}, it
        assert it["status"] == "ok" and it["advice"] is None and it["transport"] == "mx"
        at = time.mktime(time.strptime(it["checked_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        assert abs(at - time.time()) < 120, it
    assert {(it["check"], it["subject"]) for it in items} == {
        (x["check"], x["subject"]) for x in rows}


@pytest.mark.parametrize("records,want", [
    ((), "has no PTR record"),
    (("ptr-record=7.2.0.192.in-addr.arpa,nowhere.example.test",), "does not resolve"),
    (("ptr-record=7.2.0.192.in-addr.arpa,else.example.test",
      "host-record=else.example.test,192.0.2.99"), "resolves to other addresses (192.0.2.99)"),
])
def test_fcrdns_problems(start_relayd, dns, records, want):
    d = dns(*records)
    r = mx_relayd(start_relayd, d)
    p = check_now(r)
    assert p.returncode == 3
    rd = find(check_lines(p.stdout), "fcrdns", "192.0.2.7")
    assert rd["st"] == "problem" and want in rd["detail"], rd
    assert "PTR" in rd["advice"], rd


@pytest.mark.parametrize("spf,want,st", [
    ("v=spf1 ip4:198.51.100.0/24 -all", "fail (-all)", "problem"),
    ("v=spf1 ip4:198.51.100.0/24 ~all", "softfail (~all)", "problem"),
    ("v=spf1 include:_spf.example.test -all", "pass (include:_spf.example.test)", "ok"),
    ("v=spf1 ip4:192.0.2.7 moo:x -all", "permerror", "problem"),
    (None, "none (no SPF record)", "problem"),
])
def test_spf_results(start_relayd, dns, spf, want, st):
    recs = ["ptr-record=7.2.0.192.in-addr.arpa,mail.example.test",
            "host-record=mail.example.test,192.0.2.7",
            "txt-record=_spf.example.test,v=spf1 a:mail.example.test -all"]
    if spf:
        recs.append("txt-record=example.test," + spf)
    d = dns(*recs)
    r = mx_relayd(start_relayd, d, extra='check_senders = {"example.test"}\n')
    p = check_now(r)
    row = find(check_lines(p.stdout), "spf", "192.0.2.7 for example.test")
    assert row["st"] == st and row["detail"].startswith(want), row
    if st == "problem":
        assert p.returncode == 3
        assert "example.test" in row["advice"], row


def kernel_choice():
    """The local address the kernel picks toward the Internet, as relayd
    asks for it (a UDP connect sends nothing), or None."""
    for fam, dst in ((socket.AF_INET, "198.41.0.4"), (socket.AF_INET6, "2001:503:ba3e::2:30")):
        try:
            with socket.socket(fam, socket.SOCK_DGRAM) as s:
                s.connect((dst, 53))
                return s.getsockname()[0]
        except OSError:
            continue
    return None


def is_private(a):
    import ipaddress
    ip = ipaddress.ip_address(a)
    return ip.is_loopback or ip.is_link_local or ip in ipaddress.ip_network("10.0.0.0/8") or \
        ip in ipaddress.ip_network("172.16.0.0/12") or \
        ip in ipaddress.ip_network("192.168.0.0/16") or \
        ip in ipaddress.ip_network("100.64.0.0/10") or \
        (ip.version == 6 and ip in ipaddress.ip_network("fc00::/7"))


def test_kernel_address_when_none_is_set(start_relayd, dns):
    """Without public_address and source_address, the kernel's choice toward
    the Internet: named as such, and said to be private when it is."""
    d = dns()
    r = start_relayd(transports={"mx": transport()}, routes={"*": "mx"}, dns_port=d.port,
                     extra='dnsbl = {"%s"}\n' % ZEN)
    rows = check_lines(check_now(r).stdout)
    row = find(rows, "address", "sending")
    k = kernel_choice()
    if k is None:
        assert row["st"] == "unknown" and "no route" in row["detail"], row
    elif is_private(k):
        assert row["st"] == "unknown" and row["detail"].startswith(k + " "), row
        assert "private" in row["detail"] and "public_address" in row["advice"], row
        assert not [x for x in rows if x["check"] in ("dnsbl", "fcrdns")], rows
    else:
        assert row["st"] == "ok", row
        assert row["detail"] == f"{k} (the kernel's choice toward the Internet)", row
        assert find(rows, "dnsbl", f"{k} in {ZEN}")["st"] == "ok"


def test_private_source_address_is_said(start_relayd, dns):
    d = dns(f"host-record=7.2.0.192.{ZEN},127.0.0.4")
    r = start_relayd(transports={"mx": transport(source_address="127.0.0.1")},
                     routes={"*": "mx"}, dns_port=d.port,
                     extra='dnsbl = {"%s"}\n' % ZEN)
    p = check_now(r)
    assert p.returncode == 3
    rows = check_lines(p.stdout)
    row = find(rows, "address", "sending")
    assert row["st"] == "unknown", row
    assert row["detail"] == "127.0.0.1 (source_address) is a private address", row
    assert "public_address" in row["advice"], row

    # public_address wins over source_address: that one is checked.
    r2 = start_relayd(transports={"mx": transport(source_address="127.0.0.1",
                                                  public_address="192.0.2.7")},
                      routes={"*": "mx"}, dns_port=d.port,
                      extra='dnsbl = {"%s"}\n' % ZEN)
    rows = check_lines(check_now(r2).stdout)
    assert find(rows, "address", "sending")["detail"] == "192.0.2.7 (public_address)"
    zen = find(rows, "dnsbl", f"192.0.2.7 in {ZEN}")
    assert zen["st"] == "problem" and "XBL" in zen["detail"], zen


# ---- change logging, metrics, the periodic run ------------------------------

def test_change_logged_once_and_metrics(start_relayd, dns):
    mport = free_port("127.0.0.1")
    recs = ["ptr-record=7.2.0.192.in-addr.arpa,mail.example.test",
            "host-record=mail.example.test,192.0.2.7"]
    d = dns(f"host-record=7.2.0.192.{ZEN},127.0.0.11", *recs)
    r = mx_relayd(start_relayd, d, metrics=mport)
    warn = (r"warning: check: mx: dnsbl 192\.0\.2\.7 in zen\.spamhaus\.org: listed in "
            r"zen\.spamhaus\.org \(127\.0\.0\.11\)")
    # check_interval "0": no run by itself, and nothing checked is not
    # all clear.
    p = r.ctl("check")
    assert p.returncode == 3 and p.stdout.startswith("no results yet"), p.stdout
    time.sleep(0.5)
    assert not r.find_log(r"check: mx:"), r.log_text()
    check_now(r)
    r.wait_log(warn)
    check_now(r)
    check_now(r)
    assert len(r.find_log(warn)) == 1, r.log_text()

    text = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
    assert re.search(r'^relayd_dnsbl_listed\{transport="mx",address="192\.0\.2\.7",'
                     r'zone="zen\.spamhaus\.org"\} 1$', text, re.M), text
    assert re.search(r'^relayd_dnsbl_listed\{transport="mx",address="192\.0\.2\.7",'
                     r'zone="psbl\.surriel\.com"\} 0$', text, re.M), text
    assert re.search(r'^relayd_check_status\{transport="mx",check="dnsbl",'
                     r'subject="192\.0\.2\.7 in zen\.spamhaus\.org"\} 1$', text, re.M), text
    assert re.search(r'^relayd_check_status\{transport="mx",check="fcrdns",'
                     r'subject="192\.0\.2\.7"\} 0$', text, re.M), text

    # Delisted: logged once as ok again; the metric follows.
    d.stop()
    d.records = recs
    d.start()
    mark = r.mark()
    p = check_now(r)
    assert p.returncode == 0, p.stdout
    r.wait_log(r"\]: check: mx: dnsbl 192\.0\.2\.7 in zen\.spamhaus\.org: not listed",
               since=mark)
    text = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
    assert re.search(r'^relayd_dnsbl_listed\{transport="mx",address="192\.0\.2\.7",'
                     r'zone="zen\.spamhaus\.org"\} 0$', text, re.M), text
    check_now(r)
    assert len(r.find_log(r"\]: check: mx: dnsbl", since=mark)) == 1


def test_check_interval_runs_by_itself(start_relayd, dns):
    recs = ["ptr-record=7.2.0.192.in-addr.arpa,mail.example.test",
            "host-record=mail.example.test,192.0.2.7"]
    d = dns(f"host-record=7.2.0.192.{ZEN},127.0.0.2", *recs)
    r = start_relayd(transports={"mx": transport(public_address="192.0.2.7")},
                     routes={"*": "mx"}, dns_port=d.port, check_interval="1s",
                     extra='dnsbl = {"%s"}\n' % ZEN)
    # The first run at start, then one a second.
    r.wait_log(r"warning: check: mx: dnsbl 192\.0\.2\.7 in zen\.spamhaus\.org: listed .*SBL")
    # Without --now the latest results, from the periodic run.
    p = r.ctl("check")
    assert p.returncode == 3 and "Spamhaus SBL" in p.stdout, p.stdout
    # Delisted: the periodic run sees it without being asked.
    d.stop()
    d.records = recs
    d.start()
    r.wait_log(r"\]: check: mx: dnsbl 192\.0\.2\.7 in zen\.spamhaus\.org: not listed")
    wait_until(lambda: r.ctl("check").returncode == 0, 10, "the periodic run")


def test_reload_checks_the_new_configuration(start_relayd, dns):
    d = dns(f"host-record=8.2.0.192.{ZEN},127.0.0.11")
    r = mx_relayd(start_relayd, d)
    rows = check_lines(check_now(r).stdout)
    assert find(rows, "dnsbl", f"192.0.2.7 in {ZEN}")["st"] == "ok"
    r.conf_path.write_text(r.conf_path.read_text().replace("192.0.2.7", "192.0.2.8"))
    assert r.ctl("reload").returncode == 0
    r.wait_log(r"warning: check: mx: dnsbl 192\.0\.2\.8 in zen\.spamhaus\.org: listed")
    rows = check_lines(r.ctl("check").stdout)
    assert find(rows, "dnsbl", f"192.0.2.8 in {ZEN}")["st"] == "problem"
    assert not [x for x in rows if "192.0.2.7" in x["subject"]], rows


def test_usage_errors(start_relayd, dns):
    d = dns()
    r = mx_relayd(start_relayd, d)
    assert r.ctl("check", "a", "b").returncode == 2
    assert r.ctl("check", "--summary").returncode == 2
    assert r.ctl("queue", "--now").returncode == 2


# ---- a check whose DNS hangs never delays mail ------------------------------

def test_hanging_dnsbl_does_not_delay_mail(start_relayd, dns, scripted):
    # The blocklist zone is forwarded to a port where nothing answers: every
    # query for it hangs until c-ares gives up.
    dead = free_port("127.0.0.1", socket.SOCK_DGRAM)
    sink = scripted("127.0.0.2", name="sink")
    d = dns(f"server=/{ZEN}/127.0.0.1#{dead}", domains=("test", "arpa"))
    r = start_relayd(transports={"mx": transport(public_address="192.0.2.7"),
                                 "sink": transport(sink)},
                     routes={"*": "sink"}, dns_port=d.port, check_interval="1s",
                     extra='dnsbl = {"%s"}\n' % ZEN)
    start = time.monotonic()
    for i in range(5):
        r.send("a@origin.test", [f"u{i}@dest.test"], simple_message())
    sink.wait_messages(5, timeout=5)
    assert time.monotonic() - start < 3
    p = check_now(r)
    zen = find(check_lines(p.stdout), "dnsbl", f"192.0.2.7 in {ZEN}")
    assert zen["st"] == "unknown" and "no answer from DNS" in zen["detail"], zen
    r.wait_log(sent_re("u4@dest.test", status="sent"))


# ---- smarthosts -------------------------------------------------------------

NAME = "smtp.relay.test"


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    c = TestCA(tmp_path_factory.mktemp("ca"))
    c.good = c.issue(NAME, sans=[NAME], ip_sans=["127.0.0.2", "127.0.0.3"])
    return c


class Auth:
    def __init__(self, ok=True):
        self.ok = ok
        self.seen = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        self.seen.append(mechanism)
        return AuthResult(success=self.ok, handled=False)


def smarthost_relayd(start_relayd, d, relay, extra="", **tkeys):
    return start_relayd(transports={"out": transport(relay, **tkeys)}, routes={"*": "out"},
                        dns_port=d.port,
                        extra='dnsbl = {"%s"}\n' % ZEN + extra)


def test_smarthost_refused(start_relayd, dns):
    d = dns()
    port = free_port("127.0.0.2")
    r = smarthost_relayd(start_relayd, d, f"[127.0.0.2]:{port}")
    p = check_now(r)
    assert p.returncode == 3
    rows = check_lines(p.stdout)
    c = find(rows, "connect")
    assert c["st"] == "problem" and c["subject"] == f"127.0.0.2[127.0.0.2]:{port}", c
    assert c["detail"] == "cannot connect: Connection refused", c
    assert c["advice"] == f"nothing listens on 127.0.0.2 port {port}: check relay and port", c
    # TLS is not reached; the relay's address is still looked up.
    assert find(rows, "tls")["st"] == "skipped"
    assert find(rows, "dnsbl", f"127.0.0.2 in {ZEN}")["st"] == "ok"


def test_smarthost_ok_with_starttls_and_auth(start_relayd, dns, scripted, ca, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    pw.chmod(0o600)
    auth = Auth()
    srv = scripted("127.0.0.2", name="sh", smtp_kwargs={
        "tls_context": server_context(*ca.good), "authenticator": auth,
        "auth_require_tls": True})
    d = dns()
    r = smarthost_relayd(start_relayd, d, srv, tls="encrypt", auth_user="relay-user",
                         auth_password_file=str(pw))
    p = check_now(r)
    rows = check_lines(p.stdout)
    assert p.returncode == 0, p.stdout
    c = find(rows, "connect")
    assert c["st"] == "ok" and "220" in c["detail"], c
    t = find(rows, "tls")
    assert t["st"] == "ok" and "TLSv1." in t["detail"], t
    a = find(rows, "auth")
    assert a["st"] == "ok" and a["detail"] == "login as relay-user accepted", a
    assert auth.seen, "AUTH was tried"
    assert srv.messages == [], "a check never sends mail"
    assert "s3cret" not in r.log_text() and "s3cret" not in p.stdout


def test_smarthost_no_starttls_and_auth_refused(start_relayd, dns, scripted, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("wrong\n")
    pw.chmod(0o600)
    srv = scripted("127.0.0.3", name="plain", smtp_kwargs={
        "authenticator": Auth(ok=False), "auth_require_tls": False})
    d = dns()
    r = smarthost_relayd(start_relayd, d, srv, tls="encrypt", auth_user="relay-user",
                         auth_password_file=str(pw))
    rows = check_lines(check_now(r).stdout)
    t = find(rows, "tls")
    assert t["st"] == "problem", t
    assert t["detail"] == "STARTTLS not offered, and tls_policy encrypt requires TLS", t
    assert "STARTTLS" in t["advice"], t
    # Under encrypt the password is never sent in the clear: not reached.
    a = find(rows, "auth")
    assert a["st"] == "unknown" and a["detail"].startswith("not reached"), a

    # Without TLS at all, relayd never sends the password: said so.
    srv2 = scripted("127.0.0.4", name="plain2", smtp_kwargs={
        "authenticator": Auth(ok=False), "auth_require_tls": False})
    r2 = smarthost_relayd(start_relayd, d, srv2, tls="none", auth_user="relay-user",
                          auth_password_file=str(pw))
    rows = check_lines(check_now(r2).stdout)
    a = find(rows, "auth")
    assert a["st"] == "problem" and "never sent in plaintext" in a["detail"], a
    assert "STARTTLS" in a["advice"], a
    assert find(rows, "tls")["st"] == "skipped"


def test_smarthost_password_refused(start_relayd, dns, scripted, ca, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("wrong\n")
    pw.chmod(0o600)
    auth = Auth(ok=False)
    srv = scripted("127.0.0.3", name="sh", smtp_kwargs={
        "tls_context": server_context(*ca.good), "authenticator": auth})
    d = dns()
    r = smarthost_relayd(start_relayd, d, srv, tls="encrypt", auth_user="relay-user",
                         auth_password_file=str(pw))
    p = check_now(r)
    assert p.returncode == 3
    rows = check_lines(p.stdout)
    assert find(rows, "connect")["st"] == "ok"
    assert find(rows, "tls")["st"] == "ok"
    a = find(rows, "auth")
    assert a["st"] == "problem" and a["detail"].startswith("login as relay-user refused: 535"), a
    assert "auth_password_file" in a["advice"], a
    assert auth.seen
    assert "wrong" not in r.log_text() and "wrong" not in p.stdout
    r.wait_log(r"warning: check: out: auth 127\.0\.0\.3\[127\.0\.0\.3\]:\d+: login as "
               r"relay-user refused: 535")


def test_smarthost_greeting_never_comes(start_relayd, dns):
    """A server that accepts and never greets: the probe gives up after
    command_timeout, and the lines say where it stalled."""
    port = free_port("127.0.0.5")
    ls = socket.socket()
    ls.bind(("127.0.0.5", port))
    ls.listen(8)
    try:
        d = dns()
        r = smarthost_relayd(start_relayd, d, f"[127.0.0.5]:{port}", command_timeout="1s")
        start = time.monotonic()
        p = check_now(r)
        assert time.monotonic() - start < 8
        c = find(check_lines(p.stdout), "connect")
        assert c["st"] == "problem" and "no answer within 1s" in c["detail"], c
    finally:
        ls.close()


def test_smarthost_addresses_in_dnsbl_and_spf(start_relayd, dns, scripted):
    """A provider's relay on PSBL is why its customers' mail is refused; SPF
    must authorise the relay the mail goes through."""
    srv = scripted("127.0.0.2", name="sh")
    d = dns(f"host-record=2.0.0.127.{PSBL},127.0.0.2",
            "txt-record=example.test,v=spf1 ip4:192.0.2.0/24 -all",
            "txt-record=ok.test,v=spf1 ip4:127.0.0.0/8 -all")
    r = start_relayd(transports={"out": transport(srv)}, routes={"*": "out"}, dns_port=d.port,
                     extra='dnsbl = {"%s", "%s"}\n'
                           'check_senders = {"example.test", "ok.test"}\n' % (ZEN, PSBL))
    p = check_now(r)
    assert p.returncode == 3
    rows = check_lines(p.stdout)
    assert find(rows, "connect")["st"] == "ok"
    ps = find(rows, "dnsbl", f"127.0.0.2 in {PSBL}")
    assert ps["st"] == "problem" and "PSBL" in ps["detail"] and "psbl.org" in ps["advice"], ps
    assert find(rows, "dnsbl", f"127.0.0.2 in {ZEN}")["st"] == "ok"
    bad = find(rows, "spf", "127.0.0.2 for example.test")
    assert bad["st"] == "problem" and bad["detail"] == "fail (-all)", bad
    assert "the relay's address" in bad["advice"] and "ip4:127.0.0.2" in bad["advice"], bad
    good = find(rows, "spf", "127.0.0.2 for ok.test")
    assert good["st"] == "ok" and good["detail"] == "pass (ip4:127.0.0.0/8)", good


def test_smarthost_smtps_and_certificate(start_relayd, dns, scripted, ca):
    d = dns()
    # SMTPS: TLS from the first byte, the certificate verified.
    srv = scripted("127.0.0.2", name="smtps", ssl_context=server_context(*ca.good))
    pol = 'tls_policy "v" {\n\tlevel = "verify"\n\tca_file = "%s"\n}\n' % ca.ca_path
    r = smarthost_relayd(start_relayd, d, srv, smtps=True, tls="v", extra=pol)
    p = check_now(r)
    rows = check_lines(p.stdout)
    assert p.returncode == 0, p.stdout
    t = find(rows, "tls")
    assert t["st"] == "ok" and "TLSv1." in t["detail"], t

    # STARTTLS with a certificate the policy does not trust: named.
    bad = scripted("127.0.0.3", name="selfsigned",
                   smtp_kwargs={"tls_context": server_context(*ca.self_signed(NAME))})
    r2 = smarthost_relayd(start_relayd, d, bad, tls="v", extra=pol)
    p = check_now(r2)
    assert p.returncode == 3
    t = find(check_lines(p.stdout), "tls")
    assert t["st"] == "problem" and "certificate" in t["detail"], t
    assert bad.messages == []


def test_smarthost_refuses_in_greeting(start_relayd, dns, scripted):
    srv = scripted("127.0.0.2", name="refuser",
                   greeting="554 5.7.1 this host may not relay here")
    d = dns()
    r = smarthost_relayd(start_relayd, d, srv)
    rows = check_lines(check_now(r).stdout)
    c = find(rows, "connect")
    assert c["st"] == "problem", c
    assert c["detail"] == "greeting refused: 554 5.7.1 this host may not relay here", c
    assert "allowed to relay" in c["advice"], c
