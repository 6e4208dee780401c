"""
sites.py -- the sites cell of `make bench` (issue 15): connection reuse
across the domains of one site.

1,000 recipient domains whose MX records all name the same two hosts (as
Microsoft 365's or Google Workspace's customers do), both on the bench's
smtp-sink; a real DNS server (dnsmasq, on a free loopback port) answers for
them. relayd delivers by MX with `destination_by = "domain"` (each domain
its own destination: its own connections) and then `"mx"` (one site for all
1,000). A load client sends one message to each domain in turn over 20
persistent inbound connections. Reported: end-to-end msgs/s (to the sink's
count), outbound connections (the sink's sessions) and messages per
outbound connection. The sink is a small asyncio one here (`--sink`), not
smtp-sink: smtp-sink serves 256 sessions at a time, and one destination per
domain keeps about a thousand connections open (the cost this cell
measures), so smtp-sink would time out connections, not count them.

    bench.py --sites-only [--out DIR]    this cell alone (results.md's
                                         section replaced)
"""

import asyncio
import json
import os
import shutil
import sys
import smtplib
import socket
import subprocess
import threading
import time
from pathlib import Path

import bench

DOMAINS = 1000
MSGS = 20000
QUICK_MSGS = 2000
CONC = 20
BEGIN = "<!-- sites: begin -->"
END = "<!-- sites: end -->"

CONF = """\
# written by bench/sites.py: MX delivery of {domains} domains that share one
# MX host set, to the bench's sink; destination_by = "{by}".
hostname = "relay-bench.localdomain"
spool = "{spool}"
control_socket = "{dir}/control.sock"
dns_servers = {{ "127.0.0.1:{dns}" }}

listen "bench" {{
	address = "127.0.0.1"
	port = {port}
	allow = {{ "127.0.0.0/8" }}
	max_clients = 1000
}}

transport "mx" {{
	tls = "none"
	port = {sink}
	destination_by = "{by}"
	max_connections = 20
	max_messages_per_connection = 1000
}}

route "*" {{
	transport = "mx"
}}
"""


class SiteRelayd(bench.Relayd):
    label = "sites-relayd"

    def __init__(self, binary: Path, port: int, sink_port: int, dns_port: int, by: str):
        self.dns_port = dns_port
        self.by = by
        super().__init__(binary, port, sink_port)

    def write_conf(self, sink_port: int):
        self.conf.write_text(CONF.format(domains=DOMAINS, by=self.by, spool=self.spool,
                                         dir=self.dir, dns=self.dns_port, port=self.port,
                                         sink=sink_port))


