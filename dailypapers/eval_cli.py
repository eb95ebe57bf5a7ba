"""``dailypapers eval``: search quality on public test collections (see :mod:`dailypapers.search.evaluate`)
and recommendation quality on a reader set (:mod:`dailypapers.recommend.evaluate`).

Registered in the main CLI with one line: ``app.add_typer(eval_app, name="eval")``.

    dailypapers eval beir ../shared/data/ir_classic/med --mode all
    dailypapers eval beir ../shared/data/scifact --split train --mode keyword --json
    dailypapers eval beir ../shared/data/scifact --mode keyword --database-url postgresql+psycopg://…
    dailypapers eval related ../shared/data/ir_classic/cacm
    dailypapers eval recommend my-readers/ --json
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

eval_app = typer.Typer(
    help="Measure search quality on public test collections (BEIR layout) and recommendations on readers' "
    "likes.",
    no_args_is_help=True,
)

_MODES = ("keyword", "semantic", "hybrid", "all")
_BACKENDS = ("minilm", "hashing", "static")


def _backend(name: str, precision: str = "auto"):
    from dailypapers.search.embed import PRECISIONS, backend_for_setting

    if name not in _BACKENDS:
        raise typer.BadParameter(f"choose from {', '.join(_BACKENDS)}", param_hint="--backend")
    if precision not in PRECISIONS:
        raise typer.BadParameter(f"choose from {', '.join(PRECISIONS)}", param_hint="--precision")
    return backend_for_setting(name, precision=precision)


_PRECISION_HELP = (
    "How MiniLM on torch embeds the corpus: auto (bfloat16 on a CPU with AMX), fp32 or bf16 "
    "(as DAILYPAPERS_EMBEDDING_PRECISION); queries always in float32."
)


_DATABASE_HELP = (
    "A PostgreSQL server to measure on (postgresql+psycopg://user@host/db): the corpus is loaded into a "
    "temporary database created there and removed afterwards; the database named is left as it is (the "
    "role needs CREATEDB). Default, or a sqlite:/// URL: a temporary SQLite file, removed afterwards."
)


def _database_url(url: str | None) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if url is None:
        return None
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise typer.BadParameter(f"not a database URL: {url!r}", param_hint="--database-url") from None
    if backend not in ("sqlite", "postgresql"):
        raise typer.BadParameter(
            "only sqlite:/// and postgresql+psycopg:// URLs", param_hint="--database-url"
        )
    return url


@contextmanager
def _database_errors(url: str | None) -> Iterator[None]:
    """A database that refuses the evaluation (no server, no right to create a database) as one line."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except DBAPIError as exc:
        shown = make_url(url).render_as_string(hide_password=True) if url else "SQLite"
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise typer.BadParameter(f"{shown}: {reason}", param_hint="--database-url") from None


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
    precision: Annotated[str, typer.Option("--precision", help=_PRECISION_HELP)] = "auto",
    database_url: Annotated[str | None, typer.Option("--database-url", help=_DATABASE_HELP)] = None,
    cache: Annotated[Path | None, typer.Option("--cache", help="Folder of cached corpus vectors.")] = None,
) -> None:
    """nDCG@10 and recall@100 of keyword, semantic and/or hybrid search on a BEIR folder, as the site's
    search returns them."""
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
    database_url = _database_url(database_url)
    chosen = _backend(backend, precision) if any(m != "keyword" for m in modes) else None
    with _database_errors(database_url):
        result = evaluate.evaluate_beir(
            directory,
            modes=modes,
            split=split,
            backend=chosen,
            database_url=database_url,
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
            "database": result.database,
        }
        payload.update(rows if mode == "all" else rows[mode])
        typer.echo(json.dumps(payload))
        return
    table = Table(
        title=f"{result.name} ({result.split}: {result.queries} queries, {result.docs:,} docs; "
        f"{result.database})"
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
    database_url: Annotated[str | None, typer.Option("--database-url", help=_DATABASE_HELP)] = None,
) -> None:
    """Recall@k of real citations among each citing paper's related papers."""
    from dailypapers.search import evaluate

    _dir(directory, "corpus.jsonl")
    _dir(directory, "citation_links.tsv")
    database_url = _database_url(database_url)
    with _database_errors(database_url):
        result = evaluate.related_recall(
            directory,
            k,
            backend=_backend(backend),
            database_url=database_url,
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


@eval_app.command("recommend")
def recommend(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR",
            help="corpus.jsonl (_id, title, text, date, optional authors and categories) and readers.jsonl "
            "(reader, likes, optional dislikes, targets, since).",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    backend: Annotated[str, typer.Option("--backend", help="minilm, hashing or static.")] = "minilm",
    cache: Annotated[Path | None, typer.Option("--cache", help="Folder of cached corpus vectors.")] = None,
    database_url: Annotated[str | None, typer.Option("--database-url", help=_DATABASE_HELP)] = None,
) -> None:
    """nDCG@20 and hit rate@20 of the recommender behind "For you", each reader's likes against their
    later targets."""
    from dailypapers.recommend import evaluate as rec_evaluate
    from dailypapers.search.evaluate import DEFAULT_CACHE

    _dir(directory, "corpus.jsonl")
    _dir(directory, "readers.jsonl")
    database_url = _database_url(database_url)
    with _database_errors(database_url):
        try:
            result = rec_evaluate.evaluate_recommend(
                directory,
                backend=_backend(backend),
                database_url=database_url,
                cache_dir=cache if cache is not None else DEFAULT_CACHE,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="DIR") from None
    err = Console(stderr=True)
    for problem in result.problems:
        err.print(f"skipped: {problem}", markup=False, highlight=False)
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
        return
    typer.echo(
        f"{directory.name}: ndcg@20 = {result.ndcg:.4f}, hr@20 = {result.hit_rate:.4f} over "
        f"{result.readers:,} readers ({result.docs:,} papers)"
    )
