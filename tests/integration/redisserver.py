"""
redisserver.py -- a real redis-server (Debian's package) for the cluster
tests: on a free loopback port, persistence off, in the test's directory;
stopped (or killed and started again on the same port) by the test.
"""

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import List, Optional

import pytest

from harness import free_port


class RedisServer:
    def __init__(self, workdir: Path, host: str = "127.0.0.1", port: Optional[int] = None):
        self.exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port or free_port(host)
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = self.workdir / "redis.log"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self):
        if not Path(self.exe).exists():
            pytest.fail("redis-server not found: `make test` installs redis-server",
                        pytrace=False)
        args = [self.exe, "--port", str(self.port), "--bind", self.host, "--save", "",
                "--appendonly", "no", "--dir", str(self.workdir), "--daemonize", "no",
                "--logfile", str(self.log_path), "--protected-mode", "no"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"redis-server exited ({self.proc.returncode}): "
                            f"{self.log_path.read_text(errors='replace')[-2000:]}", pytrace=False)
            try:
                if self.command("PING") == "PONG":
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        pytest.fail("redis-server did not answer PING within 10 s", pytrace=False)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def command(self, *args: str, timeout: float = 5):
        """One command in RESP; the answer as str, int, list or None."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as s:
            out = f"*{len(args)}\r\n".encode()
            for a in args:
                b = a.encode() if isinstance(a, str) else a
                out += f"${len(b)}\r\n".encode() + b + b"\r\n"
            s.sendall(out)
            f = s.makefile("rb")
            return _read(f)


def _read(f):
    line = f.readline()
    if not line:
        raise OSError("redis closed the connection")
    kind, rest = line[:1], line[1:].rstrip(b"\r\n")
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode(errors="replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read(f) for _ in range(n)]
    raise OSError(f"unexpected RESP line {line!r}")


class SilentServer:
    """Accepts connections and never answers: a Redis that stalls."""

    def __init__(self, host: str = "127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.host, self.port = self.sock.getsockname()
        self.conns: List[socket.socket] = []
        import threading
        self.stopped = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)  # read nothing, answer nothing

    def stop(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
