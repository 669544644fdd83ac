"""``index push``: upload the wheels another index lacks, through the upload API twine speaks.

The remote is read first, through its simple API (PEP 691 JSON when offered, PEP 503 HTML
otherwise, by :class:`torchbuild.resolve.indexes.IndexClient`). Each local wheel is then

``present``   on the remote with the same sha256: nothing to do;
``conflict``  on the remote under the same filename with other bytes: the whole push is refused
              before anything is sent, since a client that cached either file would never notice;
``upload``    missing: sent as a ``multipart/form-data`` POST with ``:action=file_upload``,
              ``protocol_version=1``, the digests, the core metadata fields and the file.

The protocol is spoken with the standard library rather than through twine: twine's library
face is its command function, which prints its own progress, reads ``~/.pypirc`` and prompts,
and would bring a dozen packages onto boards that run torchbuild under Python 3.8. The body is
streamed from the file, so a 2 GB CUDA wheel is never held in memory.

Where the simple API is, when ``--index-url`` is not given (:func:`derive_index_url`): an upload
URL whose path is two segments, ``/USER/INDEX``, is a devpi index, read at ``/USER/INDEX/+simple/``;
any other upload URL (pypiserver's root, or the prefix it is mounted under) is read at
``URL/simple/``. Upload endpoints on another host than their simple API (``.../legacy/``) need
``--index-url``.

Redirects are followed only within the same scheme and host: a project page that redirects
elsewhere (pypiserver's fallback to a public index) means "not here", and credentials never
travel to another host.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import http.client
import logging
import secrets
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, Sequence
from urllib.parse import urljoin, urlsplit

from packaging.utils import canonicalize_name

from .. import http as net  # torchbuild's HTTP module (`http` is the standard library's)
from ..errors import InputError, NetworkError, WheelhouseError
from ..fs import hash_stream
from ..resolve.indexes import FileLink, IndexClient, Response, Source
from .credentials import CREDENTIAL_PLACES, Credentials, find_credentials
from .sameness import Conflict, conflict_error, sameness

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from .manifest import Entry
    from .store import Wheelhouse

__all__ = [
    "PushItem",
    "PushPlan",
    "PushResult",
    "PushStatus",
    "Remote",
    "derive_index_url",
    "plan_push",
    "push",
]

log = logging.getLogger(__name__)

#: What a push does with one local wheel (see the module docstring).
PushStatus = Literal["upload", "present", "conflict"]

#: Seconds one read or write on the socket may wait (not the whole upload of a big wheel).
DEFAULT_TIMEOUT = 60.0
_CHUNK = 1024 * 1024

#: METADATA fields that may appear more than once, and their names in the upload form.
_MULTI = {
    "classifier": "classifiers",
    "platform": "platform",
    "supported-platform": "supported_platform",
    "requires-dist": "requires_dist",
    "provides-dist": "provides_dist",
    "obsoletes-dist": "obsoletes_dist",
    "requires-external": "requires_external",
    "project-url": "project_urls",
    "provides-extra": "provides_extra",
    "dynamic": "dynamic",
    "license-file": "license_file",
}


# -- where things are ---------------------------------------------------------------------------


def _check_url(url: str, flag: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{flag} {url!r} is not an http(s) URL")
    if parts.username is not None or parts.password is not None:
        # Shell history and `ps` would keep the secret: refuse rather than use it.
        raise InputError(
            f"{flag} carries credentials in the URL",
            hint=f"drop them from the URL and give them through {CREDENTIAL_PLACES}",
        )
    return url


def derive_index_url(upload_url: str) -> str:
    """The simple API URL that belongs to an upload URL (devpi and pypiserver conventions)."""
    parts = urlsplit(upload_url)
    segments = [s for s in parts.path.split("/") if s]
    if segments and segments[-1] == "legacy":
        raise InputError(
            f"cannot tell where the simple API of {upload_url} is",
            hint="give it with --index-url (for example https://HOST/simple/)",
        )
    base = upload_url.split("?", 1)[0].split("#", 1)[0].rstrip("/") + "/"
    if len(segments) == 2 and not segments[0].startswith("+"):
        return base + "+simple/"  # devpi: /USER/INDEX
    return base + "simple/"


# -- the remote ---------------------------------------------------------------------------------


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only for GET and only to the same scheme and host."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        here, there = urlsplit(req.full_url), urlsplit(urljoin(req.full_url, newurl))
        if req.get_method() != "GET" or (here.scheme, here.netloc) != (there.scheme, there.netloc):
            return None  # urllib then reports the 3xx itself
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class Remote:
    """One remote index: its simple API to read and its upload URL to post to.

    ``credentials`` is looked up lazily (see :mod:`.credentials`) unless given; it is sent with
    every upload, and with a read only after the index answered 401 to it without. ``cert`` is
    the certificate authorities to trust (pip's ``cert``), for reads and uploads alike.
    """

    def __init__(
        self,
        upload_url: str,
        index_url: str | None = None,
        *,
        credentials: Credentials | Callable[[], Credentials | None] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        opener: urllib.request.OpenerDirector | None = None,
        cert: str | None = None,
    ) -> None:
        self.upload_url = _check_url(upload_url, "--to")
        self.index_url = (
            _check_url(index_url, "--index-url").rstrip("/") + "/"
            if index_url
            else derive_index_url(upload_url)
        )
        self.timeout = timeout
        self.cert = cert
        self._opener = opener or net.opener(cert, _SameHostRedirects())
        if callable(credentials):
            self._lookup: Callable[[], Credentials | None] = credentials
        else:
            given = credentials
            self._lookup = (lambda: given) if given is not None else self._default_lookup
        self._credentials: Credentials | None = None
        self._looked_up = False
        self._guard = threading.Lock()
        self._denied: tuple[str, int] | None = None

    def _default_lookup(self) -> Credentials | None:
        return find_credentials(self.upload_url)

    @property
    def credentials(self) -> Credentials | None:
        with self._guard:
            if not self._looked_up:
                self._credentials = self._lookup()
                self._looked_up = True
            return self._credentials

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"User-Agent": net.USER_AGENT}
        headers.update(extra or {})
        return headers

    def _open(self, url: str, headers: Mapping[str, str]) -> Response:
        return net.request(url, self._headers(headers), self.timeout, via=self._opener)

    def transport(self, url: str, headers: Mapping[str, str], timeout: float) -> Response:  # noqa: ARG002 - self.timeout applies
        """An :data:`torchbuild.resolve.indexes.Transport` that authenticates after a 401."""
        response = self._open(url, headers)
        if response.status == 401 and self.credentials is not None:
            response = self._open(url, {**headers, "Authorization": self.credentials.header()})
        if response.status in (401, 403):
            self._denied = (url, response.status)
        if 300 <= response.status < 400:
            # Sent elsewhere (another host, or a fallback index): this index does not have it.
            log.debug(
                "%s redirects to %s: counted as absent", url, response.headers.get("location")
            )
            return Response(404, url, response.headers, b"")
        return response

    def _denied_error(self, url: str, status: int) -> NetworkError:
        creds = self.credentials
        said = (
            f"with the credentials from {creds.source} (user {creds.username})"
            if creds
            else "without credentials (none were found)"
        )
        return NetworkError(
            f"{url} answered HTTP {status}: access denied {said}",
            hint=f"give a username and password that may upload there through {CREDENTIAL_PLACES}",
        )

    def files(self, projects: Sequence[str]) -> dict[str, dict[str, FileLink]]:
        """What the remote holds for each project: filename -> link (empty when unknown)."""
        client = IndexClient(cache=None, transport=self.transport, timeout=self.timeout)
        source = Source("index", self.index_url, "--index-url")
        listings = client.listings([source], projects)
        out: dict[str, dict[str, FileLink]] = {}
        for (_, project), listing in listings.items():
            if self._denied is not None:
                raise self._denied_error(*self._denied)
            if not listing.ok:
                raise NetworkError(
                    f"cannot read {project} from {self.index_url}: {listing.error}",
                    hint="check the URL (--index-url) and that the index is running",
                )
            out[project] = {link.filename: link for link in listing.files}
        return out

    def remote_sha256(self, url: str) -> str:
        """Download a file the remote lists without a hash, and hash it."""
        headers = self._headers()
        creds = self.credentials
        if creds is not None and urlsplit(url).netloc == urlsplit(self.index_url).netloc:
            headers["Authorization"] = creds.header()
        try:
            request = urllib.request.Request(url, headers=headers)  # noqa: S310 - from the index
            with self._opener.open(request, timeout=self.timeout) as reply:
                return hash_stream(reply).sha256
        except (OSError, ValueError) as exc:
            raise NetworkError(f"cannot download {url} to compare it: {exc}") from None

    def upload(self, path: Path, entry: Entry, metadata: bytes, blake2_256: str) -> None:
        """POST one wheel with ``:action=file_upload``; raise on anything but success."""
        boundary = "torchbuild-" + secrets.token_hex(16)
        fields = upload_fields(entry, metadata, blake2_256)
        head = b"".join(_form_field(boundary, name, value) for name, value in fields)
        filename = entry.filename.replace('"', "%22")
        head += (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="content"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        def body() -> Iterator[bytes]:
            yield head
            with path.open("rb") as source:
                yield from iter(lambda: source.read(_CHUNK), b"")
            yield tail

        headers = self._headers(
            {
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + entry.size + len(tail)),
            }
        )
        creds = self.credentials
        if creds is not None:
            headers["Authorization"] = creds.header()
        log.debug("uploading %s to %s", entry.filename, self.upload_url)
        try:
            response = net.post_streaming(
                self.upload_url, headers, body(), timeout=self.timeout, cert=self.cert
            )
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise NetworkError(
                f"uploading {entry.filename} to {self.upload_url} failed: {exc}",
                hint="check the URL given with --to and that the index is running",
            ) from None
        if response.status in (200, 201):
            return
        if response.status in (401, 403):
            raise self._denied_error(self.upload_url, response.status)
        said = _first_line(response.body)
        if response.status == 409 or (response.status == 400 and "exist" in said.lower()):
            raise WheelhouseError(
                f"{self.upload_url} already has {entry.filename} (uploaded since it was read): "
                f"{said}",
                hint="run the push again: files already there are compared and skipped",
            )
        if 300 <= response.status < 400:
            said = f"redirected to {response.headers.get('location', '?')}"
        raise NetworkError(
            f"{self.upload_url} refused {entry.filename}: HTTP {response.status} {said}".rstrip(),
            hint="check that --to is the index's upload URL and that it accepts this file",
        )


def _first_line(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return text.splitlines()[0][:200] if text else ""


def _form_field(boundary: str, name: str, value: str) -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
    ).encode()


def upload_fields(entry: Entry, metadata: bytes, blake2_256: str) -> list[tuple[str, str]]:
    """The form fields of one upload: protocol, file facts, digests and core metadata."""
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(metadata)
    fields = [
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("filetype", "bdist_wheel"),
        ("pyversion", entry.name.python_tag),
        ("sha256_digest", entry.sha256),
        ("blake2_256_digest", blake2_256),
    ]
    seen_description = False
    for key, value in message.items():
        lower = key.lower()
        if lower in _MULTI:
            fields.append((_MULTI[lower], str(value)))
            continue
        name = lower.replace("-", "_")
        seen_description = seen_description or name == "description"
        fields.append((name, str(value)))
    payload = message.get_payload()
    if not seen_description and isinstance(payload, str) and payload.strip():
        fields.append(("description", payload))
    names = {name for name, _ in fields}
    if "name" not in names or "version" not in names:  # METADATA always has both; be sure
        fields += [("name", entry.project), ("version", str(entry.name.version))]
    return fields


# -- the plan and the push ----------------------------------------------------------------------


@dataclass(frozen=True)
class PushItem:
    """One local wheel and what the remote has under its filename."""

    entry: Entry
    status: PushStatus
    remote_sha256: str | None = None


@dataclass(frozen=True)
class PushPlan:
    """What a push would do; conflicts make it refused as a whole."""

    upload_url: str
    index_url: str
    items: tuple[PushItem, ...]

    def _with(self, status: PushStatus) -> tuple[PushItem, ...]:
        return tuple(item for item in self.items if item.status == status)

    @property
    def to_upload(self) -> tuple[PushItem, ...]:
        return self._with("upload")

    @property
    def present(self) -> tuple[PushItem, ...]:
        return self._with("present")

    @property
    def conflicts(self) -> tuple[PushItem, ...]:
        return self._with("conflict")


@dataclass(frozen=True)
class PushResult:
    """What a push did: the files uploaded (none on a dry run)."""

    plan: PushPlan
    uploaded: tuple[Entry, ...]
    dry_run: bool


def _selected(wh: Wheelhouse, projects: Sequence[str]) -> list[Entry]:
    wh.require()
    names = sorted({canonicalize_name(p) for p in projects}) or wh.projects()
    known = set(wh.projects())
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InputError(
            f"the wheelhouse {wh.root} has no wheels of {', '.join(unknown)}",
            hint="run `torchbuild index list` to see what it holds",
        )
    return sorted((entry for name in names for entry in wh.find(name)), key=lambda e: e.filename)


def plan_push(wh: Wheelhouse, remote: Remote, projects: Sequence[str] = ()) -> PushPlan:
    """Compare the wheelhouse (or these projects of it) with what the remote already has."""
    entries = _selected(wh, projects)
    listed = remote.files(sorted({entry.project for entry in entries}))
    items = []
    for entry in entries:
        link = listed.get(entry.project, {}).get(entry.filename)
        if link is None:
            items.append(PushItem(entry, "upload"))
            continue
        theirs = (link.sha256 or remote.remote_sha256(link.url)).lower()
        same = sameness(entry.sha256, theirs)
        items.append(PushItem(entry, "upload" if same == "missing" else same, theirs))
    return PushPlan(remote.upload_url, remote.index_url, tuple(items))


def refusal(plan: PushPlan) -> WheelhouseError:
    """The error a plan with conflicts is refused with: the first file and both hashes."""
    return conflict_error(
        [
            Conflict(
                item.entry.filename,
                ("remote", item.remote_sha256 or "?"),
                ("local", item.entry.sha256),
            )
            for item in plan.conflicts
        ],
        where=f"on {plan.index_url}",
        nothing_done="nothing was uploaded",
        hint="wheels are immutable: give the local wheel another version or build tag, or "
        "remove the remote file first",
    )


def _hashes(path: Path) -> tuple[str, str, int]:
    sha, blake, size = hashlib.sha256(), hashlib.blake2b(digest_size=32), 0
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(_CHUNK), b""):
            sha.update(chunk)
            blake.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), blake.hexdigest(), size


def push(
    wh: Wheelhouse,
    remote: Remote,
    plan: PushPlan,
    *,
    dry_run: bool = False,
    progress: Callable[[Entry], None] | None = None,
) -> PushResult:
    """Upload the plan's missing files; refuse the whole plan if any file conflicts."""
    if plan.conflicts:
        raise refusal(plan)
    if dry_run:
        return PushResult(plan, (), dry_run=True)
    # Every file is rehashed before the first byte goes out: a damaged local wheel must not
    # reach a shared index, and finding it half-way would leave a partial push behind.
    ready = []
    for item in plan.to_upload:
        path = wh.path_of(item.entry)
        try:
            sha, blake, size = _hashes(path)
            metadata = path.with_name(path.name + ".metadata").read_bytes()
        except OSError as exc:
            raise WheelhouseError(
                f"cannot read {path}: {exc.strerror or exc}; nothing was uploaded"
            ) from None
        if (sha, size) != (item.entry.sha256, item.entry.size):
            raise WheelhouseError(
                f"{path} no longer matches the manifest (sha256 {sha}, manifest says "
                f"{item.entry.sha256}); nothing was uploaded"
            )
        ready.append((item.entry, path, metadata, blake))
    uploaded: list[Entry] = []
    for entry, path, metadata, blake in ready:
        if progress is not None:
            progress(entry)
        try:
            remote.upload(path, entry, metadata, blake)
        except (NetworkError, WheelhouseError) as exc:
            if uploaded:
                exc.message += f" ({len(uploaded)} file(s) were uploaded before this one)"
            raise
        uploaded.append(entry)
    return PushResult(plan, tuple(uploaded), dry_run=False)
