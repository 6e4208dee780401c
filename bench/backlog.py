"""
backlog.py -- the backlog section of `make bench` (issue 13): relayd and
Postfix, one after the other in the same run, with N messages queued for a
destination that answers 450 to every RCPT while fresh mail flows to another.

    smtp-source -m N -s 20 -d -t bench-rcpt@blocked.example ─┐
                                                              ├─> relay ─┬─> smtp-sink -r RCPT :B   (450 4.3.0 to every RCPT)
    smtp-source -s 10 -t bench-rcpt@dest.example (fresh) ────┘           └─> smtp-sink :F           (the bench's sink)

Driven by bench.py: `--backlog N[,N...]` (default 100000), `--no-backlog`,
`--backlog-only`, `--backlog-check`. For each N and each peer, in this order
(every phase bounded by a timeout that grows with N; a phase that runs out
says "did not finish in T" and the rest goes on with what is queued):

  baseline   empty queue: fresh 1 KiB end-to-end rate (c=10, a connection per
             message) and 300 KiB acceptance rate; memory
  inject     N messages of 1 KiB to blocked.example; wait until every one has
             had its first attempt (its first deferral in the relay's log);
             memory and spool size with the backlog
  cycle      flush with nothing else running: the time and CPU for every
             queued message to be tried once (CPU per retry attempt), then
             the CPU while nothing is due (the backlog idle)
  steady     fresh mail for one retry interval while the retries run
  listing    `relayctl queue` / `postqueue -p`, greeting latency meanwhile
  flush      flush, fresh 1 KiB mail at once; later flush, 300 KiB at once
  restart    stop, start: time to "queue: recovered" and to the first 220
  drain      the blocked sink restarted on its port without -r, flush: time
             until its counter reaches N; fresh mail meanwhile
  check      queue empty; every sink's count against the relay's log

Attempts are counted from the relay's own log ("to=<...>, ... status=deferred"
lines), CPU from /proc (all of the relay's processes and threads, and the
children Postfix's master reaped), greeting latency by a probe that connects
every 20 ms and times the 220. Everything under BASE/backlog-*; the spools are
removed after each peer.
"""

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import threading
import time
from pathlib import Path

import bench
from bench import BASE, BenchError, log

BLOCKED_DOMAIN = "blocked.example"
BLOCKED_RCPT = f"bench-rcpt@{BLOCKED_DOMAIN}"
BIG = 300 * 1024                  # "300 KiB acceptance": over relayd's 256 KiB journal limit
DEFAULT_N = (100000,)

# Full run and quick smoke run. period: the retry interval of both relays.
FULL = dict(period=60, quick=False, warmup=1000, fresh_seconds=5.0, fresh_min=2000,
            fresh_max=60000, fresh_reps=3, big_msgs=200, big_reps=3, sample=1.0,
            probe_every=0.020, idle_min=5.0, gap=2.0, quiet_wait=300, quiet_sample=1.0)
QUICK = dict(period=2, quick=True, warmup=None, fresh_fixed=300, fresh_reps=1, big_msgs=20,
             big_reps=1, sample=0.25, probe_every=0.020, idle_min=1.0, gap=0.3, quiet_wait=0,
             quiet_sample=0.2)
QUICK_N = 300
DRAIN_FRESH_RUNS = 3              # fresh runs during the drain; then it drains alone
SETTLED = 3.0                     # % of a core: the relay's CPU has settled after a cycle

# Disk for one queued 1 KiB message, per peer: its spool (at N = 100,000
# relayd 5.7 KB: a journal record and a 4 KiB state file; Postfix 7.5-8.7 KB:
# a queue file and, once deferred twice, a defer log) plus the relay's log
# over a run (relayd 2.3 KB, Postfix 3.7 KB per queued message: every attempt
# is a line, and the fresh mail's lines). The peers run one after the other
# and each spool is removed after its run, so a run needs the larger of the
# two; the guard asks for 1.5 times that plus 2 GiB.
DISK_PER_MSG = {"relayd": 5700 + 2800, "postfix": 8700 + 4300}
INODES_PER_MSG = {"relayd": 1.0, "postfix": 2.2}


def tmo(n: int, floor: float, rate: float, quick: bool = False) -> float:
    """A phase's time limit: FLOOR s plus N at RATE per second."""
    return (floor / 4 if quick else floor) + n / rate


# ---- the relays' logs -------------------------------------------------------

# One outcome line, relayd's and Postfix's alike:
#   QID: to=<rcpt>, [transport=T, ]relay=R, ..., status=deferred (...)
OUTCOME = re.compile(rb" ([0-9A-Za-z]+): to=<([^>]*)>,.*? relay=([^,]*),.*? status=([a-z]+)")


class LogTail:
    """Reads what a relay appends to its log and counts the outcomes: every
    attempt for the blocked domain (a deferral; `relay=none` ones, deferred
    without a connection, apart), deliveries by domain, and which queue ids
    have been tried since a mark (for "every queued message tried once")."""

    def __init__(self, path: Path):
        self.path = path
        self.pos = 0
        self.rest = b""
        self.attempts = 0            # deferrals of blocked-domain recipients
        self.no_conn = 0             # of which relay=none (no connection made)
        self.other_deferred = 0      # deferrals of anything else (fresh mail)
        self.sent = {"blocked": 0, "fresh": 0}
        self.failed = 0              # bounced, expired, anything final but sent
        self.blocked_sent_qids = set()
        self.dup_sent = 0
        self.last = {}               # qid -> attempt number of its last attempt
        self.mark_seq = 0
        self.since_mark = 0          # distinct qids tried since the mark
        self.lines = 0

    def mark(self):
        self.mark_seq = self.attempts
        self.since_mark = 0

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(0, 2)
                if f.tell() < self.pos:          # truncated: start again
                    self.pos = 0
                    self.rest = b""
                f.seek(self.pos)
                while True:
                    chunk = f.read(16 << 20)
                    if not chunk:
                        break
                    self.pos += len(chunk)
                    lines = (self.rest + chunk).split(b"\n")
                    self.rest = lines.pop()
                    self._scan(lines)
        except OSError:
            pass

    def _scan(self, lines):
        for line in lines:
            if b" to=<" not in line:
                continue
            m = OUTCOME.search(line)
            if not m:
                continue
            self.lines += 1
            qid, rcpt, relay, status = m.groups()
            blocked = rcpt.endswith(b"@" + BLOCKED_DOMAIN.encode())
            if status == b"deferred":
                if not blocked:
                    self.other_deferred += 1
                    continue
                self.attempts += 1
                if relay == b"none":
                    self.no_conn += 1
                if self.last.get(qid, 0) <= self.mark_seq:
                    self.since_mark += 1
                self.last[qid] = self.attempts
            elif status == b"sent":
                if blocked:
                    self.sent["blocked"] += 1
                    if qid in self.blocked_sent_qids:
                        self.dup_sent += 1
                    self.blocked_sent_qids.add(qid)
                else:
                    self.sent["fresh"] += 1
            else:
                self.failed += 1


class Monitor:
    """Samples the relay every SAMPLE s on its own thread: time, CPU ticks of
    all its processes, the log's counts, memory. snapshot() takes an exact
    sample at a phase boundary."""

    def __init__(self, peer, tail: LogTail, sample: float):
        self.peer = peer
        self.tail = tail
        self.sample = sample
        self.samples = []            # (t, ticks, attempts, sent_blocked, sent_fresh)
        self.peak = (0, 0, 0)        # RSS KiB, PSS KiB, processes
        self.seen = {}               # "program[pid]" -> its CPU ticks when last seen
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _take(self):
        with self.lock:
            self.tail.poll()
            ticks = self.peer.cpu_ticks() or 0
            for k, v in self.peer.part_ticks().items():
                self.seen[k] = max(v, self.seen.get(k, 0))
            s = (time.monotonic(), ticks, self.tail.attempts, self.tail.sent["blocked"],
                 self.tail.sent["fresh"])
            self.samples.append(s)
            return s

    def _run(self):
        n = 0
        while not self.stopping.wait(self.sample):
            self._take()
            n += 1
            if n % max(1, int(2 / self.sample)) == 0:      # memory every ~2 s
                m = self.peer.mem()
                self.peak = tuple(max(a, b) for a, b in zip(self.peak, m))

    def snapshot(self):
        return self._take()

    def parts(self) -> dict:
        with self.lock:
            return dict(self.seen)

    def stop(self):
        self.stopping.set()
        self.thread.join(5)

    def cpu_rate(self, seconds: float) -> float:
        """The relay's CPU in % of a core over the last SECONDS s of samples
        (100 while there are not enough)."""
        with self.lock:
            if len(self.samples) < 2:
                return 100.0
            t1, k1 = self.samples[-1][:2]
            for t0, k0, *_ in reversed(self.samples):
                if t1 - t0 >= seconds:
                    return 100.0 * (k1 - k0) / bench.HZ / (t1 - t0)
            return 100.0

    def quiet_since(self, seconds: float) -> bool:
        """No attempt in the last SECONDS s of samples."""
        with self.lock:
            if not self.samples:
                return False
            t_end, _, a_end, _, _ = self.samples[-1]
            for t, _, a, _, _ in reversed(self.samples):
                if a != a_end:
                    return False
                if t_end - t >= seconds:
                    return True
            return False


# ---- greeting latency ----------------------------------------------------------

def greet_time(port: int, timeout: float):
    """Seconds from connect() to a complete 220 line, or None."""
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(512)
                if not chunk:
                    return None
                buf += chunk
            t = time.monotonic() - t0
            try:
                s.sendall(b"QUIT\r\n")
            except OSError:
                pass
            return t if buf.startswith(b"220") else None
    except OSError:
        return None


