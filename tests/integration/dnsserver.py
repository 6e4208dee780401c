"""
dnsserver.py -- a real DNS server (dnsmasq) on loopback for MX tests.

  DnsServer(records).start() / .stop()   dnsmasq on 127.0.0.1:<free UDP port>

RECORDS is a list of dnsmasq options, e.g. "mx-host=a.test,mx1.a.test,10" or
"host-record=mx1.a.test,127.0.0.3". Every name under .test that has no
record answers NXDOMAIN (--local=/test/), so nothing ever leaves loopback.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from harness import free_port

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


class DnsServer:
    def __init__(self, records, workdir: Path, domains=("test",)):
        self.records = list(records)
        self.workdir = Path(workdir)
        self.domains = domains
        self.port = free_port("127.0.0.1", socket.SOCK_DGRAM)
        self.proc = None
        self.log = self.workdir / f"dnsmasq-{self.port}.log"

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self):
        # dnsmasq binds UDP and TCP on its port: a port free for one may be
        # taken for the other, or be grabbed meanwhile; then pick another
        # (a restart after stop() keeps the port when it can).
        for attempt in range(8):
            try:
                return self._start()
            except RuntimeError as e:
                if "Address already in use" not in str(e) or attempt == 7:
                    raise
                self.port = free_port("127.0.0.1", socket.SOCK_DGRAM)

    def _start(self):
        args = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null",
                f"--port={self.port}", "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--pid-file=", "--log-queries",
                "--log-facility=-", "--cache-size=0"]
        if os.geteuid() == 0:
            args.append("--user=root")
        args += [f"--local=/{d}/" for d in self.domains]
        args += ["--" + r for r in self.records]
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(args, stdout=self.logf, stderr=subprocess.STDOUT)
        # Ready when it answers on its UDP port (a query for a name it owns).
        deadline = time.monotonic() + 5
        q = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
             b"\x04test\x00\x00\x01\x00\x01")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dnsmasq exited: " + self.log.read_text(errors="replace"))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(0.2)
                try:
                    s.sendto(q, ("127.0.0.1", self.port))
                    s.recvfrom(512)
                    return self
                except OSError:
                    time.sleep(0.05)
        raise RuntimeError("dnsmasq did not answer: " + self.log.read_text(errors="replace"))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "logf", None):
            self.logf.close()
            self.logf = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
