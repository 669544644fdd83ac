"""The index client on recorded PyPI answers: JSON, HTML, cache, offline, failures, local dirs."""

from __future__ import annotations

import gzip
import http.server
import threading
import time
import urllib.parse
from typing import TYPE_CHECKING, Iterator, Mapping

import pytest

from data.pypi.replay import PYPI, Replay, body, client
from torchbuild.resolve.indexes import (
    ACCEPT,
    IndexCache,
    IndexClient,
    Response,
    Source,
    configured_sources,
    parse_html,
    parse_json,
    urllib_transport,
)
from torchbuild.resolve.pipconfig import DEFAULT_INDEX_URL, PipConfig
from torchbuild.settings import load_settings

if TYPE_CHECKING:
    from pathlib import Path


def test_parse_json_fixture() -> None:
    files = parse_json(body("torch"), DEFAULT_INDEX_URL + "/torch/")
    names = {f.filename for f in files}
    assert "torch-2.13.0-cp311-cp311-manylinux_2_28_aarch64.whl" in names
    one = next(
        f for f in files if f.filename == "torch-2.15.0-cp315-cp315t-manylinux_2_28_x86_64.whl"
    )
    assert one.url.startswith("https://")
    assert one.requires_python == ">=3.11"
    assert one.sha256 is not None
    assert len(one.sha256) == 64
    assert one.size is not None
    assert one.size > 100_000_000


def test_html_and_json_describe_the_same_files() -> None:
    url = DEFAULT_INDEX_URL + "/torchaudio/"
    from_json = {f.filename: f for f in parse_json(body("torchaudio"), url)}
    from_html = {f.filename: f for f in parse_html(body("torchaudio", "html"), url)}
    assert from_json.keys() == from_html.keys()
    for name, j in from_json.items():
        h = from_html[name]
        assert (h.url, h.sha256, h.requires_python, h.yanked) == (
            j.url,
            j.sha256,
            j.requires_python,
            j.yanked,
        )


def test_html_yanked_requires_python_and_relative_links() -> None:
    page = (
        b'<html><body><a href="../../files/pkg-1.0-py3-none-any.whl#sha256=ab" '
        b'data-requires-python="&gt;=3.10" data-yanked="bad">x</a>'
        b'<a href="https://h.invalid/pkg-0.9.tar.gz">y</a></body></html>'
    )
    files = parse_html(page, "file:///idx/simple/pkg/")
    assert files[0].url == "file:///idx/files/pkg-1.0-py3-none-any.whl"
    assert files[0].sha256 == "ab"
    assert files[0].requires_python == ">=3.10"
    assert files[0].yanked is True
    assert files[1].filename == "pkg-0.9.tar.gz"


def test_asks_for_json_first_and_caches(tmp_path: Path) -> None:
    replay = Replay()
    c = client(tmp_path, replay)
    first = c.listing(PYPI, "torch")
    assert first.status == "ok"
    assert len(first.files) > 900
    assert first.cache_age is None
    url, headers = replay.calls[0]
    assert url == DEFAULT_INDEX_URL + "/torch/"
    assert headers["Accept"] == ACCEPT
    assert headers["Accept"].startswith("application/vnd.pypi.simple.v1+json")
    second = c.listing(PYPI, "Torch")  # names are normalised
    assert len(replay.calls) == 1
    assert second.cache_age is not None
    assert second.files == first.files


def test_stale_cache_is_revalidated(tmp_path: Path) -> None:
    now = [1000.0]
    replay = Replay()
    c = IndexClient(
        cache=IndexCache(tmp_path / "c", ttl=60), transport=replay, clock=lambda: now[0]
    )
    c.listing(PYPI, "torchvision")
    now[0] += 61
    c.listing(PYPI, "torchvision")
    assert len(replay.calls) == 2
    assert replay.calls[1][1]["If-None-Match"] == '"torchvision-1"'


def test_not_modified_reuses_the_cached_files(tmp_path: Path) -> None:
    now = [0.0]
    cache = IndexCache(tmp_path / "c", ttl=10)
    IndexClient(cache=cache, transport=Replay(), clock=lambda: now[0]).listing(PYPI, "torchaudio")

    def not_modified(url: str, headers: Mapping[str, str], timeout: float) -> Response:
        assert headers["If-None-Match"] == '"torchaudio-1"'
        return Response(304, url, {}, b"")

    now[0] = 100.0
    again = IndexClient(cache=cache, transport=not_modified, clock=lambda: now[0])
    listing = again.listing(PYPI, "torchaudio")
    assert listing.status == "ok"
    assert len(listing.files) > 100


def test_offline_uses_the_cache_at_any_age_and_never_the_network(tmp_path: Path) -> None:
    cache = IndexCache(tmp_path / "c", ttl=1)
    IndexClient(cache=cache, transport=Replay(), clock=lambda: 0.0).listing(PYPI, "torch")
    down = Replay(down=True)
    offline = IndexClient(cache=cache, transport=down, offline=True, clock=lambda: 10**6)
    assert offline.listing(PYPI, "torch").status == "ok"
    missing = offline.listing(PYPI, "torchvision")
    assert missing.status == "error"
    assert "offline" in (missing.error or "")
    assert down.calls == []


