"""One comparison for push and import: the same file, missing, or a conflict."""

from __future__ import annotations

from torchbuild.wheelhouse.sameness import Conflict, conflict_error, sameness

A = "ab" * 32
B = "cd" * 32


def test_sameness() -> None:
    assert sameness(A, A.upper()) == "present"  # digests compare in any case
    assert sameness(A, B) == "conflict"
    assert sameness(A, None) == "missing"
    assert sameness(None, B) == "missing"


def test_conflict_error_names_the_first_and_counts_the_rest() -> None:
    error = conflict_error(
        [Conflict("a-1.0-py3-none-any.whl", ("remote", A), ("local", B))] * 3,
        where="on http://127.0.0.1:1/simple/",
        nothing_done="nothing was uploaded",
        hint="wheels are immutable",
    )
    assert error.message == (
        f"a-1.0-py3-none-any.whl is on http://127.0.0.1:1/simple/ with different contents "
        f"(remote sha256 {A}, local sha256 {B}), and 2 more file(s) differ; nothing was uploaded"
    )
    assert error.hint == "wheels are immutable"
