"""`index push` against a small fake index served over real HTTP on loopback.

The fake speaks both halves of what a real index offers: the simple API (PEP 691 JSON or PEP 503
HTML, with or without hashes, optionally behind basic auth) and the upload API (a multipart POST
with ``:action=file_upload``), and records every request, so a test can prove both what was sent
and that nothing was.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest

from torchbuild.__main__ import main
from torchbuild.errors import InputError, NetworkError, WheelhouseError
from torchbuild.wheelhouse import Wheelhouse
from torchbuild.wheelhouse import credentials as creds_mod
from torchbuild.wheelhouse.credentials import Credentials, find_credentials
from torchbuild.wheelhouse.push import Remote, derive_index_url, plan_push, push
from wheelfactory import make_wheel

USER, PASSWORD = "alice", "s3cret-Pa55"


class FakeIndex:
    """An index at http://127.0.0.1:PORT/ : uploads to /, simple API under /simple/."""

    def __init__(
        self,
        *,
        json_api: bool = True,
        hashes: bool = True,
        auth_upload: bool = True,
        auth_read: bool = False,
        redirect_to: str | None = None,
    ) -> None:
        self.files: dict[str, bytes] = {}
        self.posts: list[dict[str, list[str]]] = []
        self.contents: list[tuple[str, bytes]] = []
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Authorization
        self.json_api, self.hashes = json_api, hashes
        self.auth_upload, self.auth_read = auth_upload, auth_read
        self.redirect_to = redirect_to
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _authorized(self) -> int | None:
                header = self.headers.get("Authorization")
                if header is None:
                    return 401
                good = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                return None if header == good else 403

            def _send(self, status: int, body: bytes = b"", ctype: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="fake"')
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, self.headers.get("Authorization")))
                if fake.auth_read:
                    denied = self._authorized()
                    if denied:
                        self._send(denied)
                        return
                parts = [p for p in urlsplit(self.path).path.split("/") if p]
                if parts[:1] == ["packages"] and len(parts) == 2:
                    data = fake.files.get(unquote(parts[1]))
                    self._send(404) if data is None else self._send(200, data)
                    return
                if parts[:1] != ["simple"] or len(parts) != 2:
                    self._send(404)
                    return
                project = parts[1]
                names = sorted(f for f in fake.files if f.split("-")[0] == project)
                if not names:
                    if fake.redirect_to:
                        self.send_response(302)
                        self.send_header("Location", f"{fake.redirect_to}{project}/")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self._send(404)
                    return
                accept = self.headers.get("Accept", "")
                if fake.json_api and "application/vnd.pypi.simple.v1+json" in accept:
                    files = [
                        {
                            "filename": n,
                            "url": f"../../packages/{quote(n)}",
                            "hashes": {"sha256": hashlib.sha256(fake.files[n]).hexdigest()}
                            if fake.hashes
                            else {},
                        }
                        for n in names
                    ]
                    body = json.dumps(
                        {"meta": {"api-version": "1.0"}, "name": project, "files": files}
                    )
                    self._send(200, body.encode(), "application/vnd.pypi.simple.v1+json")
                    return
                links = "".join(
                    f'<a href="../../packages/{quote(n)}'
                    + (
                        f"#sha256={hashlib.sha256(fake.files[n]).hexdigest()}"
                        if fake.hashes
                        else ""
                    )
                    + f'">{n}</a><br>\n'
                    for n in names
                )
                self._send(200, f"<html><body>{links}</body></html>".encode(), "text/html")

            def do_POST(self) -> None:
                fake.requests.append(("POST", self.path, self.headers.get("Authorization")))
                length = int(self.headers["Content-Length"])
                body = self.rfile.read(length)
                if fake.auth_upload:
                    denied = self._authorized()
                    if denied:
                        self._send(denied)
                        return
                message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
                )
                fields: dict[str, list[str]] = {}
                for part in message.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    payload = part.get_payload(decode=True)
                    if name == "content":
                        filename = part.get_filename()
                        fake.contents.append((filename, payload))
                    else:
                        fields.setdefault(name, []).append(payload.decode())
                fake.posts.append(fields)
                filename, payload = fake.contents[-1]
                if filename in fake.files:
                    self._send(409, b"file exists")
                    return
                fake.files[filename] = payload
                self._send(200)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FakeIndex:  # noqa: PYI034 - Self needs Python 3.11
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def post_count(self) -> int:
        return sum(1 for method, _, _ in self.requests if method == "POST")


