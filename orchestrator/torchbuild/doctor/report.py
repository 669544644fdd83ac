"""What the doctor found: findings, what pip would install, the way out; and its JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..resolve import variants
from ..target import to_json

if TYPE_CHECKING:
    from packaging.version import Version

    from ..resolve.candidates import Candidate
    from ..resolve.indexes import Listing
    from ..target import Target
    from ..wheelhouse.config import InstallConfig

__all__ = ["JSON_VERSION", "Finding", "Outcome", "Report", "Severity", "report_json"]

JSON_VERSION = 1

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    code: str
    #: "error": pip install fails or gives a set that does not work.
    severity: Severity
    what: str
    evidence: str
    fix: str
    newest_fitting: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "what": self.what,
            "evidence": self.evidence,
            "fix": self.fix,
            "newest_fitting": self.newest_fitting,
        }


@dataclass(frozen=True)
class Outcome:
    """What ``pip install <package>`` would do on the target, and whether the result works."""

    name: str
    version: Version | None  # None: pip finds no installable version
    wheel: Candidate | None
    works: bool
    why: str = ""
    newest_fitting: Version | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": None if self.version is None else str(self.version),
            "wheel": None if self.wheel is None else self.wheel.choice().to_json(),
            "variant": None if self.wheel is None else self.wheel.variant.short(),
            "works": self.works,
            "why": self.why,
            "newest_fitting": None if self.newest_fitting is None else str(self.newest_fitting),
        }


@dataclass(frozen=True)
class Report:
    target: Target
    need: variants.Need | None
    findings: tuple[Finding, ...]
    outcomes: tuple[Outcome, ...]
    listings: tuple[Listing, ...] = field(default=())
    #: How to install the newest set that fits, file by file (pinned by hash, routed per
    #: package): None when pip install already works or nothing fits.
    install: InstallConfig | None = None

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)


def report_json(report: Report) -> dict[str, Any]:
    return {
        "version": JSON_VERSION,
        "target": to_json(report.target),
        "ok": report.ok,
        "need": None if report.need is None else variants.describe_need(report.need),
        "pip_would_install": [o.to_json() for o in report.outcomes],
        "findings": [f.to_json() for f in report.findings],
        "install": None if report.install is None else _install_json(report.install),
    }


def _install_json(config: InstallConfig) -> dict[str, Any]:
    return {
        "routes": [r.to_json() for r in config.routes],
        "commands": dict(config.commands),
        "files": dict(config.files),
        "notes": list(config.notes),
    }
