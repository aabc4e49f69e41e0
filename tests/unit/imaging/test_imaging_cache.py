"""The volume cache: memory-mapped reopen, invalidation when files change, LRU size bound."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
from imaging_helpers import sphere_series

from oncoboard.imaging.cache import VolumeCache
from oncoboard.imaging.index import index_paths
from oncoboard.imaging.loader import cache_for, load_series


def test_second_load_comes_from_the_cache(tmp_path: Any, store: Any, settings: Any) -> None:
    case = sphere_series(tmp_path / "ct", n=8)
    index_paths(store, [tmp_path / "ct"], settings=settings)
    first = load_series(store, case.series_uid, settings=settings)
    second = load_series(store, case.series_uid, settings=settings)
    assert "cached" not in first.meta and second.meta["cached"] is True
    assert isinstance(second.voxels, np.memmap) and not second.voxels.flags.writeable
    np.testing.assert_array_equal(second.voxels, first.voxels)
    np.testing.assert_array_equal(second.affine, first.affine)
    assert second.window_presets == first.window_presets
    assert second.warnings == first.warnings and second.modality == "CT"
    no_cache = load_series(store, case.series_uid, settings=settings, use_cache=False)
    assert "cached" not in no_cache.meta


def test_changed_file_invalidates_the_entry(tmp_path: Any, store: Any, settings: Any) -> None:
    case = sphere_series(tmp_path / "ct", n=6)
    index_paths(store, [tmp_path / "ct"], settings=settings)
    load_series(store, case.series_uid, settings=settings)
    cache = cache_for(store, settings)
    assert cache is not None and len(cache.entries()) == 1
    st = os.stat(case.paths[0])
    os.utime(case.paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = load_series(store, case.series_uid, settings=settings)
    assert "cached" not in again.meta
    assert len(cache.entries()) == 1  # the stale entry of this series was replaced


def test_cache_is_bounded_and_evicts_least_recently_used(tmp_path: Any) -> None:
    from oncoboard.imaging.volume import Volume

    cache = VolumeCache(tmp_path / "cache", max_bytes=3 * 100_000 + 1000)
    names = [VolumeCache.key(f"1.2.{i}", None, [("f", 1, i)]) for i in range(4)]
    for i, name in enumerate(names[:3]):
        cache.put(name, Volume(np.full((1, 250, 200), i, np.int16), np.eye(4)))
        time.sleep(0.01)
    assert cache.get(names[0]) is not None  # use the oldest: it becomes the most recent
    time.sleep(0.01)
    cache.put(names[3], Volume(np.zeros((1, 250, 200), np.int16), np.eye(4)))
    kept = {p.stem for p, _, _ in cache.entries()}
    assert kept == {names[0], names[2], names[3]}
    assert cache.total_bytes() <= cache.max_bytes


def test_volume_larger_than_the_cache_is_not_stored(tmp_path: Any) -> None:
    from oncoboard.imaging.volume import Volume

    cache = VolumeCache(tmp_path / "cache", max_bytes=1000)
    assert not cache.put("x-y", Volume(np.zeros((2, 30, 30), np.int16), np.eye(4)))
    assert cache.entries() == []


def test_damaged_entry_is_dropped(tmp_path: Any) -> None:
    from oncoboard.imaging.volume import Volume

    cache = VolumeCache(tmp_path / "cache")
    cache.put("a-b", Volume(np.zeros((2, 3, 4), np.int16), np.eye(4)))
    (tmp_path / "cache" / "a-b.npy").write_bytes(b"garbage")
    assert cache.get("a-b") is None
    assert cache.entries() == []
