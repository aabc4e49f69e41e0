"""Rebuild app/oncoboard/resources/probe.onnx: a one-node graph `doctor` runs on each provider.

The probe is y = x + 1 over a float32 vector of 4. `oncoboard doctor` runs it on every configured
onnxruntime provider to tell whether CUDA really executes, not just whether it is listed.

    .venv/bin/python models/probe/build.py
"""

from pathlib import Path

import onnx
from onnx import TensorProto, helper

OUT = Path(__file__).resolve().parents[2] / "app" / "oncoboard" / "resources" / "probe.onnx"


def build() -> onnx.ModelProto:
    """Return the probe model (deterministic bytes)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    graph = helper.make_graph([helper.make_node("Add", ["x", "one"], ["y"])], "probe", [x], [y],
                              initializer=[one])
    model = helper.make_model(graph, producer_name="oncoboard-probe",
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(build().SerializeToString())
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
