"""Plugin checks cached across processes: spared work, never a spared trust decision."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from inference_helpers import logistic_plugin

from oncoboard.inference import discovery
from oncoboard.inference.check_cache import CACHE_NAME, CheckCache
from oncoboard.inference.discovery import discover_plugins

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def data_settings(settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _new_process(monkeypatch):
    """Forget this process's checks, as a new command would."""
    monkeypatch.setattr(discovery, "_CACHE", {})


def _no_full_checks(monkeypatch):
    """Make the expensive checks fail loudly if they run."""
    def boom(*args, **kwargs):
        raise AssertionError("full check ran although cached")

    monkeypatch.setattr(discovery, "_check_model", boom)
    monkeypatch.setattr("oncoboard.units.check_unit", boom)


def _by_id(settings):
    return {p.id: p for p in discover_plugins(settings)}


def _edit_keeping_size_and_time(path: Path, old: bytes, new: bytes) -> None:
    assert len(old) == len(new)
    st = path.stat()
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size


def test_second_process_takes_the_checks_from_the_cache(data_settings, plugin_root,
                                                        monkeypatch):
    logistic_plugin(plugin_root)
    first = _by_id(data_settings)["test-logistic"]
    assert first.enabled
    cache_file = data_settings.data_dir / "cache" / CACHE_NAME
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
    _new_process(monkeypatch)
    _no_full_checks(monkeypatch)
    again = _by_id(data_settings)["test-logistic"]
    assert again.enabled and again.manifest == first.manifest
    assert (again.signed, again.warnings, again.manifest_sha256) == \
        (first.signed, first.warnings, first.manifest_sha256)


def test_a_failed_model_check_is_remembered_as_failed(data_settings, plugin_root, monkeypatch):
    golden = {"inputs": {"age": 60, "ldh": 200, "ecog": "0"}, "expected": {"risk": 0.2},
              "tolerance": 1e-6}
    folder = logistic_plugin(plugin_root, golden=golden)
    first = _by_id(data_settings)["test-logistic"]
    assert not first.enabled and "golden case: risk" in first.problems[0], first.problems
    _new_process(monkeypatch)
    _no_full_checks(monkeypatch)
    again = _by_id(data_settings)["test-logistic"]
    assert not again.enabled and again.problems == first.problems
    assert folder.is_dir()


def test_manifest_edited_after_caching_is_refused_again(data_settings, tmp_path, monkeypatch):
    """A signed bundled plugin cached as good, then its manifest edited (size and time kept)."""
    bundled = tmp_path / "bundled" / "carg-toxicity"
    shutil.copytree(REPO / "plugins" / "carg-toxicity", bundled)
    monkeypatch.setenv("ONCOBOARD_BUNDLED_PLUGINS", str(bundled.parent))
    strict = dataclasses.replace(data_settings, signed_plugins_only=True)
    assert _by_id(strict)["carg-toxicity"].enabled
    _new_process(monkeypatch)
    _edit_keeping_size_and_time(bundled / "plugin.toml", b"valid_range = [18.0, 120.0]",
                                b"valid_range = [10.0, 120.0]")
    p = _by_id(strict)["carg-toxicity"]
    assert not p.enabled and "without a valid project signature" in p.problems[0]


def test_model_swapped_after_caching_is_refused_again(data_settings, plugin_root, monkeypatch):
    folder = logistic_plugin(plugin_root)
    assert _by_id(data_settings)["test-logistic"].enabled
    _new_process(monkeypatch)
    model = folder / "model.onnx"
    data = model.read_bytes()
    st = model.stat()
    model.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns))
    p = _by_id(data_settings)["test-logistic"]
    assert not p.enabled and "sha256 mismatch" in p.problems[0]


def test_a_forged_cache_cannot_pass_an_unsigned_plugin(data_settings, plugin_root, monkeypatch):
    """Under signed_plugins_only, a cache entry claiming success changes nothing."""
    logistic_plugin(plugin_root)
    assert _by_id(data_settings)["test-logistic"].enabled  # cached as checked
    cache_file = data_settings.data_dir / "cache" / CACHE_NAME
    raw = json.loads(cache_file.read_text())
    for entry in raw["plugins"].values():
        entry["signed"] = True  # fields the cache never reads
    cache_file.write_text(json.dumps(raw))
    _new_process(monkeypatch)
    strict = dataclasses.replace(data_settings, signed_plugins_only=True)
    p = _by_id(strict)["test-logistic"]
    assert not p.enabled and "signed plugins only" in p.problems[0]


def test_new_file_in_the_folder_rechecks(data_settings, plugin_root, monkeypatch):
    folder = logistic_plugin(plugin_root)
    assert _by_id(data_settings)["test-logistic"].enabled
    _new_process(monkeypatch)
    (folder / "extra.txt").write_text("x")
    calls = []
    real = discovery._check_model
    monkeypatch.setattr(discovery, "_check_model",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    assert _by_id(data_settings)["test-logistic"].enabled
    assert calls == [1]


@pytest.mark.parametrize("content", ["not json", '{"format": 1, "code": "x", "plugins": []}',
                                     '{"format": 1}'])
def test_damaged_cache_file_is_ignored(data_settings, plugin_root, monkeypatch, content):
    logistic_plugin(plugin_root)
    cache_file = data_settings.data_dir / "cache" / CACHE_NAME
    cache_file.parent.mkdir(parents=True)
    cache_file.write_text(content)
    assert _by_id(data_settings)["test-logistic"].enabled
    assert json.loads(cache_file.read_text())["plugins"]  # rewritten


def test_no_data_folder_no_cache_file(settings, plugin_root):
    logistic_plugin(plugin_root)
    assert _by_id(settings)["test-logistic"].enabled
    assert not settings.data_dir.exists()
    assert CheckCache.for_settings(settings).path is None