class GreetProbe:
    """Connects every EVERY s (one at a time), records (start, seconds to the
    220 or None)."""

    def __init__(self, port: int, every: float):
        self.port = port
        self.every = every
        self.samples = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.is_set():
            t = time.monotonic()
            self.samples.append((t, greet_time(self.port, 60.0)))
            self.stopping.wait(max(0.0, self.every - (time.monotonic() - t)))

    def stop(self):
        self.stopping.set()
        self.thread.join(70)

    def stats(self, t0: float, t1: float) -> dict:
        got = [lat for t, lat in self.samples if t0 <= t <= t1]
        ok = sorted(lat for lat in got if lat is not None)
        out = dict(probes=len(got), failed=len(got) - len(ok))
        if ok:
            out.update(p50_ms=1000 * ok[len(ok) // 2], p99_ms=1000 * ok[int(len(ok) * 0.99)],
                       max_ms=1000 * ok[-1], over_10ms=sum(1 for x in ok if x > 0.010))
        return out


def first_greeting(port: int, t0: float, limit: float):
    """Connect every 10 ms from monotonic T0 until a 220 arrives: seconds
    from T0, or None within LIMIT s."""
    while time.monotonic() - t0 < limit:
        left = limit - (time.monotonic() - t0)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=min(1.0, left)) as s:
                s.settimeout(max(0.1, left))
                buf = b""
                while b"\n" not in buf:
                    chunk = s.recv(512)
                    if not chunk:
                        break
                    buf += chunk
                if buf.startswith(b"220"):
                    t = time.monotonic() - t0
                    try:
                        s.sendall(b"QUIT\r\n")
                    except OSError:
                        pass
                    return t
        except OSError:
            pass
        time.sleep(0.010)
    return None


# ---- the peers -----------------------------------------------------------------

RELAYD_CONF = """\
# written by bench/backlog.py: mail for {blocked} goes to a sink that answers
# 450 to every RCPT, everything else to the bench's sink; default durability.
hostname = "{hostname}"
spool = "{spool}"
control_socket = "{sock}"

listen "bench" {{
	address = "127.0.0.1"
	port = {port}
	allow = {{ "127.0.0.0/8" }}
	max_clients = 20000
}}

# like Postfix's default_destination_concurrency_limit
transport "fresh" {{
	relay = {{ "[127.0.0.1]:{fresh}" }}
	tls = "none"
	max_connections = 20
}}

transport "blocked" {{
	relay = {{ "[127.0.0.1]:{blocked_port}" }}
	tls = "none"
	max_connections = 20
}}

route "{blocked}" {{
	transport = "blocked"
}}

route "*" {{
	transport = "fresh"
}}

queue {{
	# every retry {period} after the previous attempt, so that retries run
	# while the bench measures (Postfix: minimal_backoff_time =
	# maximal_backoff_time = queue_run_delay = {period})
	retry = {{ "{period}" }}
}}
"""


