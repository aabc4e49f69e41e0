"""The tree stays lint-clean, layered, type-clean and in modules of at most 500 lines.

Each tool runs as a subprocess from the repository root with the configuration in
pyproject.toml; a failure shows the tool's own report.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    """Return the path of a dev tool installed beside this Python (the venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    assert found, f"{name} is not installed: bash packaging/bootstrap.sh --test"
    return found


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          check=False)


def test_ruff_is_clean():
    result = _run([_tool("ruff"), "check", "app", "tests"], timeout=120)
    assert result.returncode == 0, f"ruff check app tests:\n{result.stdout}{result.stderr}"


def test_import_contracts_are_kept():
    result = _run([_tool("lint-imports")], timeout=300)
    assert result.returncode == 0, f"lint-imports:\n{result.stdout}{result.stderr}"
    assert "0 broken" in result.stdout, result.stdout


@pytest.mark.slow  # about 15 s without a cache, under 1 s with one
def test_mypy_is_clean():
    result = _run([_tool("mypy")], timeout=300)
    assert result.returncode == 0, f"mypy:\n{result.stdout}{result.stderr}"


MAX_LINES = 500


def test_no_app_file_over_500_lines():
    """Each module of app/ holds one responsibility: none grows past 500 lines (split it by
    responsibility, not by an arbitrary cut)."""
    sources = sorted((ROOT / "app").rglob("*.py"))
    assert sources, "no Python file found under app/"
    too_long = {str(p.relative_to(ROOT)): n for p in sources
                if (n := p.read_bytes().count(b"\n")) > MAX_LINES}
    assert not too_long, f"files over {MAX_LINES} lines: {too_long}"
