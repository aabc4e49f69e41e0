"""A small helper to write ONNX graphs by hand with ``onnx.helper``, deterministically.

Node and constant names are numbered in creation order, so the same build code gives the same
bytes. Used by plugins whose model is an equation (PREDICT) or a table-driven survival model
(Cox with a bootstrap ensemble), where a converter would add nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
ML_OPSET = 3  # ai.onnx.ml, for TreeEnsembleRegressor
IR_VERSION = 8  # readable by onnxruntime >= 1.14


class GraphBuilder:
    """Accumulate nodes, constants, inputs and outputs of one ONNX graph."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._count = 0

    def _fresh(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, value: float | np.ndarray, dtype: type = np.float64, stem: str = "c") -> str:
        """Add a constant tensor; return its name."""
        name = self._fresh(stem)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, stem: str | None = None, n_out: int = 1,
           **attrs: object) -> str:
        """Add a node; return the name of its (first) output."""
        outs = [self._fresh(stem or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs,
                                           name=self._fresh("node"), **attrs))
        return outs[0]

    def add_input(self, name: str, elem_type: int, shape: list[int | str | None]) -> str:
        """Declare a graph input; return its name."""
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def add_output(self, source: str, name: str, elem_type: int,
                   shape: list[int | str | None]) -> None:
        """Expose tensor ``source`` as graph output ``name`` (through an Identity node)."""
        self.nodes.append(helper.make_node("Identity", [source], [name],
                                           name=self._fresh("node")))
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))

    # Shorthands used by the survival graphs (all double precision).
    def column(self, x: str, index: int) -> str:
        """Return column ``index`` of a 2-D tensor as a 1-D tensor."""
        return self.op("Gather", x, self.const(index, np.int64), axis=1)

    def to_float32(self, x: str) -> str:
        """Cast to float32."""
        return self.op("Cast", x, to=TensorProto.FLOAT)

    def model(self, doc: str, producer: str, metadata: dict[str, str]) -> onnx.ModelProto:
        """Return the checked ModelProto."""
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs,
                                  self.initializers)
        opsets = [helper.make_opsetid("", OPSET)]
        if any(n.domain == "ai.onnx.ml" for n in self.nodes):
            opsets.append(helper.make_opsetid("ai.onnx.ml", ML_OPSET))
        model = helper.make_model(graph, opset_imports=opsets, producer_name=producer,
                                  doc_string=doc)
        model.ir_version = IR_VERSION
        for key in sorted(metadata):
            entry = model.metadata_props.add()
            entry.key, entry.value = key, metadata[key]
        onnx.checker.check_model(model, full_check=True)
        return model


def save(model: onnx.ModelProto, path: Path) -> str:
    """Write the model (deterministic serialisation); return the file's sha256."""
    data = model.SerializeToString(deterministic=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
