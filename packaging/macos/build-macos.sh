#!/usr/bin/env bash
# Build Oncoboard.app and a .dmg on macOS (not buildable on the Linux CI here).
#   bash packaging/macos/build-macos.sh
# Needs Python 3.11+ from python.org or Homebrew. The CPU build uses onnxruntime (CoreML provider
# available on Apple silicon; add "CoreMLExecutionProvider" to providers in the site config).
# Site configuration: /Library/Application Support/Oncoboard/config.toml, set through
# ONCOBOARD_SITE_CONFIG in a LaunchAgent or a configuration profile by IT.
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ -x .venv/bin/python ]] || python3 -m venv .venv
# The lock files in requirements/ are for Linux x86_64: here pip resolves from pyproject.toml.
.venv/bin/python -m pip install -q -e ".[bundle]"
.venv/bin/python packaging/licenses.py check   # no copyleft licence in the runtime closure
.venv/bin/pyinstaller --noconfirm --windowed --distpath build/dist --workpath build/work-macos \
  packaging/pyinstaller/oncoboard.spec
.venv/bin/python packaging/licenses.py notice \
  build/dist/Oncoboard.app/Contents/Resources/THIRD_PARTY_LICENSES
version=$(grep -m1 '^version' pyproject.toml | cut -d'"' -f2)
hdiutil create -volname Oncoboard -srcfolder build/dist/Oncoboard.app -ov -format UDZO \
  "build/Oncoboard-$version.dmg"
echo "build/Oncoboard-$version.dmg"
