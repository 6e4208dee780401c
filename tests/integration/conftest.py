"""
conftest.py -- fixtures for relayd's integration tests.

  relayd_path, relayctl_path   the binaries under $RELAYD_BUILD (default build/)
  start_relayd(...)            write a config, start relayd, stop it at teardown
  scripted(host, ...)          a ScriptedServer, stopped at teardown
  relay_sink(...)              (relayd, sink): relayd relaying everything to one scripted server

A failing test shows the log tail of every relayd it started and a summary of
every scripted server. No test can run longer than RELAYD_TEST_TIMEOUT
seconds (default 60): a SIGALRM fails it instead of letting the suite hang.
"""

import os
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import Relayd, ScriptedServer, free_port, make_config  # noqa: E402

TEST_TIMEOUT = int(os.environ.get("RELAYD_TEST_TIMEOUT", "60"))
VERBOSE = os.environ.get("RELAYD_TEST_VERBOSE", "") not in ("", "0")


# -- per-test time limit -----------------------------------------------------

def _alarm(signum, frame):
    pytest.fail(f"test exceeded the {TEST_TIMEOUT}s limit (RELAYD_TEST_TIMEOUT)", pytrace=True)


def _guarded(item):
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TEST_TIMEOUT)
    return old


def _unguard(old):
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    old = _guarded(item)
    try:
        yield
    finally:
        _unguard(old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    old = _guarded(item)
    try:
        yield
    finally:
        _unguard(old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    old = _guarded(item)
    try:
        yield
    finally:
        _unguard(old)


# -- failure reports: relayd logs and scripted servers -----------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    for r in getattr(item, "_relayds", []):
        text = r.log_text()
        lines = text.splitlines()
        shown = "\n".join(lines[-200:])
        head = f"({len(lines)} lines, last 200)" if len(lines) > 200 else f"({len(lines)} lines)"
        rep.sections.append((f"relayd log {r.name} {head} [{r.log_path}] {r.history}", shown))
    for s in getattr(item, "_scripted", []):
        rep.sections.append((f"scripted server {s.name}", s.describe()))


# -- fixtures ----------------------------------------------------------------

@pytest.fixture
def relayd_path():
    return harness.require_binary(harness.relayd_bin())


@pytest.fixture
def relayctl_path():
    return harness.require_binary(harness.relayctl_bin())


@pytest.fixture
def start_relayd(request, tmp_path):
    """start_relayd(conf_text=None, *, transports=, routes=, listen=, queue=,
    extra=, port=None, verbose=False, start=True) -> Relayd

    Without CONF_TEXT a typical config is written (harness.make_config):
    hostname relay.test, spool tmp/rN/spool, listener 127.0.0.1:<free port>,
    retry 1s. With CONF_TEXT, "{port}" and "{spool}" in it are filled in.
    """
    made = []
    request.node._relayds = made

    def factory(conf_text=None, *, port=None, verbose=VERBOSE, start=True, **cfg):
        n = len(made) + 1
        workdir = tmp_path / f"r{n}"
        workdir.mkdir()
        port = port or free_port("127.0.0.1")
        spool = workdir / "spool"
        if conf_text is None:
            conf_text = make_config(port=port, spool=spool, **cfg)
        else:
            conf_text = conf_text.replace("{port}", str(port)).replace("{spool}", str(spool))
        r = Relayd(workdir, conf_text, port, verbose=verbose, name=f"r{n}")
        made.append(r)
        if start:
            r.start()
        return r

    yield factory
    problems = [p for p in (r.cleanup() for r in made) if p]
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture
def scripted(request):
    """scripted(host="127.0.0.1", **script) -> ScriptedServer (see harness)."""
    made = []
    request.node._scripted = made

    def factory(host="127.0.0.1", **kw):
        s = ScriptedServer(host, **kw)
        made.append(s)
        return s

    yield factory
    for s in made:
        s.stop()


@pytest.fixture
def relay_sink(start_relayd, scripted):
    """relay_sink(listen=None, routes=None, sink_host="127.0.0.2", **script)
    -> (relayd, sink): one scripted server "sink" and a relayd whose
    transport "sink" relays to it (routes default to {"*": "sink"})."""

    def factory(listen=None, routes=None, sink_host="127.0.0.2", queue=None, **script):
        sink = scripted(sink_host, name="sink", **script)
        r = start_relayd(transports={"sink": harness.transport(sink)},
                         routes=routes or {"*": "sink"}, listen=listen, queue=queue)
        return r, sink

    return factory
