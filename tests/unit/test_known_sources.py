"""Known wheel sources: which indexes each target asks, their pages parsed, mirrors, cheap failure.

The PyTorch and Jetson AI Lab pages are recorded layouts (tests/data/indexes) served on
127.0.0.1 and reached through the mirror settings, never the real hosts.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import pytest
from click.testing import CliRunner

from data.indexes.serve import HERE as PAGES
from data.indexes.serve import serve_indexes
from data.pypi.replay import profile
from torchbuild.errors import InputError
from torchbuild.resolve.indexes import (
    IndexCache,
    IndexClient,
    Response,
    Source,
    configured_sources,
    parse_html,
    parse_json,
    urllib_transport,
)
from torchbuild.resolve.pipconfig import PipConfig
from torchbuild.resolve.sources import (
    fitting_indexes,
    known_sources,
    load_catalogue,
)
from torchbuild.resolve.variants import index_pattern, load_facts
from torchbuild.settings import load_settings
from torchbuild.target import load_target

if TYPE_CHECKING:
    from torchbuild.target import Target


def labels(target: Target, cuda: str = "auto") -> list[str]:
    return [f"{i.source}:{i.label}" for i in fitting_indexes(target, cuda)]


def nvidia(driver: str | None, driver_cuda: str | None, cc: str = "8.6", **kw: Any) -> Target:
    gpus = [{"name": f"GPU sm_{cc.replace('.', '')}", "compute_capability": cc}]
    return profile(cuda={"driver": driver, "driver_cuda": driver_cuda, "gpus": gpus}, **kw)


# -- the data -------------------------------------------------------------------------------------


def test_every_known_index_is_recognised_by_its_path_on_a_mirror_too() -> None:
    facts = load_facts()
    catalogue = load_catalogue()
    assert catalogue.names == ("pypi", "pytorch", "jetson-ai-lab")
    checked = 0
    for known in catalogue.sources:
        for index in known.indexes:
            if index.kind == "xpu":
                continue  # not a variant torchbuild plans for
            upstream = known.url(index)
            mirrored = known.url(index, "http://127.0.0.1:1/some/mirror")
            for source in (
                Source("index", upstream, "test"),
                Source("index", mirrored, "test", known=known.name, upstream=upstream),
            ):
                found = index_pattern(source, facts)
                assert found is not None, source
                assert found[1]["label"] == index.index, source
                if index.gpu:
                    assert found[0].platform == index.gpu, source
            checked += 1
    assert checked > 15


def test_known_urls_follow_each_servers_layout() -> None:
    catalogue = load_catalogue()
    pytorch = catalogue.get("pytorch")
    cu126 = next(i for i in pytorch.indexes if i.index == "cu126")
    assert pytorch.url(cu126) == "https://download.pytorch.org/whl/cu126"
    lab = catalogue.get("jetson-ai-lab")
    jp6 = next(i for i in lab.indexes if i.label == "jp6/cu126")
    assert lab.url(jp6) == "https://pypi.jetson-ai-lab.io/jp6/cu126/+simple"
    assert lab.url(jp6, "https://m.example/lab/") == "https://m.example/lab/jp6/cu126/+simple"


# -- which indexes each target asks -----------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "cuda", "expected"),
    [
        ("jetson-orin-jp6", "auto", ["jetson-ai-lab:jp6/cu126"]),  # L4T 36.4 runs CUDA 12.6
        (
            "jetson-thor-jp7",
            "auto",
            ["jetson-ai-lab:sbsa/cu130", "jetson-ai-lab:sbsa/cu129", "jetson-ai-lab:sbsa/cu128"],
        ),
        ("jetson-orin-jp5", "auto", []),  # nobody publishes JetPack 5 indexes
        ("jetson-orin-jp6", "none", ["pytorch:cpu"]),
        ("rpi5-bookworm-arm64", "auto", ["pytorch:cpu"]),
        ("rpi4-bookworm-arm64", "auto", ["pytorch:cpu"]),
        ("rpi-bookworm-armv7l", "auto", []),
        ("rpi-bookworm-armv7l", "12.6", []),
    ],
)
def test_presets_ask_the_indexes_that_can_fit(preset: str, cuda: str, expected: list[str]) -> None:
    assert labels(load_target(preset), cuda) == expected


def test_jetson_orin_on_a_newer_l4t_asks_the_newer_jp6_indexes() -> None:
    jp6 = load_target("jetson-orin-jp6")
    assert jp6.jetson is not None
    assert jp6.cuda is not None
    newer = profile(
        arch="aarch64",
        python="3.10",
        cuda={"driver_cuda": "12.9", "gpus": [{"name": "Orin", "compute_capability": "8.7"}]},
        jetson={"l4t": "36.4.7", "jetpack": "6.2.1", "soc": "tegra234"},
    )
    assert labels(newer) == [
        "jetson-ai-lab:jp6/cu129",
        "jetson-ai-lab:jp6/cu128",
        "jetson-ai-lab:jp6/cu126",
    ]


def test_the_jetpack_release_comes_from_l4t_when_the_profile_lacks_it() -> None:
    orin = {"gpus": [{"name": "Orin", "compute_capability": "8.7"}]}
    jp6 = profile(arch="aarch64", cuda=orin, jetson={"l4t": "36.4.3", "jetpack": None, "soc": None})
    assert labels(jp6) == ["jetson-ai-lab:jp6/cu126"]  # L4T 36.4's driver: CUDA 12.6
    jp7 = profile(arch="aarch64", cuda=orin, jetson={"l4t": "39.2.0", "jetpack": None, "soc": None})
    assert labels(jp7)[0] == "jetson-ai-lab:sbsa/cu130"  # JetPack 7.2 moves Orin onto SBSA


def test_x86_64_driver_535_asks_every_cuda_12_and_11_index_but_not_13() -> None:
    chosen = labels(nvidia("535.54.03", "12.2", python="3.10"))
    assert chosen == [
        "pytorch:cu129",
        "pytorch:cu128",
        "pytorch:cu126",
        "pytorch:cu124",
        "pytorch:cu121",
        "pytorch:cu118",
    ]


def test_x86_64_driver_580_asks_cuda_13_first() -> None:
    chosen = labels(nvidia("580.65.06", "13.0"))
    assert chosen[:2] == ["pytorch:cu132", "pytorch:cu130"]
    assert "pytorch:cpu" not in chosen


def test_a_driver_older_than_minor_version_compatibility_gets_no_cuda_12() -> None:
    assert labels(nvidia("520.61.05", "11.8")) == ["pytorch:cu118"]
    assert labels(nvidia("440.33", "10.2")) == []


def test_without_the_drivers_version_its_cuda_decides() -> None:
    assert labels(nvidia(None, "12.2"))[0] == "pytorch:cu129"
    assert "pytorch:cu130" not in labels(nvidia(None, "12.2"))
    assert labels(nvidia(None, None))[0] == "pytorch:cu132"  # unknown: ask, the fit rule judges


def test_cpu_and_exact_cuda_and_server_arm() -> None:
    assert labels(profile()) == ["pytorch:cpu"]
    assert labels(nvidia("535.54.03", "12.2"), "none") == ["pytorch:cpu"]
    assert labels(nvidia("535.54.03", "12.2"), "12.6") == ["pytorch:cu126"]
    gh200 = nvidia("570.86.15", "12.8", cc="9.0", arch="aarch64")
    assert labels(gh200) == ["pytorch:cu129", "pytorch:cu128", "pytorch:cu126"]
    assert labels(profile(arch="riscv64")) == []


def test_known_sources_carry_name_origin_and_upstream() -> None:
    plain = known_sources(load_target("jetson-orin-jp6"))
    assert plain == [
        Source(
            "index",
            "https://pypi.jetson-ai-lab.io/jp6/cu126/+simple",
            "known source jetson-ai-lab (jp6/cu126)",
            known="jetson-ai-lab",
        )
    ]
    mirrored = known_sources(profile(), mirrors=(("pytorch", "http://m.example/torch"),))
    assert mirrored[0].location == "http://m.example/torch/cpu"
    assert mirrored[0].upstream == "https://download.pytorch.org/whl/cpu"
    assert mirrored[0].origin == "known source pytorch (cpu) via mirror"


# -- the pages --------------------------------------------------------------------------------


def test_pytorch_page_absolute_links_labels_hashes_and_metadata() -> None:
    base = "http://127.0.0.1:8/whl/cu126/torch/"
    files = parse_html((PAGES / "pytorch/cu126/torch.html").read_bytes(), base)
    one = next(f for f in files if f.filename == "torch-2.6.0+cu126-cp310-cp310-linux_x86_64.whl")
    assert one.url == (
        "http://127.0.0.1:8/whl/cu126/torch-2.6.0%2Bcu126-cp310-cp310-linux_x86_64.whl"
    )
    assert one.sha256 == "42de070d577243eaeadbad1952d486bdc6d7a15418cf7b993a06e3c93c2083cd"
    assert one.has_metadata is True
    assert one.metadata_sha256 == (
        "e12048b99ebfde1cd3dc2fa32210f3fdfa48c94be8c45cd7942a32302e0ad909"
    )
    assert one.metadata_url == one.url + ".metadata"
    assert one.requires_python == ">=3.9.0"
    assert len(files) == 18
    assert all("+cu126-" in f.filename and "%2B" in f.url for f in files)


def test_devpi_page_relative_links() -> None:
    base = "https://pypi.jetson-ai-lab.io/jp6/cu126/+simple/torch/"
    files = parse_html((PAGES / "jetson-ai-lab/jp6/cu126/torch.html").read_bytes(), base)
    assert [f.filename for f in files] == [
        "torch-2.7.0-cp310-cp310-linux_aarch64.whl",
        "torch-2.8.0-cp310-cp310-linux_aarch64.whl",
    ]
    latest = files[1]
    assert latest.url == (
        "https://pypi.jetson-ai-lab.io/jp6/cu126/+f/bc4/a6f22aed8b3e1/"
        "torch-2.8.0-cp310-cp310-linux_aarch64.whl"
    )
    assert latest.sha256 is not None
    assert latest.sha256.startswith("bc4a6f22aed8b3e1")
    assert latest.has_metadata is False
    assert latest.metadata_url is None


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ('data-core-metadata="sha256=AB12"', (True, "ab12")),
        ('data-dist-info-metadata="true"', (True, None)),
        ('data-dist-info-metadata="sha256=cd" data-core-metadata="sha256=ef"', (True, "ef")),
        ('data-core-metadata="false"', (False, None)),
        ("", (False, None)),
    ],
)
def test_html_metadata_attributes(attrs: str, expected: tuple[bool, str | None]) -> None:
    page = f'<a href="p-1.0-py3-none-any.whl" {attrs}>p</a>'.encode()
    link = parse_html(page, "https://i.example/simple/p/")[0]
    assert (link.has_metadata, link.metadata_sha256) == expected


def test_json_core_metadata() -> None:
    page = {
        "files": [
            {"filename": "p-1.0-py3-none-any.whl", "url": "a.whl", "hashes": {},
             "core-metadata": {"sha256": "aa"}},
            {"filename": "p-1.1-py3-none-any.whl", "url": "b.whl", "hashes": {},
             "dist-info-metadata": True},
            {"filename": "p-1.2-py3-none-any.whl", "url": "c.whl", "hashes": {}},
        ]
    }  # fmt: skip
    links = parse_json(json.dumps(page).encode(), "https://i.example/simple/p/")
    assert [(f.has_metadata, f.metadata_sha256) for f in links] == [
        (True, "aa"),
        (True, None),
        (False, None),
    ]
    again = [type(f).from_json(f.to_json()) for f in links]
    assert again == list(links)


# -- mirrors and settings ---------------------------------------------------------------------


def test_mirrors_from_the_environment_and_a_toml_table(tmp_path: Path) -> None:
    env = {"TORCHBUILD_MIRRORS": "pytorch=https://m.example/whl/ jetson-ai-lab=file:///srv/lab"}
    settings = load_settings(environ=env)
    assert settings.mirrors == (
        ("pytorch", "https://m.example/whl"),
        ("jetson-ai-lab", "file:///srv/lab"),
    )
    config = tmp_path / "torchbuild.toml"
    config.write_text('known-indexes = false\n[mirrors]\npytorch = "http://10.0.0.5/whl"\n')
    from_file = load_settings(environ={"TORCHBUILD_CONFIG": str(config)})
    assert from_file.mirrors == (("pytorch", "http://10.0.0.5/whl"),)
    assert from_file.known_indexes is False
    assert load_settings(environ={"TORCHBUILD_KNOWN_INDEXES": "0"}).known_indexes is False
    assert load_settings(environ={}).known_indexes is True


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("torch=https://m.example/whl", "unknown mirror name 'torch'"),
        ("pytorch=ftp://m.example/whl", "not an http(s):// or file: URL"),
        ("pytorch", "is not NAME=URL"),
    ],
)
def test_bad_mirrors_are_input_errors_naming_the_sources(value: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        load_settings(environ={"TORCHBUILD_MIRRORS": value})
    assert message in caught.value.message
    assert "TORCHBUILD_MIRRORS" in caught.value.message
    assert caught.value.exit_code == 3
    assert "pypi, pytorch, jetson-ai-lab" in caught.value.hint


def test_bad_mirror_on_the_command_line_exits_3(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from torchbuild.__main__ import main

    for key, value in {**cli_env, "TORCHBUILD_MIRRORS": "pytroch=http://x"}.items():
        monkeypatch.setenv(key, value)
    code = main(["plan", "--offline", "--target", "rpi5-bookworm-arm64", "torch"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert (
        "error: bad value for mirrors from TORCHBUILD_MIRRORS: unknown mirror name 'pytroch'" in err
    )
    assert "hint: known sources: pypi, pytorch, jetson-ai-lab" in err


def test_configured_sources_add_known_ones_after_the_users(tmp_path: Path) -> None:
    jp6 = load_target("jetson-orin-jp6")
    settings = load_settings(
        {"extra_index_url": ("https://extra.example/simple",), "wheelhouse": str(tmp_path)},
        environ={},
    )
    sources = configured_sources(settings, PipConfig(), jp6)
    assert [s.origin for s in sources] == [
        "pip default",
        "--extra-index-url",
        "known source jetson-ai-lab (jp6/cu126)",
        "torchbuild wheelhouse",
    ]
    off = load_settings({"known_indexes": False, "wheelhouse": str(tmp_path)}, environ={})
    assert all(s.known is None for s in configured_sources(off, PipConfig(), jp6))
    no_index = configured_sources(settings, PipConfig(no_index=True), jp6)
    assert all(s.known is None for s in no_index)
    # A known index the user configured is asked once, under the user's origin.
    same = load_settings(
        {"extra_index_url": ("https://pypi.jetson-ai-lab.io/jp6/cu126/+simple/",)}, environ={}
    )
    again = [s for s in configured_sources(same, PipConfig(), jp6) if "jp6" in s.location]
    assert [s.origin for s in again] == ["--extra-index-url"]


def test_a_pypi_mirror_replaces_pips_default_index_only() -> None:
    mirror = load_settings(environ={"TORCHBUILD_MIRRORS": "pypi=http://m.example/pypi"})
    first = configured_sources(mirror, PipConfig())[0]
    assert first.location == "http://m.example/pypi"
    assert first.is_pypi
    assert first.origin == "pip default via mirror"
    own = PipConfig(index_url="https://corp.example/simple", origins={"index-url": "env:X"})
    assert configured_sources(mirror, own)[0].location == "https://corp.example/simple"


# -- cheap failure ----------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_known_source_is_remembered_and_not_asked_again(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/whl"
    source = Source("index", f"{url}/cpu", "known source pytorch (cpu) via mirror", "pytorch")
    calls: list[tuple[str, float]] = []
    real = urllib_transport()

    def counting(address: str, headers: Mapping[str, str], timeout: float) -> Response:
        calls.append((address, timeout))
        return real(address, headers, timeout)

    now = [1000.0]
    cache = IndexCache(tmp_path / "c")
    client = IndexClient(
        cache=cache, transport=counting, clock=lambda: now[0], known_timeout=2.5, failure_ttl=600
    )
    first = client.listing(source, "torch")
    assert first.status == "error"
    assert calls == [(f"{url}/cpu/torch/", 2.5)]  # the short timeout of a known source
    entry = cache.get(f"{url}/cpu/torch/")
    assert entry is not None
    assert entry.status == "error"
    assert entry.failed_at == 1000.0
    assert entry.error
    now[0] += 300
    second = client.listing(source, "torch")
    assert second.status == "error"
    assert "not asked again" in (second.error or "")
    assert len(calls) == 1  # remembered: no second try
    now[0] += 301  # the failure is old now: asked again
    client.listing(source, "torch")
    assert len(calls) == 2


def test_a_configured_source_is_not_remembered_as_failed(tmp_path: Path) -> None:
    source = Source("index", f"http://127.0.0.1:{_closed_port()}/simple", "--index-url")
    cache = IndexCache(tmp_path / "c")
    client = IndexClient(cache=cache, transport=urllib_transport(), timeout=2)
    assert client.listing(source, "torch").status == "error"
    assert cache.get(source.location + "/torch/") is None


def test_a_stale_copy_is_kept_beside_the_failure(tmp_path: Path) -> None:
    source = Source("index", "https://download.pytorch.org/whl/cpu", "known", "pytorch")
    page = (PAGES / "pytorch/cpu/torch.html").read_bytes()
    up = [True]
    calls: list[str] = []

    def serve(address: str, headers: Mapping[str, str], timeout: float) -> Response:
        calls.append(address)
        if not up[0]:
            raise OSError(111, "Connection refused")
        return Response(200, address, {"content-type": "text/html"}, page)

    now = [0.0]
    cache = IndexCache(tmp_path / "c", ttl=60)
    client = IndexClient(cache=cache, transport=serve, clock=lambda: now[0])
    assert len(client.listing(source, "torch").files) == 18
    up[0] = False
    now[0] = 100.0
    stale = client.listing(source, "torch")
    assert len(stale.files) == 18
    assert "did not answer" in (stale.note or "")
    now[0] = 200.0
    again = client.listing(source, "torch")
    assert len(again.files) == 18
    assert len(calls) == 2  # the failure at 100 s is remembered


# -- the command line, through the mirrors ------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(("PIP_", "TORCHBUILD_")):
            monkeypatch.delenv(key)
    return {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / ".config"),
        "PIP_CONFIG_FILE": os.devnull,
        "TORCHBUILD_CACHE_DIR": str(tmp_path / "cache"),
        "TORCHBUILD_WHEELHOUSE": str(tmp_path / "wheelhouse"),
    }


def _plan(env: Mapping[str, str], *args: str) -> dict[str, Any]:
    from torchbuild.__main__ import cli

    result = CliRunner().invoke(cli, ["plan", "--json", *args], env=dict(env))
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_jetson_plan_takes_the_jetson_index_through_its_mirror(cli_env: dict[str, str]) -> None:
    with serve_indexes() as served:
        env = {**cli_env, "TORCHBUILD_MIRRORS": served.mirrors}
        data = _plan(env, "--target", "jetson-orin-jp6", "torch==2.8.0", "torchvision==0.23.0")
    torch, vision = data["packages"]
    assert torch["action"] == "prebuilt"
    assert torch["wheel"]["filename"] == "torch-2.8.0-cp310-cp310-linux_aarch64.whl"
    assert torch["wheel"]["url"] == (
        f"{served.url}/jetson/jp6/cu126/+f/bc4/a6f22aed8b3e1/"
        "torch-2.8.0-cp310-cp310-linux_aarch64.whl"
    )
    assert "Jetson jp6/cu126 index" in torch["reason"]
    assert vision["action"] == "prebuilt"
    assert vision["wheel"]["index"] == f"{served.url}/jetson/jp6/cu126/+simple"
    rows = {row["origin"]: row for row in data["sources"]}
    lab = rows["known source jetson-ai-lab (jp6/cu126) via mirror"]
    assert lab["known"] == "jetson-ai-lab"
    assert lab["answers"] == {"torch": 2, "torchvision": 2}
    assert rows["pip default via mirror"]["answers"]["torch"] > 900
    assert all(not path.startswith("/whl/") for path in served.requests)  # no PyTorch index


def test_x86_plan_reads_the_pytorch_cu126_index_through_its_mirror(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "x86.json"
    from torchbuild.target import to_json

    target.write_text(json.dumps(to_json(nvidia("560.35.03", "12.6", python="3.10"))))
    with serve_indexes() as served:
        env = {**cli_env, "TORCHBUILD_MIRRORS": served.mirrors}
        data = _plan(env, "--target", str(target), "torch==2.8.0")
        text = CliRunner().invoke(
            __import__("torchbuild.__main__", fromlist=["cli"]).cli,
            ["plan", "--target", str(target), "torch==2.8.0"],
            env={**env, "COLUMNS": "200"},
        )
    asked = {row["location"]: row for row in data["sources"] if row["known"] == "pytorch"}
    assert list(asked) == [
        f"{served.url}/whl/{v}" for v in ("cu129", "cu128", "cu126", "cu124", "cu121", "cu118")
    ]
    assert asked[f"{served.url}/whl/cu126"]["answers"] == {"torch": 18}
    assert asked[f"{served.url}/whl/cu128"]["answers"] == {"torch": "not-found"}
    torch = data["packages"][0]
    assert torch["action"] == "prebuilt"
    assert torch["wheel"]["filename"] == "torch-2.8.0+cu126-cp310-cp310-manylinux_2_28_x86_64.whl"
    assert torch["wheel"]["url"].endswith(
        "/whl/cu126/torch-2.8.0%2Bcu126-cp310-cp310-manylinux_2_28_x86_64.whl"
    )
    assert text.exit_code == 0, text.output
    assert "known source pytorch (cu126) via mirror" in text.stdout
    assert "torch: 18 files" in text.stdout


def test_no_known_indexes_flag_and_setting(cli_env: dict[str, str]) -> None:
    with serve_indexes() as served:
        env = {**cli_env, "TORCHBUILD_MIRRORS": served.mirrors}
        flag = _plan(env, "--no-known-indexes", "--target", "jetson-orin-jp6", "torch")
        setting = _plan(
            {**env, "TORCHBUILD_KNOWN_INDEXES": "false"}, "--target", "jetson-orin-jp6", "torch"
        )
    for data in (flag, setting):
        assert [row["known"] for row in data["sources"]] == [None, None]
    # PyPI's pages and its files' METADATA only: no known index was asked.
    assert all(path.startswith(("/pypi/", "/files/")) for path in served.requests)


def test_an_unreachable_known_source_never_stops_the_plan(cli_env: dict[str, str]) -> None:
    from torchbuild.__main__ import cli

    dead = f"http://127.0.0.1:{_closed_port()}"
    env = {**cli_env, "TORCHBUILD_MIRRORS": f"jetson-ai-lab={dead}/lab", "COLUMNS": "200"}
    with serve_indexes() as served:
        env["TORCHBUILD_MIRRORS"] += f" pypi={served.url}/pypi"
        first = CliRunner().invoke(cli, ["plan", "--target", "jetson-orin-jp6", "torch"], env=env)
        second = _plan(env, "--target", "jetson-orin-jp6", "torch")
    assert first.exit_code == 0, first.output
    assert "unreachable" in first.stdout
    assert f"{dead}/lab/jp6/cu126/+simple" in first.stdout
    assert "could not read" not in first.output  # listed, not warned about
    lab = next(row for row in second["sources"] if row["known"])
    assert lab["status"] == "error"
    assert "not asked again" in lab["error"]
    assert second["packages"][0]["action"] in ("prebuilt", "build")
    cache = IndexCache(Path(cli_env["TORCHBUILD_CACHE_DIR"]) / "index")
    entry = cache.get(f"{dead}/lab/jp6/cu126/+simple/torch/")
    assert entry is not None
    assert entry.failed_at is not None


@pytest.mark.parametrize("command", ["plan", "doctor", "wheel"])
def test_offline_opens_no_socket(
    command: str, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchbuild.__main__ import cli

    opened: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        opened.append(address)
        raise OSError("a socket was opened offline")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    args = [command, "--offline", "--target", "jetson-orin-jp6", "torch"]
    if command == "wheel":
        args.append("--dry-run")
    env = {**cli_env, "TORCHBUILD_MIRRORS": "pytorch=http://127.0.0.1:1/whl"}
    result = CliRunner().invoke(cli, args, env=env)
    assert opened == []
    assert result.exit_code in (0, 1), result.output  # doctor: 1 = findings
    if command == "plan":  # the known source is listed, answered from the (empty) cache
        assert "pypi.jetson-ai-lab.io/jp6/cu126/+simple" in result.stdout
        assert "offline" in result.stdout


def test_doctor_reports_an_unreachable_known_source_as_information(
    cli_env: dict[str, str],
) -> None:
    from data.pypi.replay import PROJECTS, PYPI, Replay
    from torchbuild.__main__ import cli

    cache = IndexCache(Path(cli_env["TORCHBUILD_CACHE_DIR"]) / "index")
    warm = IndexClient(cache=cache, transport=Replay())
    warm.listings([PYPI], PROJECTS)
    result = CliRunner().invoke(
        cli, ["doctor", "--offline", "--json", "--target", "rpi5-bookworm-arm64"], env=cli_env
    )
    assert result.exit_code == 0, result.output  # pip's own answer still gives a working set
    data = json.loads(result.stdout)
    known = [f for f in data["findings"] if f["code"] == "known-source-unreachable"]
    assert len(known) == 1
    assert known[0]["severity"] == "info"
    assert "download.pytorch.org/whl/cpu" in known[0]["what"]
    assert all(f["code"] != "index-unreachable" for f in data["findings"])


def test_a_known_host_that_failed_is_not_waited_for_again_in_the_same_plan(
    tmp_path: Path,
) -> None:
    calls: list[str] = []

    def dead(address: str, headers: Mapping[str, str], timeout: float) -> Response:
        calls.append(address)
        raise OSError(110, "Connection timed out")

    pytorch = [
        Source("index", f"https://download.pytorch.org/whl/{v}", "known", "pytorch")
        for v in ("cu128", "cu126")
    ]
    client = IndexClient(cache=IndexCache(tmp_path / "c"), transport=dead, max_workers=1)
    found = client.listings(pytorch, ["torch", "torchvision", "torchaudio"])
    assert len(calls) == 1
    assert all(li.status == "error" for li in found.values())
    assert all("no answer within" in (li.error or "") for li in found.values())
    for source in pytorch:  # every page is remembered, so the next plan asks none of them
        for project in ("torch", "torchvision", "torchaudio"):
            entry = IndexCache(tmp_path / "c").get(f"{source.location}/{project}/")
            assert entry is not None
            assert entry.failed_at is not None


def test_a_cpu_machine_gets_pytorchs_cpu_build_of_the_same_release(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    # PyPI's torch 2.8.0 for x86_64 is a CUDA 12.8 build that also runs on a CPU; the cpu
    # index's +cpu build of the same release is the one made for this machine.
    from torchbuild.target import to_json

    target = tmp_path / "cpu.json"
    target.write_text(json.dumps(to_json(profile(python="3.11"))))
    with serve_indexes() as served:
        env = {**cli_env, "TORCHBUILD_MIRRORS": served.mirrors}
        data = _plan(env, "--target", str(target), "torch==2.8.0")
        off = _plan(env, "--target", str(target), "--no-known-indexes", "torch==2.8.0")
    (torch,) = data["packages"]
    assert torch["wheel"]["filename"] == "torch-2.8.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    assert torch["wheel"]["index"] == f"{served.url}/whl/cpu"
    (pypi,) = off["packages"]
    assert pypi["action"] == "prebuilt"
    assert "+cpu" not in pypi["wheel"]["filename"]


def test_driver_535_takes_a_cuda_12_build_through_minor_version_compatibility(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    from torchbuild.target import to_json

    target = tmp_path / "x86.json"
    target.write_text(json.dumps(to_json(nvidia("535.183.01", "12.2", python="3.10"))))
    with serve_indexes() as served:
        env = {**cli_env, "TORCHBUILD_MIRRORS": served.mirrors}
        data = _plan(env, "--target", str(target), "torch==2.8.0")
    (torch,) = data["packages"]
    assert torch["action"] == "prebuilt"
    # 2.8.0 is a CUDA 12.8 build on PyPI and a CUDA 12.6 one on the cu126 index: both run on a
    # 12.2 driver; the newest CUDA wins.
    assert "minor-version compatibility" in " ".join(torch["notes"])
    assert torch["variant"].startswith("CUDA 12.")


def test_doctors_way_out_names_only_the_indexes_that_hold_the_chosen_files(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    from torchbuild.__main__ import cli
    from torchbuild.target import to_json

    target = tmp_path / "x86.json"
    target.write_text(json.dumps(to_json(nvidia("535.183.01", "12.2", python="3.10"))))
    with serve_indexes() as served:
        env = {**cli_env, "TORCHBUILD_MIRRORS": served.mirrors, "COLUMNS": "60"}
        result = CliRunner().invoke(
            cli, ["doctor", "--target", str(target), "torch", "torchvision"], env=env
        )
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    pip = next(line.strip() for line in lines if line.strip().startswith("pip install"))
    assert "/whl/" not in pip  # every chosen file is PyPI's: no PyTorch index to add
    hashes = [line.strip() for line in lines if "--hash=sha256:" in line]
    assert len(hashes) == 2
    assert all(len(h.rsplit(":", 1)[1]) == 64 for h in hashes)  # never folded in a narrow terminal
