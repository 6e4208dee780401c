"""
tlsca.py -- a throw-away PKI for relayd's TLS tests, made with the openssl CLI.

  TestCA(dirpath, name=...)       a CA (EC P-256) in DIRPATH; .ca_path, .key_path
  TestCA.issue(name, sans, ip_sans, expired=False, key="ec") -> (cert_path, key_path)
  TestCA.self_signed(name, sans) -> (cert_path, key_path)
  TestCA.intermediate(name) -> TestCA   a sub-CA; what it issues holds the chain
  server_context(cert, key, min_version=, max_version=, ciphers=) -> ssl.SSLContext
  client_context(ca=None, min_version=, max_version=) -> ssl.SSLContext

For aiosmtpd: STARTTLS is `Controller(handler, ..., tls_context=server_context(c, k))`,
implicit TLS (port 465 style) is `Controller(handler, ..., ssl_context=...)`.
For a peer that offers only old protocols: server_context(c, k, "TLSv1.1",
"TLSv1.1") (this lowers OpenSSL's security level, which TLSv1.1 needs).

Certificates are issued with `openssl ca` and explicit start and end dates,
because OpenSSL 3.0's `x509`/`req -x509` cannot back-date: an expired
certificate is valid from 2020-01-01 to 2020-01-02. Leaf certificates carry
subjectAltName (names first, then IPs) and CN = name; by default the SAN is
[name]. Keys are EC P-256, or RSA 2048 with key="rsa" (static-RSA and
ECDHE-RSA suites need an RSA certificate). No Python package beyond the standard library is needed.

Run `python3 tests/integration/tlsca.py` for a self-test.
"""

import ipaddress
import os
import re
import ssl
import subprocess
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

OPENSSL = os.environ.get("OPENSSL", "openssl")

Version = Union[None, str, ssl.TLSVersion]

_CA_CNF = """\
[ca]
default_ca = d
[d]
database = {db}/index.txt
serial = {db}/serial
new_certs_dir = {db}
default_md = sha256
policy = p
unique_subject = no
email_in_dn = no
[p]
commonName = supplied
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
{san}
[subca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _run(*args: str, cwd: Optional[Path] = None) -> None:
    """Run openssl with ARGS; raise with its output when it fails."""
    p = subprocess.run([OPENSSL, *args], cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed ({p.returncode}):\n{p.stdout}")


def _safe(name: str) -> str:
    """NAME as a file name: "*.wild.example" -> "_.wild.example"."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", name)


_NEWKEY = {
    "ec": ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
    "rsa": ("-newkey", "rsa:2048"),
}


def _asn1(t: datetime) -> str:
    return t.strftime("%Y%m%d%H%M%SZ")


def _tls_version(v: Version) -> Optional[ssl.TLSVersion]:
    """"TLSv1.2", "TLSv1_2", ssl.TLSVersion.TLSv1_2 or None."""
    if v is None or isinstance(v, ssl.TLSVersion):
        return v
    return ssl.TLSVersion[v.replace(".", "_")]


