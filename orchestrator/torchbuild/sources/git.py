"""git sources: resolve a tag to its commit, fetch that one commit, cache the checkout by commit.

A tag or branch is only a label: the commit it resolves to is what gets recorded and cached.
A tag's resolution is remembered (tags are not moved in the projects torchbuild builds), so a
second fetch of ``v2.6.0`` needs no network; a branch is asked again whenever the network is
allowed. Fetches are shallow where the server allows it (fetching one commit by id), with a
full fetch as the fallback.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .. import run
from ..errors import NetworkError, SourceError, ToolchainError
from . import cache
from .model import Source, SourceRequest, redact
from .tree import copy_entries, walk

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["fetch_git", "host_of", "is_commit", "is_git_url", "materialize_git"]

_SCP = re.compile(r"^[\w.-]+@[\w.-]+:(?!//)")
_COMMIT = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})")
#: A whole clone of torch with its submodules is large; the stall limit (``timeout`` with no
#: progress) is what catches a dead connection, this only bounds a runaway.
_FETCH_LIMIT = 6 * 3600.0
_UNREACHABLE = (
    "could not resolve host",
    "could not resolve hostname",
    "failed to connect",
    "couldn't connect",
    "connection refused",
    "connection timed out",
    "operation timed out",
    "network is unreachable",
    "no route to host",
    "temporary failure in name resolution",
    "name or service not known",
    "connection reset",
    "unable to access",
)


def is_git_url(location: str) -> bool:
    """Whether ``location`` names a git repository rather than a file or directory."""
    if location.startswith(("git+", "git://", "ssh://", "file://")):
        return True
    if _SCP.match(location):
        return True
    if location.startswith(("http://", "https://")):
        from .archive import is_archive

        return not is_archive(urlsplit(location).path)
    return False


def is_commit(text: str) -> bool:
    """Whether ``text`` is a full commit id."""
    return bool(_COMMIT.fullmatch(text))


def host_of(url: str) -> str:
    """The host a git URL talks to (for messages)."""
    if _SCP.match(url):
        return url.split("@", 1)[1].split(":", 1)[0]
    return urlsplit(url).hostname or url


def _is_local(url: str) -> bool:
    return url.startswith("file://") or ("://" not in url and not _SCP.match(url))


def _env(timeout: float) -> dict[str, str]:
    env = dict(os.environ)
    # Never wait for a password prompt nobody will answer.
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("GIT_SSH_COMMAND", f"ssh -o BatchMode=yes -o ConnectTimeout={int(timeout)}")
    env["LC_ALL"] = "C"
    return env


def _unreachable(package: str, url: str, detail: str) -> NetworkError:
    return NetworkError(
        f"cannot reach {host_of(url)} to fetch {redact(url)}: {detail}",
        hint=f"check the network, or get the source another way and pass it with "
        f"--source {package}=/path/to/checkout-or-tarball",
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _git(
    package: str,
    url: str,
    args: list[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    stall: float = 60.0,
    check: bool = True,
) -> run.Completed:
    if run.which("git") is None:
        raise ToolchainError("git is not installed", hint="install git, or pass --source PKG=DIR")
    config = [
        "-c", f"http.lowSpeedTime={max(int(stall), 1)}", "-c", "http.lowSpeedLimit=1",
        "-c", "advice.detachedHead=false", "-c", "init.defaultBranch=main",
    ]  # fmt: skip
    if _is_local(url):
        # git refuses local submodules unless told (a guard against hostile repositories);
        # the user pointed at local material, so local submodules are what they asked for.
        config += ["-c", "protocol.file.allow=always"]
    try:
        result = run.capture(["git", *config, *args], timeout=timeout, env=_env(stall), cwd=cwd)
    except subprocess.TimeoutExpired:
        raise _unreachable(package, url, f"no answer within {timeout:.0f} s") from None
    if check and not result.ok:
        detail = result.stderr.strip() or result.stdout.strip()
        lowered = detail.lower()
        if any(marker in lowered for marker in _UNREACHABLE):
            first = next(
                (
                    line.strip()
                    for line in detail.splitlines()
                    if any(m in line.lower() for m in _UNREACHABLE)
                ),
                _last_line(detail),
            )
            # curl's own reason is the part worth showing: "Could not resolve host: X".
            reason = first.rsplit("': ", 1)[-1] if "unable to access" in first else first
            raise _unreachable(package, url, reason.replace("fatal: ", "", 1))
        raise SourceError(
            f"git {args[0]} of {redact(url)} failed: {_last_line(detail)}",
            hint=f"check the URL and ref, or pass --source {package}=/path/to/checkout-or-tarball",
        )
    return result


def _memo_path(root: Path, url: str, ref: str) -> Path:
    key = hashlib.sha256(f"{url}\0{ref}".encode()).hexdigest()
    return root / "refs" / f"{key}.json"


def _remember(root: Path, url: str, ref: str, commit: str, kind: str) -> None:
    memo = _memo_path(root, url, ref)
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.temp_sibling(memo)
    tmp.write_text(json.dumps({"url": url, "ref": ref, "commit": commit, "kind": kind}) + "\n")
    tmp.replace(memo)


def _recall(root: Path, url: str, ref: str) -> tuple[str, str] | None:
    try:
        data = json.loads(_memo_path(root, url, ref).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return str(data["commit"]), str(data["kind"])


def _ls_remote(package: str, url: str, ref: str, timeout: float) -> tuple[str, str]:
    """(commit, "tag" | "branch" | "ref") that ``ref`` names on the remote."""
    result = _git(
        package, url, ["ls-remote", "--", url, ref, f"{ref}^{{}}"], timeout=timeout, stall=timeout
    )
    refs: dict[str, str] = {}
    for line in result.stdout.splitlines():
        sha, _, name = line.partition("\t")
        refs[name.strip()] = sha.strip()
    for name, kind in (
        (f"refs/tags/{ref}^{{}}", "tag"),  # an annotated tag, peeled to its commit
        (f"refs/tags/{ref}", "tag"),
        (f"refs/heads/{ref}", "branch"),
        (ref, "ref"),
    ):
        if name in refs:
            return refs[name], kind
    raise SourceError(
        f"{redact(url)} has no tag or branch {ref!r}",
        hint="check the ref, or give an exact commit",
    )


def _resolve(
    request: SourceRequest, root: Path, url: str, offline: bool, timeout: float
) -> tuple[str, str | None]:
    """(commit, the ref it came from) for the request."""
    if request.commit:
        if not is_commit(request.commit.lower()):
            raise SourceError(
                f"{request.commit!r} is not a full commit id",
                hint="give all 40 hex digits (git rev-parse COMMIT prints them)",
            )
        return request.commit.lower(), request.ref
    ref = request.ref
    if not ref:
        ref = "HEAD"
    if is_commit(ref.lower()):
        return ref.lower(), None
    known = _recall(root, url, ref)
    if known is not None and (known[1] == "tag" or offline):
        return known[0], ref
    if offline:
        raise NetworkError(
            f"{redact(url)} at {ref} has never been fetched and --offline is set",
            hint=f"run once without --offline, or pass --source {request.package}=/path/to/"
            "checkout-or-tarball",
        )
    commit, kind = _ls_remote(request.package, url, ref, timeout)
    _remember(root, url, ref, commit, kind)
    return commit, ref


def _checkout(request: SourceRequest, url: str, commit: str, tmp: Path, timeout: float) -> None:
    def quick(args: list[str], check: bool = True) -> run.Completed:
        return _git(
            request.package, url, args, timeout=timeout, stall=timeout, cwd=tmp, check=check
        )

    def slow(args: list[str], check: bool = True) -> run.Completed:
        return _git(
            request.package, url, args, timeout=_FETCH_LIMIT, stall=timeout, cwd=tmp, check=check
        )

    tmp.mkdir()
    quick(["init", "-q"])
    quick(["remote", "add", "origin", url])
    # One commit by id: GitHub and git's own protocol v2 serve it; older servers may not.
    if not slow(["fetch", "-q", "--depth", "1", "origin", commit], check=False).ok:
        slow(["fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*"])
    if not quick(["cat-file", "-e", f"{commit}^{{commit}}"], check=False).ok:
        raise SourceError(
            f"{redact(url)} has no commit {commit}",
            hint="check the commit id, or pass --source PKG=/path/to/checkout-or-tarball",
        )
    quick(["checkout", "-q", "--detach", commit])
    if request.submodules:
        update = ["submodule", "update", "--init", "--recursive"]
        if not slow([*update, "--depth", "1"], check=False).ok:
            slow(update)
    head = quick(["rev-parse", "HEAD"]).stdout.strip()
    if head != commit:
        raise SourceError(
            f"checking out {commit} of {redact(url)} gave {head}",
            hint="delete the source cache's git directory and run again",
        )


def _source(request: SourceRequest, path: Path, commit: str, ref: str | None) -> Source:
    at = f"{ref} (commit {commit[:12]})" if ref and ref != commit else f"commit {commit[:12]}"
    return Source(
        package=request.package,
        kind="git",
        location=request.location,
        digest=f"git:{commit}",
        description=f"{redact(_url(request.location))} at {at}",
        path=path,
        version=request.version,
        ref=ref,
        submodules=request.submodules,
    )


def _url(location: str) -> str:
    return location[4:] if location.startswith("git+") else location


def fetch_git(request: SourceRequest, *, cache_dir: Path, offline: bool, timeout: float) -> Source:
    """Pin the request to a commit and make sure a checkout of it is in the cache."""
    url = _url(request.location)
    root = cache.sources_root(cache_dir) / "git"
    root.mkdir(parents=True, exist_ok=True)
    cache.sweep_dead_temps(root)
    commit, ref = _resolve(request, root, url, offline, timeout)
    entry = root / (commit + ("-submodules" if request.submodules else ""))
    if entry.is_dir():
        return _source(request, entry, commit, ref)
    if offline:
        raise NetworkError(
            f"commit {commit[:12]} of {redact(url)} is not in the source cache and --offline "
            "is set",
            hint=f"run once without --offline, or pass --source {request.package}=/path/to/"
            "checkout-or-tarball",
        )
    with cache.locked(cache_dir, f"git-{entry.name}", f"{redact(url)} at {commit[:12]}"):
        if not entry.is_dir():
            tmp = cache.temp_sibling(entry)
            try:
                _checkout(request, url, commit, tmp, timeout)
                tmp.rename(entry)
            except BaseException:
                cache.remove_quiet(tmp)
                raise
    return _source(request, entry, commit, ref)


def _only_git(name: str, top: bool) -> bool:  # noqa: ARG001 - the walk's skip signature
    return name == ".git"


def materialize_git(source: Source, dest: Path) -> None:
    """Copy the cached checkout (submodules included, git's own data left out) into ``dest``."""
    if dest.exists() or dest.is_symlink():
        raise SourceError(f"{dest} already exists", hint="remove it or choose another directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.temp_sibling(dest)
    try:
        tmp.mkdir()
        # Links stay links, as git made them: one leading out must not pull in a file from outside.
        copy_entries(walk(source.path, skip=_only_git, keep_links=True), tmp)
        tmp.rename(dest)
    except BaseException:
        cache.remove_quiet(tmp)
        raise
