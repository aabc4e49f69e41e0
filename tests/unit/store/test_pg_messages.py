"""What the user reads when the site database cannot be reached or signed in to: the reason in
words and what to do, libpq's own words in brackets, never "the connection was lost" for a
connection that never opened."""

from __future__ import annotations

import socket

import psycopg
import pytest

from oncoboard.errors import StorageError
from oncoboard.store import open_store
from oncoboard.store.pg import describe_error

FAILED = 'connection failed: connection to server at "10.1.2.3", port 5432 failed: '


@pytest.mark.parametrize(("said", "expected"), [
    (FAILED + 'FATAL:  database "rcp" does not exist',
     "the server holds no database rcp: check the database's name in [database] url"),
    (FAILED + "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
     "connections?", "the server refused the connection: is PostgreSQL running there"),
    (FAILED + "timeout expired", "no answer from the server in time: check the host name"),
    ('connection failed: could not translate host name "pacs.chu" to address: Name or service '
     "not known", "unknown host name: check [database] url"),
    ("failed to resolve host 'db.chu': [Errno -2] Name or service not known",
     "unknown host name: check [database] url"),
    (FAILED + "received invalid response to SSL negotiation: H",
     "what answers at that address and port is not PostgreSQL"),
    (FAILED + "FATAL:  the database system is starting up",
     "the server is starting or stopping: try again in a minute"),
    (FAILED + "FATAL:  sorry, too many clients already",
     "the server accepts no more connections (max_connections reached)"),
    (FAILED + "FATAL:  no such thing", "the connection could not be opened (FATAL:  no such"),
    (FAILED + 'FATAL:  GSSAPI authentication failed for user "bob"',
     "the server did not accept the Kerberos ticket for login bob: its principal must be bob@"),
    ("consuming input failed: server closed the connection unexpectedly",
     "the connection to the server was lost"),  # a session that was open: lost, indeed
])
def test_a_connection_that_fails_is_explained(said, expected):
    text = describe_error(psycopg.OperationalError(said), "postgresql://db.chu/site")
    assert expected in text
    assert ("was lost" in text) == ("consuming input" in said)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_missing_database_and_a_closed_port_on_a_real_server(pg_server_running):
    server = pg_server_running
    with pytest.raises(StorageError) as err:
        open_store(server.url("no_such_site"))
    assert (f"cannot connect to the database server 127.0.0.1:{server.port}/no_such_site: the "
            "server holds no database no_such_site") in err.value.message
    port = _free_port()
    with pytest.raises(StorageError) as err:
        open_store(f"postgresql://127.0.0.1:{port}/site")
    assert f"127.0.0.1:{port}/site: the server refused the connection" in err.value.message
    assert "was lost" not in err.value.message


def test_a_port_where_another_service_answers_is_named(tmp_path):
    """A web server at the database's address (a wrong port): said, not "connection lost"."""
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def answer() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    try:
        for mode in ("prefer", "disable"):  # TLS asked first, or the startup packet at once
            with pytest.raises(StorageError) as err:
                open_store(f"postgresql://127.0.0.1:{port}/site?sslmode={mode}")
            assert "is not PostgreSQL: check the port" in err.value.message, err.value.message
    finally:
        server.close()
