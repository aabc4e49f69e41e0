#!/usr/bin/env bash
# Build the offline bundle (PyInstaller one-folder) and the .deb.
#   bash packaging/build.sh            # CPU variant: build/dist/oncoboard, build/oncoboard_<v>_<arch>.deb
#   bash packaging/build.sh --gpu      # GPU variant (onnxruntime-gpu, CUDA when present): oncoboard-gpu
# The GPU variant builds in its own environment (.venv-gpu): onnxruntime and onnxruntime-gpu write
# the same package folder and must never be installed together.
set -euo pipefail
cd "$(dirname "$0")/.."
variant=cpu; [[ "${1:-}" == "--gpu" ]] && variant=gpu
version=${ONCOBOARD_VERSION:-$(grep -m1 '^version' pyproject.toml | cut -d'"' -f2)}

if [[ $variant == gpu ]]; then
  venv=.venv-gpu; name=oncoboard-gpu
  [[ -x $venv/bin/python ]] || python3 -m venv $venv
  $venv/bin/python -m pip install -q -e ".[gpu]" "pyinstaller>=6.10"
  $venv/bin/python -m pip uninstall -q -y onnxruntime || true
  $venv/bin/python -m pip install -q --force-reinstall --no-deps "onnxruntime-gpu>=1.20"
else
  venv=.venv; name=oncoboard
  [[ -x $venv/bin/pyinstaller ]] || $venv/bin/python -m pip install -q "pyinstaller>=6.10"
fi

start=$EPOCHREALTIME
ONCOBOARD_BUNDLE_NAME=$name ONCOBOARD_VERSION=$version \
  $venv/bin/pyinstaller --noconfirm --log-level ERROR --distpath build/dist \
  --workpath "build/work-$name" packaging/pyinstaller/oncoboard.spec
built=$EPOCHREALTIME
deb=$(ONCOBOARD_DEB_NAME=$name bash packaging/deb/build-deb.sh "build/dist/$name" "$version" build)
done_=$EPOCHREALTIME
printf 'bundle: build/dist/%s  %s  built in %.1f s\n' "$name" "$(du -sh "build/dist/$name" | cut -f1)" \
  "$(awk "BEGIN{print $built - $start}")"
printf 'deb:    %s  %s  packed in %.1f s\n' "$deb" "$(du -sh "$deb" | cut -f1)" "$(awk "BEGIN{print $done_ - $built}")"
