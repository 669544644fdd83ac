"""`torchbuild recipes`: what the recipes cover, and one recipe rendered for a target."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Sequence

import click
from packaging.version import InvalidVersion, Version
from rich.markup import escape
from rich.table import Table

from .. import ui
from ..errors import RecipeError
from ..recipes import conditions
from ..recipes.layers import GENERIC, RecipeDir, layers_for, package_names
from ..recipes.layers import recipe_dirs as layered_dirs
from ..recipes.load import requirement_key
from ..recipes.model import Condition, RecipeFile
from ..recipes.render import JSON_VERSION, Rendered, render, to_json
from ..sources.model import KINDS
from ._common import (
    check_package_name,
    json_option,
    parse_env,
    settings_from,
    target_from,
    target_option,
)

__all__ = ["recipes"]

#: Condition keys that say *where* a recipe applies (the others say when: versions, Python).
_PLATFORM_KEYS = ("os", "arch", "libc", "cuda", "jetson", "jetpack", "soc", "board")


def _recipe_dir_option(func: Any) -> Any:
    return click.option(
        "--recipe-dir",
        "recipe_dirs",
        multiple=True,
        type=click.Path(path_type=Path, file_okay=False),
        help="A directory of your own <package>.toml recipes (and patches/), layered on top of "
        "the bundled ones and TORCHBUILD_RECIPE_PATH. Repeatable.",
    )(func)


@click.group()
def recipes() -> None:
    """Inspect the build recipes: what they cover, and what they render to."""


def _platforms(files: Sequence[RecipeFile]) -> list[str]:
    seen: dict[str, None] = {}
    for f in files:
        for ov in f.overrides:
            kept = {
                fl.name: getattr(ov.when, fl.name)
                for fl in fields(Condition)
                if fl.name in _PLATFORM_KEYS
            }
            text = conditions.describe(replace(Condition(), **kept))
            if text != "always":
                seen[text] = None
    return list(seen)


def _summary(name: str, files: Sequence[RecipeFile]) -> dict[str, Any]:
    series = [
        {
            "name": s.name,
            "versions": str(s.versions),
            "requires_python": str(s.requires_python) if s.requires_python is not None else None,
            "requires_cuda": str(s.requires_cuda) if s.requires_cuda is not None else None,
            "file": f.label,
        }
        for f in files
        for s in f.series
    ]
    return {
        "package": name,
        "summary": next((f.recipe.summary for f in reversed(files) if f.recipe.summary), ""),
        "series": series,
        "platforms": _platforms(files),
        "patches": [
            {"file": p.file, "versions": str(p.versions), "reason": p.reason}
            for f in files
            for p in f.patches
        ],
        "files": [f.label for f in files],
    }


@recipes.command("list")
@json_option
@_recipe_dir_option
def list_(as_json: bool, recipe_dirs: tuple[Path, ...]) -> None:
    """Packages with recipes, their version series and the platforms their overrides cover."""
    dirs = layered_dirs(list(recipe_dirs))
    entries = [_summary(name, layers_for(name, dirs)) for name in package_names(dirs)]
    generic = _summary(GENERIC, _generic_layers(dirs))
    if as_json:
        ui.print_json({"version": JSON_VERSION, "packages": entries, "generic": generic})
        return
    table = Table(title="torchbuild recipes", title_justify="left")
    table.add_column("package", style="bold cyan", no_wrap=True)
    table.add_column("series (versions; Python)")
    table.add_column("platforms covered by overrides")
    table.add_column("patches", justify="right")
    for e in [*entries, generic]:
        series = "\n".join(
            f"{s['name']} ({s['versions']}"
            + (f"; Python {s['requires_python']}" if s["requires_python"] else "")
            + ")"
            for s in e["series"]
        )
        name = e["package"] if e is not generic else "(any other)"
        platforms = "\n".join(e["platforms"]) or "-"
        table.add_row(name, escape(series), escape(platforms), str(len(e["patches"])))
    ui.console.print(table)


def _generic_layers(dirs: Sequence[RecipeDir]) -> list[RecipeFile]:
    return [d.load(p) for d in dirs if (p := d.file(GENERIC)) is not None]


def _default_version(files: Sequence[RecipeFile]) -> Version:
    """The first release of the newest series, for `show` without --version."""
    best: Version | None = None
    for f in files:
        for s in f.series:
            for spec in s.versions:
                if spec.operator not in (">=", "==", "~=", "==="):
                    continue
                try:
                    release = Version(spec.version.replace(".*", "")).release
                except InvalidVersion:
                    continue
                candidate = Version(".".join(map(str, (*release, 0, 0)[:3])))
                if s.versions.contains(candidate, prereleases=True) and (
                    best is None or candidate > best
                ):
                    best = candidate
    if best is None:
        raise RecipeError(
            "cannot pick a default version from this recipe's series", hint="give --version"
        )
    return best


@recipes.command("show")
@click.argument("package")
@click.option("--version", "version", metavar="V", help="Package version (default: newest series).")
@target_option
@json_option
@_recipe_dir_option
@click.option(
    "--env",
    "env_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set a build environment variable; beats every recipe layer. Repeatable.",
)
@click.option("--jobs", type=click.IntRange(min=1), help="Use N compile jobs instead of the model.")
@click.option(
    "--source-kind",
    type=click.Choice(sorted(KINDS)),
    help="The kind of source the build would use (dsc: a distribution source package).",
)
def show(
    package: str,
    version: str | None,
    target_spec: str | None,
    as_json: bool,
    recipe_dirs: tuple[Path, ...],
    env_pairs: tuple[str, ...],
    jobs: int | None,
    source_kind: str | None,
) -> None:
    """Render PACKAGE's recipe for a target, with the layer and override behind every value."""
    cli_env = parse_env(env_pairs)
    dirs = layered_dirs(list(recipe_dirs))
    check_package_name(package, package_names(dirs))
    files = layers_for(package, dirs)
    target = target_from(target_spec, settings_from())
    chosen = version if version is not None else str(_default_version(files))
    rendered = render(
        files, package, chosen, target, cli_env=cli_env, jobs=jobs, source_kind=source_kind
    )
    if as_json:
        ui.print_json(to_json(rendered))
        return
    if version is None:
        ui.warn(f"no --version given: showing {chosen}, the first release of the newest series")
    _print(rendered, target.origin)


