"""search: full-text index of papers (SQLite FTS5, kept in step by triggers) and paper vectors

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AUTHORS = "(SELECT coalesce(group_concat(value, ', '), '') FROM json_each({row}.authors))"

SQLITE_FTS = [
    # title, abstract, authors: bm25 weights are given at query time (dailypapers.search.fulltext).
    "CREATE VIRTUAL TABLE papers_fts USING fts5(title, abstract, authors, "
    "tokenize = 'porter unicode61 remove_diacritics 2')",
    "INSERT INTO papers_fts(rowid, title, abstract, authors) "
    f"SELECT id, title, coalesce(abstract, ''), {_AUTHORS.format(row='papers')} FROM papers",  # nosec B608 # constant SQL, no input
    "CREATE TRIGGER papers_fts_insert AFTER INSERT ON papers BEGIN "
    "INSERT INTO papers_fts(rowid, title, abstract, authors) "
    f"VALUES (new.id, new.title, coalesce(new.abstract, ''), {_AUTHORS.format(row='new')}); END",  # nosec B608 # constant SQL, no input
    "CREATE TRIGGER papers_fts_delete AFTER DELETE ON papers BEGIN "
    "DELETE FROM papers_fts WHERE rowid = old.id; END",
    "CREATE TRIGGER papers_fts_update AFTER UPDATE OF title, abstract, authors ON papers BEGIN "
    "UPDATE papers_fts SET title = new.title, abstract = coalesce(new.abstract, ''), "
    f"authors = {_AUTHORS.format(row='new')} WHERE rowid = new.id; END",  # nosec B608 # constant SQL, no input
]


def upgrade() -> None:
    op.create_table(
        "paper_vectors",
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("text_hash", sa.String(length=32), nullable=False),
        sa.Column("embedded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name=op.f("fk_paper_vectors_paper_id_papers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("paper_id", "model", name=op.f("pk_paper_vectors")),
    )
    with op.batch_alter_table("paper_vectors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_paper_vectors_model"), ["model"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("papers_fts_insert", "papers_fts_delete", "papers_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS papers_fts")
    with op.batch_alter_table("paper_vectors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_paper_vectors_model"))
    op.drop_table("paper_vectors")
