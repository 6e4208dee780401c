"""
tlscells.py -- the TLS cells of `make bench` (issue 19): relayd and Postfix
side by side with STARTTLS, on loopback, in one run.

    smtpload -m MSGS -s CONC -l SIZE [-S] -T VER --> relay --> smtpsink --cert

smtpload and smtpsink are bench/tools/ (C, libevent + OpenSSL; smtp-source
and smtp-sink speak no TLS). Every inbound connection carries one message
(a full handshake each time when the client does STARTTLS: like many
different clients); the relays deliver to the one sink, which offers
STARTTLS with the cell's certificate and only the cell's TLS version.

  out    the client speaks plaintext, the relay STARTTLS to the sink
  inout  STARTTLS on both sides

Peers: direct (smtpload straight into the sink, the ceiling), relayd
(listener `tls = "starttls"`, transport `tls = "may"`, as in RELAYD_CONF),
Postfix (bench.py's private instance plus `smtpd_tls_security_level = may`,
`smtp_tls_security_level = may`, the same certificate, both session caches
through tlsmgr; everything else as peer-baseline.md). Rounds interleaved,
medians reported; the relay's CPU per message from /proc (all its
processes); the relay's outbound full handshakes per message from the
sink's counters (tls - resumed); where the CPU goes (TLS libraries, the
kernel, the rest) from `perf record -a` over one more run of the headline
cell per relay, split by process and shared object. Last, RSS per idle
inbound TLS session of relayd (1,000 sessions after STARTTLS and EHLO).

    bench.py --tls-only [--quick] [--out DIR]    these cells alone (results.md's
                                                 section replaced)
"""

import json
import os
import re
import socket
import ssl
import statistics
import subprocess
import time
from pathlib import Path

import bench

BEGIN = "<!-- tls: begin -->"
END = "<!-- tls: end -->"
PEERS = ("direct", "relayd", "postfix")
MODES = ("out", "inout")
HEADLINE = ("inout", "ecdsa", "1.3", 1024, 50)
# The full set: size x concurrency x mode with ECDSA P-256 and TLS 1.3, and
# at 1 KiB c=50 the other certificate and version combinations.
FULL_CELLS = ([(mode, "ecdsa", "1.3", size, conc) for mode in MODES for size in (1024, 102400)
               for conc in (10, 50)]
              + [(mode, cert, ver, 1024, 50) for mode in MODES
                 for cert, ver in (("rsa", "1.3"), ("ecdsa", "1.2"), ("rsa", "1.2"))])
QUICK_CELLS = [("out", "ecdsa", "1.3", 1024, 10), ("inout", "ecdsa", "1.3", 1024, 10)]
# Postfix again with smtp_tls_connection_reuse = yes (tlsproxy): what an
# operator who tunes it would run; relayd always reuses connections.
REUSE_CELLS = [("out", "ecdsa", "1.3", 1024, 50), ("inout", "ecdsa", "1.3", 1024, 50)]
RUN_SECONDS = 5.0
MIN = {1024: 2000, 102400: 600}
MAX = {1024: 40000, 102400: 10000}
WARMUP = {1024: 600, 102400: 200}
QUICK_MSGS = {1024: 300, 102400: 60}
ROUNDS = 3
IDLE_SESSIONS = 1000

RELAYD_TLS_CONF = """\
# written by bench/tlscells.py: everything to the sink; STARTTLS offered to
# clients with the cell's certificate, and used toward the sink ("may").
hostname = "{hostname}"
spool = "{spool}"

listen "bench" {{
	address = "127.0.0.1"
	port = {port}
	allow = {{ "127.0.0.0/8" }}
	max_clients = 20000
	tls = "starttls"
	tls_cert = "{cert}"
	tls_key = "{key}"
}}

transport "sink" {{
	relay = {{ "[127.0.0.1]:{sink}" }}
	tls = "may"
	max_connections = 20
}}

route "*" {{
	transport = "sink"
}}
"""


