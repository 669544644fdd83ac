"""Wheel validation: what `index add` accepts and what it refuses, with a reason."""

from __future__ import annotations

import hashlib
import re
import zipfile

import pytest
from packaging.version import Version

from torchbuild.errors import InputError
from torchbuild.wheel import (
    read_metadata,
    record_digest,
    record_hash,
    requires_dist,
    shipped_sonames,
)
from torchbuild.wheelhouse import inspect_wheel, parse_name
from wheelfactory import make_wheel


def test_parse_name_facts():
    name = parse_name("torch-2.6.0+cu126.sm87-1-cp311-cp311-manylinux_2_28_aarch64.whl")
    assert name.project == "torch"
    assert name.version == Version("2.6.0+cu126.sm87")
    assert name.local == "cu126.sm87"
    assert name.build == (1, "")
    assert name.tag == "cp311-cp311-manylinux_2_28_aarch64"
    assert (name.python_tag, name.abi_tag, name.platform_tag) == (
        "cp311",
        "cp311",
        "manylinux_2_28_aarch64",
    )


@pytest.mark.parametrize(
    "filename",
    [
        "torch.whl",
        "torch-2.6.0.tar.gz",
        "torch-notaversion-py3-none-any.whl",
        "../x-1-py3-none-any.whl",
        ".x-1-py3-none-any.whl",
    ],
)
def test_parse_name_refuses(filename):
    with pytest.raises(InputError):
        parse_name(filename)


def test_good_wheel(tmp_path):
    wheel = make_wheel(tmp_path, "Demo.Pkg", "1.0+cpu", requires_python=">= 3.8,  <4")
    info = inspect_wheel(wheel)
    assert info.project == "demo-pkg"
    assert info.metadata_name == "Demo.Pkg"
    assert info.requires_python == ">= 3.8, <4"  # whitespace folded, text kept
    with zipfile.ZipFile(wheel) as archive:
        assert info.metadata == archive.read("demo_pkg-1.0+cpu.dist-info/METADATA")


def _rewrite(src, dest, *, drop=(), replace=None, add=None):
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dest, "w") as new:
        for item in old.infolist():
            if item.filename in drop:
                continue
            data = (replace or {}).get(item.filename, old.read(item.filename))
            new.writestr(item, data)
        for name, data in (add or {}).items():
            new.writestr(name, data)
    return dest


def test_not_a_zip(tmp_path):
    bad = tmp_path / "demo-1.0-py3-none-any.whl"
    bad.write_bytes(b"this is no zip")
    with pytest.raises(InputError, match="not a zip"):
        inspect_wheel(bad)


def test_truncated_zip(tmp_path):
    wheel = make_wheel(tmp_path / "src", "demo", "1.0", payload_size=50_000)
    cut = tmp_path / wheel.name
    cut.write_bytes(wheel.read_bytes()[: wheel.stat().st_size // 2])
    with pytest.raises(InputError, match="not a valid wheel"):
        inspect_wheel(cut)


def test_crc_damage_found(tmp_path):
    wheel = make_wheel(tmp_path / "src", "demo", "1.0", payload_size=4096)
    data = bytearray(wheel.read_bytes())
    offset = data.index(b"demo/payload.bin") + 200  # inside the stored (uncompressed) payload
    data[offset] ^= 0xFF
    damaged = tmp_path / wheel.name
    damaged.write_bytes(bytes(data))
    with pytest.raises(InputError, match="CRC"):
        inspect_wheel(damaged)
    inspect_wheel(damaged, check_crc=False)  # the build stage may skip the full read


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drop": ("demo-1.0.dist-info/METADATA",)}, "no \\*.dist-info/METADATA"),
        ({"drop": ("demo-1.0.dist-info/RECORD",)}, "RECORD is missing"),
        ({"drop": ("demo-1.0.dist-info/WHEEL",)}, "WHEEL is missing"),
        (
            {
                "replace": {
                    "demo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: other\nVersion: 1.0\n\n"
                }
            },
            "names project 'other'",
        ),
        (
            {
                "replace": {
                    "demo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.1\n\n"
                }
            },
            "says version '1.1'",
        ),
        (
            {"replace": {"demo-1.0.dist-info/METADATA": b"Name: demo\nVersion: 1.0\n\n"}},
            "lacks Metadata-Version",
        ),
        (
            {
                "replace": {
                    "demo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: demo\n"
                    b"Version: 1.0\nRequires-Python: >=3.8,,<>\n\n"
                }
            },
            "Requires-Python",
        ),
        ({"replace": {"demo-1.0.dist-info/WHEEL": b"Wheel-Version: 2.0\n"}}, "Wheel-Version"),
        ({"add": {"../evil.py": b"x"}}, "outside the archive"),
        ({"add": {"/etc/evil": b"x"}}, "outside the archive"),
        ({"add": {"other-2.0.dist-info/METADATA": b"x"}}, None),  # a second dist-info is ignored
    ],
)
def test_broken_wheels(tmp_path, change, message):
    wheel = make_wheel(tmp_path / "src", "demo", "1.0")
    broken = _rewrite(wheel, tmp_path / wheel.name, **change)
    if message is None:
        assert inspect_wheel(broken).project == "demo"
        return
    with pytest.raises(InputError, match=message):
        inspect_wheel(broken)


