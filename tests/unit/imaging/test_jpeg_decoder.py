"""The imagecodecs JPEG plugin (replaces GPL pylibjpeg-libjpeg): registered first, lossless
streams decode to the exact values, 12-bit extended and colour JPEG as pydicom expects."""

from __future__ import annotations

from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom import uid
from pydicom.data import get_testdata_file
from pydicom.pixels import pixel_array
from pydicom.pixels.decoders.base import get_decoder

from oncoboard.imaging import jpeg_decoder

imagecodecs = pytest.importorskip("imagecodecs")


def test_registered_first_for_every_jpeg_syntax() -> None:
    assert jpeg_decoder.register()
    for ts in (uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEGLossless,
               uid.JPEGLosslessSV1):
        assert get_decoder(ts).available_plugins[0] == "imagecodecs"


@pytest.mark.parametrize("predictor", [1, 6])
@pytest.mark.parametrize("bits", [8, 12, 16])
def test_lossless_is_exact(tmp_path: Any, predictor: int, bits: int) -> None:
    rng = np.random.default_rng(bits)
    dtype = np.uint8 if bits == 8 else np.uint16
    img = rng.integers(0, 2**bits, (40, 52)).astype(dtype)
    stream = imagecodecs.jpeg8_encode(img, lossless=True, predictor=predictor,
                                      bitspersample=bits)
    ts = uid.JPEGLosslessSV1 if predictor == 1 else uid.JPEGLossless
    path = _dataset(tmp_path, img, stream, ts, bits)
    np.testing.assert_array_equal(pixel_array(path, decoding_plugin="imagecodecs"), img)


def test_extended_12bit_close_to_source(tmp_path: Any) -> None:
    r, c = np.mgrid[0:64, 0:64]
    img = ((r * 40 + c * 20) % 4096).astype(np.uint16)
    stream = imagecodecs.jpeg8_encode(img, level=95, bitspersample=12)
    path = _dataset(tmp_path, img, stream, uid.JPEGExtended12Bit, 12)
    out = pixel_array(path, decoding_plugin="imagecodecs")
    assert out.dtype == np.uint16 and np.abs(out.astype(int) - img).mean() < 20


@pytest.mark.parametrize("name", ["JPGExtended.dcm", "SC_rgb_jpeg_gdcm.dcm",
                                  "SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_jpeg_no_color_transform.dcm",
                                  "SC_rgb_jpeg_app14_dcmd.dcm"])
def test_pydicom_test_files(name: str) -> None:
    ds = pydicom.dcmread(get_testdata_file(name))
    out = pixel_array(ds, decoding_plugin="imagecodecs")
    assert out.shape[:2] == (ds.Rows, ds.Columns)
    if ds.SamplesPerPixel == 3:
        # colour bars / a near-white tile: never a colour-space mix-up (channels far apart)
        ref = pixel_array(ds, decoding_plugin="pillow") if name != "SC_rgb_jpeg_gdcm.dcm" else out
        assert np.abs(out.astype(int) - ref.astype(int)).max() <= 3


def _dataset(tmp_path: Any, img: np.ndarray, stream: bytes, ts: str, bits: int) -> Any:
    from pydicom.dataset import FileMetaDataset
    from pydicom.encaps import encapsulate

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    ds.file_meta.MediaStorageSOPClassUID = uid.SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = uid.generate_uid()
    ds.SOPClassUID = uid.SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = img.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = 8 if bits == 8 else 16
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits - 1, 0
    ds.PixelData = encapsulate([stream])
    ds["PixelData"].VR = "OB"
    path = tmp_path / "f.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path
