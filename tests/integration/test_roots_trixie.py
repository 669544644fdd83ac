"""A real Debian trixie root made on this machine: created from the machine's own mirror, shown,
run in, extended with packages, and given its own torchbuild, which must see trixie's glibc.

The root is small (python3 only, about 250 MB) and lives under /tmp for the module's tests; it
is deleted at the end. Also here: the wheel `install-self` makes from an installed (not
editable) torchbuild holds the same files as the wheel it was installed from.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from torchbuild.__main__ import main
from torchbuild.roots import aptsources, mounts, packagesets
from torchbuild.roots.marker import MARKER

if TYPE_CHECKING:
    from collections.abc import Iterator


REPO = Path(__file__).parents[2]

needs_debootstrap = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("debootstrap") is None,
    reason="needs root privileges and debootstrap",
)


@pytest.fixture(scope="module")
def trixie_root() -> Iterator[Path]:
    top = Path(tempfile.mkdtemp(prefix="torchbuild-test-root-", dir="/tmp"))
    target = top / "trixie"
    started = time.monotonic()
    code = main(["root", "create", "trixie", str(target), "--packages", "python3"])
    sys.stderr.write(
        f"\nroot create trixie --packages python3: {time.monotonic() - started:.0f} s\n"
    )
    try:
        assert code == 0
        yield target
    finally:
        assert mounts.mounts_under(top) == [], "a mount outlived its command"
        shutil.rmtree(top)


def _json(capfd: pytest.CaptureFixture[str], args: list[str]) -> dict[str, object]:
    assert main(args) == 0
    data: dict[str, object] = json.loads(capfd.readouterr().out)
    return data


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.network
@needs_debootstrap
def test_root_is_complete_and_recorded(
    trixie_root: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data = _json(capfd, ["root", "show", str(trixie_root), "--json"])
    assert data["dist"] == "trixie"
    assert data["variant"] == "minbase"
    assert data["packages"] == ["python3"]
    assert data["package_sets"] == []
    assert data["mirror"] == aptsources.host_mirror()
    assert data["foreign"] is False
    timings = data["timings"]
    assert isinstance(timings, dict)
    assert set(timings) == {"debootstrap", "packages"}
    sys.stderr.write(f"timings recorded in the root: {timings}\n")
    assert (trixie_root / "etc" / "debian_version").read_text().startswith("13.")
    assert (trixie_root / "var" / "log" / "torchbuild-root-create.log").is_file()
    # Nothing of the assembly is left beside the root, and apt's downloads were cleaned.
    assert sorted(p.name for p in trixie_root.parent.iterdir()) == ["trixie"]
    assert list((trixie_root / "var" / "cache" / "apt" / "archives").glob("*.deb")) == []
    assert main(["root", "show", str(trixie_root)]) == 0
    assert "trixie (minbase)" in capfd.readouterr().out


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.network
@needs_debootstrap
def test_commands_run_with_the_roots_python(
    trixie_root: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["root", "run", str(trixie_root), "--", "python3", "-c", "import sys; print(sys.version)"]
    )
    assert code == 0
    out = capfd.readouterr().out
    assert out.startswith("3.13."), out
    assert main(["root", "run", str(trixie_root), "--", "sh", "-c", "exit 5"]) == 5


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.network
@needs_debootstrap
def test_torch_build_set_resolves_in_trixie(
    trixie_root: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # A dry run of apt against trixie's package lists: every name exists and installs together.
    packages = packagesets.package_sets()["torch-build"].packages
    args = ["apt-get", "install", "--simulate", "--no-install-recommends", *packages]
    assert main(["root", "run", str(trixie_root), "--", *args]) == 0, capfd.readouterr().err
    out = capfd.readouterr().out
    for name in ("libxnnpack-dev", "libonnx-dev", "libsleef-dev", "cmake"):
        assert f"Inst {name} " in out


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.network
@needs_debootstrap
def test_installing_an_unknown_package_fails_and_keeps_the_record(
    trixie_root: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    before = (trixie_root / MARKER).read_text()
    logs = set(Path(tempfile.gettempdir()).glob("torchbuild-root-install-*"))
    assert main(["root", "install", str(trixie_root), "no-such-package-torchbuild"]) == 3
    assert "no package no-such-package-torchbuild" in capfd.readouterr().err
    assert (trixie_root / MARKER).read_text() == before
    # The error does not send the user to a log, so none is left behind.
    assert set(Path(tempfile.gettempdir()).glob("torchbuild-root-install-*")) == logs
    data = _json(capfd, ["root", "install", str(trixie_root), "patch", "--json"])
    assert data["packages"] == ["python3", "patch"]
    assert (trixie_root / "usr" / "bin" / "patch").exists()


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.network
@needs_debootstrap
def test_install_self_then_detect_inside_sees_trixie(
    trixie_root: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    made = _json(capfd, ["root", "install-self", str(trixie_root), "--json"])
    sys.stderr.write(f"\nroot install-self: {time.monotonic() - started:.0f} s\n")
    assert made["venv"] == "/opt/torchbuild/venv"
    assert str(made["python"]).startswith("3.13.")
    venv_cfg = (trixie_root / "opt" / "torchbuild" / "venv" / "pyvenv.cfg").read_text()
    assert "home = /usr/bin" in venv_cfg
    target = _json(
        capfd,
        ["root", "run", str(trixie_root), "--", "/opt/torchbuild/venv/bin/torchbuild", "detect",
         "--json"],
    )  # fmt: skip
    assert target["libc"] == {"name": "glibc", "version": "2.41"}
    python = target["python"]
    assert isinstance(python, dict)
    assert python["version"].startswith("3.13.")
    assert python["executable"] == "/opt/torchbuild/venv/bin/python"
    recorded = _json(capfd, ["root", "show", str(trixie_root), "--json"])["self_install"]
    assert isinstance(recorded, dict)
    assert recorded["venv"] == "/opt/torchbuild/venv"


@pytest.mark.integration
@pytest.mark.slow
@needs_debootstrap
def test_failed_create_leaves_nothing(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "root"
    code = main(["root", "create", "trixie", str(target), "--mirror", "http://127.0.0.1:9/debian"])
    err = capfd.readouterr().err
    assert code == 11, err
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    Path(err.split("full log: ")[1].split()[0]).unlink()


@pytest.mark.integration
def test_install_self_wheel_from_an_installed_copy(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = dist.glob("torchbuild-*.whl")
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
         "--target", str(site), str(built)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    # A fresh interpreter that sees only the installed copy (not this checkout) makes the wheel.
    script = (
        "import sys, torchbuild; from pathlib import Path\n"
        "from torchbuild.roots.selfinstall import own_wheel\n"
        "assert torchbuild.__file__.startswith(sys.argv[1]), torchbuild.__file__\n"
        "print(own_wheel(Path(sys.argv[2])))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r})\n{script}",
         str(site), str(out)],
        check=True, capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    remade = Path(done.stdout.strip())
    assert remade.name == built.name
    original = zipfile.ZipFile(built)
    copy = zipfile.ZipFile(remade)
    names = set(original.namelist())
    assert set(copy.namelist()) == names
    for name in names:
        if not name.endswith(".dist-info/RECORD"):
            assert copy.read(name) == original.read(name), name
    # pip accepts the rewritten RECORD: the copy installs and its entry point is there.
    again = tmp_path / "again"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(again),
         str(remade)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert (again / "bin" / "torchbuild").is_file()
    assert (again / "torchbuild" / "_data" / "recipes" / "roots.toml").is_file()
