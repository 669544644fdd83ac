"""CUDA toolkit, driver, GPUs and cuDNN: parsers for the tools' real outputs, and the probes.

Real machines differ: nvcc is often not on PATH (JetPack), nvidia-smi is missing on JetPack 5,
prints ``N/A`` for the driver on JetPack 6.0, and newer drivers renamed its header fields
("KMD Version", "CUDA UMD Version"). Every parser accepts what was seen and returns None for
what it cannot read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from packaging.version import Version

from .. import resources, run
from ..target import Cuda, Gpu

if TYPE_CHECKING:
    from pathlib import Path

    from .fs import Root
    from .packages import Packages

__all__ = [
    "SmiHeader",
    "driver_cuda_for",
    "find_nvcc",
    "parse_cudnn_header",
    "parse_nvcc_version",
    "parse_nvidia_smi",
    "parse_nvidia_smi_list",
    "parse_query_gpu",
    "parse_version_json",
    "parse_version_txt",
]

_NUMERIC = re.compile(r"^\d+(?:\.\d+)+$")


def _numeric(value: str | None) -> str | None:
    """A dotted version, or None for N/A, redacted (XXX.XX) or empty fields."""
    if value is None:
        return None
    value = value.strip().strip("[]")
    return value if _NUMERIC.match(value) else None


def _major_minor(version: str | None) -> str | None:
    if not version:
        return None
    parts = version.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else None


# -- nvcc -------------------------------------------------------------------------------------

_NVCC = re.compile(r"release (\d+\.\d+),\s*V(\d+(?:\.\d+)*)")


def parse_nvcc_version(text: str) -> tuple[str, str] | None:
    """``nvcc --version`` -> (``"12.6"``, ``"12.6.68"``)."""
    m = _NVCC.search(text)
    return (m.group(1), m.group(2)) if m else None


def parse_version_json(text: str) -> str | None:
    """``/usr/local/cuda/version.json`` (CUDA >= 11.1) -> toolkit ``"12.6"``."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for key in ("cuda_nvcc", "cuda"):
        entry = data.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("version"), str):
            return _major_minor(entry["version"])
    return None


def parse_version_txt(text: str) -> str | None:
    """``/usr/local/cuda/version.txt`` (CUDA <= 11.0): ``CUDA Version 10.2.300``."""
    m = re.search(r"CUDA Version\s+(\d+\.\d+)", text)
    return m.group(1) if m else None


# -- nvidia-smi -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmiHeader:
    driver: str | None
    cuda: str | None
    gpus: tuple[str, ...]


_SMI_DRIVER = re.compile(r"(?:Driver|KMD) Version:\s*(\S+)")
_SMI_CUDA = re.compile(r"CUDA (?:UMD )?Version:\s*(\S+)")
# A GPU row of the table, e.g. "|   0  NVIDIA GeForce RTX 4070        Off |" on a desktop or
# "|   0  Orin (nvgpu)                  N/A  |" on a Jetson.
_SMI_ROW = re.compile(r"^\|\s+(\d+)\s+(.+?)\s{2,}(?:On|Off|N/A)\s+\|", re.MULTILINE)


def parse_nvidia_smi(text: str) -> SmiHeader | None:
    """The plain ``nvidia-smi`` table: driver, the CUDA it supports, and GPU names."""
    if "NVIDIA-SMI" not in text:
        return None
    driver = _SMI_DRIVER.search(text)
    cuda = _SMI_CUDA.search(text)
    return SmiHeader(
        _numeric(driver.group(1) if driver else None),
        _numeric(cuda.group(1) if cuda else None),
        tuple(m.group(2).strip() for m in _SMI_ROW.finditer(text)),
    )


def parse_query_gpu(text: str) -> list[dict[str, str | None]] | None:
    """``nvidia-smi --query-gpu=a,b --format=csv``: one dict per GPU, keys without units.

    None when the driver refused a field (``Field "compute_cap" is not a valid field to query``,
    drivers before 510).
    """
    if "not a valid field" in text:
        return None
    # Drop pasted prompts and trailing remarks; keep the CSV.
    lines = [
        re.sub(r"\s+#.*$", "", ln.strip())
        for ln in text.strip().splitlines()
        if ln.strip() and not ln.strip().startswith("$") and "nvidia-smi" not in ln
    ]
    if len(lines) < 1:
        return None
    header = [re.sub(r"\s*\[.*\]$", "", h.strip()) for h in lines[0].split(",")]
    rows: list[dict[str, str | None]] = []
    for line in lines[1:]:
        values = [v.strip() for v in line.split(",")]
        if len(values) != len(header):
            continue
        rows.append({h: (None if v in ("[N/A]", "N/A", "") else v) for h, v in zip(header, values)})
    return rows


