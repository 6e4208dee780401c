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
