#!/usr/bin/env bash
# Lint and type checks, as CI runs them: ruff (lint + format) and mypy --strict.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check orchestrator tests
.venv/bin/ruff format --check orchestrator tests
.venv/bin/mypy