def test_unreachable_index_is_an_answer_with_the_url_and_reason(tmp_path: Path) -> None:
    listing = client(tmp_path, Replay(down=True)).listing(PYPI, "torch")
    assert listing.status == "error"
    assert DEFAULT_INDEX_URL in (listing.error or "")
    assert "refused" in (listing.error or "").lower()


def test_unreachable_with_a_stale_copy_uses_it_and_says_so(tmp_path: Path) -> None:
    cache = IndexCache(tmp_path / "c", ttl=1)
    IndexClient(cache=cache, transport=Replay(), clock=lambda: 0.0).listing(PYPI, "torch")
    later = IndexClient(cache=cache, transport=Replay(down=True), clock=lambda: 500.0)
    listing = later.listing(PYPI, "torch")
    assert listing.status == "ok"
    assert "did not answer" in (listing.note or "")


@pytest.mark.parametrize(("status", "expected"), [(404, "not-found"), (503, "error")])
def test_http_statuses(tmp_path: Path, status: int, expected: str) -> None:
    listing = client(tmp_path, Replay(status=status)).listing(PYPI, "torch")
    assert listing.status == expected
    if expected == "error":
        assert "HTTP 503" in (listing.error or "")


def test_html_fallback(tmp_path: Path) -> None:
    listing = client(tmp_path, Replay(html=True)).listing(PYPI, "torchaudio")
    assert listing.status == "ok"
    assert any(
        f.filename == "torchaudio-2.11.0-cp311-cp311-manylinux_2_28_aarch64.whl"
        for f in listing.files
    )


def test_remote_queries_run_concurrently(tmp_path: Path) -> None:
    threads: set[int] = set()

    class Slow(Replay):
        def __call__(self, url: str, headers: Mapping[str, str], timeout: float) -> Response:
            threads.add(threading.get_ident())
            time.sleep(0.2)
            return super().__call__(url, headers, timeout)

    c = client(tmp_path, Slow())
    start = time.monotonic()
    answers = c.listings([PYPI], ["torch", "torchvision", "torchaudio"])
    elapsed = time.monotonic() - start
    assert len(answers) == 3
    assert len(threads) == 3
    assert elapsed < 0.55


# -- local sources -------------------------------------------------------------------------------


def test_missing_file_index_is_a_per_index_error(tmp_path: Path) -> None:
    source = Source("index", (tmp_path / "pypi-more" / "simple").as_uri(), "test")
    listing = IndexClient().listing(source, "torch")
    assert listing.status == "error"
    assert "pypi-more" in (listing.error or "")
    assert "does not exist" in (listing.error or "")


