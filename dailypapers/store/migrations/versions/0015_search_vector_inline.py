"""PostgreSQL: each paper's search vector kept in its row

``papers.search_tsv`` (about 1.6 kB) made most rows longer than the 2 kB at which PostgreSQL moves a value
out to the table's TOAST relation: ranking 2,000 keyword matches then read about 8,000 extra buffers (a
TOAST index lookup and its chunks per paper), 10–16 ms of a 25 ms search at 1M papers, and far more when
they had to come from disk. The table now keeps rows whole up to a page (``toast_tuple_target``) and the
vector in the row before anything else (``STORAGE MAIN``); the rewrite puts the existing rows in place
(at 1M papers it takes minutes, under a lock: run ``db upgrade`` in a quiet hour). Nothing changes on
SQLite.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE papers SET (toast_tuple_target = 8160)")
    # a type change through an expression rewrites every row (and rebuilds the table's indexes): each
    # value the TOAST relation held comes back into its row under the new target
    op.execute("ALTER TABLE papers ALTER COLUMN search_tsv TYPE tsvector USING search_tsv || ''::tsvector")
    # and resets the column's storage and statistics target: set after it
    op.execute("ALTER TABLE papers ALTER COLUMN search_tsv SET STORAGE MAIN")
    op.execute("ALTER TABLE papers ALTER COLUMN search_tsv SET STATISTICS 10000")  # as migration 0007
    op.execute("ANALYZE papers")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE papers ALTER COLUMN search_tsv SET STORAGE EXTENDED")
    op.execute("ALTER TABLE papers RESET (toast_tuple_target)")
