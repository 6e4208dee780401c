"""
test_cluster.py -- a fleet of relayd through a real redis-server (issue 18,
contract-v2 section 5): the cluster section, node liveness (a key with a
TTL), `relayctl cluster`, the metrics relayd_cluster_up and
relayd_cluster_nodes, and Redis down, stalled or back: a warning, local
limits, and nothing accepted lost or delayed.
"""

import json
import re
import signal
import time
import urllib.request

import pytest

import harness
from harness import free_port, wait_until
from redisserver import RedisServer, SilentServer

TTL = 10  # CL_TTL_MS in relayd/cluster.c, in seconds


@pytest.fixture
def redis(tmp_path):
    made = []

    def factory(port=None):
        r = RedisServer(tmp_path / f"redis{len(made) + 1}", port=port).start()
        made.append(r)
        return r

    yield factory
    for r in made:
        r.stop()


def cluster_extra(address, node, mport=None):
    text = f'cluster {{\n  redis = "{address}"\n  node = "{node}"\n}}\n'
    if mport:
        text += f'metrics_listen = "127.0.0.1:{mport}"\n'
    return text


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def metric(text, name):
    m = re.search(rf"(?m)^{name} (\S+)$", text)
    return float(m.group(1)) if m else None


def cluster_json(r):
    p = r.ctl("cluster", "--json")
    assert p.returncode == 0, f"relayctl cluster --json: {p.returncode} {p.stderr}"
    return json.loads(p.stdout)


def node_names(r):
    return sorted(n["node"] for n in cluster_json(r)["nodes"])


def start_node(start_relayd, sink, address, node, mport=None):
    return start_relayd(transports={"sink": harness.transport(sink)}, routes={"*": "sink"},
                        extra=cluster_extra(address, node, mport))


def test_nodes_see_each_other(start_relayd, scripted, redis):
    """Two nodes on one Redis: each logs that it joined, relayctl cluster
    (text and JSON) shows both, the metrics say up and 2 nodes, and the
    liveness keys carry a TTL."""
    rs = redis()
    sink = scripted("127.0.0.2", name="sink")
    m1 = free_port("127.0.0.1")
    r1 = start_node(start_relayd, sink, rs.address, "relay-a", m1)
    r1.wait_log(r"cluster: joined through redis 127\.0\.0\.1:\d+ as node relay-a; 1 node alive")
    r2 = start_node(start_relayd, sink, rs.address, "relay-b")
    r2.wait_log(r"cluster: joined through redis \S+ as node relay-b; 2 nodes alive: "
                r"relay-a, relay-b")
    r1.wait_log(r"cluster: node relay-b joined")
    wait_until(lambda: node_names(r1) == ["relay-a", "relay-b"], 5, "r1 to see both nodes")
    j = cluster_json(r1)
    assert j["node"] == "relay-a" and j["state"] == "up" and j["redis"] == rs.address
    assert j["error"] is None
    by = {n["node"]: n for n in j["nodes"]}
    assert by["relay-a"]["self"] is True and by["relay-b"]["self"] is False
    assert all(0 <= n["seen_ms_ago"] < 5000 for n in j["nodes"]), j
    assert by["relay-a"]["version"] and by["relay-a"]["started"].endswith("Z")
    text = r1.ctl("cluster")
    assert text.returncode == 0, text.stderr
    assert re.search(r"(?m)^node: relay-a$", text.stdout), text.stdout
    assert re.search(rf"(?m)^redis: {re.escape(rs.address)} up since ", text.stdout)
    assert re.search(r"(?m)^nodes: 2 alive$", text.stdout), text.stdout
    assert re.search(r"(?m)^  relay-a \(this relayd\): seen \d+\.\ds ago", text.stdout)
    assert re.search(r"(?m)^  relay-b: seen ", text.stdout)
    mt = scrape(m1)
    assert metric(mt, "relayd_cluster_up") == 1 and metric(mt, "relayd_cluster_nodes") == 2, mt
    # the liveness: a sorted set scored by expiry, a hash that expires
    assert sorted(rs.command("ZRANGE", "{relayd}:nodes", "0", "-1")) == ["relay-a", "relay-b"]
    ttl = rs.command("PTTL", "{relayd}:node:relay-a")
    assert 0 < ttl <= TTL * 1000, ttl
    # mail is relayed as ever
    r1.send("a@origin.test", ["x@example.com"], harness.simple_message("fleet"))
    sink.wait_messages(1)