def period_text(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


class BacklogRelayd(bench.Relayd):
    label = "backlog-relayd"
    listing_cmd = "relayctl queue"
    flush_cmd = "relayctl flush"

    def __init__(self, binary: Path, relayctl: Path, port: int, fresh_port: int,
                 blocked_port: int, period: int):
        self.fresh_port = fresh_port
        self.blocked_port = blocked_port
        self.period = period
        self.sock = BASE / self.label / "control.sock"
        super().__init__(binary, port, fresh_port)
        self.ctl = self.dir / "relayctl"
        shutil.copy2(relayctl, self.ctl)

    def write_conf(self, sink_port: int):
        self.conf.write_text(RELAYD_CONF.format(
            hostname=bench.HOSTNAME, spool=self.spool, sock=self.sock, port=self.port,
            fresh=self.fresh_port, blocked=BLOCKED_DOMAIN, blocked_port=self.blocked_port,
            period=period_text(self.period)))

    def start(self, fresh: bool = True, wait: bool = True):
        """Start relayd with its log appended to (the log is counted across
        restarts); returns the wall-clock time of the exec."""
        if fresh:
            shutil.rmtree(self.spool, ignore_errors=True)
            self.logfile.write_bytes(b"")
        self.log_from = self.logfile.stat().st_size if self.logfile.exists() else 0
        logf = open(self.logfile, "ab")
        t0 = time.time()
        self.proc = subprocess.Popen(self.cmd(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=logf,
                                     start_new_session=True, preexec_fn=bench.raise_nofile)
        logf.close()
        (BASE / f"{self.label}.pid").write_text(f"{self.proc.pid}\n")
        if wait:
            self.wait_listening()
        return t0

    def log_since_start(self, n: int = 1 << 20) -> str:
        try:
            with open(self.logfile, "rb") as f:
                f.seek(self.log_from)
                return f.read(n).decode(errors="replace")
        except OSError:
            return ""

    def log_head(self, n: int = 65536) -> str:
        return self.log_since_start(n)

    def mem(self):
        return bench.mem_of(self.pids())

    def part_ticks(self) -> dict:
        """CPU ticks of relayd's event-loop thread and of its other threads
        (the journal thread and the I/O workers)."""
        out = {}
        if not self.proc:
            return out
        pid = self.proc.pid
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return out
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    v = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            key = f"{'event loop' if int(tid) == pid else 'other threads'}[{pid}]"
            out[key] = out.get(key, 0) + int(v[11]) + int(v[12])
        return out

    def queue_rss(self):
        """KiB of the process that holds the queue in memory: relayd."""
        return bench.rss_kib(self.proc.pid) if self.proc else 0

    def ctl_run(self, *args, timeout=60.0, out=None):
        return subprocess.run([str(self.ctl), "-s", str(self.sock), *args], timeout=timeout,
                              stdin=subprocess.DEVNULL, stdout=out or subprocess.PIPE,
                              stderr=subprocess.PIPE)

    def flush(self):
        p = self.ctl_run("flush")
        if p.returncode != 0:
            raise BenchError(f"relayctl flush: {p.stderr.decode(errors='replace')}")

    def listing(self, out: Path, timeout: float):
        """Run the listing into OUT; returns (status, its last line)."""
        with open(out, "wb") as f:
            try:
                p = self.ctl_run("queue", timeout=timeout, out=f)
            except subprocess.TimeoutExpired:
                return f"did not finish in {timeout:.0f} s", ""
        return (("ok" if p.returncode == 0 else f"exit {p.returncode}: "
                 + p.stderr.decode(errors="replace")[-300:]), last_line(out))

    def queued(self):
        try:
            p = self.ctl_run("stats", timeout=30)
        except subprocess.TimeoutExpired:
            return None
        m = re.search(rb"^queued (\d+)", p.stdout, re.M)
        return int(m.group(1)) if m else None

    def stop_timed(self, limit: float):
        """SIGTERM; seconds until it exited, and whether it had to be killed."""
        if not self.proc or self.proc.poll() is not None:
            return 0.0, False
        t0 = time.monotonic()
        self.proc.terminate()
        try:
            self.proc.wait(limit)
            return time.monotonic() - t0, False
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return time.monotonic() - t0, True

    def restart(self, limit: float) -> dict:
        """Start on the spool as it is: exec -> "queue: recovered N" (log
        time) and exec -> the first 220."""
        t_wall = self.start(fresh=False, wait=False)
        t_mono = time.monotonic()
        first = first_greeting(self.port, t_mono, limit)
        rec, count = None, None
        deadline = time.monotonic() + max(5.0, limit - (time.monotonic() - t_mono))
        # Read on from where the last look ended: a large queue is read on
        # while relayd runs, and the retries it makes due log lines meanwhile
        # (megabytes before "queue: recovered" at a million).
        off, rest = self.log_from, b""
        while time.monotonic() < deadline:
            try:
                with open(self.logfile, "rb") as f:
                    f.seek(off)
                    chunk = f.read(64 << 20)
            except OSError:
                chunk = b""
            off += len(chunk)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for raw in lines:
                if b"queue: recovered" not in raw:
                    continue
                line = raw.decode(errors="replace")
                m = re.search(r"recovered (\d+) message", line)
                count = int(m.group(1)) if m else None
                t = bench.log_time(line)
                rec = None if t is None else t - t_wall
                break
            if rec is not None or self.proc.poll() is not None:
                break
            if len(chunk) < (64 << 20):
                time.sleep(0.05)
        return dict(first_220_s=first, recovered_s=rec, recovered=count)

    def remove(self):
        shutil.rmtree(self.spool, ignore_errors=True)
        self.logfile.unlink(missing_ok=True)

    def describe(self) -> str:
        return self.conf.read_text()


class BacklogPostfix(bench.Postfix):
    label = "backlog-postfix"
    listing_cmd = "postqueue -p"
    flush_cmd = "postqueue -f"

    def __init__(self, port: int, fresh_port: int, blocked_port: int, period: int):
        super().__init__(port, fresh_port)
        self.blocked_port = blocked_port
        self.period = period
        self.logfile = self.logdir / "maillog"
        self.transport = self.etc / "transport"

    def settings(self):
        p = f"{self.period}s"
        extra = [
            ("transport_maps", f"texthash:{self.transport}"),
            # retry as relayd does (retry = { "1m" }): every message again one
            # interval after its last attempt
            ("minimal_backoff_time", p),
            ("maximal_backoff_time", p),
            ("queue_run_delay", p),
            # shipped default, pinned: what qmgr keeps in memory
            ("qmgr_message_active_limit", "20000"),
        ]
        return super().settings() + extra

    def setup(self):
        super().setup()
        self.transport.write_text(f"# written by bench/backlog.py\n"
                                  f"{BLOCKED_DOMAIN} smtp:[127.0.0.1]:{self.blocked_port}\n")

    def start(self, fresh: bool = True):
        if fresh:
            self.setup()
        bench.run([bench.which("postfix"), "-c", str(self.etc), "start"], env=self.env,
                  timeout=600)
        self.started = True
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if bench.greets(self.port):
                return
            time.sleep(0.05)
        raise BenchError(f"Postfix did not answer on 127.0.0.1:{self.port} within 60 s\n"
                         f"{self.log_tail()}")

    def mem(self):
        return bench.mem_of(self.pids())

    def part_ticks(self) -> dict:
        """CPU ticks of each process alive now, as "program[pid]" (qmgr,
        smtp, bounce, ...)."""
        out = {}
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    head, tail = f.read().rsplit(")", 1)
                v = tail.split()
            except (OSError, IndexError, ValueError):
                continue
            name = head.split("(", 1)[1]
            key = f"{name}[{pid}]"
            out[key] = int(v[11]) + int(v[12])
        return out

    def queue_rss(self):
        """KiB of the process that holds the queue in memory: qmgr."""
        for pid in self.pids():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "qmgr":
                    return bench.rss_kib(pid)
            except OSError:
                pass
        return 0

    def postqueue(self, flag, timeout, out=None):
        return subprocess.run([bench.which("postqueue"), "-c", str(self.etc), flag],
                              env=self.env, timeout=timeout, stdin=subprocess.DEVNULL,
                              stdout=out or subprocess.PIPE, stderr=subprocess.PIPE)

    def flush(self):
        p = self.postqueue("-f", 60)
        if p.returncode != 0:
            raise BenchError(f"postqueue -f: {p.stderr.decode(errors='replace')}")

    def listing(self, out: Path, timeout: float):
        with open(out, "wb") as f:
            try:
                p = self.postqueue("-p", timeout, out=f)
            except subprocess.TimeoutExpired:
                return f"did not finish in {timeout:.0f} s", ""
        return (("ok" if p.returncode == 0 else f"exit {p.returncode}: "
                 + p.stderr.decode(errors="replace")[-300:]), last_line(out))

    def queued(self):
        """Queue files in incoming, active, deferred, hold and maildrop."""
        n = 0
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for root, _, files in os.walk(self.spool / sub):
                n += len(files)
        return n

    def stop_timed(self, limit: float):
        pid = self.master_pid()
        t0 = time.monotonic()
        bench.run([bench.which("postfix"), "-c", str(self.etc), "stop"], check=False,
                  env=self.env, timeout=limit)
        killed = False
        while pid and bench.pid_alive(pid):
            if time.monotonic() - t0 > limit:
                os.kill(pid, 9)
                killed = True
                break
            time.sleep(0.02)
        self.started = False
        return time.monotonic() - t0, killed

    def restart(self, limit: float) -> dict:
        """`postfix start` on the queue as it is: seconds to the first 220
        (from the command's start) and until the command returned."""
        t0 = time.monotonic()
        res = {}

        def starter():
            p = subprocess.run([bench.which("postfix"), "-c", str(self.etc), "start"],
                               env=self.env, capture_output=True, timeout=limit,
                               stdin=subprocess.DEVNULL)
            res["cmd_s"] = time.monotonic() - t0
            res["rc"] = p.returncode

        th = threading.Thread(target=starter, daemon=True)
        th.start()
        first = first_greeting(self.port, t0, limit)
        th.join(limit)
        self.started = True
        return dict(first_220_s=first, recovered_s=None, recovered=None,
                    start_cmd_s=res.get("cmd_s"), start_rc=res.get("rc"))

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def describe(self) -> str:
        return (self.main_cf() + f"\n# {self.transport}\n" + self.transport.read_text())


def last_line(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 400))
            lines = f.read().decode(errors="replace").strip().splitlines()
            return lines[-1] if lines else ""
    except OSError:
        return ""


def du(path: Path):
    """Bytes allocated and inodes under PATH."""
    size = inodes = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            size += st.st_blocks * 512
            inodes += 1
    return size, inodes


# ---- one peer's run ------------------------------------------------------------

class PeerRun:
    """The backlog sequence for one peer; results in self.r."""

    def __init__(self, cfg, n: int, peer, fresh_sink, blocked_port: int):
        self.fresh_start = fresh_sink.count()
        self.cfg = cfg
        self.n = n
        self.peer = peer
        self.fresh = fresh_sink
        self.blocked_port = blocked_port
        self.blocked = None
        self.r = dict(peer=peer.name, n=n, status="ok", notes=[], phases={})
        self.fresh_sent = 0           # fresh messages whose smtp-source finished
        self.fresh_incomplete = 0     # fresh runs cut short
        self.tail = LogTail(peer.logfile)
        self.mon = None
        self.probe = None
        self.ours = {os.getpid()}
        self.dev = block_device(BASE)  # the spool's disk, for the I/O figures

    # -- helpers
    def note(self, text):
        log(f"  {self.peer.name}: {text}")
        self.r["notes"].append(text)

    def quick(self):
        return self.cfg["quick"]

    def t(self, floor, rate):
        return tmo(self.n, floor, rate, self.quick())

    def begin(self):
        s = self.mon.snapshot()
        ours = self.ours | set(self.peer.pids()) | {p.pid for p in bench.RUNNING}
        return dict(s=s, c=bench.cpustat(), o=bench.others_ticks(ours), ours=ours,
                    parts=self.mon.parts(), io=disk_io(self.dev))

    def end(self, b, name, **extra):
        s = self.mon.snapshot()
        c = bench.cpustat()
        ours = b["ours"] | set(self.peer.pids()) | {p.pid for p in bench.RUNNING}
        o = bench.others_ticks(ours)
        dt = s[0] - b["s"][0]
        total = c[0] - b["c"][0]
        ticks = s[1] - b["s"][1] if s[1] >= b["s"][1] else s[1]    # restarted: the new one's
        ph = dict(seconds=dt, relay_cpu_s=ticks / bench.HZ,
                  attempts=s[2] - b["s"][2], sent_blocked=s[3] - b["s"][3],
                  sent_fresh=s[4] - b["s"][4])
        ph["relay_cpu_pct"] = 100.0 * ph["relay_cpu_s"] / dt if dt > 0 else None
        busy, iowait = bench.cpu_between(b["c"], c)
        ph["machine_busy_pct"] = busy
        ph["iowait_pct"] = iowait
        ph.update(disk_between(b["io"], disk_io(self.dev), dt))
        if total > 0 and dt >= 2.0:       # shorter: clock-tick noise
            used = sum(v - b["o"].get(p, 0) for p, v in o.items())
            ph["others_pct"] = max(0.0, 100.0 * used / total)
        if self.probe:
            ph["greeting"] = self.probe.stats(b["s"][0], s[0])
        # By program: every process (relayd: thread group) sampled each second
        # since the phase began, up to its last sample; what lived less than a
        # sample is "short-lived".
        p0, p1 = b["parts"], self.mon.parts()
        parts = {}
        for k, v in p1.items():
            d = v - p0.get(k, 0)
            if d > 0:
                part = k.split("[", 1)[0]
                parts[part] = parts.get(part, 0) + d / bench.HZ
        rest = ph["relay_cpu_s"] - sum(parts.values())
        if rest >= 0.05 and self.peer.name == "postfix":
            parts["short-lived"] = rest
        ph["parts_cpu_s"] = parts
        ph.update(extra)
        self.r["phases"][name] = ph
        return ph

    def memory(self) -> dict:
        rss, pss, procs = self.peer.mem()
        return dict(rss_kib=rss, pss_kib=pss, procs=procs, queue_rss_kib=self.peer.queue_rss())

    def quiet(self):
        """Before a phase: wait (up to quiet_wait s, within the run's
        WAIT_BUDGET) until other people's processes use < 20 % of the
        machine; the relay's own retries do not count."""
        if not self.cfg["quiet_wait"]:
            return
        t0 = time.monotonic()
        deadline = t0 + min(self.cfg["quiet_wait"], max(0.0, bench.WAIT_BUDGET - bench.WAITED))
        warned = False
        while True:
            ours = self.ours | set(self.peer.pids()) | {p.pid for p in bench.RUNNING}
            o0, c0 = bench.others_ticks(ours), bench.cpustat()
            time.sleep(1.0)
            o1, c1 = bench.others_ticks(ours), bench.cpustat()
            total = c1[0] - c0[0]
            busy = 100.0 * sum(v - o0.get(p, 0) for p, v in o1.items()) / total if total else 0
            if busy < 20 or time.monotonic() >= deadline:
                break
            if not warned:
                log(f"    other work takes {busy:.0f} % of the machine: waiting up to "
                    f"{deadline - time.monotonic():.0f} s")
                warned = True
        if warned:
            bench.WAITED += time.monotonic() - t0

    def wait_for(self, cond, limit: float, every: float = 0.05) -> bool:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if cond():
                return True
            time.sleep(every)
        return cond()

    def probe_on(self):
        if not self.probe:
            self.probe = GreetProbe(self.peer.port, self.cfg["probe_every"])

    def probe_off(self):
        if self.probe:
            self.probe.stop()
            self.r.setdefault("probe_samples", 0)
            self.r["probe_samples"] += len(self.probe.samples)
            self.probe = None

    def settle_disk(self, limit: float = 90.0):
        """Before an empty-queue set: sync(), then until the machine's I/O
        stall stays under 2 % for a second (at most LIMIT s), so that
        neither set runs behind the write-back of what came before (after a
        drain: a backlog's removed files; measured: 70 % I/O stall for the
        first runs, 1,250–1,480 msgs/s against 1,780 on a settled disk)."""
        t0 = time.monotonic()
        os.sync()
        prev = disk_io(self.dev)
        while time.monotonic() - t0 < limit:
            time.sleep(1.0)
            cur = disk_io(self.dev)
            stall = disk_between(prev, cur, 1.0).get("io_stall_pct")
            prev = cur
            if stall is None or stall < 2.0:
                break
        secs = time.monotonic() - t0
        self.r.setdefault("disk_settle_s", []).append(round(secs, 1))
        log(f"    disk settled after {secs:.1f} s (sync, then under 2 % I/O stall for 1 s)")

    def sink_ticks(self):
        """CPU ticks of the sink of the blocked destination (its 450s to the
        retries), or None when there is none."""
        if not self.blocked or not self.blocked.proc:
            return None
        return bench.tree_ticks(self.blocked.proc.pid)

    def fresh_run(self, size: int, msgs: int, limit: float, conc: int = 10) -> dict:
        """MSGS messages of SIZE to the fresh destination, a connection per
        message, CONC at once; at most LIMIT s."""
        sink = self.fresh
        sink.reset()
        start = sink.count()
        errpath = BASE / "backlog-source.err"
        errf = open(errpath, "wb")
        io0 = disk_io(self.dev)
        c0, sink0 = bench.cpustat(), self.sink_ticks()
        s0 = self.mon.snapshot()
        t0 = time.monotonic()
        proc = subprocess.Popen(bench.source_cmd(self.peer.port, msgs, conc, size, False),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=errf, start_new_session=True)
        errf.close()
        bench.RUNNING.append(proc)
        res = dict(size=size, msgs=msgs, conc=conc, status="ok", t0=t0)
        t_acc = t_e2e = None
        try:
            while True:
                time.sleep(bench.POLL)
                now = time.monotonic()
                got = sink.count() - start
                if t_acc is None and proc.poll() is not None:
                    t_acc = now
                if t_e2e is None and got >= msgs:
                    t_e2e = now
                if t_acc is not None and t_e2e is not None:
                    break
                if t_acc is not None and proc.returncode != 0:
                    res["status"] = f"smtp-source exit {proc.returncode}"
                    break
                if now - t0 > limit:
                    res["status"] = (f"did not finish in {limit:.0f} s: {got} of {msgs} at "
                                     f"the sink" + ("" if t_acc else ", the client still "
                                                    "sending"))
                    break
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
            bench.RUNNING.remove(proc)
        s1 = self.mon.snapshot()
        c1, sink1 = bench.cpustat(), self.sink_ticks()
        res.update(disk_between(io0, disk_io(self.dev), s1[0] - t0))
        if s1[1] >= s0[1]:
            # The relay's CPU a fresh message, the retries' of the same time included.
            res["relay_cpu_us"] = (s1[1] - s0[1]) / bench.HZ * 1e6 / msgs
        # The whole machine's (every process and the kernel: the client, the
        # sinks, the probe), a fresh message, and how busy its cores were:
        # what the retries' work elsewhere takes from the same two cores.
        busy = (c1[0] - c0[0]) - (c1[1] - c0[1]) - (c1[2] - c0[2])
        if c1[0] > c0[0]:
            res["machine_cpu_us"] = busy / bench.HZ * 1e6 / msgs
            res["machine_busy_pct"] = 100.0 * busy / (c1[0] - c0[0])
        if sink1 is not None and sink0 is not None and sink1 >= sink0:
            res["blocked_sink_cpu_us"] = (sink1 - sink0) / bench.HZ * 1e6 / msgs
        err = errpath.read_text(errors="replace").strip()
        if err:
            res["source_stderr"] = err[-1000:]
            if res["status"] == "ok" and re.search(r"fatal|error", err):
                res["status"] = "smtp-source reported errors"
        res["attempts_meanwhile"] = s1[2] - s0[2]
        res["seconds"] = s1[0] - t0
        if t_acc is not None:
            res["accept_s"] = t_acc - t0
            res["accept_rate"] = msgs / res["accept_s"]
        if t_e2e is not None:
            res["e2e_s"] = t_e2e - t0
            res["e2e_rate"] = msgs / res["e2e_s"]
        if res["status"] == "ok":
            self.fresh_sent += msgs
        else:
            self.fresh_incomplete += 1
        return res

    def fresh_series(self, size, msgs, limit, until, min_runs=1, max_runs=1000):
        """Fresh runs back to back until UNTIL() (a time or a condition)."""
        runs = []
        while len(runs) < max_runs:
            r = self.fresh_run(size, msgs, limit)
            runs.append(r)
            log(f"    {fmt(r)}")
            if r["status"] != "ok":
                break
            if len(runs) >= min_runs and until():
                break
        return runs

    # -- the sequence
    def run(self):
        cfg, peer, n = self.cfg, self.peer, self.n
        self.blocked = bench.Sink(self.blocked_port, name="backlog-blocked-sink",
                                  options=("-r", "RCPT"))
        self.blocked.start()
        self.ours |= {self.fresh.proc.pid, self.blocked.proc.pid}
        self.r["background_pct"] = bench.wait_quiet(max_wait=cfg["quiet_wait"],
                                                    sample=cfg["quiet_sample"])
        t_begin = time.monotonic()
        peer.start()
        self.mon = Monitor(peer, self.tail, cfg["sample"])
        try:
            self.baseline()
            self.inject()
            if self.r["queued"]:
                self.cycle()
                self.steady()
                self.listing()
                self.after_flush()
                self.restart()
                self.drain()
                self.empty_again()
            self.check()
        finally:
            self.probe_off()
            if self.mon:
                self.mon.stop()
                self.r["peak_mem_kib"] = dict(zip(("rss", "pss", "procs"), self.mon.peak))
            self.r["log_bytes"] = peer.logfile.stat().st_size if peer.logfile.exists() else 0
            self.r["seconds"] = time.monotonic() - t_begin
            self.r["config"] = peer.describe()
            secs, killed = peer.stop_timed(self.t(30, 2000))
            if killed:
                self.note(f"the last stop took over {secs:.0f} s: killed")
            if self.blocked:
                self.blocked.stop()
            if not self.cfg.get("keep"):
                peer.remove()
        return self.r

    def baseline(self):
        cfg = self.cfg
        log(f"  {self.peer.name}: empty queue: fresh 1 KiB and 300 KiB")
        if cfg["warmup"]:
            w = self.fresh_run(1024, cfg["warmup"], 120)
            if w["status"] != "ok":
                raise BenchError(f"{self.peer.name}: warm-up failed: {w['status']}")
            msgs = bench.nice_count(w["e2e_rate"] * cfg["fresh_seconds"], cfg["fresh_min"],
                                    cfg["fresh_max"])
        else:
            msgs = cfg["fresh_fixed"]
        self.fresh_msgs = msgs
        self.r["baseline"] = self.empty_set("baseline")
        if not self.r["baseline"]["fresh_e2e"] or not self.r["baseline"]["big_accept"]:
            raise BenchError(f"{self.peer.name}: the empty-queue runs failed")
        time.sleep(cfg["gap"])
        self.r["mem_empty"] = self.memory()

    def empty_again(self):
        """The empty-queue runs again once the backlog has drained: the
        machine's rate drifts by more than the targets' margins over a run
        (a VM's disk and CPU), so the ratios are to the median of the runs
        before the backlog and after it."""
        if (self.r["phases"].get("drain") or {}).get("drain_s") is None:
            return  # not drained: the queue is not empty
        self.quiet()
        log(f"  {self.peer.name}: empty queue again: fresh 1 KiB and 300 KiB")
        self.r["baseline_after"] = self.empty_set("empty_again")

    def empty_set(self, phase: str) -> dict:
        """One set of empty-queue runs on a settled disk: fresh 1 KiB and
        300 KiB, each fresh_reps / big_reps times, as phase PHASE."""
        cfg = self.cfg
        self.settle_disk()
        prof = self.perf_on(phase)
        b = self.begin()
        runs = [self.fresh_run(1024, self.fresh_msgs, 300) for _ in range(cfg["fresh_reps"])]
        self.perf_off(prof)
        big = [self.fresh_run(BIG, cfg["big_msgs"], 300) for _ in range(cfg["big_reps"])]
        for r in runs + big:
            log(f"    {fmt(r)}")
        self.end(b, phase)
        return dict(fresh=runs, big=big,
                    fresh_e2e=med([r.get("e2e_rate") for r in runs]),
                    fresh_accept=med([r.get("accept_rate") for r in runs]),
                    big_accept=med([r.get("accept_rate") for r in big]))

    def inject(self):
        n, peer = self.n, self.peer
        limit = self.t(60, 150)
        log(f"  {peer.name}: injecting {n} messages for {BLOCKED_DOMAIN} (limit {limit:.0f} s)")
        cmd = (bench.source_cmd(peer.port, n, 20, 1024, True)[:-1])
        cmd[cmd.index(bench.RCPT)] = BLOCKED_RCPT
        cmd.append(f"127.0.0.1:{peer.port}")
        self.r["inject_cmd"] = " ".join(cmd)
        self.tail.mark()
        b = self.begin()
        errf = open(BASE / "backlog-inject.err", "wb")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=errf, start_new_session=True)
        errf.close()
        bench.RUNNING.append(proc)
        t0 = time.monotonic()
        try:
            proc.wait(limit)
            status = "ok" if proc.returncode == 0 else f"smtp-source exit {proc.returncode}"
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(10)
            status = f"did not finish in {limit:.0f} s"
        finally:
            bench.RUNNING.remove(proc)
        t_acc = time.monotonic() - t0
        err = (BASE / "backlog-inject.err").read_text(errors="replace").strip()
        ph = self.end(b, "inject", status=status, accept_s=t_acc,
                      accept_rate=n / t_acc if status == "ok" else None,
                      source_stderr=err[-1000:] if err else None)
        log(f"    {status}, {t_acc:.1f} s" + (f" ({n / t_acc:.0f} msgs/s)" if status == "ok"
                                               else ""))
        if status != "ok":
            self.note(f"injection {status}: the figures below are for what was queued")
        # every queued message has had its first attempt
        limit = self.t(60, 200)
        b = self.begin()
        want = n if status == "ok" else None

        def all_tried():
            if want is not None:
                return self.tail.since_mark >= want
            q = self.peer.queued()
            return q is not None and self.tail.since_mark >= q

        done = self.wait_for(all_tried, limit, 0.5)
        tried = self.tail.since_mark
        self.end(b, "first_attempts", status="ok" if done else f"did not finish in {limit:.0f} s",
                 tried=tried)
        self.r["queued"] = n if status == "ok" else max(tried, self.peer.queued() or 0)
        self.quiet()
        if not done:
            self.note(f"only {tried} of the {n} messages had a first attempt within "
                      f"{limit:.0f} s")
        self.r["inject"] = dict(status=status, accept_s=t_acc, accept_rate=ph["accept_rate"],
                                all_tried_s=time.monotonic() - t0, queued=self.r["queued"])
        time.sleep(self.cfg["gap"])
        self.r["mem_backlog"] = m = self.memory()
        rss, pss, procs = m["rss_kib"], m["pss_kib"], m["procs"]
        size, inodes = du(self.peer.spool)
        self.r["spool"] = dict(bytes=size, inodes=inodes)
        log(f"    all tried after {self.r['inject']['all_tried_s']:.1f} s; RSS {rss} KiB, "
            f"PSS {pss} KiB ({procs} procs); spool {size / 1e6:.0f} MB, {inodes} inodes")

    def cycle(self):
        """Flush with nothing else running: every queued message tried once
        ("attempts"), then until the relay's CPU settles (what the attempts
        left behind, e.g. relayd's state-file writes on its I/O threads)
        ("work"); then the backlog idle until the first retry is due."""
        self.quiet()
        cfg, q = self.cfg, self.r["queued"]
        limit = self.t(60, 200)
        log(f"  {self.peer.name}: a full retry cycle: {self.peer.flush_cmd}, nothing else")
        self.tail.mark()
        b = self.begin()
        t_flush = time.monotonic()
        t_due = t_flush + cfg["period"]       # the first ones tried come back first
        self.peer.flush()
        done = self.wait_for(lambda: self.tail.since_mark >= q, limit, 0.05)
        ph = self.end(b, "cycle", status="ok" if done else f"did not finish in {limit:.0f} s",
                      tried=self.tail.since_mark)
        attempts = ph["attempts"]
        if attempts:
            ph["cpu_us_per_attempt"] = ph["relay_cpu_s"] * 1e6 / attempts
        log(f"    every message tried after {ph['seconds']:.1f} s: {attempts} attempts, relay "
            f"CPU {ph['relay_cpu_s']:.1f} s" + (f" = {ph['cpu_us_per_attempt']:.0f} µs per "
                                               "attempt" if attempts else "") + parts_txt(ph))
        # until the relay's CPU settles (below SETTLED % of a core over 3 s),
        # at most until the first retry is due
        settle_by = t_due - cfg["gap"] - cfg["idle_min"]
        settled = self.wait_for(lambda: self.mon.cpu_rate(3 * cfg["sample"] + 2) < SETTLED,
                                max(0.0, settle_by - time.monotonic()), 0.25)
        w = self.end(b, "cycle_work", settled=settled)
        if w["attempts"]:
            w["cpu_us_per_attempt"] = w["relay_cpu_s"] * 1e6 / w["attempts"]
        log(f"    CPU settled after {w['seconds']:.1f} s" if settled else
            f"    CPU not settled after {w['seconds']:.1f} s")
        log(f"    with what the attempts left: relay CPU {w['relay_cpu_s']:.1f} s = "
            f"{w.get('cpu_us_per_attempt', 0):.0f} µs per attempt" + parts_txt(w))
        start = time.monotonic() + cfg["gap"]
        stop = t_due - cfg["gap"]
        if settled and stop - start >= cfg["idle_min"]:
            time.sleep(max(0.0, start - time.monotonic()))
            b = self.begin()
            time.sleep(max(0.0, stop - time.monotonic()))
            ph = self.end(b, "idle")
            log(f"    backlog idle: relay CPU {ph['relay_cpu_pct']:.2f} % of a core over "
                f"{ph['seconds']:.0f} s, {ph['attempts']} attempts meanwhile" + parts_txt(ph))
        else:
            self.r["phases"]["idle"] = dict(status=(
                f"never idle: the cycle's work took {w['seconds']:.0f} s"
                + ("" if settled else " and more") + f" of the {cfg['period']} s retry "
                "interval"))
            log(f"    {self.r['phases']['idle']['status']}")
            time.sleep(max(0.0, t_due - time.monotonic()))

    def steady(self):
        """Fresh mail for one retry interval while retries run."""
        period = self.cfg["period"]
        self.quiet()
        log(f"  {self.peer.name}: fresh mail during the retries ({period} s)")
        self.probe_on()
        prof = self.perf_on("steady")
        b = self.begin()
        t_end = time.monotonic() + period
        expect = self.fresh_msgs / self.r["baseline"]["fresh_e2e"]
        runs = self.fresh_series(1024, self.fresh_msgs, max(60.0, 20 * expect),
                                 lambda: time.monotonic() >= t_end, min_runs=2)
        self.perf_off(prof)
        self.end(b, "steady", runs=runs)
        self.probe_off()

    def listing(self):
        limit = self.t(60, 500)
        log(f"  {self.peer.name}: {self.peer.listing_cmd} (limit {limit:.0f} s)")
        out = BASE / "backlog-listing.txt"
        self.quiet()
        # Between two retry bursts if there are pauses at all, so that the
        # greetings measure the listing and not the retries.
        if (self.r["phases"].get("idle") or {}).get("seconds"):
            self.wait_for(lambda: self.mon.quiet_since(4 * self.cfg["gap"]),
                          self.cfg["period"] + 8 * self.cfg["gap"], 0.1)
        self.probe_on()
        time.sleep(0.5)
        b = self.begin()
        t0 = time.monotonic()
        status, last = self.peer.listing(out, limit)
        secs = time.monotonic() - t0
        size = out.stat().st_size if out.exists() else 0
        out.unlink(missing_ok=True)
        ph = self.end(b, "listing", status=status, listing_s=secs, last_line=last,
                      output_bytes=size)
        self.probe_off()
        g = ph.get("greeting", {})
        log(f"    {status}: {secs:.2f} s, {size / 1e6:.1f} MB, last line {last!r}; greetings "
            f"max {g.get('max_ms', 0):.1f} ms, {g.get('over_10ms', 0)} of {g.get('probes', 0)} "
            "over 10 ms")

    def wait_cycle(self, name, limit):
        """Until every queued message was tried since the last mark."""
        q = self.r["queued"]
        b = self.begin()
        done = self.wait_for(lambda: self.tail.since_mark >= q, limit, 0.1)
        self.end(b, name, status="ok" if done else f"did not finish in {limit:.0f} s")

    def after_flush(self):
        limit = self.t(60, 200)
        expect = self.fresh_msgs / self.r["baseline"]["fresh_e2e"]
        for size, msgs, name in ((1024, self.fresh_msgs, "flush_fresh"),
                                 (BIG, self.cfg["big_msgs"], "flush_big")):
            log(f"  {self.peer.name}: {self.peer.flush_cmd}, then at once {msgs} × "
                f"{size // 1024} KiB")
            self.quiet()
            self.probe_on()
            self.tail.mark()
            b = self.begin()
            self.peer.flush()
            r = self.fresh_run(size, msgs, max(60.0, 30 * expect) if size == 1024 else
                               self.t(60, 500))
            log(f"    {fmt(r)}")
            self.end(b, name, run=r)
            self.probe_off()
            self.wait_cycle(name + "_rest", limit)

    def restart(self):
        """Stop and start on the queue as it is, twice in a row (a busy
        machine shows in one of them)."""
        peer = self.peer
        self.quiet()
        b = self.begin()
        runs = []
        for i in range(2):
            log(f"  {peer.name}: restart {i + 1}")
            stop_s, killed = peer.stop_timed(self.t(30, 2000))
            if hasattr(peer, "proc"):
                peer.proc = None
            limit = self.t(60, 2000)
            rs = peer.restart(limit)
            rs.update(stop_s=stop_s, stop_killed=killed)
            time.sleep(self.cfg["gap"])
            rs["mem"] = self.memory()
            runs.append(rs)
            log(f"    stop {secs(stop_s)}{' (killed)' if killed else ''}; first 220 after "
                + secs(rs["first_220_s"])
                + (f", recovered {rs['recovered']} after {secs(rs['recovered_s'])}"
                   if rs.get("recovered_s") is not None else "")
                + (f" (postfix start returned after {secs(rs['start_cmd_s'])})"
                   if rs.get("start_cmd_s") is not None else "")
                + f"; RSS {rs['mem']['rss_kib']} KiB")
            if rs["first_220_s"] is None:
                raise BenchError(f"{peer.name}: no greeting within {limit:.0f} s of the "
                                 "restart")
        self.r["restart"] = dict(runs[0], again=runs[1])
        self.end(b, "restart")

    def drain(self):
        cfg, peer, q = self.cfg, self.peer, self.r["queued"]
        self.quiet()
        # Swap the sinks while no attempt runs if there is such a moment within
        # a retry interval: a refused connection would mark the destination down.
        pauses = bool((self.r["phases"].get("idle") or {}).get("seconds"))
        quiet = pauses and self.wait_for(lambda: self.mon.quiet_since(4 * cfg["gap"]),
                                         cfg["period"] + 8 * cfg["gap"], 0.1)
        log(f"  {peer.name}: drain: the blocked sink accepts again"
            + ("" if quiet else " (no pause in the retries to swap it in)"))
        self.blocked_got = self.blocked.count()
        self.blocked.stop()
        self.blocked = bench.Sink(self.blocked_port, name="backlog-drain-sink")
        self.blocked.start()
        self.ours.add(self.blocked.proc.pid)
        sink = self.blocked
        got = {}

        def watch():
            while "done" not in got and "stop" not in got:
                if sink.count() >= q:
                    got["done"] = time.monotonic()
                    return
                time.sleep(bench.POLL)

        limit = self.t(60, 200)
        self.probe_on()
        prof = self.perf_on("drain")
        b = self.begin()
        t0 = time.monotonic()
        peer.flush()
        th = threading.Thread(target=watch, daemon=True)
        th.start()
        expect = self.fresh_msgs / self.r["baseline"]["fresh_e2e"]
        # Fresh mail during the first DRAIN_FRESH_RUNS runs (what new mail
        # gets while a backlog drains), then the drain alone (how fast it
        # drains when nothing else competes).
        runs = self.fresh_series(1024, self.fresh_msgs, max(60.0, 30 * expect),
                                 lambda: "done" in got or time.monotonic() - t0 > limit,
                                 max_runs=DRAIN_FRESH_RUNS)
        t_alone, at_alone = time.monotonic(), sink.count()
        self.wait_for(lambda: "done" in got, max(0.0, limit - (time.monotonic() - t0)), 0.05)
        got["stop"] = True
        self.perf_off(prof)
        drained = sink.count()
        secs = (got["done"] - t0) if "done" in got else None
        alone = None
        if secs and got["done"] - t_alone >= 1.0 and q - at_alone > 0:
            alone = (q - at_alone) / (got["done"] - t_alone)
        with_fresh = at_alone / (t_alone - t0) if t_alone > t0 else None
        self.end(b, "drain", runs=runs, drained=drained, drain_s=secs,
                 status="ok" if secs else f"did not finish in {limit:.0f} s: {drained} of {q}",
                 swapped_in_pause=quiet,
                 drain_rate=q / secs if secs else None,
                 drain_alone_rate=alone, drain_alone_msgs=q - at_alone,
                 drain_with_fresh_rate=with_fresh)
        self.probe_off()
        log(f"    {drained} of {q} drained" + (f" in {secs:.1f} s ({q / secs:.0f} msgs/s)"
                                              if secs else f" within {limit:.0f} s")
            + (f"; {with_fresh:.0f} msgs/s while fresh mail flowed" if with_fresh else "")
            + (f", {alone:.0f} msgs/s alone after" if alone else ""))

    def perf_on(self, phase: str):
        """RELAYD_BENCH_PERF=PHASE[,PHASE] (baseline, steady, drain; relayd only): `perf record -g` of
        the relay during that phase, to BASE/perf-PHASE-N.data, to explain a
        figure with a profile (bench/README.md)."""
        want = os.environ.get("RELAYD_BENCH_PERF", "").split(",")
        pids = self.peer.pids()
        if phase not in want or self.peer.name != "relayd" or not pids:
            return None
        out = BASE / f"perf-{phase}-{self.n}.data"
        log(f"    perf record of {phase} to {out}")
        return subprocess.Popen(["perf", "record", "-q", "-g", "-F", "499", "-o", str(out),
                                 "-p", str(pids[0])], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def perf_off(self, proc):
        if proc:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)

    def check(self):
        """Nothing lost or duplicated: the queue empties; each sink counted
        what the relay logged as sent there, and every message once."""
        limit = self.t(60, 200)
        b = self.begin()
        empty = self.wait_for(lambda: self.peer.queued() == 0, limit, 0.5)
        self.mon.snapshot()
        t = self.tail
        q = self.r.get("queued", 0)
        drained = self.blocked.count() if self.blocked and self.blocked.name == \
            "backlog-drain-sink" else 0
        fresh_got = self.fresh.count() - self.fresh_start
        c = dict(queue_empty=empty, queued=q, drained=drained,
                 sent_blocked=t.sent["blocked"], sent_blocked_distinct=len(t.blocked_sent_qids),
                 dup_sent=t.dup_sent, fresh_sink=fresh_got, sent_fresh=t.sent["fresh"],
                 fresh_injected=self.fresh_sent, fresh_runs_cut=self.fresh_incomplete,
                 failed=t.failed, deferred_fresh=t.other_deferred,
                 blocked_sink_got=getattr(self, "blocked_got", 0))
        problems = []
        if not empty:
            problems.append(f"queue not empty after {limit:.0f} s ({self.peer.queued()} left)")
        if drained != t.sent["blocked"] or drained != q:
            problems.append(f"blocked destination: the sink counted {drained}, the relay "
                            f"logged {t.sent['blocked']} sent, {q} were queued")
        if t.dup_sent:
            problems.append(f"{t.dup_sent} blocked messages logged as sent twice")
        if fresh_got != t.sent["fresh"]:
            problems.append(f"fresh destination: the sink counted {fresh_got}, the relay "
                            f"logged {t.sent['fresh']} sent")
        if not self.fresh_incomplete and fresh_got != self.fresh_sent:
            problems.append(f"fresh destination: {self.fresh_sent} sent by the clients, "
                            f"{fresh_got} at the sink")
        if t.failed:
            problems.append(f"{t.failed} recipients bounced or expired")
        if c["blocked_sink_got"]:
            problems.append(f"the 450 sink counted {c['blocked_sink_got']} messages")
        c["problems"] = problems
        c["ok"] = not problems
        self.end(b, "check")
        self.r["check"] = c
        log(f"  {self.peer.name}: check: " + ("nothing lost or duplicated" if not problems
                                                else "; ".join(problems)))


