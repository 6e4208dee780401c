"""
test_cli.py -- relayd's flags: -V, -n with good and bad configurations, -n -v.

Contract: `-n` prints `configuration OK` on stdout and exits 0, or prints each
error on stderr as `FILE:LINE: message` (FILE as given) and exits 1. It checks
everything a start would: the `user` exists, certificates and keys load and
belong together, `auth_users` and password files are readable, the spool can
be created and written; `relayd -n` passing means `relayd` starts. With -v it
also prints the effective configuration (every key, defaults included, in the
file's own syntax) before `configuration OK`.
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
  * what a start cannot get past is reported at the line of the key
    concerned, and a start (relayd -d) of that configuration fails with the
    same line (docs/relayd.8: the start runs the same checks first).
  * -n binds no port: it passes while another process holds the listener's
    and metrics_listen's ports (the relayd it is about to replace does), and
    creates no spool directory.
  * a message without a line (a file that cannot be opened) is
    `FILE: message`, never `FILE:0: message`.
  * the -n -v text, fed back to relayd -n -v, passes and prints the same.
"""

import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness import REPO, free_port, make_config, transport
from tlsca import TestCA


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
    # no line to name: "FILE: message", never "FILE:0:"
    assert p.stderr == f"{tmp_path}/nope.conf: cannot open: No such file or directory\n", \
        p.stderr


# ---- error texts ------------------------------------------------------------

# (id, text, line, words the message at that line must hold)
TEXTS = [
    ("relay-port-out-of-range",
     'listen "main" {}\n'
     'transport "t" {\n'
     '\trelay = { "[127.0.0.1]:99999" }\n'
     '}\n'
     'route "*" { transport = "t" }\n',
     3, ['relay "[127.0.0.1]:99999"', "port 99999 is out of range", "1 to 65535"]),
    ("missing-brace-names-the-section",
     'listen "main" {}\n'
     'transport "gmail"\n'
     '\trelay = { "smtp.example.net:587" }\n'
     '}\n',
     3, ['missing "{" after transport "gmail"', 'write transport "gmail" { ... }']),
    ("missing-include",
     'listen "main" {}\n'
     'include("/nonexistent/transports.conf")\n',
     2, ['cannot include "/nonexistent/transports.conf"', "No such file or directory"]),
]


@pytest.mark.parametrize("case,text,line,words", TEXTS, ids=[t[0] for t in TEXTS])
def test_error_texts(relayd_path, tmp_path, case, text, line, words):
    (tmp_path / "bad.conf").write_text(text)
    p = run(relayd_path, "-n", "-f", "bad.conf", cwd=tmp_path)
    assert p.returncode == 1, p
    first = p.stderr.splitlines()[0]
    assert first.startswith(f"bad.conf:{line}: "), f"want bad.conf:{line}: ...: {p.stderr!r}"
    for w in words:
        assert w in first, f"want {w!r} in {first!r}"
    assert ":0:" not in p.stderr


def test_bracketed_relay_name_accepted(relayd_path, tmp_path):
    """Postfix's [host]:port: relay names are never MX-resolved anyway."""
    conf = make_config(port=free_port(), spool=tmp_path / "spool",
                       transports={"t": transport("[smtp.example.net]:587")},
                       routes={"*": "t"})
    (tmp_path / "relayd.conf").write_text(conf)
    p = run(relayd_path, "-n", "-v", "-f", "relayd.conf", cwd=tmp_path)
    assert p.returncode == 0, p
    assert 'relay = {"smtp.example.net:587"}' in p.stdout, p.stdout


# ---- what a start needs of this host ------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    ca = TestCA(tmp_path_factory.mktemp("ca"))
    ca.relay = ca.issue("relay.test")
    ca.other = ca.issue("other.test")
    return ca


def line_of(text, marker):
    """The 1-based line of TEXT that holds MARKER first."""
    for n, ln in enumerate(text.splitlines(), 1):
        if marker in ln:
            return n
    raise AssertionError(f"{marker!r} not in the configuration:\n{text}")


def host_config(tmp, listen=None, transports=None, extra="", spool=None, port=None):
    """A configuration whose syntax is good; what the test sets may not fit this host."""
    return make_config(port=port or free_port(), spool=spool or tmp / "spool", listen=listen,
                       transports=transports or {"t": transport("[127.0.0.1]:2526")},
                       routes={"*": "t"}, extra=extra)


