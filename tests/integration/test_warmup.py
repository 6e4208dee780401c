"""
test_warmup.py -- the warm-up of a new sending address (contract-v2 section
2: transport warmup, warmup_start, warmup_overflow): day k's entry limits
the rate per destination (the smaller of it and rate), before warmup_start
and after the last day rate alone applies; the day changes at local
midnight without a reload; mail over the day's rate waits, or with
warmup_overflow goes there at once, logged status=rerouted (warm-up: ...);
relayctl route shows the day. Rates are asserted as "never more than".
"""

import datetime
import re
import time

from harness import sent_re, simple_message, transport
from test_shaping import send_many


def day(offset: int = 0) -> str:
    """The local date OFFSET days from today, as warmup_start takes it."""
    return (datetime.date.today() + datetime.timedelta(days=offset)).isoformat()


def route(r, address="u@dest.test"):
    p = r.ctl("route", address)
    assert p.returncode == 0, p
    return p.stdout


def data_span(srv):
    t = [e.t for e in srv.events if e.kind == "data"]
    return max(t) - min(t)


def test_day_one_limits_the_rate(start_relayd, scripted):
    srv = scripted("127.0.0.2", name="new-ip")
    r = start_relayd(transports={"out": transport(srv, warmup=["2/s", "100/s"],
                                                  warmup_start=day(0))},
                     routes={"*": "out"})
    assert re.search(r"(?m)^warmup: day 1 of 2, 2/s$", route(r)), route(r)
    send_many(r, [f"u{i}@dest.test" for i in range(6)], parallel=3)
    assert len(srv.wait_messages(6, timeout=20)) == 6
    # 6 messages at 2 per second: 5 gaps of 0.5 s at least.
    assert data_span(srv) >= 2.0, f"6 messages at 2/s within {data_span(srv):.2f}s"
    assert not r.find_log(r"status=(deferred|bounced|rerouted)")


def test_day_two_takes_the_second_entry(start_relayd, scripted):
    srv = scripted("127.0.0.2", name="day2")
    r = start_relayd(transports={"out": transport(srv, warmup=["1/m", "2/s", "5/s"],
                                                  warmup_start=day(-1))},
                     routes={"*": "out"})
    assert re.search(r"(?m)^warmup: day 2 of 3, 2/s$", route(r)), route(r)
    t0 = time.monotonic()
    send_many(r, [f"u{i}@dest.test" for i in range(5)], parallel=5)
    srv.wait_messages(5, timeout=20)
    # Not day 1's 1/m (that would take 4 minutes), and never over 2/s.
    assert time.monotonic() - t0 < 15
    assert data_span(srv) >= 1.5, f"5 messages at 2/s within {data_span(srv):.2f}s"


def test_the_smaller_of_rate_and_the_day(start_relayd, scripted):
    srv = scripted("127.0.0.2", name="smaller")
    r = start_relayd(transports={"out": transport(srv, rate="2/s", warmup=["100/s"],
                                                  warmup_start=day(0))},
                     routes={"*": "out"})
    assert re.search(r"(?m)^rate: 2 per 1s$", route(r)), route(r)
    assert re.search(r"(?m)^warmup: day 1 of 1, 100/s$", route(r)), route(r)
    send_many(r, [f"u{i}@dest.test" for i in range(5)], parallel=5)
    srv.wait_messages(5, timeout=20)
    assert data_span(srv) >= 1.5, f"rate 2/s under a 100/s day: {data_span(srv):.2f}s"


def test_not_started_and_done(start_relayd, scripted):
    """Before warmup_start and after the last day: rate alone (unset here,
    so unlimited; done with rate = 2/s: that)."""
    early, late = scripted("127.0.0.2", name="early"), scripted("127.0.0.3", name="late")
    r = start_relayd(transports={
        "early": transport(early, warmup=["1/h"], warmup_start=day(1)),
        "late": transport(late, rate="2/s", warmup=["1/h", "1/m"], warmup_start=day(-10))},
        routes={"early.test": "early", "*": "late"})
    assert re.search(rf"(?m)^warmup: starts {day(1)}$", route(r, "u@early.test"))
    assert re.search(r"(?m)^warmup: done$", route(r, "u@late.test"))
    t0 = time.monotonic()
    send_many(r, [f"u{i}@early.test" for i in range(4)] + [f"v{i}@late.test" for i in range(4)],
              parallel=4)
    early.wait_messages(4, timeout=20)
    late.wait_messages(4, timeout=20)
    assert time.monotonic() - t0 < 15, "a warm-up not started (or done) held mail back"
    assert data_span(late) >= 1.0, f"rate 2/s after the warm-up: {data_span(late):.2f}s"


