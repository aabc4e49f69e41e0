"""POST a FHIR transaction Bundle to the site's FHIR server (``[fhir]`` in the configuration).

One HTTP POST to the server's base URL (``application/fhir+json``), with TLS as configured
(``tls_verify``, ``tls_ca_bundle``) and the bearer token or password from the OS keyring (else
``secret_env``), never from a file. A transaction is all or nothing on the server's side: either
every entry is applied, or none. What the server answers is said in plain words: per entry
created or updated with its location, or why the bundle was refused (the OperationOutcome's
issues, with the entry they point at). Every sent bundle is audited (``board.fhir_sent``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncoboard.config import FhirServer
from oncoboard.errors import ConfigError, FhirServerError

FHIR_JSON = "application/fhir+json"


@dataclass
class SendResult:
    """The server's answer to one transaction."""

    server: str
    entries: list[dict[str, str]] = field(default_factory=list)  # {type, status, location}

    def describe(self) -> str:
        """Return one line per resource type: how many created and updated, and where."""
        created = sum(e["status"].startswith("201") for e in self.entries)
        lines = [f"{self.server}: transaction accepted, {len(self.entries)} resources "
                 f"({created} created, {len(self.entries) - created} updated or unchanged)"]
        for e in self.entries:
            lines.append(f"  {e['type']}: {e['status']} {e['location']}".rstrip())
        return "\n".join(lines)


def server_of(settings: Any) -> FhirServer:
    """Return the configured FHIR server, or say how to configure one."""
    server: FhirServer | None = getattr(settings, "fhir", None) if settings else None
    if server is None:
        raise ConfigError("no FHIR server is configured: add a [fhir] table with base_url to the "
                          "site or user configuration (see README, FHIR out)")
    return server


def session(server: FhirServer) -> Any:
    """Return a requests session with the server's TLS settings and credentials."""
    from oncoboard.imaging.dicomweb import secret, session_class

    s = session_class()()
    if server.tls_ca_bundle:
        if not Path(server.tls_ca_bundle).is_file():
            raise ConfigError(f"{server.label}: tls_ca_bundle {server.tls_ca_bundle!r} is not "
                              "a file")
        s.verify = server.tls_ca_bundle
    else:
        s.verify = bool(server.tls_verify)
    token = secret(server)
    if server.auth == "basic":
        s.auth = (server.username, token or "")
    elif server.auth == "bearer":
        s.headers["Authorization"] = f"Bearer {token}"
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


def _failure(server: FhirServer, exc: BaseException) -> FhirServerError:
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
                               "server may still apply the transaction: export again later to "
                               "check (sending again updates, never duplicates)")
    if isinstance(exc, requests.exceptions.ConnectionError):
        if "refused" in str(exc).lower():
            return FhirServerError(f"{where} refused the connection (is the server running, "
                                   "and is base_url right?)")
        return FhirServerError(f"{where} cannot be reached: the connection failed or was "
                               "closed")
    return FhirServerError(f"{where}: the request failed ({type(exc).__name__})")


def _refusal(server: FhirServer, response: Any, bundle: dict[str, Any]) -> FhirServerError:
    code = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    issues = outcome_text(body, bundle)
    where = server.label
    if code == 401:
        how = ("no credentials were sent: set [fhir] auth" if server.auth == "none" else
               f"check the secret in the keyring ({server.keyring_name})"
               + (f" or {server.secret_env}" if server.secret_env else ""))
        return FhirServerError(f"{where} refused the credentials (HTTP 401): {how}")
    if code == 403:
        return FhirServerError(f"{where} forbids this user to write these resources (HTTP 403)"
                               + (f": {issues}" if issues else "") +
                               "; ask its administrator for access")
    if code == 404:
        return FhirServerError(f"{where}: not found (HTTP 404); is base_url the FHIR base "
                               "(e.g. https://host/fhir)?")
    what = "refused the bundle" if 400 <= code < 500 else "failed"
    detail = issues or (response.text or "").strip()[:300] or response.reason or ""
    return FhirServerError(f"{where} {what} (HTTP {code}); nothing was stored"
                           + (f": {detail}" if detail else ""))


def send_bundle(settings: Any, bundle: dict[str, Any], *, store: Any = None,
                server: FhirServer | None = None) -> SendResult:
    """POST `bundle` (a transaction) to the FHIR server; return what the server did.

    Raises
    ------
    FhirServerError
        The server cannot be reached, refused the credentials, or rejected the bundle: the
        message says why in plain words, with the server's own issues.
    ConfigError
        No server is configured, or its secret is missing.
    """
    import requests

    server = server or server_of(settings)
    body = json.dumps(bundle, ensure_ascii=False).encode()
    http = session(server)
    try:
        response = http.post(server.base_url, data=body, timeout=server.timeout_s,
                             headers={"Content-Type": f"{FHIR_JSON}; charset=utf-8"})
    except requests.exceptions.RequestException as exc:
        raise _failure(server, exc) from None
    finally:
        http.close()
    if not 200 <= response.status_code < 300:
        raise _refusal(server, response, bundle)
    try:
        answer = response.json()
    except ValueError:
        raise FhirServerError(f"{server.label} answered HTTP {response.status_code} without a "
                              "FHIR Bundle: the transaction's outcome is unknown") from None
    if not isinstance(answer, dict) or answer.get("resourceType") != "Bundle":
        kind = answer.get("resourceType") if isinstance(answer, dict) else "non-FHIR answer"
        raise FhirServerError(f"{server.label} answered with a {kind} instead of a "
                              "transaction-response Bundle: the outcome is unknown")
    sent = bundle.get("entry") or []
    result = SendResult(server.label)
    for i, entry in enumerate(answer.get("entry") or []):
        res = entry.get("response") or {}
        kind = sent[i]["resource"]["resourceType"] if i < len(sent) else "?"
        result.entries.append({"type": kind, "status": str(res.get("status", "")),
                               "location": str(res.get("location", ""))})
    if store is not None:
        _audit(store, server, bundle, body, result)
    return result


def _audit(store: Any, server: FhirServer, bundle: dict[str, Any], body: bytes,
           result: SendResult) -> None:
    from oncoboard import audit
    from oncoboard.board.meetings import audited

    with audited(store):
        audit.append(store, "board.fhir_sent", {
            "server": server.base_url, "bundle": (bundle.get("identifier") or {}).get("value"),
            "bundle_sha256": hashlib.sha256(body).hexdigest(),
            "resources": len(bundle.get("entry") or []),
            "locations": [e["location"] for e in result.entries]})
