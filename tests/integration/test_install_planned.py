"""pip and uv, with what `index config --for` writes, install exactly the files the plan chose.

Two loopback indexes play the real layouts of a Jetson board's problem: a "PyPI" (PEP 503 pages
under ``/simple/``) with server-Arm-like ``manylinux_2_28_aarch64`` builds of torch 2.8.0,
torchvision 0.23.0 and torchaudio 2.8.0, and a "Jetson AI Lab" devpi index (``/jp6/cu126/``,
``+simple/`` pages whose links are ``../../+f/<hash>/<file>``) with the same versions built for
the board (``linux_aarch64``). The plan for the Jetson Orin preset takes the Jetson files; pip
left alone takes PyPI's (it ranks ``manylinux`` above ``linux_aarch64``), and with the generated
constraints it must take the planned files; uv with the generated routing likewise. Both
resolvers are asked for an aarch64 CPython 3.10 target (``--platform``, ``--python-platform``)
and never install anything.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
from packaging.version import Version

from torchbuild.doctor.diagnose import diagnose
from torchbuild.resolve.indexes import IndexClient, Source
from torchbuild.resolve.matrix import parse_request
from torchbuild.resolve.plan import Plan, make_plan
from torchbuild.target import load_target
from torchbuild.wheelhouse.config import InstallConfig, install_config
from wheelfactory import make_wheel

pytestmark = pytest.mark.integration

UV = Path(sys.executable).with_name("uv")
SET = ("torch==2.8.0", "torchvision==0.23.0", "torchaudio==2.8.0")
SET_NAMES = ("torch", "torchvision", "torchaudio")
PIP_TARGET = [
    "--platform",
    "manylinux_2_28_aarch64",
    "--platform",
    "linux_aarch64",
    "--python-version",
    "3.10",
    "--implementation",
    "cp",
    "--abi",
    "cp310",
    "--only-binary=:all:",
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _page(links: list[tuple[str, Path]]) -> bytes:
    anchors = "\n".join(
        f'<a href="{href}#sha256={_sha256(p)}">{p.name}</a><br>' for href, p in links
    )
    return f"<!DOCTYPE html>\n<html><body>\n{anchors}\n</body></html>\n".encode()


def _layout(root: Path) -> dict[str, dict[str, Path]]:
    """Write both indexes under ``root``; return {index: {project: wheel}}."""
    wheels = root / "wheels"
    deps = ["fakedep"]  # only on "PyPI": proves the dependency index is still consulted
    made: dict[str, dict[str, Path]] = {"pypi": {}, "jetson": {}}
    for name, version in (("torch", "2.8.0"), ("torchvision", "0.23.0"), ("torchaudio", "2.8.0")):
        requires = deps if name == "torch" else ["torch==2.8.0"]
        made["pypi"][name] = make_wheel(
            wheels / "pypi",
            name,
            version,
            tag="cp310-cp310-manylinux_2_28_aarch64",
            requires_dist=requires,
            seed="pypi",
        )
        made["jetson"][name] = make_wheel(
            wheels / "jetson",
            name,
            version,
            tag="cp310-cp310-linux_aarch64",
            requires_dist=requires,
            seed="jetson",
        )
    # and a newer release on "PyPI" only, so that plain `pip install torch` takes that one
    newer = {
        name: make_wheel(
            wheels / "pypi",
            name,
            version,
            tag="cp310-cp310-manylinux_2_28_aarch64",
            requires_dist=deps if name == "torch" else ["torch==2.9.0"],
            seed="pypi",
        )
        for name, version in (
            ("torch", "2.9.0"),
            ("torchvision", "0.24.0"),
            ("torchaudio", "2.9.0"),
        )
    }
    fakedep = make_wheel(wheels / "pypi", "fakedep", "1.0")
    # "PyPI": /simple/<project>/ pages linking ../../packages/<file>
    packages = root / "site" / "packages"
    packages.mkdir(parents=True)
    for project in [*made["pypi"], "fakedep"]:
        files = [made["pypi"][project], newer[project]] if project in newer else [fakedep]
        for wheel in files:
            (packages / wheel.name).write_bytes(wheel.read_bytes())
        page = root / "site" / "simple" / project / "index.html"
        page.parent.mkdir(parents=True)
        page.write_bytes(_page([(f"../../packages/{w.name}", w) for w in files]))
    # devpi: /jp6/cu126/+simple/<project>/ linking ../../+f/<3 hex>/<13 hex>/<file>
    for project, wheel in made["jetson"].items():
        digest = _sha256(wheel)
        stored = root / "site" / "jp6" / "cu126" / "+f" / digest[:3] / digest[3:16] / wheel.name
        stored.parent.mkdir(parents=True)
        stored.write_bytes(wheel.read_bytes())
        page = root / "site" / "jp6" / "cu126" / "+simple" / project / "index.html"
        page.parent.mkdir(parents=True)
        href = f"../../+f/{digest[:3]}/{digest[3:16]}/{wheel.name}"
        page.write_bytes(_page([(href, wheel)]))
    return made


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, dict]]:
    root = tmp_path_factory.mktemp("indexes")
    made = _layout(root)
    handler = functools.partial(_Quiet, directory=str(root / "site"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield f"{base}/simple/", f"{base}/jp6/cu126/+simple/", made
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def planned(indexes, tmp_path_factory) -> tuple[Plan, InstallConfig, Path]:
    pypi, jetson, _ = indexes
    plan = make_plan(
        load_target("jetson-orin-jp6"),
        [parse_request(p) for p in SET],
        sources=[Source("index", pypi, "test"), Source("index", jetson, "test")],
        client=IndexClient(timeout=10.0),
    )
    out = tmp_path_factory.mktemp("config")
    wheelhouse = tmp_path_factory.mktemp("wheelhouse") / "simple"
    result = install_config(
        plan.decisions,
        wheelhouse_url=wheelhouse.as_uri() + "/",
        dependency_indexes=[pypi],
        constraint_path=str(out / "constraints.txt"),
        source="the test",
        files_dir=str(out),
    )
    for name, text in result.files:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    return plan, result, out


def _env(tmp_path: Path) -> dict[str, str]:
    """Nothing of this machine's or user's pip/uv configuration may leak in.

    pip reads no file at all (PIP_CONFIG_FILE=/dev/null plus --isolated). uv must read the
    project's pyproject.toml (that is what is tested), so UV_NO_CONFIG cannot be used; its user
    and system files are kept out by a fresh HOME/XDG_CONFIG_HOME and no UV_* variables.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    home = tmp_path / "home"
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_NO_CACHE_DIR="1",
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
    )
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    proc = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _pip_chosen(args: list[str], tmp_path: Path, cwd: Path | None = None) -> dict[str, str]:
    """``pip install --dry-run --report`` for the aarch64 target: {project: file name}."""
    report = tmp_path / f"report-{len(list(tmp_path.iterdir()))}.json"
    cmd = [sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed"]
    _run([*cmd, "--report", str(report), *PIP_TARGET, *args], _env(tmp_path), cwd)
    installs = json.loads(report.read_text())["install"]
    return {
        item["metadata"]["name"]: item["download_info"]["url"].rsplit("/", 1)[-1]
        for item in installs
    }


def _pip_has_no_require_hashes() -> bool:
    import pip

    return Version(pip.__version__) >= Version("26.2")


def test_the_plan_takes_the_jetson_files(planned, indexes):
    plan, result, _ = planned
    _, jetson, made = indexes
    assert [(d.name, d.action) for d in plan.decisions] == [
        ("torch", "prebuilt"),
        ("torchvision", "prebuilt"),
        ("torchaudio", "prebuilt"),
    ]
    for d in plan.decisions:
        assert d.wheel is not None
        assert d.wheel.filename == made["jetson"][d.name].name
        assert d.wheel.index == jetson
    assert result.index_url == jetson
    assert {r.index_name for r in result.routes} == {"jp6-cu126"}


def test_pip_with_the_constraints_installs_the_planned_files(planned, indexes, tmp_path):
    if not _pip_has_no_require_hashes():
        pytest.skip("pip before 26.2 has no --no-require-hashes")
    plan, result, _ = planned
    _, _, made = indexes
    words = shlex.split(dict(result.commands)["pip"])
    assert words[:2] == ["pip", "install"]
    chosen = _pip_chosen(words[2:], tmp_path)
    assert chosen == {
        **{p: w.name for p, w in made["jetson"].items()},
        "fakedep": chosen["fakedep"],
    }
    assert chosen["fakedep"] == "fakedep-1.0-py3-none-any.whl"
    # the hashes pip would check are the plan's
    constraints = (Path(words[words.index("-c") + 1])).read_text()
    for d in plan.decisions:
        assert d.wheel is not None
        assert d.wheel.sha256
        assert f"{d.name}=={d.version}" in constraints
        assert f"--hash=sha256:{d.wheel.sha256}" in constraints


def test_pip_with_the_generated_pip_conf(planned, indexes, tmp_path):
    """The same through pip.conf alone (a fleet's /etc/pip.conf): no flags on the command line."""
    if not _pip_has_no_require_hashes():
        pytest.skip("pip before 26.2 has no --no-require-hashes")
    _, _, out = planned
    _, _, made = indexes
    env = _env(tmp_path)
    env["PIP_CONFIG_FILE"] = str(out / "pip.conf")
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
    _run([*cmd, "--report", str(report), *PIP_TARGET, *SET], env)
    chosen = {
        i["metadata"]["name"]: i["download_info"]["url"].rsplit("/", 1)[-1]
        for i in json.loads(report.read_text())["install"]
    }
    assert {p: chosen[p] for p in made["jetson"]} == {p: w.name for p, w in made["jetson"].items()}


def test_pip_without_the_constraints_takes_pypis_files(planned, indexes, tmp_path):
    """The control: the same indexes without the pins, and pip takes the server-Arm builds.

    PIP_TARGET lists ``manylinux_2_28_aarch64`` before ``linux_aarch64``: the order in which
    every pip before 26 ranks the tags of a real aarch64 machine (JetPack 6 ships pip 22), so
    with equal versions the manylinux file wins.
    """
    _, result, _ = planned
    pypi, jetson, made = indexes
    chosen = _pip_chosen(["--index-url", pypi, "--extra-index-url", jetson, *SET], tmp_path)
    assert {p: chosen[p] for p in made["pypi"]} == {p: w.name for p, w in made["pypi"].items()}
    # and the generated index list alone (no constraints) is not enough either
    words = shlex.split(dict(result.commands)["pip"])
    at = words.index("-c")
    bare = [w for w in words[2:] if w != "--no-require-hashes"]
    bare = [w for i, w in enumerate(bare) if w not in ("-c", words[at + 1])]
    chosen = _pip_chosen(bare, tmp_path)
    assert chosen["torch"] == made["pypi"]["torch"].name


def test_doctors_way_out_installs_the_fitting_files(indexes, tmp_path):
    """doctor finds pip's pick (PyPI's file) does not work on the Orin, and its "install
    exactly" command, run as printed next to its constraints.txt, gets the Jetson files."""
    if not _pip_has_no_require_hashes():
        pytest.skip("pip before 26.2 has no --no-require-hashes")
    pypi, jetson, made = indexes
    report = diagnose(
        load_target("jetson-orin-jp6"),
        sources=[Source("index", pypi, "test"), Source("index", jetson, "test")],
        client=IndexClient(timeout=10.0),
    )
    assert not report.ok  # pip takes PyPI's 2.9.0, a build of unknown variant for a Jetson
    assert {str(o.version) for o in report.outcomes} == {"2.9.0", "0.24.0"}
    assert report.install is not None
    assert [str(r.version) for r in report.install.routes] == ["2.8.0", "0.23.0", "2.8.0"]
    assert report.install is not None
    (tmp_path / "constraints.txt").write_text(dict(report.install.files)["constraints.txt"])
    words = shlex.split(dict(report.install.commands)["pip"])
    (tmp_path / "reports").mkdir()
    chosen = _pip_chosen(words[2:], tmp_path / "reports", cwd=tmp_path)
    assert {p: chosen[p] for p in made["jetson"]} == {p: w.name for p, w in made["jetson"].items()}


def _uv_pip_install(args: list[str], tmp_path: Path) -> dict[str, str]:
    """``uv pip install --target`` for the aarch64 target; {module: SEED of the installed file}."""
    target = tmp_path / f"target-{len(list(tmp_path.glob('target-*')))}"
    platform = ["--python-platform", "aarch64-unknown-linux-gnu", "--python-version", "3.10"]
    _run([str(UV), "pip", "install", "--target", str(target), *platform, *args], _env(tmp_path))
    seeds = {}
    for module in ("torch", "torchvision", "torchaudio"):
        text = (target / module / "__init__.py").read_text()
        seeds[module] = re.search(r'SEED = "(\w*)"', text).group(1)  # type: ignore[union-attr]
    return seeds


@pytest.mark.skipif(not UV.exists(), reason="uv is not installed next to this Python")
def test_uv_pip_with_the_routing_installs_the_planned_files(planned, indexes, tmp_path):
    """`uv pip install -r .../uv/pyproject.toml`, run from elsewhere, installs (into --target)
    the Jetson files; the same indexes without the routing give PyPI's."""
    _, result, _ = planned
    pypi, jetson, _ = indexes
    words = shlex.split(dict(result.commands)["uv pip"])
    assert words[:3] == ["uv", "pip", "install"]
    assert _uv_pip_install(words[3:], tmp_path) == dict.fromkeys(SET_NAMES, "jetson")
    # uv asks --index before --default-index and takes a package from the first that has it
    bare = ["--default-index", jetson, "--index", pypi, *SET]
    assert _uv_pip_install(bare, tmp_path) == dict.fromkeys(SET_NAMES, "pypi")


def _uv_hashes(project_dir: Path, tmp_path: Path) -> dict[str, list[str]]:
    out = _run(
        [
            str(UV),
            "pip",
            "compile",
            "pyproject.toml",
            "--python-platform",
            "aarch64-unknown-linux-gnu",
            "--python-version",
            "3.10",
            "--generate-hashes",
            "--quiet",
        ],
        _env(tmp_path),
        cwd=project_dir,
    )
    hashes: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        head = re.match(r"^([a-z0-9_.-]+)==\S+", line)
        if head:
            current = head.group(1)
            hashes[current] = []
        for digest in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            assert current is not None
            hashes[current].append(digest)
    return hashes


def _project(tmp_path: Path, fragment: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    deps = ", ".join(f'"{p}"' for p in SET)
    (project / "pyproject.toml").write_text(
        "[project]\n"
        'name = "app"\n'
        'version = "0"\n'
        'requires-python = ">=3.10"\n'
        f"dependencies = [{deps}]\n\n" + fragment
    )
    return project


@pytest.mark.skipif(not UV.exists(), reason="uv is not installed next to this Python")
def test_uv_with_the_routing_resolves_the_planned_files(planned, indexes, tmp_path):
    plan, _, out = planned
    fragment = (out / "pyproject-uv.toml").read_text()
    hashes = _uv_hashes(_project(tmp_path, fragment), tmp_path)
    for d in plan.decisions:
        assert d.wheel is not None
        assert hashes[d.name] == [d.wheel.sha256], d.name
    assert "fakedep" in hashes  # the default index still serves the rest


@pytest.mark.skipif(not UV.exists(), reason="uv is not installed next to this Python")
def test_uv_without_the_sources_takes_pypis_files(planned, indexes, tmp_path):
    """The control: the same indexes, not explicit and no [tool.uv.sources]."""
    pypi, jetson, made = indexes
    fragment = (
        f'[[tool.uv.index]]\nname = "pypi"\nurl = "{pypi}"\n\n'
        f'[[tool.uv.index]]\nname = "jetson"\nurl = "{jetson}"\n'
    )
    hashes = _uv_hashes(_project(tmp_path, fragment), tmp_path)
    assert hashes["torch"] == [_sha256(made["pypi"]["torch"])]