def ordered(peers: dict):
    return sorted(peers.items(), key=lambda kv: (kv[0] != "relayd", kv[0]))


def secs(x) -> str:
    """A duration: ms below a second."""
    if x is None:
        return "–"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:,.2f} s"


def parts_txt(ph, limit: int = 6) -> str:
    parts = sorted((ph.get("parts_cpu_s") or {}).items(), key=lambda kv: -kv[1])
    parts = [(k, v) for k, v in parts if v >= 0.05][:limit]
    return (" (" + ", ".join(f"{k} {v:.1f} s" for k, v in parts) + ")") if parts else ""


def med(vals):
    vals = [v for v in vals if v]
    return statistics.median(vals) if vals else None


def fmt(r: dict) -> str:
    txt = f"{r['msgs']} × {r['size'] // 1024} KiB: "
    if r.get("e2e_rate"):
        txt += f"end-to-end {r['e2e_rate']:.0f}/s, "
    if r.get("accept_rate"):
        txt += f"accept {r['accept_rate']:.0f}/s"
    if r["status"] != "ok":
        txt += f" {r['status']}"
    if r.get("attempts_meanwhile"):
        txt += f" ({r['attempts_meanwhile']} retry attempts meanwhile)"
    if r.get("relay_cpu_us") is not None:
        txt += f"; relay CPU {r['relay_cpu_us']:.0f} µs a message"
    if r.get("machine_cpu_us") is not None:
        txt += (f", machine {r['machine_cpu_us']:.0f} µs ({r['machine_busy_pct']:.0f} % busy"
                + (f", the 450 sink {r['blocked_sink_cpu_us']:.0f} µs"
                   if r.get("blocked_sink_cpu_us") else "") + ")")
    if r.get("io_stall_pct") is not None:
        txt += f", I/O stall {r['io_stall_pct']:.0f} %"
    return txt


