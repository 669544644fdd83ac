"""pip's configuration, read as pip reads it: checked against pip's own option parser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from torchbuild.resolve.pipconfig import DEFAULT_INDEX_URL, config_files, read_pip_config

# What pip itself resolves for `pip install`, from the same environment.
_PIP_SAYS = r"""
import json
from pip._internal.commands import create_command
options, _ = create_command("install").parse_args([])
print(json.dumps({
    "index_url": options.index_url,
    "extra_index_urls": options.extra_index_urls,
    "find_links": options.find_links,
    "no_index": options.no_index,
}))
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def env_for(home: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CONFIG_DIRS": str(tmp_path / "xdg"),
        "PATH": os.environ.get("PATH", ""),
    }
    env.update(extra)
    return env


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def pip_says(env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PIP_SAYS], env=env, capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout))


def ours(env: dict[str, str]) -> dict[str, object]:
    cfg = read_pip_config(env, site_prefix=Path(sys.prefix))
    return {
        "index_url": cfg.index_url,
        "extra_index_urls": list(cfg.extra_index_urls),
        "find_links": list(cfg.find_links),
        "no_index": cfg.no_index,
    }


def test_layers_and_sections_agree_with_pip(home: Path, tmp_path: Path) -> None:
    write(
        tmp_path / "xdg" / "pip" / "pip.conf",
        "[global]\nindex-url = https://global.invalid/simple\nfind-links = /from/global\n",
    )
    write(
        home / ".pip" / "pip.conf",
        "[global]\nextra-index-url = https://legacy.invalid/simple\n",
    )
    write(
        home / ".config" / "pip" / "pip.conf",
        "[global]\nextra-index-url =\n    file:///opt/pypi/simple\n    file:///missing/simple\n"
        "[install]\nfind-links = /from/install\n",
    )
    env = env_for(home, tmp_path)
    assert ours(env) == pip_says(env)
    cfg = read_pip_config(env, site_prefix=Path(sys.prefix))
    assert cfg.extra_index_urls == ("file:///opt/pypi/simple", "file:///missing/simple")
    assert cfg.find_links == ("/from/install",)  # [install] beats [global] from any file
    assert cfg.origins["find-links"].endswith("pip.conf [install]")


def test_environment_beats_files_and_agrees_with_pip(home: Path, tmp_path: Path) -> None:
    write(home / ".config" / "pip" / "pip.conf", "[install]\nindex-url = https://file.invalid/s\n")
    env = env_for(
        home,
        tmp_path,
        PIP_INDEX_URL="https://env.invalid/simple",
        PIP_EXTRA_INDEX_URL="https://a.invalid/simple https://b.invalid/simple",
        PIP_FIND_LINKS="/opt/wheels",
    )
    assert ours(env) == pip_says(env)
    cfg = read_pip_config(env)
    assert cfg.index_url == "https://env.invalid/simple"
    assert cfg.origins["index-url"] == "env:PIP_INDEX_URL"


def test_pip_config_file_replaces_user_files(home: Path, tmp_path: Path) -> None:
    write(home / ".config" / "pip" / "pip.conf", "[global]\nfind-links = /user/wheels\n")
    explicit = write(tmp_path / "explicit.conf", "[global]\nextra-index-url = https://x.invalid\n")
    env = env_for(home, tmp_path, PIP_CONFIG_FILE=str(explicit))
    assert ours(env) == pip_says(env)
    assert read_pip_config(env).find_links == ()


def test_pip_config_file_devnull_reads_no_file(home: Path, tmp_path: Path) -> None:
    write(home / ".config" / "pip" / "pip.conf", "[global]\nfind-links = /user/wheels\n")
    env = env_for(home, tmp_path, PIP_CONFIG_FILE=os.devnull)
    assert ours(env) == pip_says(env)
    cfg = read_pip_config(env)
    assert cfg.index_url == DEFAULT_INDEX_URL
    assert cfg.origins["index-url"] == "default"


def test_a_later_empty_value_hides_an_earlier_one(home: Path, tmp_path: Path) -> None:
    write(tmp_path / "xdg" / "pip" / "pip.conf", "[global]\nfind-links = /global/wheels\n")
    write(home / ".config" / "pip" / "pip.conf", "[global]\nfind-links =\n")
    env = env_for(home, tmp_path)
    assert ours(env) == pip_says(env)


def test_no_index_and_underscore_keys(home: Path, tmp_path: Path) -> None:
    write(home / ".config" / "pip" / "pip.conf", "[global]\nno_index = yes\nfind_links = /w\n")
    env = env_for(home, tmp_path)
    assert ours(env) == pip_says(env)
    assert read_pip_config(env).no_index is True


def test_unreadable_file_is_a_problem_not_a_crash(home: Path, tmp_path: Path) -> None:
    write(home / ".config" / "pip" / "pip.conf", "this is not = an ini [file\n")
    cfg = read_pip_config(env_for(home, tmp_path))
    assert cfg.problems
    assert "pip.conf" in cfg.problems[0]
    assert cfg.index_url == DEFAULT_INDEX_URL


def test_file_order_is_pips(home: Path, tmp_path: Path) -> None:
    env = env_for(home, tmp_path, PIP_CONFIG_FILE=str(tmp_path / "nope.conf"))
    kinds = [kind for kind, _ in config_files(env, Path("/venv"))]
    # A PIP_CONFIG_FILE that does not exist does not hide the user files.
    assert kinds == ["global", "global", "user", "user", "site", "env"]
    paths = [str(p) for _, p in config_files(env, Path("/venv"))]
    assert paths[1] == "/etc/pip.conf"
    assert paths[3] == str(home / ".config" / "pip" / "pip.conf")
    assert paths[4] == "/venv/pip.conf"
