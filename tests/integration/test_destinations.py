"""
test_destinations.py -- destinations keyed by transport name (issue "The
queue core, rebuilt to last", scope 2): what relayd learnt about a
destination survives a reload; when a destination delivers again only the
recipients that waited for it are released (never a greylisted one);
`relayctl flush QID` touches that message only; idle destinations are
forgotten (relayd_destinations).
"""

import time

from harness import free_port, sent_re, simple_message, transport
from test_metrics import scrape, value

SPAMHAUS = ("550 5.7.1 Service unavailable; client [127.0.0.1] blocked using "
            "zen.spamhaus.org")
GREY = "450 4.2.0 Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/"


def reload(r):
    mark = r.mark()
    p = r.ctl("reload")
    assert p.returncode == 0, p
    r.wait_log(r"configuration reloaded", since=mark)


def test_reload_keeps_detour_hold(start_relayd, scripted):
    """A destination on hold keeps its hold across a reload that changes its
    transport: the blocked path is not asked again (one more rejection is
    what the hold exists to avoid), and relayd_detours_active counts it
    once."""
    direct = scripted("127.0.0.2", name="direct", rcpt_replies=SPAMHAUS)
    clean = scripted("127.0.0.3", name="clean")
    mport = free_port()
    r = start_relayd(transports={"direct": transport(direct, fallback="clean",
                                                     fallback_hold="1h"),
                                 "clean": transport(clean)},
                     routes={"*": "direct"}, extra=f'metrics_listen = "127.0.0.1:{mport}"')
    qid = r.send("a@origin.test", ["u@gmail.test"], simple_message("first"))
    r.wait_log(sent_re("u@gmail.test", qid=qid, status="rerouted", transport="direct"))
    r.wait_log(sent_re("u@gmail.test", qid=qid, status="sent", transport="clean"))
    tried = len(direct.rcpts_tried())
    assert tried == 1

    text = r.conf_path.read_text()
    assert 'max_connections = ' not in text
    r.conf_path.write_text(text.replace('fallback_hold = "1h"',
                                        'fallback_hold = "1h"\n\tmax_connections = 3'))
    reload(r)
    s, _ = scrape(mport)
    assert value(s, "relayd_detours_active") == 1

    qid2 = r.send("a@origin.test", ["v@gmail.test"], simple_message("after reload"))
    r.wait_log(sent_re("v@gmail.test", qid=qid2, status="sent", transport="clean"))
    assert len(direct.rcpts_tried()) == tried, "the blocked destination was asked again"
    assert not r.find_log(sent_re("v@gmail.test", status="rerouted"))
    s, _ = scrape(mport)
    assert value(s, "relayd_detours_active") == 1

    # A reload that removes the transport: its hold is no longer counted.
    text = r.conf_path.read_text()
    r.conf_path.write_text(text.replace('transport "direct"', 'transport "direct2"')
                           .replace('transport = "direct"', 'transport = "direct2"'))
    reload(r)
    s, _ = scrape(mport)
    assert value(s, "relayd_detours_active") == 0


def greylisted_and_waiting(start_relayd, scripted):
    """A relay transport's destination greylists grey@ (deferred for its own
    reason), then stops: waits@ is deferred waiting for the destination.
    Returns (relayd, server, greylisted QID, waiting QID); the server is
    stopped."""
    port = free_port("127.0.0.2")
    srv = scripted("127.0.0.2", port=port, name="dest",
                   rcpt_replies=lambda a: GREY if a.startswith("grey@") else None)
    r = start_relayd(transports={"out": transport(srv)}, routes={"*": "out"},
                     queue={"retry": ["1h"]})
    qa = r.send("a@origin.test", ["grey@dest.test"], simple_message("greylisted"))
    r.wait_log(sent_re("grey@dest.test", qid=qa, status="deferred"))
    srv.stop()
    qb = r.send("a@origin.test", ["waits@dest.test"], simple_message("waits"))
    m = r.wait_log(sent_re("waits@dest.test", qid=qb, status="deferred", strict_relay=False))
    assert "Connection refused" in m.group("reason"), m.group(0)
    return r, srv, qa, qb


def assert_released_not_greylisted(r, srv, qb):
    """The destination works again: a new message is sent, the waiting one
    is released at once, the greylisted one is not tried again."""
    qc = r.send("a@origin.test", ["fresh@dest.test"], simple_message("fresh"))
    r.wait_log(sent_re("fresh@dest.test", qid=qc, status="sent"))
    r.wait_log(sent_re("waits@dest.test", qid=qb, status="sent", attempts=2), timeout=5)
    r.wait_log(r"out: destination \(relay\) works again: 1 deferred recipient released")
    time.sleep(1.5)
    assert len(srv.rcpts_tried("grey@dest.test")) == 1, "a greylisted recipient was released"


def test_release_only_what_waited_for_destination(start_relayd, scripted):
    """The destination is unreachable, then works again: the recipient that
    waited for it (connection refused) is retried at once; the greylisted
    recipient of the same destination keeps its own retry time."""
    r, srv, qa, qb = greylisted_and_waiting(start_relayd, scripted)
    srv.start()
    # The down pause (the first retry delay, at most 10 s) ends, then a
    # new message finds the destination working.
    time.sleep(10.5)
    assert_released_not_greylisted(r, srv, qb)
    assert len(r.find_log(sent_re("grey@dest.test", qid=qa))) == 1