def test_node_killed_leaves_within_ttl_stopped_at_once(start_relayd, scripted, redis):
    """A node killed with SIGKILL is gone from the others' count within
    the liveness TTL; a node that stops leaves at once (next beat)."""
    rs = redis()
    sink = scripted("127.0.0.2", name="sink")
    r1 = start_node(start_relayd, sink, rs.address, "a")
    r2 = start_node(start_relayd, sink, rs.address, "b")
    r3 = start_node(start_relayd, sink, rs.address, "c")
    wait_until(lambda: node_names(r1) == ["a", "b", "c"], 10, "three nodes")
    r2.kill(signal.SIGKILL)
    t0 = time.monotonic()
    r1.wait_log(r"cluster: node b left", timeout=TTL + 5)
    assert time.monotonic() - t0 <= TTL + 3
    assert node_names(r1) == ["a", "c"]
    r3.stop()
    t0 = time.monotonic()
    r1.wait_log(r"cluster: node c left", timeout=5)
    assert time.monotonic() - t0 < 4, "a node that stops leaves at once"
    assert rs.command("EXISTS", "{relayd}:node:c") == 0


def test_redis_down_and_back_loses_nothing(start_relayd, scripted, redis):
    """Redis killed mid-run: one warning per outage, relayctl cluster and
    the metrics say so, the nodes last seen are kept (their number divides
    the limits), mail accepted meanwhile is delivered on time; Redis back
    on the same port: rejoined, logged, up again."""
    rs = redis()
    sink = scripted("127.0.0.2", name="sink")
    m1 = free_port("127.0.0.1")
    r1 = start_node(start_relayd, sink, rs.address, "a", m1)
    r2 = start_node(start_relayd, sink, rs.address, "b")
    wait_until(lambda: node_names(r1) == ["a", "b"], 10, "two nodes")
    rs.kill()
    r1.wait_log(r"warning: cluster: redis unreachable \([^)]+\): local limits")
    t0 = time.monotonic()
    qids = [r1.send("a@origin.test", [f"x{i}@example.com"],
                         harness.simple_message(f"while down {i}")) for i in range(5)]
    qids += [r2.send("a@origin.test", ["y@example.com"],
                          harness.simple_message("while down on b"))]
    sink.wait_messages(6, timeout=10)
    # on time: delivered at once, as without a cluster (no retry waited)
    assert time.monotonic() - t0 < 5, "mail accepted while Redis is down waited"
    for r in (r1, r2):
        assert not r.find_log(r"status=deferred")
    j = cluster_json(r1)
    assert j["state"] == "unreachable" and j["error"], j
    assert sorted(n["node"] for n in j["nodes"]) == ["a", "b"], "the nodes last seen are kept"
    text = r1.ctl("cluster").stdout
    assert "local limits, divided by 2 nodes last seen" in text, text
    assert re.search(r"(?m)^nodes: 2 last seen alive$", text), text
    mt = scrape(m1)
    assert metric(mt, "relayd_cluster_up") == 0 and metric(mt, "relayd_cluster_nodes") == 2
    time.sleep(2)  # reconnections keep failing: still one warning
    assert len(r1.find_log(r"cluster: redis unreachable")) == 1
    rs2 = redis(port=rs.port)
    r1.wait_log(r"cluster: redis \S+ reachable again: fleet limits; \d nodes? alive",
                timeout=15)
    wait_until(lambda: node_names(r1) == ["a", "b"], 10, "both nodes back in the new Redis")
    assert metric(scrape(m1), "relayd_cluster_up") == 1
    assert sorted(rs2.command("ZRANGE", "{relayd}:nodes", "0", "-1")) == ["a", "b"]
    assert len(sink.messages) == 6, "nothing lost, nothing twice"