def _user_missing(tmp, pki):
    return host_config(tmp, extra='user = "no-such-user-here"'), 'user = ', \
        ['user "no-such-user-here" does not exist']


def _user_root(tmp, pki):
    return host_config(tmp, extra='user = "root"'), 'user = ', ['"root" has uid 0']


def _tls_cert_missing(tmp, pki):
    cert = tmp / "missing-cert.pem"
    return host_config(tmp, listen={"tls": "starttls", "tls_cert": str(cert),
                                    "tls_key": pki.relay[1]}), "tls_cert = ", \
        ['listen "main"', f"cannot load certificate {cert}", "No such file or directory"]


def _tls_cert_garbage(tmp, pki):
    cert = tmp / "garbage.pem"
    cert.write_text("not a certificate\n")
    return host_config(tmp, listen={"tls": "smtps", "tls_cert": str(cert),
                                    "tls_key": pki.relay[1]}), "tls_cert = ", \
        [f"cannot load certificate {cert}"]


def _tls_key_not_the_certs(tmp, pki):
    return host_config(tmp, listen={"tls": "starttls", "tls_cert": pki.relay[0],
                                    "tls_key": pki.other[1]}), "tls_key = ", \
        ["certificate and key do not match", "tls_key must be the private key of tls_cert"]


def _tls_key_missing(tmp, pki):
    key = tmp / "missing-key.pem"
    return host_config(tmp, listen={"tls": "starttls", "tls_cert": pki.relay[0],
                                    "tls_key": str(key)}), "tls_key = ", \
        [f"cannot load key {key}"]


def _ciphers_unknown(tmp, pki):
    return host_config(tmp, listen={"tls": "starttls", "tls_cert": pki.relay[0],
                                    "tls_key": pki.relay[1], "ciphers": "NO-SUCH-CIPHER"}), \
        "ciphers = ", ['bad cipher list "NO-SUCH-CIPHER"']


def _auth_users_missing(tmp, pki):
    users = tmp / "no-users"
    return host_config(tmp, listen={"auth_users": str(users)}), "auth_users = ", \
        [f"cannot read auth_users {users}", "No such file or directory"]


def _auth_users_directory(tmp, pki):
    return host_config(tmp, listen={"auth_users": str(tmp)}), "auth_users = ", \
        ["cannot read auth_users", "it is a directory"]


def _password_file_missing(tmp, pki):
    pw = tmp / "no-password"
    return host_config(tmp, transports={"t": transport("[127.0.0.1]:2526", auth_user="u",
                                                       auth_password_file=str(pw))}), \
        "auth_password_file = ", \
        ['transport "t"', f"cannot read auth_password_file {pw}", "No such file or directory"]


def _password_file_empty(tmp, pki):
    pw = tmp / "empty-password"
    pw.write_text("")
    return host_config(tmp, transports={"t": transport("[127.0.0.1]:2526", auth_user="u",
                                                       auth_password_file=str(pw))}), \
        "auth_password_file = ", ["it is empty"]


def _spool_under_a_file(tmp, pki):
    (tmp / "afile").write_text("")
    spool = tmp / "afile" / "spool"
    return host_config(tmp, spool=spool), "spool = ", \
        [f"cannot create the spool {spool}", f"{tmp}/afile is not a directory"]


def _spool_is_a_file(tmp, pki):
    (tmp / "spoolfile").write_text("")
    return host_config(tmp, spool=tmp / "spoolfile"), "spool = ", ["it is not a directory"]


def _control_socket_is_a_file(tmp, pki):
    (tmp / "ctl").write_text("")
    return host_config(tmp, extra=f'control_socket = "{tmp}/ctl"'), "control_socket = ", \
        [f"control socket {tmp}/ctl", "is not a socket"]


def _control_socket_no_dir(tmp, pki):
    return host_config(tmp, extra=f'control_socket = "{tmp}/nodir/ctl"'), \
        "control_socket = ", [f"cannot create it in {tmp}/nodir", "No such file or directory"]


def _listen_address_not_here(tmp, pki):
    return host_config(tmp, listen={"address": "192.0.2.1"}), 'address = "192.0.2.1"', \
        ['listen "main": address 192.0.2.1 is not an address of this host']


