"""``dailypapers eval``: search quality on public test collections (see :mod:`dailypapers.search.evaluate`).

Registered in the main CLI with one line: ``app.add_typer(eval_app, name="eval")``.

    dailypapers eval beir ../shared/data/ir_classic/med --mode all
    dailypapers eval beir ../shared/data/scifact --split train --mode keyword --json
    dailypapers eval related ../shared/data/ir_classic/cacm
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

eval_app = typer.Typer(
    help="Measure search quality on public test collections (BEIR layout).", no_args_is_help=True
)

_MODES = ("keyword", "semantic", "hybrid", "all")
_BACKENDS = ("minilm", "hashing", "static")


def _backend(name: str):
    from dailypapers.search.embed import get_backend

    if name not in _BACKENDS:
        raise typer.BadParameter(f"choose from {', '.join(_BACKENDS)}", param_hint="--backend")
    return get_backend(name)


def _dir(path: Path, needs: str) -> Path:
    if not (path / needs).exists():
        raise typer.BadParameter(f"{path} has no {needs} (expected a BEIR folder)", param_hint="DIR")
    return path


@eval_app.command("beir")
def beir(
    directory: Annotated[
        Path,
        typer.Argument(metavar="DIR", help="A BEIR folder: corpus.jsonl, queries.jsonl, qrels/NAME.tsv."),
    ],
    split: Annotated[
        str | None,
        typer.Option("--split", help="qrels/NAME.tsv to use (default: test, or train if there is no test)."),
    ] = None,
    mode: Annotated[str, typer.Option("--mode", help="keyword, semantic, hybrid or all.")] = "all",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    limit_queries: Annotated[
        int | None, typer.Option("--limit-queries", min=1, help="Only the first N judged queries.")
    ] = None,
    backend: Annotated[
        str,
        typer.Option("--backend", help="Embedding model: minilm, hashing (no model, for tests) or static."),
    ] = "minilm",
    keyword_or: Annotated[
        bool,
        typer.Option(
            "--or/--and",
            help="Keyword side: BM25 over the OR of the words (as search does, after the AND "
            "pass), or the AND of all of them only.",
        ),
    ] = True,
    stopwords: Annotated[
        bool,
        typer.Option(
            "--drop-stopwords/--keep-stopwords",
            help="With --or: leave English function words out (as search does).",
        ),
    ] = True,
    fallback_below: Annotated[
        int,
        typer.Option(
            "--fallback-below",
            help="With --or: AND of the words "
            "(less stopwords) first, the OR only when that finds fewer "
            "than this many (10, as search does, or 50; 0: OR only).",
        ),
    ] = 10,
    rrf_k: Annotated[int | None, typer.Option("--rrf-k", min=0, help="RRF k for hybrid.")] = None,
    cache: Annotated[Path | None, typer.Option("--cache", help="Folder of cached corpus vectors.")] = None,
) -> None:
    """nDCG@10 and recall@100 of keyword, semantic and/or hybrid search on a BEIR folder."""
    from dataclasses import replace

    from dailypapers.search import evaluate

    if mode not in _MODES:
        raise typer.BadParameter(f"choose from {', '.join(_MODES)}", param_hint="--mode")
    _dir(directory, "corpus.jsonl")
    try:
        split = split or evaluate.default_split(directory)
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc), param_hint="DIR") from exc
    if not (directory / "qrels" / f"{split}.tsv").exists():
        raise typer.BadParameter(f"no qrels/{split}.tsv in {directory}", param_hint="--split")
    modes = evaluate.EVAL_MODES if mode == "all" else (mode,)
    if fallback_below and fallback_below not in evaluate.FALLBACKS:
        raise typer.BadParameter(f"choose from {evaluate.FALLBACKS}", param_hint="--fallback-below")
    params = replace(
        evaluate.CURRENT,
        keyword_or=keyword_or,
        drop_stopwords=stopwords and keyword_or,
        fallback_below=fallback_below if keyword_or else 0,
        rrf_k=evaluate.CURRENT.rrf_k if rrf_k is None else rrf_k,
        engine=keyword_or and stopwords and fallback_below == evaluate.CURRENT.fallback_below,
    )
    chosen = _backend(backend) if any(m != "keyword" for m in modes) else None
    result = evaluate.evaluate_beir(
        directory,
        modes=modes,
        split=split,
        backend=chosen,
        params=params,
        limit_queries=limit_queries,
        cache_dir=cache if cache is not None else evaluate.DEFAULT_CACHE,
    )
    if as_json:
        rows = {
            m: {"ndcg@10": round(r["ndcg@10"], 4), "recall@100": round(r["recall@100"], 4)}
            for m, r in result.modes.items()
        }
        payload = {
            "set": result.name,
            "split": result.split,
            "docs": result.docs,
            "queries": result.queries,
            "params": result.params,
        }
        payload.update(rows if mode == "all" else rows[mode])
        typer.echo(json.dumps(payload))
        return
    table = Table(
        title=f"{result.name} ({result.split}: {result.queries} queries, {result.docs:,} docs; "
        f"{result.params})"
    )
    table.add_column("mode")
    table.add_column("nDCG@10", justify="right")
    table.add_column("recall@100", justify="right")
    for m, r in result.modes.items():
        table.add_row(m, f"{r['ndcg@10']:.4f}", f"{r['recall@100']:.4f}")
    Console().print(table)


@eval_app.command("related")
def related(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="A folder with corpus.jsonl and citation_links.tsv (ir_classic/cacm)."
        ),
    ],
    k: Annotated[int, typer.Option("--k", min=1, help="Related papers looked at.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    backend: Annotated[str, typer.Option("--backend", help="minilm, hashing or static.")] = "minilm",
    cache: Annotated[Path | None, typer.Option("--cache", help="Folder of cached corpus vectors.")] = None,
) -> None:
    """Recall@k of real citations among each citing paper's related papers."""
    from dailypapers.search import evaluate

    _dir(directory, "corpus.jsonl")
    _dir(directory, "citation_links.tsv")
    result = evaluate.related_recall(
        directory,
        k,
        backend=_backend(backend),
        cache_dir=cache if cache is not None else evaluate.DEFAULT_CACHE,
    )
    if as_json:
        typer.echo(json.dumps(result))
        return
    key = f"recall@{k}"
    typer.echo(
        f"{directory.name}: related {key} = {result[key]:.4f} over {result['citing_docs']:,} "
        f"citing papers ({result['links']:,} links)"
    )
