"""
test_reload.py -- re-reading the configuration (contract: "Programs",
Signals: SIGHUP; relayctl reload).

Assumptions beyond the contract (docs/relayctl.md):
  * a new route applies to RCPT in sessions that start after the reload,
    and to queued recipients at their next attempt.
  * `relayctl reload` with a bad configuration exits 1 and prints each
    error as FILE:LINE: message on stderr (FILE as relayd was given it);
    with -f FILE relayctl finds them itself when it reads FILE for the
    socket path, with -s SOCKET relayd finds them and sends them back.
  * a reload that changes a listener says in the log that it needs a
    restart; the old listener keeps serving.
"""

import re
import signal
import subprocess
import time

import pytest

from harness import relayctl_bin, sent_re, simple_message, transport


def reload(r, how):
    mark = r.mark()
    if how == "sighup":
        r.kill(signal.SIGHUP, wait=False)
    else:
        p = r.ctl("reload")
        assert p.returncode == 0, f"relayctl reload: exit {p.returncode}: {p.stderr!r}"
    r.wait_log(r"configuration reloaded", since=mark)


def rcpt_code(r, rcpt):
    with r.client() as c:
        assert c.cmd("EHLO client.test").code == 250
        assert c.cmd("MAIL FROM:<s@origin.test>").code == 250
        return c.cmd(f"RCPT TO:<{rcpt}>").code


@pytest.mark.parametrize("how", ["sighup", "relayctl"])
def test_reload_adds_route(relay_sink, how):
    r, sink = relay_sink(routes={"example.com": "sink"})
    assert rcpt_code(r, "x@other.org") == 550
    r.conf_path.write_text(r.conf_path.read_text() +
                           'route "other.org" { transport = "sink" }\n')
    reload(r, how)
    assert r.alive
    assert rcpt_code(r, "x@other.org") == 250
    qid = r.send("s@origin.test", ["x@other.org"], simple_message("after reload"))
    (m,) = sink.wait_messages(1)
    assert m.rcpt_tos == ["x@other.org"]
    r.wait_log(sent_re("x@other.org", qid=qid, status="sent", transport="sink"))
    out = r.ctl("route", "x@other.org").stdout
    assert re.search(r"(?m)^route: other\.org$", out), out


def test_reload_moves_queued_recipients(start_relayd, scripted):
    old = scripted("127.0.0.2", name="old", rcpt_replies="450 4.2.0 try later")
    new = scripted("127.0.0.3", name="new")
    r = start_relayd(transports={"old": transport(old), "new": transport(new)},
                     routes={"*": "old"}, queue={"retry": ["1h"]})
    qid = r.send("s@origin.test", ["x@dest.test"], simple_message("move me"))
    r.wait_log(sent_re("x@dest.test", qid=qid, status="deferred", transport="old"))
    text = r.conf_path.read_text()
    assert 'route "*" { transport = "old" }' in text
    r.conf_path.write_text(text.replace('route "*" { transport = "old" }',
                                        'route "*" { transport = "new" }'))
    reload(r, "relayctl")
    p = r.ctl("flush", qid)
    assert p.returncode == 0, p
    new.wait_messages(1, timeout=5)
    r.wait_log(sent_re("x@dest.test", qid=qid, status="sent", transport="new", attempts=2))


BROKEN = 'frobnicate = 1\n'


@pytest.mark.parametrize("how", ["sighup", "relayctl"])
def test_reload_bad_config_keeps_old(relay_sink, how):
    r, sink = relay_sink(routes={"example.com": "sink"})
    good = r.conf_path.read_text()
    lines = good.count("\n")
    r.conf_path.write_text(good + BROKEN + 'route "other.org" { transport = "sink" }\n')
    bad_line = lines + 1
    mark = r.mark()
    if how == "sighup":
        r.kill(signal.SIGHUP, wait=False)
    else:
        # relayctl -f reads the file to find the socket: it reports the
        # errors itself and leaves relayd alone ...
        p = r.ctl("reload")
        assert p.returncode == 1, f"exit {p.returncode}, want 1: {p.stdout!r} {p.stderr!r}"
        assert re.search(rf"(?m)^{re.escape(str(r.conf_path))}:{bad_line}: .*frobnicate",
                         p.stderr), p.stderr
        # ... and with -s relayd itself reloads, fails, and says why.
        p = subprocess.run([relayctl_bin(), "-s", str(r.workdir / "spool" / "control.sock"),
                            "reload"], capture_output=True, text=True, timeout=10)
        assert p.returncode == 1, f"exit {p.returncode}, want 1: {p.stdout!r} {p.stderr!r}"
        assert p.stderr.startswith("relayctl: configuration not reloaded"), p.stderr
        assert re.search(rf"(?m)^{re.escape(str(r.conf_path))}:{bad_line}: .*frobnicate",
                         p.stderr), p.stderr
    m = r.wait_log(rf"{re.escape(str(r.conf_path))}:(\d+): (.*)$", since=mark)
    assert int(m.group(1)) == bad_line and "frobnicate" in m.group(2), m.group(0)
    r.wait_log(r"keeping the running configuration", since=mark)
    time.sleep(0.2)
    assert r.alive
    # Still the old configuration: other.org is not routed, example.com is.
    assert rcpt_code(r, "x@other.org") == 550
    r.send("s@origin.test", ["x@example.com"], simple_message("still old"))
    sink.wait_messages(1)
    # A fixed file reloads fine afterwards.
    r.conf_path.write_text(good + 'route "other.org" { transport = "sink" }\n')
    reload(r, how)
    assert rcpt_code(r, "x@other.org") == 250


def test_reload_listener_change_needs_restart(relay_sink):
    r, sink = relay_sink()
    text = r.conf_path.read_text()
    r.conf_path.write_text(text.replace(f"port = {r.port}", f"port = {r.port + 1}"))
    mark = r.mark()
    reload(r, "relayctl")
    r.wait_log(r"listen main: address, port or tls mode changed.*restarted", since=mark)
    assert rcpt_code(r, "x@example.com") == 250   # the old listener still serves


def test_reload_listener_settings_and_certificate(start_relayd, scripted, tmp_path):
    """A listener keeping its address takes new allow lists at once, and
    re-reads its certificate (renewal without restart)."""
    import ssl
    import smtplib
    from tlsca import TestCA, client_context
    ca = TestCA(tmp_path / "ca")
    cert1, key1 = ca.issue("one.test.example")
    cert2, key2 = ca.issue("two.test.example")
    sink = scripted("127.0.0.2", name="sink")
    r = start_relayd(listen={"tls": "starttls", "tls_cert": cert1, "tls_key": key1},
                     transports={"sink": transport(sink)}, routes={"*": "sink"})

    def peer_cn():
        with smtplib.SMTP("127.0.0.1", r.port, timeout=10) as s:
            s.ehlo("client.test")
            s.starttls(context=client_context())
            der = s.sock.getpeercert(binary_form=True)
            return ssl.DER_cert_to_PEM_cert(der)

    first = peer_cn()
    text = r.conf_path.read_text().replace(cert1, cert2).replace(key1, key2)
    text = text.replace('port = %d' % r.port, 'port = %d\n\tallow = {"127.0.0.99/32"}' % r.port)
    r.conf_path.write_text(text)
    mark = r.mark()
    reload(r, "relayctl")
    r.wait_log(r"reload: listen main: certificate loaded from .*two\.test\.example", since=mark)
    assert peer_cn() != first
    assert rcpt_code(r, "x@example.com") == 554     # the new allow list
