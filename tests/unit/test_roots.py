"""Roots: apt sources parsing, package sets, the record, bind specs, running inside a root, and
every way `root create` refuses or fails before or during debootstrap, leaving nothing behind.

Running inside a root is tested on a tiny root made of the host's own /usr bound in (no
debootstrap, milliseconds); the real trixie root is in tests/integration/test_roots.py.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from torchbuild.__main__ import main
from torchbuild.errors import EXIT_USAGE, InputError, NetworkError, ToolchainError
from torchbuild.roots import aptsources, create, marker, mounts, packagesets
from torchbuild.roots.aptsources import (
    debian_mirror,
    host_mirror,
    is_debian_archive,
    parse_deb822,
    parse_one_line,
)
from torchbuild.roots.inside import Bind, parse_bind, run_inside

if TYPE_CHECKING:
    from collections.abc import Iterator


DATA = Path(__file__).resolve().parents[1] / "data"
needs_superuser = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount namespaces)")

# Shaped like a Debian 12 cloud image's apt configuration, hosts replaced by example names.
DEB822_DEBIAN = """\
Types: deb
# http://snapshot.example.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.example.org/archive/debian-security/20250520T000000Z
URIs: http://mirror.example.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

DEB822_MIXED = """\
# a whole-line comment before the first stanza

Types: deb-src deb
URIs: https://a.example.net/debian/ https://b.example.net/debian/
Suites: trixie sid
Components: main contrib non-free-firmware
Architectures: amd64 arm64
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL0BUBEADmW5NlOJz1
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb
Enabled: no
URIs: http://disabled.example.net/debian
Suites: trixie
Components: main

types: deb
uris: http://lower.example.net/debian
suites: trixie
components: main
"""

ONE_LINE = """\
# deb http://commented.example.org/debian bookworm main
deb-src http://src.example.org/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/repo.gpg] https://repo.example.com/apt stable main
deb [ arch=amd64,arm64 trusted=yes ] http://mirror.example.org/debian/ bookworm main contrib  # trailing comment
deb cdrom:[Debian GNU/Linux 12]/ bookworm main
deb http://broken.example.org/debian
"""


# --- apt sources --------------------------------------------------------------------------


def test_deb822_stanzas_expand_to_one_entry_per_uri_and_suite() -> None:
    entries = parse_deb822(DEB822_DEBIAN, "debian.sources")
    assert [(e.kind, e.uri, e.suite) for e in entries] == [
        ("deb", "http://mirror.example.org/debian", "bookworm"),
        ("deb", "http://mirror.example.org/debian", "bookworm-updates"),
        ("deb", "http://mirror.example.org/debian-security", "bookworm-security"),
    ]
    assert entries[0].components == ("main",)
    assert entries[0].option("Signed-By") == "/usr/share/keyrings/debian-archive-keyring.gpg"
    # The comment between Types and URIs neither ends the stanza nor becomes a field.
    assert entries[0].origin == "debian.sources:1"
    assert entries[2].origin == "debian.sources:8"


def test_deb822_types_multiline_fields_disabled_and_lower_case_names() -> None:
    entries = parse_deb822(DEB822_MIXED, "mixed.sources")
    assert [(e.kind, e.uri, e.suite) for e in entries] == [
        ("deb-src", "https://a.example.net/debian/", "trixie"),
        ("deb-src", "https://a.example.net/debian/", "sid"),
        ("deb-src", "https://b.example.net/debian/", "trixie"),
        ("deb-src", "https://b.example.net/debian/", "sid"),
        ("deb", "https://a.example.net/debian/", "trixie"),
        ("deb", "https://a.example.net/debian/", "sid"),
        ("deb", "https://b.example.net/debian/", "trixie"),
        ("deb", "https://b.example.net/debian/", "sid"),
        ("deb", "http://lower.example.net/debian", "trixie"),
    ]
    first = entries[0]
    assert first.components == ("main", "contrib", "non-free-firmware")
    assert first.option("architectures") == "amd64 arm64"
    key = first.option("signed-by")
    assert key is not None
    assert key.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert key.endswith("-----END PGP PUBLIC KEY BLOCK-----")


def test_one_line_format_with_options_comments_and_junk() -> None:
    entries = parse_one_line(ONE_LINE, "sources.list")
    assert [(e.kind, e.uri, e.suite, e.components) for e in entries] == [
        ("deb-src", "http://src.example.org/debian", "bookworm", ("main",)),
        ("deb", "https://repo.example.com/apt", "stable", ("main",)),
        ("deb", "http://mirror.example.org/debian/", "bookworm", ("main", "contrib")),
        ("deb", "cdrom:[Debian", "GNU/Linux", ("12]/", "bookworm", "main")),
    ]
    assert entries[1].option("signed-by") == "/usr/share/keyrings/repo.gpg"
    assert entries[2].option("arch") == "amd64,arm64"
    assert entries[2].option("trusted") == "yes"
    assert entries[2].origin == "sources.list:4"