GOOD = Credentials(USER, PASSWORD, "test")


@pytest.fixture(autouse=True)
def _no_credentials(tmp_path, monkeypatch):
    """Nothing from this machine's environment, ~/.netrc or keyring reaches a test."""
    for name in list(os.environ):
        if name.startswith(("TORCHBUILD_", "TWINE_")) or name == "NETRC":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setattr(creds_mod, "_from_keyring", lambda *_: None)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def wh(tmp_path):
    wh = Wheelhouse(tmp_path / "wh", durable=False)
    src = tmp_path / "src"
    wh.add(
        make_wheel(src, "torch", "2.6.0+cpu", requires_dist=["numpy", "filelock>=3"]),
        origin="test",
    )
    wh.add(make_wheel(src, "torchvision", "0.21.0+cpu", requires_python=">=3.9"), origin="test")
    return wh


def test_index_url_rules():
    assert derive_index_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/simple/"
    assert derive_index_url("http://h/pypi/") == "http://h/pypi/simple/"
    assert derive_index_url("http://h/alice/dev/") == "http://h/alice/dev/+simple/"
    assert derive_index_url("http://h/a/b/c") == "http://h/a/b/c/simple/"
    with pytest.raises(InputError, match="cannot tell") as caught:
        derive_index_url("https://upload.example/legacy/")
    assert "--index-url" in caught.value.hint
    with pytest.raises(InputError, match="credentials in the URL"):
        Remote("http://alice:pw@h/")
    with pytest.raises(InputError, match="not an http"):
        Remote("ftp://h/")


def test_push_uploads_what_is_missing_with_the_upload_protocol(wh):
    with FakeIndex() as fake:
        remote = Remote(fake.url, credentials=GOOD)
        plan = plan_push(wh, remote)
        assert [i.status for i in plan.items] == ["upload", "upload"]
        result = push(wh, remote, plan)
        assert sorted(e.filename for e in result.uploaded) == sorted(
            e.filename for e in wh.entries()
        )

        by_name = dict(fake.contents)
        for entry in wh.entries():
            assert by_name[entry.filename] == wh.path_of(entry).read_bytes()
        torch = next(p for p in fake.posts if p["name"] == ["torch"])
        assert torch[":action"] == ["file_upload"]
        assert torch["protocol_version"] == ["1"]
        assert torch["filetype"] == ["bdist_wheel"]
        assert torch["pyversion"] == ["py3"]
        assert torch["version"] == ["2.6.0+cpu"]
        assert torch["metadata_version"] == ["2.1"]
        assert torch["requires_dist"] == ["numpy", "filelock>=3"]
        data = by_name["torch-2.6.0+cpu-py3-none-any.whl"]
        assert torch["sha256_digest"] == [hashlib.sha256(data).hexdigest()]
        assert torch["blake2_256_digest"] == [hashlib.blake2b(data, digest_size=32).hexdigest()]
        vision = next(p for p in fake.posts if p["name"] == ["torchvision"])
        assert vision["requires_python"] == [">=3.9"]
        # Credentials go with every upload.
        assert all(auth for method, _, auth in fake.requests if method == "POST")

        # A second push finds both files with the same sha256 and sends nothing.
        plan = plan_push(wh, remote)
        assert [i.status for i in plan.items] == ["present", "present"]
        before = fake.post_count()
        assert push(wh, remote, plan).uploaded == ()
        assert fake.post_count() == before


@pytest.mark.parametrize(("json_api", "hashes"), [(True, True), (False, True), (False, False)])
def test_remote_read_as_json_html_or_by_download(wh, json_api, hashes):
    with FakeIndex(json_api=json_api, hashes=hashes) as fake:
        for entry in wh.entries():
            fake.files[entry.filename] = wh.path_of(entry).read_bytes()
        plan = plan_push(wh, Remote(fake.url, credentials=GOOD))
        assert {i.status for i in plan.items} == {"present"}
        assert {i.remote_sha256 for i in plan.items} == {e.sha256 for e in wh.entries()}
        downloads = [p for m, p, _ in fake.requests if p.startswith("/packages/")]
        assert len(downloads) == (0 if hashes else 2)


