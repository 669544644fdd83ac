"""NVIDIA Jetson: the L4T release, its JetPack, and the SoC.

``/etc/nv_tegra_release`` line 1 looks like
``# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: ...``;
docs and scripts wrap it in other text, so the parser searches rather than anchors. The
tables that turn releases and SoCs into facts live in ``recipes/jetson.toml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import resources
from ..target import Jetson

if TYPE_CHECKING:
    from .fs import Root
    from .packages import Packages

__all__ = [
    "TegraRelease",
    "driver_cuda_for_l4t",
    "gpu_platform_for_l4t",
    "jetpack_for",
    "parse_compatible",
    "parse_nv_tegra_release",
    "probe_jetson",
    "soc_from_text",
]

_RELEASE = re.compile(r"R(\d+)\s*\(release\),\s*REVISION:\s*(\d+)(?:\.(\d+))?")
_BOARD = re.compile(r"BOARD:\s*([\w-]+)")


@dataclass(frozen=True)
class TegraRelease:
    l4t: str  # "36.4.3"
    board: str | None  # "t210ref", "t186ref", "generic"


def parse_nv_tegra_release(text: str) -> TegraRelease | None:
    m = _RELEASE.search(text)
    if not m:
        return None
    major, minor, patch = m.group(1), m.group(2), m.group(3) or "0"
    board = _BOARD.search(text[m.end() :])
    return TegraRelease(f"{major}.{minor}.{patch}", board.group(1) if board else None)


def _table() -> dict[str, Any]:
    return resources.table("jetson")


def jetpack_for(l4t: str) -> str | None:
    table = _table()
    exact = table["l4t_to_jetpack"].get(l4t)
    if exact:
        return str(exact)
    major = l4t.split(".", maxsplit=1)[0]
    by_major = table["jetpack_by_major"].get(major)
    return str(by_major) if by_major else None


def _by_l4t_prefix(table: str, l4t: str) -> str | None:
    """The entry of ``table`` whose L4T prefix matches ``l4t`` most closely."""
    best: tuple[str, str] | None = None
    for prefix, value in _table()[table].items():
        if (l4t == prefix or l4t.startswith(prefix + ".")) and (
            best is None or len(prefix) > len(best[0])
        ):
            best = (prefix, str(value))
    return best[1] if best else None


def driver_cuda_for_l4t(l4t: str) -> str | None:
    """The CUDA version the L4T release's integrated-GPU driver supports."""
    return _by_l4t_prefix("l4t_driver_cuda", l4t)


def gpu_platform_for_l4t(l4t: str) -> str | None:
    """``"tegra"`` or ``"sbsa"``: which CUDA userspace drives the GPU on this L4T."""
    return _by_l4t_prefix("l4t_gpu_platform", l4t)


_SOC = re.compile(r"tegra(\d{3})(?!\d)")


def parse_compatible(data: bytes | str) -> list[str]:
    """``/proc/device-tree/compatible``: NUL-separated entries (often shown concatenated)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    entries = [e for e in re.split(r"\x00|\s+", text) if e]
    # A capture that lost its NULs: split again before each "vendor," prefix.
    split: list[str] = []
    for entry in entries:
        split += [p for p in re.split(r"(?<=.)(?=nvidia,)", entry) if p]
    return split


def soc_from_text(text: str) -> str | None:
    """The SoC named in compatible strings, dts file names or board ids."""
    m = _SOC.search(text)
    if m:
        return f"tegra{m.group(1)}"
    for part, soc in _table()["module_soc"].items():
        if re.search(rf"\b{part}(?:-\d+)?", text):
            return str(soc)
    return None


def _soc_from_chip_id(text: str) -> str | None:
    raw = text.strip().rstrip("\x00")
    try:
        value = int(raw, 16) if raw.lower().startswith("0x") else int(raw)
    except ValueError:
        return None
    soc = _table()["chip_id"].get(str(value))
    return str(soc) if soc else None


def _soc_from_model(model: str | None) -> str | None:
    if not model:
        return None
    for words, soc in _table()["model_soc"].items():
        if words.lower() in model.lower():
            return str(soc)
    return None


def probe_jetson(root: Root, packages: Packages | None, model: str | None) -> Jetson | None:
    release = None
    text = root.read_text("/etc/nv_tegra_release")
    if text:
        release = parse_nv_tegra_release(text)
    l4t = release.l4t if release else None
    if l4t is None and packages is not None:
        # The release file can be missing in containers; the L4T core package still names it.
        l4t = packages.version("nvidia-l4t-core")
    if l4t is None:
        return None
    soc = None
    compatible = root.read_bytes("/proc/device-tree/compatible") or root.read_bytes(
        "/sys/firmware/devicetree/base/compatible"
    )
    if compatible:
        soc = soc_from_text(" ".join(parse_compatible(compatible)))
    if soc is None:
        for path in ("/proc/device-tree/nvidia,dtsfilename", "/proc/device-tree/nvidia,boardids"):
            data = root.read_text(path)
            soc = soc_from_text(data) if data else None
            if soc:
                break
    if soc is None:
        chip = root.read_text("/sys/module/tegra_fuse/parameters/tegra_chip_id")
        soc = _soc_from_chip_id(chip) if chip else None
    if soc is None and release is not None and release.board == "t210ref":
        soc = "tegra210"  # t186ref is shared by TX2, Xavier and (on R35) Orin: not conclusive
    if soc is None:
        soc = _soc_from_model(model)
    return Jetson(l4t, jetpack_for(l4t), soc)
