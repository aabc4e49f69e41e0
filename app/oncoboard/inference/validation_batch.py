"""Validation a chunk at a time: the record of many patients and the graph pruned to one output.

Moved from :mod:`oncoboard.inference.validation` unchanged: :class:`ChunkRecord` reads each
table once for a chunk of patients (the functions of :mod:`oncoboard.patients.record` a
RecordView calls), and :func:`pruned_graph` keeps only the ONNX nodes the output validated needs
(run by ``_run_target``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from oncoboard.errors import OncoboardError

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# The record of a chunk of patients, and the graph pruned to the output validated
# ---------------------------------------------------------------------------------------------


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if b < 0x80:
            return value, i
        shift += 7


def _put_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fields(buf: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """Yield (field number, start, end, payload) of a protobuf message's top-level fields."""
    i = 0
    while i < len(buf):
        start = i
        key, i = _varint(buf, i)
        kind = key & 7
        if kind == 0:
            _, i = _varint(buf, i)
            payload = b""
        elif kind == 1:
            i += 8
            payload = b""
        elif kind == 5:
            i += 4
            payload = b""
        elif kind == 2:
            n, i = _varint(buf, i)
            payload, i = buf[i:i + n], i + n
        else:
            raise ValueError(f"protobuf wire type {kind}")
        yield key >> 3, start, i, payload


def pruned_graph(model: bytes, output: str) -> bytes | None:
    """Return the ONNX model with only the nodes `output` needs and that output, or None.

    Reads the protobuf wire format (ModelProto.graph = 7; GraphProto.node = 1, .output = 12;
    NodeProto.input = 1, .output = 2, .attribute = 5): the nodes kept are the same, unchanged,
    so the output is computed exactly as by the whole graph. A graph with subgraphs (If, Loop,
    Scan: attributes that hold graphs) is not pruned (None).
    """
    graph = [p for f, _, _, p in _fields(model) if f == 7]
    if len(graph) != 1:
        return None
    nodes, keep_out = [], False
    for f, s, e, p in _fields(graph[0]):
        if f == 1:
            ins, outs = [], []
            for nf, _, _, np_ in _fields(p):
                if nf == 1:
                    ins.append(np_.decode())
                elif nf == 2:
                    outs.append(np_.decode())
                elif nf == 5 and any(af in (6, 11) for af, _, _, _ in _fields(np_)):
                    return None
            nodes.append((s, e, ins, outs))
        elif f == 12:
            keep_out = keep_out or any(vf == 1 and vp.decode() == output
                                       for vf, _, _, vp in _fields(p))
    if not keep_out:
        return None
    needed, kept = {output}, set()
    for s, _e, ins, outs in reversed(nodes):
        if needed & set(outs):
            kept.add(s)
            needed |= {x for x in ins if x}
    body = bytearray()
    for f, s, e, p in _fields(graph[0]):
        if f == 1 and s not in kept:
            continue
        if f == 12 and not any(vf == 1 and vp.decode() == output for vf, _, _, vp in _fields(p)):
            continue
        body += graph[0][s:e]
    out = bytearray()
    for f, s, e, _p in _fields(model):
        out += (_put_varint((7 << 3) | 2) + _put_varint(len(body)) + bytes(body)) if f == 7 \
            else model[s:e]
    return bytes(out)


_PRUNED: dict[tuple[Any, ...], Any] = {}


def _target_session(plugin: Any, m: Any, tensor: str, providers: Sequence[str]) -> Any:
    """Return an onnxruntime session of the plugin's graph pruned to `tensor`, or None.

    The plugin's graph may compute much more than the output validated (bands from hundreds of
    bootstrap coefficient sets, scenarios): only the nodes the output needs are run. The model
    file is the verified one (its sha256 is checked again here). None (the whole graph is run
    by ``model_io.run_rows``) when the graph cannot be pruned or its batch is fixed.
    """
    import hashlib

    from oncoboard.inference import model_io, runtime

    key = (str(plugin.model_path), m.model.sha256, tuple(providers), tensor)
    if key in _PRUNED:
        return _PRUNED[key]
    session = None
    try:
        data = plugin.model_path.read_bytes()
        small = model_io._batch_dynamic(m) and \
            hashlib.sha256(data).hexdigest() == m.model.sha256 and pruned_graph(data, tensor)
        if small:
            ort = runtime.load_onnxruntime()
            use, _ = runtime.choose_providers(providers)
            session = ort.InferenceSession(small, sess_options=runtime._options(
                plugin.model_path), providers=use)
    except Exception as exc:  # noqa: BLE001 - any failure: the whole graph is run instead
        log.info("validation runs the whole graph of %s: %s", m.id, exc)
        session = None
    _PRUNED[key] = session
    return session


def _run_target(plugin: Any, m: Any, out: Any, providers: Sequence[str],
                rows: list[dict[str, Any]]) -> list[dict[str, np.ndarray]]:
    """Return per-row {tensor: array} of the output validated (pruned graph when possible)."""
    from oncoboard.inference import model_io
    from oncoboard.inference.manifest import tensor_of

    tensor = tensor_of(out)
    session = _target_session(plugin, m, tensor, providers)
    if session is None:
        return model_io.run_rows(m, plugin.model_path, providers, rows)[0]
    try:
        value = np.asarray(session.run([tensor], model_io.build_feeds(m, rows))[0])
    except Exception as exc:  # noqa: BLE001 - as the engine: the model failed on these rows
        raise OncoboardError(f"the model failed: {str(exc)[:300]}", where="validate") from exc
    return [{tensor: value[i]} for i in range(len(rows))]