def test_conflict_refuses_the_whole_push_before_uploading(wh):
    with FakeIndex() as fake:
        fake.files["torch-2.6.0+cpu-py3-none-any.whl"] = b"other bytes"
        remote = Remote(fake.url, credentials=GOOD)
        plan = plan_push(wh, remote)
        assert {i.entry.project: i.status for i in plan.items} == {
            "torch": "conflict",
            "torchvision": "upload",
        }
        with pytest.raises(WheelhouseError) as caught:
            push(wh, remote, plan)
        local = wh.find("torch")[0].sha256
        remote_sha = hashlib.sha256(b"other bytes").hexdigest()
        message = caught.value.message
        assert "torch-2.6.0+cpu-py3-none-any.whl" in message
        assert local in message
        assert remote_sha in message
        assert caught.value.exit_code == 10
        assert fake.post_count() == 0
        assert "torchvision-0.21.0+cpu-py3-none-any.whl" not in fake.files


def test_dry_run_and_project_filter(wh):
    with FakeIndex() as fake:
        remote = Remote(fake.url, credentials=GOOD)
        plan = plan_push(wh, remote, ["TorchVision"])
        assert [i.entry.project for i in plan.items] == ["torchvision"]
        assert push(wh, remote, plan, dry_run=True).uploaded == ()
        assert fake.post_count() == 0
        with pytest.raises(InputError, match="no wheels of torchaudio"):
            plan_push(wh, remote, ["torchaudio"])


def test_damaged_local_wheel_is_not_uploaded(wh):
    entry = wh.find("torchvision")[0]
    data = bytearray(wh.path_of(entry).read_bytes())
    data[-5] ^= 0xFF
    wh.path_of(entry).write_bytes(bytes(data))
    with FakeIndex() as fake:
        remote = Remote(fake.url, credentials=GOOD)
        with pytest.raises(WheelhouseError, match="no longer matches the manifest"):
            push(wh, remote, plan_push(wh, remote))
        assert fake.post_count() == 0


def test_missing_and_wrong_credentials_give_a_clear_error(wh):
    with FakeIndex() as fake:
        remote = Remote(fake.url, credentials=lambda: None)
        with pytest.raises(NetworkError) as caught:
            push(wh, remote, plan_push(wh, remote))
        assert "HTTP 401" in caught.value.message
        assert "without credentials" in caught.value.message
        for place in ("TORCHBUILD_INDEX_USERNAME", "TWINE_PASSWORD", "~/.netrc", "keyring"):
            assert place in caught.value.hint

        wrong = Credentials(USER, "not-it", "environment X")
        remote = Remote(fake.url, credentials=wrong)
        with pytest.raises(NetworkError) as caught:
            push(wh, remote, plan_push(wh, remote))
        assert "HTTP 403" in caught.value.message
        assert "environment X (user alice)" in caught.value.message
        assert "not-it" not in caught.value.message + caught.value.hint
        assert fake.files == {}


def test_read_behind_auth_retries_with_credentials(wh):
    with FakeIndex(auth_read=True) as fake:
        plan = plan_push(wh, Remote(fake.url, credentials=GOOD))
        assert {i.status for i in plan.items} == {"upload"}
        gets = [auth for method, _, auth in fake.requests if method == "GET"]
        # Each page asked without credentials first, then with them after the 401.
        assert sorted(map(bool, gets)) == [False, False, True, True]
        with pytest.raises(NetworkError, match="HTTP 401"):
            plan_push(wh, Remote(fake.url, credentials=lambda: None))


def test_redirect_to_another_host_counts_as_absent_and_carries_nothing(wh):
    with FakeIndex() as elsewhere:
        with FakeIndex(auth_read=True, redirect_to=elsewhere.url + "simple/") as fake:
            plan = plan_push(wh, Remote(fake.url, credentials=GOOD))
            assert {i.status for i in plan.items} == {"upload"}
        assert elsewhere.requests == []  # not followed: no request, so no credentials either


