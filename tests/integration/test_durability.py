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

import signal

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
