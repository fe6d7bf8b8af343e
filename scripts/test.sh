#!/usr/bin/env bash
# Install everything (dev tools, PyTorch CPU), then lint, type-check and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --dev
. .venv/bin/activate
ruff check callscribe tests scripts
ruff format --check callscribe tests scripts
mypy
exec pytest "$@"
