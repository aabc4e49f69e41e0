"""PACS failures Orthanc cannot be made to show, played by a pynetdicom SCP on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE, evt

from oncoboard.config import PacsNode
from oncoboard.errors import PacsError
from oncoboard.imaging import pacs
from oncoboard.imaging.pacs_net import STUDY_ROOT_FIND, STUDY_ROOT_GET, VERIFICATION

HOST = "127.0.0.1"


@pytest.fixture
def fake_pacs() -> Iterator[Callable[..., PacsNode]]:
    """Start a pynetdicom SCP with a given C-FIND handler and contexts; stop it afterwards."""
    servers: list[Any] = []
    release = threading.Event()

    def start(find_handler: Callable[[Any], Any] | None, contexts: list[str],
              timeout_s: float = 5, get_handler: Callable[[Any], Any] | None = None) -> PacsNode:
        ae = AE(ae_title="FAKEPACS")
        for uid in contexts:
            ae.add_supported_context(uid)
        handlers = [(evt.EVT_C_FIND, find_handler)] if find_handler else []
        if get_handler:
            handlers.append((evt.EVT_C_GET, get_handler))
        server = ae.start_server((HOST, 0), block=False, evt_handlers=handlers)
        servers.append(server)
        return PacsNode("fake", "FAKEPACS", HOST, server.server_address[1],
                        calling_ae_title="ONCOTEST", timeout_s=timeout_s)

    start.release = release  # type: ignore[attr-defined]
    yield start
    release.set()
    for server in servers:
        server.shutdown()


def test_find_failure_status_is_reported(fake_pacs: Callable[..., PacsNode]) -> None:
    def handler(event: Any) -> Iterator[tuple[int, None]]:
        yield 0xA700, None

    node = fake_pacs(handler, [STUDY_ROOT_FIND])
    with pytest.raises(PacsError) as err:
        pacs.find(node, "study", {"patient_id": "X"})
    assert err.value.message.startswith(
        f"PACS 'fake' at {HOST}:{node.port} failed the study C-FIND: "
        "0xA700 Refused: Out of Resources")


def test_find_without_answer_times_out(fake_pacs: Callable[..., PacsNode]) -> None:
    def handler(event: Any) -> Iterator[tuple[int, None]]:
        fake_pacs.release.wait(10)  # type: ignore[attr-defined]
        yield 0x0000, None

    node = fake_pacs(handler, [STUDY_ROOT_FIND], timeout_s=0.5)
    with pytest.raises(PacsError, match=r"did not answer the C-FIND request within 0\.5 s"):
        pacs.find(node, "study")


def test_find_on_a_node_without_query_service(fake_pacs: Callable[..., PacsNode]) -> None:
    node = fake_pacs(None, [VERIFICATION])
    assert pacs.echo(node).node == "fake"
    with pytest.raises(PacsError, match="accepted none of the proposed presentation contexts: "
                                        "it does not offer C-FIND to us"):
        pacs.find(node, "patient")


def test_matches_are_returned_with_snake_case_keys(fake_pacs: Callable[..., PacsNode]) -> None:
    from pydicom.dataset import Dataset

    def handler(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        assert event.identifier.QueryRetrieveLevel == "STUDY"
        assert event.identifier.ModalitiesInStudy == "MR"
        ds = Dataset()
        ds.PatientID, ds.PatientName, ds.StudyInstanceUID = "P9", "Doe^Jo", "1.2.3.9"
        ds.StudyDate, ds.ModalitiesInStudy = "20200229", ["MR", "SEG"]
        ds.NumberOfStudyRelatedInstances = "12"
        yield 0xFF00, ds
        yield 0x0000, None

    node = fake_pacs(handler, [STUDY_ROOT_FIND])
    [study] = pacs.find(node, "study", {"modality": "MR"})
    assert study["patient_id"] == "P9" and study["patient_name"] == "Doe^Jo"
    assert study["study_date"] == "2020-02-29" and study["modalities"] == ["MR", "SEG"]
    assert study["n_instances"] == 12 and study["description"] is None


def test_cancel_while_the_pacs_is_silent(fake_pacs: Callable[..., PacsNode],
                                         tmp_path: Path) -> None:
    def handler(event: Any) -> Iterator[Any]:
        yield 3  # three instances announced, none ever sent
        fake_pacs.release.wait(10)  # type: ignore[attr-defined]
        yield 0xA702, None

    node = fake_pacs(None, [STUDY_ROOT_GET], timeout_s=30, get_handler=handler)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    start = time.monotonic()
    report = pacs.retrieve(node, dest=tmp_path, study_uid="1.2.3.4", cancel=stop.is_set)
    assert report.cancelled and report.files == []
    assert time.monotonic() - start < 2  # not the 30 s DIMSE time-out
