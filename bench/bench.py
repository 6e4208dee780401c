#!/usr/bin/python3
"""
bench.py -- `make bench`: relayd against Postfix, side by side, on loopback.

  /usr/bin/python3 bench/bench.py --relayd build/relayd            full run
  /usr/bin/python3 bench/bench.py --relayd build/relayd --quick    smoke test
  /usr/bin/python3 bench/bench.py --relayd build/relayd --profile  where relayd
                                                  spends its time at 1 KiB c=50

    smtp-source -m MSGS -s CONC -l SIZE -r 1 [-d] --> relay --> smtp-sink -c

One smtp-sink (Postfix's test server, answers at once) is the destination of
every run. The relay is relayd (one process), a private Postfix instance
(`postfix -c DIR`, default durability) or nothing ("direct": smtp-source
straight into the sink, the ceiling of this machine). Every cell of the
matrix (1 KiB / 100 KiB, concurrency 1 / 10 / 50, a connection per message /
connections reused with -d) starts both relays fresh with empty queues, runs
one discarded warm-up per peer, then REPEATS rounds of direct, relayd,
Postfix, interleaved so that drift hits all of them alike.

  acceptance rate  = MSGS / time until smtp-source exited (every 250 received)
  end-to-end rate  = MSGS / time until the sink counted MSGS more messages
                     (its -c counters, polled every 10 ms)

Then relayd alone: RSS idle and with 1,000 / 10,000 idle inbound sessions,
the time from exec to "queue: recovered 10000 messages" for a spool of 10,000
queued messages, and the spool syscalls per message (strace -c).

Everything lives under /var/tmp/relayd-bench (root, 0755); the system's
/etc/postfix is never read or written. Every process started is stopped by
its pid (Postfix with `postfix -c DIR stop`), also on errors and Ctrl-C.
Results: OUT/results.md and OUT/results.json (OUT = bench/ for a full run),
and a summary on stdout. Needs root (Postfix starts as root; smtp-sink runs
with -u nobody).
"""

import argparse
import datetime
import fcntl
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASE = Path("/var/tmp/relayd-bench")
SENDER = "bench-sender@source.example"
RCPT = "bench-rcpt@dest.example"
HOSTNAME = "relay-bench.localdomain"
SIZES = (1024, 102400)
CONCS = (1, 10, 50)
MODES = ("new", "reuse")          # a connection per message / smtp-source -d
PEERS = ("direct", "relayd", "postfix")
POLL = 0.010                      # sink counter poll interval, seconds
MEM_EVERY = 0.5                   # memory sample interval during a run
STALL = 30.0                      # no progress this long: the run failed
NOFILE = 65536                    # RLIMIT_NOFILE for relayd and our client
FOREIGN_MAX = 10.0                # % of the machine used by others: run again
WAITED = 0.0                      # seconds spent waiting for other work to stop
WAIT_BUDGET = 1800.0              # at most this much waiting in one run

# Full run: each run's message count = its warm-up's rate x RUN_SECONDS,
# rounded, within [min, max] per size. Quick run: fixed tiny counts.
FULL = dict(repeats=3, run_seconds=5.0, pause=1.0, warmup={1024: 1000, 102400: 400},
            min={1024: 2000, 102400: 1000}, max={1024: 60000, 102400: 20000},
            sessions=(1000, 10000), recover=10000, recover_warm=3, recover_cold=True,
            restart_per_cell=True, quiet_wait=300, quiet_sample=1.0, retries=2)
QUICK = dict(repeats=1, run_seconds=None, pause=0.2, warmup=None,
             fixed={1024: 200, 102400: 60},
             sessions=(100, 1000), recover=1000, recover_warm=1, recover_cold=False,
             restart_per_cell=False, quiet_wait=0, quiet_sample=0.2, retries=0)

TARGETS_TEXT = {
    "e2e_1k_c10": "end-to-end ≥ 3× Postfix, 1 KiB, c=10",
    "e2e_1k_c50": "end-to-end ≥ 3× Postfix, 1 KiB, c=50",
    "e2e_100k_c10": "end-to-end ≥ 2× Postfix, 100 KiB, c=10",
    "direct_1k_c50": "end-to-end ≥ ½ direct, 1 KiB, c=50",
    "idle_kib": "≤ 16 KiB RSS per idle inbound session",
    "recover": "10,000 queued messages recovered in < 2 s",
    "durable": "250 only after the data is synced (fsync/fdatasync)",
}


def log(msg: str):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class BenchError(Exception):
    pass


# ---- small helpers ---------------------------------------------------------

def run(cmd, check=True, env=None, timeout=60) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise BenchError(f"{' '.join(map(str, cmd))}: exit {p.returncode}\n{p.stdout}{p.stderr}")
    return p