# ---- disk guard and estimate ---------------------------------------------------------

def needs(n: int) -> dict:
    """Disk and inodes a run of N needs (the larger peer, 1.5x, + 2 GiB)."""
    disk = int(max(DISK_PER_MSG.values()) * n * 1.5 + (2 << 30))
    inodes = int(max(INODES_PER_MSG.values()) * n * 1.5 + 100000)
    st = os.statvfs(BASE if BASE.exists() else BASE.parent)
    free = st.f_bavail * st.f_frsize
    ifree = st.f_favail
    # and 5 % of the file system left for everyone else
    ok = (free - disk >= 0.05 * st.f_blocks * st.f_frsize
          and ifree - inodes >= 0.05 * st.f_files)
    return dict(n=n, disk_needed=disk, disk_free=free, inodes_needed=inodes, inodes_free=ifree,
                ok=ok)


def needs_text(nd: dict) -> str:
    return (f"N = {nd['n']:,}: needs {nd['disk_needed'] / 2**30:.1f} GiB and "
            f"{nd['inodes_needed']:,} inodes under {BASE}, "
            f"{nd['disk_free'] / 2**30:.1f} GiB and {nd['inodes_free']:,} free")


def estimate(n: int, previous: dict) -> str:
    """How long N takes, scaled linearly from the largest N measured before
    (each peer's whole sequence; phases that grow faster than N, like a
    quadratic listing, make it longer)."""
    best = None
    for key, entry in (previous or {}).items():
        peers = entry.get("peers", {})
        if peers and all(p.get("seconds") for p in peers.values()):
            if best is None or int(key) > best[0]:
                best = (int(key), sum(p["seconds"] for p in peers.values()),
                        {k: p["seconds"] for k, p in peers.items()})
    if not best:
        return "no earlier measurement to scale from"
    n0, total, per = best
    f = n / n0
    return (f"≈ {total * f / 60:.0f} min ("
            + ", ".join(f"{k} {s * f / 60:.0f}" for k, s in per.items())
            + f"), scaled linearly from N = {n0:,} ({total / 60:.1f} min)")


