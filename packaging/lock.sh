#!/usr/bin/env bash
# Refresh the lock files in requirements/ from pyproject.toml: exact versions with sha256 hashes,
# for Linux x86_64 (glibc 2.36, Debian 12) and CPython 3.11, whatever machine runs this.
#   bash packaging/lock.sh               # keep the locked versions, add what pyproject now needs
#   bash packaging/lock.sh --upgrade     # take the newest versions pyproject allows
# Then run `bash tests/run.sh` and commit pyproject.toml with requirements/*.txt.
#
#   requirements/pip.txt     pip itself, installed first (a new venv's pip is older and slower)
#   requirements/app.txt     what the app imports: the quickstart's .venv
#   requirements/build.txt   app + PyInstaller: the bundle and the .deb (packaging/build.sh)
#   requirements/gpu.txt     the same with onnxruntime-gpu instead of onnxruntime (build.sh --gpu)
#   requirements/test.txt    app + the test suite's tools (tests/run.sh)
#   requirements/models.txt  test + the model-training and benchmark stacks (models/*/build.py)
# Each file is complete on its own; the shared packages get the same versions in all of them
# (each is resolved with a larger one as constraints). Installs use
#   pip install --require-hashes -r requirements/X.txt && pip install --no-deps -e .
# uv resolves (for a target platform, fast); it runs from a throwaway environment and is not
# needed to install.
set -euo pipefail
cd "$(dirname "$0")/.."
upgrade=(); [[ "${1:-}" == "--upgrade" ]] && upgrade=(--upgrade)
tools=${ONCOBOARD_LOCK_TOOLS:-${TMPDIR:-/tmp}/oncoboard-lock-tools}
if [[ ! -x $tools/bin/uv ]]; then
  python3 -m venv "$tools"
  "$tools/bin/python" -m pip install -q "uv>=0.5"
fi
uv=$tools/bin/uv
mkdir -p requirements
compile() {  # compile OUT EXTRAS [uv options...]   (OUT pip.txt reads its input from stdin)
  local out=$1 extras=$2; shift 2
  local src=pyproject.toml; [[ -n $extras ]] && src="pyproject.toml --extra ${extras//,/ --extra }"
  [[ $out == pip.txt ]] && src=-
  # shellcheck disable=SC2086
  "$uv" pip compile $src "$@" "${upgrade[@]}" --quiet --generate-hashes \
    --python-version 3.11 --python-platform x86_64-manylinux_2_36 \
    --custom-compile-command "bash packaging/lock.sh" -o "requirements/$out"
  echo "lock: requirements/$out ($(grep -c '==' "requirements/$out") packages)"
}
touch requirements/app.txt requirements/models.txt
compile app.txt ""
# The full development stack first, so that the test set shares its versions (lifelines, for
# one, bounds pandas), then the subsets pinned to it.
compile models.txt test,models -c requirements/app.txt
compile test.txt test -c requirements/models.txt
compile build.txt bundle -c requirements/app.txt
echo pip | compile pip.txt "" -c requirements/app.txt --no-annotate
# onnxruntime and onnxruntime-gpu write the same folder: the GPU lock leaves onnxruntime out.
compile gpu.txt gpu,bundle -c requirements/build.txt --no-emit-package onnxruntime