def which(name: str) -> str:
    for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        p = Path(d) / name
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    found = shutil.which(name)
    if not found:
        raise BenchError(f"{name} not found (Debian package postfix: `make bench` installs it)")
    return found


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(NOFILE, soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def free_port(prefer: int) -> int:
    for port in (prefer, 0):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return s.getsockname()[1]
        except OSError:
            continue
        finally:
            s.close()
    raise BenchError("no free port")


def greets(port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            return s.recv(512).startswith(b"220")
    except OSError:
        return False


def cpustat():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # total (no guest), idle, iowait, user+nice+system (what processes are charged)
    return sum(v[:8]), v[3], v[4], v[0] + v[1] + v[2]


HZ = os.sysconf("SC_CLK_TCK")


def tree_ticks(root: int) -> int:
    """CPU ticks (user+system, all threads) of ROOT and its live descendants,
    plus the descendants ROOT already reaped (its cutime/cstime)."""
    total = 0
    for pid in tree(root):
        try:
            with open(f"/proc/{pid}/stat") as f:
                v = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(v[11]) + int(v[12])
        if pid == root:
            total += int(v[13]) + int(v[14])
    return total


def others_ticks(exclude) -> dict:
    """{pid: CPU ticks of it and its reaped children} for every user-space
    process outside EXCLUDE (kernel threads are left out: most of their work
    here is the bench's own disk and network I/O)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in exclude:
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                v = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if v[1] in ("0", "2") or d == "2":
            continue
        out[int(d)] = int(v[11]) + int(v[12]) + int(v[13]) + int(v[14])
    return out


def cpu_between(a, b):
    total = b[0] - a[0]
    if total <= 0:
        return None, None
    return (100.0 * (total - (b[1] - a[1]) - (b[2] - a[2])) / total,
            100.0 * (b[2] - a[2]) / total)


def ppid_map():
    m = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    m[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return m


def tree(root: int):
    """ROOT and every descendant."""
    pm = ppid_map()
    kids = {}
    for pid, pp in pm.items():
        kids.setdefault(pp, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if p in pm:
            out.append(p)
            todo.extend(kids.get(p, []))
    return out


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def mem_of(pids):
    return sum(rss_kib(p) for p in pids), sum(pss_kib(p) for p in pids), len(pids)


def nice_count(x: float, lo: int, hi: int) -> int:
    x = max(lo, min(hi, x))
    mag = 10 ** max(0, len(str(int(x))) - 2)          # two significant digits
    return int(max(lo, min(hi, round(x / mag) * mag)))


def kib(size: int) -> str:
    return f"{size // 1024} KiB"


# ---- the sink -------------------------------------------------------------

class Sink:
    """smtp-sink -c: its running counters go to a file opened O_APPEND, so
    the file can be truncated between runs while the sink keeps writing.
    NAME names its directory and pid file under BASE; OPTIONS are more
    smtp-sink options (the backlog's blocked sink: -r RCPT)."""

    def __init__(self, port: int, name: str = "sink", options=()):
        self.port = port
        self.name = name
        self.dir = BASE / name
        self.counters = self.dir / "counters"
        self.proc = None
        self.last = 0
        self.cmd = ([which("smtp-sink"), "-c", "-u", "nobody", *options, f"127.0.0.1:{port}",
                     "1024"])

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.counters.write_bytes(b"")
        out = open(self.counters, "ab")
        err = open(self.dir / "stderr", "ab")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                     start_new_session=True)
        out.close()
        err.close()
        (BASE / f"{self.name}.pid").write_text(f"{self.proc.pid}\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"smtp-sink exited: {(self.dir / 'stderr').read_text()}")
            if greets(self.port):
                return
            time.sleep(0.05)
        raise BenchError("smtp-sink did not answer within 10 s")

    def count(self) -> int:
        """Messages the sink received since it started."""
        try:
            with open(self.counters, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                if size:
                    f.seek(max(0, size - 256))
                    found = re.findall(rb"mesg=(\d+)\r", f.read())
                    if found:
                        self.last = max(self.last, int(found[-1]))
        except OSError:
            pass
        return self.last

    def reset(self):
        self.count()
        os.truncate(self.counters, 0)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        (BASE / f"{self.name}.pid").unlink(missing_ok=True)


# ---- the relays ------------------------------------------------------------

class Direct:
    name = "direct"

    def __init__(self, sink: Sink):
        self.port = sink.port

    def start(self):
        pass

    def stop(self):
        pass

    def pids(self):
        return []

    def cpu_ticks(self):
        return None


RELAYD_CONF = """\
# written by bench/bench.py: everything to the sink, default durability.
hostname = "{hostname}"
spool = "{spool}"

listen "bench" {{
	address = "127.0.0.1"
	port = {port}
	allow = {{ "127.0.0.0/8" }}
	# the idle-session measurement opens 10,000 sessions
	max_clients = 20000
}}

transport "sink" {{
	relay = {{ "[127.0.0.1]:{sink}" }}
	tls = "none"
	# like Postfix's default_destination_concurrency_limit
	max_connections = 20
}}

route "*" {{
	transport = "sink"
}}
"""


class Relayd:
    name = "relayd"
    label = "relayd"          # its directory and pid file under BASE

    def __init__(self, binary: Path, port: int, sink_port: int):
        self.dir = BASE / self.label
        self.bin = self.dir / "relayd"
        self.conf = self.dir / "relayd.conf"
        self.spool = self.dir / "spool"
        self.logfile = self.dir / "relayd.log"
        self.port = port
        self.sink_port = sink_port
        self.proc = None
        self.dir.mkdir(parents=True, exist_ok=True)
        # A private copy: other work may rebuild build/relayd meanwhile.
        shutil.copy2(binary, self.bin)
        self.write_conf(sink_port)

    def write_conf(self, sink_port: int):
        self.conf.write_text(RELAYD_CONF.format(hostname=HOSTNAME, spool=self.spool,
                                                port=self.port, sink=sink_port))

    def cmd(self):
        return [str(self.bin), "-d", "-f", str(self.conf)]

    def start(self, fresh: bool = True, wait: bool = True):
        if fresh:
            shutil.rmtree(self.spool, ignore_errors=True)
        logf = open(self.logfile, "wb")
        t0 = time.time()
        self.proc = subprocess.Popen(self.cmd(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=logf,
                                     start_new_session=True, preexec_fn=raise_nofile)
        logf.close()
        (BASE / f"{self.label}.pid").write_text(f"{self.proc.pid}\n")
        if wait:
            self.wait_listening()
        return t0

    def wait_listening(self, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"relayd exited {self.proc.returncode}:\n{self.log_tail()}")
            if "listening on" in self.log_head():
                return
            time.sleep(0.01)
        raise BenchError(f"relayd did not listen within {timeout:g} s:\n{self.log_tail()}")

    def log_head(self, n: int = 65536) -> str:
        try:
            with open(self.logfile, "rb") as f:
                return f.read(n).decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 4000) -> str:
        try:
            with open(self.logfile, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - n))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def pids(self):
        return [self.proc.pid] if self.proc and self.proc.poll() is None else []

    def cpu_ticks(self):
        return tree_ticks(self.proc.pid) if self.proc else None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


POSTFIX_REMOVED = {"local", "virtual", "lmtp", "tlsmgr", "maildrop", "uucp", "ifmail", "bsmtp",
                   "scalemail-backend", "mailman"}

# Debian 12's master.cf (postfix 3.7) with the changes below; used only when
# /usr/share/postfix/master.cf.dist is missing.
MASTER_FALLBACK = """\
smtp      inet  n       -       y       -       -       smtpd
pickup    unix  n       -       y       60      1       pickup
cleanup   unix  n       -       y       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       y       -       -       trivial-rewrite
bounce    unix  -       -       y       -       0       bounce
defer     unix  -       -       y       -       0       bounce
trace     unix  -       -       y       -       0       bounce
verify    unix  -       -       y       -       1       verify
flush     unix  n       -       y       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       y       -       -       smtp
relay     unix  -       -       y       -       -       smtp
        -o syslog_name=postfix/$service_name
showq     unix  n       -       y       -       -       showq
error     unix  -       -       y       -       -       error
retry     unix  -       -       y       -       -       error
discard   unix  -       -       y       -       -       discard
anvil     unix  -       -       y       -       1       anvil
scache    unix  -       -       y       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def master_cf(listen: str) -> str:
    """Debian's shipped master.cf: smtpd on LISTEN instead of port 25, chroot
    n everywhere, no local/virtual/lmtp/tlsmgr and no pipe(8) examples."""
    dist = Path("/usr/share/postfix/master.cf.dist")
    text = dist.read_text() if dist.is_file() else MASTER_FALLBACK
    out, keep = [], False
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line[0].isspace():                 # continuation of the entry above
            if keep:
                out.append(line)
            continue
        f = line.split()
        keep = f[0] not in POSTFIX_REMOVED
        if not keep:
            continue
        if f[0] == "smtp" and f[1] == "inet":
            f[0] = listen
        f[4] = "n"                            # chroot
        out.append(f"{f[0]:<9} {f[1]:<5} " + " ".join(f"{x:<7}" for x in f[2:7]).rstrip()
                   + " " + " ".join(f[7:]))
    return ("# written by bench/bench.py: Debian's master.cf, smtpd on " + listen +
            ", chroot n,\n# without local, virtual, lmtp, tlsmgr and the pipe(8) examples.\n"
            + "\n".join(out) + "\n")


class Postfix:
    name = "postfix"
    label = "postfix"         # its directory under BASE

    def __init__(self, port: int, sink_port: int):
        self.dir = BASE / self.label
        self.etc = self.dir / "etc"
        self.spool = self.dir / "spool"
        self.data = self.dir / "data"
        self.logdir = self.dir / "log"
        self.port = port
        self.sink_port = sink_port
        self.started = False
        self.env = dict(os.environ, MAIL_CONFIG=str(self.etc))

    def settings(self):
        # Every setting that differs from `postconf -d` (or pins it), as in
        # /work/shared/peer-baseline.md.
        return [
            ("compatibility_level", "3.6"),
            ("queue_directory", str(self.spool)),
            ("data_directory", str(self.data)),
            ("maillog_file", str(self.logdir / "maillog")),
            ("myhostname", HOSTNAME),
            ("mydomain", "localdomain"),
            ("myorigin", "$myhostname"),
            ("inet_interfaces", "loopback-only"),
            ("inet_protocols", "ipv4"),
            ("smtp_dns_support_level", "disabled"),
            ("smtp_host_lookup", "native"),
            ("smtpd_peername_lookup", "no"),
            ("biff", "no"),
            ("mydestination", ""),
            ("local_recipient_maps", ""),
            ("relay_domains", ""),
            ("alias_maps", ""),
            ("alias_database", ""),
            ("local_transport", "error:local delivery disabled"),
            ("mynetworks", "127.0.0.0/8"),
            ("mynetworks_style", "host"),
            ("smtpd_relay_restrictions", "permit_mynetworks, reject"),
            ("smtpd_recipient_restrictions", ""),
            ("default_transport", "smtp"),
            ("relayhost", f"[127.0.0.1]:{self.sink_port}"),
            ("default_destination_concurrency_limit", "20"),
            ("smtp_destination_concurrency_limit", "20"),
            ("smtp_connection_cache_on_demand", "yes"),
            ("smtpd_tls_security_level", "none"),
            ("smtp_tls_security_level", "none"),
        ]

    def main_cf(self) -> str:
        return ("# written by bench/bench.py (settings as in peer-baseline.md)\n"
                + "".join(f"{k} = {v}\n" for k, v in self.settings()))

    def setup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        for d in (self.dir, self.etc, self.spool, self.data, self.logdir):
            d.mkdir(mode=0o755, parents=True, exist_ok=True)
            os.chmod(d, 0o755)
        shutil.chown(self.data, "postfix", "postfix")
        (self.etc / "main.cf").write_text(self.main_cf())
        (self.etc / "master.cf").write_text(master_cf(f"127.0.0.1:{self.port}"))

    def start(self):
        self.setup()
        run([which("postfix"), "-c", str(self.etc), "start"], env=self.env)
        self.started = True
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if greets(self.port):
                return
            time.sleep(0.05)
        raise BenchError(f"Postfix did not answer on 127.0.0.1:{self.port} within 30 s\n"
                         f"{self.log_tail()}")

    def master_pid(self):
        try:
            return int((self.spool / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def pids(self):
        pid = self.master_pid()
        return tree(pid) if pid else []

    def cpu_ticks(self):
        pid = self.master_pid()
        return tree_ticks(pid) if pid else None

    def log_tail(self, n: int = 4000) -> str:
        try:
            with open(self.logdir / "maillog", "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - n))
                return f.read().decode(errors="replace")
        except OSError:
            return "(no maillog)"

    def stop(self):
        if not self.started and not (self.etc / "main.cf").exists():
            return
        self.started = False
        pid = self.master_pid()
        run([which("postfix"), "-c", str(self.etc), "stop"], check=False, env=self.env)
        if pid:
            deadline = time.monotonic() + 15
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


# ---- one run ------------------------------------------------------------------

def source_cmd(port: int, msgs: int, conc: int, size: int, reuse: bool):
    return ([which("smtp-source"), "-m", str(msgs), "-s", str(conc), "-l", str(size), "-r", "1",
             "-f", SENDER, "-t", RCPT] + (["-d"] if reuse else []) + [f"127.0.0.1:{port}"])


RUNNING = []   # smtp-source processes, for the cleanup on errors


def run_one(peer, sink: Sink, size: int, conc: int, reuse: bool, msgs: int) -> dict:
    sink.reset()
    start_count = sink.count()
    target = start_count + msgs
    errpath = BASE / "smtp-source.err"
    errf = open(errpath, "wb")
    cmd = source_cmd(peer.port, msgs, conc, size, reuse)
    res = dict(peer=peer.name, size=size, conc=conc, mode="reuse" if reuse else "new",
               msgs=msgs, status="ok")
    acc = {}
    peak = (0, 0, 0)
    ours = {os.getpid(), sink.proc.pid} | set(peer.pids())
    others0 = others_ticks(ours)
    peer0 = peer.cpu_ticks()
    c0 = cpustat()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf,
                            start_new_session=True)
    RUNNING.append(proc)
    errf.close()

    def waiter():
        # wait4 for the client's CPU time; Popen learns the status from us
        _, status = os.waitpid(proc.pid, 0)
        acc["t"] = time.monotonic()
        proc.returncode = os.waitstatus_to_exitcode(status)

    th = threading.Thread(target=waiter, daemon=True)
    th.start()
    t_e2e = None
    last_n, last_change, next_mem = start_count, t0, t0
    while True:
        time.sleep(POLL)
        now = time.monotonic()
        n = sink.count()
        if n != last_n:
            last_n, last_change = n, now
        if t_e2e is None and n >= target:
            t_e2e = now
        if now >= next_mem and peer.name != "direct":
            m = mem_of(peer.pids())
            peak = tuple(max(a, b) for a, b in zip(peak, m))
            next_mem = now + MEM_EVERY
        if t_e2e is not None and "t" in acc:
            break
        if "t" in acc and proc.returncode != 0:
            res["status"] = f"smtp-source exit {proc.returncode}"
            break
        if now - last_change > STALL:
            res["status"] = (f"stalled: sink counted {n - start_count} of {msgs} "
                             f"after {now - t0:.0f} s")
            break
    c1 = cpustat()
    peer1 = peer.cpu_ticks()
    others1 = others_ticks(ours | set(peer.pids()) | {proc.pid})
    if "t" not in acc:
        proc.terminate()
    th.join(10)
    RUNNING.remove(proc)
    err = errpath.read_text(errors="replace").strip()
    if err:
        res["source_stderr"] = err[-2000:]
        if res["status"] == "ok" and re.search(r"fatal|error", err):
            res["status"] = "smtp-source reported errors"
    res["cpu_busy"], res["iowait"] = cpu_between(c0, c1)
    total = c1[0] - c0[0]
    if total > 0:
        # CPU of processes that are not the bench's: other people's work on
        # the machine, which skews the run
        used = sum(t - others0.get(p, 0) for p, t in others1.items())
        res["foreign"] = max(0.0, 100.0 * used / total)
    if peer0 is not None and peer1 is not None:
        # the relay's own CPU (all its processes and threads) per message
        res["relay_cpu_us"] = (peer1 - peer0) / HZ * 1e6 / msgs
    if res["status"] == "ok":
        res["accept_s"] = acc["t"] - t0
        res["e2e_s"] = t_e2e - t0
        res["accept_rate"] = msgs / res["accept_s"]
        res["e2e_rate"] = msgs / res["e2e_s"]
    if peer.name != "direct":
        res["rss_peak_kib"], res["pss_peak_kib"], res["procs_peak"] = peak
    return res


def fmt_run(r: dict) -> str:
    if r["status"] != "ok":
        return f"{r['peer']:7} FAILED: {r['status']}"
    return (f"{r['peer']:7} {r['msgs']:6} msgs  accept {r['accept_rate']:7.0f}/s  "
            f"end-to-end {r['e2e_rate']:7.0f}/s  cpu {r['cpu_busy']:3.0f}%"
            + (f"  {r['relay_cpu_us']:4.0f} µs/msg" if r.get("relay_cpu_us") else "")
            + (f" (others {r['foreign']:.0f}%)" if r.get("foreign", 0) >= 3 else ""))


# ---- the matrix ------------------------------------------------------------

def matrix(cfg, sink, relayd, postfix, cells, runs: list):
    peers = {"direct": Direct(sink), "relayd": relayd, "postfix": postfix}
    started = False
    for mode in MODES:
        for size in SIZES:
            for conc in CONCS:
                if cells and f"{size // 1024}k:{conc}:{mode}" not in cells:
                    continue
                reuse = mode == "reuse"
                bg = wait_quiet(max_wait=cfg["quiet_wait"], sample=cfg["quiet_sample"])
                log(f"cell {kib(size)} c={conc} {mode} (machine {bg:.0f}% busy before it)")
                if cfg["restart_per_cell"] or not started:
                    relayd.stop()
                    postfix.stop()
                    relayd.start()
                    postfix.start()
                    started = True
                counts = {}
                for name in PEERS:
                    if cfg["warmup"]:
                        w = run_one(peers[name], sink, size, conc, reuse, cfg["warmup"][size])
                        if w["status"] != "ok":
                            log(f"  warm-up {fmt_run(w)}")
                            w["warmup"] = True
                            runs.append(w)
                            counts[name] = cfg["min"][size]
                            restart(peers[name])
                        else:
                            counts[name] = nice_count(w["e2e_rate"] * cfg["run_seconds"],
                                                      cfg["min"][size], cfg["max"][size])
                        time.sleep(cfg["pause"])
                    else:
                        counts[name] = cfg["fixed"][size]
                for rep in range(cfg["repeats"]):
                    for name in PEERS:
                        # a run during which other work took much CPU is run again
                        for attempt in range(1 + cfg["retries"]):
                            r = run_one(peers[name], sink, size, conc, reuse, counts[name])
                            r["repeat"], r["attempt"], r["background"] = rep + 1, attempt + 1, bg
                            log(f"  {rep + 1}: {fmt_run(r)}")
                            if r["status"] != "ok":
                                restart(peers[name])
                            time.sleep(cfg["pause"])
                            if (r["status"] != "ok" or r.get("foreign", 0) <= FOREIGN_MAX
                                    or WAITED >= WAIT_BUDGET or attempt == cfg["retries"]):
                                break
                            r["superseded"] = True      # kept in results.json only
                            runs.append(r)
                            log(f"     other work took {r['foreign']:.0f}% of the machine "
                                "during that run: again")
                            wait_quiet(max_wait=cfg["quiet_wait"], sample=cfg["quiet_sample"])
                        runs.append(r)


def restart(peer):
    """After a failed run: a fresh peer, so leftovers do not reach the sink
    during the next run."""
    if peer.name == "direct":
        return
    peer.stop()
    peer.start()


# ---- relayd alone: idle sessions, recovery, syscalls -----------------------

def idle_sessions(relayd: Relayd, counts) -> dict:
    log(f"idle sessions: {', '.join(map(str, counts))}")
    raise_nofile()
    relayd.stop()
    relayd.start()
    time.sleep(1.0)
    pid = relayd.proc.pid
    out = dict(idle_rss_kib=rss_kib(pid), points=[])
    socks = []
    try:
        for n in counts:
            while len(socks) < n:
                s = socket.create_connection(("127.0.0.1", relayd.port), timeout=10)
                buf = b""
                while b"\r\n" not in buf:
                    chunk = s.recv(512)
                    if not chunk:
                        break
                    buf += chunk
                if not buf.startswith(b"220"):
                    s.close()
                    raise BenchError(f"session {len(socks) + 1}: relayd answered {buf[:200]!r}")
                socks.append(s)
            time.sleep(1.0)
            rss = rss_kib(pid)
            out["points"].append(dict(sessions=n, rss_kib=rss,
                                      kib_per_session=(rss - out["idle_rss_kib"]) / n))
            log(f"  {n} sessions: RSS {rss} KiB ({(rss - out['idle_rss_kib']) / n:.1f} KiB each)")
    finally:
        for s in socks:
            s.close()
    time.sleep(0.5)
    out["after_close_rss_kib"] = rss_kib(pid)
    relayd.stop()
    return out


def log_time(line: str):
    """The wall-clock time of a relayd -d log line (local time, ms)."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}) ", line)
    if not m:
        return None
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp()


def recovery(cfg, relayd: Relayd) -> dict:
    n = cfg["recover"]
    log(f"recovery: queueing {n} messages with the sink unreachable")
    # A bound socket that never listens: every connect is refused, and no
    # one else can take the port meanwhile.
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    out = dict(messages=n, runs=[])
    try:
        relayd.stop()
        relayd.write_conf(dead.getsockname()[1])
        relayd.start()
        cmd = source_cmd(relayd.port, n, 20, 1024, True)
        out["fill_cmd"] = " ".join(cmd)
        t0 = time.monotonic()
        p = run(cmd, timeout=600)
        out["fill_s"] = time.monotonic() - t0
        if p.stderr.strip():
            raise BenchError(f"queueing for the recovery test: {p.stderr[-2000:]}")
        relayd.stop()
        # Small messages are journal records (log/N.log), not files; the
        # count is checked against what relayd says it recovered, below.
        kinds = ["warm"] * cfg["recover_warm"] + (["cold"] if cfg["recover_cold"] else [])
        for kind in kinds:
            if kind == "cold":
                os.sync()
                Path("/proc/sys/vm/drop_caches").write_text("3\n")
            t_exec = relayd.start(fresh=False, wait=False)
            want = f"queue: recovered {n} messages"
            deadline = time.monotonic() + 120
            rec = lis = None
            while time.monotonic() < deadline and not (rec and lis):
                if relayd.proc.poll() is not None:
                    raise BenchError(f"relayd exited during recovery:\n{relayd.log_tail()}")
                for line in relayd.log_head(1 << 20).splitlines():
                    if rec is None and "queue: recovered" in line:
                        if want not in line:
                            raise BenchError(f"recovery: relayd said {line!r}, want {want!r}")
                        rec = log_time(line)
                    if lis is None and "listening on" in line:
                        lis = log_time(line)
                time.sleep(0.005)
            relayd.stop()
            if not (rec and lis):
                raise BenchError(f"recovery: no '{want}' / 'listening on' within 120 s")
            r = dict(cache=kind, recovered_s=rec - t_exec, listening_s=lis - t_exec)
            out["runs"].append(r)
            log(f"  {kind}: recovered after {r['recovered_s'] * 1000:.0f} ms, "
                f"listening after {r['listening_s'] * 1000:.0f} ms")
    finally:
        relayd.stop()
        dead.close()
        relayd.write_conf(relayd.sink_port)
    return out


def traced_run(relayd: Relayd, sink: Sink, cmd: list, outp: Path, conc: int,
               msgs: int) -> dict:
    """Run MSGS 1 KiB messages at concurrency CONC (a connection each) with
    the running relayd traced by CMD (strace and its options) writing to
    OUTP; stop the tracer, then relayd. The run_one() result."""
    st = subprocess.Popen(cmd + ["-o", str(outp), "-p", str(relayd.proc.pid)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, start_new_session=True)
    RUNNING.append(st)
    time.sleep(1.0)
    r = run_one(relayd, sink, 1024, conc, False, msgs)
    time.sleep(0.5)
    st.send_signal(signal.SIGINT)
    try:
        st.wait(30)
    finally:
        RUNNING.remove(st)
    relayd.stop()
    return r


def syscalls(relayd: Relayd, sink: Sink, msgs: int) -> dict:
    """strace -c over relayd's threads during MSGS messages (1 KiB, c=10, a
    connection per message): spool syscalls per message."""
    log(f"syscalls per message: strace -f -c, {msgs} messages")
    strace = shutil.which("strace")
    if not strace:
        return dict(error="strace not installed (Debian package strace)")
    relayd.stop()
    relayd.start()
    warm = run_one(relayd, sink, 1024, 10, False, min(500, msgs))
    outp = BASE / "strace.txt"
    r = traced_run(relayd, sink, [strace, "-f", "-c"], outp, 10, msgs)
    calls = {}
    for line in outp.read_text().splitlines():
        f = line.split()
        if not f or not f[-1].isidentifier() or f[-1] == "total":
            continue
        # % time, seconds, usecs/call, calls, [errors], syscall
        if len(f) >= 5 and f[3].isdigit():
            calls[f[-1]] = int(f[3])
    per = {k: v / msgs for k, v in sorted(calls.items(), key=lambda kv: -kv[1])}
    order = durability_order(relayd, sink, min(msgs, 2000))
    return dict(msgs=msgs, status=r["status"], warm=warm["status"], per_message=per,
                total_per_message=sum(per.values()), raw=outp.read_text(), order=order)


_TS = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")


def durability_order(relayd: Relayd, sink: Sink, msgs: int) -> dict:
    """Trace relayd with timestamps during MSGS messages (1 KiB, c=50) and
    check, for every "250 ... queued as QID" it writes, that an fsync or
    fdatasync began after QID's data was written (its journal record, or its
    queue/ file) and returned before the 250. That is the contract's
    durability with group commit, where one sync covers many messages."""
    strace = shutil.which("strace")
    if not strace:
        return dict(error="strace not installed")
    relayd.stop()
    relayd.start()
    outp = BASE / "strace-order.txt"
    r = traced_run(relayd, sink, [strace, "-f", "-ttt", "-s", "96", "-e",
                                  "trace=write,writev,pwrite64,fsync,fdatasync,renameat2"],
                   outp, 50, msgs)
    written, acked, syncs, pending = {}, {}, [], {}
    for line in outp.read_text(errors="replace").splitlines():
        m = _TS.match(line)
        if not m:
            continue
        pid, ts, rest = m.group(1), float(m.group(2)), m.group(3)
        if rest.startswith(("fsync(", "fdatasync(")) and "<unfinished" in rest:
            pending[pid] = ts
            continue
        if rest.startswith("<... fsync resumed>") or rest.startswith("<... fdatasync resumed>"):
            if rest.rstrip().endswith("= 0") and pid in pending:
                syncs.append((pending.pop(pid), ts))
            continue
        if rest.startswith(("fsync(", "fdatasync(")):
            if rest.rstrip().endswith("= 0"):
                syncs.append((ts, ts))
            continue
        for q in re.findall(r'"@([0-9A-F]+) \d+\\n', rest):      # journal record
            written.setdefault(q, ts)
        for q in re.findall(r'RELAYD 1\\nid ([0-9A-F]+)\\n', rest):  # queue/ file
            written.setdefault(q, ts)
        for q in re.findall(r"queued as ([0-9A-F]+)", rest):
            acked.setdefault(q, ts)
    syncs.sort()
    bad = []
    for q, t_ack in acked.items():
        t_w = written.get(q)
        if t_w is None or not any(a >= t_w and b <= t_ack for a, b in syncs):
            bad.append(q)
    return dict(msgs=msgs, status=r["status"], acked=len(acked), checked=len(acked) - len(bad),
                bad=len(bad), syncs=len(syncs),
                syncs_per_message=len(syncs) / max(1, len(acked)), example_bad=bad[:3])


# ---- machine, versions, report ---------------------------------------------

def sh(cmd) -> str:
    try:
        return run(cmd, check=False, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine() -> dict:
    info = dict(nproc=os.cpu_count(), kernel=os.uname().release)
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            if k in ("MemTotal", "SwapTotal"):
                info[k] = int(v.split()[0])
    try:
        info["debian"] = Path("/etc/debian_version").read_text().strip()
    except OSError:
        pass
    src = sh(["findmnt", "-no", "SOURCE,FSTYPE,OPTIONS", "-T", str(BASE)])
    info["fs"] = src
    dev = src.split()[0] if src else ""
    name = os.path.basename(dev)
    opts = Path(f"/proc/fs/ext4/{name}/options")
    if name and opts.exists():
        # a journalled ext4 lists its data= mode; without a journal there is none
        info["ext4_journal"] = "data=" in opts.read_text()
    if name:
        f = sh(["lsblk", "-dno", "SIZE,ROTA,MODEL", dev]).split(None, 2)
        if len(f) >= 2:
            info["disk"] = (f"{f[0]}, {'rotational' if f[1] == '1' else 'non-rotational'} "
                            f"(as the VM reports it){', ' + f[2] if len(f) > 2 else ''}")
        sched = Path(f"/sys/block/{name}/queue/scheduler")
        if sched.exists():
            info["scheduler"] = sched.read_text().strip()
    info["loadavg_start"] = Path("/proc/loadavg").read_text().split()[:3]
    return info


def versions(relayd_bin: Path) -> dict:
    v = {}
    head = sh(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "-C", str(REPO), "status", "--porcelain", "--", "conf", "smtp", "tls",
                "relayd", "Makefile"])
    v["relayd_git"] = head + (" + uncommitted changes in: " +
                              ", ".join(line.split(maxsplit=1)[-1] for line in dirty.splitlines())
                              if dirty else "")
    v["relayd"] = sh([str(relayd_bin), "-V"])
    v["postfix"] = sh(["postconf", "-d", "-h", "mail_version"])
    v["postfix_pkg"] = sh(["dpkg-query", "-W", "-f", "${Version}", "postfix"])
    return v


def cell_stats(runs, peer, size, conc, mode):
    rs = [r for r in runs if r["peer"] == peer and r["size"] == size and r["conc"] == conc
          and r["mode"] == mode and not r.get("warmup") and not r.get("superseded")]
    ok = [r for r in rs if r["status"] == "ok"]
    if not rs:
        return None
    s = dict(runs=len(rs), ok=len(ok), msgs=sorted({r["msgs"] for r in rs}),
             failures=[r["status"] for r in rs if r["status"] != "ok"])
    for key in ("accept_rate", "e2e_rate"):
        vals = [r[key] for r in ok]
        if vals:
            s[key] = (statistics.median(vals), min(vals), max(vals))
    cpu = [r["relay_cpu_us"] for r in ok if r.get("relay_cpu_us") is not None]
    s["relay_cpu_us"] = statistics.median(cpu) if cpu else None
    s["background"] = max((r.get("background", 0) for r in rs), default=0)
    s["foreign"] = max((r.get("foreign", 0) for r in ok), default=0)
    s["attempts"] = sum(r.get("attempt", 1) for r in rs)
    busy = [r["cpu_busy"] for r in ok if r.get("cpu_busy") is not None]
    s["cpu_busy"] = statistics.mean(busy) if busy else None
    io = [r["iowait"] for r in ok if r.get("iowait") is not None]
    s["iowait"] = statistics.mean(io) if io else None
    if peer != "direct":
        s["rss_peak_kib"] = max((r.get("rss_peak_kib", 0) for r in rs), default=0)
        s["pss_peak_kib"] = max((r.get("pss_peak_kib", 0) for r in rs), default=0)
        s["procs_peak"] = max((r.get("procs_peak", 0) for r in rs), default=0)
    return s


def mmm(t) -> str:
    if not t:
        return "–"
    return f"{t[0]:.0f} ({t[1]:.0f}–{t[2]:.0f})"


def ratio(a, b):
    if not a or not b or not b[0]:
        return None
    return a[0] / b[0]


def fx(x, nd=2) -> str:
    return "–" if x is None else f"{x:.{nd}f}×"


def evaluate(runs, mem, rec, sysc) -> list:
    """[(key, measured text, met or None)]"""
    out = []

    def e2e(peer, size, conc, mode="new"):
        s = cell_stats(runs, peer, size, conc, mode)
        return s.get("e2e_rate") if s else None

    for key, size, conc, want in (("e2e_1k_c10", 1024, 10, 3), ("e2e_1k_c50", 1024, 50, 3),
                                  ("e2e_100k_c10", 102400, 10, 2)):
        r = ratio(e2e("relayd", size, conc), e2e("postfix", size, conc))
        if r is None:
            out.append((key, "not measured", None))
        else:
            out.append((key, f"{r:.2f}× ({e2e('relayd', size, conc)[0]:.0f} vs "
                             f"{e2e('postfix', size, conc)[0]:.0f} msg/s)", r >= want))
    r = ratio(e2e("relayd", 1024, 50), e2e("direct", 1024, 50))
    out.append(("direct_1k_c50", "not measured" if r is None else
                f"{r:.2f} of direct ({e2e('relayd', 1024, 50)[0]:.0f} vs "
                f"{e2e('direct', 1024, 50)[0]:.0f} msg/s)", None if r is None else r >= 0.5))
    if mem and mem.get("points"):
        worst = max(p["kib_per_session"] for p in mem["points"])
        last = mem["points"][-1]
        out.append(("idle_kib", f"{last['kib_per_session']:.1f} KiB at {last['sessions']} "
                                f"sessions (worst {worst:.1f})", worst <= 16))
    else:
        out.append(("idle_kib", "not measured", None))
    warm = [r["recovered_s"] for r in (rec or {}).get("runs", []) if r["cache"] == "warm"]
    if warm and rec["messages"] == 10000:
        med = statistics.median(warm)
        cold = [r["recovered_s"] for r in rec["runs"] if r["cache"] == "cold"]
        txt = f"{med * 1000:.0f} ms (page cache warm, median)"
        if cold:
            txt += f"; {cold[0] * 1000:.0f} ms with caches dropped"
        out.append(("recover", txt, max(warm + cold) < 2.0))
    elif warm:
        out.append(("recover", f"{statistics.median(warm) * 1000:.0f} ms for "
                               f"{rec['messages']} messages (quick run)", None))
    else:
        out.append(("recover", "not measured", None))
    order = (sysc or {}).get("order") or {}
    if order.get("acked"):
        ok = order["bad"] == 0 and order["acked"] >= order["msgs"] * 0.9
        out.append(("durable", f"every one of {order['acked']} 250 replies came after an "
                               f"fsync/fdatasync that began after that message's data was "
                               f"written ({order['syncs_per_message']:.2f} syncs per message: "
                               f"group commit; strace -ttt, 1 KiB c=50)"
                    if ok else f"{order['bad']} of {order['acked']} 250 replies not preceded by "
                               f"a sync of their data (e.g. {order['example_bad']})", ok))
    else:
        out.append(("durable", "not checked", None))
    return out


def md_table(head, rows, align=None) -> str:
    """ALIGN: one letter per column, l or r (default: first column l, the rest r)."""
    align = align or "l" + "r" * (len(head) - 1)
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def report(args, cfg, info, vers, runs, mem, rec, sysc, relayd, postfix, sink, t_start, t_end,
           backlog_md=""):
    quick = args.quick
    L = []
    L.append("<!-- generated by bench/bench.py (`make bench`); do not edit by hand -->")
    L.append("# relayd benchmark: relayd vs Postfix vs direct, same machine, same run\n")
    L.append(f"Run {time.strftime('%Y-%m-%d %H:%M', time.localtime(t_start))}, took "
             f"{(t_end - t_start) / 60:.1f} min"
             + (f" ({WAITED / 60:.1f} of them waiting for other work on the machine to stop)"
                if WAITED >= 1 else "") + f"{' — QUICK smoke run: tiny counts, 1 repeat, not a measurement' if quick else ''}. "
             "See [README.md](README.md) for how to read it.\n")

    L.append("## Targets (issue 8)\n")
    rows = []
    for key, txt, met in evaluate(runs, mem, rec, sysc):
        rows.append((TARGETS_TEXT[key], txt, "–" if met is None else ("**met**" if met
                                                                        else "**not met**")))
    L.append(md_table(("target", "measured (medians)", "met"), rows, "lll"))
    L.append("\nRatios compare medians of the same cell, one SMTP connection per message "
             "(the issue's scale figures).\n")

    for mode, title in (("new", "A — one SMTP connection per message (smtp-source default)"),
                        ("reuse", "B — connections reused (smtp-source -d)")):
        L.append(f"## Table {title}\n")
        rows = []
        for size in SIZES:
            for conc in CONCS:
                st = {p: cell_stats(runs, p, size, conc, mode) for p in PEERS}
                if not any(st.values()):
                    continue
                d, r, p = (st[x] or {} for x in PEERS)
                rows.append((kib(size), conc, mmm(d.get("e2e_rate")), mmm(r.get("e2e_rate")),
                             mmm(p.get("e2e_rate")),
                             fx(ratio(r.get("e2e_rate"), p.get("e2e_rate"))),
                             fx(ratio(r.get("accept_rate"), p.get("accept_rate"))),
                             fx(ratio(r.get("e2e_rate"), d.get("e2e_rate")))))
        L.append("End-to-end msg/s, median (min–max):\n")
        L.append(md_table(("size", "conc", "direct", "relayd", "Postfix",
                           "relayd/Postfix end-to-end ×", "relayd/Postfix accept ×",
                           "relayd/direct ×"), rows))
        L.append("\nEvery peer of every cell:\n")
        rows = []
        for size in SIZES:
            for conc in CONCS:
                for peer in PEERS:
                    s = cell_stats(runs, peer, size, conc, mode)
                    if not s:
                        continue
                    mem_txt = ("–" if peer == "direct" else
                               f"{s['rss_peak_kib'] / 1024:.0f} / {s['pss_peak_kib'] / 1024:.0f}"
                               f" ({s['procs_peak']})")
                    rows.append((kib(size), conc, peer, ", ".join(map(str, s["msgs"])),
                                 f"{s['ok']}/{s['runs']}", mmm(s.get("accept_rate")),
                                 mmm(s.get("e2e_rate")),
                                 "–" if s["cpu_busy"] is None else f"{s['cpu_busy']:.0f}",
                                 "–" if s["iowait"] is None else f"{s['iowait']:.1f}",
                                 "–" if s["relay_cpu_us"] is None else f"{s['relay_cpu_us']:.0f}",
                                 mem_txt, f"{s['foreign']:.0f}",
                                 "; ".join(s["failures"]) or ""))
        L.append(md_table(("size", "conc", "peer", "msgs/run", "ok runs",
                           "accept msg/s median (min–max)", "end-to-end msg/s median (min–max)",
                           "CPU busy %", "iowait %", "relay CPU µs/msg",
                           "peak RSS / PSS MiB (procs)", "others' CPU % (max)", "failures"),
                          rows, "lrlrrrrrrrrrl"))
        L.append("")

    L.append("## relayd memory: idle inbound sessions\n")
    if mem and mem.get("points"):
        rows = [("0 (idle, 1 s after start)", mem["idle_rss_kib"], "–")]
        for p in mem["points"]:
            rows.append((p["sessions"], p["rss_kib"], f"{p['kib_per_session']:.1f}"))
        rows.append(("after closing them all", mem["after_close_rss_kib"], "–"))
        L.append(md_table(("sessions (each read the greeting, then idle)", "relayd RSS KiB",
                           "KiB per session over idle"), rows))
        L.append("\nRSS = VmRSS of the relayd process, 1 s after the last session got its "
                 "greeting. Kernel socket buffers are not in it.\n")
    else:
        L.append("not measured\n")

    L.append("## relayd recovery of a queued spool\n")
    if rec and rec.get("runs"):
        L.append(f"{rec['messages']} messages of 1 KiB queued with the sink unreachable "
                 f"(`{rec['fill_cmd']}`, {rec['fill_s']:.1f} s, every delivery attempt refused "
                 "and deferred), relayd stopped, then started again on that spool. Time from "
                 "exec to the log line `queue: recovered N messages` and to `listening on`:\n")
        rows = [(i + 1, r["cache"], f"{r['recovered_s'] * 1000:.0f}",
                 f"{r['listening_s'] * 1000:.0f}") for i, r in enumerate(rec["runs"])]
        L.append(md_table(("start", "page cache", "exec → recovered (ms)",
                           "exec → listening (ms)"), rows, "rlrr"))
        L.append("\n\"cold\" = after `sync; echo 3 > /proc/sys/vm/drop_caches`.\n")
    else:
        L.append("not measured\n")

    L.append("## relayd syscalls per message (durability check)\n")
    if sysc and sysc.get("per_message"):
        L.append(f"`strace -f -c -p RELAYD` during {sysc['msgs']} messages, 1 KiB, c=10, a "
                 f"connection per message (run {sysc['status']}); calls per message, all "
                 f"threads: {sysc['total_per_message']:.1f} in all.\n")
        rows = [(k, f"{v:.2f}") for k, v in sysc["per_message"].items() if v >= 0.05]
        L.append(md_table(("syscall", "per message"), rows))
        L.append("")
    else:
        L.append(f"not measured{': ' + sysc['error'] if sysc and sysc.get('error') else ''}\n")

    if backlog_md:
        L.append(backlog_md + "\n")

    L.append("## Machine\n")
    L.append(f"- nproc {info['nproc']}, {info.get('cpu', '?')}; RAM "
             f"{info.get('MemTotal', 0) / 1048576:.1f} GiB, swap "
             f"{info.get('SwapTotal', 0) / 1048576:.1f} GiB")
    L.append(f"- disk of {BASE}: {' '.join(info.get('fs', '?').split())}; device "
             f"{info.get('disk', '?')}; scheduler {info.get('scheduler', '?')}")
    if info.get("ext4_journal") is False:
        L.append("- that ext4 has **no journal** (no `data=` mode in /proc/fs/ext4/DEV/options): "
                 "fsync writes the inode and directory blocks directly, and creating a file "
                 "skips every inode of its block group deleted in the last 60 s (360 s while "
                 "the inode-table block is dirty) — see README.md, \"Profile\"")
    L.append(f"- kernel {info['kernel']}, Debian {info.get('debian', '?')}; load average at "
             f"start {' '.join(info['loadavg_start'])}")
    L.append("- client, relay and sink share the same cores: the `direct` rows show what the "
             "client and the sink alone cost.\n")
    L.append("## Versions\n")
    L.append(f"- relayd: {vers['relayd']}, git {vers['relayd_git']}")
    L.append(f"- Postfix {vers['postfix']} (Debian package {vers['postfix_pkg']}); "
             "smtp-source and smtp-sink from it\n")

    L.append("## Method and exact commands\n")
    if quick:
        L.append(f"Quick run: {cfg['fixed'][1024]} messages per run at 1 KiB, "
                 f"{cfg['fixed'][102400]} at 100 KiB, {cfg['repeats']} repeat, no warm-up, "
                 "each relay started once for the whole matrix.\n")
    else:
        L.append(f"Each cell: relayd and Postfix started fresh (empty queue); one warm-up run "
                 f"per peer ({cfg['warmup'][1024]} messages at 1 KiB, {cfg['warmup'][102400]} at "
                 f"100 KiB), discarded, whose end-to-end rate × {cfg['run_seconds']:g} s "
                 f"(2 significant digits, within {cfg['min'][1024]}–{cfg['max'][1024]} at 1 KiB, "
                 f"{cfg['min'][102400]}–{cfg['max'][102400]} at 100 KiB) sets that peer's "
                 f"messages per run; then {cfg['repeats']} rounds of direct, relayd, Postfix, "
                 f"{cfg['pause']:g} s apart.\n")
    L.append("- acceptance = MSGS / (smtp-source exit − its start); end-to-end = MSGS / (the "
             f"sink's `mesg=` counter reached start+MSGS − smtp-source start), polled every "
             f"{POLL * 1000:.0f} ms.")
    L.append("- CPU busy / iowait: whole machine, /proc/stat, over the run. relay CPU µs/msg: "
             "user+system time of the relay's processes (relayd: all threads; Postfix: the "
             "master, its children and the children it reaped) over the run ÷ MSGS. Peak "
             f"RSS / PSS: sum over the relay's processes, sampled every {MEM_EVERY:g} s (summed "
             "RSS counts shared libraries once per process).")
    L.append("- others' CPU: CPU time of every user-space process that is not the bench's "
             "(client, sink, relay, harness) during the run, in % of the machine: other work "
             f"on a shared machine. A run above {FOREIGN_MAX:g} % is run again (up to "
             f"{cfg['retries']} times, after waiting for a quiet machine); the column shows the "
             "worst run kept.\n")
    L.append("Sink (one for the whole run):\n")
    L.append("    " + " ".join(sink.cmd) + "   # counters appended to " + str(sink.counters))
    L.append("\nClient (PORT: the sink for direct, relayd, or Postfix's smtpd):\n")
    L.append("    " + " ".join(source_cmd(0, 0, 0, 0, False)[:-1]).replace(
        "-m 0 -s 0 -l 0", "-m MSGS -s CONC -l SIZE") + " [-d] 127.0.0.1:PORT")
    L.append(f"\nrelayd (port {relayd.port}, log on stderr to {relayd.logfile}, as in "
             "production at info level):\n")
    L.append("    " + " ".join(relayd.cmd()) + f" 2>{relayd.logfile}   # RLIMIT_NOFILE {NOFILE}")
    L.append("\n" + "\n".join("    " + line for line in relayd.conf.read_text().splitlines()))
    L.append(f"\nPostfix (smtpd on port {postfix.port}; /etc/postfix untouched):\n")
    L.append(f"    MAIL_CONFIG={postfix.etc} postfix -c {postfix.etc} start   # stop: ... stop")
    L.append(f"\n{postfix.etc}/main.cf:\n")
    L.append("\n".join("    " + line for line in postfix.main_cf().splitlines()))
    L.append(f"\n{postfix.etc}/master.cf:\n")
    L.append("\n".join("    " + line for line in
                       master_cf(f"127.0.0.1:{postfix.port}").splitlines()))
    failed = [r for r in runs if r["status"] != "ok"]
    if failed:
        L.append("\n## Failed runs\n")
        for r in failed:
            L.append(f"- {r['peer']} {kib(r['size'])} c={r['conc']} {r['mode']}"
                     f"{' (warm-up)' if r.get('warmup') else ''}: {r['status']}"
                     + (f" — smtp-source: `{r['source_stderr'][-300:]}`"
                        if r.get("source_stderr") else ""))
    return "\n".join(L) + "\n"


def summary(runs, mem, rec, sysc) -> str:
    L = []
    for mode in MODES:
        L.append(f"end-to-end msg/s (median), {'a connection per message' if mode == 'new' else 'connections reused (-d)'}:")
        L.append(f"  {'size':>7} {'conc':>4} {'direct':>7} {'relayd':>7} {'postfix':>7} "
                 f"{'r/pf':>6} {'r/direct':>8}")
        for size in SIZES:
            for conc in CONCS:
                st = {p: cell_stats(runs, p, size, conc, mode) for p in PEERS}
                if not any(st.values()):
                    continue
                med = {p: (st[p] or {}).get("e2e_rate") for p in PEERS}
                L.append(f"  {kib(size):>7} {conc:>4} "
                         + " ".join(f"{med[p][0]:7.0f}" if med[p] else f"{'–':>7}" for p in PEERS)
                         + f" {fx(ratio(med['relayd'], med['postfix'])):>6}"
                         f" {fx(ratio(med['relayd'], med['direct'])):>8}")
    L.append("targets:")
    for key, txt, met in evaluate(runs, mem, rec, sysc):
        L.append(f"  [{'-' if met is None else ('met' if met else 'NOT met')}] "
                 f"{TARGETS_TEXT[key]}: {txt}")
    return "\n".join(L)


# ---- profile mode ------------------------------------------------------------

def perf_works() -> bool:
    perf = shutil.which("perf")
    if not perf:
        return False
    p = subprocess.run([perf, "record", "-e", "cpu-clock", "-o", "/dev/null", "--", "true"],
                       capture_output=True, text=True)
    return p.returncode == 0


def background(seconds: float = 1.0) -> float:
    """Whole-machine CPU busy % while we do nothing (other people's work)."""
    c0 = cpustat()
    time.sleep(seconds)
    return cpu_between(c0, cpustat())[0] or 0.0


def wait_quiet(limit: float = 20.0, max_wait: float = 300.0, sample: float = 1.0) -> float:
    """Wait (up to MAX_WAIT s, and WAIT_BUDGET s over the whole run) until
    the machine is below LIMIT % busy without us; returns the last figure
    (measured over SAMPLE s)."""
    global WAITED
    start = time.monotonic()
    deadline = start + min(max_wait, max(0.0, WAIT_BUDGET - WAITED))
    busy = background(sample)
    warned = False
    while busy > limit and time.monotonic() < deadline:
        if not warned:
            log(f"  machine {busy:.0f}% busy without the bench (other work): waiting up to "
                f"{max_wait:.0f} s for < {limit:.0f}%")
            warned = True
        time.sleep(4)
        busy = background()
    if warned:
        WAITED += time.monotonic() - start
    return busy


class Recorder:
    """A profiler or tracer attached to a pid for the length of one run."""

    def __init__(self, cmd):
        out = Path(cmd[cmd.index("-o") + 1])
        for stale in (out, out.with_name(out.name + ".old")):
            stale.unlink(missing_ok=True)       # perf keeps one .old otherwise
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        RUNNING.append(self.proc)
        time.sleep(0.7)

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        RUNNING.remove(self.proc)


def perf_text(data: Path, *args) -> str:
    text = sh(["perf", "report", "-i", str(data), "--stdio", "-g", "none", *args])
    return "\n".join(line.rstrip() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def strip_perf_cols(text: str) -> str:
    # perf pads the last sort column and appends "-  -" (no srcline); drop that
    return "\n".join(re.sub(r"\s+-\s+-\s*$", "", line) for line in text.splitlines())


def syscall_rows(text: str, limit: int = 14) -> str:
    rows = [line for line in text.splitlines()
            if re.search(r"\] (__x64_sys_|__do_sys_|__sys_|do_sys_open)", line)]
    return strip_perf_cols("\n".join(rows[:limit]))


def trace_summary(path: Path, msgs: int, main_tid: int) -> str:
    """perf trace -s output: per thread, calls per message and latency."""
    out, tid = [], None
    for line in path.read_text(errors="replace").splitlines():
        m = re.match(r"\s*relayd \((\d+)\), (\d+) events", line)
        if m:
            tid = int(m.group(1))
            who = "event-loop thread" if tid == main_tid else "I/O thread"
            out.append(f"{who} {tid}: {int(m.group(2)) / 2 / msgs:.1f} syscalls per message")
            out.append(f"   {'syscall':<14} {'per msg':>8} {'avg ms':>8} {'max ms':>8} "
                       f"{'total ms':>9}")
            continue
        f = line.split()
        if tid and len(f) >= 8 and f[1].isdigit() and re.match(r"^[a-z_0-9]+$", f[0]):
            calls, total, avg, mx = int(f[1]), float(f[3]), float(f[5]), float(f[6])
            if calls / msgs >= 0.05:
                out.append(f"   {f[0]:<14} {calls / msgs:8.2f} {avg:8.3f} {mx:8.3f} "
                           f"{total:9.1f}")
    return "\n".join(out)


def create_latency(path: Path) -> str:
    """openat(O_CREAT) durations from `perf trace -e openat`, by sixth of the run."""
    d = []
    for line in path.read_text(errors="replace").splitlines():
        m = re.search(r"\(\s*([\d.]+) ms\).*flags: [A-Z|]*CREAT", line)
        if m:
            d.append(float(m.group(1)))
    if len(d) < 12:
        return ""
    k = len(d) // 6
    parts = [sum(d[i * k:(i + 1) * k]) / k for i in range(6)]
    srt = sorted(d)
    return (f"{len(d)} creates of tmp/QID; mean ms per sixth of the run: "
            + ", ".join(f"{x:.3f}" for x in parts)
            + f"; median {srt[len(d) // 2]:.3f} ms, p90 {srt[len(d) * 9 // 10]:.3f} ms")


def profile(args, sink: Sink, relayd: Relayd):
    """Where relayd spends its time at 1 KiB c=50, per connection mode:
    perf record on relayd (by thread and function), perf trace -s (syscalls
    per message and their latency), openat(O_CREAT) latency, perf record -a
    (the whole machine by process). Without perf: callgrind."""
    out = Path(args.out)
    msgs = 2000 if args.quick else 12000
    use_perf = perf_works()
    bg = wait_quiet()
    L = ["<!-- generated by bench/bench.py --profile (`make bench-profile`); do not edit -->",
         "# Where relayd spends its time: 1 KiB, c=50\n",
         f"Run {time.strftime('%Y-%m-%d %H:%M')}; relayd {versions(relayd.bin)['relayd_git']}; "
         f"machine {bg:.0f}% busy without the bench just before. {msgs} messages per run "
         "into smtp-sink, relayd configured as `make bench` runs it (see results.md). Each "
         "measurement is its own run; the profilers slow relayd, so their rates are lower than "
         "the unprofiled one.\n"]
    if not use_perf:
        L.append("perf does not work here (`perf record -e cpu-clock true` failed): "
                 "callgrind only.\n")
    for mode in ("new", "reuse"):
        reuse = mode == "reuse"
        relayd.stop()
        relayd.start()
        tid0 = relayd.proc.pid
        run_one(relayd, sink, 1024, 50, reuse, 1000)           # warm-up
        plain = run_one(relayd, sink, 1024, 50, reuse, msgs)
        log(f"profile {mode}: unprofiled {fmt_run(plain)}")
        L.append(f"## {'A connection per message' if mode == 'new' else 'Connections reused (smtp-source -d)'}\n")
        L.append(f"- no profiler: {fmt_run(plain)}")
        if not use_perf:
            continue
        pid = str(relayd.proc.pid)
        data = BASE / f"perf-{mode}.data"
        rec = Recorder(["perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-p", pid,
                        "-o", str(data)])
        r = run_one(relayd, sink, 1024, 50, reuse, msgs)
        rec.stop()
        log(f"profile {mode}: perf record {fmt_run(r)}")
        tr = BASE / f"trace-{mode}.txt"
        rec = Recorder(["perf", "trace", "-s", "-p", pid, "-o", str(tr)])
        tmsgs = max(1000, msgs // 4)      # perf trace slows relayd several times
        rt = run_one(relayd, sink, 1024, 50, reuse, tmsgs)
        rec.stop()
        log(f"profile {mode}: perf trace -s {fmt_run(rt)}")
        tro = BASE / f"trace-open-{mode}.txt"
        rec = Recorder(["perf", "trace", "-e", "openat", "-p", pid, "-o", str(tro)])
        ro = run_one(relayd, sink, 1024, 50, reuse, msgs)
        rec.stop()
        data_all = BASE / f"perf-all-{mode}.data"
        rec = Recorder(["perf", "record", "-a", "-e", "cpu-clock", "-F", "499", "-o",
                        str(data_all)])
        ra = run_one(relayd, sink, 1024, 50, reuse, msgs)
        rec.stop()
        log(f"profile {mode}: perf record -a {fmt_run(ra)}")
        threads = perf_text(data, "--no-children", "--sort", "pid")
        others = ",".join(m.group(1) for m in re.finditer(r"(\d+):relayd", threads)
                          if m.group(1) != str(tid0))
        L.append(f"- `perf record -e cpu-clock -F 999 -g -p RELAYD`: {fmt_run(r)}")
        L.append(f"- `perf trace -s -p RELAYD`: {fmt_run(rt)}")
        L.append(f"- `perf trace -e openat -p RELAYD`: {fmt_run(ro)}")
        L.append(f"- `perf record -a` (whole machine): {fmt_run(ra)}\n")
        sections = [
            ("whole machine, by process (cpu-clock samples)",
             perf_text(data_all, "--no-children", "--sort", "comm", "--percent-limit", "0.5")),
            (f"relayd by thread ({tid0} = the event loop, the others = I/O threads)", threads),
            ("relayd, all threads, by function (self time, ≥ 0.5 %)",
             strip_perf_cols(perf_text(data, "--no-children", "--sort", "dso,sym",
                                       "--percent-limit", "0.5"))),
            ("relayd, all threads: time inside each syscall (kernel call chains)",
             syscall_rows(perf_text(data, "--children", "--sort", "sym"))),
            ("event-loop thread by function (self time, % of that thread)",
             strip_perf_cols(perf_text(data, "--no-children", "--tid", str(tid0),
                                       "--percentage", "relative", "--sort", "dso,sym",
                                       "--percent-limit", "1"))),
        ]
        if others:
            sections.append(("I/O threads by function (self time, % of those threads)",
                             strip_perf_cols(perf_text(data, "--no-children", "--tid", others,
                                                       "--percentage", "relative",
                                                       "--sort", "dso,sym",
                                                       "--percent-limit", "1"))))
            sections.append(("I/O threads: time inside each syscall (% of those threads)",
                             syscall_rows(perf_text(data, "--children", "--tid", others,
                                                    "--percentage", "relative", "--sort",
                                                    "sym"))))
        sections.append(("syscalls per message by thread, with latency (perf trace -s)",
                         trace_summary(tr, tmsgs, tid0)))
        sections.append(("openat(O_CREAT) of the spool's tmp file, latency over the run",
                         create_latency(tro)))
        for title, text in sections:
            if text:
                L.append(f"### {title}\n\n```\n{text}\n```\n")
    if not use_perf and shutil.which("valgrind"):
        relayd.stop()
        cgout = BASE / "callgrind.out"
        logf = open(relayd.logfile, "wb")
        relayd.proc = subprocess.Popen(["valgrind", "--tool=callgrind",
                                        f"--callgrind-out-file={cgout}"] + relayd.cmd(),
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=logf, start_new_session=True)
        logf.close()
        relayd.wait_listening(120)
        r = run_one(relayd, sink, 1024, 50, False, 1000)
        relayd.stop()
        L.append(f"## callgrind (a connection per message, {fmt_run(r)})\n\n```\n"
                 + sh(["callgrind_annotate", str(cgout)])[:20000] + "\n```\n")
    relayd.stop()
    path = out / "profile.md"
    path.write_text("\n".join(L))
    log(f"wrote {path}")


# ---- main ------------------------------------------------------------------------

def stale_cleanup():
    """Stop what an interrupted earlier run left behind under BASE (only
    processes whose command line names BASE, or smtp-sink), and remove
    the backlog's spools (they can be gigabytes)."""
    for etc in sorted(BASE.glob("*postfix/etc")):
        if not (etc / "main.cf").exists():
            continue
        try:
            run([which("postfix"), "-c", str(etc), "stop"], check=False,
                env=dict(os.environ, MAIL_CONFIG=str(etc)))
        except (BenchError, OSError):
            pass
    for f in sorted(BASE.glob("*.pid")):
        try:
            pid = int(f.read_text().split()[0])
            with open(f"/proc/{pid}/cmdline", "rb") as c:
                cmdline = c.read()
            if (str(BASE).encode() in cmdline or b"smtp-sink" in cmdline) and pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            pass
        f.unlink(missing_ok=True)
    for d in BASE.glob("backlog-*"):
        shutil.rmtree(d, ignore_errors=True)


def backlog_sizes(text: str):
    """--backlog 100000,1000000 (also 100_000 or 1e6)"""
    out = []
    for part in text.split(","):
        part = part.strip().replace("_", "")
        if part:
            n = int(float(part))
            if n < 1:
                raise argparse.ArgumentTypeError(f"--backlog: {part}: not a message count")
            out.append(n)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--relayd", required=True, help="the relayd binary (build/relayd)")
    ap.add_argument("--relayctl", default=None,
                    help="the relayctl binary (default: next to --relayd)")
    ap.add_argument("--quick", action="store_true", help="smoke test: tiny counts, < 1 minute")
    ap.add_argument("--profile", action="store_true",
                    help="profile relayd at 1 KiB c=50 instead (writes OUT/profile.md)")
    ap.add_argument("--out", default=None, help="where results.md/json go (default bench/)")
    ap.add_argument("--cells", default="", help="only these cells, e.g. 1k:10:new,100k:1:reuse")
    ap.add_argument("--no-matrix", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-recovery", action="store_true")
    ap.add_argument("--no-syscalls", action="store_true")
    ap.add_argument("--backlog", type=backlog_sizes, default=list(backlog.DEFAULT_N),
                    metavar="N[,N...]",
                    help="the backlog section at these queue sizes (default 100000; "
                         "--quick: 300)")
    ap.add_argument("--no-backlog", action="store_true", help="skip the backlog section")
    ap.add_argument("--backlog-only", action="store_true",
                    help="only the backlog section: replaces that section of an existing "
                         "results.md/json and keeps the rest")
    ap.add_argument("--backlog-peers", default="",
                    help="only these peers in the backlog section (relayd,postfix)")
    ap.add_argument("--backlog-period", type=int, default=0, metavar="SECONDS",
                    help="the relays' retry interval in the backlog section (default 60; "
                         "--quick: 2)")
    ap.add_argument("--backlog-keep", action="store_true",
                    help="keep the backlog's spools and logs under BASE for inspection (the "
                         "next run removes them)")
    ap.add_argument("--no-sites", action="store_true", help="skip the sites cell")
    ap.add_argument("--sites-only", action="store_true",
                    help="only the sites cell (bench/sites.py): replaces that section of an "
                         "existing results.md")
    ap.add_argument("--no-fleet", action="store_true", help="skip the fleet cell")
    ap.add_argument("--fleet-only", action="store_true",
                    help="only the fleet cell (bench/fleet.py): replaces that section of an "
                         "existing results.md")
    ap.add_argument("--no-tls", action="store_true", help="skip the TLS cells")
    ap.add_argument("--tls-only", action="store_true",
                    help="only the TLS cells (bench/tlscells.py): replaces that section of an "
                         "existing results.md")
    ap.add_argument("--backlog-check", action="store_true",
                    help="print the disk each --backlog N needs and how long it would take; "
                         "start nothing")
    args = ap.parse_args()
    args.backlog_peers = {p.strip() for p in args.backlog_peers.split(",") if p.strip()}
    if args.backlog_only:
        args.no_matrix = args.no_memory = args.no_recovery = args.no_syscalls = True
        args.no_backlog = False
        args.no_sites = args.no_fleet = args.no_tls = True
    if args.sites_only or args.fleet_only or args.tls_only:
        args.no_matrix = args.no_memory = args.no_recovery = args.no_syscalls = True
        args.no_backlog = True
        args.no_sites = not args.sites_only
        args.no_fleet = not args.fleet_only
        args.no_tls = not args.tls_only
    if args.backlog_check:
        out = Path(args.out or REPO / "bench")
        return backlog.check_only([backlog.QUICK_N] if args.quick else args.backlog,
                                  backlog.load_previous(out).get("backlog"))
    if os.geteuid() != 0:
        sys.exit("bench: needs root (Postfix starts as root; smtp-sink runs with -u nobody)")
    args.out = args.out or str(REPO / "bench")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    cfg = QUICK if args.quick else FULL
    cells = {c.strip() for c in args.cells.split(",") if c.strip()}

    def on_signal(sig, frame):
        raise KeyboardInterrupt(f"signal {sig}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    raise_nofile()

    BASE.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chown(BASE, 0, 0)
    os.chmod(BASE, 0o755)
    # One run at a time: the cleanup below would stop another run's processes.
    lock = open(BASE / "bench.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        sys.exit(f"bench: another run uses {BASE} (pid {lock.read().strip() or '?'}); "
                 "wait for it to end")
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    stale_cleanup()

    t_start = time.time()
    sink = Sink(free_port(10030))
    relayd = Relayd(Path(args.relayd).resolve(), free_port(10026), sink.port)
    postfix = Postfix(free_port(10025), sink.port)
    info = machine()
    vers = versions(relayd.bin)
    runs, mem, rec, sysc = [], None, None, None
    previous = backlog.load_previous(Path(args.out))
    bl = {}
    st = ft = tt = None
    code = 0
    try:
        sink.start()
        if args.profile:
            profile(args, sink, relayd)
            return 0
        log(f"relayd {vers['relayd']} ({vers['relayd_git']}) on :{relayd.port}, Postfix "
            f"{vers['postfix']} on :{postfix.port}, smtp-sink on :{sink.port}; "
            f"{'QUICK' if args.quick else 'full'} run")
        if not args.no_matrix:
            matrix(cfg, sink, relayd, postfix, cells, runs)
        relayd.stop()
        postfix.stop()
        if not args.no_memory:
            mem = idle_sessions(relayd, cfg["sessions"])
        if not args.no_recovery:
            rec = recovery(cfg, relayd)
        if not args.no_syscalls:
            sysc = syscalls(relayd, sink, 1000 if args.quick else 5000)
        relayd.stop()
        if not args.no_backlog:
            ctl = Path(args.relayctl or Path(args.relayd).with_name("relayctl")).resolve()
            backlog.run(args, relayd.bin, ctl, sink, bl)
            if any(e.get("refused") for e in bl.values()):
                code = 1
        if not args.no_sites:
            st = sites.run(args, relayd.bin, sink)
            st["relayd_git"] = vers["relayd_git"]
        if not args.no_fleet:
            ft = fleet.run(args, relayd.bin, sink)
            ft["relayd_git"] = vers["relayd_git"]
        if not args.no_tls:
            tt = tlscells.run(args, relayd.bin)
            tt["relayd_git"] = vers["relayd_git"]
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); stopping everything")
        code = 130
    except BenchError as e:
        log(f"error: {e}")
        code = 1
    finally:
        for p in list(RUNNING):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        relayd.stop()
        postfix.stop()
        sink.stop()
        for name in ("relayd.pid", "sink.pid"):
            (BASE / name).unlink(missing_ok=True)
    if args.profile:
        return code
    t_end = time.time()
    out = Path(args.out)
    for e in bl.values():
        e["relayd_git"] = vers["relayd_git"]
        for p in e.get("peers", {}).values():
            p["run"] = dict(started=e.get("started"), ended=e.get("ended"),
                            relayd_git=vers["relayd_git"])
    # The backlog entries of other sizes measured before are kept, and with
    # --backlog-peers the other peers' results for the same size (each peer
    # says which run it comes from).
    backlogs = dict(previous.get("backlog") or {}, **bl)
    if args.backlog_peers:
        for key, e in bl.items():
            old = (previous.get("backlog") or {}).get(key) or {}
            for name, p in (old.get("peers") or {}).items():
                if name in e["peers"]:
                    continue
                if "run" not in p:
                    p["run"] = dict(started=old.get("started"), ended=old.get("ended"),
                                    relayd_git=old.get("relayd_git"))
                e["peers"][name] = p
    if args.sites_only or args.fleet_only or args.tls_only:
        if tt:
            tlscells.save(out, tt, info, vers)
            print(f"\nwrote the TLS section of {out / 'results.md'} and results.json")
        if st:
            sites.save(out, st, info, vers)
            print(f"\nwrote the sites section of {out / 'results.md'} and results.json")
        if ft:
            fleet.save(out, ft, info, vers)
            print(f"\nwrote the fleet section of {out / 'results.md'} and results.json")
        return code
    if args.backlog_only:
        if not bl:
            return code
        data = previous or dict(machine=info, versions=vers)
        data["backlog"] = backlogs
        (out / "results.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
        md = out / "results.md"
        old = md.read_text() if md.exists() else (
            "<!-- generated by bench/bench.py (`make bench`); do not edit by hand -->\n"
            "# relayd benchmark\n")
        md.write_text(backlog.merge_md(old, backlog.section(backlogs)))
        print()
        print(backlog.summary(bl))
        print(f"\nwrote the backlog section of {md} and results.json "
              f"({(t_end - t_start) / 60:.1f} min, {WAITED / 60:.1f} of them waiting for other "
              "work to stop)")
        return code
    (out / "results.json").write_text(json.dumps(dict(
        machine=info, versions=vers, config={k: v for k, v in cfg.items()}, runs=runs,
        memory=mem, recovery=rec,
        syscalls={k: v for k, v in (sysc or {}).items() if k != "raw"},
        backlog=backlogs, sites=st or previous.get("sites"), fleet=ft or previous.get("fleet"),
        tls=tt or previous.get("tls"),
        started=t_start, ended=t_end),
        indent=1, default=str) + "\n")
    if runs or mem or rec or bl:
        (out / "results.md").write_text(report(args, cfg, info, vers, runs, mem, rec, sysc,
                                               relayd, postfix, sink, t_start, t_end,
                                               backlog.section(backlogs) + "\n\n" +
                                               sites.section(st or previous.get("sites")) +
                                               "\n\n" + fleet.section(ft or previous.get("fleet")) +
                                               "\n\n" + tlscells.section(tt or previous.get("tls"))))
        print()
        print(summary(runs, mem, rec, sysc))
        if bl:
            print(backlog.summary(bl))
        print(f"\nwrote {out / 'results.md'} and results.json ({(t_end - t_start) / 60:.1f} min, "
              f"{WAITED / 60:.1f} of them waiting for other work to stop)")
    return code


if __name__ == "__main__":
    # backlog.py does `import bench`: let it find this module, not a second copy
    sys.modules.setdefault("bench", sys.modules[__name__])
    import backlog  # noqa: E402  (bench/backlog.py, the backlog section)
    import sites  # noqa: E402  (bench/sites.py, the sites cell)
    import fleet  # noqa: E402  (bench/fleet.py, the fleet cell)
    import tlscells  # noqa: E402  (bench/tlscells.py, the TLS cells)
    sys.exit(main())
