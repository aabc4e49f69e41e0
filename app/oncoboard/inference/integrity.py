"""Plugin integrity: model hash, ed25519 signature, and the manifest against the ONNX graph.

The signature (optional, required when ``settings.signed_plugins_only``) is an ed25519 signature
of the exact bytes of ``plugin.toml``, stored base64-encoded in ``plugin.toml.sig`` beside it (or
in the file the manifest names in ``model.signature``). Since the manifest holds the model's
sha256, the signature covers the model too. Trusted keys are PEM public key files listed in
``settings.trusted_keys``; the project's own key (:func:`project_public_key`, shipped in the
package) is trusted for the bundled plugins only, see :mod:`oncoboard.inference.discovery`.

The graph check opens the model with onnxruntime on CPU (the ``onnx`` package is a development
dependency only) and compares every declared tensor's name, element type and shape with the
session's input and output metadata.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oncoboard.inference.manifest import MANIFEST_NAME, Manifest, TensorSpec

log = logging.getLogger(__name__)

#: The detached signature's file name when the manifest does not name one.
SIGNATURE_NAME = "plugin.toml.sig"
_PROJECT_KEY = Path(__file__).resolve().parents[1] / "resources" / "keys" / "plugins-project.pub"


def project_public_key() -> Path | None:
    """Return the project's plugin-signing public key shipped in the package, or None."""
    return _PROJECT_KEY if _PROJECT_KEY.is_file() else None


def key_fingerprint(path: Path) -> str:
    """Return the first 16 hex digits of the sha256 of a PEM public key file's raw key."""
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_public_key,
    )

    raw = load_pem_public_key(Path(path).read_bytes()).public_bytes(Encoding.Raw,
                                                                     PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signature_path(folder: Path, manifest: Manifest) -> Path | None:
    """Return the plugin's signature file: the one the manifest names, else plugin.toml.sig."""
    if manifest.model.signature is not None:
        return folder / manifest.model.signature
    default = folder / SIGNATURE_NAME
    return default if default.is_file() else None

# onnxruntime's type strings -> manifest dtypes
ORT_TYPES = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64",
    "tensor(int32)": "int32", "tensor(bool)": "bool", "tensor(string)": "string",
    "tensor(uint8)": "uint8", "tensor(int16)": "int16",
}


def sha256_bytes(data: bytes) -> str:
    """Return the hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class SignatureStatus:
    """What the signature check found."""

    signed: bool               # a signature file is declared and present
    valid: bool                # it verifies against one of the trusted keys
    key: str | None            # the trusted key file that verified it
    problem: str | None        # why it is not valid (None when valid or unsigned)


def load_public_keys(paths: Iterable[Path]) -> list[tuple[str, Any]]:
    """Return (file name, Ed25519PublicKey) for each readable trusted key; skip bad ones."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    keys = []
    for path in paths:
        try:
            key = load_pem_public_key(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            log.warning("trusted key %s unreadable: %s", path, exc)
            continue
        if isinstance(key, Ed25519PublicKey):
            keys.append((str(path), key))
        else:
            log.warning("trusted key %s is not an ed25519 key", path)
    return keys


def check_signature(folder: Path, manifest: Manifest, trusted_keys: Iterable[Path]
                    ) -> SignatureStatus:
    """Check the plugin's signature of plugin.toml against the trusted keys."""
    from cryptography.exceptions import InvalidSignature

    sig_path = signature_path(folder, manifest)
    if sig_path is None:
        return SignatureStatus(False, False, None, None)
    try:
        signature = base64.b64decode(sig_path.read_text(encoding="ascii").strip(), validate=True)
    except (OSError, ValueError) as exc:
        return SignatureStatus(False, False, None, f"signature file {sig_path.name} unreadable: "
                                                   f"{exc}")
    data = (folder / MANIFEST_NAME).read_bytes()
    keys = load_public_keys(trusted_keys)
    if not keys:
        return SignatureStatus(True, False, None, "signed, but no trusted key is configured")
    for name, key in keys:
        try:
            key.verify(signature, data)
        except InvalidSignature:
            continue
        return SignatureStatus(True, True, name, None)
    return SignatureStatus(True, False, None, "signature does not verify with any trusted key")


def sign_plugin(folder: Path, private_key_pem: bytes, sig_name: str = SIGNATURE_NAME) -> Path:
    """Sign a plugin's plugin.toml with an ed25519 private key (PEM); return the signature file.

    The signature goes to `sig_name` (the name the manifest gives in ``model.signature``, if
    any; else ``plugin.toml.sig``, so signing never changes the manifest it signs).
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an ed25519 private key")
    signature = key.sign((folder / MANIFEST_NAME).read_bytes())
    out = folder / sig_name
    out.write_text(base64.b64encode(signature).decode("ascii") + "\n", encoding="ascii")
    return out


def open_check_session(model_path: Path) -> Any:
    """Open the model on CPU for checks; raise ValueError with onnxruntime's reason if invalid."""
    from oncoboard.inference.runtime import load_onnxruntime

    ort = load_onnxruntime()  # telemetry off

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    try:
        return ort.InferenceSession(str(model_path), sess_options=opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/InvalidProtobuf
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"the ONNX file cannot be loaded: {first[:300]}") from exc


def _shape_problem(spec: TensorSpec, actual: list[Any]) -> str | None:
    if len(spec.shape) != len(actual):
        return f"rank {len(spec.shape)} declared, graph has shape {actual}"
    for declared, real in zip(spec.shape, actual, strict=True):
        declared_dynamic = not isinstance(declared, int) or declared < 0
        real_dynamic = not isinstance(real, int) or real < 0
        if declared_dynamic and not real_dynamic:
            return f"shape {spec.shape} declared, graph has fixed shape {actual}"
        if not declared_dynamic and not real_dynamic and declared != real:
            return f"shape {spec.shape} declared, graph has {actual}"
    return None


def check_graph(manifest: Manifest, session: Any) -> list[str]:
    """Return the differences between the manifest's tensors and the graph (empty if none)."""
    problems: list[str] = []
    graph_in = {a.name: a for a in session.get_inputs()}
    graph_out = {a.name: a for a in session.get_outputs()}
    declared_in = {t.name for t in manifest.model.inputs}
    for name in sorted(set(graph_in) - declared_in):
        problems.append(f"graph input {name!r} is not declared in model.inputs")
    for group, graph, what in ((manifest.model.inputs, graph_in, "input"),
                               (manifest.model.outputs, graph_out, "output")):
        for spec in group:
            arg = graph.get(spec.name)
            if arg is None:
                problems.append(f"model.{what}s {spec.name!r} is not in the graph (graph "
                                f"{what}s: {sorted(graph)})")
                continue
            dtype = ORT_TYPES.get(arg.type, arg.type)
            if dtype != spec.dtype:
                problems.append(f"{what} {spec.name!r}: dtype {spec.dtype} declared, graph "
                                f"has {dtype}")
                continue
            problem = _shape_problem(spec, list(arg.shape))
            if problem:
                problems.append(f"{what} {spec.name!r}: {problem}")
    return problems
