"""PostgreSQL: finer statistics on papers.search_tsv (keyword search reads word counts from them)

ANALYZE keeps statistics_target × 10 most common lexemes of a tsvector column. At the default target
(100) a 1M-paper table keeps 1,000, which leaves out words in tens of thousands of papers; 10,000
keeps 100,000, every word common enough to matter (dailypapers.search.fulltext.TermCounts).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE papers ALTER COLUMN search_tsv SET STATISTICS 10000")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE papers ALTER COLUMN search_tsv SET STATISTICS -1")
