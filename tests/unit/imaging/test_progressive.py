"""Progressive opening of local compressed series: the visible slice first, the rest outward.

Once complete the volume must be the one `assemble` gives (voxels, dtype, affine, warnings,
window presets) for oblique shuffled series, a series with a missing slice, MONOCHROME1, and
every compressed syntax; decoding starts at the asked slice; a corrupt frame is named and the
rest still loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from imaging_helpers import assert_geometry, sphere_series
from pydicom import uid
from pydicom.encaps import encapsulate

from oncoboard.imaging import pixels
from oncoboard.imaging.assemble import assemble
from oncoboard.imaging.index import index_paths
from oncoboard.imaging.loader import load_series, read_records
from oncoboard.imaging.pixels import LoadCancelled
from oncoboard.imaging.progressive import ProgressiveSeries, open_local, outward

SIZE = {"rows": 32, "cols": 36}  # OpenJPEG's encoder needs at least 32 pixels a side
OBLIQUE = [float(np.cos(np.deg2rad(20))), float(np.sin(np.deg2rad(20))), 0.0, 0.0, 0.0, -1.0]


def _records(folder: Path) -> list[Any]:
    records, _skipped = read_records([folder])
    return records


def _assert_same(volume: Any, reference: Any) -> None:
    assert volume.voxels.dtype == reference.voxels.dtype
    np.testing.assert_array_equal(volume.voxels, reference.voxels)
    np.testing.assert_array_equal(volume.affine, reference.affine)
    assert volume.warnings == reference.warnings
    assert volume.window_presets == reference.window_presets
    assert volume.meta["sop_uids"] == reference.meta["sop_uids"]


CASES = {
    "j2k-oblique-shuffled": dict(ts=uid.JPEG2000Lossless, iop=OBLIQUE,
                                 intercepts=list(-1024.0 + np.arange(12) % 3)),
    "j2k-missing-slice": dict(ts=uid.JPEG2000Lossless, drop=(5,)),
    "j2k-monochrome1-mr": dict(ts=uid.JPEG2000Lossless, photometric="MONOCHROME1",
                               modality="MR"),
    "j2k-signed-16bit": dict(ts=uid.JPEG2000Lossless, signed=True, bits_stored=16,
                             intercepts=0.0),
    "jpegls": dict(ts=uid.JPEGLSLossless),
    "rle-oblique": dict(ts=uid.RLELossless, iop=OBLIQUE),
}


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("name", list(CASES))
def test_complete_volume_equals_the_full_load(tmp_path: Path, monkeypatch: Any, name: str,
                                              workers: str) -> None:
    monkeypatch.setenv("ONCOBOARD_DECODE_WORKERS", workers)
    case = sphere_series(tmp_path / "s", n=12, **SIZE, **CASES[name])
    records = _records(case.folder)
    series = ProgressiveSeries.prepare(records, where=case.series_uid)
    assert series is not None
    k = series.volume.shape[0] // 2
    series.first(k)
    assert series.has_slice(k) and not series.complete
    if series.layout.is_direct:
        # the slice on screen is final already; slices not decoded yet are blank
        np.testing.assert_array_equal(series.volume.voxels[k], case.expected[k]
                                      if name != "j2k-monochrome1-mr" else
                                      assemble(records).voxels[k])
        assert (series.volume.voxels[0] == 0).all()  # not decoded yet (drawn black)
    assert series.ready().tolist() == [j == k for j in range(series.volume.shape[0])]
    seen: list[int] = []
    volume = series.run(progress=lambda done, total, msg: seen.append(done))
    assert series.complete and series.missing == 0 and not series.errors
    assert seen[-1] == len(series.jobs)
    _assert_same(volume, assemble(records))
    if name == "j2k-missing-slice":  # the gap is an output slice of its own, as in a full load
        assert volume.shape[0] == 12 and not series.layout.is_direct
    else:
        assert_geometry(volume, case)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_decoding_starts_at_the_visible_slice_and_goes_outward(tmp_path: Path, monkeypatch: Any,
                                                               workers: str) -> None:
    monkeypatch.setenv("ONCOBOARD_DECODE_WORKERS", workers)
    case = sphere_series(tmp_path / "s", n=10, ts=uid.JPEG2000Lossless, **SIZE)
    series = ProgressiveSeries.prepare(_records(case.folder))
    assert series is not None and series.layout.is_direct
    series.first(3)
    assert series.decode_order == [3] and series.missing == 9
    series.run()
    assert series.decode_order == [3, 4, 2, 5, 1, 6, 0, 7, 8, 9] == list(outward(3, 10))


def test_a_slice_scrolled_to_is_decoded_next(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("ONCOBOARD_DECODE_WORKERS", "1")
    case = sphere_series(tmp_path / "s", n=10, ts=uid.JPEG2000Lossless, **SIZE)
    series = ProgressiveSeries.prepare(_records(case.folder))
    assert series is not None
    series.first(5)
    series.want(9)
    series.run()
    assert series.decode_order[:3] == [5, 9, 6]
    np.testing.assert_array_equal(series.volume.voxels, case.expected)


def test_uncompressed_and_small_series_are_loaded_whole(tmp_path: Path) -> None:
    plain = sphere_series(tmp_path / "plain", n=12, **SIZE)
    assert ProgressiveSeries.prepare(_records(plain.folder)) is None
    few = sphere_series(tmp_path / "few", n=4, ts=uid.JPEG2000Lossless, **SIZE)
    assert ProgressiveSeries.prepare(_records(few.folder)) is None
    # non-integer rescale: int16 or float32 is chosen from every value, so loaded whole
    mr = sphere_series(tmp_path / "mr", n=12, ts=uid.JPEG2000Lossless, modality="MR",
                       slopes=[0.5] * 12, intercepts=0.0, **SIZE)
    assert ProgressiveSeries.prepare(_records(mr.folder)) is None


def _corrupt(path: Path) -> None:
    ds = pydicom.dcmread(path)
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x13" * 40])
    ds.save_as(path, enforce_file_format=True)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_corrupt_frame_is_named_and_the_rest_loads(tmp_path: Path, monkeypatch: Any,
                                                     workers: str) -> None:
    monkeypatch.setenv("ONCOBOARD_DECODE_WORKERS", workers)
    case = sphere_series(tmp_path / "s", n=10, ts=uid.JPEG2000Lossless, **SIZE)
    records = _records(case.folder)
    series = ProgressiveSeries.prepare(records)
    assert series is not None
    bad_slot = 7
    bad = Path(series.jobs[bad_slot].path)
    _corrupt(bad)
    series.first(2)
    volume = series.run()
    assert series.complete and len(series.errors) == 1
    assert str(bad) in series.errors[0] and "JPEG 2000" in series.errors[0]
    assert "\n" not in series.errors[0] and "Traceback" not in series.errors[0]
    assert any(str(bad) in w and "could not be decoded" in w for w in volume.warnings)
    good = [k for k in range(10) if k != bad_slot]
    np.testing.assert_array_equal(volume.voxels[good], case.expected[good])
    assert (volume.voxels[bad_slot] == volume.voxels[good].min()).all()


def test_cancel_keeps_what_was_decoded_and_a_second_run_finishes(tmp_path: Path,
                                                                 monkeypatch: Any) -> None:
    monkeypatch.setenv("ONCOBOARD_DECODE_WORKERS", "2")
    case = sphere_series(tmp_path / "s", n=12, ts=uid.JPEG2000Lossless, **SIZE)
    series = ProgressiveSeries.prepare(_records(case.folder))
    assert series is not None
    series.first(6)
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(LoadCancelled):
        series.run(cancel=cancel)
    assert 0 < series.missing < 12 and not series.complete
    series.run()
    np.testing.assert_array_equal(series.volume.voxels, case.expected)


def test_open_local_uses_and_fills_the_volume_cache(tmp_path: Path, store: Any,
                                                    settings: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("ONCOBOARD_DECODE_WORKERS", "2")
    case = sphere_series(tmp_path / "s", n=12, ts=uid.JPEG2000Lossless, **SIZE)
    index_paths(store, [case.folder], settings=settings)
    series, volume, cache_put = open_local(store, case.series_uid, visible=4, settings=settings)
    assert series is not None and series.decode_order == [4]
    series.run()
    cache_put()
    _assert_same(volume, load_series(store, case.series_uid, use_cache=False))
    again, cached, _put = open_local(store, case.series_uid, settings=settings)
    assert again is None and cached.meta.get("cached") is True
    np.testing.assert_array_equal(cached.voxels, volume.voxels)
    # an uncompressed series keeps the whole load
    plain = sphere_series(tmp_path / "p", n=12, series="plain", **SIZE)
    index_paths(store, [plain.folder], settings=settings)
    none, whole, _put = open_local(store, plain.series_uid, settings=settings)
    assert none is None
    np.testing.assert_array_equal(whole.voxels, plain.expected)


def test_pool_path_decodes_gil_holding_syntaxes_in_processes(tmp_path: Path,
                                                              monkeypatch: Any) -> None:
    monkeypatch.setenv("ONCOBOARD_DECODE_WORKERS", "2")
    case = sphere_series(tmp_path / "s", n=12, ts=uid.RLELossless, **SIZE)
    series = ProgressiveSeries.prepare(_records(case.folder))
    assert series is not None
    series.first(0)
    series.run()
    assert pixels._pool is not None
    np.testing.assert_array_equal(series.volume.voxels, case.expected)


def test_decoding_threads_yield_to_the_screen(tmp_path: Path, monkeypatch: Any) -> None:
    """The decoding threads run at a lower CPU priority than the thread that opened the series
    (the screen's), and at the same with ONCOBOARD_DECODE_NICE=0."""
    import os
    import threading

    monkeypatch.setenv("ONCOBOARD_DECODE_WORKERS", "2")
    case = sphere_series(tmp_path / "s", n=10, ts=uid.JPEG2000Lossless, **SIZE)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    for nice, expected in (("", mine + 10), ("0", mine)):
        monkeypatch.setenv("ONCOBOARD_DECODE_NICE", nice)
        series = ProgressiveSeries.prepare(_records(case.folder))
        assert series is not None
        seen: set[int] = set()
        decode = series._decode_many

        def spy(chunk: list[int], decode: Any = decode, seen: set[int] = seen) -> Any:
            seen.add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return decode(chunk)

        monkeypatch.setattr(series, "_decode_many", spy)
        series.first(0)
        series.run()
        assert seen == {min(expected, 19)}
        np.testing.assert_array_equal(series.volume.voxels, case.expected)