class TestCA:
    """A certificate authority in DIRPATH (created if missing)."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, dirpath: Union[str, Path], name: str = "relayd Test CA",
                 parent: Optional["TestCA"] = None, days: int = 30):
        self.dir = Path(dirpath)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.parent = parent
        self.days = days
        stem = _safe(name).replace(" ", "_")
        self.key_path = str(self.dir / f"{stem}.key")
        self.ca_path = str(self.dir / f"{stem}.pem")
        self._db = self.dir / f"{stem}.db"
        self._db.mkdir(exist_ok=True)
        (self._db / "index.txt").touch()
        serial = self._db / "serial"
        if not serial.exists():
            serial.write_text("%016X\n" % int.from_bytes(os.urandom(7), "big"))
        if parent is None:
            _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", self.key_path, "-out", self.ca_path,
                 "-days", str(days), "-subj", f"/CN={name}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        else:
            parent._sign(self.key_path, self.ca_path, name, section="subca")

    @property
    def chain(self) -> str:
        """This CA's certificate and its parents' up to (not including) the root."""
        if self.parent is None:
            return ""
        return Path(self.ca_path).read_text() + self.parent.chain

    def _sign(self, key_path: str, cert_path: str, name: str, section: str = "leaf",
              sans: Sequence[str] = (), ip_sans: Sequence[str] = (),
              expired: bool = False, key: str = "ec") -> None:
        """Make a key and a certificate for NAME signed by this CA."""
        alt = [f"DNS:{s}" for s in sans] + [f"IP:{ipaddress.ip_address(i)}" for i in ip_sans]
        cnf = self.dir / f"{_safe(name)}.cnf"
        cnf.write_text(_CA_CNF.format(db=self._db,
                                      san=f"subjectAltName = {','.join(alt)}" if alt else ""))
        csr = cert_path + ".csr"
        _run("req", "-new", *_NEWKEY[key], "-nodes", "-keyout", key_path, "-out", csr,
             "-subj", f"/CN={name}")
        now = datetime.now(timezone.utc)
        if expired:
            start, end = "20200101000000Z", "20200102000000Z"
        else:
            start, end = _asn1(now - timedelta(days=1)), _asn1(now + timedelta(days=self.days))
        _run("ca", "-batch", "-notext", "-config", str(cnf), "-cert", self.ca_path,
             "-keyfile", self.key_path, "-in", csr, "-out", cert_path,
             "-startdate", start, "-enddate", end, "-extensions", section)
        os.unlink(csr)

    def issue(self, name: str, sans: Optional[Sequence[str]] = None,
              ip_sans: Sequence[str] = (), expired: bool = False,
              key: str = "ec") -> Tuple[str, str]:
        """A server certificate for NAME: SAN DNS names SANS (default [NAME]) and
        IP addresses IP_SANS, key KEY ("ec" or "rsa"). The cert file holds the
        chain of an intermediate."""
        sans = [name] if sans is None else list(sans)
        stem = _safe(name) + ("-expired" if expired else "") + ("-rsa" if key == "rsa" else "")
        cert, key_path = str(self.dir / f"{stem}.pem"), str(self.dir / f"{stem}.key")
        self._sign(key_path, cert, name, "leaf", sans, ip_sans, expired, key)
        if self.parent is not None:
            with open(cert, "a") as f:
                f.write(self.chain)
        return cert, key_path

    def self_signed(self, name: str, sans: Optional[Sequence[str]] = None) -> Tuple[str, str]:
        """A self-signed certificate for NAME (SAN default [NAME])."""
        sans = [name] if sans is None else list(sans)
        stem = _safe(name) + "-self"
        cert, key = str(self.dir / f"{stem}.pem"), str(self.dir / f"{stem}.key")
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key, "-out", cert, "-days", str(self.days),
             "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:FALSE",
             *(["-addext", "subjectAltName=" + ",".join(f"DNS:{s}" for s in sans)]
               if sans else []))
        return cert, key

    def intermediate(self, name: str = "relayd Test Intermediate") -> "TestCA":
        """A sub-CA signed by this one, in the same directory."""
        return TestCA(self.dir, name, parent=self, days=self.days)


def _versions(ctx: ssl.SSLContext, min_version: Version, max_version: Version) -> None:
    lo, hi = _tls_version(min_version), _tls_version(max_version)
    old = ssl.TLSVersion.TLSv1_2
    if (lo is not None and lo < old) or (hi is not None and hi < old):
        # OpenSSL 3.0 refuses TLS 1.0/1.1 above security level 0.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1_1, on purpose
        if lo is not None:
            ctx.minimum_version = lo
        if hi is not None:
            ctx.maximum_version = hi


def server_context(cert: str, key: str, min_version: Version = None,
                   max_version: Version = None, ciphers: Optional[str] = None) -> ssl.SSLContext:
    """A server-side SSLContext with CERT (chain allowed) and KEY, limited to
    MIN_VERSION..MAX_VERSION ("TLSv1.1", "TLSv1.2", "TLSv1.3" or ssl.TLSVersion)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    _versions(ctx, min_version, max_version)
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    return ctx


def client_context(ca: Optional[str] = None, min_version: Version = None,
                   max_version: Version = None) -> ssl.SSLContext:
    """A client-side SSLContext: verifying against CA (and the host name) when
    given, else checking nothing (like relayd's "encrypt")."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca is not None:
        ctx.load_verify_locations(ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    _versions(ctx, min_version, max_version)
    return ctx


# --------------------------------------------------------------------------
# self-test


def _handshake(sctx: ssl.SSLContext, cctx: ssl.SSLContext, host: str) -> str:
    """TLS over a socketpair; the client's protocol version or the error."""
    import socket
    import threading

    a, b = socket.socketpair()
    out = {}

    def serve():
        try:
            with sctx.wrap_socket(b, server_side=True) as s:
                s.recv(1)
        except (ssl.SSLError, OSError) as e:
            out["server"] = e

    t = threading.Thread(target=serve)
    t.start()
    try:
        with cctx.wrap_socket(a, server_hostname=host) as c:
            v = c.version()
            c.sendall(b"x")
            return v
    except ssl.SSLError as e:
        return f"error: {e.reason or e}"
    finally:
        a.close()
        t.join(5)
        b.close()


