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


def test_idle_destinations_forgotten(start_relayd, scripted, tmp_path, monkeypatch):
    """Destinations of MX delivery, one per domain, are forgotten once idle
    (no connection, nothing learnt in force): relayd_destinations falls back
    to 0 instead of growing with every domain ever seen. (After an hour;
    RELAYD_DEST_FORGET=0 makes it at once here.)"""
    from dnsserver import DnsServer
    monkeypatch.setenv("RELAYD_DEST_FORGET", "0")
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


# -- relayctl destinations (contract-v2 section 1) ------------------------------

def destinations(r, *opt):
    p = r.ctl("destinations", *opt)
    assert p.returncode == 0, p
    return p.stdout


def test_destinations_text_and_json(start_relayd, scripted):
    """Every destination with its state, limits, waiting count, last hour and
    last reply, as text blocks and as JSON checked field by field."""
    import datetime
    import json
    import re
    good = scripted("127.0.0.2", name="good")
    grey = scripted("127.0.0.3", name="grey", rcpt_replies=GREY)
    direct = scripted("127.0.0.4", name="direct", rcpt_replies=SPAMHAUS)
    clean = scripted("127.0.0.5", name="clean")
    busy = scripted("127.0.0.6", name="busy", rcpt_replies="421 4.7.0 Too many connections, slow down")
    today = datetime.date.today().isoformat()
    r = start_relayd(transports={
        "good": transport(good, max_connections=4, warmup=["100/s", "200/s"], warmup_start=today),
        "grey": transport(grey),
        "direct": transport(direct, fallback="clean", fallback_hold="1h"),
        "clean": transport(clean),
        "busy": transport(busy)},
        routes={"good.test": "good", "grey.test": "grey", "busy.test": "busy", "*": "direct"},
        queue={"retry": ["30s"]})
    assert destinations(r) == "no destinations: nothing sent or waiting in the last hour\n"
    assert json.loads(destinations(r, "--json")) == []

    for i in range(2):
        q = r.send("a@origin.test", [f"u{i}@good.test"], simple_message(f"good {i}"))
        r.wait_log(sent_re(f"u{i}@good.test", qid=q, status="sent"))
    q = r.send("a@origin.test", ["g@grey.test"], simple_message("grey"))
    r.wait_log(sent_re("g@grey.test", qid=q, status="deferred"))
    q = r.send("a@origin.test", ["b@gmail.test"], simple_message("blocked"))
    r.wait_log(sent_re("b@gmail.test", qid=q, status="sent", transport="clean"))
    q = r.send("a@origin.test", ["t@busy.test"], simple_message("busy"))
    r.wait_log(sent_re("t@busy.test", qid=q, status="deferred"))

    text = destinations(r)
    blocks = {b.splitlines()[0]: b for b in text.strip().split("\n\n")}
    assert sorted(blocks) == ["transport: busy", "transport: clean", "transport: direct",
                              "transport: good", "transport: grey"], text
    g = blocks["transport: good"]
    for line in ("destination: relay", "state: ok", "warmup: day 1 of 2, 100/s",
                 "connections: 0 of 4", "waiting: 0",
                 "last hour: 2 sent, 0 deferred, 0 bounced, 0 rerouted"):
        assert re.search(rf"(?m)^{re.escape(line)}$", g) or \
            (line.startswith("connections:") and re.search(r"(?m)^connections: [01] of 4$", g)), g
    assert re.search(r"(?m)^last reply: 250 .* \(class none\)$", g), g
    assert re.search(r"(?m)^last reply: 450 4\.2\.0 .*Greylisted.* \(class greylist\)$",
                     blocks["transport: grey"]), blocks["transport: grey"]
    d = blocks["transport: direct"]
    assert re.search(r"(?m)^state: detour to clean until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
                     r"\(550 5\.7\.1 Service unavailable; .*zen\.spamhaus\.org\)$", d), d
    assert "last hour: 0 sent, 0 deferred, 0 bounced, 1 rerouted" in d, d
    assert re.search(r"(?m)^last reply: 550 5\.7\.1 .* \(class blocklist\)$", d), d
    b = blocks["transport: busy"]
    assert re.search(r"(?m)^state: throttled until .* \(421 4\.7\.0 Too many connections, "
                     r"slow down\)$", b), b

    now = time.time()
    js = {e["transport"]: e for e in json.loads(destinations(r, "--json"))}
    assert sorted(js) == ["busy", "clean", "direct", "good", "grey"]
    for e in js.values():
        assert set(e) == {"transport", "destination", "kind", "mx", "states", "warmup",
                          "connections", "max_connections", "waiting", "last_hour",
                          "last_reply", "class"}, e
        assert e["destination"] == "relay" and e["kind"] == "relay" and e["mx"] is None, e
        assert set(e["last_hour"]) == {"sent", "deferred", "bounced", "rerouted"}
    e = js["good"]
    assert e["states"] == [] and e["warmup"] == {"day": 1, "rate": "100/s"}, e
    assert e["max_connections"] == 4 and e["connections"] in (0, 1) and e["waiting"] == 0, e
    assert e["last_hour"] == {"sent": 2, "deferred": 0, "bounced": 0, "rerouted": 0}, e
    assert e["last_reply"].startswith("250") and e["class"] == "none", e
    e = js["grey"]
    assert e["warmup"] is None and e["states"] == [], e
    assert e["last_hour"]["deferred"] == 1 and e["class"] == "greylist", e
    e = js["direct"]
    [st] = e["states"]
    assert st["state"] == "detour" and st["to"] == "clean", st
    assert now + 3500 < st["until"] <= now + 3601, st
    assert st["reason"].startswith("550 5.7.1 Service unavailable"), st
    assert e["last_hour"]["rerouted"] == 1 and e["class"] == "blocklist", e
    e = js["busy"]
    assert [s["state"] for s in e["states"]] == ["throttled"], e
    assert e["states"][0]["reason"] == "421 4.7.0 Too many connections, slow down", e
    assert e["states"][0]["until"] > now, e
    assert e["last_hour"]["deferred"] == 1 and e["class"] == "rate_limit", e
    assert e["waiting"] >= 1, e  # deferred because of the destination: listed as waiting
    assert js["clean"]["last_hour"]["sent"] == 1

    p = r.ctl("destinations", "--summary")
    assert p.returncode == 2, p


def test_destinations_forgotten_after_idle(start_relayd, scripted, monkeypatch):
    """An idle destination stays listed (its last hour) for DEST_FORGET after
    its last use (an hour; RELAYD_DEST_FORGET shortens it here), then goes."""
    monkeypatch.setenv("RELAYD_DEST_FORGET", "7")
    srv = scripted("127.0.0.2", name="sink")
    r = start_relayd(transports={"out": transport(srv)}, routes={"*": "out"})
    q = r.send("a@origin.test", ["u@x.test"], simple_message("once"))
    r.wait_log(sent_re("u@x.test", qid=q, status="sent"))
    t0 = time.monotonic()
    # The idle connection closes after 5 s; the destination stays listed.
    time.sleep(5.5)
    assert "destination: relay" in destinations(r)
    deadline = t0 + 15
    while time.monotonic() < deadline and "destination: relay" in destinations(r):
        time.sleep(0.5)
    assert "no destinations" in destinations(r)
    assert time.monotonic() - t0 >= 6.5
