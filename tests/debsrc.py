"""Debian source packages for tests, fetched with the machine's own apt configuration.

``apt-get source --download-only NAME=VERSION`` (which needs a ``deb-src`` entry) downloads into
a cache directory (``$TORCHBUILD_TEST_CACHE`` or ``~/.cache/torchbuild-tests``, then
``debian-src/``) once; later calls reuse what is there. A test that cannot get what it needs is
skipped with apt's own words, never passed.

:func:`download` returns the directory with the ``.dsc`` and tarballs; :func:`upstream_tree`
returns the orig tarball unpacked (its single top-level directory).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from filelock import FileLock

__all__ = ["cache_dir", "download", "dsc_path", "listed_files", "upstream_tree", "upstream_version"]


def cache_dir() -> Path:
    """Where Debian source files for tests are kept."""
    root = os.environ.get("TORCHBUILD_TEST_CACHE")
    path = Path(root) if root else Path.home() / ".cache" / "torchbuild-tests"
    path = path / "debian-src"
    path.mkdir(parents=True, exist_ok=True)
    return path


def upstream_version(version: str) -> str:
    """``2.6.0+dfsg`` from ``1:2.6.0+dfsg-7``."""
    version = version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version


def dsc_path(package: str, version: str) -> Path:
    return cache_dir() / f"{package}_{version.split(':', 1)[-1]}.dsc"


def listed_files(dsc: Path) -> list[str]:
    """The file names a .dsc lists under Checksums-Sha256."""
    names: list[str] = []
    inside = False
    for line in dsc.read_text(errors="replace").splitlines():
        if line.startswith("Checksums-Sha256:"):
            inside = True
            continue
        if inside:
            if not line.startswith(" "):
                break
            names.append(line.split()[-1])
    return names


def _orig(package: str, version: str) -> list[Path]:
    return sorted(cache_dir().glob(f"{package}_{upstream_version(version)}.orig.tar.*"))


def _complete(package: str, version: str) -> bool:
    dsc = dsc_path(package, version)
    return dsc.is_file() and all((dsc.parent / n).is_file() for n in listed_files(dsc))


def _apt_source(package: str, version: str) -> str:
    if shutil.which("apt-get") is None:
        pytest.skip("apt-get is not available: this test needs Debian source packages")
    proc = subprocess.run(
        ["apt-get", "source", "--download-only", f"{package}={version}"],
        cwd=cache_dir(),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    return "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-4:])


def download(package: str, version: str, *, complete: bool = False) -> Path:
    """The directory holding ``package``'s source files; skip the test if they cannot be had.

    By default only the orig tarball must have arrived (apt-get fails as a whole when, say, an
    old revision's .dsc or debian tarball is gone from the mirror while the orig tarball is
    still there); with ``complete`` the .dsc and every file it lists must be there.
    """
    with FileLock(str(cache_dir() / ".download.lock")):
        have = _complete(package, version) if complete else bool(_orig(package, version))
        if not have:
            tail = _apt_source(package, version)
            have = _complete(package, version) if complete else bool(_orig(package, version))
            if not have:
                pytest.skip(
                    f"apt-get could not fetch {package}={version} (add a deb-src entry for a "
                    f"suite that has it, then apt-get update):\n{tail}"
                )
    return cache_dir()


def upstream_tree(package: str, version: str) -> Path:
    """The unpacked upstream tree (the orig tarball's single top-level directory)."""
    download(package, version)
    dest = cache_dir() / "trees" / f"{package}-{upstream_version(version)}"
    done = dest / ".unpacked"
    if done.is_file():
        return dest / done.read_text().strip()
    with FileLock(str(cache_dir() / ".unpack.lock")):
        if done.is_file():
            return dest / done.read_text().strip()
        tarball = _orig(package, version)[0]
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        with tarfile.open(tarball) as tf:
            if hasattr(tarfile, "data_filter"):
                tf.extractall(dest, filter="data")
            else:  # pragma: no cover - Python without extraction filters
                tf.extractall(dest)  # noqa: S202 - a Debian archive apt verified
        tops = [p.name for p in dest.iterdir() if p.is_dir()]
        assert len(tops) == 1, tops
        done.write_text(tops[0])
    return dest / tops[0]
