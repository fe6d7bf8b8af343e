#!/usr/bin/env bash
# Install everything, queue the bundled sample calls, work them off, print each filled case,
# then serve the case desk on them (prints the address and one-time demo sign-ins; Ctrl-C ends).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/callscribe demo --serve "$@"