def check_only(ns, previous) -> int:
    """--backlog-check: print what each N needs and the estimate; start nothing."""
    code = 0
    for n in ns:
        nd = needs(n)
        print(("ok      " if nd["ok"] else "REFUSED ") + needs_text(nd))
        print(f"        time: {estimate(n, previous)}")
        code |= 0 if nd["ok"] else 1
    return code


# ---- the section ---------------------------------------------------------------

def run(args, relayd_bin: Path, relayctl_bin: Path, fresh_sink, out: dict) -> dict:
    """Every N of ARGS.backlog for relayd, then Postfix, into OUT
    ({str(N): entry}, filled as it goes); an N that does not fit on the disk
    is refused."""
    cfg = dict(QUICK if args.quick else FULL, keep=args.backlog_keep)
    if args.backlog_period:
        cfg["period"] = args.backlog_period
    ns = [QUICK_N] if args.quick else args.backlog
    for n in ns:
        nd = needs(n)
        entry = dict(n=n, started=time.time(), disk=nd, period=cfg["period"], quick=cfg["quick"],
                     peers={})
        out[str(n)] = entry
        if not nd["ok"]:
            entry["refused"] = ("not started: " + needs_text(nd))
            log(f"backlog: {entry['refused']}")
            continue
        log(f"backlog N = {n}: {needs_text(nd)}; retry interval {cfg['period']} s")
        blocked_port = bench.free_port(10031)
        peers = [("relayd", lambda: BacklogRelayd(relayd_bin, relayctl_bin,
                                                  bench.free_port(10027), fresh_sink.port,
                                                  blocked_port, cfg["period"])),
                 ("postfix", lambda: BacklogPostfix(bench.free_port(10028), fresh_sink.port,
                                                    blocked_port, cfg["period"]))]
        for name, make in peers:
            if args.backlog_peers and name not in args.backlog_peers:
                continue
            peer = make()
            pr = PeerRun(cfg, n, peer, fresh_sink, blocked_port)
            try:
                entry["peers"][name] = pr.run()
            except BenchError as e:
                log(f"backlog {name}: error: {e}")
                pr.r["status"] = f"error: {e}"
                entry["peers"][name] = pr.r
        entry["ended"] = time.time()
    return out


# ---- results.md ------------------------------------------------------------------

BEGIN = "<!-- backlog section: begin (bench/backlog.py) -->"
END = "<!-- backlog section: end -->"


def num(x, nd=0, unit="") -> str:
    if x is None:
        return "–"
    return f"{x:,.{nd}f}{unit}"


def ratio_txt(x, base) -> str:
    if not x or not base:
        return "–"
    return f"{x / base:.2f}"


def runs_ratio(runs, base, key="e2e_rate") -> str:
    """median (min–max) of RUNS' KEY over BASE, and how many runs."""
    ok = [r[key] / base for r in runs or [] if r.get(key) and base]
    bad = [r for r in runs or [] if r["status"] != "ok"]
    if not ok:
        return "–" + (f" ({bad[0]['status']})" if bad else "")
    txt = f"{statistics.median(ok):.2f}"
    if len(ok) > 1:
        txt += f" ({min(ok):.2f}–{max(ok):.2f}, {len(ok)} runs)"
    if bad:
        txt += f"; {len(bad)} run(s): {bad[0]['status']}"
    return txt


