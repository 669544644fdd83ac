"""The torch already installed in an interpreter of this machine.

Two probes, both run in the interpreter itself: one reads torch's ``version.py`` without importing
torch (fast, and safe when the import would crash), the other imports it and asks about CUDA.
``version.py`` is parsed here, as data (:func:`version_py_facts`), the same way for an
interpreter's torch and for a target's torch wheel unpacked for a cross build.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from .. import run

if TYPE_CHECKING:
    from ..target import Target

__all__ = [
    "InstalledTorch",
    "probe_installed_torch",
    "probe_runtime",
    "probe_torch_in",
    "version_py_facts",
]


@dataclass(frozen=True)
class InstalledTorch:
    """The torch in the target interpreter, read from its files (torch is not imported)."""

    version: Version
    cuda: str | None
    location: str | None = None


# Finds torch/version.py and prints its text; runs on old Pythons too (3.6 on JetPack 4).
_PROBE = r"""
import importlib.util, json, os
out = None
spec = importlib.util.find_spec("torch")
if spec is not None and spec.origin:
    where = os.path.dirname(spec.origin)
    text = ""
    try:
        with open(os.path.join(where, "version.py")) as fh:
            text = fh.read()
    except (IOError, OSError):
        pass
    out = {"version_py": text, "location": where}
print(json.dumps(out))
"""


def version_py_facts(text: str) -> tuple[str, str | None]:
    """``__version__`` and ``cuda`` from the text of torch/version.py, read as data (never
    run); ``("", None)`` for a file that does not parse."""
    found: dict[str, object] = {}
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return "", None
    for node in tree.body:
        target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
            found[target.id] = value.value
    version = found.get("__version__")
    cuda = found.get("cuda")
    return (str(version) if version else "", str(cuda) if cuda else None)


def probe_installed_torch(target: Target, timeout: float = 30.0) -> InstalledTorch | None:
    """The torch installed in the target's interpreter (this host only), or None."""
    if target.origin != "host" or target.python is None or not target.python.executable:
        return None
    return probe_torch_in(target.python.executable, timeout)


def probe_torch_in(python: str, timeout: float = 30.0) -> InstalledTorch | None:
    """The torch installed in the interpreter ``python`` on this machine, or None."""
    done = run.probe([python, "-c", _PROBE], timeout=timeout)
    if done is None or not done.ok:
        return None
    try:
        data = json.loads(done.stdout.strip().splitlines()[-1])
        if not data:
            return None
        version, cuda = version_py_facts(str(data.get("version_py") or ""))
        if not version:
            return None
        return InstalledTorch(Version(version), cuda, data.get("location"))
    except (ValueError, IndexError, InvalidVersion, AttributeError):
        return None


_RUNTIME = r"""
import json, warnings
out = {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        import torch
        out["version"] = torch.__version__
        out["cuda"] = torch.version.cuda
        out["available"] = bool(torch.cuda.is_available())
        out["archs"] = torch.cuda.get_arch_list() if out["available"] else []
    except Exception as exc:
        out["error"] = "%s: %s" % (type(exc).__name__, exc)
out["warnings"] = [str(w.message).splitlines()[0] for w in caught][:3]
print(json.dumps(out))
"""


def probe_runtime(target: Target, timeout: float) -> dict[str, Any] | None:
    """Import torch in the target's interpreter (this host only) and ask it about CUDA."""
    if target.origin != "host" or target.python is None or not target.python.executable:
        return None
    done = run.probe([target.python.executable, "-c", _RUNTIME], timeout=timeout)
    if done is None:
        return {"error": f"importing torch took longer than {timeout:g} s"}
    try:
        data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return data
