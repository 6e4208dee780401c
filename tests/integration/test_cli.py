"""
test_cli.py -- relayd's flags: -V, -n with good and bad configurations.

Contract: `-n` prints `configuration OK` on stdout and exits 0, or prints each
error on stderr as `FILE:LINE: message` (FILE as given) and exits 1.
Assumptions beyond the contract:
  * -V prints the version on stdout (something with a digit) and exits 0.
  * an error about a section-level rule (listen tls without a certificate)
    may be reported at the line of the section or of the offending key; the
    test accepts either.
  * -n creates nothing (no spool directory).
  * a configuration file that does not exist is an error: exit 1, and the
    message names the file.
  * the message names what is wrong (the unknown key, the bad value, the
    undeclared transport, tls_cert), as STYLE.md asks of user errors.
"""

import re
import subprocess

import pytest

from harness import make_config, transport


def good_config(spool):
    return make_config(port=2525, spool=spool,
                       transports={"smarthost": transport("[127.0.0.1]:2526")},
                       routes={"example.com": "smarthost", "*": "smarthost"})


def run(relayd_path, *args, cwd=None):
    return subprocess.run([relayd_path, *args], capture_output=True, text=True,
                          timeout=10, cwd=cwd)


def test_version(relayd_path):
    p = run(relayd_path, "-V")
    assert p.returncode == 0, f"relayd -V exited {p.returncode}: {p.stderr}"
    assert re.search(r"\d", p.stdout), f"relayd -V printed no version on stdout: {p.stdout!r}"


def test_check_good_config(relayd_path, tmp_path):
    (tmp_path / "relayd.conf").write_text(good_config(tmp_path / "spool"))
    p = run(relayd_path, "-n", "-f", "relayd.conf", cwd=tmp_path)
    assert p.returncode == 0, f"exit {p.returncode}; stderr: {p.stderr}"
    assert "configuration OK" in p.stdout.splitlines(), f"stdout: {p.stdout!r}"
    # assumption: -n only checks; it creates no spool and starts nothing
    assert not (tmp_path / "spool").exists()


# Each bad config: (id, text, accepted line numbers, words the message must
# hold; a tuple means any one of them).
# Line numbers are counted in the text below (1-based).
BAD = [
    ("unknown-key",
     'hostname = "relay.test"\n'
     'frobnicate = 1\n'
     'transport "t" { relay = {"[127.0.0.1]:2526"} }\n'
     'route "*" { transport = "t" }\n',
     {2}, ["frobnicate"]),
    ("bad-duration",
     'hostname = "relay.test"\n'
     'transport "t" {\n'
     '\trelay = {"[127.0.0.1]:2526"}\n'
     '\tconnect_timeout = "5x"\n'
     '}\n'
     'route "*" { transport = "t" }\n',
     {4}, [("5x", "connect_timeout")]),
    ("undeclared-transport",
     'hostname = "relay.test"\n'
     'transport "t" { relay = {"[127.0.0.1]:2526"} }\n'
     '\n'
     'route "example.com" { transport = "nosuch" }\n'
     'route "*" { transport = "t" }\n',
     {4}, ["nosuch"]),
    ("starttls-without-cert",
     'hostname = "relay.test"\n'
     'listen "main" {\n'
     '\taddress = "127.0.0.1"\n'
     '\tport = 2525\n'
     '\ttls = "starttls"\n'
     '}\n'
     'transport "t" { relay = {"[127.0.0.1]:2526"} }\n'
     'route "*" { transport = "t" }\n',
     {2, 5}, ["tls_cert"]),
]


@pytest.mark.parametrize("case,text,lines,words", BAD, ids=[b[0] for b in BAD])
def test_check_bad_config(relayd_path, tmp_path, case, text, lines, words):
    (tmp_path / "bad.conf").write_text(text)
    p = run(relayd_path, "-n", "-f", "bad.conf", cwd=tmp_path)
    assert p.returncode == 1, f"exit {p.returncode}, want 1; stdout {p.stdout!r} stderr {p.stderr!r}"
    assert "configuration OK" not in p.stdout
    errs = [m for m in re.finditer(r"(?m)^bad\.conf:(\d+): (.+)$", p.stderr)]
    assert errs, f"no 'bad.conf:LINE: message' line on stderr (FILE as given): {p.stderr!r}"
    got = {int(m.group(1)) for m in errs}
    assert got & lines, f"error reported at line(s) {sorted(got)}, want one of {sorted(lines)}: {p.stderr!r}"
    msg = " ".join(m.group(2) for m in errs if int(m.group(1)) in lines)
    for w in words:
        alts = (w,) if isinstance(w, str) else w
        assert any(a in msg for a in alts), \
            f"error message should name {' or '.join(map(repr, alts))}: {p.stderr!r}"


def test_check_bad_config_absolute_path(relayd_path, tmp_path):
    path = tmp_path / "abs.conf"
    path.write_text(BAD[0][1])
    p = run(relayd_path, "-n", "-f", str(path))
    assert p.returncode == 1
    assert re.search(rf"(?m)^{re.escape(str(path))}:2: ", p.stderr), \
        f"want '{path}:2: ...' (FILE as given) on stderr: {p.stderr!r}"


def test_check_missing_file(relayd_path, tmp_path):
    p = run(relayd_path, "-n", "-f", str(tmp_path / "nope.conf"))
    assert p.returncode == 1, f"exit {p.returncode}: {p.stderr!r}"
    assert "nope.conf" in p.stderr
