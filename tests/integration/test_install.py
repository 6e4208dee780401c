"""
test_install.py -- `make install` / `make uninstall` (mk/install.mk), the
systemd unit (conf/relayd.service) and the man pages (docs/*.5, docs/*.8).

  test_install_uninstall    DESTDIR install: files, modes, contents; the
                            example configuration is valid and never
                            overwritten; uninstall removes what install put
  test_install_prefix_usr   PREFIX=/usr moves binaries, man pages and unit
  test_unit_file            the unit's required keys (daemon mode, facility
                            mail, no crash loop); systemd-analyze verify when
                            systemd-analyze is there (only that check is
                            left out without it)
  test_manpages_lint        `mandoc -Tlint -Wwarning` prints nothing
  test_manpages_groff       `groff -mandoc -ww`, `groff -man -ww` and `man -l`
                            print no warning and render each page to its end
  test_manpages_complete    every flag, configuration key and relayctl
                            command is described
  test_manpage_example_config  relayd.conf(5)'s first example passes relayd -n
                               (given its password file, without `user`)

make runs from the repository root with B= the build directory under test
($RELAYD_BUILD), so nothing is rebuilt with other flags.
"""

import filecmp
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

import harness
from harness import REPO

MANPAGES = {"man8/relayd.8": "docs/relayd.8", "man8/relayctl.8": "docs/relayctl.8",
            "man5/relayd.conf.5": "docs/relayd.conf.5"}


def make(*args, check=True) -> subprocess.CompletedProcess:
    b = harness.build_dir()
    try:
        rel = b.relative_to(REPO)
    except ValueError:
        rel = b
    extra = ["SANITIZE=1"] if b.name == "san" else []
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    p = subprocess.run(["make", "--no-print-directory", f"B={rel}", *extra, *args], cwd=REPO,
                       capture_output=True, text=True, timeout=300, env=env)
    if check:
        assert p.returncode == 0, f"make {' '.join(args)}: exit {p.returncode}\n" \
                                  f"{p.stdout}\n{p.stderr}"
    return p


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def files_under(root: Path):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


def parse_unit(text: str) -> dict:
    """{section: [(key, value), ...]} of a systemd unit (repeated keys kept)."""
    out, sec = {}, None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + " " + lines[i].strip()
            i += 1
        if not line or line[0] in "#;":
            continue
        m = re.fullmatch(r"\[(\S+)\]", line)
        if m:
            sec = out.setdefault(m.group(1), [])
            continue
        assert sec is not None and "=" in line, f"bad unit line {line!r}"
        k, v = line.split("=", 1)
        sec.append((k.strip(), v.strip()))
    return out


def unit_values(unit: dict, section: str, key: str) -> list:
    return [v for k, v in unit.get(section, []) if k == key]


def unit_words(unit: dict, section: str, key: str) -> set:
    words = set()
    for v in unit_values(unit, section, key):
        if v == "":
            words.clear()      # an empty assignment resets the list
        words.update(v.split())
    return words


@pytest.fixture
def relayd_bins(relayd_path, relayctl_path):
    return Path(relayd_path), Path(relayctl_path)


