#!/usr/bin/env bash
# Set up a fresh machine (Debian, Python 3.11): system packages when missing, then .venv.
# Idempotent: a second run only checks. Usage: scripts/bootstrap.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."

want_dev=0
[ "${1:-}" = "--dev" ] && want_dev=1

apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: missing $*; install it with your package manager" >&2
    return 1
  fi
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "$want_dev" = 1 ]; then
  # Browser tests drive Debian's chromium (never a browser download) and need a CJK font.
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v fc-list >/dev/null 2>&1 || missing+=(fontconfig)
  [ -n "$(fc-list :lang=zh-cn family 2>/dev/null)" ] || missing+=(fonts-noto-cjk)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]} from apt" >&2
  apt_install "${missing[@]}"
fi

# Playwright (dev) uses /usr/bin/chromium: never let it fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.callscribe-installed
extras="."
[ "$want_dev" = 1 ] && extras=".[dev,reference]"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || ! grep -qxF "$extras" "$stamp"; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  # torch first and pinned: the CPU build of 2.13.0 on local disk, never a CUDA download.
  if [ "$want_dev" = 1 ]; then
    .venv/bin/python -m pip install -q "torch==2.13.0"
  fi
  .venv/bin/python -m pip install -q -e "$extras"
  echo "$extras" > "$stamp"
fi