class Dns:
    """dnsmasq answering MX for d0..d999.sites.bench: mx1 and mx2.sites.bench,
    both 127.0.0.1; nothing else (--local=/bench/)."""

    def __init__(self):
        self.dir = bench.BASE / "sites-dns"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = None
        self.port = None

    def start(self):
        conf = self.dir / "dnsmasq.conf"
        lines = [f"mx-host=d{i}.sites.bench,mx{k}.sites.bench,{10 * k}"
                 for i in range(DOMAINS) for k in (1, 2)]
        lines += ["host-record=mx1.sites.bench,127.0.0.1", "host-record=mx2.sites.bench,127.0.0.1",
                  "local=/bench/", "no-resolv", "no-hosts", "listen-address=127.0.0.1",
                  "bind-interfaces", "cache-size=0", "pid-file=", "user=root"]
        conf.write_text("\n".join(lines) + "\n")
        exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        for _ in range(8):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            err = open(self.dir / "stderr", "wb")
            self.proc = subprocess.Popen([exe, "--keep-in-foreground", f"--conf-file={conf}",
                                          f"--port={self.port}"], stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err, start_new_session=True)
            err.close()
            bench.RUNNING.append(self.proc)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self.answers():
                    return self
                time.sleep(0.05)
            self.stop()
        raise bench.BenchError("dnsmasq did not start: " +
                               (self.dir / "stderr").read_text(errors="replace"))

    def answers(self) -> bool:
        q = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
             b"\x02d0\x05sites\x05bench\x00\x00\x0f\x00\x01")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(q, ("127.0.0.1", self.port))
                return len(s.recvfrom(512)[0]) > 12
            except OSError:
                return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class PySink:
    """This file run with --sink PORT COUNTERS: an SMTP sink on asyncio that
    writes "sess=N mesg=M" lines (smtp-sink -c's counters) to COUNTERS."""

    def __init__(self):
        self.dir = bench.BASE / "sites-sink"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.counters = self.dir / "counters"
        self.port = bench.free_port(10050)
        self.proc = None

    def start(self):
        self.counters.write_bytes(b"")
        err = open(self.dir / "stderr", "wb")
        self.proc = subprocess.Popen([sys.executable, __file__, "--sink", str(self.port),
                                      str(self.counters)], stdin=subprocess.DEVNULL,
                                     stdout=err, stderr=err, start_new_session=True)
        err.close()
        bench.RUNNING.append(self.proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if bench.greets(self.port):
                return self
            time.sleep(0.05)
        raise bench.BenchError("the sites sink did not start: " +
                               (self.dir / "stderr").read_text(errors="replace"))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


def sink_main(port: int, counters: str):
    n = {"sess": 0, "mesg": 0}

    async def session(reader, writer):
        n["sess"] += 1
        writer.write(b"220 sites-sink ESMTP\r\n")
        data = False
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                if data:
                    if line == b".\r\n":
                        data = False
                        n["mesg"] += 1
                        writer.write(b"250 2.0.0 Ok\r\n")
                    continue
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(b"250-sites-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    data = True
                elif verb == b"QUIT":
                    writer.write(b"221 2.0.0 Bye\r\n")
                    await writer.drain()
                    break
                else:
                    writer.write(b"250 2.0.0 Ok\r\n")
                if not reader._buffer:  # answer what was pipelined at once
                    await writer.drain()
        except (ConnectionError, OSError):
            pass
        writer.close()

    async def report():
        with open(counters, "a") as f:
            while True:
                f.write(f"sess={n['sess']} mesg={n['mesg']}\n")
                f.flush()
                await asyncio.sleep(0.1)

    async def main():
        srv = await asyncio.start_server(session, "127.0.0.1", port, backlog=4096,
                                         limit=1 << 20)
        asyncio.get_running_loop().create_task(report())
        async with srv:
            await srv.serve_forever()

    asyncio.run(main())


def sink_counts(sink) -> tuple:
    """(sessions, messages) from smtp-sink -c's running counters."""
    try:
        with open(sink.counters, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 512))
            tail = f.read().decode(errors="replace").replace("\r", "\n").splitlines()
    except OSError:
        return 0, 0
    for line in reversed(tail):
        kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
        if "sess" in kv and "mesg" in kv:
            return int(kv["sess"]), int(kv["mesg"])
    return 0, 0


def load(port: int, msgs: int, conc: int) -> float:
    """Send MSGS messages, message n to u<n>@d<n % DOMAINS>.sites.bench, over
    CONC persistent connections; seconds taken to submit them."""
    body = ("Subject: sites bench\r\n\r\n" + "x" * 1000 + "\r\n").encode()
    todo = iter(range(msgs))
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
                    c.sendmail("bench-sender@source.example",
                               [f"u{n}@d{n % DOMAINS}.sites.bench"], body)
        except (OSError, smtplib.SMTPException) as e:
            errors.append(repr(e))

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise bench.BenchError(f"sites: the load client failed: {errors[0]}")
    return time.monotonic() - t0


def one(binary: Path, sink, dns: Dns, by: str, msgs: int) -> dict:
    relayd = SiteRelayd(binary, bench.free_port(10040), sink.port, dns.port, by)
    try:
        relayd.start()
        s0, m0 = sink_counts(sink)
        t0 = time.monotonic()
        submit = load(relayd.port, msgs, CONC)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            s1, m1 = sink_counts(sink)
            if m1 - m0 >= msgs:
                break
            time.sleep(0.05)
        took = time.monotonic() - t0
        time.sleep(6)  # idle connections close after 5 s: their sessions end
        s1, m1 = sink_counts(sink)
        sent, sess = m1 - m0, s1 - s0
        bench.log(f"    destination_by = {by}: {sent} of {msgs} in {took:.1f} s "
                  f"({sent / took:,.0f} msgs/s; submitted in {submit:.1f} s), "
                  f"{sess} outbound connections, {sent / max(sess, 1):.1f} messages each")
        if sent < msgs:
            raise bench.BenchError(f"sites: only {sent} of {msgs} messages reached the sink "
                                   f"within 300 s:\n{relayd.log_tail()}")
        return dict(by=by, msgs=msgs, sent=sent, seconds=took, submit_seconds=submit,
                    rate=sent / took, connections=sess, per_connection=sent / max(sess, 1))
    finally:
        relayd.stop()
        shutil.rmtree(relayd.spool, ignore_errors=True)


def run(args, binary: Path, unused_sink=None) -> dict:
    msgs = QUICK_MSGS if args.quick else MSGS
    bench.log(f"sites: {msgs} messages to {DOMAINS} domains of one MX host set, "
              f"{CONC} connections in")
    dns = Dns().start()
    sink = PySink().start()
    try:
        rows = [one(binary, sink, dns, by, msgs) for by in ("domain", "mx")]
    finally:
        sink.stop()
        dns.stop()
    return dict(domains=DOMAINS, conc=CONC, rows=rows, at=time.time())


def section(entry: dict) -> str:
    if not entry:
        return ""
    L = [BEGIN, f"## Sites (issue 15): {entry['domains']:,} domains behind one MX host set", "",
         f"Run {time.strftime('%Y-%m-%d %H:%M', time.localtime(entry['at']))}; relayd git "
         f"{entry.get('relayd_git', '?')}. relayd delivers by MX to an asyncio sink; "
         f"dnsmasq names the same two MX hosts for d0..d{entry['domains'] - 1}.sites.bench; "
         f"one message to each domain in turn over {entry['conc']} inbound connections "
         "(bench/sites.py). `max_connections = 20` per destination.", "",
         "| destination_by | messages | end-to-end msgs/s | outbound connections | "
         "messages per connection |", "|---|---:|---:|---:|---:|"]
    for r in entry["rows"]:
        L.append(f"| `{r['by']}` | {r['sent']:,} | {r['rate']:,.0f} | {r['connections']:,} | "
                 f"{r['per_connection']:.1f} |")
    rows = {r["by"]: r for r in entry["rows"]}
    if "domain" in rows and "mx" in rows:
        d, m = rows["domain"], rows["mx"]
        L += ["", f"`\"mx\"`: {m['rate'] / d['rate']:.2f}× the msgs/s of `\"domain\"`, "
              f"{d['connections'] / max(m['connections'], 1):.0f}× fewer connections. "
              "The msgs/s are about the load client's pace (Python's smtplib in "
              f"{entry['conc']} threads submits for nearly the whole run); what the cell "
              "shows is the connections: one destination per domain keeps about one "
              "connection per domain open, the site a handful for all of them."]
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
    data["sites"] = entry
    p.write_text(json.dumps(data, indent=1, default=str) + "\n")
    md = out / "results.md"
    old = md.read_text() if md.exists() else (
        "<!-- generated by bench/bench.py (`make bench`); do not edit by hand -->\n"
        "# relayd benchmark\n")
    md.write_text(merge_md(old, section(entry)))


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--sink":
    sink_main(int(sys.argv[2]), sys.argv[3])
