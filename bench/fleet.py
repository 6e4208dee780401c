"""
fleet.py -- the fleet cell of `make bench` (issue 18): messages/s of 3 relayd
nodes sharing one limit-free destination through Redis, versus 1 node (the
cost of Redis on the hot path).

One redis-server (on a free loopback port, no persistence) and one asyncio
sink (sites.py's `--sink`), the one destination: a relay transport to the
sink with no `rate` and the default `max_connections` (10). Three cases,
the same load each time (MSGS 1 KiB messages to one domain over CONC
persistent inbound connections, from CLIENTS client processes):

  C  1 node, no cluster section (the reference)
  A  1 node, `cluster { redis node = "n1" }`: every outbound connection
     takes a lease in Redis, renews it every 5 s and gives it back
  B  3 nodes n1..n3 on the same Redis and the same sink, each its own
     spool, control socket and listener; client process i loads node i

run ROUNDS times interleaved (C, A, B, C, A, B, ...), medians reported.
Reported: end-to-end msgs/s (to the sink's count), outbound connections
(the sink's sessions), relayd's CPU per message (all nodes), Redis's CPU
seconds over the run (/proc/PID/stat) and the commands it processed
(`INFO stats`, `INFO commandstats`, through the small RESP client below).

    bench.py --fleet-only [--quick] [--out DIR]   this cell alone (results.md's
                                                  section replaced)
    fleet.py --client PORT FIRST MSGS CONC        one client process (internal)
"""

import json
import os
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import bench
import sites

MSGS = 30000
QUICK_MSGS = 3000
CONC = 30
CLIENTS = 3                # client processes; in case B one per node
NODES = ("n1", "n2", "n3")
ROUNDS = 3
QUICK_ROUNDS = 1
DOMAIN = "fleet.bench"
BEGIN = "<!-- fleet: begin -->"
END = "<!-- fleet: end -->"
CASES = ("C", "A", "B")
CASE_TEXT = {"C": "1 node, no cluster", "A": "1 node, cluster", "B": "3 nodes, cluster"}

CONF = """\
# written by bench/fleet.py: everything to the bench's sink, one destination
# without a rate; max_connections is the default (10){fleetwide}.
hostname = "relay-bench.localdomain"
spool = "{spool}"
control_socket = "{dir}/control.sock"

listen "bench" {{
	address = "127.0.0.1"
	port = {port}
	allow = {{ "127.0.0.0/8" }}
	max_clients = 1000
}}

transport "sink" {{
	relay = {{ "[127.0.0.1]:{sink}" }}
	tls = "none"
}}

route "*" {{
	transport = "sink"
}}
{cluster}"""

CLUSTER = """
cluster {{
	redis = "127.0.0.1:{redis}"
	node = "{node}"
}}
"""


