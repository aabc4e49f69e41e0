"""What a command loads at start: reading the store must not pull in the heavy libraries.

`oncoboard patients list` is typed many times a day; each heavy import is a fraction of a second
on every call (pandas alone, pulled in by sqlite-utils when installed, cost 0.2-0.3 s).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "onnxruntime", "PySide6", "pyqtgraph", "vtk", "vtkmodules", "pydicom",
         "pint", "fhir", "reportlab", "cryptography", "scipy", "matplotlib")

_PROBE = """
import contextlib, io, json, sys
from oncoboard.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted({m.split('.')[0] for m in sys.modules})}))
"""


@pytest.mark.parametrize("command", [["patients", "list"], ["patients", "list", "--json"],
                                     ["search", "fievre"], ["audit", "list"]])
def test_store_commands_load_no_heavy_library(tmp_path, command):
    proc = subprocess.run([sys.executable, "-c", _PROBE, *command, "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    loaded = set(result["modules"]) & set(HEAVY)
    assert not loaded, f"`oncoboard {' '.join(command)}` imported {sorted(loaded)}"


def test_pandas_stays_importable_after_the_store(tmp_path):
    pytest.importorskip("pandas")
    code = ("import oncoboard.store, sys; assert 'pandas' not in sys.modules; "
            "import pandas; print(pandas.__name__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "pandas", proc.stderr


def test_plugin_checks_cached_for_the_next_command(tmp_path):
    """The second `plugins list` reads the checks from the data folder's cache: no pint and no
    onnxruntime (the units and model checks are not run again)."""
    def run():
        proc = subprocess.run([sys.executable, "-c", _PROBE, "plugins", "list", "--data-dir",
                               str(tmp_path)], capture_output=True, text=True, timeout=120,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        return set(json.loads(proc.stdout.strip().splitlines()[-1])["modules"])

    first = run()
    assert (tmp_path / "cache" / "plugin-checks.json").is_file()
    second = run()
    assert {"pint", "onnxruntime"} <= first  # the first one checked every plugin in full
    assert not second & {"pint", "onnxruntime", "pandas", "PySide6", "pyqtgraph", "pydicom"}
