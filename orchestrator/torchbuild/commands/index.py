"""`torchbuild index`: list, add, verify, prune, serve and configure clients for the wheelhouse."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from .. import ui
from ..errors import EXIT_FINDINGS, InputError, WheelhouseError
from ._common import json_option, settings_from

if TYPE_CHECKING:
    from ..wheelhouse import Entry, Wheelhouse

__all__ = ["index"]

F = TypeVar("F", bound=Callable[..., Any])


class VerifyFindings(WheelhouseError):  # noqa: N818 - a verdict, not a failure
    """``index verify`` found problems: a verdict (exit 1), not a failure to run."""

    exit_code = EXIT_FINDINGS


def _wheelhouse_option(func: F) -> F:
    return click.option(
        "--wheelhouse",
        type=click.Path(path_type=Path, file_okay=False),
        metavar="DIR",
        help="The wheelhouse directory (default: TORCHBUILD_WHEELHOUSE, torchbuild.toml, "
        "or the user data directory).",
    )(func)


def _open(flag: Path | None) -> Wheelhouse:
    from ..wheelhouse import Wheelhouse

    return Wheelhouse(settings_from(wheelhouse=flag).wheelhouse_dir)


def _entry_json(wh: Wheelhouse, entry: Entry) -> dict[str, Any]:
    name = entry.name
    return {
        "project": entry.project,
        "version": str(name.version),
        "variant": name.local,
        "tag": name.tag,
        **entry.to_json(),
        "path": str(wh.path_of(entry)),
    }


@click.group()
def index() -> None:
    """The wheelhouse: a local package index that pip and uv install from."""


@index.command("list", short_help="Show the wheels and where each came from.")
@click.argument("projects", nargs=-1, metavar="[PROJECT]...")
@_wheelhouse_option
@json_option
def list_(projects: tuple[str, ...], wheelhouse: Path | None, as_json: bool) -> None:
    """Show the wheels: project, version, variant, tags, size and where each came from."""
    from packaging.utils import canonicalize_name

    wh = _open(wheelhouse)
    names = [canonicalize_name(p) for p in projects] or wh.projects()
    entries = [entry for name in names for entry in wh.find(name)]
    if as_json:
        ui.print_json(
            {
                "version": 1,
                "wheelhouse": str(wh.root),
                "files": [_entry_json(wh, e) for e in entries],
                "total_size": sum(e.size for e in entries),
            }
        )
        return
    if not entries:
        ui.console.print(
            f"No wheels in {wh.root}" + (" for " + ", ".join(names) if projects else ""),
            markup=False,
            soft_wrap=True,
        )
        return
    # Plain aligned columns, origin last: wheel tags and paths are long, and a table squeezed
    # to 80 columns in a pipe would cut exactly the parts that tell variants apart.
    rows = [("PROJECT", "VERSION", "VARIANT", "PYTHON-ABI-PLATFORM", "SIZE", "ADDED", "ORIGIN")]
    rows += [
        (
            e.project,
            e.name.version.public,
            e.name.local or "-",
            e.name.tag,
            ui.human_bytes(e.size),
            e.added[:10],
            e.origin,
        )
        for e in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    ui.console.print(f"{wh.root}:", markup=False, soft_wrap=True)
    for row in rows:
        cells = [
            cell.rjust(w) if i == 4 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths))
        ]
        ui.console.print("  ".join([*cells, row[-1]]), markup=False, soft_wrap=True)
    ui.console.print(f"{len(entries)} wheels, {ui.human_bytes(sum(e.size for e in entries))}")


@index.command(short_help="Add wheels built elsewhere, validated first.")
@click.argument("wheels", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--origin",
    metavar="TEXT",
    help='Where the wheels came from, as `index list` shows it (default: "external PATH").',
)
@_wheelhouse_option
@json_option
def add(
    wheels: tuple[Path, ...], origin: str | None, wheelhouse: Path | None, as_json: bool
) -> None:
    """Add wheels built elsewhere; each is checked (zip, name, METADATA) first.

    Adding the same file again does nothing; a different file under a name the wheelhouse
    already holds is refused, because wheels are immutable.
    """
    wh = _open(wheelhouse)
    results = []
    for wheel in wheels:
        result = wh.add(wheel, origin=origin or f"external {wheel.resolve()}")
        results.append(result)
        if not as_json:
            verb = "added" if result.added else "already present:"
            ui.console.print(
                f"{verb} {result.entry.filename} ({ui.human_bytes(result.entry.size)}, "
                f"sha256 {result.entry.sha256[:16]}...)",
                markup=False,
                soft_wrap=True,
            )
    if as_json:
        ui.print_json(
            {
                "version": 1,
                "wheelhouse": str(wh.root),
                "results": [{"added": r.added, **_entry_json(wh, r.entry)} for r in results],
            }
        )


@index.command(short_help="Rehash everything; exit 1 on any problem.")
@_wheelhouse_option
@json_option
def verify(wheelhouse: Path | None, as_json: bool) -> None:
    """Rehash every wheel and check every page; exit 1 on any mismatch, missing file or orphan."""
    from ..wheelhouse import verify as run_verify

    wh = _open(wheelhouse)
    report = run_verify(wh)
    if as_json:
        ui.print_json(
            {
                "version": 1,
                "wheelhouse": str(wh.root),
                "ok": report.ok,
                "files": report.files,
                "bytes": report.bytes,
                "notes": list(report.notes),
                "findings": [
                    {"kind": f.kind, "path": f.path, "detail": f.detail} for f in report.findings
                ],
            }
        )
    else:
        for note in report.notes:
            ui.console.print(f"note: {note}", markup=False, soft_wrap=True)
        for finding in report.findings:
            ui.console.print(
                f"{finding.kind}: {finding.path}: {finding.detail}", markup=False, soft_wrap=True
            )
        verdict = "OK" if report.ok else f"{len(report.findings)} problem(s)"
        ui.console.print(
            f"{verdict}: {report.files} wheels, {ui.human_bytes(report.bytes)} rehashed "
            f"in {wh.root}",
            markup=False,
            soft_wrap=True,
        )
    if not report.ok:
        # Raised, not ctx.exit(): the error funnel in __main__ owns exit codes.
        kinds = sorted({f.kind for f in report.findings})
        raise VerifyFindings(
            f"the wheelhouse {wh.root} has {len(report.findings)} problem(s): {', '.join(kinds)}",
            hint="see the list above; `torchbuild index prune --orphans` deletes orphans, and a "
            "mismatched wheel must be removed and added again",
        )


@index.command(short_help="Remove old wheels; the newest N per variant stay.")
@click.option(
    "--keep", type=click.IntRange(min=1), help="Keep the newest N versions of each variant."
)
@click.option("--project", "projects", multiple=True, metavar="NAME", help="Only these projects.")
@click.option("--orphans", is_flag=True, help="Also delete files no manifest lists.")
@click.option("--dry-run", is_flag=True, help="Say what would go; delete nothing.")
@_wheelhouse_option
@json_option
def prune(
    keep: int | None,
    projects: tuple[str, ...],
    orphans: bool,
    dry_run: bool,
    wheelhouse: Path | None,
    as_json: bool,
) -> None:
    """Remove old wheels by a stated policy: --keep N newest versions per variant.

    A variant is one project, local label (cpu, cu126...), Python and ABI tag and platform
    (the glibc or macOS version aside).
    """
    from ..wheelhouse.maintenance import prune as run_prune

    if keep is None and not orphans:
        raise InputError("say what to prune", hint="give --keep N, --orphans, or both")
    wh = _open(wheelhouse)
    result = run_prune(wh, keep=keep, projects=projects, orphans=orphans, dry_run=dry_run)
    if as_json:
        ui.print_json(
            {
                "version": 1,
                "wheelhouse": str(wh.root),
                "dry_run": dry_run,
                "removed": [_entry_json(wh, e) for e in result.removed],
                "orphans": [str(p) for p in result.orphans],
                "freed": result.freed,
            }
        )
        return
    verb = "would remove" if dry_run else "removed"
    for entry in result.removed:
        ui.console.print(f"{verb} {entry.filename}", markup=False, soft_wrap=True)
    for path in result.orphans:
        ui.console.print(f"{verb} orphan {path}", markup=False, soft_wrap=True)
    ui.console.print(
        f"{verb} {len(result.removed)} wheels and {len(result.orphans)} orphans, "
        f"{ui.human_bytes(result.freed)}",
        markup=False,
        soft_wrap=True,
    )


@index.command(short_help="Serve the wheelhouse read-only over HTTP.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@_wheelhouse_option
def serve(host: str, port: int, wheelhouse: Path | None) -> None:
    """Serve the wheelhouse read-only over HTTP (PEP 503 HTML and PEP 691 JSON)."""
    from ..wheelhouse.serve import is_loopback, make_server

    wh = _open(wheelhouse)
    try:
        server = make_server(wh, host, port)
    except OSError as exc:
        raise InputError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="pick another --port (0 picks a free one) or --host",
        ) from None
    if not is_loopback(host):
        ui.warn(f"serving on {host}: other machines can read this wheelhouse (read-only)")
    ui.console.print(f"Serving {wh.root} at {server.url}", markup=False, soft_wrap=True)
    ui.console.print(f"  pip install --index-url {server.url} torch", markup=False, soft_wrap=True)
    ui.console.print(
        f"  client settings: torchbuild index config --url {server.url}",
        markup=False,
        soft_wrap=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        ui.console.print("stopped")
    finally:
        server.server_close()


@index.command(short_help="Write pip and uv settings that install from here.")
@click.option(
    "--url",
    metavar="URL",
    help="The index URL the clients use (default: file:// URL of the wheelhouse; for a "
    "fleet, the `index serve` URL).",
)
@click.option(
    "--extra-index-url",
    "extra",
    multiple=True,
    metavar="URL",
    help="Index for every other package, in order (default: PyPI).",
)
@click.option("--no-pypi", is_flag=True, help="No index besides the wheelhouse.")
@click.option(
    "--project",
    "projects",
    multiple=True,
    metavar="SPEC",
    help="What to pin, e.g. torch or 'torch==2.6.0+cpu' (default: torch, torchvision and "
    "torchaudio, newest each).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="Write the files here (default: WHEELHOUSE/config).",
)
@click.option(
    "--constraint-path",
    metavar="PATH",
    help="Where pip.conf says constraints.txt is, on the machines that use it "
    "(default: the written file).",
)
@_wheelhouse_option
@json_option
def config(
    url: str | None,
    extra: tuple[str, ...],
    no_pypi: bool,
    projects: tuple[str, ...],
    out: Path | None,
    constraint_path: str | None,
    wheelhouse: Path | None,
    as_json: bool,
) -> None:
    """Write and print pip.conf, uv.toml and a constraints file that install from here.

    The torch packages then come from the wheelhouse even with PyPI configured as another index.
    """
    from ..wheelhouse.config import PYPI_SIMPLE, client_config
    from ..wheelhouse.fsutil import atomic_write

    wh = _open(wheelhouse)
    wh.require()
    if no_pypi and extra:
        raise InputError("--no-pypi and --extra-index-url contradict each other")
    extras = [] if no_pypi else list(extra or (PYPI_SIMPLE,))
    index_url = url or wh.simple.resolve().as_uri() + "/"
    out_dir = (out or wh.root / "config").resolve()
    result = client_config(
        {project: wh.find(project) for project in wh.projects()},
        index_url=index_url,
        extra_index_urls=extras,
        specs=projects,
        constraint_path=constraint_path or str(out_dir / "constraints.txt"),
        source=str(wh.root.resolve()),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in result.files:
        atomic_write(out_dir / name, text.encode("utf-8"), tmp_dir=out_dir, durable=False)
    if as_json:
        ui.print_json(
            {
                "version": 1,
                "wheelhouse": str(wh.root),
                "index_url": result.index_url,
                "dir": str(out_dir),
                "pins": [
                    {
                        "project": p.project,
                        "version": str(p.version),
                        "requirement": p.requirement,
                        "hashes": list(p.hashes),
                        "protected": p.protected,
                    }
                    for p in result.pins
                ],
                "files": {name: str(out_dir / name) for name, _ in result.files},
                "notes": list(result.notes),
            }
        )
        return
    for name, text in result.files:
        ui.console.out(f"# ==> {out_dir / name} <==\n{text}", highlight=False)
    for note in result.notes:
        ui.warn(note)
