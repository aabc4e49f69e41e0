#!/usr/bin/env bash
# README command (b): install what the tests need (Xvfb, Orthanc, PostgreSQL, Python packages),
# run them all. The PostgreSQL backend tests start their own server (tests/unit/pg_server.py).
# Extra arguments go to pytest, e.g. `bash tests/run.sh tests/unit -k fhir`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/bootstrap.sh --test
# Licence policy: no copyleft licence in what the app ships (see README, "Builds and licences").
.venv/bin/python packaging/licenses.py check
export PYTHONDONTWRITEBYTECODE=1 ONCOBOARD_TEST_OUTPUT=${ONCOBOARD_TEST_OUTPUT:-$PWD/test-output}
mkdir -p "$ONCOBOARD_TEST_OUTPUT"
# A real X server (Xvfb, Mesa) so the embedded VTK view gets a GL context; Qt uses xcb on it.
exec xvfb-run -a -s "-screen 0 1920x1080x24 -nolisten tcp" \
  .venv/bin/python -m pytest -p no:cacheprovider -n 2 --dist loadfile "$@"
