"""
test_durability.py -- an acknowledged message survives kill -9 and SIGTERM
(contract: "The final 250 ... A crash or kill -9 after that loses nothing";
SIGTERM stops gracefully and exits 0).

Assumptions beyond the contract:
  * a message keeps its queue id across a restart (the spool is keyed by
    it, as in Postfix), so the outcome line after the restart names the QID
    of the "queued as" reply.
  * on start relayd attempts recovered messages at once or within one retry
    period (retry = 1s here), so delivery follows within a few seconds.
"""

import json
import os
import signal
import time

from harness import queued_re, received_prefix, sent_re, simple_message

WAIT = 20   # seconds for delivery after the smarthost comes back


def test_kill9_right_after_250_loses_nothing(relay_sink):
    r, sink = relay_sink()
    sink.stop()                                   # smarthost down: port closed
    content = simple_message("survive kill -9", body="precious\r\n.dot\r\n")
    qid = r.send("sender@origin.test", ["rcpt@example.com"], content, quit=False)
    r.kill(signal.SIGKILL)                        # right after the 250, before QUIT
    assert sink.messages == []
    r.restart()
    sink.start()
    (msg,) = sink.wait_messages(1, timeout=WAIT)
    received_prefix(msg.content, content)
    assert msg.mail_from == "sender@origin.test" and msg.rcpt_tos == ["rcpt@example.com"]
    s = r.wait_log(sent_re(rcpt="rcpt@example.com", qid=qid, status="sent"), timeout=WAIT)
    assert s.group("relayport") == str(sink.port)
    assert len(sink.messages) == 1, "delivered more than once"


def test_sigterm_exits_0_and_queue_survives(relay_sink):
    r, sink = relay_sink()
    sink.stop()
    content = simple_message("survive SIGTERM")
    qid = r.send("sender@origin.test", ["rcpt@example.com"], content)
    r.wait_log(queued_re(qid=qid))
    r.stop()                                      # SIGTERM: exit 0 within 10 s
    sink.start()
    r.restart()
    (msg,) = sink.wait_messages(1, timeout=WAIT)
    received_prefix(msg.content, content)
    r.wait_log(sent_re(rcpt="rcpt@example.com", qid=qid, status="sent"), timeout=WAIT)
    assert len(sink.messages) == 1
    r.stop()


def test_restart_keeps_recipient_state(relay_sink):
    """A small message lives in the journal, its recipients' progress in
    state/QID: restarts keep attempts, the next-attempt time and which
    recipients are done (regression: recovery took state files of journal
    messages for orphans and deleted them, so a restart retried at once and
    delivered the done recipients again)."""
    r, sink = relay_sink(queue={"retry": ["1h"]},
                         rcpt_replies=lambda a: "451 4.3.0 later" if a.startswith("b") else None)
    qid = r.send("sender@origin.test", ["a@example.com", "b@example.com"],
                 simple_message("partly sent"))
    r.wait_log(sent_re(rcpt="a@example.com", qid=qid, status="sent"))
    r.wait_log(sent_re(rcpt="b@example.com", qid=qid, status="deferred", strict_relay=False))
    conns = sink.connections
    for _ in range(2):   # the second start reads what the first one left
        r.stop()
        r.restart()
    time.sleep(2)   # a recipient whose retry time was lost would be tried by now
    assert sink.connections == conns, "retried at once after a restart: the retry time was lost"
    p = r.ctl("queue", "--json")
    assert p.returncode == 0, p.stderr
    (m,) = json.loads(p.stdout)
    (x,) = m["recipients"]
    assert x["address"] == "b@example.com" and x["attempts"] == 1, m
    assert x["next_attempt"] >= time.time() + 3000, m
    assert x["last_reply"].startswith("451 4.3.0 later"), m
    sink.rcpt_replies = type(sink.rcpt_replies)(None)   # now it accepts everyone
    assert r.ctl("flush").returncode == 0
    s = r.wait_log(sent_re(rcpt="b@example.com", qid=qid, status="sent"), timeout=WAIT)
    assert s.group("attempts") == "2", s.group(0)
    assert len(sink.rcpts_tried("a@example.com")) == 1, "a done recipient was delivered again"
    r.stop()