def tool(name: str) -> str:
    """bench/tools' binaries: next to the relayd under test, else build/."""
    for d in (Path(os.environ.get("RELAYD_BENCH_TOOLS", "")), bench.REPO / "build" / "bench"):
        p = d / name
        if str(d) and p.is_file() and os.access(p, os.X_OK):
            return str(p)
    raise bench.BenchError(f"{name} not built: make bench-tools")


# ---- certificates -------------------------------------------------------------

def make_certs(d: Path) -> dict:
    """A CA and, for each key type, a leaf for the relay and one for the sink."""
    d.mkdir(parents=True, exist_ok=True)

    def ossl(*args):
        bench.run(["openssl", *args])

    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"), "-days", "30",
         "-subj", "/CN=relayd bench CA")
    out = {}
    for kind in ("ecdsa", "rsa"):
        for who, name in (("relay", bench.HOSTNAME), ("sink", "sink.bench")):
            key, csr, crt = (d / f"{who}-{kind}.key", d / f"{who}-{kind}.csr",
                             d / f"{who}-{kind}.pem")
            if kind == "ecdsa":
                ossl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-out", str(key))
            else:
                ossl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                     "-out", str(key))
            ossl("req", "-new", "-key", str(key), "-out", str(csr), "-subj", f"/CN={name}")
            ext = d / f"{who}-{kind}.ext"
            ext.write_text(f"subjectAltName=DNS:{name},IP:127.0.0.1\n")
            ossl("x509", "-req", "-in", str(csr), "-CA", str(d / "ca.pem"), "-CAkey",
                 str(d / "ca.key"), "-CAcreateserial", "-out", str(crt), "-days", "30",
                 "-extfile", str(ext))
            os.chmod(key, 0o644)   # Postfix's smtpd reads it; a bench-only key
            out[(who, kind)] = (str(crt), str(key))
    return out


# ---- the sink -----------------------------------------------------------------

class TlsSink(bench.Sink):
    """smtpsink -c with the cell's certificate and TLS version; its counters
    also give TLS sessions and resumptions."""

    def __init__(self, port: int, cert: str, key: str, version: str):
        super().__init__(port, name="tlssink")
        self.cmd = [tool("smtpsink"), "-c", "-u", "nobody", "--cert", cert, "--key", key,
                    "-T", version, f"127.0.0.1:{port}", "1024"]

    def tls_counts(self):
        """(TLS sessions, resumed) since the sink started: its counters are
        running totals, and the file is truncated between runs, so the last
        figures seen are kept."""
        last = getattr(self, "tls_last", (0, 0))
        try:
            data = self.counters.read_bytes()[-512:]
        except OSError:
            return last
        lines = [ln for ln in data.split(b"\r") if b"tls=" in ln and b"mesg=" in ln]
        if lines:
            tls = re.search(rb"tls=(\d+)", lines[-1])
            res = re.search(rb"resumed=(\d+)", lines[-1])
            if tls and res:
                last = (max(last[0], int(tls.group(1))), max(last[1], int(res.group(1))))
        self.tls_last = last
        return last

    def reset(self):
        self.tls_counts()
        super().reset()


# ---- the relays ---------------------------------------------------------------

class TlsRelayd(bench.Relayd):
    label = "relayd-tls"

    def __init__(self, binary: Path, port: int, sink_port: int, cert: str, key: str):
        self.cert, self.key = cert, key
        super().__init__(binary, port, sink_port)

    def write_conf(self, sink_port: int):
        self.conf.write_text(RELAYD_TLS_CONF.format(hostname=bench.HOSTNAME, spool=self.spool,
                                                    port=self.port, sink=sink_port,
                                                    cert=self.cert, key=self.key))


class TlsPostfix(bench.Postfix):
    label = "postfix-tls"

    def __init__(self, port: int, sink_port: int, cert: str, key: str):
        super().__init__(port, sink_port)
        self.cert, self.key = cert, key

    def settings(self):
        s = [kv for kv in super().settings()
             if kv[0] not in ("smtpd_tls_security_level", "smtp_tls_security_level")]
        return s + [
            ("smtpd_tls_security_level", "may"),
            ("smtpd_tls_cert_file", self.cert),
            ("smtpd_tls_key_file", self.key),
            ("smtpd_tls_session_cache_database", "btree:${data_directory}/smtpd_scache"),
            ("smtp_tls_security_level", "may"),
            ("smtp_tls_session_cache_database", "btree:${data_directory}/smtp_scache"),
        ]

    def setup(self):
        super().setup()
        # bench.master_cf() drops tlsmgr; the session caches need it.
        mc = self.etc / "master.cf"
        mc.write_text(mc.read_text()
                      + "tlsmgr    unix  -       -       n       1000?   1       tlsmgr\n")


