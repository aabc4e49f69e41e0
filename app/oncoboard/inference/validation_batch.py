"""Validation a chunk at a time: the record of many patients and the graph pruned to one output.

Moved from :mod:`oncoboard.inference.validation` unchanged: :class:`ChunkRecord` reads each
table once for a chunk of patients (the functions of :mod:`oncoboard.patients.record` a
RecordView calls), and :func:`pruned_graph` keeps only the ONNX nodes the output validated needs
(run by ``_run_target``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from oncoboard.errors import OncoboardError

if TYPE_CHECKING:
    from oncoboard.store import Store

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# The record of a chunk of patients, and the graph pruned to the output validated
# ---------------------------------------------------------------------------------------------


class ChunkRecord:
    """The functions of :mod:`oncoboard.patients.record` a RecordView calls, for many patients.

    Each table is read once for the chunk of patients (observations once per code), with the
    module's own ordering and row conversion, instead of once per patient and input: the same
    rows in the same order, a few queries per 256 patients.
    """

    def __init__(self, store: Store, ids: Sequence[str]):
        from oncoboard.patients import record

        self._r, self.store, self.ids = record, store, list(ids)
        self._marks = ",".join("?" * len(self.ids))
        self._tables: dict[Any, dict[str, list[Any]]] = {}
        self._names: dict[type, frozenset[str]] = {}

    def _build(self, cls: type, row: dict[str, Any]) -> Any:
        """``record._build`` with the field names looked up once per class."""
        names = self._names.get(cls)
        if names is None:
            import dataclasses

            names = self._names[cls] = frozenset(f.name for f in dataclasses.fields(cls))
        return cls(**{k: v for k, v in row.items() if k in names})

    def _grouped(self, key: Any, sql: str, params: list[Any], build: Callable[[dict[str, Any]], Any]
                 ) -> dict[str, list[Any]]:
        if key not in self._tables:
            out: dict[str, list[Any]] = {}
            for r in self.store.db.query(sql, params):
                out.setdefault(r["patient_id"], []).append(build(r))
            self._tables[key] = out
        return self._tables[key]

    def get_patient(self, store: Store, patient_id: str) -> Any:
        """Return the patient (as ``record.get_patient``)."""
        r = self._r
        rows = self._grouped("patients", f"SELECT *, id AS patient_id FROM ({r._LIST_SQL} "
                                         f"WHERE p.id IN ({self._marks}))", self.ids,
                             r._patient)
        if patient_id not in rows:
            from oncoboard.errors import NotFoundError

            raise NotFoundError(f"no patient with ID {patient_id!r}")
        return rows[patient_id][0]

    def conditions(self, store: Store, patient_id: str) -> list[Any]:
        """Return the patient's conditions (as ``record.conditions``)."""
        r = self._r

        def build(row: dict[str, Any]) -> Any:
            r._loads(row, "markers", "extra")
            row["is_primary_cancer"] = bool(row["is_primary_cancer"])
            return self._build(r.Condition, row)
        return list(self._grouped(
            "conditions", f"SELECT * FROM conditions WHERE patient_id IN ({self._marks}) "
                          f"ORDER BY is_primary_cancer DESC, diagnosis_date DESC, id", self.ids,
            build).get(patient_id, []))

    def observations(self, store: Store, patient_id: str, code: str | None = None,
                     system: str | None = None, before: Any = None, category: str | None = None
                     ) -> list[Any]:
        """Return the patient's observations (as ``record.observations``)."""
        r = self._r
        key = ("observations", code, system, category)
        rows = self._tables.get(key)
        if rows is None:
            sql = f"SELECT * FROM observations WHERE patient_id IN ({self._marks})"
            params: list[Any] = list(self.ids)
            for column, value in (("code", code), ("code_system", system),
                                  ("category", category)):
                if value is not None:
                    sql += f" AND {column} = ?"
                    params.append(value)
            sql += (" ORDER BY coalesce(julianday(effective), "
                    "julianday(substr(effective || '-01-01', 1, 10))), id")
            rows = self._grouped(key, sql, params,
                                 lambda row: self._build(r.Observation, r._loads(row, "extra")))
        found = rows.get(patient_id, [])
        if before is not None:
            end = r._end_of(before)
            found = [o for o in found if o.effective is not None and o.effective <= end]
        return list(found)

    def treatments(self, store: Store, patient_id: str, kind: str | None = None) -> list[Any]:
        """Return the patient's treatments (as ``record.treatments``)."""
        r = self._r
        rows = self._grouped(
            "treatments", f"SELECT * FROM treatments WHERE patient_id IN ({self._marks}) "
                          f"ORDER BY start_date, id", self.ids,
            lambda row: self._build(r.Treatment, r._loads(row, "agents", "extra")))
        return [t for t in rows.get(patient_id, []) if kind is None or t.kind == kind]

    def notes(self, store: Store, patient_id: str) -> list[Any]:
        """Return the patient's notes (as ``record.notes``)."""
        r = self._r
        return list(self._grouped(
            "notes", f"SELECT * FROM notes WHERE patient_id IN ({self._marks}) "
                     f"ORDER BY date, id", self.ids,
            lambda row: self._build(r.Note, row)).get(patient_id, []))


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
