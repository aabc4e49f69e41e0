#!/usr/bin/env bash
# README command (a): install everything, create the synthetic demo cohort, open Oncoboard on it.
# The demo data goes to ONCOBOARD_HOME (default: ./demo-data beside this checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/bootstrap.sh
export ONCOBOARD_HOME=${ONCOBOARD_HOME:-$PWD/demo-data}
.venv/bin/oncoboard demo
ob=$(printf %q "$PWD/.venv/bin/oncoboard")
home=$(printf %q "$ONCOBOARD_HOME")
if .venv/bin/oncoboard --help | grep -q " gui "; then
  if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" && "${QT_QPA_PLATFORM:-}" != "offscreen" ]]; then
    echo "quickstart: no screen found (DISPLAY is unset); showing the demo cohort instead."
    echo "To see the app without a screen, save a picture of a view (patients, patient, viewer,"
    echo "predictions, board), or run it on a virtual screen (Debian: apt-get install xvfb):"
    echo "  $ob gui --screenshot patients.png --view patients --data-dir $home"
    echo "  $ob gui --screenshot patient.png --view patient --patient DEMO-LU-001 --data-dir $home"
    echo "  xvfb-run -a $ob gui --data-dir $home"
    echo
    exec .venv/bin/oncoboard patients list
  fi
  exec .venv/bin/oncoboard gui
fi
exec .venv/bin/oncoboard patients list
