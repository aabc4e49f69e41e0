"""Fixtures of the site database tests: a PostgreSQL database with the site's roles applied."""

from __future__ import annotations

from typing import Any

import pytest
from site_helpers import apply_roles, create_logins


@pytest.fixture
def site_db(pg_server_running: Any) -> Any:
    """Return (server, database name) of a migrated site database with roles.sql applied."""
    server = pg_server_running
    name = "t_site"
    server.fresh_database(name)
    apply_roles(server, name)
    create_logins(server)
    yield server, name
    server.drop_database(name)
