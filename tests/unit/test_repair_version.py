"""The clean version and the local label a repaired wheel carries."""

from __future__ import annotations

import pytest

from torchbuild.errors import InputError
from torchbuild.repair import clean_version
from torchbuild.repair.version import full_version, public_version

# Raw versions as source builds, distributions and vendors really print them.
CLEAN = [
    (
        "2.6.0a0+git1eba9b3",
        "2.6.0",
    ),  # torch built from the v2.6.0 tag without PYTORCH_BUILD_VERSION
    ("1.13.0a0+gitd922c29", "1.13.0"),
    ("2.1.0a0+41361538.nv23.06", "2.1.0"),  # NVIDIA's Jetson builds
    ("0.21.0+a1b2c3d", "0.21.0"),  # torchvision
    ("0.16.0a0+fbb4cc5", "0.16.0"),
    ("2.5.0a0+79c6c71", "2.5.0"),  # torchaudio
    ("2.6.0+debian", "2.6.0"),
    ("2.5.1+cu124", "2.5.1"),
    ("1.10.0+cu113", "1.10.0"),
    ("2.7.0rc1", "2.7.0rc1"),
    ("v2.7.0-rc1", "2.7.0rc1"),
    ("2.6.0a1", "2.6.0a1"),
    ("2.6.0b0", "2.6.0b0"),
    ("2.4.1.post1", "2.4.1.post1"),
    ("2.6.0.dev20241112+cpu", "2.6.0.dev20241112"),  # a nightly
    ("2.3.0a0.dev20240101", "2.3.0.dev20240101"),
    ("1!2.0", "1!2.0"),
    (" 2.6.0 ", "2.6.0"),
    ("2.6", "2.6"),
]


@pytest.mark.parametrize(("raw", "clean"), CLEAN)
def test_clean_version(raw: str, clean: str) -> None:
    assert clean_version(raw) == clean


def test_clean_version_refuses_non_versions() -> None:
    with pytest.raises(InputError, match="not a PEP 440 version"):
        clean_version("main-branch")


@pytest.mark.parametrize(
    ("version", "local", "full"),
    [
        ("2.6.0", "cu130.sm87", "2.6.0+cu130.sm87"),
        ("2.6.0", "cpu", "2.6.0+cpu"),
        ("2.6.0", "CPU", "2.6.0+cpu"),
        ("2.6.0", "cu130_sm87", "2.6.0+cu130.sm87"),
        ("2.7.0rc1", "cu126", "2.7.0rc1+cu126"),
        ("2.6.0", None, "2.6.0"),
    ],
)
def test_full_version(version: str, local: str | None, full: str) -> None:
    assert full_version(version, local) == full


@pytest.mark.parametrize(
    "local", ["", "cu130 sm87", "cu130+sm87", ".cpu", "cpu.", "sm_87!", "cu..130"]
)
def test_bad_local_label_refused(local: str) -> None:
    with pytest.raises(InputError, match="not a PEP 440 local version segment"):
        full_version("2.6.0", local)


def test_version_with_local_part_refused() -> None:
    with pytest.raises(InputError, match="has a local part"):
        public_version("2.6.0+cpu")