def test_overflow_reroutes_at_once(start_relayd, scripted):
    main, spare = scripted("127.0.0.2", name="main"), scripted("127.0.0.3", name="spare")
    r = start_relayd(transports={
        "main": transport(main, warmup=["1/m"], warmup_start=day(0), warmup_overflow="spare"),
        "spare": transport(spare)}, routes={"*": "main"})
    assert re.search(r"(?m)^warmup_overflow: spare ", route(r)), route(r)
    q1 = r.send("a@origin.test", ["one@dest.test"], simple_message("first"))
    r.wait_log(sent_re("one@dest.test", qid=q1, status="sent", transport="main"))
    qids = [r.send("a@origin.test", [f"{n}@dest.test"], simple_message(n))
            for n in ("two", "three")]
    for q, n in zip(qids, ("two", "three")):
        m = r.wait_log(sent_re(f"{n}@dest.test", qid=q, status="rerouted", transport="main",
                               strict_relay=False), timeout=10)
        assert m.group("reason") == ("warm-up: day 1 of 1, 1/m, over the day's rate: "
                                     "to transport spare"), m.group(0)
        assert m.group("relay") == "none" and m.group("attempts") == "0", m.group(0)
        r.wait_log(sent_re(f"{n}@dest.test", qid=q, status="sent", transport="spare"))
    assert [m.rcpt_tos for m in main.messages] == [["one@dest.test"]]
    assert sorted(m.rcpt_tos[0] for m in spare.wait_messages(2)) == ["three@dest.test",
                                                                     "two@dest.test"]
    assert not r.find_log(r"status=(deferred|bounced)")


def test_day_changes_at_local_midnight(start_relayd, scripted, monkeypatch):
    """relayd's local time is made 23:59:52 (a POSIX TZ with seconds): day 1
    allows 1/h, so a second message waits; at midnight day 2 (100/s)
    applies, without a reload, and it goes."""
    now = time.time()
    utc = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    sod = utc.hour * 3600 + utc.minute * 60 + utc.second
    off = (sod - (86400 - 8)) % 86400  # local = UTC - off
    if off > 12 * 3600:
        off -= 86400
    sign, a = ("-" if off < 0 else "+"), abs(off)
    monkeypatch.setenv("TZ", f"XXX{sign}{a // 3600:02d}:{a // 60 % 60:02d}:{a % 60:02d}")
    local_today = (utc - datetime.timedelta(seconds=off)).date()
    # The offset is whole seconds, so local midnight comes the fraction of
    # the current second earlier than a whole number of seconds from now.
    midnight = now - utc.microsecond / 1e6 + (86400 - ((sod - off) % 86400))

    srv = scripted("127.0.0.2", name="midnight")
    r = start_relayd(transports={"out": transport(srv, warmup=["1/h", "100/s"],
                                                  warmup_start=local_today.isoformat())},
                     routes={"*": "out"})
    assert re.search(r"(?m)^warmup: day 1 of 2, 1/h$", route(r)), route(r)
    q1 = r.send("a@origin.test", ["one@dest.test"], simple_message("first"))
    r.wait_log(sent_re("one@dest.test", qid=q1, status="sent"))
    r.send("a@origin.test", ["two@dest.test"], simple_message("second"))
    assert time.time() < midnight - 1, "too slow to test before midnight"
    time.sleep(1)
    assert len(srv.messages) == 1, "day 1's 1/h let a second message through"
    msgs = srv.wait_messages(2, timeout=midnight - time.time() + 8)
    assert len(msgs) == 2
    assert time.time() >= midnight - 0.5, "the second message went before midnight"
    assert re.search(r"(?m)^warmup: day 2 of 2, 100/s$", route(r)), route(r)
