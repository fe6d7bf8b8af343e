#!/usr/bin/env bash
# Install everything, queue the bundled sample calls, work them off, print each filled case.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/callscribe demo "$@"
