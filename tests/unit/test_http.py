"""torchbuild.http against loopback servers: byte ranges, and certificate authorities honoured
by every kind of request (index pages, downloads, uploads), ``index push`` included."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import ssl
import subprocess
import threading
import urllib.error
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from torchbuild import http
from torchbuild.errors import NetworkError
from torchbuild.wheelhouse.push import Remote

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

BLOB = os.urandom(100_000)
_RANGE = re.compile(r"bytes=(\d+)-(\d+)$")


class _Handler(BaseHTTPRequestHandler):
    """Serves BLOB at /blob, with byte ranges when ``server.ranges`` is set; takes POSTs."""

    server: _Server

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append(dict(self.headers))
        if self.path == "/simple/demo/":
            self._send(200, b"<a href='demo-1.0-py3-none-any.whl'>demo</a>", "text/html")
            return
        if self.path != "/blob":
            self._send(404, b"no such file")
            return
        wanted = _RANGE.match(self.headers.get("Range", ""))
        if wanted is None or not self.server.ranges:
            self._send(200, BLOB)
            return
        first, last = int(wanted.group(1)), min(int(wanted.group(2)), len(BLOB) - 1)
        if first >= len(BLOB):
            self._send(416, b"", range_=f"*/{len(BLOB)}")
        else:
            self._send(206, BLOB[first : last + 1], range_=f"{first}-{last}/{len(BLOB)}")

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.posted.append(self.rfile.read(length))
        self._send(200, b"ok")

    def _send(
        self,
        status: int,
        body: bytes,
        kind: str = "application/octet-stream",
        range_: str | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        if range_ is not None:
            self.send_header("Content-Range", f"bytes {range_}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    def __init__(self, *, ranges: bool = True, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.ranges = ranges
        self.seen: list[dict[str, str]] = []
        self.posted: list[bytes] = []
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[_Server] = []

    def start(**kwargs: Any) -> _Server:
        server = _Server(**kwargs)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    # No pip configuration of this machine: a cert it names would change the answers.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_CERT", raising=False)


# -- byte ranges ----------------------------------------------------------------------------


def test_read_range_returns_exactly_the_bytes_asked_for(serve: Any) -> None:
    server = serve()
    assert http.read_range(f"{server.url}/blob", 0, 10) == BLOB[:10]
    assert http.read_range(f"{server.url}/blob", 4096, 1000) == BLOB[4096:5096]
    assert server.seen[-1]["Range"] == "bytes=4096-5095"
    assert server.seen[-1]["Accept-Encoding"] == "identity"


def test_read_range_at_the_end_of_the_file_is_short(serve: Any) -> None:
    server = serve()
    tail = http.read_range(f"{server.url}/blob", len(BLOB) - 22, 100)
    assert tail == BLOB[-22:]


def test_a_server_that_ignores_range_is_refused(serve: Any) -> None:
    server = serve(ranges=False)
    with pytest.raises(http.RangeUnsupportedError, match="HTTP 200"):
        http.read_range(f"{server.url}/blob", 10, 10)


def test_range_errors_are_network_errors(serve: Any) -> None:
    server = serve()
    with pytest.raises(NetworkError, match="HTTP 404"):
        http.read_range(f"{server.url}/missing", 0, 10)
    with pytest.raises(NetworkError, match="HTTP 416"):
        http.read_range(f"{server.url}/blob", len(BLOB) + 5, 10)
    with pytest.raises(ValueError, match="start >= 0"):
        http.read_range(f"{server.url}/blob", -1, 10)


# -- certificate authorities ----------------------------------------------------------------


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A throwaway CA (made with openssl) and a server context whose certificate it signed."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("ca")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=torchbuild test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1",
    )  # fmt: skip
    (d / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "server.ext",
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(d / "server.pem", d / "server.key")
    return d / "ca.pem", context


def test_unknown_authority_is_refused_without_the_cert(serve: Any, authority: Any) -> None:
    _, tls = authority
    server = serve(tls=tls)
    fetch = http.transport()
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        fetch(f"{server.url}/simple/demo/", {}, 5.0)


def test_every_kind_of_request_honours_the_cert(serve: Any, authority: Any, tmp_path: Path) -> None:
    ca, tls = authority
    server = serve(tls=tls)
    cert = str(ca)
    page = http.transport(cert)(f"{server.url}/simple/demo/", {}, 5.0)
    assert page.status == 200
    assert b"demo-1.0" in page.body
    got = http.download(
        f"{server.url}/blob",
        tmp_path / "blob",
        sha256=hashlib.sha256(BLOB).hexdigest(),
        cert=cert,
    )
    assert got == hashlib.sha256(BLOB).hexdigest()
    assert http.read_range(f"{server.url}/blob", 5, 5, cert=cert) == BLOB[5:10]
    reply = http.post_streaming(
        f"{server.url}/upload",
        {"Content-Length": "6"},
        [b"abc", b"def"],
        timeout=5.0,
        cert=cert,
    )
    assert (reply.status, server.posted) == (200, [b"abcdef"])
    # A directory of certificates works as pip's cert does (OpenSSL's hashed names).
    hashed = tmp_path / "cas"
    hashed.mkdir()
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", cert],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    shutil.copy(ca, hashed / f"{subject_hash}.0")
    assert http.read_range(f"{server.url}/blob", 0, 3, cert=str(hashed)) == BLOB[:3]


def test_push_reads_its_remote_with_the_cert(serve: Any, authority: Any) -> None:
    ca, tls = authority
    server = serve(tls=tls)
    with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
        Remote(server.url + "/", credentials=lambda: None).files(["demo"])
    remote = Remote(server.url + "/", credentials=lambda: None, cert=str(ca))
    assert list(remote.files(["demo"])["demo"]) == ["demo-1.0-py3-none-any.whl"]


def test_pips_cert_is_the_default(
    serve: Any, authority: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, tls = authority
    server = serve(tls=tls)
    monkeypatch.setenv("PIP_CERT", str(ca))
    assert http.default_cert() == str(ca)
    # A source tarball's download names no cert: it trusts what pip trusts.
    got = http.fetch_to(f"{server.url}/blob", tmp_path / "blob", timeout=5.0)
    assert got == hashlib.sha256(BLOB).hexdigest()
    assert http.transport()(f"{server.url}/simple/demo/", {}, 5.0).status == 200
