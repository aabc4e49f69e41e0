"""The SQLite-to-PostgreSQL query translation and the URL helpers (no server needed)."""

from __future__ import annotations

import pytest

from oncoboard.database_url import check, describe, masked
from oncoboard.errors import ConfigError

translate = pytest.importorskip("oncoboard.store.dialect_postgres").translate


def test_placeholders_and_literals():
    assert translate("SELECT '?', \"a?\", x FROM t WHERE a = ? AND b LIKE '50%'") == (
        "SELECT '?', \"a?\", x FROM t WHERE a = %s AND b ILIKE '50%%'")
    assert translate("SELECT 1 WHERE a NOT LIKE ?") == "SELECT 1 WHERE a NOT ILIKE %s"


def test_insert_or_ignore_and_replace():
    assert translate("INSERT OR IGNORE INTO t (a, b) VALUES (?, ?)") == (
        "INSERT INTO t (a, b) VALUES (%s, %s) ON CONFLICT DO NOTHING")
    assert translate("INSERT OR REPLACE INTO t (k, b, c) VALUES (?, ?, ?) RETURNING k",
                     (("t", "k"),)) == (
        "INSERT INTO t (k, b, c) VALUES (%s, %s, %s) ON CONFLICT (k) DO UPDATE SET "
        "b = EXCLUDED.b, c = EXCLUDED.c RETURNING k")


def test_urls_are_shown_without_secrets():
    assert masked("postgresql://bob:s3cret@db/x") == "postgresql://bob:***@db/x"
    assert masked("postgresql://db/x?password=s3cret&sslmode=require") == (
        "postgresql://db/x?password=***&sslmode=require")
    assert describe("postgresql://bob@db.example:5433/oncoboard") == "db.example:5433/oncoboard"
    assert check("postgresql://bob@db/x", "test") == "postgresql://bob@db/x"
    with pytest.raises(ConfigError, match="must start with postgresql://"):
        check("mysql://db/x", "test")
    with pytest.raises(ConfigError, match="carries a password"):
        check("postgresql://db/x?password=s3cret", "test")