def _metrics_address_not_here(tmp, pki):
    return host_config(tmp, extra='metrics_listen = "192.0.2.1:9100"'), "metrics_listen = ", \
        ["metrics_listen: address 192.0.2.1 is not an address of this host"]


def _source_address_not_here(tmp, pki):
    return host_config(tmp, transports={"t": transport("[127.0.0.1]:2526",
                                                       source_address="192.0.2.1")}), \
        "source_address = ", ['transport "t": source_address 192.0.2.1 is not an address']


def _ca_file_missing(tmp, pki):
    ca = tmp / "no-ca.pem"
    return host_config(tmp, transports={"t": transport("[127.0.0.1]:2526", tls="v")},
                       extra=f'tls_policy "v" {{\n\tlevel = "verify"\n\tca_file = "{ca}"\n}}'), \
        "ca_file = ", ['tls_policy "v"', f"cannot load CA file {ca}"]


UNSTARTABLE = [
    _user_missing, _user_root, _tls_cert_missing, _tls_cert_garbage, _tls_key_not_the_certs,
    _tls_key_missing, _ciphers_unknown, _auth_users_missing, _auth_users_directory,
    _password_file_missing, _password_file_empty, _spool_under_a_file, _spool_is_a_file,
    _control_socket_is_a_file, _control_socket_no_dir, _listen_address_not_here,
    _metrics_address_not_here, _source_address_not_here, _ca_file_missing,
]


@pytest.mark.parametrize("make", UNSTARTABLE, ids=[f.__name__[1:] for f in UNSTARTABLE])
def test_check_what_start_needs(relayd_path, tmp_path, pki, make):
    text, marker, words = make(tmp_path, pki)
    (tmp_path / "relayd.conf").write_text(text)
    want = line_of(text, marker)
    p = run(relayd_path, "-n", "-f", "relayd.conf", cwd=tmp_path)
    assert p.returncode == 1, f"exit {p.returncode}, want 1: {p.stdout!r} {p.stderr!r}"
    assert "configuration OK" not in p.stdout
    errs = re.findall(r"(?m)^relayd\.conf:(\d+): (.+)$", p.stderr)
    assert errs and len(errs) == len(p.stderr.splitlines()), \
        f"want only 'relayd.conf:LINE: message' lines: {p.stderr!r}"
    msg = [m for n, m in errs if int(n) == want]
    assert msg, f"no error at line {want} ({marker.strip()}): {p.stderr!r}"
    for w in words:
        assert w in msg[0], f"want {w!r} in {msg[0]!r}"
    # -n creates nothing
    assert not (tmp_path / "spool").exists()
    # a start checks the same first, and says the same
    d = run(relayd_path, "-d", "-f", "relayd.conf", cwd=tmp_path)
    assert d.returncode == 1, f"relayd -d exit {d.returncode}: {d.stderr!r}"
    assert f"relayd.conf:{want}: {msg[0]}" in d.stderr.splitlines(), d.stderr
    assert not (tmp_path / "spool").exists()


def full_config(tmp, pki, port, metrics_port):
    """Every file a start reads exists and fits; TLS inbound and outbound."""
    users = tmp / "users"
    users.write_text("alice:$6$salt$hash\n")
    pw = tmp / "password"
    pw.write_text("secret\n")
    return host_config(
        tmp, port=port, spool=tmp / "spool" / "deep",
        listen={"tls": "starttls", "tls_cert": pki.relay[0], "tls_key": pki.relay[1],
                "auth_users": str(users), "ciphers": "ECDHE+AESGCM"},
        transports={"t": transport("[127.0.0.1]:2526", "[smtp.example.net]:587", tls="v",
                                   auth_user="u", auth_password_file=str(pw),
                                   source_address="127.0.0.1", rate="10/m",
                                   warmup=["5/m", "10/m"], warmup_start="2026-12-01")},
        extra=f'metrics_listen = "127.0.0.1:{metrics_port}"\n'
              f'tls_policy "v" {{\n\tlevel = "verify"\n\tca_file = "{pki.ca_path}"\n'
              '\tmatch = { ".example.net" }\n}')


