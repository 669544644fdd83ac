"""`torchbuild index`: list, add, verify, prune, serve and configure clients for the wheelhouse."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import click

from .. import ui
from ..errors import EXIT_FINDINGS, InputError, WheelhouseError
from ._common import json_option, settings_from, target_option, terminate_as_interrupt

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


def _open(flag: Path | None, *, write: bool = False) -> Wheelhouse:
    """The wheelhouse of this command, checked before any work: a directory (or one that can
    be made), readable, and writable when the command writes."""
    from ..wheelhouse import Wheelhouse
    from ..wheelhouse.place import check_wheelhouse

    root = settings_from(wheelhouse=flag).wheelhouse_dir
    check_wheelhouse(root, write=write)
    return Wheelhouse(root)


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
    wh = _open(wheelhouse, write=True)
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
    wh = _open(wheelhouse, write=not dry_run)
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


@index.command(short_help="Remove the wheels of PROJECT==VERSION.")
@click.argument("specs", nargs=-1, required=True, metavar="PROJECT==VERSION...")
@click.option("--dry-run", is_flag=True, help="Say what would go; delete nothing.")
@_wheelhouse_option
@json_option
def remove(specs: tuple[str, ...], dry_run: bool, wheelhouse: Path | None, as_json: bool) -> None:
    """Remove every wheel of PROJECT==VERSION (all its variants and tags, or one variant with
    PROJECT==VERSION+LABEL), files and index pages together under the wheelhouse lock."""
    from packaging.requirements import InvalidRequirement, Requirement

    wh = _open(wheelhouse, write=not dry_run)
    chosen: list[Entry] = []
    for text in specs:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            req = None
        if req is None or [s.operator for s in req.specifier] != ["=="]:
            raise InputError(
                f"{text!r} is not PROJECT==VERSION",
                hint="e.g. torchbuild index remove torch==2.6.0 (or torch==2.6.0+cu126)",
            )
        versions = req.specifier
        found = [
            e for e in wh.find(req.name) if versions.contains(e.name.version, prereleases=True)
        ]
        if not found:
            raise InputError(
                f"the wheelhouse {wh.root} has no wheel of {text}",
                hint=f"see what it has: torchbuild index list {req.name}",
            )
        chosen += found
    removed = chosen if dry_run else wh.remove(chosen)
    if as_json:
        ui.print_json(
            {
                "version": 1,
                "wheelhouse": str(wh.root),
                "dry_run": dry_run,
                "removed": [_entry_json(wh, e) for e in removed],
            }
        )
        return
    verb = "would remove" if dry_run else "removed"
    for entry in removed:
        ui.print_whole(f"{verb} ", entry.filename)


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
    # The handlers go in before the banner: whoever reads the URL may stop us at once.
    try:
        with terminate_as_interrupt():
            if not is_loopback(host):
                ui.warn(f"serving on {host}: other machines can read this wheelhouse (read-only)")
            ui.console.print(f"Serving {wh.root} at {server.url}", markup=False, soft_wrap=True)
            ui.console.print(
                f"  pip install --index-url {server.url} torch", markup=False, soft_wrap=True
            )
            ui.console.print(
                f"  client settings: torchbuild index config --url {server.url}",
                markup=False,
                soft_wrap=True,
            )
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
    help="Index for every other package, in order (default: PyPI); with --for, the plan "
    "looks in it too (a PyTorch or Jetson index).",
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
@click.option(
    "--for",
    "for_specs",
    multiple=True,
    metavar="PKG[SPEC]...",
    help="Plan these packages (as `torchbuild plan` does; space-separated or repeated) and "
    "write the settings that install exactly the planned files, from any index.",
)
@target_option
@click.option(
    "--cuda",
    default="auto",
    show_default=True,
    metavar="auto|none|X.Y",
    help="With --for: the variant to plan for, as `torchbuild plan --cuda`.",
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
    for_specs: tuple[str, ...],
    target_spec: str | None,
    cuda: str,
    wheelhouse: Path | None,
    as_json: bool,
) -> None:
    """Write and print pip.conf, uv.toml and a constraints file that install from here.

    The torch packages then come from the wheelhouse even with PyPI configured as another index.
    With --for, the packages are planned first and the files route each one to the index that
    holds its planned file (the wheelhouse, PyTorch's or a Jetson index), pinned by hash.
    """
    from ..fs import atomic_write
    from ..wheelhouse.config import PYPI_SIMPLE, client_config
    from ..wheelhouse.place import check_destination

    if no_pypi and extra and not for_specs:
        raise InputError("--no-pypi and --extra-index-url contradict each other")
    if for_specs:
        if projects:
            raise InputError(
                "--project and --for both choose what to pin",
                hint="use --for to plan, or --project to pin what the wheelhouse holds",
            )
        _config_for_plan(
            for_specs,
            target_spec,
            cuda,
            url,
            extra,
            no_pypi,
            out,
            constraint_path,
            wheelhouse,
            as_json,
        )
        return
    if target_spec is not None:
        raise InputError("--target only applies with --for", hint="add --for 'torch ...'")
    wh = _open(wheelhouse)
    wh.require()
    extras = [] if no_pypi else list(extra or (PYPI_SIMPLE,))
    index_url = url or wh.simple.resolve().as_uri() + "/"
    out_dir = (out or wh.root / "config").resolve()
    hint = "give --out DIR a writable directory"
    check_destination(out_dir, "the client configuration", hint)
    result = client_config(
        {project: wh.find(project) for project in wh.projects()},
        index_url=index_url,
        extra_index_urls=extras,
        specs=projects,
        constraint_path=constraint_path or str(out_dir / "constraints.txt"),
        source=str(wh.root.resolve()),
    )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, text in result.files:
            atomic_write(out_dir / name, text.encode("utf-8"), tmp_dir=out_dir, durable=False)
    except OSError as exc:  # checked above, but a disk can fill or a mount change meanwhile
        raise WheelhouseError(
            f"cannot write the client configuration to {out_dir}: {exc.strerror or exc}",
            hint=hint,
        ) from None
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


def _config_for_plan(
    specs: tuple[str, ...],
    target_spec: str | None,
    cuda: str,
    url: str | None,
    extra: tuple[str, ...],
    no_pypi: bool,
    out: Path | None,
    constraint_path: str | None,
    wheelhouse: Path | None,
    as_json: bool,
) -> None:
    """``index config --for``: plan, then route each package to the index of its planned file."""
    from ..fs import atomic_write
    from ..resolve.matrix import parse_request
    from ..resolve.pipconfig import DEFAULT_INDEX_URL
    from ..wheelhouse import Wheelhouse
    from ..wheelhouse.config import install_config
    from ._planning import plan_for, where_pip_looks

    words = [word for spec in specs for word in spec.replace(",", " ").split()]
    requests = [parse_request(word) for word in words]
    if not requests:
        raise InputError("--for names no package", hint="e.g. --for 'torch torchvision'")
    # The plan looks in that wheelhouse for cached wheels, and in the known sources for --cuda.
    settings, target, pip, sources = where_pip_looks(
        target_spec, None, extra, (), offline=False, cuda=cuda, wheelhouse=wheelhouse
    )
    wh = Wheelhouse(settings.wheelhouse_dir)
    plan = plan_for(
        target,
        requests,
        settings=settings,
        pip=pip,
        sources=sources,
        cuda=cuda,
        ignore_matrix=False,
        user_sources={},
    )
    wheelhouse_url = url or wh.simple.resolve().as_uri() + "/"
    routed = {d.wheel.index for d in plan.decisions if d.wheel is not None}
    dependency = [
        s.location.rstrip("/") + "/" if s.location.rstrip("/") == DEFAULT_INDEX_URL else s.location
        for s in plan.sources
        if s.kind == "index" and s.location not in routed
    ]
    if no_pypi:
        dependency = [u for u in dependency if u.rstrip("/") != DEFAULT_INDEX_URL]
    out_dir = (out or wh.root / "config").resolve()
    result = install_config(
        plan.decisions,
        wheelhouse_url=wheelhouse_url,
        dependency_indexes=list(dict.fromkeys(dependency)),
        constraint_path=constraint_path or str(out_dir / "constraints.txt"),
        source=f"{' '.join(words)} on {target.origin}",
        files_dir=str(out_dir),
    )
    for name, text in result.files:
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text.encode("utf-8"), tmp_dir=path.parent, durable=False)
    if as_json:
        ui.print_json(
            {
                "version": 1,
                "target": target.origin,
                "index_url": result.index_url,
                "extra_index_urls": list(result.extra_index_urls),
                "find_links": list(result.find_links),
                "routes": [r.to_json() for r in result.routes],
                "commands": dict(result.commands),
                "dir": str(out_dir),
                "files": {name: str(out_dir / name) for name, _ in result.files},
                "notes": list(result.notes),
            }
        )
        return
    for name, text in result.files:
        ui.console.out(f"# ==> {out_dir / name} <==\n{text}", highlight=False)
    for tool, command in result.commands:
        ui.console.out(f"# {tool}:\n{command}\n", highlight=False)
    for note in result.notes:
        ui.warn(note)


# -- publishing elsewhere: push, export, import --------------------------------------------------

_PUSH_WORDS = {
    "uploaded": "uploaded",
    "would-upload": "would upload",
    "held": "not uploaded",
    "present": "already there",
    "refused": "refused",
}


def _print_rows(rows: list[tuple[str, str, str, str]]) -> None:
    """STATUS, FILE, SIZE, SHA256 columns, plain and aligned (filenames are long)."""
    table = [("STATUS", "FILE", "SIZE", "SHA256"), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2])]
        ui.console.print("  ".join([*cells, row[3]]), markup=False, soft_wrap=True)


@index.command(short_help="Upload the wheels another index lacks.")
@click.option(
    "--to",
    "to",
    required=True,
    metavar="URL",
    help="The index's upload URL (pypiserver: http://HOST:PORT/, devpi: http://HOST/USER/INDEX/).",
)
@click.option(
    "--index-url",
    metavar="URL",
    help="Its simple API, read first to skip files it has (default: URL/+simple/ for a devpi "
    "URL /USER/INDEX, else URL/simple/).",
)
@click.option("--project", "projects", multiple=True, metavar="NAME", help="Only these projects.")
@click.option("--dry-run", is_flag=True, help="Say what would be uploaded; upload nothing.")
@_wheelhouse_option
@json_option
def push(
    to: str,
    index_url: str | None,
    projects: tuple[str, ...],
    dry_run: bool,
    wheelhouse: Path | None,
    as_json: bool,
) -> None:
    """Upload the wheels the index at --to lacks, through the upload API twine speaks.

    Files already there with the same sha256 are skipped; a file there under the same name with
    other contents refuses the whole push before anything is sent. Credentials come from
    TORCHBUILD_INDEX_USERNAME/TORCHBUILD_INDEX_PASSWORD (or TWINE_USERNAME/TWINE_PASSWORD),
    ~/.netrc, or the system keyring; never from the command line.
    """
    from .._types import assert_never
    from ..wheelhouse.push import PushStatus, Remote, plan_push
    from ..wheelhouse.push import push as run_push

    settings = settings_from(wheelhouse=wheelhouse)
    if settings.offline:
        raise InputError(
            "pushing needs the network, and offline mode is on",
            hint="unset TORCHBUILD_OFFLINE (or offline in torchbuild.toml) to push",
        )
    from ..wheelhouse import Wheelhouse

    wh = Wheelhouse(settings.wheelhouse_dir)
    from ..resolve.pipconfig import read_pip_config

    # The certificate authorities pip is told to trust (a company proxy's) apply here too.
    remote = Remote(to, index_url, cert=read_pip_config().cert)
    plan = plan_push(wh, remote, projects)

    def status_of(item_status: PushStatus) -> str:  # noqa: RET503 - ends in assert_never
        if item_status == "upload":
            return "held" if plan.conflicts else "would-upload" if dry_run else "uploaded"
        if item_status == "conflict":
            return "refused"
        if item_status == "present":
            return "present"
        assert_never(item_status)

    def report(uploaded: int) -> None:
        counts = {
            "uploaded": uploaded,
            "would_upload": len(plan.to_upload) if dry_run and not plan.conflicts else 0,
            "present": len(plan.present),
            "refused": len(plan.conflicts),
        }
        if as_json:
            creds = remote.credentials if plan.to_upload and not dry_run else None
            ui.print_json(
                {
                    "version": 1,
                    "wheelhouse": str(wh.root),
                    "to": plan.upload_url,
                    "index_url": plan.index_url,
                    "dry_run": dry_run,
                    "credentials": creds.source if creds else None,
                    "files": [
                        {
                            "filename": item.entry.filename,
                            "project": item.entry.project,
                            "sha256": item.entry.sha256,
                            "size": item.entry.size,
                            "status": status_of(item.status),
                            "remote_sha256": item.remote_sha256,
                        }
                        for item in plan.items
                    ],
                    **counts,
                }
            )
            return
        _print_rows(
            [
                (
                    _PUSH_WORDS[status_of(item.status)],
                    item.entry.filename,
                    ui.human_bytes(item.entry.size),
                    item.entry.sha256[:16] + "...",
                )
                for item in plan.items
            ]
        )
        summary = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n)
        ui.console.print(
            f"{summary or 'nothing to do'}: {plan.upload_url}", markup=False, soft_wrap=True
        )

    if plan.conflicts:
        report(0)
    result = run_push(wh, remote, plan, dry_run=dry_run)  # raises on conflicts
    report(len(result.uploaded))


def _import_rows(items: Any, words: dict[str, str]) -> list[tuple[str, str, str, str]]:
    return [
        (
            words[item.status],
            item.filename,
            ui.human_bytes(item.size) if item.size is not None else "-",
            item.sha256[:16] + "...",
        )
        for item in items
    ]


@index.command("export", short_help="Copy the wheelhouse to a directory or .tar.")
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Path(path_type=Path),
    metavar="DIR|FILE.tar",
    help="A new (or empty) directory, or a .tar/.tar.gz file to write.",
)
@click.option("--project", "projects", multiple=True, metavar="NAME", help="Only these projects.")
@_wheelhouse_option
@json_option
def export_(to: Path, projects: tuple[str, ...], wheelhouse: Path | None, as_json: bool) -> None:
    """Write a self-contained copy: wheels, index pages, metadata files and manifests.

    pip installs from it directly (`--no-index --find-links DIR`, or `--index-url
    file://DIR/simple/`), and `torchbuild index import` reads it (the .tar too).
    """
    from ..wheelhouse.transfer import export as run_export

    wh = _open(wheelhouse)
    result = run_export(wh, to, projects)
    if as_json:
        ui.print_json(
            {
                "version": 1,
                "wheelhouse": str(wh.root),
                "to": str(result.destination),
                "kind": result.kind,
                "files": [_entry_json(wh, e) for e in result.entries],
                "bytes": result.bytes,
            }
        )
        return
    ui.console.print(
        f"exported {len(result.entries)} wheels, {ui.human_bytes(result.bytes)}, "
        f"to {result.destination}",
        markup=False,
        soft_wrap=True,
    )
    if result.kind == "dir":
        ui.console.print(
            f"  pip install --no-index --find-links {result.destination} PACKAGE",
            markup=False,
            soft_wrap=True,
        )


@index.command("import", short_help="Take an export (directory or .tar) into the wheelhouse.")
@click.argument("source", type=click.Path(path_type=Path, exists=True), metavar="FROM")
@click.option("--project", "projects", multiple=True, metavar="NAME", help="Only these projects.")
@click.option("--dry-run", is_flag=True, help="Check everything and say what would be added.")
@_wheelhouse_option
@json_option
def import_(
    source: Path,
    projects: tuple[str, ...],
    dry_run: bool,
    wheelhouse: Path | None,
    as_json: bool,
) -> None:
    """Check every file of an export against its manifests, then add the wheels missing here.

    The same file already here is skipped; the same filename with other contents refuses the
    whole import before anything is added.
    """
    from ..wheelhouse.transfer import ImportResult, plan_import
    from ..wheelhouse.transfer import import_ as run_import

    wh = _open(wheelhouse, write=not dry_run)
    plan = plan_import(wh, source, projects)
    conflicts = bool(plan.with_status("conflict"))
    words = {
        "add": "not added" if conflicts else "would add" if dry_run else "added",
        "present": "already there",
        "conflict": "refused",
    }

    def report(result: ImportResult) -> None:
        if as_json:
            ui.print_json(
                {
                    "version": 1,
                    "wheelhouse": str(wh.root),
                    "from": result.source,
                    "dry_run": dry_run,
                    "files": [
                        {
                            "filename": item.filename,
                            "project": item.project,
                            "sha256": item.sha256,
                            "size": item.size,
                            "status": words[item.status].replace(" ", "-"),
                            "local_sha256": item.local_sha256,
                        }
                        for item in result.items
                    ],
                    "added": len(result.added),
                    "present": len(result.with_status("present")),
                    "refused": len(result.with_status("conflict")),
                }
            )
            return
        _print_rows(_import_rows(result.items, words))
        counts = [(len(result.with_status(s)), words[s]) for s in ("add", "present", "conflict")]
        summary = ", ".join(f"{n} {word}" for n, word in counts if n) or "nothing to import"
        ui.console.print(f"{summary}: {wh.root}", markup=False, soft_wrap=True)

    if conflicts:
        report(plan)
    report(run_import(wh, source, projects, dry_run=dry_run, plan=plan))  # raises on conflicts
