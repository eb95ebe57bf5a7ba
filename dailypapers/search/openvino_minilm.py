"""all-MiniLM-L6-v2 on OpenVINO: the matrix products in bfloat16 on a CPU with AMX.

A CPU with AMX tiles (Intel Xeon since Sapphire Rapids) multiplies bfloat16 matrices in hardware. ONNX
Runtime's CPU build multiplies in float32 only; OpenVINO runs the same graph
(:func:`~dailypapers.search.onnx_minilm.encoder_graph`, written from the bundled weights, read by
OpenVINO's ONNX reader) with bfloat16 matrix products and float32 LayerNorm and softmax. On the 2-core
Xeon of ``bench/search.py``, one thread: a query in about half ONNX Runtime's time, and bulk embedding as
fast as torch with bfloat16 autocast; the vectors are within a cosine of 0.9999 of float32's
(``tests/test_search_light.py``), as torch's bfloat16 ones are, so they share the model's name and index.

One text (a query) is embedded by a model compiled for one text of a fixed length, the next of 16, 32,
64, 128 or 256 tokens, the text padded and its padding masked out: OpenVINO runs a fixed shape faster
than a free one (1.9 against 2.9 ms per short query, measured), and a model for any shape keeps compiled
kernels for each length it meets (a web process that embedded 600 queries held 55 MiB more than with the
fixed lengths, whose compiled models share their weights). Batches (bulk embedding) go to one model
compiled for any shape. Each is compiled when first needed (about 0.15 s). Two notes on OpenVINO's
options:

- ``SNIPPETS_MODE=DISABLE``: OpenVINO 2026.4 fuses attention into a generated kernel for fixed shapes,
  and in bfloat16 that kernel returned wrong context vectors for this graph (a difference of 1.1 after the
  first layer, where the free-shape model differs by 0.005); the matrix products run as before without it.
- In bfloat16 the weights are stored in float16 (``ov.save_model``'s ``compress_to_fp16``, applied in
  memory): the products round them to bfloat16 anyway, and a process holds less (with a fixed-length
  and a free-shape model compiled, 361 MiB resident against 422).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from dailypapers import malloc
from dailypapers.search.light import LightMiniLM
from dailypapers.search.onnx_minilm import encoder_graph

FIXED = (16, 32, 64, 128, 256)  # the lengths one text is padded to (most queries are 5-30 tokens)
_MASKED = np.float32(-1e9)  # the attention bias of a padding position


def _compress(model: Any) -> None:
    """float16 weights, as ``ov.save_model(..., compress_to_fp16=True)`` stores them; nothing where the
    release lacks the transformation."""
    try:
        from openvino._offline_transformations import compress_model_transformation
    except ImportError:  # pragma: no cover - depends on the OpenVINO release
        return
    compress_model_transformation(model)


class OpenVinoMiniLM:
    """:class:`LightMiniLM`'s encoder compiled by OpenVINO for the CPU, on ``threads`` threads (0:
    OpenVINO's default), in bfloat16 (``bf16``) or float32. The model given is this object's: its numpy
    layers are dropped once OpenVINO holds them. Safe to call from several threads (one at a time per
    compiled shape)."""

    def __init__(self, model: LightMiniLM, threads: int = 1, *, bf16: bool = True) -> None:
        import openvino as ov

        self.model = model
        self.dim = model.dim
        self._core = ov.Core()
        self._graph = self._core.read_model(
            model=encoder_graph(model), weights=ov.Tensor(np.zeros(0, np.uint8))
        )
        if bf16:
            _compress(self._graph)
        self._config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32",
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
            "SNIPPETS_MODE": "DISABLE",
        }
        if threads:
            self._config["INFERENCE_NUM_THREADS"] = int(threads)
        self._requests: dict[int | None, tuple[Any, threading.Lock]] = {}
        self._compiling = threading.Lock()
        model.layers = []  # OpenVINO holds the layers' weights now: numpy's copy goes
        malloc.trim()

    def _request(self, length: int | None) -> tuple[Any, threading.Lock]:
        """The compiled model for one text of ``length`` tokens (``None``: any shape), compiled on first
        use, with the lock its one inference request is used under."""
        found = self._requests.get(length)
        if found is not None:
            return found
        with self._compiling:
            found = self._requests.get(length)
            if found is None:
                graph = self._graph
                if length is not None:
                    graph = graph.clone()
                    graph.reshape({"x": [1, length, self.dim], "bias": [1, 1, 1, length]})
                compiled = self._core.compile_model(graph, "CPU", self._config)
                found = self._requests[length] = (compiled.create_infer_request(), threading.Lock())
        return found

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 embeddings of ``texts``, as :meth:`LightMiniLM.encode`."""
        return self.model.encode(texts, encoder=self._encoder)

    def _encoder(self, x: np.ndarray, bias: np.ndarray) -> np.ndarray:
        batch, length, _ = x.shape
        fixed = next((n for n in FIXED if length <= n), None) if batch == 1 else None
        if fixed is not None and fixed != length:
            padded = np.zeros((1, fixed, self.dim), dtype=np.float32)
            padded[:, :length] = x
            mask = np.full((1, 1, 1, fixed), _MASKED, dtype=np.float32)
            mask[..., :length] = bias
            x, bias = padded, mask
        request, lock = self._request(fixed)
        with lock:
            # outputs are copied out of the request's buffers (``share_outputs`` is off), so the lock can go
            return request.infer({"x": x, "bias": bias}, share_inputs=True)[0][:, :length]