class TlsPostfixReuse(TlsPostfix):
    """The same with TLS connections reused (Postfix 3.4+: the smtp client
    hands the TLS session to tlsproxy so the connection cache can keep it)."""
    name = "postfix-reuse"
    label = "postfix-tlsreuse"

    def settings(self):
        return super().settings() + [("smtp_tls_connection_reuse", "yes")]

    def setup(self):
        super().setup()
        mc = self.etc / "master.cf"
        mc.write_text(mc.read_text()
                      + "tlsproxy  unix  -       -       n       -       0       tlsproxy\n")


# ---- one run --------------------------------------------------------------------

def load_cmd(port: int, msgs: int, conc: int, size: int, starttls: bool, version: str):
    return ([tool("smtpload"), "-q", "-m", str(msgs), "-s", str(conc), "-l", str(size),
             "-f", bench.SENDER, "-t", bench.RCPT, "-T", version]
            + (["-S"] if starttls else []) + [f"127.0.0.1:{port}"])


def run_one(peer, sink: TlsSink, cell, msgs: int) -> dict:
    mode, cert, ver, size, conc = cell
    sink.reset()
    n0 = sink.count()
    tls0 = sink.tls_counts()
    target = n0 + msgs
    res = dict(peer=peer.name, mode=mode, cert=cert, version=ver, size=size, conc=conc,
               msgs=msgs, status="ok")
    cmd = load_cmd(peer.port, msgs, conc, size, mode == "inout", ver)
    errf = open(bench.BASE / "smtpload.err", "wb")
    outf = open(bench.BASE / "smtpload.out", "wb")
    p0 = peer.cpu_ticks()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=outf, stderr=errf,
                            start_new_session=True)
    bench.RUNNING.append(proc)
    errf.close()
    outf.close()
    t_acc = t_e2e = None
    last_n, last_change = n0, t0
    while True:
        time.sleep(bench.POLL)
        now = time.monotonic()
        n = sink.count()
        if n != last_n:
            last_n, last_change = n, now
        if t_acc is None and proc.poll() is not None:
            t_acc = now
            if proc.returncode != 0:
                res["status"] = f"smtpload exit {proc.returncode}"
                break
        if t_e2e is None and n >= target:
            t_e2e = now
        if t_acc is not None and t_e2e is not None:
            break
        if now - last_change > bench.STALL:
            res["status"] = f"stalled: sink counted {n - n0} of {msgs} after {now - t0:.0f} s"
            break
    p1 = peer.cpu_ticks()
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)
    bench.RUNNING.remove(proc)
    err = (bench.BASE / "smtpload.err").read_text(errors="replace").strip()
    if err:
        res["load_stderr"] = err[-1000:]
    res["load_summary"] = (bench.BASE / "smtpload.out").read_text(errors="replace").strip()
    tls1 = sink.tls_counts()
    res["sink_tls"] = tls1[0] - tls0[0]
    res["sink_resumed"] = tls1[1] - tls0[1]
    if p0 is not None and p1 is not None:
        res["relay_cpu_us"] = (p1 - p0) / bench.HZ * 1e6 / msgs
    if res["status"] == "ok":
        res["accept_rate"] = msgs / (t_acc - t0)
        res["e2e_rate"] = msgs / (t_e2e - t0)
    return res


def fmt(r: dict) -> str:
    if r["status"] != "ok":
        return f"{r['peer']:7} FAILED: {r['status']} {r.get('load_stderr', '')[:200]}"
    return (f"{r['peer']:7} {r['msgs']:6} msgs  end-to-end {r['e2e_rate']:7.0f}/s"
            + (f"  {r['relay_cpu_us']:5.0f} µs/msg" if r.get("relay_cpu_us") else "")
            + f"  sink TLS {r['sink_tls']} (resumed {r['sink_resumed']})")


