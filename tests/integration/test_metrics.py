"""
test_metrics.py -- metrics_listen: Prometheus text format at /metrics
(contract: "Global keys", metrics_listen).

The scrape is parsed strictly by a small parser below: every line is a
"# HELP name text", a "# TYPE name counter|gauge|...", or a sample
`name{label="value",...} value`; every sample belongs to a family whose
TYPE came first; counters end in _total.

Assumptions beyond the contract (docs/relayctl.md):
  * the families and labels: relayd_messages_received_total,
    relayd_recipients_total{transport,status}, relayd_queue_messages,
    relayd_queue_oldest_age_seconds, relayd_sessions{direction},
    relayd_tls_sessions_total{direction}, relayd_tls_resumed_total{direction},
    relayd_detours_active (destinations held on their fallback now), relayd_auth_attempts_total{status="ok|failed|
    blocked"}, relayd_auth_limit_reached_total, relayd_auth_blocked_addresses
    (test_authlimit.py moves them), relayd_rejects_total{code,reason}
    (test_logging.py moves it), relayd_delivery_rejects_total{transport,class}
    (a remote 4xx/5xx to a recipient, by its classification),
    relayd_build_info{version,libevent,openssl} (value 1),
    relayd_start_time_seconds; relayd_check_status and relayd_dnsbl_listed
    (test_selfcheck.py moves them).
  * status="deferred" counts deferred attempts.
  * any path but /metrics is 404.
"""

import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from harness import free_port, sent_re, simple_message, transport

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(rf"^(?P<name>{NAME})(?:\{{(?P<labels>{LABEL}(?:,{LABEL})*)?,?\}})? "
                    r"(?P<value>[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|Inf|NaN))(?: -?\d+)?$")
HELP = re.compile(rf"^# HELP (?P<name>{NAME}) (?P<text>.*)$")
TYPE = re.compile(rf"^# TYPE (?P<name>{NAME}) (?P<type>counter|gauge|histogram|summary|untyped)$")


