"""`index serve`: read-only HTTP on loopback, PEP 691 negotiation, ETags, and no path escapes."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path

import pytest

from torchbuild.wheelhouse import Wheelhouse
from torchbuild.wheelhouse.serve import is_loopback, make_server, negotiate, resolve, running
from wheelfactory import make_wheel

PLANTED = "TOP-PLANTED-CONTENT"
PIP_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"

# Every way out of the served tree we could think of. Each must be refused (400/404) and must
# never return the secret planted next to the wheelhouse, nor the wheelhouse's own state.
ESCAPES = [
    "/simple/../secret.txt",
    "/simple/../../secret.txt",
    "/../secret.txt",
    "/simple/%2e%2e/secret.txt",
    "/simple/%2E%2E/%2E%2E/secret.txt",
    "/simple/.%2e/secret.txt",
    "/simple/%2e%2e%2fsecret.txt",
    "/simple/..%2f..%2fsecret.txt",
    "/simple/demo/..%2f..%2f..%2fsecret.txt",
    "/simple/%252e%252e/secret.txt",  # double encoding: decoded once, stays a literal name
    "/simple/..%5c..%5csecret.txt",
    "/simple/demo/..\\..\\..\\secret.txt",
    "/simple/%5c..%5csecret.txt",
    "//secret.txt",
    "/simple//secret.txt",
    "/simple/%2fetc%2fpasswd",
    "/simple//etc/passwd",
    "/etc/passwd",
    "/simple/./demo/../../secret.txt",
    "/simple/demo/index.html/../../../secret.txt",
    "/.torchbuild/projects/demo.json",
    "/simple/../.torchbuild/lock",
    "/simple/%2e%2e/.torchbuild/projects/demo.json",
    "/simple/.hidden",
    "/simple/demo/%00",
    "/simple/demo/%ff%fe",
    "/simple/outside/secret.txt",  # a directory symlink pointing out of the tree
    "/simple/outside/",
    "/simple/demo/escape.whl",  # a file symlink pointing out of the tree
    "/simple/demo/abs.whl",  # a symlink with an absolute target (/etc/passwd)
    "http://127.0.0.1/../secret.txt",  # absolute-form request target
    "http://127.0.0.1/simple/%2e%2e/secret.txt",
    "secret.txt",  # not origin-form at all
    "*",
]


@pytest.fixture
def house(tmp_path):
    wh = Wheelhouse(tmp_path / "wh", durable=False)
    wheel = make_wheel(tmp_path / "src", "demo", "1.0+cpu", requires_python=">=3.8")
    wh.add(wheel, origin="test")
    wh.add(make_wheel(tmp_path / "src", "Demo_Other", "2.0"), origin="test")
    (tmp_path / "secret.txt").write_text(PLANTED)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text(PLANTED)
    (wh.simple / "outside").symlink_to(tmp_path / "outside")
    (wh.simple / "demo" / "escape.whl").symlink_to(tmp_path / "secret.txt")
    (wh.simple / "demo" / "abs.whl").symlink_to("/etc/passwd")
    (wh.simple / ".hidden").write_text(PLANTED)
    return wh


@pytest.fixture
def server(house):
    srv = make_server(house, "127.0.0.1", 0)
    with running(srv) as url:
        yield srv, url


def raw_get(srv, target: str, headers: str = "") -> tuple[int, bytes]:
    """Send a request byte for byte (no client-side normalisation) and return status, body."""
    host, port = srv.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.sendall(
            f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode(
                "latin-1"
            )
        )
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def request(srv, method: str, path: str, headers: dict[str, str] | None = None):
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


@pytest.mark.parametrize("target", ESCAPES)
def test_resolve_refuses_escapes(house, target):
    root = Path(house.simple).resolve()
    assert resolve(root, target).kind in ("not-found", "bad-request")


@pytest.mark.parametrize("target", ESCAPES)
def test_server_refuses_escapes(server, target):
    srv, _ = server
    status, body = raw_get(srv, target)
    assert status in (400, 404), target
    assert PLANTED.encode() not in body
    assert b"root:" not in body


def test_binds_loopback_by_default(house):
    srv = make_server(house, port=0)
    try:
        assert srv.server_address[0] == "127.0.0.1"
        assert srv.url.startswith("http://127.0.0.1:")
    finally:
        srv.server_close()
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")  # noqa: S104
    assert not is_loopback("192.168.1.10")


def test_index_html_by_default_json_by_negotiation(server):
    srv, _ = server
    response, body = request(srv, "GET", "/simple/demo/")
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    assert b"demo-1.0%2Bcpu-py3-none-any.whl#sha256=" in body
    assert response.getheader("Vary") == "Accept"

    response, body = request(srv, "GET", "/simple/demo/", {"Accept": PIP_ACCEPT})
    assert response.getheader("Content-Type") == "application/vnd.pypi.simple.v1+json"
    assert json.loads(body)["name"] == "demo"

    response, body = request(
        srv, "GET", "/simple/", {"Accept": "application/vnd.pypi.simple.v1+html"}
    )
    assert response.getheader("Content-Type") == "application/vnd.pypi.simple.v1+html"
    assert b'href="demo/"' in body

    response, body = request(srv, "GET", "/simple/?format=application/vnd.pypi.simple.v1%2Bjson")
    assert json.loads(body)["projects"] == [{"name": "demo"}, {"name": "demo-other"}]

    response, _ = request(srv, "GET", "/simple/demo/", {"Accept": "application/xml"})
    assert response.status == 406


@pytest.mark.parametrize(
    ("accept", "page"),
    [
        (None, "index.html"),
        ("*/*", "index.html"),
        ("text/html", "index.html"),
        ("application/vnd.pypi.simple.v1+json", "index.json"),
        ("application/vnd.pypi.simple.latest+json", "index.json"),
        (PIP_ACCEPT, "index.json"),
        ("text/html, application/vnd.pypi.simple.v1+json;q=0.5", "index.html"),
        ("application/vnd.pypi.simple.v1+json;q=0, text/html;q=0.1", "index.html"),
        ("application/json", None),
    ],
)
def test_negotiate(accept, page):
    choice = negotiate(accept)
    assert (choice[0] if choice else None) == page


def test_files_metadata_head_and_etag(server, house):
    srv, _ = server
    entry = house.find("demo")[0]
    path = "/simple/demo/demo-1.0%2Bcpu-py3-none-any.whl"
    response, body = request(srv, "GET", path)
    assert response.status == 200
    assert body == house.path_of(entry).read_bytes()
    assert response.getheader("Content-Type") == "application/octet-stream"
    etag = response.getheader("ETag")
    assert etag
    assert "immutable" in response.getheader("Cache-Control")

    response, body = request(srv, "HEAD", path)
    assert response.status == 200
    assert body == b""
    assert int(response.getheader("Content-Length")) == entry.size

    response, body = request(srv, "GET", path, {"If-None-Match": etag})
    assert response.status == 304
    assert body == b""

    response, body = request(srv, "GET", path + ".metadata")
    assert b"Name: demo" in body


def test_only_get_and_head(server):
    srv, _ = server
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"):
        response, _ = request(srv, method, "/simple/demo/")
        assert response.status == 405, method
        assert response.getheader("Allow") == "GET, HEAD"


def test_redirects(server):
    srv, _ = server
    for path, location in [
        ("/", "/simple/"),
        ("/simple", "/simple/"),
        ("/simple/demo", "/simple/demo/"),
        ("/simple/Demo.Other/", "/simple/demo-other/"),
        ("/simple/DEMO_OTHER/", "/simple/demo-other/"),
    ]:
        response, _ = request(srv, "GET", path)
        assert (response.status, response.getheader("Location")) == (301, location), path


def test_sees_new_wheels_without_restart(server, house, tmp_path):
    srv, _ = server
    before, _ = request(srv, "GET", "/simple/demo/")
    house.add(make_wheel(tmp_path / "src", "demo", "3.0"), origin="later")
    response, body = request(srv, "GET", "/simple/demo/")
    assert b"demo-3.0-py3-none-any.whl" in body
    assert response.getheader("ETag") != before.getheader("ETag")


def test_keep_alive_serves_several_requests(server):
    srv, _ = server
    host, port = srv.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    for _ in range(3):
        conn.request("GET", "/simple/demo/")
        assert conn.getresponse().read()
    conn.close()


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # UDP: picks a route, sends nothing
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def _start_serving(house, *, sigint_ignored: bool = False):
    """`torchbuild index serve` on a free loopback port; returns the process and its URL.

    ``sigint_ignored`` starts it the way a non-interactive shell starts a background job.
    """
    import signal
    import subprocess
    import sys

    # An ignored signal stays ignored across exec: the child starts as a shell's background job.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN if sigint_ignored else signal.SIG_DFL)
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torchbuild",
                "index",
                "serve",
                "--wheelhouse",
                str(house.root),
                "--port",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith(f"Serving {house.root} at http://127.0.0.1:"), first
    return proc, first.split(" at ")[1].strip()


def _stop(proc, signum) -> tuple[str, str]:
    proc.send_signal(signum)
    try:
        return proc.communicate(timeout=60)  # a hang guard, not a speed limit
    finally:
        proc.kill()


def test_cli_serve_binds_loopback_and_stops_on_ctrl_c(house):
    import signal
    import urllib.request

    proc, url = _start_serving(house)
    try:
        with urllib.request.urlopen(url + "demo/") as response:  # noqa: S310 - our loopback URL
            assert b"demo-1.0%2Bcpu" in response.read()
        other = _non_loopback_address()
        if other is not None:
            port = int(url.rsplit(":", 1)[1].split("/")[0])
            with pytest.raises(OSError), socket.create_connection((other, port), timeout=2):
                pass
    finally:
        out, err = _stop(proc, signal.SIGINT)
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert "warning" not in err


@pytest.mark.parametrize(
    ("signame", "sigint_ignored"),
    [("SIGTERM", False), ("SIGINT", True)],
    ids=["sigterm", "sigint-inherited-ignored"],
)
def test_cli_serve_stops_cleanly_on_a_service_stop(house, signame, sigint_ignored):
    """A service manager's SIGTERM, or `kill -INT` of a server a script started in the
    background (where the shell hands it SIGINT ignored), stops it like Ctrl-C."""
    import signal

    proc, _url = _start_serving(house, sigint_ignored=sigint_ignored)
    out, err = _stop(proc, getattr(signal, signame))
    assert proc.returncode == 0, err
    assert "stopped" in out


def test_cli_serve_warns_when_not_loopback(house, monkeypatch, capsys):
    """Asked for all interfaces, serve says so; checked without opening a public socket."""
    from torchbuild.__main__ import main

    class FakeServer:
        url = "http://0.0.0.0:8000/simple/"

        def serve_forever(self):
            raise KeyboardInterrupt

        def server_close(self):
            pass

    bound = []
    monkeypatch.setattr(
        "torchbuild.wheelhouse.serve.make_server",
        lambda _wh, host, _port: bound.append(host) or FakeServer(),
    )
    everywhere = "0.0.0.0"  # noqa: S104 - the point of the test
    assert main(["index", "serve", "--wheelhouse", str(house.root), "--host", everywhere]) == 0
    assert bound == [everywhere]
    assert "other machines can read this wheelhouse" in capsys.readouterr().err
