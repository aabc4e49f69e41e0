"""Fixtures: GBSG2 imported as patients; settings with the bundled plugins; a site key."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import cohorts  # noqa: E402

from oncoboard.config import Settings  # noqa: E402
from oncoboard.patients import importer  # noqa: E402
from oncoboard.store import open_store  # noqa: E402


@pytest.fixture
def site_key(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    priv = tmp_path / "site-key.pem"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub = tmp_path / "site-key.pub"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


@pytest.fixture
def settings(tmp_path, site_key, monkeypatch):
    monkeypatch.setenv("ONCOBOARD_SITE_CONFIG", str(tmp_path / "no-site.toml"))
    monkeypatch.setenv("ONCOBOARD_USER_CONFIG", str(tmp_path / "no-user.toml"))
    return Settings(data_dir=tmp_path / "data", providers=("CPUExecutionProvider",),
                    trusted_keys=(site_key[1],))


@pytest.fixture(scope="module")
def gbsg2_csv(tmp_path_factory):
    return cohorts.write_csv(tmp_path_factory.mktemp("gbsg2") / "gbsg2.csv",
                             cohorts.gbsg2_rows())


@pytest.fixture
def gbsg2_store(db_target, gbsg2_csv):
    """GBSG2 imported into a fresh store: the data folder's SQLite file, or a PostgreSQL
    database (each test using it runs on both)."""
    s = open_store(db_target)
    importer.import_file(s, gbsg2_csv)
    yield s
    s.close()