def test_error_names_the_users_file(tmp_path):
    bad = tmp_path / "copy.whl"
    bad.write_bytes(b"nope")
    with pytest.raises(InputError, match=re.escape("/my/download/demo-1.0")):
        inspect_wheel(
            bad,
            filename="demo-1.0-py3-none-any.whl",
            shown="/my/download/demo-1.0-py3-none-any.whl",
        )


def test_requires_dist_through_packaging_metadata(tmp_path):
    wheel = make_wheel(
        tmp_path,
        "demo",
        "1.0",
        requires_dist=[
            "torch",
            "numpy>=1.20",
            "pytest; extra == 'test'",
            "pillow; python_version >= '3'",
        ],
    )
    metadata = read_metadata(wheel)
    assert [r.name for r in requires_dist(metadata)] == ["torch", "numpy", "pytest", "pillow"]
    runtime = [str(r) for r in requires_dist(metadata, extras=False)]
    assert runtime == ["torch", "numpy>=1.20", 'pillow; python_version >= "3"']


def test_requires_dist_skips_what_does_not_parse():
    metadata = (
        b"Metadata-Version: 2.1\nName: a\nVersion: 1\nRequires-Dist: !!no\nRequires-Dist: b\n"
    )
    assert [r.name for r in requires_dist(metadata)] == ["b"]


def test_read_metadata_is_the_wheels_own(tmp_path):
    # A vendored package's dist-info inside the wheel is not the wheel's METADATA.
    other = b"Metadata-Version: 2.1\nName: vendored\nVersion: 9\n"
    wheel = make_wheel(
        tmp_path, "demo", "1.0", files={"_vendor/vendored-9.dist-info/METADATA": other}
    )
    assert b"Name: demo" in read_metadata(wheel)


def test_shipped_sonames(tmp_path):
    wheel = make_wheel(
        tmp_path,
        "demo",
        "1.0",
        files={
            "demo/lib/libdemo.so": b"\x7fELF",
            "demo.libs/libgomp-a34b3233.so.1.0.0": b"\x7fELF",
            "demo/_C.cpython-311-x86_64-linux-gnu.so": b"\x7fELF",
            "demo/notes.txt": b"not a library",
        },
    )
    assert shipped_sonames(wheel) == (
        "_C.cpython-311-x86_64-linux-gnu.so",
        "libdemo.so",
        "libgomp-a34b3233.so.1.0.0",
    )


def test_record_hash_matches_the_record_format(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"hello\n")
    # From sha256sum | base64 (urlsafe, unpadded), as pip writes RECORD.
    assert record_hash(path) == ("sha256=WJG1tSLV3whtD_CxEPvZ0hu0_HFjrzTQgoai6Eb2vgM", 6)
    with zipfile.ZipFile(make_wheel(tmp_path, "demo", "1.0")) as archive:
        record = archive.read("demo-1.0.dist-info/RECORD").decode().splitlines()
        member = next(line for line in record if line.startswith("demo-1.0.dist-info/METADATA"))
        data = archive.read("demo-1.0.dist-info/METADATA")
    digest = hashlib.sha256(data).hexdigest()
    assert member == f"demo-1.0.dist-info/METADATA,{record_digest(digest)},{len(data)}"
