"""a title index for PostgreSQL's full-text search

A GIN index on ``ts_filter(search_tsv, '{a}')``: the title's lexemes alone (weight A). A query whose words
are all common is ranked within titles (``dailypapers.search.hybrid.keyword_side``); through the index of
the whole ``search_tsv`` that meant reading every paper holding the words and filtering its title (about
1.5 s for two common words at 1M papers); this index holds the titles' words only. Nothing changes on
SQLite (FTS5 searches a column by itself).

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_papers_search_tsv_title ON papers "
        "USING gin (ts_filter(search_tsv, '{a}'))"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_papers_search_tsv_title")
