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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oncoboard.config import FhirServer
from oncoboard.errors import FhirServerError
from oncoboard.remote import FHIR_JSON, fhir_failure, fhir_server, fhir_session, outcome_text

if TYPE_CHECKING:
    from oncoboard.config import Settings
    from oncoboard.store import Store


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


def send_bundle(settings: Settings, bundle: dict[str, Any], *, store: Store | None = None,
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

    server = server or fhir_server(settings)
    body = json.dumps(bundle, ensure_ascii=False).encode()
    http = fhir_session(server)
    try:
        response = http.post(server.base_url, data=body, timeout=server.timeout_s,
                             headers={"Content-Type": f"{FHIR_JSON}; charset=utf-8"})
    except requests.exceptions.RequestException as exc:
        raise fhir_failure(server, exc) from None
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


def _audit(store: Store, server: FhirServer, bundle: dict[str, Any], body: bytes,
           result: SendResult) -> None:
    from oncoboard import audit
    from oncoboard.board.meetings import audited

    with audited(store):
        audit.append(store, "board.fhir_sent", {
            "server": server.base_url, "bundle": (bundle.get("identifier") or {}).get("value"),
            "bundle_sha256": hashlib.sha256(body).hexdigest(),
            "resources": len(bundle.get("entry") or []),
            "locations": [e["location"] for e in result.entries]})
