"""The planning the commands share: index and --prefer options, where wheels are looked for,
the plan with its warnings, and the split of a command line's packages into the torch family and
the others. Command modules import from here, never from each other."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

import click
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .. import ui
from ..detect.torch import probe_installed_torch
from ..resolve.choice import PREFER, parse_prefer
from ..resolve.indexes import Source, client_for, configured_sources
from ..resolve.matrix import PACKAGES, parse_request
from ..resolve.metadata import reader_for
from ..resolve.pipconfig import PipConfig, read_pip_config
from ..resolve.plan import make_plan
from ..resolve.variants import check_cuda_option
from ._common import settings_from, target_from

if TYPE_CHECKING:
    from ..resolve.matrix import Request
    from ..resolve.plan import Plan
    from ..settings import Settings
    from ..target import Target

__all__ = [
    "index_options",
    "plan_elsewhere",
    "plan_for",
    "prefer_option",
    "split_packages",
    "where_pip_looks",
]

F = TypeVar("F", bound=Callable[..., Any])


def index_options(func: F) -> F:
    """--index-url, --extra-index-url, --find-links, --offline, --no-known-indexes, --cuda:
    shared with doctor and wheel."""
    for option in reversed(
        [
            click.option(
                "--cuda",
                default="auto",
                show_default=True,
                metavar="auto|none|X.Y",
                help="auto: CUDA if the target has an NVIDIA GPU; none: CPU only; X.Y: that CUDA.",
                # Checked as the command line is read, before any detection or network.
                callback=lambda _ctx, _param, value: check_cuda_option(value),
            ),
            click.option(
                "--index-url",
                metavar="URL",
                help="Replace pip's main index (default: whatever pip is configured with).",
            ),
            click.option(
                "--extra-index-url",
                multiple=True,
                metavar="URL",
                help="Also look in this index (repeatable), after pip's own.",
            ),
            click.option(
                "--find-links",
                multiple=True,
                metavar="DIR|URL",
                help="Also look in this directory or page of wheels (repeatable).",
            ),
            click.option(
                "--offline",
                is_flag=True,
                help="Use only cached index answers and local files; never the network.",
            ),
            click.option(
                "--no-known-indexes",
                is_flag=True,
                help="Do not look in the known wheel sources (PyTorch's and Jetson AI Lab's "
                "indexes); only where pip and these flags say.",
            ),
        ]
    ):
        func = option(func)
    return func


def prefer_option(func: F) -> F:
    """--prefer prebuilt|newest|build: shared with wheel."""
    return click.option(
        "--prefer",
        type=click.Choice(PREFER),
        default="prebuilt",
        show_default=True,
        help="prebuilt: the newest set that needs no build; newest: the newest set, building "
        "what has no wheel; build: build everything asked.",
    )(func)


def where_pip_looks(
    target_spec: str | None,
    index_url: str | None,
    extra_index_url: tuple[str, ...],
    find_links: tuple[str, ...],
    offline: bool,
    no_known_indexes: bool = False,
    root: Path | None = None,
    cuda: str = "auto",
    python_executable: str | None = None,
    **flags: Any,
) -> tuple[Settings, Target, PipConfig, list[Source]]:
    """The settings (these flags, and ``flags``: more of the command's own, through the chain),
    the target, pip's configuration and the places wheels are looked for."""
    settings = settings_from(
        index_url=index_url,
        extra_index_url=extra_index_url,
        find_links=find_links,
        offline=True if offline else None,
        known_indexes=False if no_known_indexes else None,
        **flags,
    )
    target = target_from(target_spec, settings, root, python_executable=python_executable)
    prefix = None
    if target.origin == "host" and target.python and target.python.executable:
        # pip's "site" config file lives in the interpreter's sys.prefix.
        prefix = Path(target.python.executable).parent.parent
    pip = read_pip_config(site_prefix=prefix)
    return settings, target, pip, configured_sources(settings, pip, target, cuda)


def plan_for(
    target: Target,
    requests: list[Request],
    *,
    settings: Settings,
    pip: PipConfig,
    sources: list[Source],
    cuda: str,
    ignore_matrix: bool,
    user_sources: dict[str, str],
    prefer: str = "prebuilt",
    recipe_dirs: tuple[Path, ...] = (),
) -> Plan:
    """The plan for ``requests`` on ``target`` (the installed torch probed when torch is not
    asked for), with its warnings shown: shared by `plan` and `wheel`."""
    installed = None
    if "torch" not in {r.name for r in requests}:
        installed = probe_installed_torch(target, timeout=max(settings.probe_timeout, 10.0))
    result = make_plan(
        target,
        requests,
        sources=sources,
        client=client_for(settings, pip),
        cuda=cuda,
        ignore_matrix=ignore_matrix,
        installed=installed,
        user_sources=user_sources,
        metadata=reader_for(settings, pip.cert),
        prefer=parse_prefer(prefer),
        recipe_dirs=recipe_dirs,
    )
    if target.os != "linux":
        result = plan_elsewhere(result, requests, sources, client_for(settings, pip), cuda)
    for warning in result.warnings:
        ui.warn(warning)
    return result


def plan_elsewhere(
    result: Plan, requests: list[Request], sources: list[Source], client: Any, cuda: str
) -> Plan:
    """macOS and Windows: torchbuild builds nothing there, so the plan is the newest set the
    indexes have wheels for (what pip would install, found by the doctor), or an error that
    names the way out."""
    from dataclasses import replace

    from ..doctor.diagnose import diagnose
    from ..doctor.platforms import LINUX_ONLY, foreign_way_out, where_words
    from ..errors import ResolveError

    builds = [d for d in result.decisions if d.action == "build"]
    target = result.target
    if not builds:
        if result.newer is None:
            return result
        # The newer set needs builds, which cannot happen there: say so instead of its cost.
        newer = ", ".join(f"{n} {v}" for n, v in result.newer.versions)
        note = f"{where_words(target)} has no wheel for {newer}; planned the newest set with "
        note += f"wheels there ({LINUX_ONLY})"
        return replace(result, newer=None, warnings=(*result.warnings, note))
    names = [r.name for r in requests]
    report = diagnose(target, packages=names, sources=sources, client=client, cuda=cuda)
    pins = {o.name: o.version for o in report.outcomes if o.version is not None}
    wanted = {r.name: r for r in requests}
    fits = all(
        d.name in pins and (d.name not in wanted or wanted[d.name].specifier.contains(pins[d.name]))
        for d in builds
    )
    if fits:
        pinned = [parse_request(f"{r.name}=={pins[r.name]}") for r in requests]
        again = make_plan(
            target,
            pinned,
            sources=sources,
            client=client,
            cuda=cuda,
            ignore_matrix=False,
            installed=result.installed,
            user_sources={},
        )
        if not any(d.action == "build" for d in again.decisions):
            dropped = ", ".join(f"{d.name} {d.version}" for d in builds)
            got = ", ".join(f"{d.name} {d.version}" for d in again.decisions)
            note = f"{where_words(target)} has no wheel for {dropped}; planned {got}, the newest "
            note += f"with wheels there ({LINUX_ONLY})"
            return replace(again, warnings=(*result.warnings, note))
    first = builds[0]
    finding = next((f for f in report.findings if f.severity == "error"), None)
    raise ResolveError(
        f"{first.name} {first.version} has no wheel for {where_words(target)}, and "
        f"{LINUX_ONLY}" + (f": {finding.what}" if finding else ""),
        hint=finding.fix if finding else foreign_way_out(target, []),
    )


def split_packages(
    packages: Sequence[str],
) -> tuple[list[Request], list[tuple[str, str | None, str]]]:
    """Torch-family requests for the planner, and other projects (name, pinned version, text)."""
    family: list[Request] = []
    others: list[tuple[str, str | None, str]] = []
    for text in packages:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            family.append(parse_request(text))  # the planner's own message for bad input
            continue
        name = canonicalize_name(req.name)
        if name in PACKAGES:
            family.append(parse_request(text))
            continue
        pins = [s.version for s in req.specifier if s.operator in ("==", "===")]
        others.append((name, pins[0] if pins else None, text))
    return family, others
