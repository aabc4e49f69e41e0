"""DICOMweb nodes against a real Orthanc with its DICOMweb plugin on 127.0.0.1: QIDO, WADO, STOW.

Faults: a dead port, TLS with an unknown certificate authority, refused credentials, a series
deleted on the PACS after the search, STOW refusing one instance of several.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pydicom
import pytest
from orthanc import (  # noqa: F401
    HAS_DICOMWEB,
    HOST,
    OrthancServer,
    free_port,
    make_studies,
    orthanc_fixture,
    start_orthanc,
)
from pydicom.uid import generate_uid

from oncoboard.config import PacsNode, Settings, _pacs_node
from oncoboard.errors import ConfigError, NotFoundError, PacsError
from oncoboard.imaging import dicomweb, pacs
from oncoboard.imaging.webseries import open_remote

pytestmark = [pytest.mark.orthanc,
              pytest.mark.skipif(not HAS_DICOMWEB, reason="orthanc-dicomweb is not installed")]


def test_echo_is_a_cheap_qido(orthanc: OrthancServer) -> None:
    result = pacs.echo(orthanc.web_node())
    assert result.node == "orthanc-web" and 0 < result.elapsed_s < 5


@pytest.mark.parametrize(("level", "filters"), [
    ("patient", {"patient_id": "ONCO-PACS-*"}),
    ("study", {"modality": "CT"}),
    ("study", {"study_date": "2023-01-01..2023-12-31"}),
    ("study", {"patient_name": "Test*"}),  # Orthanc 1.10 QIDO never matches a ^
    ("series", {"modality": "MR"}),
])
def test_qido_answers_as_c_find_does(orthanc: OrthancServer, level: str,
                                     filters: dict[str, str]) -> None:
    web = pacs.find(orthanc.web_node(), level, filters)  # type: ignore[arg-type]
    dimse = pacs.find(orthanc.node(), level, filters)  # type: ignore[arg-type]
    assert web and len(web) == len(dimse)
    skip = {"description"}  # Orthanc's study description: QIDO and C-FIND take other instances
    for a, b in zip(web, dimse, strict=True):
        assert {k: v for k, v in a.items() if k not in skip} == {
            k: v for k, v in b.items() if k not in skip}


def test_series_of_a_study_and_limit(orthanc: OrthancServer) -> None:
    ct = orthanc.studies[0]
    rows = pacs.find(orthanc.web_node(), "series", {"study_uid": ct.study_uid})
    assert {r["series_uid"] for r in rows} == set(ct.series)
    assert all(r["study_uid"] == ct.study_uid for r in rows)
    assert len(pacs.find(orthanc.web_node(), "series", limit=1)) == 1


def test_retrieve_fetches_only_missing_instances(orthanc: OrthancServer, tmp_path: Path) -> None:
    ct = orthanc.studies[0]
    node = orthanc.web_node()
    seen: list[tuple[int, int]] = []
    first = pacs.retrieve(node, dest=tmp_path, study_uid=ct.study_uid,
                          progress=lambda d, t, m: seen.append((d, t)))
    assert first.method == "wado-rs" and first.completed == 5 and len(first.files) == 5
    assert seen[-1] == (5, 5)
    by_uid = {ds.SOPInstanceUID: ds for ds in ct.instances}
    for path in first.files:
        got = pydicom.dcmread(path)
        assert path.name == f"{got.SOPInstanceUID}.dcm"
        if "PixelData" in got:
            assert np.array_equal(got.pixel_array, by_uid[got.SOPInstanceUID].pixel_array)
    # Lose one file: the second run fetches that one only.
    first.files[0].unlink()
    again = pacs.retrieve(node, dest=tmp_path, study_uid=ct.study_uid)
    assert (again.completed, again.already_present, len(again.files)) == (1, 4, 5)


def test_series_retrieval_keeps_the_compressed_syntax(orthanc: OrthancServer,
                                                      tmp_path: Path) -> None:
    mr = orthanc.studies[1]
    [series_uid] = mr.series
    report = pacs.retrieve(orthanc.web_node(), dest=tmp_path, series_uid=series_uid)
    assert report.study_uid == mr.study_uid and len(report.files) == 3
    assert {str(pydicom.dcmread(p).file_meta.TransferSyntaxUID) for p in report.files} == {
        "1.2.840.10008.1.2.5"}


def test_cancel_keeps_complete_files_and_the_next_run_resumes(orthanc: OrthancServer,
                                                              tmp_path: Path) -> None:
    ct = orthanc.studies[0]
    node = orthanc.web_node()
    received: list[int] = []
    report = pacs.retrieve(node, dest=tmp_path, study_uid=ct.study_uid,
                           progress=lambda d, t, m: received.append(d),
                           cancel=lambda: len(received) >= 3)
    assert report.cancelled and report.files == []
    kept = sorted((tmp_path / ct.study_uid).glob("*.dcm"))
    assert 1 <= len(kept) < 5 and not list((tmp_path / ct.study_uid).glob(".*"))
    rest = pacs.retrieve(node, dest=tmp_path, study_uid=ct.study_uid)
    assert rest.already_present == len(kept) and rest.completed == 5 - len(kept)


def test_retrieve_into_store_indexes_and_a_second_run_fetches_nothing(
        orthanc: OrthancServer, tmp_path: Path) -> None:
    from oncoboard.config import Settings
    from oncoboard.store import open_store

    settings = Settings(data_dir=tmp_path)
    store = open_store(settings.db_path)
    ct = orthanc.studies[0]
    report = pacs.retrieve_into_store(settings, store, orthanc.web_node(), study_uid=ct.study_uid)
    assert report.index.instances_indexed == 5
    assert store.db.execute("SELECT count(*) FROM dicom_instances").fetchone()[0] == 5
    again = pacs.retrieve_into_store(settings, store, orthanc.web_node(),
                                     study_uid=ct.study_uid)
    assert again.completed == 0 and again.already_present == 5


def test_a_series_deleted_after_the_search_stores_nothing(tmp_path: Path) -> None:
    server = start_orthanc(tmp_path / "orthanc")
    try:
        server.studies = make_studies()
        for study in server.studies:
            server.upload(study.instances)
        ct = server.studies[0]
        series_uid = next(iter(ct.series))
        node = server.web_node()
        assert pacs.find(node, "series", {"series_uid": series_uid})
        [orthanc_id] = server.http("/tools/lookup", series_uid.encode())  # type: ignore[misc]
        server.http(f"/series/{orthanc_id['ID']}", method="DELETE")
        with pytest.raises(NotFoundError, match="deleted"):
            pacs.retrieve(node, dest=tmp_path / "dest", series_uid=series_uid)
        # Deleted between the instance listing and the download: the run's files are removed.
        mr_series = next(iter(server.studies[1].series))
        calls: list[int] = []

        def delete_on_first_file(done: int, total: int, message: str) -> None:
            calls.append(done)
            if done == 0:
                [found] = server.http("/tools/lookup", mr_series.encode())  # type: ignore[misc]
                server.http(f"/series/{found['ID']}", method="DELETE")

        with pytest.raises(NotFoundError, match="nothing was stored"):
            pacs.retrieve(node, dest=tmp_path / "dest", series_uid=mr_series,
                          progress=delete_on_first_file)
        assert not (tmp_path / "dest" / server.studies[1].study_uid).exists()
    finally:
        server.stop()


def test_node_down_says_so(tmp_path: Path) -> None:
    node = PacsNode("down", dicomweb_url=f"http://{HOST}:{free_port()}/dicom-web", timeout_s=2)
    with pytest.raises(PacsError, match="refused the connection"):
        pacs.echo(node)
    with pytest.raises(PacsError, match="refused the connection"):
        pacs.retrieve(node, dest=tmp_path, study_uid="1.2.3")


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """Write a test CA and a server certificate for 127.0.0.1 it signed; return (server, CA)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    def key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    now = dt.datetime.now(dt.UTC)
    ca_key, server_key = key(), key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Oncoboard test hospital CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
              .issuer_name(ca_name).public_key(server_key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(days=1))
              .not_valid_after(now + dt.timedelta(days=2))
              .add_extension(x509.SubjectAlternativeName(
                  [x509.IPAddress(ipaddress.ip_address(HOST))]), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                  ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    both, ca_file = folder / "server.pem", folder / "ca.pem"
    both.write_bytes(server.public_bytes(pem) + server_key.private_bytes(
        pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    ca_file.write_bytes(ca.public_bytes(pem))
    return both, ca_file


def test_tls_failure_then_the_hospital_ca(tmp_path: Path) -> None:
    """Orthanc 1.10 (Debian) crashed on its first HTTPS request here, so a small HTTPS QIDO
    server stands in: what is tested is our side of TLS."""
    import http.server
    import json
    import ssl
    import threading

    both, ca = _self_signed(tmp_path)

    class Qido(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = json.dumps([]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer((HOST, 0), Qido)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(both)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://{HOST}:{httpd.server_address[1]}/dicom-web"
        with pytest.raises(PacsError, match="TLS check failed.*tls_ca_bundle"):
            pacs.echo(PacsNode("tls", dicomweb_url=url, timeout_s=5))
        # viewing, retrieving and storing say the same, and leave nothing behind
        node = PacsNode("tls", dicomweb_url=url, timeout_s=5)
        settings = Settings(data_dir=tmp_path / "data")
        with pytest.raises(PacsError, match="TLS check failed"):
            open_remote(settings, node, "1.2.3")
        with pytest.raises(PacsError, match="TLS check failed"):
            pacs.retrieve(node, dest=tmp_path / "dest", series_uid="1.2.3")
        with pytest.raises(PacsError, match="TLS check failed"):
            pacs.store(node, make_studies()[0].instances[:1])
        assert not (tmp_path / "data").exists() and not (tmp_path / "dest").exists()
        assert pacs.echo(PacsNode("tls", dicomweb_url=url, tls_ca_bundle=str(ca))).elapsed_s < 5
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_authentication(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_orthanc(tmp_path / "orthanc", extra={
        "AuthenticationEnabled": True, "RegisteredUsers": {"radiology": "s3cret-pw"}})
    try:
        base = dict(auth="basic", username="radiology", secret_env="ONCO_TEST_PACS_SECRET")
        with pytest.raises(PacsError, match=r"HTTP 401.*no credentials were sent"):
            pacs.echo(server.web_node())
        monkeypatch.setenv("ONCO_TEST_PACS_SECRET", "s3cret-pw")
        node = server.web_node(**base)
        assert pacs.echo(node).elapsed_s < 5
        study = make_studies()[0]
        server.upload(study.instances)
        series_uid = next(iter(study.series))
        monkeypatch.setenv("ONCO_TEST_PACS_SECRET", "wrong")
        with pytest.raises(PacsError, match=r"refused the credentials \(HTTP 401\)"):
            pacs.find(node, "study")
        # viewing, retrieving and storing are refused the same way and leave nothing behind
        settings = Settings(data_dir=tmp_path / "data")
        for action in (lambda: open_remote(settings, node, series_uid),
                       lambda: pacs.retrieve(node, dest=tmp_path / "dest",
                                             series_uid=series_uid),
                       lambda: pacs.store(node, make_studies()[1].instances)):
            with pytest.raises(PacsError, match=r"refused the credentials \(HTTP 401\)"):
                action()
        assert not (tmp_path / "data").exists() and not (tmp_path / "dest").exists()
        assert len(server.http("/instances")) == len(study.instances)  # type: ignore[arg-type]
        monkeypatch.delenv("ONCO_TEST_PACS_SECRET")
        with pytest.raises(ConfigError, match="needs a password"):
            pacs.echo(node)
    finally:
        server.stop()


def test_secret_comes_from_the_keyring_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    from keyring.backend import KeyringBackend

    class Memory(KeyringBackend):
        priority = 1  # type: ignore[assignment]
        values = {("oncoboard-pacs:web", "token"): "tok-123"}

        def get_password(self, service: str, username: str) -> str | None:
            return self.values.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.values[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.values.pop((service, username), None)

    previous = keyring.get_keyring()
    keyring.set_keyring(Memory())
    try:
        node = PacsNode("web", dicomweb_url="https://x/dicom-web", auth="bearer")
        assert dicomweb.secret(node) == "tok-123"
        assert dicomweb.client(node)._session.headers["Authorization"] == "Bearer tok-123"
    finally:
        keyring.set_keyring(previous)


def test_no_keyring_backend_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        node = PacsNode("web", dicomweb_url="https://x/dicom-web", auth="bearer")
        with pytest.raises(ConfigError, match="no OS keyring backend"):
            dicomweb.secret(node)
        monkeypatch.setenv("MY_TOKEN", "abc")
        assert dicomweb.secret(PacsNode("web", dicomweb_url="https://x/dicom-web",
                                        auth="bearer", secret_env="MY_TOKEN")) == "abc"
    finally:
        keyring.set_keyring(previous)


@pytest.mark.parametrize(("raw", "message"), [
    ({"name": "a", "dicomweb_url": "https://p/dicom-web", "password": "x"}, "keyring"),
    ({"name": "a", "dicomweb_url": "https://p/dicom-web", "token": "x"}, "cannot be set"),
    ({"name": "a", "dicomweb_url": "ftp://p"}, "https://"),
    ({"name": "a", "dicomweb_url": "https://p", "auth": "basic"}, "username"),
    ({"name": "a", "dicomweb_url": "https://p", "auth": "kerberos"}, "auth must be"),
    ({"name": "a", "dicomweb_url": "https://p", "host": "h", "port": 104, "ae_title": "X"},
     "not both"),
    ({"name": "a"}, "dicomweb_url"),
])
def test_node_configuration_is_checked(raw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _pacs_node(raw)


def test_config_file_with_a_dicomweb_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from oncoboard.config import load_settings

    site = tmp_path / "site.toml"
    site.write_text('[[pacs]]\nname = "web"\ndicomweb_url = "https://pacs/dicom-web/"\n'
                    'auth = "bearer"\nsecret_env = "TOKEN_VAR"\ntls_ca_bundle = "/ca.pem"\n')
    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(site))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "none.toml"))
    node = load_settings(tmp_path).pacs_node("web")
    assert node.is_dicomweb and node.dicomweb_url == "https://pacs/dicom-web"
    site.write_text('[[pacs]]\nname = "web"\ndicomweb_url = "https://p"\npassword = "x"\n')
    with pytest.raises(ConfigError, match="cannot be set in a configuration file"):
        load_settings(tmp_path)


def test_stow_stores_and_names_the_refused_instance(orthanc: OrthancServer) -> None:
    study = make_studies()[0]
    ct = next(iter(study.series.values()))
    good, bad = ct[:2], ct[2]
    for ds in ct:
        ds.PatientID = "ONCO-STOW-001"  # not mistaken for the fixture's patients by later tests
    bad.StudyInstanceUID = generate_uid()  # not of the study the request is for
    results = pacs.store(orthanc.web_node(), [*good, bad], study_uid=study.study_uid)
    assert [r.stored for r in results] == [True, True, False]
    assert "refused" in results[2].reason
    for ds in good:
        assert pacs.find(orthanc.web_node(), "series", {"series_uid": ds.SeriesInstanceUID})


def test_cli_echo_find_retrieve_on_a_dicomweb_node(orthanc: OrthancServer, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from oncoboard.cli import main

    site = tmp_path / "site.toml"
    site.write_text(f'[[pacs]]\nname = "web"\ndicomweb_url = "{orthanc.dicomweb_url}"\n\n'
                    f'[[pacs]]\nname = "web-down"\n'
                    f'dicomweb_url = "http://{HOST}:{free_port()}/dicom-web"\ntimeout_s = 2\n')
    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(site))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "no-user.toml"))
    monkeypatch.setenv("ONCOBOARD_HOME", str(tmp_path / "data"))
    assert main(["pacs", "echo"]) == 4
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("web: ok (") and "refused the connection" in out[1]
    assert main(["pacs", "find", "--node", "web", "--level", "study", "--modality", "CT",
                 "--patient-id", "ONCO-PACS-001", "--json"]) == 0
    [study] = json.loads(capsys.readouterr().out)
    assert study["study_uid"] == orthanc.studies[0].study_uid
    assert main(["pacs", "retrieve", "--node", "web", "--study", study["study_uid"]]) == 0
    assert "5 files from web (WADO-RS" in capsys.readouterr().out
    assert main(["pacs", "retrieve", "--node", "web", "--study", study["study_uid"],
                 "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["completed"] == 0 and again["already_present"] == 5
    assert main(["pacs", "retrieve", "--node", "web-down", "--study", "1.2.3"]) == 4