def _short(source: str) -> str:
    """``recipes/torch.toml override #3 (...): reason`` → ``recipes/torch.toml override #3``."""
    return source.split(" (", 1)[0] if " override #" in source else source


def _print(r: Rendered, origin: str) -> None:
    con = ui.console
    con.print(
        f"[bold]{escape(r.package)} {escape(r.version)}[/] (series {escape(r.series)}, "
        f"{r.variant} build) for {escape(origin)}"
    )
    env = Table(title="environment", title_justify="left", box=None, pad_edge=False)
    env.add_column("variable", style="bold cyan", no_wrap=True)
    env.add_column("value", overflow="fold")
    env.add_column("set by", style="dim")
    for name, value in r.env.items():
        env.add_row(name, escape(value), escape(_short(r.provenance.get(name, ""))))
    con.print(env)
    req = Table(title="build requirements", title_justify="left", box=None, pad_edge=False)
    req.add_column("requirement", style="bold cyan")
    req.add_column("set by", style="dim")
    for text in r.build_requires:
        source = r.provenance.get(f"build-requires:{requirement_key(text)}", "")
        req.add_row(escape(text), escape(_short(source)))
    con.print(req)
    for number, step in enumerate(r.before, 1):
        con.print(
            f"[bold]before the build ({number}):[/] {escape(' '.join(step))}  "
            f"[dim]{escape(_short(r.provenance.get('before', '')))}[/]"
        )
    con.print(f"[bold]command:[/] {escape(' '.join(r.command))}")
    con.print(f"[bold]jobs:[/] {r.jobs}  [dim]{escape(r.provenance.get('jobs', ''))}[/]")
    if r.memory_source:
        con.print(f"[bold]per-job memory estimate:[/] {escape(r.memory_source)}")
    if r.matched:
        con.print("[bold]overrides applied, in order:[/]")
        for source in r.matched:
            con.print(f"  - {escape(source)}")
    if r.patches:
        con.print("[bold]patches:[/]")
        for p in r.patches:
            con.print(
                f"  - {escape(p.file)} (sha256 {p.sha256[:12]}...): {escape(p.reason)} "
                f"[dim]upstream: {escape(p.upstream)}[/]"
            )
    if r.smoke:
        con.print("[bold]smoke test:[/]")
        con.print(escape(r.smoke.strip()), highlight=False)
    if r.notes:
        con.print("[bold]notes:[/]")
        for n in r.notes:
            con.print(f"  - {escape(n)}")
