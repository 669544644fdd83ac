"""Reading recipe files into the model, collecting every problem in one pass.

A typo must not surface hours into a build, so the loader checks everything it can without a
target: unknown keys (with a "did you mean"), wrong types, bad specifiers and requirements,
unknown ``{placeholders}``, missing patch files, sha256 mismatches, overlapping series and
overrides that contradict each other. :func:`load_file` raises :class:`RecipeError` listing all
problems; :func:`check_file` returns them.
"""

from __future__ import annotations

import difflib
import re
import string
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .. import resources
from ..errors import RecipeError
from ..fs import sha256_file
from .model import FORMAT, TEMPLATE_NAMES, Override, RecipeFile, Series, Values, toml_name

__all__ = [
    "ENV_NAME",
    "Problem",
    "check_file",
    "is_recipe_file",
    "load_file",
    "requirement_key",
    "template_names",
]

#: What an environment variable name may look like.
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a recipe file: where, and what."""

    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}: {self.where}: {self.message}"
            if self.where
            else f"{self.file}: {self.message}"
        )


def requirement_key(text: str) -> str:
    """The canonical project name of a PEP 508 requirement: layers replace by this key."""
    return canonicalize_name(Requirement(text).name)


def template_names(text: str) -> list[str]:
    """The ``{name}`` placeholders in a value (``{{`` and ``}}`` are literal braces)."""
    names: list[str] = []
    for _, name, _, _ in string.Formatter().parse(text):
        if name is not None:
            names.append(name)
    return names


def is_recipe_file(data: Mapping[str, Any]) -> bool:
    """Recipe files have a ``[recipe]`` table; other TOML files in recipes/ are tables of facts."""
    return isinstance(data.get("recipe"), dict)


class _Reader:
    def __init__(self, label: str) -> None:
        self.label = label
        self.problems: list[Problem] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.label, where, message))

    # -- generic walk over the model -----------------------------------------------------

    def build(self, cls: type, data: Any, where: str) -> Any:
        if not isinstance(data, dict):
            self.problem(where, f"must be a table, not {_type_name(data)}")
            return cls()
        known = {toml_name(f.name): f for f in fields(cls) if not f.metadata.get("internal")}
        values: dict[str, Any] = {}
        for key, raw in data.items():
            f = known.get(key)
            if f is None:
                close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
                hint = (
                    f"; did you mean {close[0]!r}?"
                    if close
                    else f"; known keys: {', '.join(known)}"
                )
                self.problem(where, f"unknown key {key!r}{hint}")
                continue
            value = self.convert(f.metadata, raw, _join(where, key))
            if value is not None:
                values[f.name] = value
        for key, f in known.items():
            if f.metadata.get("required") and key not in data:
                self.problem(where, f"{key!r} is required")
        return cls(**values)

    def convert(self, meta: Mapping[str, Any], raw: Any, where: str) -> Any:
        kind = meta["kind"]
        if kind == "string":
            if not isinstance(raw, str):
                return self._wrong(where, "a string", raw)
            return raw
        if kind == "strings":
            if isinstance(raw, str):
                items: tuple[str, ...] = (raw,)
            elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
                items = tuple(raw)
            else:
                return self._wrong(where, "a string or a non-empty list of strings", raw)
            choices = meta.get("choices")
            if choices is not None:
                unknown = [x for x in items if x not in choices]
                if unknown:
                    self.problem(
                        where,
                        f"unknown {', '.join(map(repr, unknown))}; known: {', '.join(choices)}",
                    )
                    return None
            return items
        if kind == "commands":
            if isinstance(raw, list) and all(
                isinstance(cmd, list) and cmd and all(isinstance(w, str) for w in cmd)
                for cmd in raw
            ):
                return tuple(tuple(cmd) for cmd in raw)
            return self._wrong(
                where, 'a list of commands, each a non-empty list of words: [["prog", "arg"]]', raw
            )
        if kind == "list":
            if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
                return tuple(raw)
            return self._wrong(where, "a list of strings", raw)
        if kind == "bool":
            if not isinstance(raw, bool):
                return self._wrong(where, "true or false", raw)
            return raw
        if kind == "integer":
            if isinstance(raw, bool) or not isinstance(raw, int):
                return self._wrong(where, "an integer", raw)
            return raw
        if kind == "number":
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw <= 0:
                return self._wrong(where, "a positive number", raw)
            return float(raw)
        if kind == "specifier":
            if not isinstance(raw, str):
                return self._wrong(where, "a version specifier string such as '>=2.6,<2.7'", raw)
            try:
                return SpecifierSet(raw)
            except InvalidSpecifier:
                self.problem(where, f"{raw!r} is not a valid version specifier (PEP 440)")
                return None
        if kind == "requirements":
            if not (isinstance(raw, list) and all(isinstance(x, str) for x in raw)):
                return self._wrong(where, "a list of requirement strings", raw)
            good: list[str] = []
            for i, text in enumerate(raw):
                try:
                    Requirement(text)
                except InvalidRequirement as exc:
                    self.problem(f"{where}[{i}]", f"{text!r} is not a valid requirement: {exc}")
                    continue
                good.append(text)
            return tuple(good)
        if kind == "env":
            if not isinstance(raw, dict):
                return self._wrong(where, 'a table of NAME = "value"', raw)
            env: dict[str, str] = {}
            for name, value in raw.items():
                if not ENV_NAME.match(name):
                    self.problem(where, f"{name!r} is not a valid environment variable name")
                elif not isinstance(value, str):
                    self.problem(
                        _join(where, name),
                        f'must be a string (quote it: {name} = "{_plain(value)}")',
                    )
                else:
                    env[name] = value
            return env
        if kind == "table":
            return self.build(meta["model"], raw, where)
        if kind == "array":
            if not isinstance(raw, list):
                return self._wrong(where, "an array of tables ([[...]])", raw)
            return tuple(
                self.build(meta["model"], item, f"{where}[{i + 1}]") for i, item in enumerate(raw)
            )
        raise AssertionError(kind)  # pragma: no cover - KINDS is closed

    def _wrong(self, where: str, expected: str, raw: Any) -> None:
        self.problem(where, f"must be {expected}, not {_type_name(raw)}")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _type_name(value: Any) -> str:
    return {
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _plain(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# -- checks that need more than one field -------------------------------------------------------


def _check_values(r: _Reader, values: Values, where: str) -> None:
    for name, value in (values.env or {}).items():
        _check_templates(r, f"{_join(where, 'env')}.{name}", value)
    for i, arg in enumerate(values.command):
        _check_templates(r, f"{_join(where, 'command')}[{i}]", arg)
    for i, step in enumerate(values.before or ()):
        for j, word in enumerate(step):
            _check_templates(r, f"{_join(where, 'before')}[{i}][{j}]", word)
    if values.env and values.env_unset:
        for name in sorted(set(values.env) & set(values.env_unset)):
            r.problem(where, f"{name} is both set (env) and unset (env-unset)")
    seen: dict[str, str] = {}
    for text in values.build_requires:
        key = requirement_key(text)
        if key in seen:
            r.problem(
                _join(where, "build-requires"), f"{key} is listed twice ({seen[key]!r}, {text!r})"
            )
        seen[key] = text


def _check_templates(r: _Reader, where: str, text: str) -> None:
    try:
        names = template_names(text)
    except ValueError as exc:
        r.problem(where, f"bad placeholder in {text!r}: {exc} (write {{{{ for a literal brace)")
        return
    for name in names:
        if name not in TEMPLATE_NAMES:
            close = difflib.get_close_matches(name, list(TEMPLATE_NAMES), n=1)
            hint = (
                f"; did you mean {{{close[0]}}}?"
                if close
                else f"; known: {', '.join(TEMPLATE_NAMES)}"
            )
            r.problem(where, f"unknown placeholder {{{name}}}{hint}")


def _probe(text: str) -> Version | None:
    try:
        return Version(text.replace(".*", ""))
    except InvalidVersion:
        return None


def _check_series_overlap(r: _Reader, series: tuple[Series, ...]) -> None:
    # Two series claiming one version would make the render depend on file order. Probe each
    # series at the versions its own specifiers name: ranges that overlap share such a point.
    probes = {v for s in series for sp in s.versions if (v := _probe(sp.version)) is not None}
    for v in sorted(probes):
        claim = [s.name for s in series if s.versions.contains(v, prereleases=True)]
        if len(claim) > 1:
            r.problem("series", f"series {' and '.join(claim)} both contain {v}")
    names = [s.name for s in series]
    for name in sorted({n for n in names if names.count(n) > 1}):
        r.problem("series", f"series name {name!r} is used twice")


def _conflict_keys(ov: Override) -> dict[str, object]:
    out: dict[str, object] = {f"env.{k}": v for k, v in (ov.env or {}).items()}
    out.update({f"env.{k}": None for k in ov.env_unset})
    out.update({f"build-requires.{requirement_key(t)}": t for t in ov.build_requires})
    if ov.command:
        out["command"] = ov.command
    if ov.smoke is not None:
        out["smoke"] = ov.smoke
    if ov.before is not None:
        out["before"] = ov.before
    if ov.memory is not None:
        for f in fields(ov.memory):
            value = getattr(ov.memory, f.name)
            if value is not None:
                out[f"memory.{toml_name(f.name)}"] = value
    return out


def _check_override_conflicts(r: _Reader, overrides: tuple[Override, ...]) -> None:
    # Overrides apply in order, so a later one may refine an earlier one. Two overrides with the
    # very same conditions that set one key to different values are a contradiction: one of
    # them is dead, and nobody can tell which was meant.
    for i, a in enumerate(overrides):
        for j in range(i + 1, len(overrides)):
            b = overrides[j]
            if a.when != b.when:
                continue
            ka, kb = _conflict_keys(a), _conflict_keys(b)
            for key in sorted(set(ka) & set(kb)):
                if ka[key] != kb[key]:
                    r.problem(
                        f"overrides[{i + 1}] and overrides[{j + 1}]",
                        f"same conditions, different values for {key}",
                    )


def _check_patches(r: _Reader, recipe: RecipeFile) -> None:
    root = recipe.patches_root
    for i, p in enumerate(recipe.patches):
        where = f"patches[{i + 1}]"
        if p.sha256 and not _SHA256.match(p.sha256):
            r.problem(where, "sha256 must be 64 lowercase hex digits")
        if not p.file:
            continue
        rel = Path(p.file)
        if rel.is_absolute() or ".." in rel.parts:
            r.problem(where, f"file {p.file!r} must be a relative path below patches/")
            continue
        parts = rel.parts
        pkg = recipe.recipe.package
        if pkg != "*" and (len(parts) != 3 or parts[0] != pkg or not parts[2].endswith(".patch")):
            r.problem(where, f"file {p.file!r} must be {pkg}/<series>/NNNN-subject.patch")
        elif pkg != "*" and recipe.series and parts[1] not in {s.name for s in recipe.series}:
            # A user layer without series of its own may patch a bundled series.
            r.problem(
                where, f"file {p.file!r} is under series {parts[1]!r}, which this recipe lacks"
            )
        path = root / rel
        if not path.is_file():
            r.problem(where, f"patch file {path} does not exist")
        elif p.sha256 and (actual := sha256_file(path).sha256) != p.sha256:
            r.problem(where, f"sha256 mismatch for {p.file}: the file has {actual}")


def _check_header(r: _Reader, recipe: RecipeFile) -> None:
    h = recipe.recipe
    if h.format != FORMAT:
        r.problem("recipe.format", f"is {h.format}; this torchbuild reads format {FORMAT}")
    for name in h.jobs_env:
        if not ENV_NAME.match(name):
            r.problem("recipe.jobs-env", f"{name!r} is not a valid environment variable name")
    # A recipe is found by its file name, so the name and the package must agree.
    stem = recipe.path.stem
    expected = "*" if stem == "generic" else stem
    if h.package and (h.package if h.package == "*" else canonicalize_name(h.package)) != expected:
        r.problem("recipe.package", f"is {h.package!r}, but the file name says {expected!r}")


def _parse(text_path: Path, label: str, patches_root: Path) -> tuple[RecipeFile, list[Problem]]:
    r = _Reader(label)
    try:
        data = resources.load_toml(text_path)
    except OSError as exc:
        r.problem("", f"cannot read: {exc.strerror or exc}")
        return RecipeFile(path=text_path, label=label, patches_root=patches_root), r.problems
    except ValueError as exc:  # tomllib.TOMLDecodeError
        r.problem("", f"not valid TOML: {exc}")
        return RecipeFile(path=text_path, label=label, patches_root=patches_root), r.problems
    recipe: RecipeFile = r.build(RecipeFile, data, "")
    recipe = RecipeFile(
        recipe=recipe.recipe,
        defaults=recipe.defaults,
        series=recipe.series,
        overrides=recipe.overrides,
        patches=recipe.patches,
        path=text_path,
        label=label,
        patches_root=patches_root,
    )
    _check_header(r, recipe)
    _check_values(r, recipe.defaults, "defaults")
    for i, s in enumerate(recipe.series):
        _check_values(r, s, f"series[{i + 1}]")
    for i, o in enumerate(recipe.overrides):
        _check_values(r, o, f"overrides[{i + 1}]")
    _check_series_overlap(r, recipe.series)
    _check_override_conflicts(r, recipe.overrides)
    _check_patches(r, recipe)
    return recipe, r.problems


def check_file(
    path: Path, *, label: str | None = None, patches_root: Path | None = None
) -> list[Problem]:
    """Every problem in one recipe file (an empty list when it is valid)."""
    _, problems = _parse(path, label or str(path), patches_root or path.parent / "patches")
    return problems


def load_file(
    path: Path, *, label: str | None = None, patches_root: Path | None = None
) -> RecipeFile:
    """Parse and validate one recipe file; raise :class:`RecipeError` naming every problem."""
    recipe, problems = _parse(path, label or str(path), patches_root or path.parent / "patches")
    if problems:
        shown = "\n  ".join(str(p) for p in problems)
        raise RecipeError(
            f"{len(problems)} problem(s) in {recipe.label}:\n  {shown}",
            hint="fix the recipe file; recipes/recipe.schema.json describes the format",
        )
    return recipe