def one_run(r, base, key) -> str:
    if not r:
        return "–"
    if r.get(key) and base:
        return f"{r[key] / base:.2f} ({r[key]:,.0f} msgs/s)"
    return r["status"]


def greet_txt(g) -> str:
    if not g or not g.get("probes"):
        return "–"
    if "max_ms" not in g:
        return f"no greeting in {g['probes']} probes"
    txt = (f"max {g['max_ms']:,.1f} ms, p99 {g['p99_ms']:.1f}, {g['over_10ms']} of "
           f"{g['probes']} > 10 ms")
    if g.get("failed"):
        txt += f", {g['failed']} failed"
    return txt


def mem_mib(m, key) -> str:
    return num(m[key] / 1024, 1) if m and m.get(key) else "–"


def per_msg_mem(p, key="queue_rss_kib") -> str:
    e, b, q = p.get("mem_empty"), p.get("mem_backlog"), p.get("queued")
    if not e or not b or not q or key not in e:
        return "–"
    return f"{(b[key] - e[key]) * 1024 / q:,.0f} B"


def empty_rate(p, key) -> float:
    """The empty-queue rate the ratios are to: KEY (fresh_e2e or
    big_accept) as the median of every empty-queue run, before the backlog
    and again after it drained (runs recorded before the second set: the
    first alone)."""
    rate = "e2e_rate" if key == "fresh_e2e" else "accept_rate"
    runs = [r.get(rate) for k in ("baseline", "baseline_after")
            for r in (p.get(k) or {}).get("fresh" if key == "fresh_e2e" else "big") or []]
    return med(runs) if any(runs) else (p.get("baseline") or {}).get(key)


def rows_for(entry) -> list:
    peers = entry["peers"]
    R, P = peers.get("relayd", {}), peers.get("postfix", {})

    def both(f):
        return [f(R) if R else "–", f(P) if P else "–"]

    def ph(p, name):
        return (p.get("phases") or {}).get(name) or {}

    def base(p, key):
        return empty_rate(p, key)

    rows = []
    rows.append(["empty queue: fresh 1 KiB end-to-end / 300 KiB acceptance, msgs/s",
                 *both(lambda p: f"{num(base(p, 'fresh_e2e'))} / {num(base(p, 'big_accept'))}")])
    rows.append(["... the empty-queue runs before the backlog; again after it drained (1 KiB / "
                 "300 KiB, medians)",
                 *both(lambda p: "; ".join(
                     (f"{num(p[k].get('fresh_e2e'))} / {num(p[k].get('big_accept'))}"
                      if p.get(k) else "–") for k in ("baseline", "baseline_after")))])
    rows.append(["injection of the backlog, msgs/s (every message tried once after)",
                 *both(lambda p: (f"{num((p.get('inject') or {}).get('accept_rate'))} "
                                  f"({num((p.get('inject') or {}).get('all_tried_s'), 0)} s)")
                       if (p.get("inject") or {}).get("status") == "ok"
                       else (p.get("inject") or {}).get("status", "–"))])
    rows.append(["disk per queued message (spool; inodes)",
                 *both(lambda p: (f"{p['spool']['bytes'] / p['queued']:,.0f} B; "
                                  f"{p['spool']['inodes'] / p['queued']:.2f}")
                       if p.get("spool") and p.get("queued") else "–")])
    rows.append(["**RSS per queued message** (relayd; Postfix: its qmgr)",
                 *both(per_msg_mem)])
    rows.append(["that RSS empty / with the backlog / after the restart, MiB",
                 *both(lambda p: " / ".join(mem_mib(m, "queue_rss_kib") for m in
                                            (p.get("mem_empty"), p.get("mem_backlog"),
                                             (p.get("restart") or {}).get("mem"))))])
    rows.append(["peak during the run: RSS (relayd) / PSS of all processes (Postfix), MiB",
                 *both(lambda p: mem_mib(p.get("peak_mem_kib"),
                                         "rss" if p["peer"] == "relayd" else "pss"))])
    rows.append(["all processes: PSS empty / with the backlog, MiB (processes)",
                 *both(lambda p: " / ".join(
                     f"{mem_mib(m, 'pss_kib')} ({m['procs'] if m else '–'})"
                     for m in (p.get("mem_empty"), p.get("mem_backlog"))))])
    def cycle_txt(p):
        c, w = ph(p, "cycle"), ph(p, "cycle_work")
        if not c:
            return "–"
        txt = f"every message tried after {c['seconds']:.1f} s"
        if c.get("status", "ok") != "ok":
            txt = c["status"]
        if w:
            txt += (f"; CPU settled after {w['seconds']:.1f} s" if w.get("settled") else
                    f"; CPU not settled after {w['seconds']:.1f} s")
            txt += (f": {w['relay_cpu_s']:.1f} s of CPU"
                    + parts_txt(w).replace(" (", " (").replace(" s,", ",").replace(" s)", ")"))
        return txt

    rows.append(["a full retry cycle (flush, no other traffic)", *both(cycle_txt)])

    def per_attempt(p):
        c, w = ph(p, "cycle"), ph(p, "cycle_work")
        if not c.get("cpu_us_per_attempt"):
            return "–"
        if not w.get("cpu_us_per_attempt"):
            return f"{c['cpu_us_per_attempt']:,.0f} µs"
        return (f"{w['cpu_us_per_attempt']:,.0f} µs ({c['cpu_us_per_attempt']:,.0f} until "
                "every message was tried)")

    rows.append(["**CPU per retry attempt**", *both(per_attempt)])

    def idle_txt(p):
        i = ph(p, "idle")
        if not i.get("seconds"):
            return i.get("status", "–")
        return (f"{i['relay_cpu_pct']:.2f} % over {i['seconds']:.0f} s"
                + (f" ({i['attempts']} attempts meanwhile)" if i["attempts"] else "")
                + parts_txt(i).replace(" s,", ",").replace(" s)", ")"))

    rows.append(["**relay CPU with the backlog idle** (nothing due), % of a core",
                 *both(idle_txt)])
    rows.append(["**fresh mail, steady retries**: end-to-end / empty queue",
                 *both(lambda p: runs_ratio(ph(p, "steady").get("runs"),
                                            base(p, "fresh_e2e")))])
    rows.append(["**fresh mail right after a flush**: end-to-end / empty queue",
                 *both(lambda p: one_run(ph(p, "flush_fresh").get("run"),
                                         base(p, "fresh_e2e"), "e2e_rate"))])
    rows.append(["**300 KiB acceptance right after a flush** / empty queue",
                 *both(lambda p: one_run(ph(p, "flush_big").get("run"),
                                         base(p, "big_accept"), "accept_rate"))])
    def why_txt(p):
        """Medians over each phase's fresh 1 KiB runs: the relay's CPU a
        message and the machine's I/O stall, to tell the relay's cost from
        the disk's."""
        out = []
        empty = (((p.get("baseline") or {}).get("fresh") or [])
                 + ((p.get("baseline_after") or {}).get("fresh") or []))
        for label, runs in (("empty", empty),
                            ("steady", ph(p, "steady").get("runs")),
                            ("after a flush", [ph(p, "flush_fresh").get("run") or {}]),
                            ("drain", ph(p, "drain").get("runs"))):
            runs = runs or []
            cpu = med([r.get("relay_cpu_us") for r in runs])
            io = med([r.get("io_stall_pct") for r in runs])
            mach = med([r.get("machine_cpu_us") for r in runs])
            busy = med([r.get("machine_busy_pct") for r in runs])
            sink = med([r.get("blocked_sink_cpu_us") for r in runs])
            if cpu is None and io is None:
                continue
            txt = f"{label} {num(cpu)} µs / "
            if mach is not None:
                txt += (f"{num(mach)} µs ({num(busy)} % busy"
                        + (f"; 450 sink {num(sink)} µs" if sink else "") + ") / ")
            out.append(txt + f"{num(io)} %")
        return "; ".join(out) or "–"

    rows.append(["fresh 1 KiB runs: relay CPU a message (retries included) / the whole "
                 "machine's CPU a message (how busy its cores were; the 450 sink's part) / "
                 "I/O stall (medians)", *both(why_txt)])
    rows.append(["**queue listing** (`relayctl queue` / `postqueue -p`)",
                 *both(lambda p: (secs(ph(p, 'listing')['listing_s'])
                                  + ("" if ph(p, "listing")["status"] == "ok"
                                     else f" ({ph(p, 'listing')['status']})"))
                       if ph(p, "listing") else "–")])
    rows.append(["greetings during the listing",
                 *both(lambda p: greet_txt(ph(p, "listing").get("greeting")))])
    def two(p, f):
        rs = p.get("restart")
        if not rs:
            return "–"
        return " / ".join(f(x) for x in (rs, rs.get("again")) if x)

    rows.append(["stop (SIGTERM / `postfix stop`) with the backlog (1st / 2nd restart)",
                 *both(lambda p: two(p, lambda x: secs(x["stop_s"])
                                     + (" (killed)" if x["stop_killed"] else "")))])
    rows.append(["**restart to \"recovered\"** (relayd's log line; 1st / 2nd restart)",
                 *both(lambda p: two(p, lambda x: secs(x.get("recovered_s")))
                       + (f" ({num(p['restart']['recovered'])} messages)"
                          if (p.get("restart") or {}).get("recovered") else "")
                       if (p.get("restart") or {}).get("recovered_s") is not None
                       else ("– (`postfix start` returned after "
                             + two(p, lambda x: secs(x.get("start_cmd_s"))) + ")"
                             if (p.get("restart") or {}).get("start_cmd_s") else "–"))])
    rows.append(["**restart to the first 220** (1st / 2nd restart)",
                 *both(lambda p: two(p, lambda x: secs(x.get("first_220_s"))))])
    rows.append(["**drain after the destination recovers**, msgs/s",
                 *both(lambda p: (f"{ph(p, 'drain')['drain_rate']:,.0f} "
                                  f"({ph(p, 'drain')['drain_s']:.1f} s)")
                       if ph(p, "drain").get("drain_rate") else ph(p, "drain").get("status", "–"))])
    rows.append(["drain: while fresh mail flows / alone after, msgs/s",
                 *both(lambda p: (f"{ph(p, 'drain')['drain_with_fresh_rate']:,.0f} / "
                                  + (f"{ph(p, 'drain')['drain_alone_rate']:,.0f} "
                                     f"({num(ph(p, 'drain')['drain_alone_msgs'])} messages)"
                                     if ph(p, "drain").get("drain_alone_rate") else "–"))
                       if ph(p, "drain").get("drain_with_fresh_rate") else "–")])
    rows.append(["fresh mail during the drain: end-to-end / empty queue",
                 *both(lambda p: runs_ratio(ph(p, "drain").get("runs"), base(p, "fresh_e2e")))])
    for name, title in (("steady", "steady retries"), ("flush_fresh", "the flush (1 KiB)"),
                        ("flush_big", "the flush (300 KiB)"), ("drain", "the drain")):
        rows.append([f"greetings during {title}",
                     *both(lambda p, name=name: greet_txt(ph(p, name).get("greeting")))])
    rows.append(["**nothing lost or duplicated** at the sinks",
                 *both(lambda p: ("yes" if p["check"]["ok"] else
                                  "**no**: " + "; ".join(p["check"]["problems"]))
                       if p.get("check") else p.get("status", "–"))])
    rows.append(["others' CPU (other work on the machine), worst phase",
                 *both(lambda p: num(max((x.get("others_pct") or 0 for x in
                                          (p.get("phases") or {}).values()), default=None),
                                     0, " %"))])
    rows.append(["time taken by this peer",
                 *both(lambda p: num((p.get("seconds") or 0) / 60, 1, " min"))])
    return rows


