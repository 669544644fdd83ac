"""Serves the recorded index pages on 127.0.0.1, as the mirrors of every known wheel source.

    with serve_indexes() as served:
        env["TORCHBUILD_MIRRORS"] = served.mirrors

``/pypi/<project>/`` answers with the recorded PyPI JSON (tests/data/pypi), its files moved to
``/files/<name>`` here and announcing the recorded METADATA (PEP 658/714) that ``/files/<name>.
metadata`` serves, so a plan reads companions' METADATA without leaving the machine; ``/whl/<variant>/
<project>/`` with PyTorch's pages and ``/jetson/<user>/<index>/+simple/<project>/`` with Jetson AI
Lab's; anything else is a 404, as on the real servers for an index that lacks the project.
Imported as ``data.indexes.serve`` (``tests/`` is on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from data.pypi.replay import PROJECTS, _announce, recorded_metadata

HERE = Path(__file__).parent
_PYPI = re.compile(r"^/pypi/(?P<project>[a-z0-9-]+)/$")
_FILES = re.compile(r"^/files/(?P<name>[^/]+)\.metadata$")
_PYTORCH = re.compile(r"^/whl/(?P<variant>[a-z0-9.]+)/(?P<project>[a-z0-9-]+)/$")
_JETSON = re.compile(
    r"^/jetson/(?P<user>[a-z0-9]+)/(?P<index>[a-z0-9.]+)/\+simple/(?P<project>[a-z0-9-]+)/$"
)


@dataclass
class Served:
    url: str  # http://127.0.0.1:PORT
    requests: list[str] = field(default_factory=list)

    @property
    def mirrors(self) -> str:
        """The TORCHBUILD_MIRRORS value that sends every known source here."""
        return f"pypi={self.url}/pypi pytorch={self.url}/whl jetson-ai-lab={self.url}/jetson"


def _pypi_page(project: str, url: str) -> bytes:
    page = json.loads(_announce(project))
    for entry in page["files"]:
        entry["url"] = f"{url}/files/{urllib.parse.quote(entry['filename'])}"
    return json.dumps(page).encode()


def page(path: str, url: str = "") -> tuple[bytes, str] | None:
    """The body and content type served for ``path`` by the server at ``url``, or None (404)."""
    match = _PYPI.match(path)
    if match and match["project"] in PROJECTS:
        return _pypi_page(match["project"], url), "application/vnd.pypi.simple.v1+json"
    match = _FILES.match(path)
    if match:
        text = recorded_metadata().get(urllib.parse.unquote(match["name"]))
        return (text, "application/octet-stream") if text is not None else None
    match = _PYTORCH.match(path)
    if match:
        file = HERE / "pytorch" / match["variant"] / f"{match['project']}.html"
        return (file.read_bytes(), "text/html") if file.is_file() else None
    match = _JETSON.match(path)
    if match:
        file = HERE / "jetson-ai-lab" / match["user"] / match["index"] / f"{match['project']}.html"
        return (file.read_bytes(), "text/html; charset=utf-8") if file.is_file() else None
    return None


@contextlib.contextmanager
def serve_indexes() -> Iterator[Served]:
    served = Served("")
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                served.requests.append(self.path)
            found = page(self.path, served.url)
            if found is None:
                self.send_error(404)
                return
            payload, ctype = found
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