def test_repeated_deferral_is_stamped_not_rewritten(relay_sink):
    """A deferral that repeats the last one (same code, enhanced status and
    command over the same transport) is not written into state/QID: the
    file keeps its lines and gets the next attempt and the attempts on its
    modification time (seconds and nanoseconds; Postfix's qmgr keeps a
    deferred file's next attempt in its mtime). Reading the file changes
    nothing. Restarts take them from there: no retry at once, the attempts
    counted. A deferral with another reply rewrites the lines (whole
    seconds: the stamp is no more)."""
    reply = {"v": "451 4.3.0 later"}
    r, sink = relay_sink(queue={"retry": ["1s", "1h"]}, rcpt_replies=lambda a: reply["v"])
    qid = r.send("sender@origin.test", ["b@example.com"], simple_message("stamped"))
    r.wait_log(sent_re(rcpt="b@example.com", qid=qid, status="deferred", attempts=1,
                       strict_relay=False))
    path = r.workdir / "spool" / "state" / qid
    deadline = time.time() + 5
    while not path.exists() and time.time() < deadline:
        time.sleep(0.05)
    first = path.read_bytes()
    r.wait_log(sent_re(rcpt="b@example.com", qid=qid, status="deferred", attempts=2,
                       strict_relay=False), timeout=WAIT)
    deadline = time.time() + 5
    while os.stat(path).st_mtime_ns % 10**9 != 2 and time.time() < deadline:
        time.sleep(0.05)
    st = os.stat(path)
    assert st.st_mtime_ns % 10**9 == 2, "the attempts were not stamped on the file"
    assert st.st_mtime >= time.time() + 3000, "the next attempt was not stamped"
    assert path.read_bytes() == first, "a repeated deferral rewrote the state file"
    conns = sink.connections
    for _ in range(2):   # the second start reads what the first one left
        r.stop()
        r.restart()
    time.sleep(2)
    assert sink.connections == conns, "retried at once after a restart: the stamp was lost"
    (m,) = json.loads(r.ctl("queue", "--json").stdout)
    (x,) = m["recipients"]
    assert x["attempts"] == 2 and x["next_attempt"] >= time.time() + 3000, m
    assert x["last_reply"].startswith("451 4.3.0 later"), m
    # Another reply: the lines are written again, the stamp goes.
    reply["v"] = "452 4.2.2 mailbox full"
    assert r.ctl("flush").returncode == 0
    r.wait_log(sent_re(rcpt="b@example.com", qid=qid, status="deferred", attempts=3,
                       strict_relay=False), timeout=WAIT)
    deadline = time.time() + 5
    while b"4.2.2" not in path.read_bytes() and time.time() < deadline:
        time.sleep(0.05)
    assert b"4.2.2" in path.read_bytes(), "a new reply was not written"
    assert os.stat(path).st_mtime_ns % 10**9 == 0, "the stamp outlived the lines written after it"
    r.stop()
    r.restart()
    (m,) = json.loads(r.ctl("queue", "--json").stdout)
    (x,) = m["recipients"]
    assert x["attempts"] == 3 and x["next_attempt"] >= time.time() + 3000, m
    assert x["last_reply"].startswith("452 4.2.2"), m
    r.stop()


def test_recovery_in_slices_while_running(start_relayd, scripted, monkeypatch):
    """A queue too large to read before listening (here: every part of it,
    RELAYD_RECOVER_FIRST_US=0) is read on in slices while relayd runs: it
    listens before the rest is read (at this size the rest takes a few
    milliseconds more), accepts new mail, keeps every message's state
    (attempts, the next attempt time, its state file) and the new message's
    too, and delivers each message exactly once when the destination works."""
    from test_destinations import GREY
    from harness import transport
    grey = {"on": True}
    srv = scripted("127.0.0.2", name="dest", rcpt_replies=lambda a: GREY if grey["on"] else None)
    r = start_relayd(transports={"out": transport(srv)}, routes={"*": "out"},
                     queue={"retry": ["1h"]})
    big = "x" * 998 + "\r\n"
    n = 140      # 64 files a slice: three slices after the first part
    qids = [r.send("a@origin.test", [f"r{i}@dest.test"],
                   simple_message(f"big {i}", body=big * 300)) for i in range(n)]
    for q in qids:
        r.wait_log(sent_re(None, qid=q, status="deferred"))
    r.stop()
    monkeypatch.setenv("RELAYD_RECOVER_FIRST_US", "0")
    r.start()
    new = r.send("a@origin.test", ["new@dest.test"], simple_message("new"))
    r.wait_log(rf"queue: recovered {n} messages")
    log = r.log_text()
    start = log.rindex("=== harness: start")
    so_far = log.index("recovered so far; the rest while relayd runs", start)
    assert so_far < log.index("listening on", start), "did not listen before the rest was read"
    r.wait_log(sent_re("new@dest.test", qid=new, status="deferred"))
    time.sleep(0.5)
    # Nothing recovered was tried again (next attempt in 1 h kept), the new
    # message's state file was not taken for a leftover.
    for q in qids:
        assert len(r.find_log(sent_re(None, qid=q))) == 1, q
    assert (r.workdir / "spool" / "state" / new).exists()
    p = r.ctl("queue", "--json")
    assert p.returncode == 0, p
    listed = json.loads(p.stdout)
    assert len(listed) == n + 1
    assert all(m["recipients"][0]["attempts"] == 1 for m in listed), listed[:2]
    grey["on"] = False
    assert r.ctl("flush").returncode == 0
    for q in qids + [new]:
        r.wait_log(sent_re(None, qid=q, status="sent"), timeout=WAIT)
    srv.wait_for(lambda s: len(s.messages) == n + 1, what=f"{n + 1} messages")
    time.sleep(0.5)
    assert len(srv.messages) == n + 1, "a message was delivered twice"