def test_release_after_restart(start_relayd, scripted):
    """What waited for a destination when relayd stopped still waits for it
    after a start: the first delivery to the destination releases it (the
    queue lists it again from its state file), without a walk of the queue
    and without touching the greylisted recipient."""
    r, srv, qa, qb = greylisted_and_waiting(start_relayd, scripted)
    r.restart()
    r.wait_log(r"recovered 2 messages")
    srv.start()
    assert_released_not_greylisted(r, srv, qb)


def test_release_in_slices(start_relayd, scripted, monkeypatch):
    """A release of many waiting messages is made in slices of the loop (a
    million held it 1.5 s in one go); with RELAYD_RELEASE_SLICE_US=0 a
    slice is 63 messages, so 200 waiting take four: every one is released
    and sent once, the greylisted recipient is not, and the log counts them
    all in one line."""
    r, srv, qa, qb = greylisted_and_waiting(start_relayd, scripted)
    n = 200
    more = [r.send("a@origin.test", [f"w{i}@dest.test"], simple_message(f"w{i}"))
            for i in range(n - 1)]
    for q in more:
        r.wait_log(sent_re(None, qid=q, status="deferred", strict_relay=False))
    r.stop()
    monkeypatch.setenv("RELAYD_RELEASE_SLICE_US", "0")
    r.start()
    r.wait_log(r"recovered %d messages" % (n + 1))
    srv.start()
    qc = r.send("a@origin.test", ["fresh@dest.test"], simple_message("fresh"))
    r.wait_log(sent_re("fresh@dest.test", qid=qc, status="sent"))
    r.wait_log(r"out: destination \(relay\) works again: %d deferred recipients released" % n,
               timeout=10)
    # qb was tried (connection refused); the others waited for the down
    # pause without an attempt.
    r.wait_log(sent_re("waits@dest.test", qid=qb, status="sent", attempts=2), timeout=20)
    for q in more:
        r.wait_log(sent_re(None, qid=q, status="sent"), timeout=20)
    for q in [qb, *more]:
        assert len(r.find_log(sent_re(None, qid=q, status="sent"))) == 1, q
    time.sleep(1)
    assert len(srv.rcpts_tried("grey@dest.test")) == 1, "a greylisted recipient was released"


def test_flush_one_qid_touches_only_it(start_relayd, scripted):
    """Two greylisted messages; the greylisting ends; `relayctl flush` of
    one delivers that one and leaves the other alone until its own time."""
    greylisted = {"one@dest.test", "two@dest.test"}
    srv = scripted("127.0.0.2", name="dest",
                   rcpt_replies=lambda a: GREY if a in greylisted else None)
    r = start_relayd(transports={"out": transport(srv)}, routes={"*": "out"},
                     queue={"retry": ["1h"]})
    q1 = r.send("a@origin.test", ["one@dest.test"], simple_message("one"))
    q2 = r.send("a@origin.test", ["two@dest.test"], simple_message("two"))
    r.wait_log(sent_re("one@dest.test", qid=q1, status="deferred"))
    r.wait_log(sent_re("two@dest.test", qid=q2, status="deferred"))
    greylisted.clear()
    p = r.ctl("flush", q1)
    assert p.returncode == 0, p
    r.wait_log(sent_re("one@dest.test", qid=q1, status="sent", attempts=2))
    time.sleep(2)
    assert len(srv.rcpts_tried("two@dest.test")) == 1, "flush of one message retried another"
    assert not r.find_log(r"works again")


def test_idle_destinations_forgotten(start_relayd, scripted, tmp_path):
    """Destinations of MX delivery, one per domain, are forgotten once idle
    (no connection, nothing learnt in force): relayd_destinations falls back
    to 0 instead of growing with every domain ever seen."""
    from dnsserver import DnsServer
    port = free_port("127.0.0.2")
    srv = scripted("127.0.0.2", port=port, name="mx")
    domains = [f"d{i}.test" for i in range(8)]
    records = [f"mx-host={d},mx.{d},10" for d in domains] + \
        [f"host-record=mx.{d},127.0.0.2" for d in domains]
    dns = DnsServer(records, tmp_path).start()
    try:
        mport = free_port()
        r = start_relayd(transports={"mx": transport(port=port)}, routes={"*": "mx"},
                         dns_port=dns.port, extra=f'metrics_listen = "127.0.0.1:{mport}"')
        for d in domains:
            r.send("a@origin.test", [f"u@{d}"], simple_message(d))
        for d in domains:
            r.wait_log(sent_re(f"u@{d}", status="sent"))
        s, _ = scrape(mport)
        assert value(s, "relayd_destinations") >= 1
        # Idle connections close after 5 s; then the destinations go.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            s, _ = scrape(mport)
            if value(s, "relayd_destinations") == 0:
                break
            time.sleep(0.5)
        assert value(s, "relayd_destinations") == 0, s
        assert value(s, "relayd_sessions", direction="out") == 0
        # And they come back when mail comes.
        r.send("a@origin.test", ["again@d0.test"], simple_message("again"))
        r.wait_log(sent_re("again@d0.test", status="sent"))
    finally:
        dns.stop()
