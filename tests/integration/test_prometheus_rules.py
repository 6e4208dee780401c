"""
test_prometheus_rules.py -- contrib/prometheus/relayd.rules.yml, checked by
promtool (Debian package prometheus) and unit-tested with its tests in
tests/prometheus/relayd.rules.test.yml.

promtool is $PROMTOOL, else the one on PATH. Without it the tests fail when
CI is set (to anything but "", "0", "false" or "no"), else they are skipped.
No relayd runs here.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "contrib" / "prometheus" / "relayd.rules.yml"
TESTS = ROOT / "tests" / "prometheus" / "relayd.rules.test.yml"
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing(what):
    if IN_CI:
        pytest.fail(f"{what} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(what)


def find_promtool():
    path = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not path or not os.access(path, os.X_OK):
        _missing("promtool not found: apt-get install prometheus (Debian 12; "
                 "make test-deps), or set PROMTOOL")
    return path


def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=50)
    out = f"$ cd {cwd} && {' '.join(map(str, cmd))}\nexit {p.returncode}\n{p.stdout}{p.stderr}"
    return p.returncode, out


def test_check_rules():
    """The rules file is valid (syntax, PromQL, templates; duplicates fatal)."""
    promtool = find_promtool()
    rc, out = run([promtool, "check", "rules", "--lint-fatal", str(RULES)], cwd=ROOT)
    assert rc == 0 and "SUCCESS" in out, out


def test_rules_unit_tests():
    """promtool test rules, from the test file's directory (its rule_files
    path is relative to it)."""
    promtool = find_promtool()
    rc, out = run([promtool, "test", "rules", TESTS.name], cwd=TESTS.parent)
    assert rc == 0 and "SUCCESS" in out and "FAILED" not in out, out


def _yaml():
    try:
        import yaml
    except ImportError:
        _missing("python3-yaml is needed to read the rules and their tests "
                 "(apt-get install python3-yaml)")
    return yaml


def test_every_alert_is_tested():
    """Every alert: in group relayd, with a severity label and summary and
    description annotations, tested both firing (labels and annotations
    checked) and not firing."""
    yaml = _yaml()
    rules = yaml.safe_load(RULES.read_text())
    tests = yaml.safe_load(TESTS.read_text())
    assert [g["name"] for g in rules["groups"]] == ["relayd"]
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert alerts, "no alerts in the rules file"
    names = {a["alert"] for a in alerts}
    problems = []
    for a in alerts:
        if a.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
            problems.append(f"{a['alert']}: no severity label critical, warning or info")
        if not {"summary", "description"} <= set(a.get("annotations", {})):
            problems.append(f"{a['alert']}: needs summary and description annotations")
        if "for" not in a:
            problems.append(f"{a['alert']}: no for: duration")
    fires, quiet = set(), set()
    for t in tests["tests"]:
        for case in t.get("alert_rule_test", []):
            name = case["alertname"]
            if name not in names:
                problems.append(f"test {t.get('name')!r}: no alert {name} in the rules")
            exp = case.get("exp_alerts") or []
            if not exp:
                quiet.add(name)
                continue
            fires.add(name)
            for e in exp:
                if "severity" not in e.get("exp_labels", {}) or not e.get("exp_annotations"):
                    problems.append(f"test {t.get('name')!r} at {case['eval_time']}: {name} "
                                    "fires without its severity and annotations checked")
    for n in sorted(names - fires):
        problems.append(f"{n}: no test case where it fires")
    for n in sorted(names - quiet):
        problems.append(f"{n}: no test case where it does not fire")
    assert not problems, "\n".join(problems)