def test_install_uninstall(relayd_bins, tmp_path):
    dest = tmp_path / "root"
    r = make("install", f"DESTDIR={dest}", "PREFIX=/usr/local")
    usr = dest / "usr/local"

    for name, built in zip(("relayd", "relayctl"), relayd_bins):
        p = usr / "sbin" / name
        assert p.is_file(), f"{p} not installed\n{r.stdout}"
        assert mode(p) == 0o755, f"{p}: mode {mode(p):o}, want 755"
        assert filecmp.cmp(p, built, shallow=False), f"{p} differs from {built}"
    for inst, src in MANPAGES.items():
        p = usr / "share/man" / inst
        assert p.is_file(), f"{p} not installed"
        assert mode(p) == 0o644, f"{p}: mode {mode(p):o}, want 644"
        assert p.read_bytes() == (REPO / src).read_bytes(), f"{p} differs from {src}"
    unit = usr / "lib/systemd/system/relayd.service"
    assert unit.is_file() and mode(unit) == 0o644, f"{unit} missing or not mode 644"
    execstart = unit_values(parse_unit(unit.read_text()), "Service", "ExecStart")
    assert execstart and execstart[0].split()[0] == "/usr/local/sbin/relayd", execstart
    example = dest / "etc/relayd/relayd.conf.example"
    assert example.is_file() and mode(example) == 0o644, f"{example} missing or not mode 644"
    assert re.search(r'^spool = "/var/spool/relayd"$', example.read_text(), re.M), \
        "the installed example must keep its spool in /var/spool/relayd"
    spool = dest / "var/spool/relayd"
    assert spool.is_dir() and mode(spool) == 0o700, f"{spool} missing or not mode 700"

    # the installed example is a valid configuration
    p = subprocess.run([str(relayd_bins[0]), "-n", "-f", str(example)], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 0 and p.stdout.strip() == "configuration OK", \
        f"relayd -n on the installed example: exit {p.returncode}\n{p.stdout}{p.stderr}"

    # a second install overwrites nothing in /etc/relayd
    example.write_text(example.read_text() + "# local change\n")
    (dest / "etc/relayd/relayd.conf").write_text("# the admin's configuration\n")
    r = make("install", f"DESTDIR={dest}", "PREFIX=/usr/local")
    assert example.read_text().endswith("# local change\n"), "make install overwrote the example"

    # uninstall: everything installed goes, the admin's files stay
    make("uninstall", f"DESTDIR={dest}", "PREFIX=/usr/local")
    left = files_under(dest)
    assert left == ["etc/relayd/relayd.conf", "etc/relayd/relayd.conf.example"], \
        f"after uninstall, left: {left}"

    # an unchanged example is removed by uninstall
    example.unlink()
    make("install", f"DESTDIR={dest}", "PREFIX=/usr/local")
    make("uninstall", f"DESTDIR={dest}", "PREFIX=/usr/local")
    assert files_under(dest) == ["etc/relayd/relayd.conf"], files_under(dest)


def test_install_prefix_usr(relayd_bins, tmp_path):
    dest = tmp_path / "root"
    make("install", f"DESTDIR={dest}", "PREFIX=/usr")
    want = ["etc/relayd/relayd.conf.example", "usr/lib/systemd/system/relayd.service",
            "usr/sbin/relayctl", "usr/sbin/relayd"] + \
        sorted(f"usr/share/man/{m}" for m in MANPAGES)
    assert files_under(dest) == sorted(want), files_under(dest)
    unit = parse_unit((dest / "usr/lib/systemd/system/relayd.service").read_text())
    assert unit_values(unit, "Service", "ExecStart")[0].startswith("/usr/sbin/relayd "), \
        unit_values(unit, "Service", "ExecStart")
    make("uninstall", f"DESTDIR={dest}", "PREFIX=/usr")
    assert files_under(dest) == [], files_under(dest)


def test_unit_file(relayd_path, tmp_path):
    text = (REPO / "conf/relayd.service").read_text()
    unit = parse_unit(text)

    def one(key):
        vals = unit_values(unit, "Service", key)
        assert len(vals) == 1, f"[Service] {key}: {vals}, want exactly one"
        return vals[0]

    # relayd as a daemon: its parent exits once it is up (readiness), and
    # its lines go to syslog (journald's /dev/log) with their identifiers,
    # priorities and facility mail; stderr (start-up errors) is the journal.
    assert one("Type") == "forking"
    argv = one("ExecStart").split()
    assert argv[0] == "/usr/local/sbin/relayd" and "-d" not in argv[1:], argv
    assert "-f" not in argv or argv[argv.index("-f") + 1] == "/etc/relayd/relayd.conf", argv
    assert one("ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one("SyslogFacility") == "mail"
    # /dev/log must stay reachable: PrivateDevices= links it to journald's.
    assert "AF_UNIX" in unit_words(unit, "Service", "RestrictAddressFamilies")
    # No crash loop: exit status 1 (cannot start) is final, other failures
    # are restarted until the start limit, which RestartSec= lets it reach.
    assert one("Restart") == "on-failure"
    assert one("RestartPreventExitStatus").split() == ["1"]
    burst = unit_values(unit, "Unit", "StartLimitBurst")
    interval = unit_values(unit, "Unit", "StartLimitIntervalSec")
    assert len(burst) == 1 and len(interval) == 1, (burst, interval)

    def seconds(v):
        m = re.fullmatch(r"(\d+)(s|min)?", v)
        assert m, v
        return int(m.group(1)) * (60 if m.group(2) == "min" else 1)
    assert 1 <= int(burst[0]) <= 10, burst
    assert seconds(interval[0]) > int(burst[0]) * seconds(one("RestartSec")), \
        f"StartLimitIntervalSec={interval[0]} is never reached with StartLimitBurst=" \
        f"{burst[0]} and RestartSec={one('RestartSec')}"
    assert one("ProtectSystem") == "strict"
    assert "/var/spool/relayd" in unit_words(unit, "Service", "ReadWritePaths")
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert one(key) == "yes", f"{key}={one(key)}, want yes"
    caps = unit_words(unit, "Service", "CapabilityBoundingSet")
    assert caps == {"CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_CHOWN",
                    "CAP_DAC_OVERRIDE"}, f"CapabilityBoundingSet={sorted(caps)}"
    assert unit_words(unit, "Service", "RestrictAddressFamilies") == \
        {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert unit_values(unit, "Service", "User") == [], \
        "relayd starts as root and drops to `user` itself"
    assert unit_values(unit, "Install", "WantedBy") == ["multi-user.target"]
    assert unit_values(unit, "Unit", "Description"), "[Unit] Description missing"

    # systemd's own check, on a copy that runs the binary under test
    analyze = shutil.which("systemd-analyze")
    if analyze:
        copy = tmp_path / "relayd.service"
        copy.write_text(text.replace("/usr/local/sbin/relayd", relayd_path))
        p = subprocess.run([analyze, "verify", "--man=no", str(copy)], capture_output=True,
                           text=True, timeout=60, cwd=tmp_path)
        said = [ln for ln in (p.stdout + p.stderr).splitlines() if "relayd.service" in ln]
        assert p.returncode == 0 and not said, \
            f"systemd-analyze verify: exit {p.returncode}\n{p.stdout}{p.stderr}"


def test_manpages_lint():
    mandoc = shutil.which("mandoc")
    if not mandoc:
        pytest.fail("mandoc not found; `make test` installs it (Debian package mandoc)",
                    pytrace=False)
    for src in MANPAGES.values():
        p = subprocess.run([mandoc, "-Tlint", "-Wwarning", str(REPO / src)],
                           capture_output=True, text=True, timeout=30)
        out = (p.stdout + p.stderr).strip()
        assert p.returncode == 0 and out == "", f"mandoc -Tlint -Wwarning {src}:\n{out}"


def test_manpages_groff():
    """Debian's man(1) formats with groff, which reads mdoc differently from
    mandoc (in a `.%T` title a word such as `An` is a macro: "cannot chop
    empty macro", and the rest of STANDARDS is lost). Every page renders
    with `groff -mandoc -ww` and with `man -l` without a single warning, and
    what it renders reaches the page's end: every reference (`.%R`) and the
    last section."""
    groff, man = shutil.which("groff"), shutil.which("man")
    if not groff or not man:
        pytest.fail("groff or man not found; `make test` installs them (Debian packages "
                    "groff-base, man-db)", pytrace=False)
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="", LC_ALL="C.UTF-8",
               MANROFFSEQ="", PAGER="cat", MANPAGER="cat")
    for src in MANPAGES.values():
        path = str(REPO / src)
        text = (REPO / src).read_text()
        wants = re.findall(r"^\.%R (.+)$", text, re.M)
        wants.append(re.findall(r"^\.Sh (.+)$", text, re.M)[-1])
        runs = {
            "groff -mandoc -Tutf8 -ww": [groff, "-mandoc", "-Tutf8", "-ww", path],
            "groff -man -Tutf8 -ww": [groff, "-man", "-Tutf8", "-ww", path],
            "man -l": [man, "-l", path],
        }
        for what, cmd in runs.items():
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
            assert p.returncode == 0 and p.stderr == "", f"{what} {src}:\n{p.stderr}"
            out = re.sub(r".\x08", "", p.stdout)     # overstrike bold and underline
            out = " ".join(out.split())
            for w in wants:
                assert " ".join(w.split()) in out, f"{what} {src}: {w!r} not rendered"


def man_items(src: str, macro: str) -> set:
    """Arguments of `.It MACRO word` lines of a man page."""
    text = (REPO / src).read_text()
    return set(re.findall(rf"^\.It {macro} (\S+)", text, re.M))


def test_manpages_complete():
    # relayd's flags: those of its getopt string
    code = (REPO / "relayd/relayd.c").read_text()
    flags = set(re.search(r'getopt\(argc, argv, "([^"]+)"\)', code).group(1).replace(":", ""))
    assert flags - man_items("docs/relayd.8", "Fl") == set(), "flags missing from relayd.8"

    # every configuration key of the schema, as an ".It Ic key" entry
    conf = (REPO / "conf/conf.c").read_text()
    keys = set(re.findall(r'\bVL?\("(\w+)"', conf))
    assert len(keys) > 30, f"schema not found in conf/conf.c ({keys})"
    page = (REPO / "docs/relayd.conf.5").read_text()
    listed = set(re.findall(r"^\.It Ic (\w+)", page, re.M)) | \
        set(re.findall(r"^\.It Ic \w+ No = Ar \w+ , Ic (\w+)", page, re.M))
    assert keys - listed == set(), f"keys missing from relayd.conf.5: {sorted(keys - listed)}"
    for sec in ("listen", "tls_policy", "transport", "route", "queue"):
        assert re.search(rf"^\.Ic {sec} ", page, re.M) or \
            re.search(rf"^\.Ic {sec}$", page, re.M), f"section {sec} not described"

    # relayctl's commands (contract) and flags
    cmds = {"queue", "show", "flush", "delete", "hold", "release", "route", "resume", "stats",
            "reload"}
    assert cmds - man_items("docs/relayctl.8", "Cm") == set()
    assert {"s", "f"} - man_items("docs/relayctl.8", "Fl") == set()
    stats = {"received", "sent", "deferred", "bounced", "expired", "rerouted", "rejected",
             "queued", "sessions_in", "sessions_out"}
    assert stats - man_items("docs/relayctl.8", "Cm") == set()


def test_manpage_example_config(relayd_path, tmp_path):
    page = (REPO / "docs/relayd.conf.5").read_text()
    examples = page.split(".Sh EXAMPLES", 1)[1]
    block = re.search(r"^\.Bd -literal[^\n]*\n(.*?)^\.Ed$", examples, re.M | re.S).group(1)
    assert "\\" not in block, "the example holds roff escapes; keep it plain"
    # relayd -n also checks this host (the user exists, the files it names
    # are readable, the spool can be made): give the example what it names
    # here, and nothing else changes.
    pw = tmp_path / "smarthost.password"
    pw.write_text("secret\n")
    assert "/etc/relayd/smarthost.password" in block and re.search(r'(?m)^user = ', block)
    block = re.sub(r'(?m)^user = .*\n', "", block.replace("/etc/relayd/smarthost.password",
                                                           str(pw)))
    block += f'spool = "{tmp_path}/spool"\n'
    conf = tmp_path / "example.conf"
    conf.write_text(block)
    p = subprocess.run([relayd_path, "-n", "-f", str(conf)], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 0 and p.stdout.strip() == "configuration OK", \
        f"relayd -n on relayd.conf(5)'s first example: exit {p.returncode}\n" \
        f"{p.stdout}{p.stderr}\n--- example ---\n{block}"
