"""torchbuild's own settings: one model, filled from a chain of sources.

Precedence, highest first: command-line flag > ``TORCHBUILD_<NAME>`` environment variable >
``torchbuild.toml`` > built-in default. The config file is ``$TORCHBUILD_CONFIG`` if set, else
``./torchbuild.toml``, else ``torchbuild.toml`` in the user config directory (platformdirs).
Each setting records which source gave its value, so ``--debug`` output can say why.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, cast, get_args

import platformdirs

from .errors import InputError

__all__ = ["Settings", "config_file", "load_settings"]

APP = "torchbuild"


def _text(value: Any) -> str:
    # A TOML number, list or table where a string belongs is a mistake, not a name: without
    # this check `wheelhouse = 42` made a directory called "42".
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise TypeError(f"expected a string, got {type(value).__name__} {value!r}")


def _split_urls(value: Any) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(_text(v) for v in value)
    return tuple(_text(value).split())


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


#: The largest number a positive-number setting takes (a day, in seconds: every such setting
#: is a wait); beyond it the value is a typo, and `inf` or `nan` would reach time arithmetic.
MAX_SECONDS = 86400.0


def _positive_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"expected a number of seconds, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {value!r}") from None
    if not math.isfinite(number) or not 0 < number <= MAX_SECONDS:
        raise ValueError(f"must be more than 0 and at most {MAX_SECONDS:g} seconds, got {value!r}")
    return number


def _opt_positive_int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"expected a whole number, got {value!r}")
    number = int(value)
    if number < 1:
        raise ValueError(f"must be at least 1, got {value!r}")
    return number


Installer = Literal["auto", "uv", "pip"]


def _installer(value: Any) -> Installer:
    text = str(value).strip().lower()
    if text not in get_args(Installer):
        raise ValueError(f"expected one of {', '.join(get_args(Installer))}, got {value!r}")
    return cast("Installer", text)


def _path(value: Any) -> Path:
    text = _text(value)
    if not text.strip() or "\0" in text:
        raise ValueError(f"expected a path, got {value!r}")
    return Path(text).expanduser()


def _opt_path(value: Any) -> Path | None:
    return None if value in (None, "") else _path(value)


def _opt_str(value: Any) -> str | None:
    return None if value in (None, "") else _text(value)


def _mirrors(value: Any) -> tuple[tuple[str, str], ...]:
    from .resolve.sources import parse_mirrors

    return parse_mirrors(value)


def _setting(default: Any, convert: Callable[[Any], Any], doc: str) -> Any:
    return field(default=default, metadata={"convert": convert, "doc": doc})


@dataclass(frozen=True)
class Settings:
    wheelhouse: Path | None = _setting(
        None, _opt_path, "The local package index every wheel lands in (default: user data dir)."
    )
    cache_dir: Path | None = _setting(
        None, _opt_path, "Downloads, index responses and build trees (default: user cache dir)."
    )
    probe_timeout: float = _setting(
        10.0,
        _positive_float,
        "Seconds a probe (nvcc, nvidia-smi, gcc...) may take before it counts as unknown.",
    )
    offline: bool = _setting(
        default=False,
        convert=_bool,
        doc="Use only cached index responses and local files; never the network.",
    )
    index_url: str | None = _setting(
        None, _opt_str, "Replace pip's main index (default: whatever pip is configured with)."
    )
    extra_index_url: tuple[str, ...] = _setting(
        (), _split_urls, "More indexes to look in, after pip's own."
    )
    find_links: tuple[str, ...] = _setting(
        (), _split_urls, "Directories or pages of wheels to look in, like pip's --find-links."
    )
    known_indexes: bool = _setting(
        default=True,
        convert=_bool,
        doc="Also look in the known wheel sources that fit the target (PyTorch's and Jetson AI "
        "Lab's indexes, recipes/sources.toml); false: only where pip and the flags say.",
    )
    known_index_timeout: float = _setting(
        4.0,
        _positive_float,
        "Seconds a known wheel source may take to answer; one that fails is not asked again "
        "for 10 minutes.",
    )
    mirrors: tuple[tuple[str, str], ...] = _setting(
        (),
        _mirrors,
        "Replacement roots for known sources: 'pytorch=URL jetson-ai-lab=URL pypi=URL' (a "
        "[mirrors] table in torchbuild.toml).",
    )
    compiler_cache: str = _setting(
        "auto",
        _opt_str,
        "Compiler cache for builds: auto (ccache, else sccache), none, ccache, sccache, or a "
        "shared cache URL (redis://HOST:PORT, http://...).",
    )
    distcc_hosts: str | None = _setting(
        None,
        _opt_str,
        "distcc hosts to spread compiles over, in DISTCC_HOSTS syntax (e.g. 'localhost/2 "
        "build1/8'); unset: compile locally.",
    )
    jobs: int | None = _setting(
        None,
        _opt_positive_int,
        "Compile jobs for builds (default: as many as memory and cores allow).",
    )
    installer: Installer = _setting(
        "auto",
        _installer,
        "What fills build and verify environments: auto (uv when installed, else pip), uv, pip.",
    )
    #: Which source set each value: "flag", "env:NAME", "file:PATH" or "default".
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def wheelhouse_dir(self) -> Path:
        return self.wheelhouse or Path(platformdirs.user_data_dir(APP)) / "wheelhouse"

    @property
    def cache_path(self) -> Path:
        return self.cache_dir or Path(platformdirs.user_cache_dir(APP))


def _names() -> list[str]:
    return [f.name for f in fields(Settings) if f.name != "sources"]


def env_name(name: str) -> str:
    return f"TORCHBUILD_{name.upper()}"


def config_file(environ: Mapping[str, str]) -> Path | None:
    """The torchbuild.toml in force, or None."""
    explicit = environ.get("TORCHBUILD_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise InputError(
                f"TORCHBUILD_CONFIG points at {path}, which is not a file",
                hint="unset TORCHBUILD_CONFIG or point it at a torchbuild.toml",
            )
        return path
    for candidate in (
        Path("torchbuild.toml"),
        Path(platformdirs.user_config_dir(APP)) / "torchbuild.toml",
    ):
        if candidate.is_file():
            return candidate
    return None


def _read_config(path: Path) -> dict[str, Any]:
    from . import resources

    try:
        data = resources.load_toml(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise InputError(f"{path} is not valid TOML: {exc}") from None
    known = _names()
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            raise InputError(
                f"unknown setting {key!r} in {path}",
                hint=(f"did you mean {close[0].replace('_', '-')!r}? " if close else "")
                + "settings: "
                + ", ".join(n.replace("_", "-") for n in known),
            )
        out[name] = value
    return out


def load_settings(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Resolve every setting through flag > environment > file > default."""
    environ = os.environ if environ is None else environ
    flags = {k: v for k, v in (flags or {}).items() if v is not None and v != ()}
    path = config_file(environ)
    from_file = _read_config(path) if path else {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for f in fields(Settings):
        if f.name == "sources":
            continue
        convert: Callable[[Any], Any] = f.metadata["convert"]
        env_key = env_name(f.name)
        chain: list[tuple[str, Any]] = []
        if f.name in flags:
            chain.append(("flag", flags[f.name]))
        if env_key in environ:
            chain.append((f"env:{env_key}", environ[env_key]))
        if f.name in from_file:
            chain.append((f"file:{path}", from_file[f.name]))
        if not chain:
            sources[f.name] = "default"
            continue
        origin, raw = chain[0]
        try:
            values[f.name] = convert(raw)
        except (TypeError, ValueError) as exc:
            key = f.name.replace("_", "-")
            where = "on the command line" if origin == "flag" else f"from {origin.split(':', 1)[1]}"
            fix = {
                "flag": f"give --{key} a valid value",
                "env": f"fix or unset {env_key}",
                "file": f"fix {key} in {path}",
            }[origin.split(":", 1)[0]]
            raise InputError(
                f"bad value for {key} {where}: {exc}",
                hint=getattr(exc, "hint", None) or f"{fix} ({f.metadata['doc'].rstrip('.')})",
            ) from None
        sources[f.name] = origin
    return Settings(**values, sources=sources)