def test_check_has_no_side_effects(relayd_path, tmp_path, pki):
    """The ports are taken (the running relayd holds them during `relayd -n &&
    systemctl restart relayd`): -n binds nothing, so it passes; and it creates
    no spool."""
    with socket.socket() as lis, socket.socket() as met:
        for s in (lis, met):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
            s.bind(("127.0.0.1", 0))
            s.listen(1)
        text = full_config(tmp_path, pki, lis.getsockname()[1], met.getsockname()[1])
        (tmp_path / "relayd.conf").write_text(text)
        for flags in (["-n"], ["-n", "-v"]):
            p = run(relayd_path, *flags, "-f", "relayd.conf", cwd=tmp_path)
            assert p.returncode == 0, f"{flags}: exit {p.returncode}: {p.stderr!r}\n{text}"
            assert p.stdout.splitlines()[-1] == "configuration OK", p.stdout
            assert p.stderr == "", p.stderr
            assert not (tmp_path / "spool").exists(), "relayd -n created the spool"


KEYS = ["hostname", "spool", "control_socket", "user", "postmaster", "dns_servers",
        "metrics_listen", "address", "port", "tls", "tls_cert", "tls_key", "tls_min_version",
        "ciphers", "require_tls", "allow", "auth_users", "max_message_size", "max_recipients",
        "max_clients", "bare_newline", "timeout", "auth_fail_limit", "auth_fail_window",
        "level", "min_version", "ca_file", "match", "relay", "destination_by", "smtps", "auth_user",
        "auth_password_file", "source_address", "helo", "max_connections",
        "max_messages_per_connection", "rate", "warmup", "warmup_start", "warmup_overflow",
        "connect_timeout", "command_timeout",
        "data_timeout", "fallback", "fallback_hold", "transport", "retry", "max_lifetime",
        "delay_warning"]


def printed(p):
    """The configuration relayd -n -v printed (without the OK line)."""
    assert p.returncode == 0, f"exit {p.returncode}: {p.stderr!r}"
    lines = p.stdout.splitlines(keepends=True)
    assert lines and lines[-1] == "configuration OK\n", p.stdout
    return "".join(lines[:-1])


def test_check_verbose_round_trip(relayd_path, tmp_path, pki):
    """-n -v prints every key with its default in relayd.conf syntax; that text
    passes relayd -n itself and prints the same again."""
    main = full_config(tmp_path, pki, free_port(), free_port())
    # a section from an include() is printed in place
    (tmp_path / "more.conf").write_text('transport "direct" {\n\tport = 2526\n}\n')
    (tmp_path / "relayd.conf").write_text(main + 'include("more.conf")\n')
    first = printed(run(relayd_path, "-n", "-v", "-f", "relayd.conf", cwd=tmp_path))
    for k in KEYS:
        assert re.search(rf"(?m)(^\s*|{{ )(# )?{k}(: not set| = )", first), \
            f"key {k} missing from relayd -n -v:\n{first}"
    for default in ("max_clients = 1000", 'max_message_size = "50M"', 'timeout = "5m"',
                    'retry = {"1s"}', 'max_lifetime = "5d"', 'delay_warning = "4h"',
                    'fallback_hold = "4h"', 'bare_newline = "reject"', "# user: not set",
                    'rate = "10/m"', 'warmup = {"5/m", "10/m"}', 'warmup_start = "2026-12-01"',
                    "# warmup_overflow: not set", 'transport "direct" {', "\tport = 2526"):
        assert default in first, f"want {default!r} in relayd -n -v:\n{first}"
    (tmp_path / "printed.conf").write_text(first)
    second = printed(run(relayd_path, "-n", "-v", "-f", "printed.conf", cwd=tmp_path))
    assert second == first
    # and without -v nothing but the verdict
    p = run(relayd_path, "-n", "-f", "printed.conf", cwd=tmp_path)
    assert p.returncode == 0 and p.stdout == "configuration OK\n", p


def test_check_example_config(relayd_path, tmp_path):
    """conf/relayd.conf.example passes (its spool is relative: ./var/spool)."""
    example = str(REPO / "conf" / "relayd.conf.example")
    p = run(relayd_path, "-n", "-f", example, cwd=tmp_path)
    assert p.returncode == 0 and p.stdout == "configuration OK\n", p
    first = printed(run(relayd_path, "-n", "-v", "-f", example, cwd=tmp_path))
    (tmp_path / "printed.conf").write_text(first)
    assert printed(run(relayd_path, "-n", "-v", "-f", "printed.conf", cwd=tmp_path)) == first
    assert not (tmp_path / "var").exists()