def parse_nvidia_smi_list(text: str) -> list[str]:
    """``nvidia-smi -L``: ``GPU 0: Orin (nvgpu) (UUID: ...)`` -> names."""
    return [
        m.group(1).strip()
        for m in re.finditer(r"^GPU \d+:\s*(.+?)(?:\s+\(UUID:.*)?$", text, re.MULTILINE)
    ]


# -- cuDNN ------------------------------------------------------------------------------------


def parse_cudnn_header(text: str) -> str | None:
    """``cudnn_version.h`` (cuDNN >= 8) or ``cudnn.h`` (7): the three CUDNN_* defines."""
    found = {
        k: m.group(1)
        for k in ("MAJOR", "MINOR", "PATCHLEVEL")
        if (m := re.search(rf"#define\s+CUDNN_{k}\s+(\d+)", text))
    }
    if len(found) < 3:
        return None
    return f"{found['MAJOR']}.{found['MINOR']}.{found['PATCHLEVEL']}"


_CUDNN_LIB = re.compile(r"libcudnn\.so\.(\d+\.\d+\.\d+)$")


def _cudnn(
    root: Root, packages: Packages | None, multiarch: str | None, cuda_home: str
) -> str | None:
    include_dirs = ["/usr/include", f"{cuda_home}/include"]
    # Debian/Ubuntu packages put cuDNN headers under /usr/include/<multiarch triplet>/.
    triplets = [
        n for n in root.listdir("/usr/include") if n.endswith(("-linux-gnu", "-linux-gnueabihf"))
    ]
    if multiarch in triplets:
        triplets.remove(multiarch)
        triplets.insert(0, multiarch)
    include_dirs[1:1] = [f"/usr/include/{t}" for t in triplets]
    for directory in include_dirs:
        for name in ("cudnn_version.h", "cudnn_version_v9.h", "cudnn_version_v8.h", "cudnn.h"):
            text = root.read_text(f"{directory}/{name}")
            version = parse_cudnn_header(text) if text else None
            if version:
                return version
    lib_dirs = [f"{cuda_home}/lib64", "/usr/lib64", "/usr/lib"]
    if multiarch:
        lib_dirs.insert(0, f"/usr/lib/{multiarch}")
    for directory in lib_dirs:
        for name in root.listdir(directory):
            m = _CUDNN_LIB.match(name)
            if m:
                return m.group(1)
    if packages is not None:
        for _name, version in packages.matching(r"(lib)?cudnn\d*(-cuda-\d+)?"):
            return ".".join(version.split(".")[:3])  # 8.2.1.32 -> 8.2.1, as the header says
    return None


# -- driver -> CUDA ---------------------------------------------------------------------------


def driver_cuda_for(driver: str | None) -> str | None:
    """The newest CUDA a Linux driver supports, from the toolkit release table.

    Compared by driver branch (the first number): a 550.40 beta driver reports CUDA 12.4 in
    nvidia-smi although the 12.4 GA minimum is 550.54.14.
    """
    if not driver or not _NUMERIC.match(driver):
        return None
    branch = int(driver.split(".")[0])
    table: Mapping[str, str] = resources.table("cuda")["driver_minimum"]
    supported = [cuda for cuda, minimum in table.items() if branch >= int(minimum.split(".")[0])]
    return max(supported, key=Version) if supported else None


# -- probes -----------------------------------------------------------------------------------


def _toolkit_dirs(root: Root, env: Mapping[str, str]) -> list[str]:
    dirs = [d for d in (env.get("CUDA_HOME"), env.get("CUDA_PATH")) if d]
    dirs.append("/usr/local/cuda")
    versioned = [n for n in root.listdir("/usr/local") if re.fullmatch(r"cuda-\d+\.\d+", n)]
    versioned.sort(key=lambda n: Version(n[5:]), reverse=True)
    dirs += [f"/usr/local/{n}" for n in versioned]
    return dirs


def find_nvcc(
    root: Root, env: Mapping[str, str], search_path: bool
) -> tuple[str, Path | None] | None:
    """nvcc on PATH, else in CUDA_HOME or the usual install prefixes (JetPack keeps it off PATH).

    Returns the path as the target sees it, and the path this process can run it by.
    """
    if search_path:
        found = run.which("nvcc", env.get("PATH", ""))
        if found:
            return str(found), found
    for directory in _toolkit_dirs(root, env):
        if root.is_file(f"{directory}/bin/nvcc"):
            return f"{directory}/bin/nvcc", root.path(f"{directory}/bin/nvcc")
    return None


