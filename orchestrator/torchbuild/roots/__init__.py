"""Prepared root file systems that torchbuild builds inside.

A root is a Debian tree made by debootstrap (say trixie on a bookworm machine, for libraries
newer than the host's), with named package sets installed, torchbuild itself installed into a
venv, and commands run inside it in a private mount namespace. See ``create``, ``inside`` and
``selfinstall``; ``aptsources`` finds the mirror, ``marker`` keeps the record of each root.
"""

from __future__ import annotations

from .aptsources import AptSource, host_mirror
from .create import CreateResult, create_root, install_packages
from .inside import Bind, parse_bind, run_inside
from .marker import RootInfo, SelfInstall, read_marker
from .packagesets import PackageSet, package_sets
from .selfinstall import VENV, install_self

__all__ = [
    "VENV",
    "AptSource",
    "Bind",
    "CreateResult",
    "PackageSet",
    "RootInfo",
    "SelfInstall",
    "create_root",
    "host_mirror",
    "install_packages",
    "install_self",
    "package_sets",
    "parse_bind",
    "read_marker",
    "run_inside",
]