def _selftest() -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tlsca-") as d:
        ca = TestCA(d)
        other = TestCA(Path(d) / "other", "Other CA")
        cert, key = ca.issue("mx.test.example", sans=["mx.test.example", "*.wild.example"],
                             ip_sans=["127.0.0.1"])
        exp_cert, exp_key = ca.issue("mx.test.example", expired=True)
        self_cert, self_key = ca.self_signed("mx.test.example")
        ocert, okey = other.issue("mx.test.example")
        rcert, rkey = ca.issue("mx.test.example", key="rsa")
        sub = ca.intermediate()
        icert, ikey = sub.issue("chain.test.example")

        text = subprocess.run([OPENSSL, "x509", "-in", cert, "-noout", "-ext",
                               "subjectAltName"], capture_output=True, text=True).stdout
        assert "DNS:*.wild.example" in text and "IP Address:127.0.0.1" in text, text
        assert Path(icert).read_text().count("BEGIN CERTIFICATE") == 2

        cc = client_context(ca.ca_path)
        checks = [
            ("right CA and name", server_context(cert, key), cc, "mx.test.example",
             "TLSv1.3"),
            ("wildcard", server_context(cert, key), cc, "a.wild.example", "TLSv1.3"),
            ("wrong name", server_context(cert, key), cc, "other.example",
             "error: CERTIFICATE_VERIFY_FAILED"),
            ("expired", server_context(exp_cert, exp_key), cc, "mx.test.example",
             "error: CERTIFICATE_VERIFY_FAILED"),
            ("self-signed", server_context(self_cert, self_key), cc, "mx.test.example",
             "error: CERTIFICATE_VERIFY_FAILED"),
            ("other CA", server_context(ocert, okey), cc, "mx.test.example",
             "error: CERTIFICATE_VERIFY_FAILED"),
            ("intermediate chain", server_context(icert, ikey), cc, "chain.test.example",
             "TLSv1.3"),
            ("self-signed, unchecked", server_context(self_cert, self_key),
             client_context(), "mx.test.example", "TLSv1.3"),
            ("server capped at TLSv1.2", server_context(cert, key, max_version="TLSv1.2"), cc,
             "mx.test.example", "TLSv1.2"),
            ("RSA key, AES128-SHA only", server_context(rcert, rkey, max_version="TLSv1.2",
                                                        ciphers="AES128-SHA"), cc,
             "mx.test.example", "TLSv1.2"),
            ("server TLSv1.1 only, client TLSv1.1 allowed",
             server_context(cert, key, "TLSv1.1", "TLSv1.1"),
             client_context(ca.ca_path, "TLSv1.1"), "mx.test.example", "TLSv1.1"),
            ("server TLSv1.1 only, client TLSv1.2+",
             server_context(cert, key, "TLSv1.1", "TLSv1.1"),
             client_context(ca.ca_path, "TLSv1.2"), "mx.test.example",
             "error: TLSV1_ALERT_PROTOCOL_VERSION"),
            ("server TLSv1.1 only, client TLSv1.2 only",
             server_context(cert, key, "TLSv1.1", "TLSv1.1"),
             client_context(ca.ca_path, "TLSv1.2", "TLSv1.2"), "mx.test.example",
             "error: UNSUPPORTED_PROTOCOL"),
            ("client TLSv1.3 vs server max TLSv1.2",
             server_context(cert, key, max_version="TLSv1.2"),
             client_context(ca.ca_path, "TLSv1.3"), "mx.test.example",
             "error: TLSV1_ALERT_PROTOCOL_VERSION"),
        ]
        bad = 0
        for name, sctx, cctx, host, want in checks:
            got = _handshake(sctx, cctx, host)
            ok = got.startswith(want)
            bad += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name}: got {got!r}, want {want!r}")
        if bad:
            raise SystemExit(f"tlsca self-test: {bad} of {len(checks)} checks failed")
        print(f"tlsca self-test: {len(checks)} checks passed")


if __name__ == "__main__":
    _selftest()
