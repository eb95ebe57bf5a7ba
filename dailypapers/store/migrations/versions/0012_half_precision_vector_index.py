"""half-precision HNSW indexes on PostgreSQL

Each model's HNSW index becomes an index on ``embedding::halfvec(dim)`` (``halfvec_cosine_ops``) in place
of ``embedding::vector(dim)``: half the memory (1.78 GiB at 1M vectors before), the index PostgreSQL must
keep in shared buffers to answer in milliseconds. The vectors were float16 to begin with (the stored blob,
what SQLite searches), so the ranking does not change. The new index is built before the old one is
dropped; building takes about as long as the old one did (about 15 minutes per million vectors on two
cores). Nothing changes on SQLite.

Revision ID: 0012
Revises: 0011
"""

import hashlib
import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]{0,127}")


def _names(model: str) -> tuple[str, str]:
    digest = hashlib.sha1(model.encode(), usedforsecurity=False).hexdigest()[:12]
    return "ix_paper_vectors_hnsw_" + digest, "ix_paper_vectors_hnsw_" + digest + "_h"


def _indexed_models(bind: sa.Connection) -> list[tuple[str, int]]:
    rows = bind.execute(sa.text("SELECT model, max(dim) FROM paper_vectors GROUP BY model ORDER BY model"))
    return [(str(model), int(dim)) for model, dim in rows]


def _exists(bind: sa.Connection, name: str) -> bool:
    return bool(bind.execute(sa.text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar_one())


def _swap(*, half: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for model, dim in _indexed_models(bind):
        if not _MODEL_NAME.fullmatch(model):
            continue  # never written by dailypapers (its model names match): nothing of ours to swap
        full, halved = _names(model)
        old, new = (full, halved) if half else (halved, full)
        if not _exists(bind, old):
            continue  # no index yet: the next indexing run makes the current one
        kind = "halfvec" if half else "vector"
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {new} ON paper_vectors USING hnsw "
            f"((embedding::{kind}({int(dim)})) {kind}_cosine_ops) WITH (m = 16, ef_construction = 64) "
            f"WHERE model = '{model}'"
        )
        op.execute(f"DROP INDEX IF EXISTS {old}")


def upgrade() -> None:
    _swap(half=True)


def downgrade() -> None:
    _swap(half=False)
