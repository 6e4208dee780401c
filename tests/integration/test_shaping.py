"""
test_shaping.py -- per-destination traffic shaping (contract: transport
max_connections, max_messages_per_connection, rate, source_address): the
rate is a token bucket, connections are limited and reused, a blackholed
destination delays nobody else, a 421 backs the destination off, and a
success releases the destination's deferred recipients early.
"""

import socket
import threading
import time

from harness import sent_re, simple_message, transport


def send_many(r, rcpts, parallel=1):
    """Send one message per recipient, PARALLEL client sessions at a time."""
    qids = []
    lock = threading.Lock()
    todo = list(rcpts)

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                rc = todo.pop(0)
            q = r.send("a@origin.test", [rc], simple_message(subject=rc))
            with lock:
                qids.append(q)

    threads = [threading.Thread(target=worker) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return qids


def test_rate_token_bucket(start_relayd, scripted):
    srv = scripted("127.0.0.2", name="slow")
    r = start_relayd(transports={"out": transport(srv, rate="2/s")}, routes={"*": "out"})
    send_many(r, [f"u{i}@dest.test" for i in range(10)], parallel=5)
    msgs = srv.wait_messages(10, timeout=20)
    data = [e.t for e in srv.events if e.kind == "data"]
    span = max(data) - min(data)
    # 10 messages at 2 per second: 9 gaps of 0.5 s; nothing was dropped.
    assert span >= 4.0, f"10 messages at 2/s arrived within {span:.2f}s"
    assert len(msgs) == 10
    assert not r.find_log(r"status=(deferred|bounced)")


def test_max_connections_one(start_relayd, scripted):
    srv = scripted("127.0.0.2", name="one",
                   data_replies=lambda a: (time.sleep(0.2), None)[1])
    r = start_relayd(transports={"out": transport(srv, max_connections=1)}, routes={"*": "out"})
    send_many(r, [f"u{i}@dest.test" for i in range(8)], parallel=4)
    srv.wait_messages(8, timeout=20)
    assert srv.max_active == 1, f"{srv.max_active} concurrent sessions with max_connections 1"


def test_connection_reuse(start_relayd, scripted):
    srv = scripted("127.0.0.2", name="reuse")
    r = start_relayd(transports={"out": transport(srv, max_messages_per_connection=100)},
                     routes={"*": "out"})
    send_many(r, [f"u{i}@dest.test" for i in range(12)], parallel=1)
    srv.wait_messages(12)
    assert srv.connections < 12, f"{srv.connections} connections for 12 messages"

    # And the limit is honoured: 2 messages per connection at most.
    srv2 = scripted("127.0.0.3", name="limit")
    r2 = start_relayd(transports={"out": transport(srv2, max_messages_per_connection=2,
                                                   max_connections=1)},
                      routes={"*": "out"})
    send_many(r2, [f"v{i}@dest.test" for i in range(6)], parallel=3)
    srv2.wait_messages(6)
    assert srv2.connections >= 3


def test_blackhole_delays_nobody_else(start_relayd, scripted):
    # Accepts TCP (the kernel does, from the backlog) and never says a word.
    hole = socket.socket()
    hole.bind(("127.0.0.4", 0))
    hole.listen(64)
    try:
        healthy = scripted("127.0.0.2", name="healthy")
        r = start_relayd(transports={
            "hole": transport(f"[127.0.0.4]:{hole.getsockname()[1]}", max_connections=2,
                              command_timeout="20s"),
            "good": transport(healthy)},
            routes={"blackhole.test": "hole", "*": "good"})
        send_many(r, [f"h{i}@blackhole.test" for i in range(5)], parallel=5)
        t0 = time.monotonic()
        send_many(r, [f"g{i}@good.test" for i in range(100)], parallel=10)
        healthy.wait_messages(100, timeout=20)
        took = time.monotonic() - t0
        assert took < 15, f"100 messages to a healthy destination took {took:.1f}s"
        assert not r.find_log(r"to=<h\d@blackhole\.test>.*status=sent")
    finally:
        hole.close()


def test_421_backs_off(start_relayd, scripted):
    srv = scripted("127.0.0.2", name="busy",
                   greeting=["421 4.7.0 Too many connections, slow down", None])
    r = start_relayd(transports={"out": transport(srv)}, routes={"*": "out"},
                     queue={"retry": ["1s"]})
    qid = r.send("a@origin.test", ["u@dest.test"], simple_message())
    r.wait_log(r"out: destination \(relay\) is throttling \(421 4\.7\.0 Too many connections"
               r"[^)]*\); concurrency \d+ -> \d+, paused for 1s")
    r.wait_log(sent_re("u@dest.test", qid=qid, status="sent"))
    r.wait_log(r"out: destination \(relay\) recovered; concurrency back to 10")
    conns = [e.t for e in srv.events if e.kind == "connect"]
    assert len(conns) == 2
    assert conns[1] - conns[0] >= 0.9, "the destination was not paused after the 421"


def test_source_address(start_relayd, scripted):
    srv = scripted("127.0.0.2", name="src")
    r = start_relayd(transports={"out": transport(srv, source_address="127.0.0.3")},
                     routes={"*": "out"})
    r.send("a@origin.test", ["u@dest.test"], simple_message())
    msg = srv.wait_messages(1)[0]
    assert msg.peer[0] == "127.0.0.3", msg.peer


def test_success_releases_deferred_early(start_relayd, scripted):
    """A recipient deferred because of the destination (a 421: the server
    closed the session) is released as soon as the destination delivers
    again; one deferred for its own reason (a 451 to its RCPT) keeps its
    retry time (the release-on-recovery rule)."""
    tries = {"first": 0, "own": 0}

    def rcpt(addr):
        for k in tries:
            if addr.startswith(k + "@"):
                tries[k] += 1
                if k == "first" and tries[k] == 1:
                    return "421 4.3.2 service busy, closing"
                if k == "own":
                    return "451 4.3.0 temporary trouble with this mailbox"
        return None

    srv = scripted("127.0.0.2", name="flaky", rcpt_replies=rcpt)
    r = start_relayd(transports={"out": transport(srv)}, routes={"*": "out"},
                     queue={"retry": ["1h"]})
    q0 = r.send("a@origin.test", ["own@dest.test"], simple_message())
    r.wait_log(sent_re("own@dest.test", qid=q0, status="deferred"))
    q1 = r.send("a@origin.test", ["first@dest.test"], simple_message())
    r.wait_log(sent_re("first@dest.test", qid=q1, status="deferred"))
    # Next attempts are an hour away; a success to the same destination
    # releases the one that waited for it, now. The back-off pause of the
    # 421 (the first retry delay, at most 10 s) comes first.
    r.send("a@origin.test", ["second@dest.test"], simple_message())
    r.wait_log(r"out: destination \(relay\) works again: 1 deferred recipient released",
               timeout=20)
    assert len(r.find_log(r"is throttling")) == 1, "one 421, one back-off"
    r.wait_log(sent_re("first@dest.test", qid=q1, status="sent", attempts=2), timeout=10)
    assert tries["own"] == 1


def test_stale_reused_connection_reconnects(start_relayd):
    """A server that serves one transaction per connection and answers the
    RSET of a reused connection with 421: relayd reconnects to the same
    address; nothing is deferred, the back-off does not kick in."""
    from harness import RawServer, read_line

    got = []

    def one_txn(c):
        c.sendall(b"220 one-shot ESMTP\r\n")
        while True:
            line = read_line(c).upper()
            if line.startswith(b"EHLO"):
                c.sendall(b"250-one-shot\r\n250 PIPELINING\r\n")
            elif line.startswith(b"RSET"):
                c.sendall(b"421 4.4.2 one transaction per connection\r\n")
                return
            elif line.startswith(b"DATA"):
                c.sendall(b"354 go\r\n")
                body = b""
                while not body.endswith(b"\r\n.\r\n"):
                    body += c.recv(65536)
                got.append(body)
                c.sendall(b"250 2.0.0 ok\r\n")
            elif line.startswith(b"QUIT"):
                c.sendall(b"221 bye\r\n")
                return
            else:
                c.sendall(b"250 ok\r\n")

    srv = RawServer("127.0.0.2", one_txn)
    try:
        r = start_relayd(transports={"out": transport(srv.relay)}, routes={"*": "out"})
        q1 = r.send("a@origin.test", ["one@dest.test"], simple_message())
        r.wait_log(sent_re("one@dest.test", qid=q1, status="sent"))
        q2 = r.send("a@origin.test", ["two@dest.test"], simple_message())
        r.wait_log(sent_re("two@dest.test", qid=q2, status="sent", attempts=1))
        assert len(got) == 2 and srv.conns == 2
        assert not r.find_log(r"status=deferred|throttling")
    finally:
        srv.close()