# ---- where the CPU goes (perf) --------------------------------------------------

TLS_DSOS = ("libssl", "libcrypto")


def perf_split(peer, sink, cell, msgs: int, data: Path) -> dict:
    """One more run under `perf record -a`; samples of the relay's
    processes split into the TLS libraries, the kernel and the rest."""
    comms = {"relayd"} if peer.name == "relayd" else {
        "smtpd", "smtp", "cleanup", "qmgr", "tlsmgr", "trivial-rewrite", "master", "anvil",
        "scache", "proxymap", "postlogd"}
    rec = bench.Recorder(["perf", "record", "-a", "-F", "999", "-o", str(data)])
    r = run_one(peer, sink, cell, msgs)
    rec.stop()
    text = bench.sh(["perf", "report", "-i", str(data), "--stdio", "--sort", "comm,dso",
                     "-F", "sample,comm,dso", "--percentage", "absolute"])
    split = dict(tls=0, kernel=0, other=0)
    for line in text.splitlines():
        m = re.match(r"\s*(\d+)\s+(\S+)\s+(.+?)\s*$", line)
        if not m or m.group(2) not in comms:
            continue
        n, dso = int(m.group(1)), m.group(3)
        if any(t in dso for t in TLS_DSOS):
            split["tls"] += n
        elif "kernel" in dso:
            split["kernel"] += n
        else:
            split["other"] += n
    total = sum(split.values())
    r["perf_samples"] = total
    if total and r.get("relay_cpu_us"):
        r["cpu_split_us"] = {k: r["relay_cpu_us"] * v / total for k, v in split.items()}
    return r


# ---- memory of idle TLS sessions ------------------------------------------------

def idle_tls_sessions(relayd, count: int) -> dict:
    """RSS of relayd with COUNT idle inbound sessions after STARTTLS and EHLO
    (TLS 1.3, no resumption), minus RSS with 50 such sessions open."""
    bench.raise_nofile()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    def reply(f):
        while True:
            line = f.readline()
            if not line:
                raise bench.BenchError("relayd closed an idle TLS session")
            if line[3:4] == b" ":
                return line

    def one():
        s = socket.create_connection(("127.0.0.1", relayd.port), timeout=10)
        f = s.makefile("rb")
        reply(f)
        s.sendall(b"EHLO idle.bench\r\n")
        reply(f)
        s.sendall(b"STARTTLS\r\n")
        reply(f)
        t = ctx.wrap_socket(s)
        t.sendall(b"EHLO idle.bench\r\n")
        reply(t.makefile("rb"))
        return t

    socks = []
    try:
        socks = [one() for _ in range(50)]
        time.sleep(0.5)
        r0 = bench.rss_kib(relayd.proc.pid)
        socks += [one() for _ in range(count)]
        time.sleep(1.0)
        r1 = bench.rss_kib(relayd.proc.pid)
    finally:
        for s in socks:
            s.close()
    return dict(sessions=count, rss0_kib=r0, rss1_kib=r1, per_session_kib=(r1 - r0) / count)


# ---- the cells --------------------------------------------------------------------