def _toolkit_from_files(root: Root, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    for directory in _toolkit_dirs(root, env):
        text = root.read_text(f"{directory}/version.json")
        version = parse_version_json(text) if text else None
        if version is None:
            text = root.read_text(f"{directory}/version.txt")
            version = parse_version_txt(text) if text else None
        if version is None:
            m = re.search(r"cuda-(\d+\.\d+)$", root.resolve(directory) or "")
            version = m.group(1) if m and root.is_file(f"{directory}/bin/nvcc") else None
        if version:
            return version, directory
    return None, None


@dataclass(frozen=True)
class CudaProbe:
    """Inputs to :func:`probe_cuda` that other probes found first."""

    jetson_soc: str | None
    jetson_driver_cuda: str | None


def jetson_gpu(soc: str | None, toolkit: str | None) -> Gpu | None:
    if not soc:
        return None
    info = resources.table("jetson")["soc"].get(soc)
    if not info:
        return None
    cc = info["compute_capability"]
    old = info.get("compute_capability_before_cuda_13")
    if old and toolkit and Version(toolkit) < Version("13.0"):
        cc = old
    return Gpu(info["gpu"], cc)


def probe_cuda(
    root: Root,
    env: Mapping[str, str],
    *,
    run_tools: bool,
    timeout: float,
    packages: Packages | None,
    multiarch: str | None,
    jetson: CudaProbe,
) -> Cuda | None:
    found = find_nvcc(root, env, search_path=run_tools)
    nvcc, executable = found or (None, None)
    toolkit = None
    if executable is not None and run_tools:
        out = run.probe([str(executable), "--version"], timeout=timeout, env=env)
        parsed = parse_nvcc_version(out.stdout) if out else None
        toolkit = parsed[0] if parsed else None
    file_toolkit, home = _toolkit_from_files(root, env)
    toolkit = toolkit or file_toolkit
    if toolkit is None and packages is not None:
        # cuda-nvcc-12-6 / cuda-toolkit-12-6 packages name the toolkit even without version.json.
        for name, _v in packages.matching(r"cuda-(nvcc|toolkit)-\d+-\d+"):
            toolkit = ".".join(name.rsplit("-", 2)[-2:])
            break

    driver = driver_cuda = None
    gpus: list[Gpu] = []
    if run_tools:
        driver, driver_cuda, gpus = _probe_smi(env, timeout)
    elif packages is not None:
        for _name, version in packages.matching(r"(nvidia-driver|libnvidia-compute)-\d+(-server)?"):
            driver = version
            break
    if driver_cuda is None:
        # Jetson drivers (540.x on JetPack 6) are numbered apart from desktop drivers: the
        # L4T release says what they support, the desktop table would understate it.
        driver_cuda = jetson.jetson_driver_cuda or driver_cuda_for(driver)
    if not gpus:
        gpu = jetson_gpu(jetson.jetson_soc, toolkit)
        gpus = [gpu] if gpu else []
    elif jetson.jetson_soc:
        # nvidia-smi on Jetson gives the name but not always the capability.
        soc_gpu = jetson_gpu(jetson.jetson_soc, toolkit)
        gpus = [
            g
            if g.compute_capability or soc_gpu is None
            else Gpu(g.name, soc_gpu.compute_capability)
            for g in gpus
        ]

    if toolkit is None and driver is None and driver_cuda is None and not gpus:
        return None
    cudnn = _cudnn(root, packages, multiarch, home or "/usr/local/cuda")
    return Cuda(toolkit, nvcc, driver, driver_cuda, tuple(gpus), cudnn)


def _probe_smi(env: Mapping[str, str], timeout: float) -> tuple[str | None, str | None, list[Gpu]]:
    smi = run.which("nvidia-smi", env.get("PATH", ""))
    if smi is None:
        return None, None, []
    out = run.probe([str(smi)], timeout=timeout, env=env)
    header = parse_nvidia_smi(out.stdout) if out else None
    driver = header.driver if header else None
    driver_cuda = header.cuda if header else None
    gpus: list[Gpu] = []
    query = run.probe(
        [str(smi), "--query-gpu=name,compute_cap,driver_version", "--format=csv"],
        timeout=timeout,
        env=env,
    )
    rows = parse_query_gpu(query.stdout + query.stderr) if query else None
    if rows:
        for row in rows:
            gpus.append(Gpu(row.get("name") or "unknown", _numeric(row.get("compute_cap"))))
            driver = driver or _numeric(row.get("driver_version"))
    elif header and header.gpus:
        gpus = [Gpu(name, None) for name in header.gpus]
    return driver, driver_cuda, gpus
