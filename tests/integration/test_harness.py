"""
test_harness.py -- the harness checks itself without relayd: scripted
replies, down/up on the same port, raw-content recording, the raw client.
"""

import smtplib

import pytest

from harness import CLOSE, RawClient, wire_body


def test_scripted_records_raw_content(scripted):
    srv = scripted("127.0.0.2")
    content = b"Subject: x\r\n\r\n.leading dot\r\n\xc3\xa9t\xc3\xa9\r\nend\r\n"
    with RawClient(srv.host, srv.port) as c:
        assert c.greeting.code == 220
        assert c.cmd("EHLO me").code == 250
        assert c.cmd("MAIL FROM:<a@b.test>").code == 250
        assert c.cmd("RCPT TO:<c@d.test>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(wire_body(content))
        assert c.read_reply().code == 250
        assert c.cmd("QUIT").code == 221
    (m,) = srv.wait_messages(1)
    assert m.content == content
    assert m.mail_from == "a@b.test" and m.rcpt_tos == ["c@d.test"]
    assert m.peer[0] == "127.0.0.1"
    assert srv.connections == 1 and srv.sessions == 1


def test_scripted_ipv6(scripted):
    """A scripted server on ::1 (for address literals [IPv6:::1])."""
    srv = scripted("::1")
    assert srv.relay == f"[::1]:{srv.port}"
    with RawClient("::1", srv.port) as c:
        assert c.greeting.code == 220
        assert c.cmd("EHLO me").code == 250
        assert c.cmd("MAIL FROM:<a@b.test>").code == 250
        assert c.cmd("RCPT TO:<c@[IPv6:::1]>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(wire_body(b"Subject: six\r\n\r\nhi\r\n"))
        assert c.read_reply().code == 250
    (m,) = srv.wait_messages(1)
    assert m.peer[0] == "::1" and m.rcpt_tos == ["c@[IPv6:::1]"]
    assert srv.connections == 1     # the controller's own check is not counted


def test_scripted_rcpt_4xx_then_default(scripted):
    srv = scripted(rcpt_replies=["450 4.2.0 try later", None])
    s = smtplib.SMTP(srv.host, srv.port, timeout=5)
    s.ehlo("me")
    s.mail("a@b.test")
    assert s.rcpt("x@d.test") == (450, b"4.2.0 try later")
    assert s.rcpt("y@d.test")[0] == 250
    assert s.rcpt("z@d.test")[0] == 250
    s.data(b"Subject: y\r\n\r\nbody\r\n")
    s.quit()
    (m,) = srv.wait_messages(1)
    assert m.rcpt_tos == ["y@d.test", "z@d.test"]
    assert [e.arg for e in srv.rcpts_tried()] == ["x@d.test", "y@d.test", "z@d.test"]


def test_scripted_data_reply_rejects(scripted):
    srv = scripted(data_replies="554 5.7.1 no thanks")
    with smtplib.SMTP(srv.host, srv.port, timeout=5) as s:
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail("a@b.test", ["c@d.test"], b"Subject: z\r\n\r\nbody\r\n")
        assert e.value.smtp_code == 554
    assert srv.messages == [] and len(srv.rejected) == 1


def test_scripted_greeting_421_and_close(scripted):
    busy = scripted(greeting="421 4.7.0 busy")
    with RawClient(busy.host, busy.port) as c:
        assert c.greeting.line == "421 4.7.0 busy"
        assert c.wait_closed(2)
    gone = scripted(greeting=CLOSE)
    with RawClient(gone.host, gone.port, read_greeting=False) as c:
        assert c.try_read_reply(2) is None
    assert busy.connections == 1 and gone.connections == 1


def test_scripted_down_and_up_same_port(scripted):
    srv = scripted("127.0.0.3", start=False)
    with pytest.raises(OSError):
        RawClient(srv.host, srv.port)
    srv.start()
    with RawClient(srv.host, srv.port) as c:
        assert c.greeting.code == 220
    srv.stop()
    with pytest.raises(OSError):
        RawClient(srv.host, srv.port)
    srv.start()
    with smtplib.SMTP(srv.host, srv.port, timeout=5) as s:
        s.sendmail("a@b.test", ["c@d.test"], b"Subject: up\r\n\r\nagain\r\n")
    assert len(srv.wait_messages(1)) == 1
    assert srv.connections == 2


def test_scripted_stop_drops_open_sessions(scripted):
    srv = scripted()
    c = RawClient(srv.host, srv.port)
    assert c.cmd("EHLO me").code == 250
    srv.stop()
    assert c.wait_closed(3), "stop() must drop open connections"
    c.close()


def test_raw_client_source_address_and_pipelining(scripted):
    srv = scripted()
    with RawClient(srv.host, srv.port, source="127.0.0.4") as c:
        c.cmd("EHLO me")
        c.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
        codes = [r.code for r in c.read_replies(3)]
        assert codes == [250, 250, 354]
        c.send(wire_body(b"x: y\r\n\r\nz\r\n") + b"QUIT\r\n")
        assert [r.code for r in c.read_until_closed()] == [250, 221]
    (m,) = srv.wait_messages(1)
    assert m.peer[0] == "127.0.0.4"


def test_wire_body_stuffing():
    assert wire_body(b".a\r\n..\r\n.\r\nb\r\n") == b"..a\r\n...\r\n..\r\nb\r\n.\r\n"
    assert wire_body(b"no newline") == b"no newline\r\n.\r\n"


def test_scripted_close_mid_session(scripted):
    srv = scripted(data_replies=[CLOSE])
    with RawClient(srv.host, srv.port) as c:
        c.cmd("EHLO me")
        c.cmd("MAIL FROM:<a@b.test>")
        c.cmd("RCPT TO:<c@d.test>")
        assert c.cmd("DATA").code == 354
        c.send(wire_body(b"x: y\r\n\r\nz\r\n"))
        assert c.try_read_reply(3) is None, "CLOSE must drop the connection without a reply"
    assert srv.messages == [] and len(srv.rejected) == 1
    with smtplib.SMTP(srv.host, srv.port, timeout=5) as s:   # the next session is normal
        s.sendmail("a@b.test", ["c@d.test"], b"Subject: again\r\n\r\nbody\r\n")
    assert len(srv.wait_messages(1)) == 1
