"""
dnssec.py -- a real validating resolver on loopback, for DANE tests.

  SignedDns(workdir, zones).start() / .stop()
      .port      unbound's port on 127.0.0.1 (relayd's dns_servers)

ZONES is {zone: [records]}: each zone is served by nsd on 127.0.0.1 (its
own port) and unbound, validating, reaches it through a stub-zone. A zone
whose name is in SIGNED is signed offline with ldns-signzone (a KSK and a
ZSK, ECDSA P-256), and unbound gets its DS as a trust anchor: answers from
it carry the AD bit. The other zones are unsigned: answered without AD.
BOGUS names (in signed zones) get their A or TLSA data changed after
signing, so their signature no longer matches: unbound answers SERVFAIL
for them.

Records are zone-file lines relative to the zone ("mx1 A 127.0.0.2",
"_25._tcp.mx1 TLSA 3 1 1 ABCD..."); the SOA and NS records are added.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from harness import free_port

NSD = shutil.which("nsd") or "/usr/sbin/nsd"
UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
KEYGEN = shutil.which("ldns-keygen") or "/usr/bin/ldns-keygen"
SIGNZONE = shutil.which("ldns-signzone") or "/usr/bin/ldns-signzone"
KEY2DS = shutil.which("ldns-key2ds") or "/usr/bin/ldns-key2ds"


def available():
    """The tools are installed (make test installs them: nsd, unbound,
    ldnsutils)."""
    return all(os.access(p, os.X_OK) for p in (NSD, UNBOUND, KEYGEN, SIGNZONE, KEY2DS))


def _run(*args, cwd):
    p = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {p.returncode}: {p.stderr}{p.stdout}")
    return p.stdout


def _udp_answers(port, timeout=5.0):
    """Wait until something answers DNS on 127.0.0.1:PORT (any reply)."""
    q = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
         b"\x00\x00\x02\x00\x01")                       # ". NS"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(q, ("127.0.0.1", port))
                s.recvfrom(512)
                return True
            except OSError:
                time.sleep(0.05)
    return False


class SignedDns:
    def __init__(self, workdir, zones, signed=(), bogus=()):
        self.dir = Path(workdir) / f"dnssec-{os.getpid()}-{id(self)}"
        self.zones = dict(zones)
        self.signed = set(signed)
        self.bogus = set(bogus)
        self.port = None
        self.nsd_port = None
        self.procs = []

    def _zonefile(self, zone, records):
        z = zone.rstrip(".") + "."
        lines = [f"$ORIGIN {z}", "$TTL 300",
                 f"@ SOA ns.{z} hostmaster.{z} 1 3600 600 86400 300",
                 f"@ NS ns.{z}", "ns A 127.0.0.1"]
        lines += list(records)
        path = self.dir / f"{zone}.zone"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _sign(self, zone, path):
        z = zone.rstrip(".") + "."
        ksk = _run(KEYGEN, "-a", "ECDSAP256SHA256", "-k", z, cwd=self.dir).strip()
        zsk = _run(KEYGEN, "-a", "ECDSAP256SHA256", z, cwd=self.dir).strip()
        _run(SIGNZONE, "-f", str(path) + ".signed", str(path), zsk, ksk, cwd=self.dir)
        ds = _run(KEY2DS, "-n", "-2", ksk + ".key", cwd=self.dir).strip()
        signed = Path(str(path) + ".signed")
        if self.bogus:
            # Change the data of each bogus name behind its signature: an
            # A record's address, a TLSA record's last digit.
            out = []
            for ln in signed.read_text().splitlines():
                f = ln.split()
                if len(f) >= 5 and f[0].rstrip(".") in self.bogus:
                    if f[3] == "A":
                        f[4] = "127.0.0.99"
                    elif f[3] == "TLSA":
                        f[-1] = f[-1][:-1] + ("0" if f[-1][-1] != "0" else "1")
                    ln = "\t".join(f)
                out.append(ln)
            signed.write_text("\n".join(out) + "\n")
        return signed, ds

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        anchors = []
        zone_conf = []
        for zone, records in self.zones.items():
            path = self._zonefile(zone, records)
            if zone in self.signed:
                path, ds = self._sign(zone, path)
                anchors.append(ds)
            zone_conf.append(f"zone:\n\tname: \"{zone}\"\n\tzonefile: \"{path}\"\n")
        self._retrying("nsd", lambda: self._start_nsd(zone_conf))
        self._retrying("unbound", lambda: self._start_unbound(anchors))
        return self

    def _retrying(self, name, start):
        """Run START; nsd and unbound bind UDP and TCP on their port, and a
        port free for UDP may be taken for TCP (an outgoing connection's
        ephemeral port) or grabbed meanwhile: then pick another port."""
        for attempt in range(8):
            try:
                return start()
            except RuntimeError as e:
                if "already in use" not in str(e) or attempt == 7:
                    raise
                p = self.procs.pop() if self.procs and self.procs[-1].name == name else None
                if p is not None and p.poll() is None:
                    p.kill()
                    p.wait()
                for f in (self.dir / f"{name}.out", self.dir / f"{name}.log"):
                    f.unlink(missing_ok=True)

    def _start_nsd(self, zone_conf):
        self.nsd_port = free_port("127.0.0.1", socket.SOCK_DGRAM)
        nsd_conf = self.dir / "nsd.conf"
        nsd_conf.write_text(
            "server:\n"
            f"\tip-address: 127.0.0.1@{self.nsd_port}\n"
            "\tdo-ip6: no\n"
            f"\tzonesdir: \"{self.dir}\"\n"
            f"\tpidfile: \"{self.dir}/nsd.pid\"\n"
            "\tdatabase: \"\"\n"
            f"\tzonelistfile: \"{self.dir}/zone.list\"\n"
            f"\txfrdfile: \"{self.dir}/xfrd.state\"\n"
            f"\txfrdir: \"{self.dir}\"\n"
            f"\tlogfile: \"{self.dir}/nsd.log\"\n"
            "\tusername: \"\"\n"
            "\tserver-count: 1\n"
            "remote-control:\n\tcontrol-enable: no\n" + "".join(zone_conf))
        self._spawn([NSD, "-d", "-c", str(nsd_conf)], "nsd")
        if not _udp_answers(self.nsd_port):
            raise RuntimeError("nsd did not answer: " + self._logs())

    def _start_unbound(self, anchors):
        self.port = free_port("127.0.0.1", socket.SOCK_DGRAM)
        anchor_file = self.dir / "anchors"
        anchor_file.write_text("\n".join(anchors) + "\n")
        stubs = "".join(f"stub-zone:\n\tname: \"{z}\"\n\tstub-addr: 127.0.0.1@{self.nsd_port}\n"
                        for z in self.zones)
        ub_conf = self.dir / "unbound.conf"
        ub_conf.write_text(
            "server:\n"
            f"\tinterface: 127.0.0.1@{self.port}\n"
            "\tdo-ip6: no\n"
            "\taccess-control: 127.0.0.0/8 allow\n"
            "\tdo-not-query-localhost: no\n"
            "\tusername: \"\"\n"
            "\tchroot: \"\"\n"
            f"\tdirectory: \"{self.dir}\"\n"
            f"\tpidfile: \"{self.dir}/unbound.pid\"\n"
            "\tuse-syslog: no\n"
            f"\tlogfile: \"{self.dir}/unbound.log\"\n"
            "\tverbosity: 1\n"
            "\tmodule-config: \"validator iterator\"\n"
            f"\ttrust-anchor-file: \"{anchor_file}\"\n"
            "\tval-log-level: 2\n"
            "\tnum-threads: 1\n"
            # .test is special-use (RFC 6761): unbound answers it itself
            # unless told not to.
            "\tlocal-zone: \"test.\" nodefault\n"
            + stubs
            + "remote-control:\n\tcontrol-enable: no\n")
        self._spawn([UNBOUND, "-d", "-c", str(ub_conf)], "unbound")
        if not _udp_answers(self.port):
            raise RuntimeError("unbound did not answer: " + self._logs())

    def _spawn(self, args, name):
        log = open(self.dir / f"{name}.out", "ab")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        p.name = name
        self.procs.append(p)
        time.sleep(0.05)
        if p.poll() is not None:
            raise RuntimeError(f"{name} exited: " + self._logs())

    def _logs(self):
        out = []
        for f in sorted(self.dir.glob("*.out")) + sorted(self.dir.glob("*.log")):
            out.append(f"--- {f.name}\n{f.read_text(errors='replace')[-3000:]}")
        return "\n".join(out)

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
