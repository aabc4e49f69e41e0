"""``board export --send``: the FHIR transaction over HTTP, against a local recording server.

No FHIR server can be installed from the package registries this project uses (HAPI FHIR is a
Java application, not packaged for Debian or PyPI), so the HTTP layer is tested against a
small server on 127.0.0.1 that records each request and answers as a FHIR server does: 200 with
a transaction-response Bundle, or 400 / 401 / 500 with an OperationOutcome.
"""

from __future__ import annotations

import json
import os

import pytest
from board_helpers import PATIENTS, add_patient
from fake_fhir import FakeFhir
from test_board_fhir import decided  # noqa: F401 (fixture)

from oncoboard import cli
from oncoboard.board import fhir_out, fhir_send
from oncoboard.config import FhirServer
from oncoboard.errors import ConfigError, FhirServerError


@pytest.fixture
def fake_fhir():
    server = FakeFhir()
    yield server
    server.stop()


def test_transaction_posted_and_answer_read(store, decided, fake_fhir):  # noqa: F811
    from oncoboard import audit

    meeting, _ = decided
    bundle = fhir_out.meeting_bundle(store, meeting.id, patient_id="BRC-001")
    server = FhirServer(fake_fhir.url)
    result = fhir_send.send_bundle(None, bundle, store=store, server=server)
    [req] = fake_fhir.requests
    assert req["path"] == "/fhir" and req["body"] == bundle
    assert req["headers"]["Content-Type"].startswith("application/fhir+json")
    assert "Authorization" not in req["headers"]
    assert {e["status"] for e in result.entries} == {"201 Created"}
    assert result.entries[0]["type"] == "Patient"
    assert "transaction accepted, 7 resources (7 created" in result.describe()
    again = fhir_send.send_bundle(None, fhir_out.meeting_bundle(store, meeting.id,
                                                                patient_id="BRC-001"),
                                  server=server)
    assert {e["status"] for e in again.entries} == {"200 OK"}  # updated, not duplicated
    [entry] = [e for e in audit.entries(store) if e.event_type == "board.fhir_sent"]
    assert entry.payload["resources"] == 7 and entry.payload["server"] == fake_fhir.url


def test_server_errors_in_plain_words(store, decided, fake_fhir, monkeypatch):  # noqa: F811
    meeting, _ = decided
    bundle = fhir_out.meeting_bundle(store, meeting.id, patient_id="BRC-001")
    fake_fhir.mode = "reject"
    with pytest.raises(FhirServerError) as exc:
        fhir_send.send_bundle(None, bundle, server=FhirServer(fake_fhir.url))
    text = exc.value.message
    assert "refused the bundle (HTTP 400); nothing was stored" in text
    assert "Observation/ki67-1 not found" in text and "entry 1 (RiskAssessment)" in text
    fake_fhir.mode = "unauthorised"
    monkeypatch.setenv("FHIR_TOKEN", "s3cret")
    server = FhirServer(fake_fhir.url, auth="bearer", secret_env="FHIR_TOKEN",
                        keyring_service="oncoboard-test-none")
    with pytest.raises(FhirServerError, match="refused the credentials .HTTP 401.*FHIR_TOKEN"):
        fhir_send.send_bundle(None, bundle, server=server)
    assert fake_fhir.requests[-1]["headers"]["Authorization"] == "Bearer s3cret"
    monkeypatch.delenv("FHIR_TOKEN")
    with pytest.raises(ConfigError, match="FHIR server .* needs a bearer token"):
        fhir_send.send_bundle(None, bundle, server=server)
    fake_fhir.stop()
    with pytest.raises(FhirServerError, match="refused the connection"):
        fhir_send.send_bundle(None, bundle, server=FhirServer(fake_fhir.url, timeout_s=2))
    with pytest.raises(ConfigError, match=r"no FHIR server is configured.*\[fhir\]"):
        fhir_send.send_bundle(None, bundle)


def test_cli_export_fhir_and_send(tmp_path, fake_fhir, capsys, monkeypatch):
    from oncoboard.store import open_store

    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(tmp_path / "site.toml"))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "user.toml"))

    data = tmp_path / "data"
    store = open_store(data)
    for row in PATIENTS:
        add_patient(store, *row)
    store.close()
    with open(os.environ["ONCOBOARD_SITE_CONFIG"], "w") as f:
        f.write(f'[fhir]\nbase_url = "{fake_fhir.url}/"\ntimeout_s = 5\n')

    def run(*argv):
        return cli.main(["board", *argv, "--data-dir", str(data)])

    assert run("create", "--date", "2026-11-23", "--specialty", "thorax", "--title", "RCP",
               "--attendee", "Dr Lee (surgeon)") == 0
    assert run("add-case", "1", "LUN-001", "--question", "Lobectomy?") == 0
    assert run("add-case", "1", "BRC-001", "--question", "Chemo?") == 0
    assert run("decide", "1", "LUN-001", "--plan", "lobectomy", "--rationale", "cT2 N0") == 0
    out = tmp_path / "b.json"
    capsys.readouterr()
    assert run("export", "1", "--fhir", str(out), "--case", "LUN-001", "--send") == 0
    printed = capsys.readouterr().out
    assert "FHIR Bundle:" in printed and "transaction accepted" in printed
    bundle = json.loads(out.read_text())
    assert fake_fhir.requests[-1]["body"]["entry"][0]["fullUrl"] == bundle["entry"][0]["fullUrl"]
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {
        "Patient", "CarePlan", "DiagnosticReport", "Provenance"}
    fake_fhir.mode = "reject"
    assert run("export", "1", "--send") == 4
    assert "refused the bundle" in capsys.readouterr().err
    assert run("export", "1", "--pdf", str(tmp_path / "x.pdf"), "--case", "LUN-001") == 2
    with open(os.environ["ONCOBOARD_SITE_CONFIG"], "w") as f:
        f.write('[fhir]\nbase_url = "ftp://x"\n')
    assert run("export", "1", "--send") == 2
    assert "base_url 'ftp://x' must start with https://" in capsys.readouterr().err
    assert fhir_out.DECISION in json.dumps(bundle)
