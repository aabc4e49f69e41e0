#!/usr/bin/env bash
# Build the offline bundle (PyInstaller one-folder) and the .deb, from the lock files only.
#   bash packaging/build.sh            # CPU variant: build/dist/oncoboard, build/oncoboard_<v>_<arch>.deb
#   bash packaging/build.sh --gpu      # GPU variant (onnxruntime-gpu, CUDA when present): oncoboard-gpu
# Each variant builds in its own environment, made from its lock (requirements/build.txt or
# gpu.txt, hashes checked) and nothing else, so the bundle holds exactly the locked packages:
# onnxruntime and onnxruntime-gpu write the same package folder and must never be installed
# together. Before PyInstaller runs, packaging/licenses.py fails the build on a copyleft licence
# in the runtime closure and writes THIRD_PARTY_LICENSES into the bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
variant=cpu; [[ "${1:-}" == "--gpu" ]] && variant=gpu
version=${ONCOBOARD_VERSION:-$(grep -m1 '^version' pyproject.toml | cut -d'"' -f2)}

if [[ $variant == gpu ]]; then venv=.venv-gpu; name=oncoboard-gpu; lock=requirements/gpu.txt
else venv=.venv-build; name=oncoboard; lock=requirements/build.txt; fi
stamp=$venv/.oncoboard-lock
if [[ ! -f $stamp ]] || ! cmp -s "$lock" "$stamp" || [[ pyproject.toml -nt $stamp ]]; then
  rm -rf "$venv"  # packages dropped from the lock must not stay behind
  python3 -m venv "$venv"
  start=$EPOCHREALTIME
  $venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements/pip.txt
  $venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r "$lock"
  $venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
  cp "$lock" "$stamp"
  printf 'build environment: %s from %s in %.0f s\n' "$venv" "$lock" "$(awk "BEGIN{print $EPOCHREALTIME - $start}")"
fi

licenses=build/licenses-$name
rm -rf "$licenses"; mkdir -p "$licenses"
$venv/bin/python packaging/licenses.py check
$venv/bin/python packaging/licenses.py notice "$licenses/THIRD_PARTY_LICENSES"

start=$EPOCHREALTIME
ONCOBOARD_BUNDLE_NAME=$name ONCOBOARD_VERSION=$version \
  $venv/bin/pyinstaller --noconfirm --log-level ERROR --distpath build/dist \
  --workpath "build/work-$name" packaging/pyinstaller/oncoboard.spec
cp "$licenses/THIRD_PARTY_LICENSES" "build/dist/$name/THIRD_PARTY_LICENSES"
built=$EPOCHREALTIME
deb=$(ONCOBOARD_DEB_NAME=$name bash packaging/deb/build-deb.sh "build/dist/$name" "$version" build)
done_=$EPOCHREALTIME
printf 'bundle: build/dist/%s  %s  built in %.1f s\n' "$name" "$(du -sh "build/dist/$name" | cut -f1)" \
  "$(awk "BEGIN{print $built - $start}")"
printf 'deb:    %s  %s  packed in %.1f s\n' "$deb" "$(du -sh "$deb" | cut -f1)" "$(awk "BEGIN{print $done_ - $built}")"
