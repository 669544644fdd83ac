"""What users and recipes write, turned into requests; and what a Source records."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchbuild.errors import InputError, SourceError
from torchbuild.sources import Source, SourceRequest, kind_of, parse_user_source, upstream_request

SHA = "3f2a1c" + "0" * 58


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "checkout").mkdir()
    (tmp_path / "audio-2.6.0.tar.gz").write_bytes(b"x")
    (tmp_path / "audio.zip").write_bytes(b"x")
    (tmp_path / "pytorch-audio_2.6.0-1.dsc").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    return tmp_path


def test_a_directory_an_archive_and_a_dsc(files: Path) -> None:
    assert parse_user_source(f"torchaudio={files}/checkout") == SourceRequest(
        "torchaudio", str(files / "checkout")
    )
    assert parse_user_source(f"torchaudio={files}/audio-2.6.0.tar.gz#sha256={SHA.upper()}") == (
        SourceRequest("torchaudio", str(files / "audio-2.6.0.tar.gz"), sha256=SHA)
    )
    assert parse_user_source(f"torchaudio={files}/audio.zip").location == str(files / "audio.zip")
    dsc = parse_user_source(f"torchaudio={files}/pytorch-audio_2.6.0-1.dsc")
    assert kind_of(dsc.location) == "dsc"


def test_names_are_canonical_and_paths_absolute_and_expanded(
    files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(files)
    assert parse_user_source("Torch_Audio=checkout") == SourceRequest(
        "torch-audio", str(files / "checkout")
    )
    monkeypatch.setenv("HOME", str(files))
    assert parse_user_source("torchaudio=~/checkout").location == str(files / "checkout")
    # The form with the value already split at "=".
    assert parse_user_source("torchaudio", "~/checkout").location == str(files / "checkout")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "torchaudio=https://github.com/pytorch/audio@v2.6.0",
            SourceRequest("torchaudio", "https://github.com/pytorch/audio", ref="v2.6.0"),
        ),
        (
            "torchaudio=https://github.com/pytorch/audio.git",
            SourceRequest("torchaudio", "https://github.com/pytorch/audio.git"),
        ),
        (
            "torchaudio=git@github.com:pytorch/audio.git@release/2.6",
            SourceRequest("torchaudio", "git@github.com:pytorch/audio.git", ref="release/2.6"),
        ),
        (
            "torchaudio=ssh://git@example.org/audio.git@" + "a" * 40,
            SourceRequest("torchaudio", "ssh://git@example.org/audio.git", commit="a" * 40),
        ),
        (
            "torchaudio=git+https://example.org/audio@v1",
            SourceRequest("torchaudio", "git+https://example.org/audio", ref="v1"),
        ),
        (
            "torchaudio=file:///srv/git/audio.git",
            SourceRequest("torchaudio", "file:///srv/git/audio.git"),
        ),
        (
            f"torchaudio=https://example.org/audio-2.6.0.tar.gz#sha256={SHA}",
            SourceRequest("torchaudio", "https://example.org/audio-2.6.0.tar.gz", sha256=SHA),
        ),
    ],
)
def test_urls(text: str, expected: SourceRequest) -> None:
    assert parse_user_source(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("torchaudio", "is not PKG=LOCATION"),
        ("=/tmp", "is not PKG=LOCATION"),
        ("torchaudio=", "is not PKG=LOCATION"),
        ("torch audio=/tmp", "is not a package name"),
        ("torchaudio={files}/audio-2.6.0.tar.gz#sha256=abc", "is not sha256=<64 hex digits>"),
        ("torchaudio={files}/audio-2.6.0.tar.gz#md5=" + "0" * 32, "is not sha256="),
        ("torchaudio={files}/checkout#sha256=" + SHA, "applies to an archive, not to a dir"),
        ("torchaudio={files}/notes.txt", "neither a directory, an archive"),
        ("torchaudio=https://github.com/pytorch/audio#sha256=" + SHA, "a git URL takes @REF"),
        ("torchaudio=https://github.com/pytorch/audio@", "nothing after '@'"),
    ],
)
def test_malformed_values_are_input_errors(files: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")) as err:
        parse_user_source(text.format(files=files))
    assert err.value.exit_code == 3


def test_a_path_that_does_not_exist_is_a_source_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as err:
        parse_user_source(f"torchaudio={tmp_path}/nowhere/audio.tar.gz")
    assert err.value.exit_code == 7
    assert f"{tmp_path}/nowhere/audio.tar.gz does not exist" in err.value.message
    assert "--source torchaudio=" in err.value.hint


def test_upstream_request() -> None:
    assert upstream_request(
        "TorchAudio", "2.6.0", "https://github.com/pytorch/audio", "v2.6.0", submodules=True
    ) == SourceRequest(
        "torchaudio",
        "https://github.com/pytorch/audio",
        version="2.6.0",
        ref="v2.6.0",
        submodules=True,
    )


@pytest.mark.parametrize(
    ("location", "kind"),
    [
        ("/src/vision", "dir"),
        ("/src/vision-0.21.0.tar.gz", "archive"),
        ("/src/vision-0.21.0.TGZ", "archive"),
        ("/src/vision.tar.bz2", "archive"),
        ("/src/pytorch-vision_0.21.0-3.dsc", "dsc"),
        ("https://example.org/vision-0.21.0.tar.xz", "archive"),
        ("https://github.com/pytorch/vision", "git"),
        ("git@github.com:pytorch/vision.git", "git"),
        ("file:///srv/vision.git", "git"),
    ],
)
def test_kind_of(location: str, kind: str) -> None:
    assert kind_of(location) == kind


def test_provenance_never_carries_a_token() -> None:
    source = Source(
        package="torchaudio",
        kind="git",
        location="https://user:s3cret@example.org/audio.git",
        digest="git:" + "a" * 40,
        description="x",
        path=Path("/cache/x"),
        ref="v2.6.0",
        submodules=True,
    )
    record = source.provenance()
    assert record == {
        "package": "torchaudio",
        "kind": "git",
        "location": "https://example.org/audio.git",
        "digest": "git:" + "a" * 40,
        "commit": "a" * 40,
        "ref": "v2.6.0",
        "submodules": True,
    }