def test_redis_that_never_answers(start_relayd, scripted):
    """A Redis that accepts and then says nothing: unreachable after the
    answer deadline (a warning), and mail flows meanwhile."""
    silent = SilentServer()
    try:
        sink = scripted("127.0.0.2", name="sink")
        r = start_node(start_relayd, sink, silent.address, "a")
        r.wait_log(r"warning: cluster: redis unreachable \(no answer within 3000 ms\): "
                   r"local limits", timeout=10)
        r.send("a@origin.test", ["x@example.com"], harness.simple_message("stalled"))
        sink.wait_messages(1, timeout=5)
        assert cluster_json(r)["state"] in ("unreachable", "connecting")
    finally:
        silent.stop()


def test_redis_refused_at_start(start_relayd, scripted):
    """No Redis at all when relayd starts: it starts, warns, relays."""
    port = free_port("127.0.0.1")
    sink = scripted("127.0.0.2", name="sink")
    r = start_node(start_relayd, sink, f"127.0.0.1:{port}", "a")
    r.wait_log(r"warning: cluster: redis unreachable \(.*[Cc]onnection refused.*\): local limits")
    r.send("a@origin.test", ["x@example.com"], harness.simple_message("no redis"))
    sink.wait_messages(1, timeout=5)
    j = cluster_json(r)
    assert j["state"] == "unreachable" and j["nodes"] == []


def test_relayctl_cluster_without_section(relay_sink):
    r, _ = relay_sink()
    p = r.ctl("cluster")
    assert p.returncode == 1
    assert p.stderr.strip() == ("relayctl: no cluster section in the configuration: this "
                                "relayd is not in a fleet"), p.stderr
    assert "relayd_cluster_up" not in r.ctl("stats").stdout


# -- the fleet's rate -----------------------------------------------------------

def data_times(srv):
    return sorted(e.t for e in srv.events if e.kind == "data")


def max_in_window(times, window):
    """The most arrivals within any WINDOW seconds."""
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def rate_fleet(start_relayd, sink, address, nodes, rate):
    return [start_relayd(transports={"out": harness.transport(sink, rate=rate)},
                         routes={"*": "out"}, extra=cluster_extra(address, n))
            for n in nodes]


