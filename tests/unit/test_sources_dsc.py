"""Debian source packages made here with real tar, diff and patch: parse, verify, unpack, patch."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

from torchbuild.errors import SourceError
from torchbuild.sources import SourceRequest, fetch, materialize
from torchbuild.sources.dsc import parse_dsc, parse_series, strip_signature

if TYPE_CHECKING:
    from pathlib import Path

MAIN_C = "".join(f"/* line {i} */\n" for i in range(1, 11)) + "int main(void) { return 1; }\n"


def _diff(old: Path | None, new: Path | None, old_label: str, new_label: str) -> str:
    proc = subprocess.run(
        [
            "diff",
            "-u",
            "--label",
            old_label,
            "--label",
            new_label,
            str(old or "/dev/null"),
            str(new or "/dev/null"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    return proc.stdout


def _sums(path: Path) -> tuple[str, str, str, int]:
    data = path.read_bytes()
    return (
        hashlib.md5(data).hexdigest(),  # noqa: S324 - the .dsc Files field is md5 by definition
        hashlib.sha1(data).hexdigest(),  # noqa: S324 - so is Checksums-Sha1
        hashlib.sha256(data).hexdigest(),
        len(data),
    )


def _write_dsc(out: Path, fmt: str, version: str, files: list[Path]) -> Path:
    lines = {"Files": [], "Checksums-Sha1": [], "Checksums-Sha256": []}
    for f in files:
        md5, sha1, sha256, size = _sums(f)
        lines["Files"].append(f" {md5} {size} {f.name}")
        lines["Checksums-Sha1"].append(f" {sha1} {size} {f.name}")
        lines["Checksums-Sha256"].append(f" {sha256} {size} {f.name}")
    body = "\n".join(
        [
            f"Format: {fmt}",
            "Source: demo",
            "Binary: demo",
            "Architecture: any",
            f"Version: {version}",
            "Maintainer: Demo Maintainer <demo@example.org>",
            "Standards-Version: 4.6.2",
            "Checksums-Sha1:",
            *lines["Checksums-Sha1"],
            "Checksums-Sha256:",
            *lines["Checksums-Sha256"],
            "Files:",
            *lines["Files"],
        ]
    )
    # Clear-signed as Debian's are; the signature is not checked, only the armour stripped.
    signed = (
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n"
        f"{body}\n\n"
        "-----BEGIN PGP SIGNATURE-----\n\n"
        "iQIzBAEBCgAdFiEEdGVzdCBzaWduYXR1cmUgbm90IGNoZWNrZWQ=\n=AAAA\n"
        "-----END PGP SIGNATURE-----\n"
    )
    dsc = out / f"demo_{version}.dsc"
    dsc.write_text(signed)
    return dsc


def _upstream(work: Path) -> Path:
    up = work / "up" / "demo-1.0"
    (up / "src").mkdir(parents=True)
    (up / "src" / "main.c").write_text(MAIN_C)
    (up / "README").write_text("demo\nplain text\n")
    (up / "configure").write_text("#!/bin/sh\necho configured\n")
    (up / "configure").chmod(0o755)
    (up / "debian").mkdir()
    (up / "debian" / "rules").write_text("upstream's own debian dir, replaced by the packaging\n")
    return up


def make_package(tmp_path: Path, *, bad_patch: bool = False, p0: bool = True) -> Path:
    """A "3.0 (quilt)" package with a component tarball and a three-patch series.

    With ``p0`` the second patch has bare file names and a ``-p0`` series line (quilt takes
    that; Debian's own unpacker does not, so the comparison with it goes without).
    """
    work = tmp_path / "work"
    out = tmp_path / "pkg"
    out.mkdir(parents=True)
    up = _upstream(work)
    orig = out / "demo_1.0.orig.tar.gz"
    subprocess.run(["tar", "-czf", str(orig), "-C", str(up.parent), up.name], check=True)
    extra = work / "extra" / "extra-1.0"
    extra.mkdir(parents=True)
    (extra / "data.txt").write_text("component data\n")
    component = out / "demo_1.0.orig-extra.tar.gz"
    subprocess.run(
        ["tar", "-czf", str(component), "-C", str(extra.parent), "extra-1.0"], check=True
    )

    deb = work / "pkgdir" / "debian"
    (deb / "patches" / "subdir").mkdir(parents=True)
    (deb / "rules").write_text("#!/usr/bin/make -f\n%:\n\tdh $@\n")
    (deb / "control").write_text("Source: demo\n")
    (deb / "source").mkdir()
    (deb / "source" / "format").write_text("3.0 (quilt)\n")
    # 1: -p1 with a/ b/ prefixes, changes main.c (or, when bad, expects text it does not have).
    edited = work / "main.c"
    edited.write_text(MAIN_C.replace("return 1", "return 0"))
    base = up / "src" / "main.c"
    if bad_patch:
        base = work / "other.c"
        base.write_text(MAIN_C.replace("line 9", "line nine"))
        edited.write_text(base.read_text().replace("return 1", "return 0"))
    (deb / "patches" / "fix-return.patch").write_text(
        "Description: exit with success\n---\n"
        + _diff(base, edited, "a/src/main.c", "b/src/main.c")
    )
    # 2: -p0, no prefixes.
    readme = work / "README"
    readme.write_text("demo\npatched text\n")
    labels = ("README", "README") if p0 else ("a/README", "b/README")
    (deb / "patches" / "p0-readme.patch").write_text(_diff(up / "README", readme, *labels))
    # 3: in a subdirectory, creates a new file.
    header = work / "new.h"
    header.write_text("#define DEMO_PATCHED 1\n")
    (deb / "patches" / "subdir" / "add-header.patch").write_text(
        _diff(None, header, "/dev/null", "b/src/new.h")
    )
    (deb / "patches" / "series").write_text(
        "# applied in this order\n"
        "fix-return.patch\n"
        "\n"
        f"p0-readme.patch{' -p0' if p0 else ''}\n"
        "subdir/add-header.patch  # makes a new file\n"
    )
    debian_tar = out / "demo_1.0-1.debian.tar.xz"
    subprocess.run(["tar", "-cJf", str(debian_tar), "-C", str(deb.parent), "debian"], check=True)
    return _write_dsc(out, "3.0 (quilt)", "1.0-1", [orig, component, debian_tar])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_signed_dsc_is_read_without_gpg(tmp_path: Path) -> None:
    dsc_path = make_package(tmp_path)
    text = dsc_path.read_text()
    dsc = parse_dsc(text, dsc_path.name)
    assert (dsc.source, dsc.version, dsc.format) == ("demo", "1.0-1", "3.0 (quilt)")
    assert dsc.upstream_version == "1.0"
    assert [f.name for f in dsc.files] == [
        "demo_1.0.orig.tar.gz",
        "demo_1.0.orig-extra.tar.gz",
        "demo_1.0-1.debian.tar.xz",
    ]
    orig = dsc_path.parent / "demo_1.0.orig.tar.gz"
    assert dsc.files[0].sha256 == _sha(orig)
    assert dsc.files[0].size == orig.stat().st_size
    # The signed text is the same paragraph as the unsigned one.
    assert parse_dsc(strip_signature(text), "x") == dsc
    assert "PGP" not in strip_signature(text)


def test_dash_escaped_lines_are_unescaped() -> None:
    signed = (
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSource: x\n- -dashed\n"
        "-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n"
    )
    assert strip_signature(signed) == "Source: x\n-dashed\n"


def test_a_dsc_without_sha256_checksums_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no Checksums-Sha256 field"):
        parse_dsc("Format: 3.0 (quilt)\nSource: x\nVersion: 1-1\n", "x.dsc")


def test_parse_series_reads_comments_options_and_refuses_the_unknown() -> None:
    entries = parse_series("# c\n\na.patch\nb.patch -p0\nc.patch # note\n", "series")
    assert [(e.name, e.strip) for e in entries] == [("a.patch", 1), ("b.patch", 0), ("c.patch", 1)]
    with pytest.raises(SourceError, match="'-R'"):
        parse_series("a.patch -R\n", "series")


def test_fetch_verifies_every_file_and_records_the_series(tmp_path: Path) -> None:
    dsc = make_package(tmp_path)
    cache = tmp_path / "cache"
    source = fetch(SourceRequest("demo", str(dsc)), cache_dir=cache)
    assert source.kind == "dsc"
    assert source.digest == f"sha256:{_sha(dsc)}"
    assert source.path == cache / "sources" / "dsc" / _sha(dsc)
    patches = tmp_path / "work" / "pkgdir" / "debian" / "patches"
    assert source.distro_patches == (
        ("fix-return.patch", _sha(patches / "fix-return.patch")),
        ("p0-readme.patch", _sha(patches / "p0-readme.patch")),
        ("subdir/add-header.patch", _sha(patches / "subdir" / "add-header.patch")),
    )
    assert source.version == "1.0"
    assert "3 distribution patches" in source.description
    record = source.provenance()
    assert record["distro_patches"][2] == {
        "name": "subdir/add-header.patch",
        "sha256": _sha(patches / "subdir" / "add-header.patch"),
    }
    # Cached whole: the original files are no longer needed.
    for f in dsc.parent.glob("*.tar.*"):
        f.unlink()
    assert fetch(SourceRequest("demo", str(dsc)), cache_dir=cache) == source


@pytest.mark.programs
def test_materialize_unpacks_all_tarballs_and_applies_the_series(tmp_path: Path) -> None:
    dsc = make_package(tmp_path)
    source = fetch(SourceRequest("demo", str(dsc)), cache_dir=tmp_path / "cache")
    tree = tmp_path / "tree"
    materialize(source, tree)
    main = (tree / "src" / "main.c").read_text()
    assert "return 0" in main
    assert main != MAIN_C
    assert (tree / "README").read_text() == "demo\npatched text\n"  # the -p0 patch
    assert (tree / "src" / "new.h").read_text() == "#define DEMO_PATCHED 1\n"  # a new file
    assert (tree / "extra" / "data.txt").read_text() == "component data\n"
    assert (tree / "debian" / "rules").read_text().startswith("#!/usr/bin/make -f")
    assert os.access(tree / "configure", os.X_OK)
    leftovers = [p.name for p in tree.rglob("*") if p.suffix in (".orig", ".rej")]
    assert leftovers == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []


@pytest.mark.skipif(shutil.which("dpkg-source") is None, reason="needs dpkg-source (dpkg-dev)")
@pytest.mark.programs
def test_the_tree_is_the_one_debians_own_unpacker_makes(tmp_path: Path) -> None:
    dsc = make_package(tmp_path, p0=False)
    source = fetch(SourceRequest("demo", str(dsc)), cache_dir=tmp_path / "cache")
    ours = tmp_path / "ours"
    materialize(source, ours)
    theirs = tmp_path / "theirs"
    subprocess.run(
        ["dpkg-source", "--no-check", "-x", str(dsc), str(theirs)],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    assert _snapshot(ours) == _snapshot(theirs)


def _snapshot(root: Path) -> dict[str, tuple[bool, bytes]]:
    out = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if rel.parts[0] == ".pc" or not p.is_file():  # .pc is quilt's bookkeeping
            continue
        out[str(rel)] = (os.access(p, os.X_OK), p.read_bytes())
    return out


def test_a_missing_file_is_named_with_the_apt_get_command(tmp_path: Path) -> None:
    dsc = make_package(tmp_path)
    (dsc.parent / "demo_1.0-1.debian.tar.xz").unlink()
    with pytest.raises(SourceError) as err:
        fetch(SourceRequest("demo", str(dsc)), cache_dir=tmp_path / "cache")
    assert "demo_1.0-1.debian.tar.xz" in err.value.message
    assert "apt-get source --download-only demo=1.0-1" in err.value.hint
    assert not (tmp_path / "cache" / "sources" / "dsc").exists()


@pytest.mark.parametrize("damage", ["flip-a-byte", "truncate"])
def test_a_damaged_file_is_refused(tmp_path: Path, damage: str) -> None:
    dsc = make_package(tmp_path)
    orig = dsc.parent / "demo_1.0.orig.tar.gz"
    data = bytearray(orig.read_bytes())
    if damage == "flip-a-byte":
        data[len(data) // 2] ^= 0xFF
        expected = "sha256 is"
    else:
        data = data[:-10]
        expected = f"is {len(data)} bytes, demo_1.0-1.dsc says {len(data) + 10}"
    orig.write_bytes(bytes(data))
    with pytest.raises(SourceError, match=expected):
        fetch(SourceRequest("demo", str(dsc)), cache_dir=tmp_path / "cache")


@pytest.mark.programs
def test_a_patch_that_does_not_apply_is_named_with_its_file(tmp_path: Path) -> None:
    dsc = make_package(tmp_path, bad_patch=True)
    source = fetch(SourceRequest("demo", str(dsc)), cache_dir=tmp_path / "cache")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SourceError) as err:
        materialize(source, out / "tree")
    assert "fix-return.patch" in err.value.message
    assert "src/main.c" in err.value.message
    assert "FAILED" in err.value.message
    assert list(out.iterdir()) == []


def test_a_native_package_is_one_tarball(tmp_path: Path) -> None:
    up = _upstream(tmp_path / "work")
    out = tmp_path / "pkg"
    out.mkdir()
    tarball = out / "demo_1.0.tar.xz"
    subprocess.run(["tar", "-cJf", str(tarball), "-C", str(up.parent), up.name], check=True)
    dsc = _write_dsc(out, "3.0 (native)", "1.0", [tarball])
    source = fetch(SourceRequest("demo", str(dsc)), cache_dir=tmp_path / "cache")
    assert source.distro_patches == ()
    materialize(source, tmp_path / "tree")
    assert (tmp_path / "tree" / "src" / "main.c").read_text() == MAIN_C
    assert (tmp_path / "tree" / "debian" / "rules").is_file()
