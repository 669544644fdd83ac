"""Human-readable renderings of torchbuild's facts (rich renderables, no printing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from ..ui import human_bytes

if TYPE_CHECKING:
    from ..target import Target

__all__ = ["detect_table"]


def _or_unknown(value: object) -> str:
    return "[dim]unknown[/]" if value in (None, "") else str(value)


def detect_table(target: Target) -> Table:
    table = Table(
        title=f"torchbuild detect ({target.origin})",
        show_header=False,
        box=None,
        pad_edge=False,
        title_justify="left",
    )
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    platform = f"{target.os} {target.arch}"
    if target.distro:
        platform += f"  ({target.distro.name or target.distro.id})"
    table.add_row("platform", platform)
    table.add_row("libc", f"{target.libc.name} {_or_unknown(target.libc.version)}")
    py = target.python
    table.add_row(
        "python",
        "[dim]not found[/]"
        if py is None
        else f"{py.version} {py.implementation} ({py.abi}"
        + (", free-threaded)" if py.free_threaded else ")")
        + (f"  {py.executable}" if py.executable else ""),
    )
    if target.cpu and (target.cpu.model or target.cpu.features):
        table.add_row("cpu", _or_unknown(target.cpu.model))
    if target.board:
        table.add_row("board", target.board.model)
    if target.jetson:
        j = target.jetson
        table.add_row(
            "jetson", f"L4T {j.l4t}, JetPack {_or_unknown(j.jetpack)}, SoC {_or_unknown(j.soc)}"
        )
    c = target.cuda
    if c is None:
        table.add_row("cuda", "[dim]none (no toolkit, no driver)[/]")
    else:
        toolkit = f"toolkit {c.toolkit}" if c.toolkit else "no toolkit"
        if c.nvcc:
            toolkit += f" ({c.nvcc})"
        table.add_row("cuda", toolkit)
        driver = (
            f"driver {c.driver}" if c.driver else "no driver" if not c.driver_cuda else "driver"
        )
        if c.driver_cuda:
            driver += f", supports CUDA {c.driver_cuda}"
        table.add_row("", driver)
        for gpu in c.gpus:
            table.add_row(
                "", f"GPU {gpu.name}, compute capability {_or_unknown(gpu.compute_capability)}"
            )
        if c.cudnn:
            table.add_row("", f"cuDNN {c.cudnn}")
    for name in ("cc", "cxx", "cmake", "ninja", "ccache", "git"):
        tool = getattr(target.toolchain, name)
        table.add_row(
            name,
            "[dim]not found[/]" if tool is None else f"{_or_unknown(tool.version)}  {tool.path}",
        )
    r = target.resources
    table.add_row(
        "resources",
        f"{_or_unknown(r.cpus)} cpus, {human_bytes(r.memory_bytes)} memory, "
        f"{human_bytes(r.swap_bytes)} swap, {human_bytes(r.disk_free_bytes)} free disk",
    )
    return table