# ---- as the user relayd runs as ----------------------------------------------

@pytest.fixture
def open_dir():
    """A directory under /tmp every user can reach (tmp_path is root's 0700)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: checks as another user")
    d = Path(tempfile.mkdtemp(prefix="relayd-cli-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_check_files_as_the_run_user(relayd_path, open_dir):
    """Started as root with `user`, relayd reads auth_users and password files
    after dropping privileges: -n checks them as that user."""
    users, pw = open_dir / "users", open_dir / "password"
    users.write_text("alice:$6$salt$hash\n")
    pw.write_text("secret\n")
    for f in (users, pw):
        os.chmod(f, 0o600)
    text = host_config(open_dir, listen={"auth_users": str(users)},
                       transports={"t": transport("[127.0.0.1]:2526", auth_user="u",
                                                  auth_password_file=str(pw))},
                       extra='user = "nobody"')
    conf = open_dir / "relayd.conf"
    conf.write_text(text)
    p = run(relayd_path, "-n", "-f", str(conf))
    assert p.returncode == 1, p
    assert p.stderr.splitlines() == [
        f"{conf}:{line_of(text, 'auth_users = ')}: listen \"main\": cannot read auth_users "
        f"{users} as user nobody (relayd reads it after dropping privileges): "
        "Permission denied",
        f"{conf}:{line_of(text, 'auth_password_file = ')}: transport \"t\": cannot read "
        f"auth_password_file {pw} as user nobody (relayd reads it after dropping "
        "privileges): Permission denied",
    ], p.stderr
    # readable by the user: fine (relayd warns at start about the mode)
    for f in (users, pw):
        os.chown(f, pwd.getpwnam("nobody").pw_uid, -1)
    p = run(relayd_path, "-n", "-f", str(conf))
    assert p.returncode == 0 and p.stdout == "configuration OK\n", p
    # and root's own rights are back: root still reads its 0700 files after the check
    assert os.geteuid() == 0


def test_check_as_unprivileged(relayd_path, open_dir):
    """relayd -n run by a user that cannot create the spool nor bind port 25."""
    ro = open_dir / "ro"
    ro.mkdir(mode=0o755)
    text = host_config(open_dir, spool=ro / "spool", port=25)
    conf = open_dir / "relayd.conf"
    conf.write_text(text)
    os.chmod(conf, 0o644)
    nobody = pwd.getpwnam("nobody")

    def drop():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    # The build tree may be where nobody cannot reach (a CI clone under a
    # 0700 directory): run a copy from the open directory.
    exe = open_dir / "relayd"
    shutil.copy(relayd_path, exe)
    os.chmod(exe, 0o755)
    p = subprocess.run([str(exe), "-n", "-f", str(conf)], capture_output=True, text=True,
                       timeout=10, preexec_fn=drop)
    assert p.returncode == 1, p
    floor = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    want = [f"{conf}:{line_of(text, 'spool = ')}: cannot create the spool {ro}/spool: "
            f"{ro}: Permission denied"]
    if floor > 25:
        want.append(f"{conf}:{line_of(text, 'port = 25')}: listen \"main\": port 25 needs "
                    f"root (ports below {floor} are privileged); start relayd as root (it "
                    f"drops to `user` after binding) or use port {floor} or above")
    assert p.stderr.splitlines() == want, p.stderr
    assert not (ro / "spool").exists()


# ---- warnings ------------------------------------------------------------------

NO_DOT = re.compile(r'warning: hostname "vm"( \(the system\'s host name\))? has no dot: '
                    r'receivers reject it as the EHLO name, and bounces would come from '
                    r'MAILER-DAEMON@vm; set hostname to ')


def test_hostname_without_dot_warned(relayd_path, tmp_path):
    """Contract: a hostname without a dot is warned about (receivers reject
    such an EHLO). relayd -n prints the warning at the key's line and still
    passes: exit 0, `configuration OK`. A transport's helo without a dot is
    warned about too; an address literal is a fine EHLO name."""
    text = make_config(port=free_port(), spool=tmp_path / "spool", hostname="vm",
                       transports={"t": transport("[127.0.0.1]:2526", helo="box"),
                                   "u": transport("[127.0.0.1]:2526", helo="[192.0.2.1]")},
                       routes={"*": "t", "x.test": "u"})
    (tmp_path / "relayd.conf").write_text(text)
    p = run(relayd_path, "-n", "-f", "relayd.conf", cwd=tmp_path)
    assert p.returncode == 0 and p.stdout == "configuration OK\n", p
    lines = p.stderr.splitlines()
    host_line = 1 + next(i for i, ln in enumerate(text.splitlines()) if ln.startswith("hostname"))
    helo_line = 1 + next(i for i, ln in enumerate(text.splitlines()) if "helo = \"box\"" in ln)
    assert len(lines) == 2, p.stderr
    assert lines[0].startswith(f"relayd.conf:{host_line}: ") and NO_DOT.search(lines[0]), lines
    assert lines[1] == (f'relayd.conf:{helo_line}: warning: transport "t": helo "box" has no '
                        'dot: receivers reject such an EHLO name; write a fully qualified name '
                        'or an address literal such as "[192.0.2.1]"'), lines
    # -n -v as well: the configuration on stdout, the warnings on stderr.
    p = run(relayd_path, "-n", "-v", "-f", "relayd.conf", cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.endswith("configuration OK\n"), p
    assert p.stderr.splitlines() == lines, p.stderr
    # A fully qualified name: nothing.
    (tmp_path / "ok.conf").write_text(text.replace('"vm"', '"relay.test"').replace(
        'helo = "box"', 'helo = "mx.relay.test"'))
    p = run(relayd_path, "-n", "-f", "ok.conf", cwd=tmp_path)
    assert p.returncode == 0 and p.stdout == "configuration OK\n" and p.stderr == "", p


def test_system_hostname_without_dot_warned(relayd_path, tmp_path):
    """No hostname in the file: the system's host name is used, and when it
    has no dot that is warned about too (at the file, without a line). Run in
    a UTS namespace whose host name is "vm"."""
    text = make_config(port=free_port(), spool=tmp_path / "spool",
                       transports={"t": transport("[127.0.0.1]:2526")}, routes={"*": "t"})
    text = "".join(ln for ln in text.splitlines(True) if not ln.startswith("hostname"))
    conf = tmp_path / "relayd.conf"
    conf.write_text(text)
    if "." not in socket.gethostname():
        cmd = [relayd_path, "-n", "-f", str(conf)]
    else:
        if not shutil.which("unshare"):
            pytest.skip("the host name has a dot and there is no unshare to change it")
        prefix = ["unshare", "-u"] if os.geteuid() == 0 else ["unshare", "-r", "-u"]
        if subprocess.run(prefix + ["hostname", "vm"], capture_output=True).returncode != 0:
            pytest.skip("the host name has a dot and no UTS namespace can change it")
        cmd = prefix + ["sh", "-c", f'hostname vm && exec "$0" -n -f "$1"', relayd_path,
                        str(conf)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and p.stdout == "configuration OK\n", p
    name = socket.gethostname() if "." not in socket.gethostname() else "vm"
    want = (f'{conf}: warning: hostname "{name}" (the system\'s host name) has no dot: '
            f'receivers reject it as the EHLO name, and bounces would come from '
            f'MAILER-DAEMON@{name}; set hostname to ')
    assert p.stderr.startswith(want) and len(p.stderr.splitlines()) == 1, p.stderr


def test_start_warns_hostname_without_dot(start_relayd, scripted):
    """A start warns as -n does (and starts: the greeting carries the
    name); a reload to a helo without a dot logs the warning."""
    sink = scripted("127.0.0.2", name="sink")
    r = start_relayd(hostname="vm", transports={"t": transport(sink)}, routes={"*": "t"})
    r.wait_log(r'relayd\.conf:\d+: warning: hostname "vm" has no dot: receivers reject it')
    with r.client() as c:
        assert c.greeting.line.startswith("220 vm "), c.greeting
    text = r.conf_path.read_text().replace('\ttls = "none"\n', '\ttls = "none"\n\thelo = "box"\n')
    r.conf_path.write_text(text)
    mark = r.mark()
    p = r.ctl("reload")
    assert p.returncode == 0, p
    r.wait_log(r'\]: warning: \S*relayd\.conf:\d+: transport "t": helo "box" has no dot',
               since=mark)
