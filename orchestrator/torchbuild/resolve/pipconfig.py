"""pip's own idea of where packages come from, read the way pip reads it.

pip merges configuration in this order, later winning (pip/_internal/configuration.py):

1. global files: ``$XDG_CONFIG_DIRS/pip/pip.conf`` (default ``/etc/xdg/pip/pip.conf``), then
   ``/etc/pip.conf``;
2. user files: ``~/.pip/pip.conf``, then ``$XDG_CONFIG_HOME/pip/pip.conf`` -- skipped when
   ``PIP_CONFIG_FILE`` names a file that exists;
3. the site file: ``<sys.prefix>/pip.conf`` of the interpreter pip runs in;
4. the file named by ``PIP_CONFIG_FILE`` (``os.devnull`` there means: read no file at all);
5. ``PIP_<NAME>`` environment variables.

Within the merged result a key in ``[install]`` beats the same key in ``[global]``, and the
environment beats both, whatever file they came from. List options (``extra-index-url``,
``find-links``) are whitespace-separated and the winning value replaces, never appends.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

__all__ = ["DEFAULT_INDEX_URL", "PipConfig", "config_files", "read_pip_config"]

#: pip's default index (the code may name it; docs do not).
DEFAULT_INDEX_URL = "https://pypi.org/simple"

_KEYS = ("index-url", "extra-index-url", "find-links", "no-index", "cert")
# The sections that matter for `pip install`, weakest first.
_SECTIONS = ("global", "install")


@dataclass(frozen=True)
class PipConfig:
    """The part of pip's configuration that decides where wheels are looked for."""

    index_url: str = DEFAULT_INDEX_URL
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    cert: str | None = None
    #: For each key above: where its value came from ("file:/etc/pip.conf [global]",
    #: "env:PIP_FIND_LINKS", "default").
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)
    #: Files pip would read, in order, and whether each exists.
    files: tuple[tuple[str, bool], ...] = ()
    #: Config files that exist but cannot be parsed (pip itself would refuse to run).
    problems: tuple[str, ...] = ()


def _xdg_dirs(environ: Mapping[str, str], name: str, default: str) -> list[str]:
    value = environ.get(name, "").strip()
    return [d for d in (value.split(os.pathsep) if value else [default]) if d]


def config_files(
    environ: Mapping[str, str], site_prefix: Path | None, home: Path | None = None
) -> list[tuple[str, Path]]:
    """Every file pip would read, weakest first, as ``(kind, path)``."""
    home = home if home is not None else Path(environ.get("HOME") or Path.home())
    files: list[tuple[str, Path]] = [
        ("global", Path(d) / "pip" / "pip.conf")
        for d in _xdg_dirs(environ, "XDG_CONFIG_DIRS", "/etc/xdg")
    ]
    files.append(("global", Path("/etc/pip.conf")))
    env_file = environ.get("PIP_CONFIG_FILE")
    if not (env_file and Path(env_file).exists()):
        xdg_home = environ.get("XDG_CONFIG_HOME") or str(home / ".config")
        files.append(("user", home / ".pip" / "pip.conf"))
        files.append(("user", Path(xdg_home) / "pip" / "pip.conf"))
    if site_prefix is not None:
        files.append(("site", site_prefix / "pip.conf"))
    if env_file:
        files.append(("env", Path(env_file)))
    return files


def _normalise(key: str) -> str:
    key = key.lower().replace("_", "-")
    return key[2:] if key.startswith("--") else key


def _strtobool(value: str) -> bool:
    return value.strip().lower() in ("y", "yes", "t", "true", "on", "1")


def read_pip_config(
    environ: Mapping[str, str] | None = None,
    *,
    site_prefix: Path | None = None,
    home: Path | None = None,
) -> PipConfig:
    """pip's index settings for ``pip install`` run with ``environ`` in the given prefix."""
    environ = os.environ if environ is None else environ
    files = config_files(environ, site_prefix, home)
    seen_files = tuple((str(path), path.is_file()) for _, path in files)
    # section -> key -> (value, origin); later files overwrite earlier ones.
    merged: dict[str, dict[str, tuple[str, str]]] = {s: {} for s in _SECTIONS}
    problems: list[str] = []
    skip_files = environ.get("PIP_CONFIG_FILE") == os.devnull
    for _, path in [] if skip_files else files:
        if not path.is_file():
            continue
        parser = configparser.RawConfigParser()
        try:
            with path.open(encoding="utf-8") as fh:
                parser.read_file(fh)
        except (OSError, UnicodeDecodeError, configparser.Error) as exc:
            problems.append(f"{path}: {str(exc).splitlines()[0]}")
            continue
        for section in parser.sections():
            if section not in merged:
                continue
            for key, value in parser.items(section):
                name = _normalise(key)
                # A later file's empty value still hides an earlier file's value, as in pip.
                if name in _KEYS:
                    merged[section][name] = (value, f"file:{path} [{section}]")
    env: dict[str, tuple[str, str]] = {}
    for key, value in environ.items():
        if key.startswith("PIP_"):
            name = _normalise(key[4:])
            if name in _KEYS:
                env[name] = (value, f"env:{key}")

    def pick(name: str) -> tuple[str, str] | None:
        # pip's ordering: [global] < [install] < environment, whichever file they came from.
        # Empty values are skipped at this stage, so a weaker layer's value shows through.
        for layer in (env, merged["install"], merged["global"]):
            if name in layer and layer[name][0].strip():
                return layer[name]
        return None

    origins: dict[str, str] = {}
    values: dict[str, str] = {}
    for name in _KEYS:
        found = pick(name)
        if found is None:
            origins[name] = "default"
        else:
            values[name], origins[name] = found
    return PipConfig(
        index_url=values.get("index-url", DEFAULT_INDEX_URL).strip(),
        extra_index_urls=tuple(values.get("extra-index-url", "").split()),
        find_links=tuple(values.get("find-links", "").split()),
        no_index=_strtobool(values.get("no-index", "")),
        cert=values.get("cert", "").strip() or None,
        origins=origins,
        files=seen_files,
        problems=tuple(problems),
    )