@pytest.mark.parametrize(
    ("uri", "kind", "expected"),
    [
        ("http://mirror.example.org/debian", "deb", True),
        ("https://mirror.example.org/debian/", "deb", True),
        ("http://snapshot.example.org/archive/debian/20250520T000000Z/", "deb", True),
        ("http://proxy.example.org:3142/debian", "deb", True),
        ("file:/srv/mirror/debian", "deb", True),
        ("http://mirror.example.org/debian", "deb-src", False),
        ("http://mirror.example.org/debian-security", "deb", False),
        ("https://repo.example.com/apt", "deb", False),
        ("http://ports.example.org/ubuntu-ports", "deb", False),
        ("cdrom:[Debian]/debian", "deb", False),
        ("mirror+file:/etc/apt/mirrors/debian.list", "deb", False),
    ],
)
def test_what_counts_as_a_debian_archive(uri: str, kind: str, expected: bool) -> None:
    source = aptsources.AptSource(kind, uri, "trixie", ("main",), (), "t")
    assert is_debian_archive(source) is expected


def test_mirror_is_the_first_debian_deb_entry_in_apt_reading_order(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    # sources.list is read first, and holds only a deb-src and a third-party repository.
    (tmp_path / "sources.list").write_text(
        "deb-src http://src.example.org/debian bookworm main\n"
        "deb https://repo.example.com/apt stable main\n"
    )
    (tmp_path / "sources.list.d" / "zz-other.sources").write_text(
        "Types: deb\nURIs: http://late.example.org/debian\nSuites: trixie\nComponents: main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822_DEBIAN)
    (tmp_path / "sources.list.d" / "node.list.disabled").write_text(
        "deb http://ignored.example.org/debian bookworm main\n"
    )
    assert host_mirror(tmp_path) == "http://mirror.example.org/debian"


def test_no_debian_archive_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "deb https://repo.example.com/apt stable main\n"
        "deb http://mirror.example.org/debian-security bookworm-security main\n"
    )
    with pytest.raises(InputError) as info:
        host_mirror(tmp_path)
    assert "no Debian archive among the 2 apt source entries" in info.value.message
    assert "--mirror URL" in info.value.hint
    with pytest.raises(InputError):
        debian_mirror([])


def test_this_machines_mirror_is_read_when_it_has_one() -> None:
    sources = aptsources.read_apt_sources()
    if not any(is_debian_archive(s) for s in sources):
        pytest.skip("this machine's apt has no Debian archive")
    mirror = host_mirror()
    assert mirror.startswith(("http://", "https://", "ftp://", "file:"))
    assert "debian" in mirror.split("/")


# --- package sets -------------------------------------------------------------------------

TORCH_BUILD = [
    "cmake",
    "ninja-build",
    "g++",
    "python3-dev",
    "python3-venv",
    "python3-pip",
    "python3-numpy",
    "python3-yaml",
    "python3-setuptools",
    "python3-typing-extensions",
    "pybind11-dev",
    "libsleef-dev",
    "libfmt-dev",
    "libcpuinfo-dev",
    "libpthreadpool-dev",
    "libfp16-dev",
    "libfxdiv-dev",
    "libpsimd-dev",
    "libprotobuf-dev",
    "protobuf-compiler",
    "libonnx-dev",
    "libeigen3-dev",
    "libopenblas-dev",
    "nlohmann-json3-dev",
    "libxnnpack-dev",
    "libcpp-httplib-dev",
    "libflatbuffers-dev",
    "flatbuffers-compiler-dev",
    "libzstd-dev",
    "libnuma-dev",
    "quilt",
    "patch",
]


def test_bundled_package_sets() -> None:
    sets = packagesets.package_sets()
    assert sorted(sets["torch-build"].packages) == sorted(TORCH_BUILD)
    assert len(set(sets["torch-build"].packages)) == len(sets["torch-build"].packages)
    assert set(sets["python-build"].packages) == {
        "g++",
        "cmake",
        "ninja-build",
        "python3-dev",
        "python3-venv",
        "python3-pip",
        "patch",
    }
    assert all(s.description for s in sets.values())


def test_select_expands_sets_keeps_order_and_drops_repeats() -> None:
    chosen = packagesets.select(["python-build", "vim,g++ libfoo1:arm64", "python-build"])
    assert chosen.sets == ("python-build",)
    assert chosen.packages[:7] == packagesets.package_sets()["python-build"].packages
    assert chosen.packages[7:] == ("vim", "libfoo1:arm64")


@pytest.mark.parametrize("word", ["Torch-Build", "-y", "pkg;rm", "a"])
def test_select_refuses_what_is_neither_set_nor_package(word: str) -> None:
    with pytest.raises(InputError) as info:
        packagesets.select([word])
    assert "torch-build" in info.value.hint


# --- the record ---------------------------------------------------------------------------


def _info() -> marker.RootInfo:
    return marker.RootInfo(
        dist="trixie",
        arch="arm64",
        host_arch="amd64",
        mirror="http://mirror.example.org/debian",
        variant="minbase",
        package_sets=("python-build",),
        packages=("g++", "cmake"),
        created="2026-01-02T03:04:05+00:00",
        created_by="torchbuild 0.1.0",
        timings=(("debootstrap", 41.04), ("packages", 80.0)),
    )


def test_record_round_trip_and_update(tmp_path: Path) -> None:
    marker.write_marker(tmp_path, _info())
    assert [p.name for p in tmp_path.iterdir()] == [marker.MARKER]
    back = marker.read_marker(tmp_path)
    assert back.foreign
    assert back.timings == (("debootstrap", 41.0), ("packages", 80.0))
    more = marker.add_packages(back, ["torch-build"], ["cmake", "libfmt-dev"])
    assert more.packages == ("g++", "cmake", "libfmt-dev")
    assert more.package_sets == ("python-build", "torch-build")
    assert more.updated is not None


def test_record_missing_or_broken(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a root made by torchbuild"):
        marker.read_marker(tmp_path)
    (tmp_path / marker.MARKER).write_text("{not json")
    with pytest.raises(InputError, match="unreadable"):
        marker.read_marker(tmp_path)


def test_root_show_and_sets_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker.write_marker(tmp_path, _info())
    assert main(["root", "show", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == 1
    assert data["root"] == str(tmp_path)
    assert (data["dist"], data["arch"], data["foreign"]) == ("trixie", "arm64", True)
    assert data["timings"] == {"debootstrap": 41.0, "packages": 80.0}
    assert data["self_install"] is None
    assert main(["root", "show", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "arm64 (emulated on amd64)" in text
    assert "debootstrap 41 s" in text
    assert main(["root", "show", str(tmp_path / "nothing")]) == 3
    assert "not a root made by torchbuild" in capsys.readouterr().err
    assert main(["root", "sets", "--json"]) == 0
    names = [s["name"] for s in json.loads(capsys.readouterr().out)["sets"]]
    assert {"torch-build", "python-build"} <= set(names)


# --- mounts -------------------------------------------------------------------------------

MOUNTINFO = """\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
61 22 0:5 / /tmp/r/proc rw,relatime - proc proc rw
62 22 0:6 / /tmp/r/with\\040space rw,relatime - tmpfs tmpfs rw
63 22 0:7 / /tmp/rr rw,relatime - tmpfs tmpfs rw
"""


def test_mounts_under_reads_mountinfo(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    assert mounts.mounts_under(Path("/tmp/r"), info) == [
        Path("/tmp/r/proc"),
        Path("/tmp/r/with space"),
    ]
    assert mounts.mounts_under(Path("/tmp/nothing"), info) == []


def test_remove_tree_refuses_a_tree_with_a_mount_inside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "root"
    (victim / "proc").mkdir(parents=True)
    info = tmp_path / "mountinfo"
    info.write_text(f"61 22 0:5 / {victim}/proc rw - proc proc rw\n")
    monkeypatch.setattr(mounts, "MOUNTINFO", info)
    with pytest.raises(InputError, match="mounted inside it"):
        mounts.remove_tree(victim)
    assert (victim / "proc").is_dir()
    info.write_text("")
    mounts.remove_tree(victim)
    assert not victim.exists()


# --- running inside a root ----------------------------------------------------------------


def test_parse_bind() -> None:
    here = Path.cwd()
    assert parse_bind(".") == Bind(here, str(here), read_only=False)
    assert parse_bind(f"{here}:/src") == Bind(here, "/src", read_only=False)
    assert parse_bind(f"{here}:/src/:ro") == Bind(here, "/src", read_only=True)
    assert parse_bind(f"{here}:ro") == Bind(here, str(here), read_only=True)
    for bad in ("/no/such/dir:/x", f"{here}:relative", ":/x", f"{here}:/a:/b"):
        with pytest.raises(InputError):
            parse_bind(bad)


@pytest.fixture
def tiny_root(tmp_path: Path) -> Iterator[Path]:
    """A root whose programs are the host's: /usr is bound in, the rest is empty directories."""
    top = tmp_path / "tiny"
    for name in ("usr", "etc", "tmp", "work"):
        (top / name).mkdir(parents=True)
    for name in ("bin", "lib", "lib64", "sbin"):
        if Path("/", name).is_symlink():
            (top / name).symlink_to(os.readlink(Path("/", name)))
    (top / "etc" / "resolv.conf").write_text("# the root's own stale copy\n")
    yield top
    assert mounts.mounts_under(top) == [], "a mount outlived the command"


def _run_tiny(
    root: Path,
    script: str,
    binds: tuple[Bind, ...] = (),
    env: dict[str, str] | None = None,
    cwd: str = "/",
) -> tuple[int, str, str]:
    usr = Bind(Path("/usr"), "/usr", read_only=True)
    done = run_inside(root, ["sh", "-c", script], binds=(usr, *binds), env=env, cwd=cwd, timeout=60)
    return done.returncode, done.stdout, done.stderr


@needs_superuser
@pytest.mark.programs
def test_run_inside_mounts_and_passes_exit_status(tiny_root: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "input.txt").write_text("from the host\n")
    code, out, err = _run_tiny(
        tiny_root,
        "cat /data/input.txt; echo made > /data/output.txt; pwd; echo $MAX_JOBS $HOME; "
        "test -e /proc/self/status && echo proc; test -c /dev/null && echo dev; "
        "test -d /dev/pts && echo pts; test -d /sys/kernel && echo sys; "
        "grep -q stale /etc/resolv.conf || echo resolv; "
        "touch /usr/torchbuild-test 2>/dev/null || echo usr-read-only; exit 3",
        binds=(Bind(shared, "/data"),),
        env={"MAX_JOBS": "2"},
        cwd="/work",
    )
    assert code == 3, err
    assert out.split("\n")[:-1] == [
        "from the host",
        "/work",
        "2 /root",
        "proc",
        "dev",
        "pts",
        "sys",
        *(["resolv"] if Path("/etc/resolv.conf").exists() else []),
        "usr-read-only",
    ]
    assert (shared / "output.txt").read_text() == "made\n"
    # The root's own resolv.conf is untouched: the host's was mounted over it, not copied.
    assert (tiny_root / "etc" / "resolv.conf").read_text() == "# the root's own stale copy\n"
    assert (tiny_root / "data").is_dir()
    assert not (tiny_root / "data" / "input.txt").exists()


@needs_superuser
@pytest.mark.programs
def test_run_inside_does_not_leak_the_host_environment(
    tiny_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCHBUILD_SECRET_TEST", "host-only")
    code, out, _ = _run_tiny(tiny_root, "env")
    assert code == 0
    names = {line.split("=", 1)[0] for line in out.splitlines()}
    assert "TORCHBUILD_SECRET_TEST" not in names
    assert {"PATH", "HOME", "LANG"} <= names


@needs_superuser
@pytest.mark.programs
def test_root_run_command_passes_the_exit_status(
    tiny_root: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # The command writes to this process's terminal itself (file descriptors, hence capfd).
    args = ["root", "run", str(tiny_root), "--bind", "/usr:/usr:ro", "--env", "X=1", "--"]
    assert main([*args, "sh", "-c", 'echo "$X $0 $1"; exit 42', "-c", "--bind"]) == 42
    assert capfd.readouterr().out == "1 -c --bind\n"
    assert main([*args, "no-such-program"]) == 127
    assert "no-such-program" in capfd.readouterr().err
    assert main(["root", "run", str(tiny_root), "--env", "novalue", "--", "true"]) == EXIT_USAGE


@needs_superuser
def test_run_inside_refuses_a_symlink_on_the_mount_path(tiny_root: Path) -> None:
    (tiny_root / "escape").symlink_to("/tmp")
    with pytest.raises(InputError, match="is a symlink"):
        _run_tiny(tiny_root, "true", binds=(Bind(Path("/usr"), "/escape/usr"),))


def test_run_inside_refuses_a_directory_that_is_no_root(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        with pytest.raises(ToolchainError, match="root privileges"):
            run_inside(tmp_path, ["true"])
        return
    with pytest.raises(InputError, match="does not look like a root"):
        run_inside(tmp_path, ["true"])


# --- root create: refusals and failures ---------------------------------------------------


def _nothing_left(target: Path) -> None:
    assert not target.exists()
    assert list(target.parent.glob(f"{target.name}.partial-*")) == []


@pytest.fixture
def debootstrap_scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """debootstrap's scripts directory as Debian 12 ships it (recorded names, empty files), so
    these tests do not depend on the host having debootstrap."""
    names = (DATA / "roots" / "debootstrap-scripts.txt").read_text().split("\n")
    scripts = tmp_path / "debootstrap" / "scripts"
    scripts.mkdir(parents=True)
    for name in names:
        if name and not name.startswith("#"):
            (scripts / name).write_text("")
    monkeypatch.setenv("DEBOOTSTRAP_DIR", str(scripts.parent))
    return scripts


@pytest.mark.usefixtures("debootstrap_scripts")
def test_create_refuses_an_existing_directory_unknown_dist_and_bad_packages(
    tmp_path: Path,
) -> None:
    with pytest.raises(InputError, match="already exists"):
        create.create_root("trixie", tmp_path)
    target = tmp_path / "root"
    with pytest.raises(InputError, match="does not know the distribution 'no-such-dist'"):
        create.create_root("no-such-dist", target)
    with pytest.raises(InputError, match="neither a package set"):
        create.create_root("trixie", target, packages=["Not_A_Package"])
    _nothing_left(target)


@pytest.mark.usefixtures("debootstrap_scripts")
def test_create_needs_root_privileges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    target = tmp_path / "root"
    with pytest.raises(ToolchainError, match="needs root privileges") as info:
        create.create_root("trixie", target)
    assert "sudo" in info.value.hint
    _nothing_left(target)


@pytest.mark.usefixtures("debootstrap_scripts")
def test_create_without_debootstrap_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    target = tmp_path / "root"
    with pytest.raises(ToolchainError, match="debootstrap is not installed") as info:
        create.create_root("trixie", target)
    assert info.value.hint == "apt-get install debootstrap"
    _nothing_left(target)


@needs_superuser
def test_create_for_another_arch_needs_a_binfmt_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("debootstrap") is None or shutil.which("qemu-aarch64-static") is None:
        pytest.skip("needs debootstrap and qemu-user-static")
    monkeypatch.setattr(create, "BINFMT", tmp_path / "binfmt_misc")
    monkeypatch.setattr(create, "host_arch", lambda: "amd64")
    target = tmp_path / "root"
    with pytest.raises(ToolchainError, match="no binfmt_misc handler for arm64") as info:
        create.create_root("trixie", target, arch="arm64", mirror="http://127.0.0.1:9/debian")
    assert "update-binfmts --enable qemu-aarch64" in info.value.hint
    _nothing_left(target)


@needs_superuser
@pytest.mark.programs
def test_failed_debootstrap_leaves_nothing_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if shutil.which("debootstrap") is None:
        pytest.skip("needs debootstrap")
    target = tmp_path / "root"
    logs = tmp_path / "logs"
    logs.mkdir()
    # Nothing listens on the discard port: debootstrap fails at its first download, in a second.
    with pytest.raises(NetworkError, match="Failed getting release file") as info:
        create.create_root(
            "trixie", target, mirror="http://127.0.0.1:9/debian", packages=["python3"], log_dir=logs
        )
    _nothing_left(target)
    (log,) = logs.iterdir()
    assert str(log) in info.value.hint
    assert "--variant=minbase" in log.read_text()
    # The same through the command line: one error line, one hint line, the network exit code.
    code = main(["root", "create", "trixie", str(target), "--mirror", "http://127.0.0.1:9/debian"])
    assert code == 11
    err = capsys.readouterr().err
    assert "error: debootstrap could not fetch from http://127.0.0.1:9/debian" in err
    _nothing_left(target)
    Path(err.split("full log: ")[1].split()[0]).unlink()


def test_the_hosts_added_certificate_authorities_are_copied_into_a_root(tmp_path: Path) -> None:
    from torchbuild.roots.create import trust_host_certificates

    local = tmp_path / "local-cas"
    (local / "corp").mkdir(parents=True)
    (local / "proxy.crt").write_text("-----BEGIN CERTIFICATE-----\nproxy\n")
    (local / "corp" / "inner.crt").write_text("-----BEGIN CERTIFICATE-----\ninner\n")
    (local / "README").write_text("not a certificate")
    root = tmp_path / "root"
    (root / "usr").mkdir(parents=True)
    log = io.StringIO()
    # No update-ca-certificates in this root: the files are placed, nothing is run.
    assert trust_host_certificates(root, log, local) == 2
    dest = root / "usr/local/share/ca-certificates"
    assert (dest / "proxy.crt").read_text().endswith("proxy\n")
    assert (dest / "corp" / "inner.crt").is_file()
    assert not (dest / "README").exists()
    assert trust_host_certificates(root, log, tmp_path / "none") == 0