class FleetRelayd(bench.Relayd):
    """A node (NODE: n1..n3) or, with REDIS_PORT None, a relayd alone; its
    directory and pid file are BASE/fleet-NODE."""

    def __init__(self, binary: Path, port: int, sink_port: int, node: str, redis_port):
        self.label = f"fleet-{node}"
        self.node = node
        self.redis_port = redis_port
        super().__init__(binary, port, sink_port)

    def write_conf(self, sink_port: int):
        cl = CLUSTER.format(redis=self.redis_port, node=self.node) if self.redis_port else ""
        self.conf.write_text(CONF.format(
            fleetwide=", the fleet's (leases in Redis)" if self.redis_port else "",
            spool=self.spool, dir=self.dir, port=self.port, sink=sink_port, cluster=cl))

    def wait_joined(self, timeout: float = 15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise bench.BenchError(f"fleet: relayd {self.node} exited "
                                       f"{self.proc.returncode}:\n{self.log_tail()}")
            if "cluster: joined through redis" in self.log_head(1 << 20):
                return
            time.sleep(0.02)
        raise bench.BenchError(f"fleet: relayd {self.node} did not join the cluster within "
                               f"{timeout:g} s:\n{self.log_tail()}")

    def count_in_log(self, text: str) -> int:
        n, tail = 0, b""
        try:
            with open(self.logfile, "rb") as f:
                while chunk := f.read(1 << 20):
                    buf = tail + chunk
                    n += buf.count(text.encode())
                    tail = buf[-(len(text) - 1):] if len(text) > 1 else b""
        except OSError:
            pass
        return n

    def stop(self):
        super().stop()
        (bench.BASE / f"{self.label}.pid").unlink(missing_ok=True)


# ---- Redis -----------------------------------------------------------------

def resp_read(f):
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise bench.BenchError("fleet: redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise bench.BenchError(f"fleet: redis: {rest.decode(errors='replace')}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode(errors="replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [resp_read(f) for _ in range(n)]
    raise bench.BenchError(f"fleet: redis: unexpected reply {line[:40]!r}")


def redis_call(port: int, *args: str, timeout: float = 5.0):
    """One command to the Redis on 127.0.0.1:PORT, in RESP; its reply."""
    req = f"*{len(args)}\r\n".encode() + b"".join(
        b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(req)
        with s.makefile("rb") as f:
            return resp_read(f)


def info(port: int, section: str) -> dict:
    out = {}
    for line in (redis_call(port, "INFO", section) or "").splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


class Redis:
    """redis-server on a free loopback port, no persistence, in BASE/fleet-redis.
    Its config file is there too, and its process title names it, so that
    bench.py's cleanup of an interrupted run recognises it by its pid file."""

    def __init__(self):
        self.dir = bench.BASE / "fleet-redis"
        self.proc = None
        self.port = None
        self.exe = shutil.which("redis-server") or "/usr/bin/redis-server"

    def start(self):
        if not os.access(self.exe, os.X_OK):
            raise bench.BenchError("redis-server not found (Debian package redis-server: "
                                   "`make bench` installs it)")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "redis.conf"
        conf.write_text("# written by bench/fleet.py\n"
                        'proc-title-template "{title} {listen-addr} {server-mode} '
                        '{config-file}"\n')
        for _ in range(8):
            self.port = bench.free_port(10070)
            err = open(self.dir / "redis.log", "wb")
            self.proc = subprocess.Popen(
                [self.exe, str(conf), "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--daemonize", "no",
                 "--dir", str(self.dir)],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True)
            err.close()
            bench.RUNNING.append(self.proc)
            (bench.BASE / "fleet-redis.pid").write_text(f"{self.proc.pid}\n")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if redis_call(self.port, "PING", timeout=0.5) == "PONG":
                        return self
                except (OSError, bench.BenchError):
                    pass
                time.sleep(0.05)
            self.stop()
        raise bench.BenchError("redis-server did not start: " +
                               (self.dir / "redis.log").read_text(errors="replace")[-2000:])

    def version(self) -> str:
        return info(self.port, "server").get("redis_version", "?")

    def cpu_ticks(self) -> int:
        """user + system ticks of redis-server (all its threads)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        return int(v[11]) + int(v[12])

    def commands(self) -> tuple:
        """(total_commands_processed, {command: calls})"""
        total = int(info(self.port, "stats")["total_commands_processed"])
        calls = {}
        for k, v in info(self.port, "commandstats").items():
            kv = dict(p.split("=", 1) for p in v.split(",") if "=" in p)
            calls[k.removeprefix("cmdstat_")] = int(kv.get("calls", 0))
        return total, calls

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc in bench.RUNNING:
            bench.RUNNING.remove(self.proc)
        self.proc = None
        (bench.BASE / "fleet-redis.pid").unlink(missing_ok=True)


class Sink(sites.PySink):
    """sites.py's asyncio sink (sites.py --sink), in BASE/fleet-sink."""

    def __init__(self):
        self.dir = bench.BASE / "fleet-sink"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.counters = self.dir / "counters"
        self.port = bench.free_port(10060)
        self.proc = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc in bench.RUNNING:
            bench.RUNNING.remove(self.proc)
        self.proc = None


# ---- the load --------------------------------------------------------------

def client_main(port: int, first: int, msgs: int, conc: int):
    """Send messages FIRST .. FIRST+MSGS-1 (u<n>@fleet.bench, 1 KiB) over CONC
    persistent connections to 127.0.0.1:PORT; print {"seconds", "errors"}."""
    body = ("Subject: fleet bench\r\n\r\n" + "x" * 1000 + "\r\n").encode()
    todo = iter(range(first, first + msgs))
    lock = threading.Lock()
    errors = []

    def worker():
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as c:
                c.ehlo("client.bench")
                while True:
                    with lock:
                        n = next(todo, None)
                    if n is None:
                        return
                    c.sendmail("bench-sender@source.example", [f"u{n}@{DOMAIN}"], body)
        except (OSError, smtplib.SMTPException) as e:
            errors.append(repr(e))

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(dict(seconds=time.monotonic() - t0, errors=errors[:3])), flush=True)


def load(ports, msgs: int, conc: int) -> float:
    """CLIENTS client processes, client i to PORTS[i % len(PORTS)], each with
    MSGS / CLIENTS messages over CONC / CLIENTS connections; seconds until the
    last of them has submitted its share."""
    procs = []
    t0 = time.monotonic()
    try:
        for i in range(CLIENTS):
            p = subprocess.Popen([sys.executable, __file__, "--client", str(ports[i % len(ports)]),
                                  str(i * (msgs // CLIENTS)), str(msgs // CLIENTS),
                                  str(conc // CLIENTS)],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, start_new_session=True)
            bench.RUNNING.append(p)
            procs.append(p)
        outs = []
        for p in procs:
            out, _ = p.communicate(timeout=900)
            outs.append(out.decode(errors="replace"))
        took = time.monotonic() - t0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            bench.RUNNING.remove(p)
    for p, out in zip(procs, outs):
        try:
            r = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise bench.BenchError(f"fleet: a load client failed (exit {p.returncode}):\n"
                                   f"{out[-2000:]}")
        if r["errors"]:
            raise bench.BenchError(f"fleet: the load client failed: {r['errors'][0]}")
    return took


# ---- one run ---------------------------------------------------------------

def one(binary: Path, sink: Sink, redis: Redis, case: str, msgs: int, rnd: int,
        quiet: bool) -> dict:
    names = NODES if case == "B" else NODES[:1]
    cluster = case in ("A", "B")
    if cluster:
        redis_call(redis.port, "FLUSHALL")       # no leases or nodes left from before
    nodes = []
    try:
        for k, name in enumerate(names):
            nodes.append(FleetRelayd(binary, bench.free_port(10061 + k), sink.port, name,
                                     redis.port if cluster else None))
        for n in nodes:
            n.start()
        if cluster:
            for n in nodes:
                n.wait_joined()
            time.sleep(2.5)   # one liveness beat: every node sees the others
        busy = bench.wait_quiet(20.0, 60.0) if quiet else bench.background(0.5)
        s0, m0 = sites.sink_counts(sink)
        r0, (c0, k0) = redis.cpu_ticks(), redis.commands()
        t0 = time.monotonic()
        n0 = sum(bench.tree_ticks(n.proc.pid) for n in nodes)
        submit = load([n.port for n in nodes], msgs, CONC)
        deadline = time.monotonic() + 300
        last, moved = m0, time.monotonic()
        while time.monotonic() < deadline:
            s1, m1 = sites.sink_counts(sink)
            if m1 - m0 >= msgs:
                break
            if m1 != last:
                last, moved = m1, time.monotonic()
            elif time.monotonic() - moved > bench.STALL:
                break
            time.sleep(0.02)
        took = time.monotonic() - t0
        n1 = sum(bench.tree_ticks(n.proc.pid) for n in nodes)
        r1, (c1, k1) = redis.cpu_ticks(), redis.commands()
        time.sleep(0.2)
        s1, m1 = sites.sink_counts(sink)
        sent, sess = m1 - m0, s1 - s0
        calls = {k: v - k0.get(k, 0) for k, v in k1.items() if v - k0.get(k, 0) > 0}
        calls.pop("info", None)
        unreachable = sum(n.count_in_log("redis unreachable") for n in nodes)
        row = dict(case=case, round=rnd, nodes=len(nodes), cluster=cluster, msgs=msgs,
                   sent=sent, seconds=took, submit_seconds=submit, rate=sent / took,
                   connections=sess, relayd_cpu=(n1 - n0) / bench.HZ,
                   redis_cpu=(r1 - r0) / bench.HZ, redis_commands=c1 - c0 - 2,
                   redis_calls=calls, unreachable=unreachable, busy=busy)
        bench.log(f"    {case} ({CASE_TEXT[case]}), round {rnd}: {sent} of {msgs} in {took:.1f} s "
                  f"({sent / took:,.0f} msgs/s; submitted in {submit:.1f} s), {sess} outbound "
                  f"connections, relayd {row['relayd_cpu']:.1f} s CPU, redis "
                  f"{row['redis_cpu']:.2f} s CPU, {row['redis_commands']:,} commands "
                  f"({scripts(row):,} scripts)"
                  + (f"; redis unreachable {unreachable}×" if unreachable else "")
                  + (f"; machine {busy:.0f}% busy before" if busy > 20 else ""))
        if sent < msgs:
            raise bench.BenchError(f"fleet: case {case}: only {sent} of {msgs} messages reached "
                                   f"the sink:\n{nodes[0].log_tail()}")
        return row
    finally:
        for n in nodes:
            n.stop()
            shutil.rmtree(n.spool, ignore_errors=True)


def run(args, binary: Path, unused_sink=None) -> dict:
    msgs = QUICK_MSGS if args.quick else MSGS
    rounds = QUICK_ROUNDS if args.quick else ROUNDS
    bench.log(f"fleet: {msgs} messages of 1 KiB to one destination over {CONC} connections in "
              f"({CLIENTS} client processes), cases C, A, B × {rounds}")
    sink = Sink().start()
    redis = None
    try:
        redis = Redis().start()
        version = redis.version()
        rows = [one(binary, sink, redis, case, msgs, rnd + 1, not args.quick)
                for rnd in range(rounds) for case in CASES]
    finally:
        if redis:
            redis.stop()
        sink.stop()
    return dict(msgs=msgs, conc=CONC, clients=CLIENTS, rounds=rounds, quick=args.quick,
                redis_version=version, nproc=os.cpu_count(), rows=rows, at=time.time())


# ---- the report ------------------------------------------------------------

def medians(entry: dict) -> dict:
    out = {}
    for case in CASES:
        rs = [r for r in entry["rows"] if r["case"] == case]
        if not rs:
            continue

        def med(key):
            return statistics.median(r[key] for r in rs)
        out[case] = dict(nodes=rs[0]["nodes"], n=len(rs), rate=med("rate"),
                         lo=min(r["rate"] for r in rs), hi=max(r["rate"] for r in rs),
                         sent=med("sent"), connections=med("connections"),
                         relayd_us=statistics.median(1e6 * r["relayd_cpu"] / r["sent"]
                                                     for r in rs),
                         redis_cpu=med("redis_cpu"), redis_commands=med("redis_commands"),
                         scripts=statistics.median(scripts(r) for r in rs),
                         asks=statistics.median(leases(r)[0] for r in rs),
                         granted=statistics.median(leases(r)[1] for r in rs),
                         refused=statistics.median(leases(r)[0] - leases(r)[1] for r in rs),
                         unreachable=sum(r["unreachable"] for r in rs))
    return out


def scripts(row: dict) -> int:
    """the Lua scripts a run sent (each one round trip from a node)"""
    return sum(row["redis_calls"].get(k, 0) for k in ("eval", "evalsha", "fcall"))


def leases(row: dict) -> tuple:
    """(lease requests, leases granted, releases) of a run, read off the
    commands inside relayd's scripts (relayd/cluster.c): only the lease
    script runs ZCARD; PEXPIRE runs once in a granted lease, a renewal and a
    liveness beat; ZRANGE once in a beat; a release is a plain ZREM."""
    c = row["redis_calls"]
    beats, asks = c.get("zrange", 0), c.get("zcard", 0)
    renewals = max(0, scripts(row) - beats - asks)
    return asks, max(0, c.get("pexpire", 0) - beats - renewals), c.get("zrem", 0)


def section(entry: dict) -> str:
    if not entry:
        return ""
    m = medians(entry)
    rounds = entry["rounds"]
    L = [BEGIN, "## Fleet (issue 18): 3 nodes through Redis versus 1, one limit-free "
         "destination", "",
         f"Run {time.strftime('%Y-%m-%d %H:%M', time.localtime(entry['at']))}; relayd git "
         f"{entry.get('relayd_git', '?')}, Redis {entry.get('redis_version', '?')}"
         + (" — QUICK smoke run, not a measurement" if entry.get("quick") else "") + ". "
         f"{entry['msgs']:,} messages of 1 KiB to one domain over {entry['conc']} inbound "
         f"connections from {entry['clients']} client processes (Python's smtplib in threads); "
         "one relay transport to an asyncio sink, no `rate`, `max_connections` the default "
         "(10: with a `cluster` section the fleet's, one lease in Redis per outbound "
         "connection, renewed every 5 s and given back when it closes); redis-server on "
         "loopback without persistence (bench/fleet.py). C: 1 node without `cluster`; "
         "A: 1 node with it; B: 3 nodes on the same Redis and sink, client process i to "
         f"node i. {'Medians of ' + str(rounds) + ' interleaved rounds' if rounds > 1 else 'One round'}"
         "; Redis's CPU is its user + system time over the run, its commands `INFO stats` "
         "total_commands_processed (the bench's own INFO calls left out; it counts the "
         "commands run inside the Lua scripts too), its scripts the `EVAL` calls (one "
         "round trip each: a lease request, a renewal, a liveness beat; a release is a "
         "plain `ZREM`).", "",
         "| case | nodes | end-to-end msgs/s | range | outbound connections | "
         "relayd CPU µs/msg | Redis CPU s | Redis commands | commands/msg | scripts | "
         "lease requests | granted |",
         "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case in CASES:
        if case not in m:
            continue
        c = m[case]
        cl = case != "C"
        L.append(f"| {case}: {CASE_TEXT[case]} | {c['nodes']} | {c['rate']:,.0f} | "
                 f"{c['lo']:,.0f}–{c['hi']:,.0f} | {c['connections']:,.0f} | "
                 f"{c['relayd_us']:,.0f} | "
                 + (f"{c['redis_cpu']:.2f} | {c['redis_commands']:,.0f} | "
                    f"{c['redis_commands'] / max(c['sent'], 1):.3f} | {c['scripts']:,.0f} | "
                    f"{c['asks']:,.0f} | {c['granted']:,.0f} |"
                    if cl else "– | – | – | – | – | – |"))
    L.append("")
    if all(k in m for k in CASES):
        a, b, c = m["A"], m["B"], m["C"]
        L.append(f"A/C = **{a['rate'] / c['rate']:.2f}** (the cost of being in a fleet for one "
                 f"node: relayd CPU {a['relayd_us']:,.0f} versus {c['relayd_us']:,.0f} µs a "
                 f"message), B/A = **{b['rate'] / a['rate']:.2f}**. Redis spent "
                 f"{1e6 * a['redis_cpu'] / max(a['sent'], 1):.1f} µs of CPU a message in A and "
                 f"{1e6 * b['redis_cpu'] / max(b['sent'], 1):.1f} in B. A lease is asked for "
                 f"each new outbound connection; in B the fleet's 10 are taken most of the "
                 f"time, and a node whose lease was refused asks again 0.2 s later (or "
                 f"when one of its own connections closes): {b['refused']:,.0f} refused requests a run "
                 f"({b['refused'] / max(b['sent'], 1):.2f} a message) against "
                 f"{a['refused']:,.0f} in A. (Lease requests and grants are read "
                 "off the commands the scripts run: bench/fleet.py, `leases()`.)")
        L.append("")
    if any(m[k]["unreachable"] for k in m):
        L.append("**Redis was unreachable for a node during some runs** (its log says "
                 "`redis unreachable`): those runs used local limits for a while.")
        L.append("")
    L.append(f"The machine has {entry.get('nproc') or '?'} cores: in B three relayd, the sink, "
             "Redis and the client processes share them, so B measures what the fleet costs, "
             "not how it scales; on separate machines each node would have its cores.")
    L.append(END)
    return "\n".join(L)


def merge_md(old: str, sec: str) -> str:
    if BEGIN in old and END in old:
        a = old.index(BEGIN)
        b = old.index(END) + len(END)
        return old[:a] + sec + old[b:]
    if "\n## Machine" in old:
        i = old.index("\n## Machine") + 1
        return old[:i] + sec + "\n\n" + old[i:]
    return old.rstrip("\n") + "\n\n" + sec + "\n"


def save(out: Path, entry: dict, info, vers):
    p = out / "results.json"
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        data = dict(machine=info, versions=vers)
    data["fleet"] = entry
    p.write_text(json.dumps(data, indent=1, default=str) + "\n")
    md = out / "results.md"
    old = md.read_text() if md.exists() else (
        "<!-- generated by bench/bench.py (`make bench`); do not edit by hand -->\n"
        "# relayd benchmark\n")
    md.write_text(merge_md(old, section(entry)))


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "--client":
    client_main(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