def run(args, binary: Path) -> dict:
    quick = args.quick
    cells = QUICK_CELLS if quick else FULL_CELLS
    rounds = 1 if quick else ROUNDS
    certs = make_certs(bench.BASE / "tls-certs")
    use_perf = not quick and bench.perf_works()
    rows, perf, idle = [], [], None
    sink_port, relay_port, pf_port = (bench.free_port(10130), bench.free_port(10126),
                                      bench.free_port(10125))
    bench.log(f"tls: {len(cells)} cells × {rounds} rounds of direct, relayd, Postfix"
              + ("" if use_perf else " (no perf: no CPU split)"))
    sink = relayd = postfix = None
    try:
        for cell in cells:
            mode, cert, ver, size, conc = cell
            bench.wait_quiet(max_wait=0 if quick else 300, sample=0.2 if quick else 1.0)
            bench.log(f"tls cell {mode} {cert} TLS {ver} {bench.kib(size)} c={conc}")
            for p in (relayd, postfix, sink):
                if p:
                    p.stop()
            sink = TlsSink(sink_port, *certs[("sink", cert)], ver)
            sink.start()
            relayd = TlsRelayd(binary, relay_port, sink_port, *certs[("relay", cert)])
            relayd.start()
            postfix = TlsPostfix(pf_port, sink_port, *certs[("relay", cert)])
            postfix.start()
            peers = {"direct": bench.Direct(sink), "relayd": relayd, "postfix": postfix}
            counts = {}
            for name in PEERS:
                if quick:
                    counts[name] = QUICK_MSGS[size]
                    continue
                w = run_one(peers[name], sink, cell, WARMUP[size])
                counts[name] = (bench.nice_count(w["e2e_rate"] * RUN_SECONDS, MIN[size],
                                                 MAX[size]) if w["status"] == "ok" else MIN[size])
                if w["status"] != "ok":
                    bench.log(f"  warm-up {fmt(w)}")
                    bench.restart(peers[name])
                time.sleep(1.0)
            for rnd in range(rounds):
                for name in PEERS:
                    r = run_one(peers[name], sink, cell, counts[name])
                    r["round"] = rnd + 1
                    bench.log(f"  {rnd + 1}: {fmt(r)}")
                    rows.append(r)
                    if r["status"] != "ok":
                        bench.restart(peers[name])
                    time.sleep(0.2 if quick else 1.0)
            if use_perf and cell == HEADLINE:
                for name in ("relayd", "postfix"):
                    r = perf_split(peers[name], sink, cell, counts[name],
                                   bench.BASE / f"tls-{name}.perf")
                    bench.log(f"  perf: {fmt(r)} split {r.get('cpu_split_us')}")
                    perf.append(r)
        for cell in ([] if quick else REUSE_CELLS):
            mode, cert, ver, size, conc = cell
            bench.log(f"tls cell {mode} {cert} TLS {ver} {bench.kib(size)} c={conc}: Postfix "
                      "with smtp_tls_connection_reuse = yes")
            for p in (relayd, postfix, sink):
                if p:
                    p.stop()
            sink = TlsSink(sink_port, *certs[("sink", cert)], ver)
            sink.start()
            postfix = TlsPostfixReuse(pf_port, sink_port, *certs[("relay", cert)])
            postfix.start()
            w = run_one(postfix, sink, cell, WARMUP[size])
            n = (bench.nice_count(w["e2e_rate"] * RUN_SECONDS, MIN[size], MAX[size])
                 if w["status"] == "ok" else MIN[size])
            for rnd in range(rounds):
                r = run_one(postfix, sink, cell, n)
                r["round"] = rnd + 1
                bench.log(f"  {rnd + 1}: {fmt(r)}")
                rows.append(r)
                if r["status"] != "ok":
                    bench.restart(postfix)
                time.sleep(1.0)
        if relayd:
            for p in (postfix, sink):
                p.stop()
            relayd.stop()
            relayd.start()
            idle = idle_tls_sessions(relayd, 100 if quick else IDLE_SESSIONS)
            bench.log(f"tls: idle inbound TLS sessions: {idle['per_session_kib']:.1f} KiB each")
    finally:
        for p in (relayd, postfix, sink):
            if p:
                p.stop()
    return dict(cells=[list(c) for c in cells], rounds=rounds, quick=quick, rows=rows,
                reuse_cells=[] if quick else [list(c) for c in REUSE_CELLS],
                perf=perf, idle=idle, at=time.time(), nproc=os.cpu_count(),
                openssl=bench.sh(["openssl", "version"]).strip())


# ---- the report -----------------------------------------------------------------

