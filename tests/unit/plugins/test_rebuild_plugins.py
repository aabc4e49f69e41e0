"""Rebuilding a plugin reproduces the committed ONNX file byte for byte (same seed, same bytes).

The published scores (GRIm, LIPI, CTS5) are graphs written from their equations, checked against
the reference sheets: they rebuild in a second and always run. The trained models retrain, so
they take 2 s to 5 min each: they run only when ONCOBOARD_REBUILD_TESTS=1::

    ONCOBOARD_REBUILD_TESTS=1 .venv/bin/python -m pytest tests/unit/plugins/test_rebuild_plugins.py

The build writes into a temporary folder; the committed plugin is left alone.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oncoboard.inference.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[3]

retrains = [pytest.mark.slow,
            pytest.mark.skipif(os.environ.get("ONCOBOARD_REBUILD_TESTS") != "1",
                               reason="retrains a model: set ONCOBOARD_REBUILD_TESTS=1")]


@pytest.mark.parametrize("plugin_id", [
    *(pytest.param(p, marks=retrains) for p in ("carg-toxicity", "toxicity-hosp30",
                                                 "response-nsclc-rtio", "predict-breast-v2.1",
                                                 "relapse-gbsg2")),
    "immuno-grim", "lung-lipi", "breast-cts5"])
def test_rebuild_gives_the_committed_model(tmp_path, plugin_id):
    committed = load_manifest(ROOT / "plugins" / plugin_id)
    script = ROOT / "models" / plugin_id / "build.py"
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    rebuilt = load_manifest(tmp_path)
    assert hashlib.sha256((tmp_path / "model.onnx").read_bytes()).hexdigest() \
        == committed.model.sha256
    assert rebuilt.metrics is not None and committed.metrics is not None
    for name, value in committed.metrics.values.items():
        new = rebuilt.metrics.values[name]
        old_v = value if isinstance(value, float) else value.value
        new_v = new if isinstance(new, float) else new.value
        assert new_v == pytest.approx(old_v, abs=1e-9), name