def parse(text):
    """Prometheus text -> ({(name, frozenset(labels)): value}, {name: type})."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    samples, types, helps = {}, {}, set()
    for ln in text.splitlines():
        if not ln.strip():
            continue
        if ln.startswith("#"):
            m = HELP.match(ln)
            if m:
                assert m.group("name") not in helps, f"second HELP for {m.group('name')}"
                helps.add(m.group("name"))
                continue
            m = TYPE.match(ln)
            assert m, f"malformed comment line {ln!r}"
            assert m.group("name") not in types, f"second TYPE for {m.group('name')}"
            assert not any(k[0] == m.group("name") for k in samples), \
                f"TYPE for {m.group('name')} after its samples"
            types[m.group("name")] = m.group("type")
            continue
        m = SAMPLE.match(ln)
        assert m, f"malformed sample line {ln!r}"
        name = m.group("name")
        assert name in types, f"sample {name} without a TYPE line first"
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                      m.group("labels") or ""))
        key = (name, labels)
        assert key not in samples, f"duplicate sample {ln!r}"
        samples[key] = float(m.group("value"))
    for name, t in types.items():
        if t == "counter":
            assert name.endswith("_total"), f"counter {name} should end in _total"
    return samples, types


def scrape(port, path="/metrics"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        assert resp.status == 200
        ctype = resp.headers.get("Content-Type", "")
        assert ctype.startswith("text/plain"), ctype
        return parse(resp.read().decode("utf-8"))


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def metrics_relay(start_relayd, scripted):
    def rcpt(a):
        if a.startswith("later"):
            return "450 4.2.0 later"
        if a.startswith("blocked"):
            return ("554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using "
                    "zen.spamhaus.org")
        return None
    sink = scripted("127.0.0.2", name="sink", rcpt_replies=rcpt)
    mport = free_port()
    r = start_relayd(transports={"sink": transport(sink)}, routes={"*": "sink"},
                     queue={"retry": ["1h"]}, extra=f'metrics_listen = "127.0.0.1:{mport}"')
    return r, sink, mport


def test_metrics_families(metrics_relay):
    r, sink, mport = metrics_relay
    samples, types = scrape(mport)
    want = {
        "relayd_messages_received_total": "counter",
        "relayd_recipients_total": "counter",
        "relayd_queue_messages": "gauge",
        "relayd_queue_oldest_age_seconds": "gauge",
        "relayd_sessions": "gauge",
        "relayd_tls_sessions_total": "counter",
        "relayd_tls_resumed_total": "counter",
        "relayd_detours_active": "gauge",
        "relayd_destinations": "gauge",
        "relayd_auth_attempts_total": "counter",
        "relayd_auth_limit_reached_total": "counter",
        "relayd_auth_blocked_addresses": "gauge",
        "relayd_rejects_total": "counter",
        "relayd_delivery_rejects_total": "counter",
        "relayd_check_status": "gauge",
        "relayd_dnsbl_listed": "gauge",
        "relayd_build_info": "gauge",
        "relayd_start_time_seconds": "gauge",
    }
    for name, t in want.items():
        assert types.get(name) == t, f"{name}: TYPE {types.get(name)}, want {t}"
    for d in ("in", "out"):
        assert ("relayd_sessions", frozenset({("direction", d)})) in samples
        assert ("relayd_tls_sessions_total", frozenset({("direction", d)})) in samples
        assert ("relayd_tls_resumed_total", frozenset({("direction", d)})) in samples
    assert value(samples, "relayd_queue_messages") == 0
    assert value(samples, "relayd_detours_active") == 0
    for st in ("ok", "failed", "blocked"):
        assert ("relayd_auth_attempts_total", frozenset({("status", st)})) in samples, st
        assert value(samples, "relayd_auth_attempts_total", status=st) == 0
    assert value(samples, "relayd_auth_limit_reached_total") == 0
    assert value(samples, "relayd_auth_blocked_addresses") == 0


def test_metrics_build_info_and_start_time(start_relayd, relayd_path):
    """relayd_build_info names the running relayd (as `relayd -V` does) and
    the libraries; relayd_start_time_seconds is when this process started."""
    version = subprocess.run([relayd_path, "-V"], capture_output=True, text=True,
                             timeout=10).stdout.split()[-1]
    mport = free_port()
    t0 = int(time.time())
    start_relayd(extra=f'metrics_listen = "127.0.0.1:{mport}"')
    time.sleep(1.1)
    samples, types = scrape(mport)
    info = [(labels, v) for (name, labels), v in samples.items() if name == "relayd_build_info"]
    assert len(info) == 1, info
    labels, v = dict(info[0][0]), info[0][1]
    assert v == 1 and set(labels) == {"version", "libevent", "openssl"}, info
    assert labels["version"] == version, (labels, version)
    assert re.match(r"^\d+\.\d+\.\d+", labels["libevent"]), labels
    assert labels["openssl"].startswith("OpenSSL "), labels
    started = value(samples, "relayd_start_time_seconds")
    assert t0 <= started <= time.time() - 1, (t0, started)
    # A family with no sample yet still says what it is.
    assert types["relayd_rejects_total"] == "counter"
    assert not [k for k in samples if k[0] == "relayd_rejects_total"]


def test_metrics_move_with_deliveries(metrics_relay):
    r, sink, mport = metrics_relay
    s0, _ = scrape(mport)
    qid = r.send("s@origin.test", ["now@dest.test"], simple_message("metrics"))
    r.wait_log(sent_re("now@dest.test", qid=qid, status="sent"))
    qid2 = r.send("s@origin.test", ["later@dest.test"], simple_message("metrics later"))
    r.wait_log(sent_re("later@dest.test", qid=qid2, status="deferred"))
    s1, _ = scrape(mport)
    assert value(s1, "relayd_messages_received_total") == \
        value(s0, "relayd_messages_received_total") + 2
    sent = dict(transport="sink", status="sent")
    deferred = dict(transport="sink", status="deferred")
    assert value(s1, "relayd_recipients_total", **sent) == \
        value(s0, "relayd_recipients_total", **sent) + 1
    assert value(s1, "relayd_recipients_total", **deferred) == \
        value(s0, "relayd_recipients_total", **deferred) + 1
    for st in ("sent", "deferred", "bounced", "expired", "rerouted"):
        assert ("relayd_recipients_total",
                frozenset({("transport", "sink"), ("status", st)})) in s1, st
    assert value(s1, "relayd_queue_messages") == 1
    assert 0 <= value(s1, "relayd_queue_oldest_age_seconds") < 60
    # Remote refusals by what they mean.
    rej = dict(transport="sink")
    n_none = sum(v for (name, labels), v in s1.items()
                 if name == "relayd_delivery_rejects_total" and ("transport", "sink") in labels)
    assert n_none == 1, s1
    qid3 = r.send("s@origin.test", ["blocked@dest.test"], simple_message("metrics blocked"))
    r.wait_log(sent_re("blocked@dest.test", qid=qid3, status="bounced"))
    s3, _ = scrape(mport)
    assert value(s3, "relayd_delivery_rejects_total", **rej, **{"class": "blocklist"}) == 1
    with r.client() as c:
        assert c.cmd("EHLO client.test").code == 250
        s2, _ = scrape(mport)
        assert value(s2, "relayd_sessions", direction="in") == 1


def test_metrics_other_paths_404(metrics_relay):
    r, sink, mport = metrics_relay
    for path in ("/", "/metricsx", "/favicon.ico"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{mport}{path}", timeout=5)
        assert e.value.code == 404, path
    # A query string still reaches /metrics.
    scrape(mport, "/metrics?x=1")
    # relayd is still fine after a garbage request.
    with socket.create_connection(("127.0.0.1", mport), timeout=5) as s:
        s.sendall(b"\x00\x01garbage\r\n\r\n")
        s.recv(4096)
    scrape(mport)


def test_metrics_detours_active(start_relayd, scripted):
    direct = scripted("127.0.0.2", name="direct", rcpt_replies="550 5.7.1 Service unavailable; "
                      "client [127.0.0.1] blocked using zen.spamhaus.org")
    clean = scripted("127.0.0.3", name="clean")
    mport = free_port()
    r = start_relayd(transports={"direct": transport(direct, fallback="clean",
                                                     fallback_hold="1h"),
                                 "clean": transport(clean)}, routes={"*": "direct"},
                     extra=f'metrics_listen = "127.0.0.1:{mport}"')
    s0, _ = scrape(mport)
    assert value(s0, "relayd_detours_active") == 0
    qid = r.send("a@origin.test", ["u@gmail.test"], simple_message("detour"))
    r.wait_log(sent_re("u@gmail.test", qid=qid, status="sent", transport="clean"))
    s1, _ = scrape(mport)
    assert value(s1, "relayd_detours_active") == 1
    assert value(s1, "relayd_recipients_total", transport="direct", status="rerouted") == 1
    assert value(s1, "relayd_recipients_total", transport="clean", status="sent") == 1