def test_file_index_with_and_without_the_project(tmp_path: Path) -> None:
    root = tmp_path / "simple"
    page = root / "torch" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(
        '<a href="../../files/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl">t</a>'
    )
    source = Source("index", root.as_uri(), "test")
    c = IndexClient()
    found = c.listing(source, "torch")
    assert [f.filename for f in found.files] == [
        "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    ]
    expected = tmp_path / "files" / found.files[0].filename
    assert urllib.parse.unquote(found.files[0].url) == urllib.parse.unquote(expected.as_uri())
    assert c.listing(source, "torchvision").status == "not-found"


def test_find_links_directory_lists_only_the_project(tmp_path: Path) -> None:
    for name in (
        "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
        "torchvision-0.28.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        "notes.txt",
    ):
        (tmp_path / name).write_bytes(b"")
    listing = IndexClient().listing(Source("find-links", str(tmp_path), "test"), "torch")
    assert [f.filename for f in listing.files] == [
        "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    ]
    gone = IndexClient().listing(Source("find-links", str(tmp_path / "nope"), "test"), "torch")
    assert gone.status == "error"


def test_wheelhouse_is_searched_recursively_and_may_be_missing(tmp_path: Path) -> None:
    nested = tmp_path / "wh" / "files" / "torch"
    nested.mkdir(parents=True)
    (nested / "torch-2.9.1+cu126.sm87-cp310-cp310-linux_aarch64.whl").write_bytes(b"")
    c = IndexClient()
    listing = c.listing(Source("wheelhouse", str(tmp_path / "wh"), "test"), "torch")
    assert [f.filename for f in listing.files] == [
        "torch-2.9.1+cu126.sm87-cp310-cp310-linux_aarch64.whl"
    ]
    missing = c.listing(Source("wheelhouse", str(tmp_path / "none"), "test"), "torch")
    assert missing.ok
    assert missing.files == ()


# -- where to look -------------------------------------------------------------------------------


def test_configured_sources_follow_pip_then_add_ours(tmp_path: Path) -> None:
    pip = PipConfig(
        extra_index_urls=("file:///opt/pypi/simple",),
        find_links=("/opt/wheels",),
        origins={
            "index-url": "default",
            "extra-index-url": "file:/x [global]",
            "find-links": "env:PIP_FIND_LINKS",
        },
    )
    settings = load_settings(
        {"extra_index_url": ("https://extra.invalid/simple",), "find_links": ("/opt/wheels",),
         "wheelhouse": str(tmp_path / "wh")},
        environ={},
    )  # fmt: skip
    sources = configured_sources(settings, pip)
    assert [(s.kind, s.location) for s in sources] == [
        ("index", DEFAULT_INDEX_URL),
        ("index", "file:///opt/pypi/simple"),
        ("index", "https://extra.invalid/simple"),
        ("find-links", "/opt/wheels"),  # configured twice, asked once
        ("wheelhouse", str(tmp_path / "wh")),
    ]
    assert sources[3].origin == "pip env:PIP_FIND_LINKS"
    assert sources[2].origin == "--extra-index-url"


def test_index_url_flag_replaces_pips_and_no_index_drops_indexes(tmp_path: Path) -> None:
    settings = load_settings({"index_url": "https://mine.invalid/simple"}, environ={})
    pip = PipConfig(index_url="https://pips.invalid/simple", no_index=True, find_links=("/w",))
    kinds = [(s.kind, s.location) for s in configured_sources(settings, pip)]
    assert kinds[0] == ("index", "https://mine.invalid/simple")
    assert ("index", "https://pips.invalid/simple") not in kinds
    plain = configured_sources(load_settings({}, environ={}), pip)
    assert [s.kind for s in plain] == ["find-links", "wheelhouse"]


# -- the real transport, on loopback ---------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        project = self.path.strip("/").split("/")[-1]
        if project not in ("torch", "torchaudio"):
            self.send_error(404)
            return
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.end_headers()
            return
        if project == "torch":
            payload = gzip.compress(body("torch"))
            ctype = "application/vnd.pypi.simple.v1+json"
        else:  # an index that only speaks HTML
            payload = gzip.compress(body("torchaudio", "html"))
            ctype = "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def loopback() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()


def test_urllib_transport_on_loopback(tmp_path: Path, loopback: str) -> None:
    source = Source("index", loopback, "test")
    now = [0.0]
    c = IndexClient(
        cache=IndexCache(tmp_path / "c", ttl=5), transport=urllib_transport(), clock=lambda: now[0]
    )
    torch = c.listing(source, "torch")
    audio = c.listing(source, "torchaudio")
    assert torch.status == "ok"
    assert len(torch.files) > 900
    assert audio.status == "ok"
    assert len(audio.files) > 100
    assert c.listing(source, "torchvision").status == "not-found"
    now[0] = 100.0  # stale: revalidated with the ETag, answered 304
    again = c.listing(source, "torch")
    assert again.files == torch.files
    assert again.cache_age is None


def test_urllib_transport_refused(tmp_path: Path) -> None:
    c = IndexClient(transport=urllib_transport(), timeout=2)
    listing = c.listing(Source("index", "http://127.0.0.1:9/simple", "test"), "torch")
    assert listing.status == "error"
    assert "127.0.0.1:9" in (listing.error or "")


def test_find_links_page_over_http(tmp_path: Path) -> None:
    page = (
        b'<a href="torch-2.9.1+cu126.sm87-cp310-cp310-linux_aarch64.whl">t</a>'
        b'<a href="torchvision-0.24.1-cp310-cp310-linux_aarch64.whl">v</a>'
    )

    def serve(url: str, headers: Mapping[str, str], timeout: float) -> Response:
        if url == "https://wheels.invalid/links.html":
            return Response(200, url, {"content-type": "text/html"}, page)
        return Response(404, url, {}, b"")

    c = IndexClient(cache=IndexCache(tmp_path / "c"), transport=serve)
    links = Source("find-links", "https://wheels.invalid/links.html", "test")
    listing = c.listing(links, "torch")
    assert [f.url for f in listing.files] == [
        "https://wheels.invalid/torch-2.9.1+cu126.sm87-cp310-cp310-linux_aarch64.whl"
    ]
    gone = c.listing(Source("find-links", "https://wheels.invalid/old.html", "test"), "torch")
    assert gone.status == "error"
    assert "404" in (gone.error or "")


def test_a_cache_entry_with_an_unknown_status_is_a_miss(tmp_path: Path) -> None:
    from torchbuild.resolve.indexes.cache import CacheEntry

    cache = IndexCache(tmp_path / "c", ttl=60)
    url = "https://example.invalid/simple/torch/"
    cache.put(url, CacheEntry(1.0, "not-found", (), None, None))
    assert cache.get(url) == CacheEntry(1.0, "not-found", (), None, None)
    path = next((tmp_path / "c").glob("*.json"))
    path.write_text(path.read_text().replace('"not-found"', '"gone"'))
    assert cache.get(url) is None