def test_credentials_lookup_order(tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine idx.example login bob password from-netrc\n")
    netrc.chmod(0o600)
    env = {"NETRC": str(netrc)}
    found = find_credentials("https://idx.example/", environ=env, use_keyring=False)
    assert (found.username, found.password, found.source) == ("bob", "from-netrc", str(netrc))
    assert find_credentials("https://other.example/", environ=env, use_keyring=False) is None

    env["TWINE_USERNAME"], env["TWINE_PASSWORD"] = "t", "from-twine"
    assert find_credentials("https://idx.example/", environ=env).password == "from-twine"  # noqa: S105
    env["TORCHBUILD_INDEX_USERNAME"], env["TORCHBUILD_INDEX_PASSWORD"] = "u", "from-tb"
    found = find_credentials("https://idx.example/", environ=env)
    assert (found.username, found.password) == ("u", "from-tb")
    assert "from-tb" not in repr(found)

    monkeypatch.setattr(creds_mod, "_from_keyring", lambda *_: Credentials("k", "kp", "keyring"))
    assert find_credentials("https://nowhere.example/", environ={}).source == "keyring"

    netrc.write_text("machine idx.example login bob passwor\n")
    with pytest.raises(InputError, match="cannot read"):
        find_credentials("https://idx.example/", environ={"NETRC": str(netrc)})


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_push_json_table_and_errors(capsys, monkeypatch, wh):
    with FakeIndex() as fake:
        base = ["index", "push", "--wheelhouse", str(wh.root), "--to", fake.url]
        code, out, err = run(capsys, *base, "--dry-run", "--json")
        assert code == 0, err
        data = json.loads(out)
        assert data["version"] == 1
        assert data["index_url"] == fake.url + "simple/"
        assert {f["status"] for f in data["files"]} == {"would-upload"}
        assert fake.post_count() == 0

        code, out, err = run(capsys, *base)
        assert code == 11
        assert "HTTP 401" in err
        assert "TORCHBUILD_INDEX_PASSWORD" in err

        monkeypatch.setenv("TORCHBUILD_INDEX_USERNAME", USER)
        monkeypatch.setenv("TORCHBUILD_INDEX_PASSWORD", PASSWORD)
        code, out, err = run(capsys, *base, "--project", "torch")
        assert code == 0, err
        assert "uploaded  torch-2.6.0+cpu-py3-none-any.whl" in out
        assert PASSWORD not in out + err

        code, out, err = run(capsys, *base, "--json")
        data = json.loads(out)
        statuses = {f["project"]: f["status"] for f in data["files"]}
        assert statuses == {"torch": "present", "torchvision": "uploaded"}
        assert (data["uploaded"], data["present"]) == (1, 1)
        assert data["credentials"].startswith("environment TORCHBUILD_INDEX_USERNAME")

        fake.files["torchvision-0.21.0+cpu-py3-none-any.whl"] = b"changed"
        posts = fake.post_count()
        code, out, err = run(capsys, *base)
        assert code == 10
        assert "refused" in out
        assert "nothing was uploaded" in err
        assert fake.post_count() == posts


def test_cli_push_refuses_offline(capsys, monkeypatch, wh):
    monkeypatch.setenv("TORCHBUILD_OFFLINE", "1")
    code, _, err = run(
        capsys, "index", "push", "--wheelhouse", str(wh.root), "--to", "http://127.0.0.1:9/"
    )
    assert code == 3
    assert "offline" in err


def test_unreachable_index_is_a_network_error(wh):
    remote = Remote("http://127.0.0.1:9/", credentials=GOOD, timeout=5)
    with pytest.raises(NetworkError, match="cannot read torch"):
        plan_push(wh, remote)


def test_upload_error_is_reported_with_what_went_before(wh, tmp_path):
    with FakeIndex(auth_upload=False) as fake:
        remote = Remote(fake.url)
        plan = plan_push(wh, remote)
        # Someone else uploads the second file between our read and our upload.
        second = plan.items[1].entry
        fake.files[second.filename] = Path(wh.path_of(second)).read_bytes()
        with pytest.raises(WheelhouseError, match="uploaded since it was read") as caught:
            push(wh, remote, plan)
        assert "1 file(s) were uploaded before this one" in caught.value.message


def test_reads_and_uploads_go_through_the_environments_proxy(wh, monkeypatch):
    # The fake answers absolute-URL requests as an HTTP proxy would forward them.
    for name in ("no_proxy", "NO_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with FakeIndex() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        remote = Remote("http://index.invalid/", credentials=GOOD)
        result = push(wh, remote, plan_push(wh, remote))
        assert len(result.uploaded) == 2
        assert sorted(proxy.files) == sorted(e.filename for e in wh.entries())
        assert {path.split("/")[2] for _, path, _ in proxy.requests} == {"index.invalid"}
