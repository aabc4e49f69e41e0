"""The hospital's remote systems a workstation talks to: PACS nodes (DIMSE or DICOMweb) and the
FHIR server, as read from the configuration by :mod:`oncoboard.config` (which exports both)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class HttpAccess:
    """How a workstation signs in to an HTTP service and checks its certificate (a DICOMweb PACS
    node, the FHIR server): one set of fields, so both read and check them alike.

    ``auth``: ``none``, ``basic`` (with ``username``) or ``bearer``; the secret comes from the OS
    keyring (service ``keyring_service``, else the service's default), else from the
    environment variable named by ``secret_env``, never from the configuration. ``tls_verify``
    and ``tls_ca_bundle`` (a CA file, else the system's) check the server's certificate.
    """

    auth: str = "none"
    username: str = ""
    secret_env: str = ""
    keyring_service: str = ""
    tls_verify: bool = True
    tls_ca_bundle: str = ""


@dataclass(frozen=True)
class PacsNode(HttpAccess):
    """A PACS node the workstation can query, retrieve from and store to.

    A DIMSE node has ``ae_title``, ``host`` and ``port``; a DICOMweb node has ``dicomweb_url``
    (the service root, e.g. ``https://pacs/dicom-web``) and optionally ``auth`` (``basic`` with
    ``username``, or ``bearer``), ``tls_verify`` and ``tls_ca_bundle``. The password or token is
    read from the OS keyring (service ``keyring_service``, default ``oncoboard-pacs:NAME``), else
    from the environment variable named by ``secret_env``; never from the configuration.
    """

    name: str
    ae_title: str = ""
    host: str = ""
    port: int = 0
    calling_ae_title: str = "ONCOBOARD"
    timeout_s: float = 10.0
    dicomweb_url: str = ""

    @property
    def is_dicomweb(self) -> bool:
        """Return True for a DICOMweb node, False for a DIMSE one."""
        return bool(self.dicomweb_url)

    @property
    def keyring_name(self) -> str:
        """Return the keyring service name the node's secret is stored under."""
        return self.keyring_service or f"oncoboard-pacs:{self.name}"

    @property
    def label(self) -> str:
        """Return how messages name the node."""
        return f"PACS {self.name!r}"


@dataclass(frozen=True)
class FhirServer(HttpAccess):
    """The hospital's FHIR server (``[fhir]`` in a configuration file).

    ``base_url`` is the FHIR base (``https://host/fhir``); ``auth``, ``username``,
    ``secret_env``, ``tls_verify``, ``tls_ca_bundle`` and ``timeout_s`` as for a DICOMweb PACS
    node. The token or password is read from the OS keyring (service ``keyring_service``, default
    ``oncoboard-fhir``; user ``token`` for bearer, else the username), else from the environment
    variable named by ``secret_env``; never from the configuration.
    """

    base_url: str
    timeout_s: float = 30.0
    name: str = "fhir"

    @property
    def keyring_name(self) -> str:
        """Return the keyring service name the server's secret is stored under."""
        return self.keyring_service or "oncoboard-fhir"

    @property
    def label(self) -> str:
        """Return how messages name the server."""
        return f"FHIR server {self.base_url}"
