"""Running a command inside a root, with /proc, /sys, /dev, DNS and the user's bind mounts.

All mounts are made inside a private mount namespace (``unshare --mount --propagation
private``): the host never sees them, and the kernel drops them when the last process in the
namespace ends, whether the command finished, failed, or was interrupted. Nothing has to be
unmounted afterwards, so nothing can be left mounted.

The command gets a clean environment (PATH, HOME, LANG, TERM and what ``--env`` adds), not the
host's: a host virtualenv or compiler path has no meaning inside the root.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from .. import run
from ..errors import InputError, ToolchainError
from .runner import LONG, run_long

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "SETUP_FAILED",
    "Bind",
    "inside_command",
    "parse_bind",
    "require_superuser",
    "run_inside",
]

#: Exit status of the mount script when it cannot set the root up (the command never ran).
SETUP_FAILED = 125
_SETUP_TAG = "torchbuild-root:"

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Bind:
    """A host path made visible inside the root."""

    host: Path
    inside: str
    read_only: bool = False


def parse_bind(spec: str) -> Bind:
    """``HOST[:INSIDE][:ro]``: INSIDE defaults to the host path; ``ro`` mounts it read-only."""
    parts = spec.split(":")
    read_only = len(parts) > 1 and parts[-1] in ("ro", "rw")
    if read_only:
        read_only = parts.pop() == "ro"
    if not parts[0] or len(parts) > 2:
        raise InputError(
            f"--bind {spec!r} is not HOST[:INSIDE][:ro]",
            hint="e.g. --bind ~/src/pytorch:/src/pytorch or --bind /data:/data:ro",
        )
    host = Path(parts[0]).expanduser().absolute()
    if not host.exists():
        raise InputError(f"--bind {spec!r}: {host} does not exist", hint="bind an existing path")
    inside = parts[1] if len(parts) == 2 else str(host)
    if not inside.startswith("/"):
        raise InputError(
            f"--bind {spec!r}: the path inside the root must be absolute",
            hint="write it as seen from inside the root, e.g. /src",
        )
    return Bind(host, str(PurePosixPath(inside)), read_only)


def require_superuser(action: str) -> None:
    """Refuse early and clearly: mounts, chroot and debootstrap all need root."""
    if os.geteuid() != 0:
        raise ToolchainError(
            f"{action} needs root privileges (mounts and chroot); this process runs as uid "
            f"{os.geteuid()}",
            hint="run it as root, e.g. `sudo torchbuild root ...`",
        )


def _tool(name: str) -> str:
    found = run.which(name)
    if found is None:
        raise ToolchainError(
            f"`{name}` is not installed; it is needed to work inside a root",
            hint="apt-get install util-linux mount",
        )
    return str(found)


def _no_symlink_on_the_way(root: Path, inside: str) -> None:
    # A symlink inside the root would be followed on the host's side when mounting, landing the
    # mount (and the mkdir before it) outside the root.
    path = root
    for part in PurePosixPath(inside).parts[1:]:
        path = path / part
        if path.is_symlink():
            raise InputError(
                f"cannot mount onto {inside} inside {root}: {path} is a symlink",
                hint="bind to the directory the link points to, written as seen inside the root",
            )


def _bind_lines(bind: Bind) -> list[str]:
    q = shlex.quote
    target = '"$R"' + q(bind.inside)
    fail = f"fail {q('bind ' + bind.inside)}"
    if bind.host.is_dir():
        made = f"mkdir -p {target}"
    else:
        made = f'mkdir -p "$R"{q(str(PurePosixPath(bind.inside).parent))} && touch {target}'
    lines = [f"{{ {made}; }} || {fail}", f"mount --rbind {q(str(bind.host))} {target} || {fail}"]
    if bind.read_only:
        lines.append(f"mount -o remount,bind,ro {target} || {fail}")
    return lines


def inside_command(
    root: Path,
    command: Sequence[str],
    *,
    binds: Sequence[Bind] = (),
    env: Mapping[str, str] | None = None,
    cwd: str = "/",
) -> list[str]:
    """The host command line that runs ``command`` inside ``root`` (see the module docstring)."""
    root = root.absolute()
    q = shlex.quote
    unshare = _tool("unshare")
    lines = [
        f'fail() {{ echo "{_SETUP_TAG} cannot $1" >&2; exit {SETUP_FAILED}; }}',
        f"R={q(str(root))}",
        'mount -t proc proc "$R/proc" || fail "mount /proc"',
        'mount --rbind /sys "$R/sys" || fail "bind /sys"',
        # /dev with what is mounted below it: /dev/pts for terminals, /dev/shm for semaphores.
        'mount --rbind /dev "$R/dev" || fail "bind /dev"',
    ]
    resolv = root / "etc" / "resolv.conf"
    if Path("/etc/resolv.conf").exists() and resolv.is_file() and not resolv.is_symlink():
        # The host's current resolver, not the copy debootstrap took on the day it ran.
        lines.append('mount --bind /etc/resolv.conf "$R/etc/resolv.conf" || fail "bind DNS"')
    for bind in binds:
        _no_symlink_on_the_way(root, bind.inside)
        lines.extend(_bind_lines(bind))
    variables = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8"}
    if os.environ.get("TERM"):
        variables["TERM"] = os.environ["TERM"]
    variables.update(env or {})
    assignments = " ".join(q(f"{k}={v}") for k, v in variables.items())
    lines.append(
        f'exec env -i {assignments} {q(unshare)} --root="$R" --wd={q(cwd)} -- "$@"',
    )
    script = "\n".join(lines)
    return [unshare, "--mount", "--propagation", "private", "sh", "-c", script, "sh", *command]


def _prepared(
    root: Path,
    command: Sequence[str],
    *,
    binds: Sequence[Bind],
    env: Mapping[str, str] | None,
    cwd: str,
) -> list[str]:
    require_superuser("running a command inside a root")
    if not (root / "usr").is_dir():
        raise InputError(
            f"{root} does not look like a root file system (no usr/ inside)",
            hint="create one with `torchbuild root create DIST DIR`",
        )
    for point in ("proc", "sys", "dev"):
        (root / point).mkdir(exist_ok=True)
    return list(inside_command(root, command, binds=binds, env=env, cwd=cwd))


def _setup_failed(root: Path, reason: str) -> ToolchainError:
    return ToolchainError(
        f"could not set up {root} to run a command: {reason}",
        hint="run it as root on a kernel that allows mount namespaces (not inside an "
        "unprivileged container)",
    )


def run_attached(
    root: Path,
    command: Sequence[str],
    *,
    binds: Sequence[Bind] = (),
    env: Mapping[str, str] | None = None,
    cwd: str = "/",
) -> int:
    """Run ``command`` inside ``root`` on this terminal (a build shows its own progress)."""
    status = run.attached(_prepared(root, command, binds=binds, env=env, cwd=cwd))
    if status == SETUP_FAILED:
        raise _setup_failed(root, "see the message above")
    return status


def run_inside(
    root: Path,
    command: Sequence[str],
    *,
    binds: Sequence[Bind] = (),
    env: Mapping[str, str] | None = None,
    cwd: str = "/",
    log: IO[str] | None = None,
    timeout: float = LONG,
) -> run.Completed:
    """Run ``command`` inside ``root``; its exit status is the command's own."""
    args = _prepared(root, command, binds=binds, env=env, cwd=cwd)
    done = run_long(args, log=log, timeout=timeout)
    if done.returncode == SETUP_FAILED and _SETUP_TAG in done.stderr:
        reason = next(line for line in done.stderr.splitlines() if line.startswith(_SETUP_TAG))
        raise _setup_failed(root, reason[len(_SETUP_TAG) :].strip())
    return done
