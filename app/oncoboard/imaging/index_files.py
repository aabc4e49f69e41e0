"""Which files an index of DICOM paths reads: folders walked, zip files extracted, DICOMDIR read.

Moved from :mod:`oncoboard.imaging.index` unchanged. A zip file is extracted once under
``DATA_DIR/dicom/zip/<hash>/`` (the index must point at real files that the loader can read by
offset), and that folder is removed again when the zip held no DICOM file the index keeps.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoboard.errors import DicomError

if TYPE_CHECKING:
    from oncoboard.imaging.index import CancelFn, IndexReport

log = logging.getLogger(__name__)


def _cancelled(cancel: Any) -> bool:
    if cancel is None:
        return False
    is_set = getattr(cancel, "is_set", None)
    return bool(is_set() if is_set is not None else cancel())


def _expand(paths: Iterable[str | Path], data_dir: Path, report: IndexReport,
            cancel: CancelFn | None = None) -> Iterator[str]:
    seen: set[str] = set()
    for p in paths:
        path = Path(p).expanduser()
        if not path.exists():
            report.skipped.append((str(path), "does not exist"))
            continue
        for f in _expand_one(path.resolve(), data_dir, report, cancel):
            if f not in seen:
                seen.add(f)
                yield f


def _expand_one(path: Path, data_dir: Path, report: IndexReport,
                cancel: CancelFn | None = None) -> Iterator[str]:
    if path.is_dir():
        for root, dirs, names in os.walk(path):
            dirs.sort()
            # hidden files (.DS_Store, the demo's .complete marker) are not DICOM, nor
            # anything a user asked to import: not listed as skipped
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in sorted(n for n in names if not n.startswith(".")):
                yield from _expand_file(Path(root) / name, data_dir, report, cancel)
    else:
        yield from _expand_file(path, data_dir, report, cancel)


def _expand_file(path: Path, data_dir: Path, report: IndexReport,
                 cancel: CancelFn | None = None) -> Iterator[str]:
    if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
        try:
            target = extract_zip(path, data_dir, cancel)
        except (OSError, zipfile.BadZipFile, DicomError) as exc:
            report.skipped.append((str(path), f"cannot extract zip file: {exc}"))
            return
        if target is None:  # cancelled; nothing of it is left behind
            return
        # Resolved: the index must hold absolute paths even with a relative data folder.
        target = target.resolve()
        report.zip_folders[str(target)] = str(path)
        yield from _expand_one(target, data_dir, report, cancel)
    elif path.name.upper() == "DICOMDIR":
        yield from _dicomdir_files(path, report)
    else:
        yield str(path)


def extract_zip(path: Path, data_dir: Path, cancel: CancelFn | None = None) -> Path | None:
    """Extract `path` once under ``data_dir/dicom/zip/<hash>/`` and return that folder.

    A failed or cancelled extraction removes what it wrote (and returns None when cancelled);
    only a complete one gets the ``<hash>.complete`` marker that later calls reuse.
    """
    st = path.stat()
    key = hashlib.sha1(f"{path}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
    target = data_dir / "dicom" / "zip" / key
    done = target.with_suffix(".complete")
    if done.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)  # left by a crash: start from nothing
    target.mkdir(parents=True, exist_ok=True)
    try:
        if not _extract_members(path, target, cancel):
            shutil.rmtree(target, ignore_errors=True)
            return None
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    done.write_text(str(path), encoding="utf-8")
    return target


def _extract_members(path: Path, target: Path, cancel: CancelFn | None) -> bool:
    """Write the members of zip file `path` under `target`; return False if cancelled."""
    root = target.resolve()
    with zipfile.ZipFile(path) as zf:
        for member in zf.infolist():
            if _cancelled(cancel):
                return False
            dest = (target / member.filename).resolve()
            if not dest.is_relative_to(root):
                raise DicomError(f"zip member escapes the folder: {member.filename}", file=path)
            if member.is_dir():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(dest, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
    return True


def _drop_zips_without_dicom(report: IndexReport, kept: set[str]) -> None:
    """Remove the folders of zip files that held no DICOM file the index keeps.

    Their skipped files are then listed inside the zip file (``junk.zip/a.txt``): the
    extracted copies no longer exist.
    """
    for folder, zip_path in report.zip_folders.items():
        prefix = folder + os.sep
        if any(p.startswith(prefix) for p in kept):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        Path(folder).with_suffix(".complete").unlink(missing_ok=True)
        report.skipped = [(f"{zip_path}/{p[len(prefix):]}" if p.startswith(prefix) else p, r)
                          for p, r in report.skipped]
        log.info("zip file held no DICOM file; removed its extracted copy %s", folder)


def _dicomdir_files(path: Path, report: IndexReport) -> Iterator[str]:
    import pydicom
    from pydicom.fileset import FileSet

    try:
        ds = pydicom.dcmread(path)
        fs = FileSet(ds)
        found = [str(Path(inst.path)) for inst in fs]
    except Exception as exc:
        report.skipped.append((str(path), f"unreadable DICOMDIR: {exc}"))
        return
    yield from found