def medians(entry: dict, cells=None, peers=PEERS) -> list:
    out = []
    for cell in entry["cells"] if cells is None else cells:
        mode, cert, ver, size, conc = cell
        row = dict(mode=mode, cert=cert, version=ver, size=size, conc=conc)
        for peer in peers:
            rs = [r for r in entry["rows"] if r["peer"] == peer and r["status"] == "ok"
                  and [r["mode"], r["cert"], r["version"], r["size"], r["conc"]] == cell]
            failed = [r for r in entry["rows"] if r["peer"] == peer and r["status"] != "ok"
                      and [r["mode"], r["cert"], r["version"], r["size"], r["conc"]] == cell]
            row[peer] = None
            if rs:
                row[peer] = dict(
                    rate=statistics.median(r["e2e_rate"] for r in rs),
                    cpu=statistics.median(r["relay_cpu_us"] for r in rs)
                    if peer != "direct" else None,
                    hs=statistics.median((r["sink_tls"] - r["sink_resumed"]) / r["msgs"]
                                         for r in rs),
                    sess=statistics.median(r["sink_tls"] / r["msgs"] for r in rs),
                    failed=len(failed))
        out.append(row)
    return out


def section(entry: dict) -> str:
    if not entry:
        return ""
    rows = medians(entry)
    L = [BEGIN, "## TLS (issue 19): STARTTLS, side by side with Postfix", "",
         f"Run {time.strftime('%Y-%m-%d %H:%M', time.localtime(entry['at']))}; "
         f"{entry.get('openssl', '')}; relayd git {entry.get('relayd_git', '?')}"
         + (" — QUICK smoke run, not a measurement" if entry.get("quick") else "") + ". "
         "bench/tools' smtpload → relay → smtpsink, one message per inbound connection "
         "(each a full handshake when the client does STARTTLS); `out`: the client in "
         "plaintext, STARTTLS relay → sink; `inout`: STARTTLS on both sides. The sink "
         "offers only the cell's TLS version, with a certificate of the cell's key type, "
         "as do the relays' listeners. relayd: listener `tls = \"starttls\"`, transport "
         "`tls = \"may\"`; Postfix: `smtpd_tls_security_level = may`, "
         "`smtp_tls_security_level = may`, both session caches (tlsmgr), otherwise as "
         "peer-baseline.md (so no TLS connection reuse: `smtp_tls_connection_reuse = no` "
         "is its default). "
         + (f"Medians of {entry['rounds']} interleaved rounds. " if entry["rounds"] > 1 else "")
         + "CPU is the relay's (all its processes) per message; out-hs is the relay's full "
         "handshakes toward the sink per message (the sink's TLS sessions minus resumed "
         "ones), and in brackets all its TLS sessions toward the sink per message, resumed "
         "or not.", "",
         "| mode | key | TLS | size | c | direct msgs/s | relayd msgs/s | Postfix msgs/s | "
         "relayd/Postfix | relayd CPU µs/msg | Postfix CPU µs/msg | relayd out-hs/msg | "
         "Postfix out-hs/msg |",
         "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def f(x, nd=0):
        return "–" if x is None else f"{x:,.{nd}f}"

    def hs(p):
        return "–" if not p else f"{p['hs']:.3f} ({p['sess']:.3f})"

    for r in rows:
        d, rl, pf = r["direct"], r["relayd"], r["postfix"]
        ratio = rl["rate"] / pf["rate"] if rl and pf and pf["rate"] else None
        L.append(f"| {r['mode']} | {r['cert']} | {r['version']} | {bench.kib(r['size'])} | "
                 f"{r['conc']} | {f(d and d['rate'])} | {f(rl and rl['rate'])} | "
                 f"{f(pf and pf['rate'])} | "
                 + (f"**{ratio:.2f}**" if ratio else "–")
                 + f" | {f(rl and rl['cpu'])} | {f(pf and pf['cpu'])} | "
                 f"{hs(rl)} | {hs(pf)} |")
    L.append("")
    reuse = medians(entry, entry.get("reuse_cells") or [], ("postfix-reuse",))
    if reuse:
        L.append("Postfix tuned: the same cells with `smtp_tls_connection_reuse = yes` (and "
                 "tlsproxy in master.cf), so that its connection cache keeps TLS connections "
                 "to the sink as relayd does; relayd's figures from the table above:")
        L.append("")
        L.append("| mode | key | TLS | size | c | relayd msgs/s | Postfix (reuse) msgs/s | "
                 "relayd/Postfix | Postfix CPU µs/msg | Postfix out-hs/msg |")
        L.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
        base = {(r["mode"], r["cert"], r["version"], r["size"], r["conc"]): r for r in rows}
        for r in reuse:
            pr = r["postfix-reuse"]
            b = base.get((r["mode"], r["cert"], r["version"], r["size"], r["conc"]))
            rl = b["relayd"] if b else None
            ratio = rl["rate"] / pr["rate"] if rl and pr and pr["rate"] else None
            L.append(f"| {r['mode']} | {r['cert']} | {r['version']} | {bench.kib(r['size'])} | "
                     f"{r['conc']} | {f(rl and rl['rate'])} | {f(pr and pr['rate'])} | "
                     + (f"**{ratio:.2f}**" if ratio else "–")
                     + f" | {f(pr and pr['cpu'])} | {hs(pr)} |")
        L.append("")
    if entry.get("perf"):
        L.append("Where the relay's CPU goes in the headline cell (inout, ECDSA, TLS 1.3, "
                 "1 KiB, c=50), `perf record -a` over one more run, samples of the relay's "
                 "processes by shared object, scaled to its CPU per message of that run. At "
                 "1 KiB the record encryption is about a microsecond a message (AES-GCM), so "
                 "the TLS libraries' share is the handshakes' (Debian's libssl has no symbols "
                 "for its state machine, so a call-graph split cannot name them):")
        L.append("")
        L.append("| relay | CPU µs/msg | libssl + libcrypto | kernel | the rest |")
        L.append("|---|---:|---:|---:|---:|")
        for r in entry["perf"]:
            s = r.get("cpu_split_us")
            if not s:
                L.append(f"| {r['peer']} | {f(r.get('relay_cpu_us'))} | – | – | – |")
                continue
            L.append(f"| {r['peer']} | {r['relay_cpu_us']:,.0f} | {s['tls']:,.0f} | "
                     f"{s['kernel']:,.0f} | {s['other']:,.0f} |")
        L.append("")
    by = {(r["mode"], r["cert"], r["version"], r["size"], r["conc"]): r for r in rows}
    pairs = []
    for (mode, cert, ver, size, conc), r in by.items():
        o = by.get(("out", cert, ver, size, conc))
        if mode == "inout" and o:
            pairs.append((cert, ver, size, conc, o, r))
    if pairs:
        L.append("What a full inbound handshake costs each relay (per message, one handshake "
                 "each): its CPU per message in the inout cell minus the out cell with the same "
                 "key, version, size and concurrency (the outbound side is the same in both):")
        L.append("")
        L.append("| key | TLS | size | c | relayd out → inout µs | relayd inbound TLS µs | "
                 "Postfix out → inout µs | Postfix inbound TLS µs |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for cert, ver, size, conc, o, r in pairs:
            cells = []
            for peer in ("relayd", "postfix"):
                a, b = o[peer], r[peer]
                if a and b and a["cpu"] is not None and b["cpu"] is not None:
                    cells += [f"{a['cpu']:,.0f} → {b['cpu']:,.0f}", f"{b['cpu'] - a['cpu']:,.0f}"]
                else:
                    cells += ["–", "–"]
            L.append(f"| {cert} | {ver} | {bench.kib(size)} | {conc} | " + " | ".join(cells)
                     + " |")
        L.append("")
    if entry.get("idle"):
        i = entry["idle"]
        L.append(f"Idle inbound TLS sessions (relayd, TLS 1.3, ECDSA, after STARTTLS and EHLO): "
                 f"{i['sessions']:,} sessions add {i['rss1_kib'] - i['rss0_kib']:,} KiB of RSS, "
                 f"**{i['per_session_kib']:.1f} KiB a session** (target ≤ 40).")
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
    data["tls"] = entry
    p.write_text(json.dumps(data, indent=1, default=str) + "\n")
    md = out / "results.md"
    old = md.read_text() if md.exists() else (
        "<!-- generated by bench/bench.py (`make bench`); do not edit by hand -->\n"
        "# relayd benchmark\n")
    md.write_text(merge_md(old, section(entry)))

