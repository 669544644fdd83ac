"""The error classes torchbuild raises, each with its exit code and a next step for the user.

Only ``__main__`` turns these into output and exit codes; everything else raises. The codes are
part of the command-line contract and listed in the README.
"""

from __future__ import annotations

__all__ = [
    "EXIT_FINDINGS",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "BuildError",
    "InputError",
    "NetworkError",
    "RecipeError",
    "ResolveError",
    "SourceError",
    "ToolchainError",
    "TorchbuildError",
    "VerifyError",
    "WheelhouseError",
]

EXIT_OK = 0
#: A check ran and found problems (``doctor``, ``index verify``): not a crash, a verdict.
EXIT_FINDINGS = 1
#: The command line itself is wrong (unknown option, missing argument).
EXIT_USAGE = 2
#: A bug in torchbuild: an exception nobody expected.
EXIT_INTERNAL = 70
#: Ctrl-C.
EXIT_INTERRUPTED = 130


class TorchbuildError(Exception):
    """A failure the user can act on: a one-line message, a hint, and an exit code."""

    exit_code = 3
    default_hint = "run with --debug for the full traceback"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint


class InputError(TorchbuildError):
    """Something the user handed over is unusable: a profile, a preset name, a root, a config."""

    exit_code = 3
    default_hint = "check the file or name given on the command line"


class ResolveError(TorchbuildError):
    """No consistent set of versions or no plan exists for this target."""

    exit_code = 4
    default_hint = "run `torchbuild doctor` to see why, or relax the version constraints"


class ToolchainError(TorchbuildError):
    """A compiler, cmake, ninja or interpreter needed for the job is missing or unusable."""

    exit_code = 5
    default_hint = "run `torchbuild detect` to see which tools were found"


class RecipeError(TorchbuildError):
    """A recipe file is invalid or does not cover the requested version."""

    exit_code = 6
    default_hint = "run `torchbuild recipes list` to see what is covered"


class SourceError(TorchbuildError):
    """A source tree, tarball or patch cannot be obtained or applied."""

    exit_code = 7
    default_hint = "give the source explicitly with --source PKG=PATH"


class BuildError(TorchbuildError):
    """The compiler or the package's build backend failed."""

    exit_code = 8
    default_hint = "read the build log named above"


class VerifyError(TorchbuildError):
    """A wheel was built but did not repair or verify; it was kept out of the wheelhouse."""

    exit_code = 9
    default_hint = "read the verification output above"


class WheelhouseError(TorchbuildError):
    """The wheelhouse refused an operation or is inconsistent."""

    exit_code = 10
    default_hint = "run `torchbuild index verify` to check the wheelhouse"


class NetworkError(TorchbuildError):
    """A package index or download could not be reached."""

    exit_code = 11
    default_hint = "check the network, or run with --offline to use only cached and local files"