def targets(entry) -> list:
    out = []
    for name, p in ordered(entry["peers"]):
        g = ((p.get("phases") or {}).get("listing") or {}).get("greeting") or {}
        if g.get("probes"):
            met = g.get("max_ms") is not None and g["max_ms"] <= 10 and not g.get("failed")
            out.append((f"{name}: no greeting waits more than 10 ms while "
                        f"`{'relayctl queue' if name == 'relayd' else 'postqueue -p'}` runs",
                        greet_txt(g), met))
        if p.get("check"):
            c = p["check"]
            out.append((f"{name}: nothing lost or duplicated at the sinks",
                        f"{c['drained']:,} of {c['queued']:,} backlog messages and "
                        f"{c['fresh_sink']:,} fresh ones counted, each once"
                        if c["ok"] else "; ".join(c["problems"]), c["ok"]))
    return out


def block_device(path: Path) -> str:
    """The name in /proc/diskstats of the device holding PATH ("" unknown)."""
    try:
        st = os.stat(path)
        name = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}").resolve().name
    except OSError:
        return ""
    return name


def disk_io(dev: str) -> dict:
    """The machine's I/O stall time (/proc/pressure/io, "some", µs) and DEV's
    counters (/proc/diskstats: reads, sectors read, writes, sectors written,
    flushes) now."""
    out = {}
    try:
        with open("/proc/pressure/io") as f:
            for line in f:
                if line.startswith("some"):
                    out["stall_us"] = int(line.rsplit("total=", 1)[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/proc/diskstats") as f:
            for line in f:
                v = line.split()
                if len(v) >= 14 and v[2] == dev:
                    out.update(reads=int(v[3]), rsect=int(v[5]), writes=int(v[7]),
                               wsect=int(v[9]), flushes=int(v[18]) if len(v) >= 20 else None)
    except (OSError, ValueError):
        pass
    return out


def disk_between(a: dict, b: dict, seconds: float) -> dict:
    """Per phase: % of its time some task stalled on I/O, and the disk's
    reads/s, writes/s, MB/s each way, flushes/s."""
    out = {}
    if seconds <= 0:
        return out
    if "stall_us" in a and "stall_us" in b:
        out["io_stall_pct"] = 100.0 * (b["stall_us"] - a["stall_us"]) / 1e6 / seconds
    if "reads" in a and "reads" in b:
        out["disk"] = dict(
            reads_s=(b["reads"] - a["reads"]) / seconds,
            writes_s=(b["writes"] - a["writes"]) / seconds,
            read_mb_s=(b["rsect"] - a["rsect"]) * 512 / 1e6 / seconds,
            write_mb_s=(b["wsect"] - a["wsect"]) * 512 / 1e6 / seconds,
            flushes_s=((b["flushes"] - a["flushes"]) / seconds
                       if a.get("flushes") is not None and b.get("flushes") is not None
                       else None))
    return out


def disk_txt(ph) -> str:
    """iowait % / I/O stall % / disk reads, writes, flushes a second."""
    d = ph.get("disk") or {}
    if not d and ph.get("io_stall_pct") is None:
        return "–"          # a run from before these were recorded
    parts = [num(ph.get("iowait_pct"), 0), num(ph.get("io_stall_pct"), 0)]
    if d:
        parts.append(f"{d['reads_s']:,.0f} r, {d['writes_s']:,.0f} w"
                     + (f", {d['flushes_s']:,.0f} f" if d.get("flushes_s") is not None else ""))
    return " / ".join(parts)


def phases_table(p) -> str:
    rows = []
    for name, ph in (p.get("phases") or {}).items():
        if "seconds" not in ph:
            rows.append((name, ph.get("status", ""), "", "", "", "", "", "", "", ""))
            continue
        g = ph.get("greeting") or {}
        rows.append((name, f"{ph['seconds']:.1f}", f"{ph['relay_cpu_s']:.1f}",
                     num(ph.get("relay_cpu_pct"), 0), f"{ph['attempts']:,}",
                     f"{ph['sent_blocked']:,} / {ph['sent_fresh']:,}",
                     (f"{g['p50_ms']:.1f} / {g['max_ms']:.1f}" if g.get("max_ms") is not None
                      else "–"),
                     num(ph.get("others_pct"), 0), disk_txt(ph), parts_txt(ph, 4)[2:-1]))
    return bench.md_table(("phase", "s", "relay CPU s", "% of a core", "retry attempts",
                           "sent backlog / fresh", "greeting p50 / max ms", "others' CPU %",
                           "iowait % / I/O stall % / disk ops/s", "CPU s by part"), rows,
                          "lrrrrrrrrl")


def section(entries: dict, versions: dict = None) -> str:
    """The backlog section of results.md, one part per N."""
    L = [BEGIN, "## Backlog (issue 13): N messages for a destination that answers 450 to "
         "every RCPT, fresh mail alongside\n"]
    if not entries:
        L += ["not measured\n", END]
        return "\n".join(L)
    L.append("relayd and Postfix one after the other, same machine, same sinks; see "
             "[README.md](README.md), \"The backlog section\", for how each figure is measured. "
             "Ratios are to the same peer's empty-queue rate in the same run.\n")
    for key in sorted(entries, key=int):
        e = entries[key]
        n = e["n"]
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.get("started", 0)))
        took = (e.get("ended", e.get("started", 0)) - e.get("started", 0)) / 60
        L.append(f"### N = {n:,}\n")
        if e.get("refused"):
            L.append(f"Refused ({when}): {e['refused']}.\n")
            continue
        runs = {name: p["run"] for name, p in ordered(e["peers"]) if p.get("run")}
        if len({r.get("started") for r in runs.values()}) > 1:
            # peers measured in separate runs (bench.py --backlog-peers)
            def run_txt(name, r):
                w = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.get("started") or 0))
                t = ((r.get("ended") or r.get("started") or 0) - (r.get("started") or 0)) / 60
                return f"{name} run {w}, took {t:.1f} min, relayd git {r.get('relayd_git', '?')}"
            L.append("Peers measured one at a time (`--backlog-peers`), same machine, same "
                     "sinks: " + "; ".join(run_txt(nm, r) for nm, r in runs.items())
                     + f"; retry interval {e['period']} s for both"
                     + (" — QUICK smoke run, not a measurement" if e.get("quick") else "")
                     + ".\n")
        else:
            L.append(f"Run {when}, took {took:.1f} min; relayd git {e.get('relayd_git', '?')}; "
                     f"retry interval {e['period']} s for both"
                     + (" — QUICK smoke run, not a measurement" if e.get("quick") else "")
                     + ".\n")
        tg = targets(e)
        if tg:
            L.append(bench.md_table(("target (issue 13)", "measured", "met"),
                                    [(a, b, "**met**" if c else "**not met**")
                                     for a, b, c in tg], "lll"))
            L.append("")
        L.append(bench.md_table(("figure", "relayd", "Postfix"), rows_for(e), "lll"))
        L.append("")
        notes = [(name, x) for name, p in ordered(e["peers"])
                 for x in p.get("notes", [])]
        for name, p in ordered(e["peers"]):
            if p.get("status", "ok") != "ok":
                notes.append((name, p["status"]))
        if notes:
            L.append("Notes: " + "; ".join(f"{a}: {b}" for a, b in notes) + ".\n")
        for name, p in ordered(e["peers"]):
            L.append(f"<details><summary>{name}: every phase</summary>\n")
            L.append(phases_table(p))
            if p.get("inject_cmd"):
                L.append(f"\nBacklog injected with `{p['inject_cmd']}`.")
            if p.get("config"):
                L.append(f"\n{name} configuration:\n")
                L.append("\n".join("    " + line for line in p["config"].splitlines()))
            L.append("\n</details>\n")
    L.append(END)
    return "\n".join(L)


def summary(entries: dict) -> str:
    L = []
    for key in sorted(entries or {}, key=int):
        e = entries[key]
        L.append(f"backlog N = {e['n']:,}:" + (f" {e['refused']}" if e.get("refused") else ""))
        if e.get("refused"):
            continue
        w = max(len(r[0]) for r in rows_for(e))
        for r in rows_for(e):
            L.append(f"  {r[0].replace('**', ''):<{w}}  relayd: {r[1]}")
            L.append(f"  {'':<{w}}  postfix: {r[2]}")
    return "\n".join(L)


def merge_md(old: str, sec: str) -> str:
    """OLD results.md with its backlog section replaced by SEC (or SEC put
    before "## Machine", or at the end)."""
    if BEGIN in old and END in old:
        a = old.index(BEGIN)
        b = old.index(END) + len(END)
        return old[:a] + sec + old[b:]
    if "\n## Machine" in old:
        i = old.index("\n## Machine") + 1
        return old[:i] + sec + "\n\n" + old[i:]
    return old.rstrip("\n") + "\n\n" + sec + "\n"


def load_previous(out: Path) -> dict:
    try:
        return json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return {}
