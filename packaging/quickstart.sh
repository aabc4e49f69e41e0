#!/usr/bin/env bash
# README command (a): install everything, create the synthetic demo cohort, open Oncoboard on it.
# The demo data goes to ONCOBOARD_HOME (default: ./demo-data beside this checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/bootstrap.sh
export ONCOBOARD_HOME=${ONCOBOARD_HOME:-$PWD/demo-data}
.venv/bin/oncoboard demo
if .venv/bin/oncoboard --help | grep -q " gui "; then
  if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" && "${QT_QPA_PLATFORM:-}" != "offscreen" ]]; then
    echo "quickstart: no screen found (DISPLAY is unset); showing the demo cohort instead."
    exec .venv/bin/oncoboard patients list
  fi
  exec .venv/bin/oncoboard gui
fi
exec .venv/bin/oncoboard patients list
