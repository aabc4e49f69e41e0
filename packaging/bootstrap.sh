#!/usr/bin/env bash
# Set up Oncoboard from a source checkout on Debian/Ubuntu: system libraries Qt and VTK need,
# a virtual environment in .venv, and the package with its test tools.
#   bash packaging/bootstrap.sh             # app + dev tools
#   bash packaging/bootstrap.sh --test      # also Xvfb and Orthanc, for the test suite
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

sudo_cmd=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then sudo_cmd="sudo"; else sudo_cmd="__none__"; fi
fi

apt_pkgs=(python3-venv libegl1 libgl1 libglx-mesa0 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1
          libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
          libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxcb-xinerama0 libxrender1 libxi6)
if [[ $want_test -eq 1 ]]; then
  apt_pkgs+=(xvfb xauth orthanc orthanc-dicomweb poppler-utils)
fi
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ "$sudo_cmd" == "__none__" ]]; then
    echo "bootstrap: please install as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "bootstrap: installing system packages: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Orthanc's Debian service is not wanted: the tests start their own server on 127.0.0.1.
  if [[ " ${missing[*]} " == *" orthanc "* ]] && command -v systemctl >/dev/null; then
    $sudo_cmd systemctl disable --now orthanc >/dev/null 2>&1 || true
  fi
fi

py=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$py" -m venv .venv
fi
stamp=.venv/.oncoboard-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  echo "bootstrap: installing Python packages into .venv (first time: a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev]"
  touch "$stamp"
fi
echo "bootstrap: ready ($(.venv/bin/oncoboard --version))"
