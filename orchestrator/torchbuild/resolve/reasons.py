"""Why a wheel fits or nothing fits, in words: tags, Python, variant and pairing."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable, Sequence

from . import tags, variants

if TYPE_CHECKING:
    from packaging.tags import Tag
    from packaging.version import Version

    from ..target import Target
    from .candidates import Candidate

__all__ = ["fit_words", "friendly_platform", "tag_reason", "why_not"]


def friendly_platform(platform: str) -> str:
    if platform == "any":
        return "any platform"
    if platform.startswith(("manylinux", "musllinux", "linux_")):
        arch = re.sub(r"^(manylinux_\d+_\d+|musllinux_\d+_\d+|manylinux\d*|linux)_", "", platform)
        libc = " (musl)" if platform.startswith("musllinux") else ""
        return f"Linux {arch}{libc}"
    if platform.startswith("macosx"):
        return "macOS " + platform.rsplit("_", 1)[-1]
    if platform.startswith("win"):
        return {
            "win_amd64": "Windows x86-64",
            "win32": "Windows x86",
            "win_arm64": "Windows arm64",
        }.get(platform, platform)
    return platform


def _interp_label(t: Tag) -> str:
    return t.abi if t.abi not in ("none", "abi3") else t.interpreter


def _sorted_interps(labels: Iterable[str]) -> list[str]:
    def key(label: str) -> tuple[int, int, str]:
        m = re.match(r"^[a-z]+(\d)(\d+)(.*)$", label)
        return (int(m.group(1)), int(m.group(2)), m.group(3)) if m else (0, 0, label)

    return sorted(set(labels), key=key)


def tag_reason(
    project: str, version: Version, wheels: Sequence[Candidate], target: Target, tagset: tags.TagSet
) -> str:
    """Why none of ``wheels`` (all of one version) has tags this target accepts."""
    head = f"no wheel for {tagset.interpreter} on {tagset.best_platform}"
    what = f"the published {project} {version.public} wheels"
    if not wheels:
        return f"{head}: no {project} {version.public} wheel is published on the configured indexes"
    interp_ok = [c for c in wheels if any(tagset.accepts_interpreter(t) for t in c.tags)]
    parts: list[str] = []
    if not interp_ok:
        labels = _sorted_interps(_interp_label(t) for c in wheels for t in c.tags)
        parts.append(f"{what} are for {', '.join(labels)}")
    pool = interp_ok or list(wheels)
    arch = target.arch
    same_arch = {
        t.platform
        for c in pool
        for t in c.tags
        if t.platform.endswith("_" + arch) and not t.platform.startswith("macosx")
    }
    if target.os != "linux":
        # A Mac's or a Windows Python's platform tags are whole (no glibc to compare).
        same_arch = set()
        chip = "arm64" if arch == "aarch64" else arch
        arch = f"macOS {chip}" if target.os == "macos" else f"{target.os} ({tagset.best_platform})"
    if any(c.rank is None and any(t.platform == "any" for t in c.tags) for c in pool):
        pass  # pure wheels only fail on the interpreter
    elif not same_arch:
        platforms = sorted({friendly_platform(t.platform) for c in wheels for t in c.tags})
        parts.append(f"none is built for {arch} (published for: {', '.join(platforms)})")
    else:
        glibc_needed = sorted(
            g for g in (tags.glibc_of_platform(p) for p in same_arch) if g is not None
        )
        if (
            target.libc.name == "musl"
            and glibc_needed
            and not any(p.startswith("musllinux") for p in same_arch)
        ):
            parts.append(f"{what} for {arch} need glibc (manylinux); this target uses musl libc")
        elif glibc_needed and not any(tagset.accepts_platform(p) for p in same_arch):
            need = glibc_needed[0]
            have = target.libc.version or f"an unknown version (assumed {tags.ASSUMED_GLIBC})"
            parts.append(
                f"{what} need glibc {need[0]}.{need[1]}; this target has {have}"
                if interp_ok
                else f"they also need glibc {need[0]}.{need[1]}; this target has {have}"
            )
    if not parts:
        parts.append(f"{what} carry tags this target does not accept")
    return f"{head}: " + "; ".join(parts)


def _rank_or_last(tagset: tags.TagSet, tag: Tag) -> int:
    rank = tagset.rank(tag)
    return 10**9 if rank is None else rank


def fit_words(c: Candidate, tagset: tags.TagSet, need: variants.Need) -> str:
    best = min(c.tags, key=lambda t: _rank_or_last(tagset, t))
    words = f"{best} is a tag this target accepts; "
    if need.kind == "cuda":
        gpus = ", ".join(variants.sm(cc) for cc in need.capabilities)
        words += f"{c.variant.phrase()} with kernels for {gpus}"
        if need.driver_cuda:
            words += f", and the driver runs CUDA {need.driver_cuda}"
    elif c.variant.kind == "cuda":
        words += f"{c.variant.phrase()}, which runs on the CPU too ({need.why})"
    else:
        words += f"{c.variant.phrase()} ({need.why})"
    return words


def why_not(
    project: str,
    version: Version,
    candidates: Sequence[Candidate],
    target: Target,
    tagset: tags.TagSet,
    torch_text: str | None,
) -> str:
    if not candidates:
        return (
            f"no {project} {version} wheel is published on the configured indexes; "
            "it will be built from source"
        )
    tag_ok = [c for c in candidates if c.rank is not None]
    if not tag_ok:
        return tag_reason(project, version, candidates, target, tagset)
    py_ok = [c for c in tag_ok if c.python_ok]
    if not py_ok:
        needs = sorted({c.link.requires_python or "" for c in tag_ok})
        have = target.python.version if target.python else "?"
        return (
            f"the {project} {version} wheels that fit the tags require Python "
            f"{' or '.join(needs)}; this target has {have}"
        )
    reasons: list[str] = []
    for c in sorted(py_ok, key=lambda c: c.rank if c.rank is not None else 0):
        if c.problems:
            text = variants.explain(c.evidence, c.variant, list(c.problems))
        elif c.pairing is not None:
            text = f"{c.evidence} cannot sit on {torch_text or 'this torch'}: {c.pairing}"
        else:
            continue
        if text not in reasons:
            reasons.append(text)
    return "; ".join(reasons[:3]) or f"no {project} {version} wheel fits this target"
