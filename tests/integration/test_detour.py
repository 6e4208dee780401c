"""
test_detour.py -- the reputation detour (contract: transport fallback,
fallback_hold, status=rerouted): a blocklist or IP-reputation rejection on a
transport with a fallback re-routes the recipient once to the fallback; the
destination's mail then goes straight to the fallback while fallback_hold
lasts, and probes the direct path again after it; a fallback that rejects
too means a bounce, never a loop; without a fallback, a bounce that says
what the reply means.
"""

import time

from harness import sent_re, simple_message, transport

SPAMHAUS = ("550 5.7.1 Service unavailable; client [127.0.0.1] blocked using "
            "zen.spamhaus.org")
GMAIL_421 = ("421-4.7.28 Gmail has detected an unusual rate of unsolicited mail "
             "originating from your IP address. To protect our users from spam, mail sent "
             "from your IP address has been temporarily rate limited.")


def detour_relayd(start_relayd, direct, clean, hold="3s", fallback="clean"):
    t_direct = transport(direct, fallback=fallback, fallback_hold=hold) if fallback \
        else transport(direct)
    return start_relayd(transports={"direct": t_direct, "clean": transport(clean)},
                        routes={"*": "direct"})


def test_blocklist_reroutes_then_holds_then_probes(start_relayd, scripted):
    direct = scripted("127.0.0.2", name="direct", rcpt_replies=SPAMHAUS)
    clean = scripted("127.0.0.3", name="clean")
    r = detour_relayd(start_relayd, direct, clean, hold="3s")

    qid = r.send("a@origin.test", ["u@gmail.test"], simple_message(subject="first"))
    m = r.wait_log(sent_re("u@gmail.test", qid=qid, status="rerouted", transport="direct"))
    assert m.group("reason").startswith("to transport clean: 550 5.7.1"), m.group(0)
    assert m.group("dsn") == "5.7.1"
    r.wait_log(sent_re("u@gmail.test", qid=qid, status="sent", transport="clean"))
    assert clean.wait_messages(1)[0].rcpt_tos == ["u@gmail.test"]
    assert direct.messages == []
    r.wait_log(r"direct: destination .* rejects the sending IP \(blocklist: Spamhaus[^)]*\); "
               r"its mail goes through transport clean for 3s")
    tried = len(direct.rcpts_tried())

    # While the hold lasts: straight to the fallback, direct is not asked.
    qid2 = r.send("a@origin.test", ["v@gmail.test"], simple_message(subject="second"))
    r.wait_log(sent_re("v@gmail.test", qid=qid2, status="sent", transport="clean"))
    assert len(direct.rcpts_tried()) == tried
    assert not r.find_log(sent_re("v@gmail.test", status="rerouted"))

    # After it: the next message probes the direct path again.
    time.sleep(3.5)
    qid3 = r.send("a@origin.test", ["w@gmail.test"], simple_message(subject="third"))
    r.wait_log(sent_re("w@gmail.test", qid=qid3, status="rerouted", transport="direct"))
    r.wait_log(sent_re("w@gmail.test", qid=qid3, status="sent", transport="clean"))
    assert len(direct.rcpts_tried()) == tried + 1
    assert len(clean.messages) == 3


def test_fallback_that_rejects_bounces_without_loop(start_relayd, scripted):
    direct = scripted("127.0.0.2", name="direct", rcpt_replies=SPAMHAUS)
    clean = scripted("127.0.0.3", name="clean",
                     rcpt_replies=lambda a: SPAMHAUS if a.startswith("u@") else None)
    r = detour_relayd(start_relayd, direct, clean)
    qid = r.send("a@origin.test", ["u@gmail.test"], simple_message())
    r.wait_log(sent_re("u@gmail.test", qid=qid, status="rerouted"))
    m = r.wait_log(sent_re("u@gmail.test", qid=qid, status="bounced", transport="clean"))
    assert "[blocklist: Spamhaus" in m.group("reason")
    time.sleep(2)
    assert len(r.find_log(sent_re("u@gmail.test", status="rerouted"))) == 1
    assert len(r.find_log(sent_re("u@gmail.test", qid=qid))) == 2


def test_no_fallback_bounces_with_explanation(start_relayd, scripted):
    direct = scripted("127.0.0.2", name="direct", rcpt_replies=SPAMHAUS)
    clean = scripted("127.0.0.3", name="clean")
    r = detour_relayd(start_relayd, direct, clean, fallback=None)
    qid = r.send("a@origin.test", ["u@gmail.test"], simple_message())
    m = r.wait_log(sent_re("u@gmail.test", qid=qid, status="bounced", transport="direct"))
    assert "[blocklist: Spamhaus ZEN]" in m.group("reason"), m.group(0)
    assert clean.messages == [] or all(x.mail_from in ("", "<>") for x in clean.messages)


def test_gmail_421_reputation_at_greeting_reroutes(start_relayd, scripted):
    direct = scripted("127.0.0.2", name="direct", greeting=GMAIL_421.replace("421-", "421 "))
    clean = scripted("127.0.0.3", name="clean")
    r = detour_relayd(start_relayd, direct, clean)
    qid = r.send("a@origin.test", ["u@gmail.test"], simple_message())
    m = r.wait_log(sent_re("u@gmail.test", qid=qid, status="rerouted", transport="direct"))
    assert "4.7.28" in m.group("reason")
    r.wait_log(sent_re("u@gmail.test", qid=qid, status="sent", transport="clean"))
    assert direct.messages == []
