"""Detect truncated DICOM files from their element lengths, without decoding any value.

pydicom reads a file cut short without complaint: an element whose value runs past the end of
the file is returned short, and a sequence stops at the end of the file, so a truncated
RTSTRUCT parses into fewer (or shorter) contours and a truncated compressed image into fewer
fragments. `find_truncation` walks the element headers of the whole file instead (tags,
VRs and lengths only; values are skipped with a seek, so it costs a few hundred small reads
per file): every defined length must end inside the file and every undefined-length sequence,
item or encapsulated pixel data must reach its delimiter. `short_pixel_data` checks that
native (uncompressed) pixel data holds rows x columns x frames x samples x bits.

Files the walker cannot follow (a VR it does not know, an unexpected tag where an item must
be) are not called truncated: pydicom's own checks decide for those.
"""

from __future__ import annotations

import struct
from typing import Any, BinaryIO

ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
# Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
             b"UT", b"UV"}


class _Truncated(Exception):
    """The file ends inside an element, or before a delimiter."""


class _Unfollowable(Exception):
    """The structure is not what the walker expects; it gives up without a verdict."""


def find_truncation(fp: BinaryIO, ts: Any, size: int) -> str | None:
    """Return why the open DICOM file `fp` is truncated, or None if it is whole (or unknown).

    Parameters
    ----------
    fp
        The file, opened in binary mode (its position is changed).
    ts
        The transfer syntax UID of the data set (pydicom ``UID``).
    size
        The file size in bytes.
    """
    if ts is None or ts.is_deflated:
        return None  # the data set is zlib-compressed: lengths cannot be walked by seeking
    fp.seek(128)
    start = 132 if fp.read(4) == b"DICM" else 0
    fp.seek(start)
    try:
        _walk(fp, size, bool(ts.is_implicit_VR), bool(ts.is_little_endian), top=True)
    except _Truncated as exc:
        return f"truncated file ({exc})"
    except (_Unfollowable, struct.error):
        return None
    return None


def short_pixel_data(rec: Any) -> str | None:
    """Return why the native pixel data of `rec` (an InstanceRecord) is too short, or None."""
    if rec.pixel_length is None or not rec.has_pixels or not rec.bits_allocated:
        return None  # encapsulated (checked by find_truncation) or no pixels
    samples = max(rec.samples_per_pixel, 1)
    if rec.photometric == "YBR_FULL_422":
        samples = 2  # chroma shared by two pixels: 2 values per pixel, not 3 (PS3.3 C.7.6.3)
    bits = rec.rows * rec.columns * rec.n_frames * samples * rec.bits_allocated
    need = (bits + 7) // 8
    if rec.pixel_length < need:
        return (f"truncated file (pixel data: {rec.pixel_length} of the {need} bytes of "
                f"{rec.n_frames} frame(s) of {rec.rows}x{rec.columns}x{rec.bits_allocated} "
                "bits)")
    return None


def _read(fp: BinaryIO, n: int, end: int, what: str) -> bytes:
    if fp.tell() + n > end:
        raise _Truncated(f"ends inside {what} at byte {fp.tell()}")
    return fp.read(n)


def _walk(fp: BinaryIO, end: int, implicit: bool, little: bool, *, top: bool = False,
          until: int | None = None) -> None:
    """Skip data elements up to `end`, or up to the delimiter tag `until`."""
    while True:
        pos = fp.tell()
        if pos == end and until is None:
            return
        head = _read(fp, 8, end, "an element header")
        group, elem = struct.unpack("<HH" if little or (top and head[:2] == b"\x02\x00")
                                    else ">HH", head[:4])
        tag = group << 16 | elem
        meta = top and group == 0x0002  # file meta: always explicit VR little endian
        le = little or meta
        if group == 0xFFFE:
            if tag == until:
                return
            raise _Unfollowable(f"tag {tag:08X} at byte {pos}")
        if implicit and not meta:
            (length,), vr = struct.unpack("<L" if le else ">L", head[4:8]), b""
        else:
            vr = head[4:6]
            if not vr.isalpha() or not vr.isupper():
                raise _Unfollowable(f"VR {vr!r} at byte {pos}")
            if vr in _LONG_VRS:
                (length,) = struct.unpack("<L" if le else ">L",
                                          _read(fp, 4, end, "an element header"))
            else:
                (length,) = struct.unpack("<H" if le else ">H", head[6:8])
        if length == UNDEFINED:
            # SQ, encapsulated pixel data or UN holding an implicit little endian sequence.
            unknown = vr == b"UN"
            _items(fp, end, implicit or unknown, little or unknown)
        elif fp.tell() + length > end:
            raise _Truncated(f"element ({group:04X},{elem:04X}) needs {length} bytes, "
                             f"{end - fp.tell()} left")
        else:
            fp.seek(length, 1)


def _items(fp: BinaryIO, end: int, implicit: bool, little: bool) -> None:
    """Skip the items of an undefined-length value up to its sequence delimiter."""
    while True:
        pos = fp.tell()
        group, elem, length = struct.unpack("<HHL" if little else ">HHL",
                                            _read(fp, 8, end, "a sequence"))
        tag = group << 16 | elem
        if tag == SEQUENCE_END:
            return
        if tag != ITEM:
            raise _Unfollowable(f"tag {tag:08X} at byte {pos} in a sequence")
        if length == UNDEFINED:
            _walk(fp, end, implicit, little, until=ITEM_END)
        elif fp.tell() + length > end:
            raise _Truncated(f"item at byte {pos} needs {length} bytes, "
                             f"{end - fp.tell()} left")
        else:
            fp.seek(length, 1)
