"""Credentials and HTTP sessions for the hospital's servers: DICOMweb PACS nodes, FHIR server.

Below the record and imaging layers, so that both (DICOMweb in imaging, FHIR import in
patients) and the board use one way of reading a secret and one TLS policy:

- :func:`secret`: the password or token of a PACS node or the FHIR server, from the OS keyring
  (service ``keyring_name``), else the environment variable named by ``secret_env``; never from
  a configuration file;
- :func:`session_class`: a requests session whose own ``verify`` (a CA file) wins over the
  environment; :func:`http_session`: one with a server's TLS settings and credentials;
- the FHIR server's session (:func:`fhir_session`), its errors in plain words
  (:func:`fhir_failure`) and an OperationOutcome as sentences (:func:`outcome_text`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoboard.config import FhirServer, PacsNode
from oncoboard.errors import ConfigError, FhirServerError

if TYPE_CHECKING:
    from oncoboard.config import Settings

FHIR_JSON = "application/fhir+json"


def keyring_user(node: PacsNode | FhirServer) -> str:
    """Return the keyring user name the node's secret is stored under."""
    return node.username if node.auth == "basic" else "token"


def secret(node: PacsNode | FhirServer) -> str | None:
    """Return the node's password or token (None when ``auth = "none"``).

    Raises
    ------
    ConfigError
        The secret is in neither the keyring nor the environment variable; the message says
        whether this machine has a keyring backend at all.
    """
    if node.auth == "none":
        return None
    what = "password" if node.auth == "basic" else "bearer token"
    backend_note = ""
    value: str | None = None
    try:
        import keyring
        import keyring.errors

        try:
            value = keyring.get_password(node.keyring_name, keyring_user(node))
        except keyring.errors.NoKeyringError:
            backend_note = "this machine has no OS keyring backend (python keyring found none)"
        except keyring.errors.KeyringError as exc:
            backend_note = f"the OS keyring could not be read ({exc})"
    except ImportError:
        backend_note = "the python package keyring is not installed"
    if not value and node.secret_env:
        value = os.environ.get(node.secret_env) or None
    if value:
        return value
    where = (f"the keyring (service {node.keyring_name!r}, user {keyring_user(node)!r})"
             if not backend_note else "the keyring")
    env = (f" or the environment variable {node.secret_env}" if node.secret_env else
           " (set secret_env in the node's configuration to name an environment variable "
           "holding it)")
    note = f"; {backend_note}" if backend_note else ""
    raise ConfigError(f"{node.label} needs a {what}: none in {where}{env}{note}. "
                      f"Store it with: keyring set {node.keyring_name} {keyring_user(node)}")


def session_class() -> Any:
    import requests

    class Session(requests.Session):
        """A session whose own ``verify`` wins: requests lets REQUESTS_CA_BUNDLE or
        CURL_CA_BUNDLE in the environment replace a session's CA file (requests issue 3829),
        so a node's tls_ca_bundle was silently ignored on machines that set them."""

        def request(self, method: Any, url: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            if self.verify is not True:
                kwargs.setdefault("verify", self.verify)
            return super().request(method, url, **kwargs)

    return Session


def fhir_server(settings: Settings) -> FhirServer:
    """Return the configured FHIR server, or say how to configure one."""
    server: FhirServer | None = getattr(settings, "fhir", None) if settings else None
    if server is None:
        raise ConfigError("no FHIR server is configured: add a [fhir] table with base_url to the "
                          "site or user configuration (see README, FHIR out)")
    return server


def http_session(access: PacsNode | FhirServer) -> Any:
    """Return a requests session with a server's TLS settings and credentials (a DICOMweb PACS
    node's or the FHIR server's; :class:`~oncoboard.nodes.HttpAccess`)."""
    s = session_class()()
    if access.tls_ca_bundle:
        if not Path(access.tls_ca_bundle).is_file():
            raise ConfigError(f"{access.label}: tls_ca_bundle {access.tls_ca_bundle!r} is not "
                              "a file")
        s.verify = access.tls_ca_bundle
    else:
        s.verify = bool(access.tls_verify)
    token = secret(access)
    if access.auth == "basic":
        s.auth = (access.username, token or "")
    elif access.auth == "bearer":
        s.headers["Authorization"] = f"Bearer {token}"
    return s


def fhir_session(server: FhirServer) -> Any:
    """Return a requests session with the FHIR server's TLS settings and credentials."""
    s = http_session(server)
    s.headers["Accept"] = FHIR_JSON
    return s


def outcome_text(body: Any, bundle: dict[str, Any] | None = None) -> str:
    """Return an OperationOutcome's issues as plain sentences (the entry named where known)."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ""
    parts = []
    for issue in body.get("issue") or []:
        text = (issue.get("diagnostics") or (issue.get("details") or {}).get("text")
                or issue.get("code") or "no detail")
        where = ", ".join(issue.get("expression") or issue.get("location") or [])
        m = re.search(r"entry\[(\d+)\]", where)
        if m and bundle is not None:
            entries = bundle.get("entry") or []
            i = int(m.group(1))
            if i < len(entries):
                where = f"entry {i} ({entries[i]['resource'].get('resourceType')}): {where}"
        sev = issue.get("severity", "error")
        parts.append(f"{sev}: {text}" + (f" [{where}]" if where else ""))
    return "; ".join(parts)


def fhir_failure(server: FhirServer, exc: BaseException) -> FhirServerError:
    """Return the error to raise for a request to the FHIR server that got no answer."""
    import requests

    where = server.label
    if isinstance(exc, requests.exceptions.SSLError):
        m = re.search(r"certificate verify failed: ([^(\"')]+)", str(exc))
        detail = m.group(1).strip() if m else "the TLS handshake failed"
        return FhirServerError(f"{where}: TLS check failed ({detail}); if the hospital uses its "
                               "own certificate authority, set [fhir] tls_ca_bundle to its PEM "
                               "file")
    if isinstance(exc, requests.exceptions.Timeout):
        return FhirServerError(f"{where} did not answer within {server.timeout_s:g} s; the "
                               "server may still apply a transaction: sending again updates, "
                               "never duplicates")
    if isinstance(exc, requests.exceptions.ConnectionError):
        if "refused" in str(exc).lower():
            return FhirServerError(f"{where} refused the connection (is the server running, "
                                   "and is base_url right?)")
        return FhirServerError(f"{where} cannot be reached: the connection failed or was "
                               "closed")
    return FhirServerError(f"{where}: the request failed ({type(exc).__name__})")