def send_each(rs_nodes, n, tag):
    import threading
    threads = [threading.Thread(target=lambda r=r, i=i: [
        r.send("a@origin.test", [f"{tag}{i}-{k}@dest.test"],
               harness.simple_message(f"{tag} {i} {k}")) for k in range(n)])
        for i, r in enumerate(rs_nodes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)


def test_rate_is_the_fleets(start_relayd, scripted, redis):
    """rate = "2/s" on three nodes: together they send 2 a second (a GCRA
    in Redis), not 6; each node alone would send its 6 within 2.5 s."""
    rs = redis()
    sink = scripted("127.0.0.2", name="sink")
    nodes = rate_fleet(start_relayd, sink, rs.address, ["a", "b", "c"], "2/s")
    for r in nodes:
        r.wait_log(r"cluster: joined through redis")
    send_each(nodes, 6, "fleet")
    sink.wait_messages(18, timeout=30)
    t = data_times(sink)
    span = t[-1] - t[0]
    # 18 messages at 2/s: 17 gaps of 0.5 s (the bucket's one token: 8.5 s)
    assert span >= 7.5, f"18 messages of a fleet at 2/s arrived within {span:.2f} s"
    # 0.5 s apart (0.25 s left for the sink's timing): never 3 within 0.75 s
    assert max_in_window(t, 0.75) <= 2, f"more than 2/s: {max_in_window(t, 0.75)} in 0.75 s"
    assert len(sink.messages) == 18
    assert sorted(rs.command("KEYS", "relayd:rate:*")) == ["relayd:rate:{out/}"]
    for r in nodes:
        assert not r.find_log(r"status=(deferred|bounced)")


def test_warmup_rate_is_the_fleets(start_relayd, scripted, redis):
    """A warm-up's day rate is the fleet's too: day 1 of warmup {"2/s"} on
    two nodes, 12 messages, together 2 a second."""
    import datetime
    rs = redis()
    sink = scripted("127.0.0.2", name="sink")
    today = datetime.date.today().isoformat()
    nodes = [start_relayd(transports={"out": harness.transport(sink, warmup=["2/s", "100/s"],
                                                                warmup_start=today)},
                          routes={"*": "out"}, extra=cluster_extra(rs.address, n))
             for n in ("a", "b")]
    wait_until(lambda: node_names(nodes[0]) == ["a", "b"], 10, "two nodes")
    send_each(nodes, 6, "warm")
    sink.wait_messages(12, timeout=30)
    t = data_times(sink)
    assert t[-1] - t[0] >= 4.5, f"12 messages at 2/s for the fleet in {t[-1] - t[0]:.2f} s"
    assert max_in_window(t, 0.75) <= 2, f"{max_in_window(t, 0.75)} within 0.75 s"


def test_rate_without_redis_is_a_share(start_relayd, scripted, redis):
    """Redis gone: each of two nodes sends its share, 1/s of a fleet-wide
    2/s, so together they still keep to 2/s; Redis back: the fleet's GCRA
    again. Nothing is lost."""
    rs = redis()
    sink = scripted("127.0.0.2", name="sink")
    nodes = rate_fleet(start_relayd, sink, rs.address, ["a", "b"], "2/s")
    wait_until(lambda: node_names(nodes[0]) == ["a", "b"], 10, "two nodes")
    rs.kill()
    for r in nodes:
        r.wait_log(r"cluster: redis unreachable")
    send_each(nodes, 5, "alone")
    sink.wait_messages(10, timeout=30)
    t = data_times(sink)
    assert t[-1] - t[0] >= 3.5, f"10 messages, 1/s on each of 2 nodes: {t[-1] - t[0]:.2f} s"
    # each node its own bucket of one: at most one message a node in 0.75 s
    assert max_in_window(t, 0.75) <= 2, f"{max_in_window(t, 0.75)} within 0.75 s"
    per_node = {}
    for m in sink.messages:
        per_node.setdefault(m.rcpt_tos[0].split("-")[0], []).append(m)
    assert sorted(len(v) for v in per_node.values()) == [5, 5]


# -- the fleet's connections ------------------------------------------------------

def test_max_connections_is_the_fleets(start_relayd, scripted, redis):
    """max_connections = 2 on two nodes: together they never have more
    than 2 connections open to the destination (leases in Redis), and
    every message arrives."""
    rs = redis()
    sink = scripted("127.0.0.2", name="slow",
                    data_replies=lambda a: (time.sleep(0.3), None)[1])
    nodes = [start_relayd(transports={"out": harness.transport(sink, max_connections=2,
                                                                max_messages_per_connection=1)},
                          routes={"*": "out"}, extra=cluster_extra(rs.address, n))
             for n in ("a", "b")]
    wait_until(lambda: node_names(nodes[0]) == ["a", "b"], 10, "two nodes")
    import threading
    ts = [threading.Thread(target=lambda r=r, i=i: [
        r.send("a@origin.test", [f"c{i}-{k}@dest.test"], harness.simple_message(f"c {i} {k}"))
        for k in range(6)]) for i, r in enumerate(nodes)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    sink.wait_messages(12, timeout=60)
    assert sink.max_active <= 2, f"{sink.max_active} connections open at once, the fleet's max 2"
    assert len(sink.messages) == 12
    wait_until(lambda: rs.command("ZCARD", "relayd:conns:{out/}") in (0, None), 10,
               "the leases to be given back when the connections closed")


def test_killed_node_frees_its_leases_within_ttl(start_relayd, scripted, redis):
    """A node holds a lease while its connection is open (here: the sink
    takes 4 s to answer the message); killed with SIGKILL it cannot give
    it back: the lease expires within its TTL (15 s) and the fleet may use
    it again."""
    rs = redis()
    sink = scripted("127.0.0.2", name="sink", data_replies=lambda a: (time.sleep(4), None)[1])
    r = start_relayd(transports={"out": harness.transport(sink, max_connections=1,
                                                           data_timeout="30s")},
                     routes={"*": "out"}, extra=cluster_extra(rs.address, "a"))
    r.wait_log(r"cluster: joined through redis")
    r.send("a@origin.test", ["x@dest.test"], harness.simple_message("hold"))
    key = "relayd:conns:{out/}"
    wait_until(lambda: rs.command("ZRANGE", key, "0", "-1") == ["a/1"], 5,
               "the open connection's lease in Redis")
    r.kill(signal.SIGKILL)
    t0 = time.monotonic()
    wait_until(lambda: rs.command("EXISTS", key) == 0, 20, "the dead node's lease to expire")
    assert time.monotonic() - t0 <= 16


# -- what one node learns, the fleet knows ------------------------------------------

SPAMHAUS = ("550 5.7.1 Service unavailable; client [127.0.0.1] blocked using "
            "zen.spamhaus.org")


def test_detour_learnt_on_one_node_applies_on_the_others(start_relayd, scripted, redis):
    """A blocklist rejection on node a starts its detour; node b learns it
    through Redis (pub/sub) and sends its mail straight to the fallback:
    the blocked destination is asked once for the fleet, not once a node."""
    rs = redis()
    direct = scripted("127.0.0.2", name="direct", rcpt_replies=SPAMHAUS)
    clean = scripted("127.0.0.3", name="clean")
    nodes = [start_relayd(transports={"direct": harness.transport(direct, fallback="clean",
                                                                   fallback_hold="60s"),
                                      "clean": harness.transport(clean)},
                          routes={"*": "direct"}, extra=cluster_extra(rs.address, n))
             for n in ("a", "b", "c")]
    wait_until(lambda: node_names(nodes[0]) == ["a", "b", "c"], 10, "three nodes")
    a, b, c = nodes
    qid = a.send("s@origin.test", ["u@gmail.test"], harness.simple_message("first"))
    a.wait_log(harness.sent_re("u@gmail.test", qid=qid, status="rerouted", transport="direct"))
    for r in (b, c):
        r.wait_log(r"direct: destination \(relay\) rejects the sending IP \(node a learnt "
                   r"it: 550 5\.7\.1 [^)]*\); its mail goes through transport clean for \d+s")
    tried = len(direct.rcpts_tried())
    assert tried == 1
    shown = b.ctl("destinations")
    assert shown.returncode == 0 and "learnt by node a" in shown.stdout, shown.stdout
    for r, who in ((b, "v"), (c, "w")):
        q = r.send("s@origin.test", [f"{who}@gmail.test"], harness.simple_message(who))
        r.wait_log(harness.sent_re(f"{who}@gmail.test", qid=q, status="sent", transport="clean"))
        assert not r.find_log(harness.sent_re(f"{who}@gmail.test", status="rerouted"))
    assert len(direct.rcpts_tried()) == tried, "the other nodes did not ask the blocked host"
    assert len(clean.wait_messages(3)) == 3


def test_down_learnt_on_one_node_applies_on_the_others(start_relayd, scripted, redis):
    """No host of the destination answers on node a: node b defers its
    mail at once (relay=none) with the reason a learnt, without a
    connection of its own."""
    rs = redis()
    port = free_port("127.0.0.9")
    t = harness.transport(f"[127.0.0.9]:{port}", connect_timeout="1s")
    nodes = [start_relayd(transports={"out": t}, routes={"*": "out"},
                          extra=cluster_extra(rs.address, n), queue={"retry": ["1h"]})
             for n in ("a", "b")]
    wait_until(lambda: node_names(nodes[0]) == ["a", "b"], 10, "two nodes")
    a, b = nodes
    a.send("s@origin.test", ["u@down.test"], harness.simple_message("a"))
    a.wait_log(harness.sent_re("u@down.test", status="deferred", strict_relay=False))
    b.wait_log(r"out: destination \(relay\) is unreachable \(node a learnt it: [^)]*\)")
    q = b.send("s@origin.test", ["v@down.test"], harness.simple_message("b"))
    m = b.wait_log(harness.sent_re("v@down.test", qid=q, status="deferred", strict_relay=False))
    assert "relay=none" in m.group(0), m.group(0)
    assert "learnt by node a" in m.group(0), m.group(0)
