"""What the sysroot's own Python packages provide, which stands in for the indexes where they
have no wheel for the target (PyPI has no NumPy or Pillow wheel for 32-bit Arm)."""

from __future__ import annotations

import shutil
from pathlib import Path

from packaging.version import Version

from torchbuild.cross.sysroot import Sysroot
from torchbuild.cross.trial import provided_by_sysroot

#: The metadata headers of Debian trixie's armhf python3-numpy (a .dist-info) and python3-pil
#: (an .egg-info directory), as its packages install them.
RECORDED = Path(__file__).parents[1] / "data" / "cross" / "trixie-armhf-dist-packages"


def _sysroot(root: Path, *, packages: bool = True) -> Sysroot:
    """armhf facts over ``root``; with ``packages``, the recorded dist-packages in it."""
    if packages:
        shutil.copytree(RECORDED, root / "usr/lib/python3/dist-packages")
    triplet = "arm-linux-gnueabihf"
    return Sysroot(
        path=root,
        arch="armv7l",
        multiarch=triplet,
        python_version="3.13",
        python_include=root / "usr/include/python3.13",
        pyconfig=root / f"usr/include/{triplet}/python3.13/pyconfig.h",
        libc=root / f"lib/{triplet}/libc.so.6",
        python=None,
    )


def test_the_sysroot_python_packages_are_read_from_their_metadata(tmp_path: Path) -> None:
    sysroot = _sysroot(tmp_path)
    assert sysroot.python_distributions() == {
        "numpy": Version("2.2.4"),
        "pillow": Version("11.1.0"),
    }


def test_the_requirements_the_sysroot_meets(tmp_path: Path) -> None:
    sysroot = _sysroot(tmp_path)
    # torchvision 0.21.0's Requires-Dist, and one the sysroot's numpy is too old for.
    requirements = [
        "numpy",
        "torch==2.6.0",
        "pillow!=8.3.*,>=5.3.0",
        'scipy; extra == "scipy"',
        "numpy>=3",
        "Pillow<10",
    ]
    assert provided_by_sysroot(requirements, sysroot) == ["numpy", "pillow!=8.3.*,>=5.3.0"]


def test_a_sysroot_without_python_packages_provides_nothing(tmp_path: Path) -> None:
    sysroot = _sysroot(tmp_path, packages=False)
    assert sysroot.python_distributions() == {}
    assert provided_by_sysroot(["numpy", "pillow"], sysroot) == []
