"""A real Orthanc server for the PACS tests, started on 127.0.0.1 with a temporary configuration.

The Debian package ``orthanc`` provides the ``Orthanc`` binary (``bash packaging/bootstrap.sh
--test`` installs it; CI does). Each pytest process (xdist worker) starts its own server on free
ports, with its storage in a temporary folder, and stops it at the end of the session. The test
data is synthetic and made here with pydicom: two patients, a small CT series with an RTSTRUCT,
and an RLE-compressed MR series (so retrieval of a compressed transfer syntax is exercised).

Orthanc listens on all interfaces whatever its configuration says; ``RemoteAccessAllowed`` is off
and the tests only ever connect to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    RLELossless,
    RTStructureSetStorage,
    generate_uid,
)

from oncoboard.config import PacsNode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/unit: the reaper
from reaper import stop_when_orphaned  # noqa: E402

ORTHANC_BIN = shutil.which("Orthanc") or (
    "/usr/sbin/Orthanc" if os.path.exists("/usr/sbin/Orthanc") else None)
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
HAS_DICOMWEB = os.path.exists(DICOMWEB_PLUGIN)
ORTHANC_AET = "ORTHANCTEST"
#: Our calling AE title: known to Orthanc (DicomModalities), also the C-MOVE destination.
TEST_AET = "ONCOTEST"
HOST = "127.0.0.1"

needs_orthanc = pytest.mark.skipif(
    ORTHANC_BIN is None,
    reason="the Orthanc binary is missing: apt-get install orthanc "
           "(bash packaging/bootstrap.sh --test); CI installs it")


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 now (the kernel picks it, so workers do not collide)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Study:
    """What the tests know about one generated study."""

    patient_id: str
    patient_name: str
    study_uid: str
    study_date: str
    series: dict[str, list[Dataset]] = field(default_factory=dict)  # series UID -> instances

    @property
    def instances(self) -> list[Dataset]:
        return [ds for dss in self.series.values() for ds in dss]


@dataclass
class OrthancServer:
    """A running Orthanc and the node description to reach it."""

    workdir: Path
    dicom_port: int
    http_port: int
    move_port: int  # the port of our C-MOVE storage SCP, as Orthanc knows it
    process: subprocess.Popen[bytes]
    studies: list[Study] = field(default_factory=list)
    scheme: str = "http"
    user: tuple[str, str] | None = None  # (name, password) when authentication is on

    @property
    def dicomweb_url(self) -> str:
        """Return the DICOMweb root of this server (the DICOMweb plugin is loaded)."""
        return f"{self.scheme}://{HOST}:{self.http_port}/dicom-web"

    def web_node(self, **changes: object) -> PacsNode:
        """Return a DICOMweb PacsNode for this server (fields may be overridden)."""
        values: dict[str, object] = dict(name="orthanc-web", dicomweb_url=self.dicomweb_url,
                                         timeout_s=10.0)
        values.update(changes)
        return PacsNode(**values)  # type: ignore[arg-type]

    def node(self, **changes: object) -> PacsNode:
        """Return a PacsNode for this server (fields may be overridden)."""
        values: dict[str, object] = dict(name="orthanc-test", ae_title=ORTHANC_AET, host=HOST,
                                         port=self.dicom_port, calling_ae_title=TEST_AET,
                                         timeout_s=10.0)
        values.update(changes)
        return PacsNode(**values)  # type: ignore[arg-type]

    def http(self, path: str, data: bytes | None = None, method: str | None = None,
             raw: bool = False) -> object:
        """Call Orthanc's REST API on 127.0.0.1 and return the decoded JSON answer."""
        import base64
        import ssl

        req = urllib.request.Request(f"{self.scheme}://{HOST}:{self.http_port}{path}",
                                     data=data,
                                     method=method or ("POST" if data is not None else "GET"))
        if self.user:
            token = base64.b64encode(f"{self.user[0]}:{self.user[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        context = ssl._create_unverified_context() if self.scheme == "https" else None
        with urllib.request.urlopen(req, timeout=10, context=context) as rsp:
            body = rsp.read()
            return body if raw else json.loads(body or b"null")

    def upload(self, datasets: list[Dataset]) -> None:
        """Store `datasets` in Orthanc through its REST API."""
        from io import BytesIO

        for ds in datasets:
            buf = BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            answer = self.http("/instances", buf.getvalue())
            assert isinstance(answer, dict) and answer.get("Status") in ("Success",
                                                                          "AlreadyStored")

    def stop(self) -> None:
        """Stop the server by its pid (a clean stop takes 3 s; its storage is thrown away)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def orthanc_config(workdir: Path, dicom_port: int, http_port: int, move_port: int) -> dict:
    """Return the test configuration: strict about AE titles so rejections can be tested."""
    return {
        "Name": "oncoboard-test",
        "StorageDirectory": str(workdir / "storage"),
        "IndexDirectory": str(workdir / "storage"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ORTHANC_AET,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpServerEnabled": True,
        "OrthancExplorerEnabled": False,
        "Plugins": [DICOMWEB_PLUGIN] if HAS_DICOMWEB else [],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
        "ConcurrentJobs": 1,
        "HttpThreadsCount": 4,
        "DicomThreadsCount": 4,
        # Only the modality below may connect; its called AE title must be ours.
        "DicomCheckCalledAet": True,
        "DicomAlwaysAllowEcho": False,
        "DicomAlwaysAllowStore": False,
        "DicomAlwaysAllowFind": False,
        "DicomAlwaysAllowGet": False,
        "DicomAlwaysAllowMove": False,
        "DicomCheckModalityHost": False,
        "DicomModalities": {"oncotest": [TEST_AET, HOST, move_port]},
        "DicomScuTimeout": 5,
        "DicomScpTimeout": 30,
        "DicomAssociationCloseDelay": 0,
        "SynchronousCMove": True,
        "StableAge": 1,
        "SaveJobs": False,
        "OverwriteInstances": True,
        "StorageCompression": False,
        "LogExportedResources": False,
    }


def start_orthanc(workdir: Path, extra: dict | None = None) -> OrthancServer:
    """Start Orthanc with a fresh configuration in `workdir` and wait until it answers.

    `extra` overrides configuration keys (e.g. ``SslEnabled``, ``AuthenticationEnabled``).
    """
    assert ORTHANC_BIN is not None
    workdir.mkdir(parents=True, exist_ok=True)
    dicom_port, http_port, move_port = free_port(), free_port(), free_port()
    config = workdir / "orthanc.json"
    values = orthanc_config(workdir, dicom_port, http_port, move_port)
    values.update(extra or {})
    config.write_text(json.dumps(values, indent=2))
    log = (workdir / "orthanc.log").open("wb")
    # DCMTK (under Orthanc) keeps Nagle's algorithm on unless TCP_NODELAY is set: each DIMSE
    # message then waits for a delayed ACK, 50 ms an instance instead of 10 (measured).
    env = {**os.environ, "TCP_NODELAY": "1"}
    proc = subprocess.Popen([ORTHANC_BIN, str(config)], stdout=log, stderr=subprocess.STDOUT,
                            cwd=workdir, start_new_session=True, env=env)
    stop_when_orphaned(pid=proc.pid)  # a killed test run leaves no Orthanc behind
    server = OrthancServer(workdir, dicom_port, http_port, move_port, proc)
    if values.get("SslEnabled"):
        server.scheme = "https"
    users = values.get("RegisteredUsers") or {}
    if values.get("AuthenticationEnabled") and users:
        server.user = next(iter(users.items()))
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"Orthanc exited ({proc.returncode}): "
                               f"{(workdir / 'orthanc.log').read_text(errors='replace')[-2000:]}")
        try:
            server.http("/system")
            with socket.create_connection((HOST, dicom_port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError("Orthanc did not become ready in 20 s") from None
            time.sleep(0.05)
    return server


def _base(sop_class: str, study: Study, series_uid: str, modality: str, number: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = study.patient_id
    ds.PatientName = study.patient_name
    ds.PatientBirthDate = "19600101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study.study_uid
    ds.StudyDate = study.study_date
    ds.StudyTime = "101010"
    ds.StudyID = "1"
    ds.AccessionNumber = f"ACC{study.patient_id[-3:]}"
    ds.StudyDescription = f"Synthetic {modality} study"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = number
    ds.SeriesDescription = f"Synthetic {modality} series"
    ds.Modality = modality
    ds.Manufacturer = "Oncoboard tests"
    return ds


def _image_series(study: Study, sop_class: str, modality: str, n: int, number: int,
                  rle: bool = False) -> list[Dataset]:
    series_uid = generate_uid()
    frame_uid = generate_uid()
    out = []
    for k in range(n):
        ds = _base(sop_class, study, series_uid, modality, number)
        ds.InstanceNumber = k + 1
        ds.FrameOfReferenceUID = frame_uid
        ds.ImagePositionPatient = [-8.0, -8.0, 2.5 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [1.0, 1.0]
        ds.SliceThickness = 2.5
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = 16
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        if modality == "CT":
            ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        pixels = (np.arange(256, dtype=np.int16).reshape(16, 16) + 10 * k).astype(np.int16)
        ds.PixelData = pixels.tobytes()
        if rle:
            ds.compress(RLELossless, encoding_plugin="pydicom")
        out.append(ds)
    return out


def _rtstruct(study: Study, ct: list[Dataset]) -> Dataset:
    ds = _base(RTStructureSetStorage, study, generate_uid(), "RTSTRUCT", 2)
    ds.InstanceNumber = 1
    ds.StructureSetLabel = "GTV"
    ds.StructureSetDate = study.study_date
    ds.StructureSetTime = "101010"
    roi = Dataset()
    roi.ROINumber = 1
    roi.ReferencedFrameOfReferenceUID = ct[0].FrameOfReferenceUID
    roi.ROIName = "GTV"
    roi.ROIGenerationAlgorithm = "MANUAL"
    ds.StructureSetROISequence = [roi]
    contours = []
    for img in ct:
        c = Dataset()
        z = float(img.ImagePositionPatient[2])
        c.ContourGeometricType = "CLOSED_PLANAR"
        c.NumberOfContourPoints = 4
        c.ContourData = [-2.0, -2.0, z, 2.0, -2.0, z, 2.0, 2.0, z, -2.0, 2.0, z]
        ref = Dataset()
        ref.ReferencedSOPClassUID = img.SOPClassUID
        ref.ReferencedSOPInstanceUID = img.SOPInstanceUID
        c.ContourImageSequence = [ref]
        contours.append(c)
    rc = Dataset()
    rc.ReferencedROINumber = 1
    rc.ROIDisplayColor = [255, 0, 0]
    rc.ContourSequence = contours
    ds.ROIContourSequence = [rc]
    obs = Dataset()
    obs.ObservationNumber = 1
    obs.ReferencedROINumber = 1
    obs.RTROIInterpretedType = "GTV"
    obs.ROIInterpreter = ""
    ds.RTROIObservationsSequence = [obs]
    return ds


def make_studies() -> list[Study]:
    """Return two synthetic studies: CT (4 slices) + RTSTRUCT, and an RLE-compressed MR."""
    ct_study = Study("ONCO-PACS-001", "Test^Alpha", generate_uid(), "20240315")
    ct = _image_series(ct_study, CTImageStorage, "CT", 4, 1)
    ct_study.series[ct[0].SeriesInstanceUID] = ct
    rt = _rtstruct(ct_study, ct)
    ct_study.series[rt.SeriesInstanceUID] = [rt]
    mr_study = Study("ONCO-PACS-002", "Test^Beta", generate_uid(), "20230610")
    mr = _image_series(mr_study, MRImageStorage, "MR", 3, 1, rle=True)
    mr_study.series[mr[0].SeriesInstanceUID] = mr
    return [ct_study, mr_study]


@pytest.fixture(scope="session", name="orthanc")
def orthanc_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """Yield a running Orthanc loaded with the synthetic studies; stop it afterwards."""
    if ORTHANC_BIN is None:
        if os.environ.get("CI"):
            pytest.fail("the Orthanc binary is missing in CI: bash packaging/bootstrap.sh --test "
                        "installs the Debian package orthanc")
        pytest.skip("the Orthanc binary is missing: apt-get install orthanc "
                    "(bash packaging/bootstrap.sh --test); CI installs it")
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    try:
        server.studies = make_studies()
        for study in server.studies:
            server.upload(study.instances)
        yield server
    finally:
        server.stop()
