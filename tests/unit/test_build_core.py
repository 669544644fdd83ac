"""The build stage's own parts: the build key, the kept build directory, the streaming runner."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from torchbuild import run
from torchbuild.compile.key import build_key
from torchbuild.compile.workdir import BuildDir
from torchbuild.errors import BuildError
from torchbuild.recipes.layers import layers_for, recipe_dirs
from torchbuild.recipes.render import Rendered, render
from torchbuild.target import Libc, Python, Resources, Target
from torchbuild.verify import required_cuda_archs, top_level_modules

TARGET = Target(
    os="linux",
    arch="x86_64",
    libc=Libc("glibc", "2.36"),
    python=Python("/usr/bin/python3.11", "3.11.7", "cpython", "cp311", free_threaded=False),
    resources=Resources(cpus=8, memory_bytes=16 * 1024**3, swap_bytes=0),
)


def _rendered(jobs: int | None = None, env: dict[str, str] | None = None) -> Rendered:
    layers = layers_for("torchaudio", recipe_dirs((), {}))
    return render(layers, "torchaudio", "2.6.0", TARGET, cli_env=env, jobs=jobs)


def _key(rendered: Rendered, **changes: object) -> str:
    args: dict[str, object] = {
        "source": {"digest": "sha256:aa"},
        "target": TARGET,
        "compilers": {"cxx": "/usr/bin/g++ 12.2.0"},
        "against": {"torch": "installed 2.13.0 at /x"},
        "requirements": ["setuptools"],
        "ignore_env": rendered.jobs_env,
    }
    args.update(changes)
    return build_key(rendered, **args).digest  # type: ignore[arg-type]


class TestBuildKey:
    def test_same_inputs_same_key(self) -> None:
        assert _key(_rendered()) == _key(_rendered())

    def test_job_count_is_not_part_of_the_key(self) -> None:
        one, eight = _rendered(jobs=1), _rendered(jobs=8)
        assert one.env != eight.env  # the job variables do differ...
        assert _key(one) == _key(eight)  # ...and do not change what is built

    @pytest.mark.parametrize(
        "change",
        [
            {"source": {"digest": "sha256:bb"}},
            {"compilers": {"cxx": "/usr/bin/g++ 13.1.0"}},
            {"against": {"torch": "installed 2.12.0 at /x"}},
            {"requirements": ["setuptools<82"]},
            {"target": replace(TARGET, arch="aarch64")},
            {"target": replace(TARGET, libc=Libc("glibc", "2.31"))},
        ],
    )
    def test_what_changes_the_bytes_changes_the_key(self, change: dict[str, object]) -> None:
        assert _key(_rendered(), **change) != _key(_rendered())

    def test_recipe_environment_is_part_of_the_key(self) -> None:
        assert _key(_rendered(env={"USE_FFMPEG": "1"})) != _key(_rendered())


class TestBuildDir:
    def _dir(self, tmp_path: Path) -> BuildDir:
        key = build_key(
            _rendered(),
            source={"digest": "sha256:aa"},
            target=TARGET,
            compilers={},
            against={},
            requirements=[],
        )
        return BuildDir(tmp_path, "torchaudio", "2.6.0", key)

    def test_prepare_once_then_resume(self, tmp_path: Path) -> None:
        bdir = self._dir(tmp_path)
        calls = []

        def fill(dest: Path) -> None:
            calls.append(dest)
            dest.mkdir()
            (dest / "setup.py").write_text("")

        with bdir.locked():
            assert bdir.prepare(fill) is False
            assert bdir.prepare(fill) is True
        assert len(calls) == 1
        assert (bdir.src / "setup.py").is_file()
        assert bdir.state()["prepared"] is True

    def test_failed_prepare_leaves_no_tree(self, tmp_path: Path) -> None:
        bdir = self._dir(tmp_path)

        def fill(dest: Path) -> None:
            dest.mkdir()
            (dest / "half").write_text("")
            raise BuildError("patch failed")

        with bdir.locked(), pytest.raises(BuildError):
            bdir.prepare(fill)
        assert not bdir.src.exists()
        assert not (bdir.path / "src.partial").exists()
        assert not bdir.prepared()

    def test_second_worker_is_refused(self, tmp_path: Path) -> None:
        first, second = self._dir(tmp_path), self._dir(tmp_path)
        with first.locked(), pytest.raises(BuildError, match="another torchbuild"):  # noqa: SIM117
            with second.locked():
                pass

    def test_logs_are_kept_per_run_with_a_latest_link(self, tmp_path: Path) -> None:
        bdir = self._dir(tmp_path)
        a, b = bdir.new_log(), bdir.new_log()
        assert a != b
        assert (bdir.logs / "latest.log").resolve() == b.resolve()


class TestStream:
    @pytest.mark.programs
    def test_lines_reach_log_and_callback_with_exit_status(self, tmp_path: Path) -> None:
        seen: list[str] = []
        log = tmp_path / "log"
        with log.open("w") as fh:
            code = run.stream(
                [
                    sys.executable,
                    "-c",
                    "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)",
                ],
                log=fh,
                on_line=seen.append,
            )
        assert code == 3
        assert sorted(seen) == ["err", "out"]
        assert "out" in log.read_text()

    @pytest.mark.programs
    def test_killed_command_reports_the_signal(self) -> None:
        code = run.stream([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), 9)"])
        assert code == -signal.SIGKILL

    @pytest.mark.programs
    def test_interrupt_ends_the_whole_process_tree(self, tmp_path: Path) -> None:
        pidfile = tmp_path / "grandchild"
        script = (
            "import subprocess, sys, time\n"
            f"p = subprocess.Popen(['sleep', '60']); open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
            "print('started', flush=True); time.sleep(60)\n"
        )

        def stop(line: str) -> None:
            if line == "started":
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            run.stream([sys.executable, "-c", script], on_line=stop)
        grandchild = int(pidfile.read_text())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(grandchild):
            time.sleep(0.05)
        assert not _alive(grandchild)

    def test_child_dies_with_a_killed_parent(self, tmp_path: Path) -> None:
        # The parent here is a thread-free helper process that runs stream() and is SIGKILLed.
        pidfile = tmp_path / "child"
        code = (
            "import sys; from torchbuild import run\n"
            f"run.stream([sys.executable, '-c', \"import os,time; open({str(pidfile)!r},'w')"
            '.write(str(os.getpid())); time.sleep(60)"])\n'
        )
        import subprocess

        parent = subprocess.Popen([sys.executable, "-c", code])
        deadline = time.monotonic() + 10
        while not pidfile.exists() or not pidfile.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        parent.kill()
        parent.wait()
        child = int(pidfile.read_text())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.05)
        assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose: it runs nothing.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


class TestVerifyHelpers:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("8.7", {"sm_87"}),
            ("7.2;8.7", {"sm_72", "sm_87"}),
            ("8.6 8.9+PTX", {"sm_86", "sm_89", "compute_89"}),
            ("11.0", {"sm_110"}),
            ("", set()),
            (None, set()),
        ],
    )
    def test_required_cuda_archs(self, text: str | None, expected: set[str]) -> None:
        assert required_cuda_archs(text) == expected

    def test_top_level_modules(self, tmp_path: Path) -> None:
        wheel = tmp_path / "x-1.0-cp311-cp311-linux_x86_64.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            for name in (
                "pkg/__init__.py",
                "pkg/_C.cpython-311-x86_64-linux-gnu.so",
                "ext.cpython-311-x86_64-linux-gnu.so",
                "single.py",
                "x.libs/libfoo.so",
                "x-1.0.dist-info/METADATA",
                "x-1.0.data/scripts/tool",
            ):
                zf.writestr(name, "")
        assert top_level_modules(wheel) == ["ext", "pkg", "single"]


@pytest.mark.programs
def test_threads_are_not_needed_for_stream() -> None:
    # stream() is called from the main thread by the CLI; it must not rely on helper threads.
    before = threading.active_count()
    run.stream([sys.executable, "-c", "print(1)"])
    assert threading.active_count() == before
