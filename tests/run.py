#!/usr/bin/python3
"""
run.py -- `make test`: every unit test binary, then the integration suite.

  /usr/bin/python3 tests/run.py --build build [--no-unit] [--no-integration] [-- PYTEST ARGS]

Unit tests: each executable in BUILD/tests/ runs with CMOCKA_MESSAGE_OUTPUT=TAP;
its "ok" / "not ok" lines are counted. A binary that crashes, times out, or
exits non-zero without a "not ok" line counts as one failure.
Integration tests: pytest on tests/integration with RELAYD_BUILD=BUILD; the
JUnit XML it writes is counted (a skipped test counts as failed: in this
project a skipped case is a defect).

Prints each failing test's name and ends with exactly one line
"N passed, N failed". Exit status 0 only when nothing failed.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UNIT_TIMEOUT = 300          # seconds per unit test binary
PYTEST_TIMEOUT = 1200       # seconds for the whole integration suite

# "ok 1 - name", "not ok 2 - name", "not ok 3 # SKIP name" (cmocka's TAP)
TAP_LINE = re.compile(r"^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*?)\s*(?:#\s*(SKIP|TODO)\b\s*(.*))?$",
                      re.IGNORECASE)


def run_unit(build: Path, passed: list, failed: list):
    tdir = build / "tests"
    bins = sorted(p for p in tdir.iterdir()
                  if p.is_file() and os.access(p, os.X_OK)) if tdir.is_dir() else []
    if not bins:
        print(f"run.py: no unit test binaries in {tdir}", flush=True)
        return
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP")
    for b in bins:
        name = b.name
        try:
            p = subprocess.run([str(b)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=UNIT_TIMEOUT)
            out, rc = p.stdout.decode("utf-8", "replace"), p.returncode
            if rc < 0:
                rc = f"signal {-rc}"
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode("utf-8", "replace")
            rc = f"timeout after {UNIT_TIMEOUT}s"
        n_ok = n_bad = 0
        for line in out.splitlines():
            m = TAP_LINE.match(line.strip())
            if not m:
                continue
            test = f"unit:{name}:{m.group(3) or m.group(5) or m.group(2) or '?'}"
            if m.group(1).lower() == "ok" and not m.group(4):
                n_ok += 1
                passed.append(test)
            else:   # "not ok", or a SKIP/TODO directive: a defect here
                n_bad += 1
                failed.append(test + (f" ({m.group(4)})" if m.group(4) else ""))
        status = "ok"
        if rc != 0 and n_bad == 0:
            failed.append(f"unit:{name} (exit {rc}, no 'not ok' line)")
            status = f"exit {rc}"
        elif rc == 0 and n_ok + n_bad == 0:
            failed.append(f"unit:{name} (no TAP result lines)")
            status = "no results"
        elif n_bad:
            status = f"{n_bad} failed"
        print(f"unit {name}: {n_ok} passed, {n_bad} failed ({status})", flush=True)
        if status != "ok":
            sys.stdout.write("".join(f"    {ln}\n" for ln in out.splitlines()[-40:]))
            sys.stdout.flush()


def run_integration(build: Path, extra: list, passed: list, failed: list):
    with tempfile.TemporaryDirectory(prefix="relayd-junit-") as tmp:
        junit = Path(tmp) / "junit.xml"
        cmd = ["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "tests/integration", f"--junitxml={junit}", *extra]
        env = dict(os.environ, RELAYD_BUILD=str(build), PYTHONDONTWRITEBYTECODE="1")
        print("run.py: " + " ".join(cmd), flush=True)
        try:
            rc = subprocess.run(cmd, cwd=REPO, env=env, timeout=PYTEST_TIMEOUT).returncode
        except subprocess.TimeoutExpired:
            failed.append(f"integration: pytest timed out after {PYTEST_TIMEOUT}s")
            return
        if not junit.exists():
            failed.append(f"integration: pytest exited {rc} without a JUnit report")
            return
        try:
            root = ET.parse(junit).getroot()
        except ET.ParseError as e:
            failed.append(f"integration: unreadable JUnit report ({e})")
            return
        # A test that fails and then errors in teardown has two <testcase>
        # entries: merge them by name so it counts once.
        results = {}
        for tc in root.iter("testcase"):
            cls, nm = tc.get("classname", ""), tc.get("name", "?")
            test = f"integration:{cls.replace('.', '/')}.py::{nm}" if cls else f"integration:{nm}"
            results.setdefault(test, set()).update(
                c.tag for c in tc if c.tag in ("failure", "error", "skipped"))
        n = len(results)
        for test, kinds in results.items():
            if not kinds:
                passed.append(test)
            else:
                why = "skipped" if kinds == {"skipped"} else "/".join(sorted(kinds - {"skipped"}))
                failed.append(f"{test} ({why})")
        # exit 0: all passed; 1: some failed (counted above); else pytest itself broke
        if rc not in (0, 1) or (rc == 1 and not any(f.startswith("integration:") for f in failed)):
            failed.append(f"integration: pytest exited {rc}"
                          + (" (no tests collected)" if rc == 5 or n == 0 else ""))


def main() -> int:
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="build directory (build or build/san)")
    ap.add_argument("--no-unit", action="store_true", help="skip the unit test binaries")
    ap.add_argument("--no-integration", action="store_true", help="skip the pytest suite")
    args = ap.parse_args(argv)
    build = Path(args.build)
    if not build.is_absolute():
        build = (Path.cwd() / build).resolve()

    passed, failed = [], []
    if not args.no_unit:
        run_unit(build, passed, failed)
    if not args.no_integration:
        run_integration(build, extra, passed, failed)
    if not passed and not failed:
        failed.append("no tests ran")

    if failed:
        print("\nfailed:")
        for f in failed:
            print(f"  {f}")
    print(f"{len(passed)} passed, {len(failed)} failed", flush=True)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
