"""paper_texts: a paper's full text as Markdown (from arXiv's HTML), or when arXiv had none; its
keyword index (SQLite: an FTS5 table over the texts, kept in step by triggers; PostgreSQL: a tsvector
column set by a trigger, with a GIN index)

Revision ID: 0024
Revises: 0023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)

SQLITE = [
    # external content: the words are indexed, the text is kept once (in paper_texts)
    "CREATE VIRTUAL TABLE paper_texts_fts USING fts5(body, content='paper_texts', "
    "content_rowid='paper_id', tokenize = 'porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER paper_texts_fts_insert AFTER INSERT ON paper_texts BEGIN "
    "INSERT INTO paper_texts_fts(rowid, body) VALUES (new.paper_id, coalesce(new.markdown, '')); END",
    "CREATE TRIGGER paper_texts_fts_delete AFTER DELETE ON paper_texts BEGIN "
    "INSERT INTO paper_texts_fts(paper_texts_fts, rowid, body) "
    "VALUES ('delete', old.paper_id, coalesce(old.markdown, '')); END",
    "CREATE TRIGGER paper_texts_fts_update AFTER UPDATE OF markdown ON paper_texts BEGIN "
    "INSERT INTO paper_texts_fts(paper_texts_fts, rowid, body) "
    "VALUES ('delete', old.paper_id, coalesce(old.markdown, '')); "
    "INSERT INTO paper_texts_fts(rowid, body) VALUES (new.paper_id, coalesce(new.markdown, '')); END",
]
POSTGRES = [
    "ALTER TABLE paper_texts ADD COLUMN search_tsv tsvector",
    """CREATE FUNCTION paper_texts_search_tsv() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.search_tsv := to_tsvector('english', coalesce(NEW.markdown, ''));
            RETURN NEW;
        END $$""",
    "CREATE TRIGGER paper_texts_search_tsv BEFORE INSERT OR UPDATE OF markdown ON paper_texts "
    "FOR EACH ROW EXECUTE FUNCTION paper_texts_search_tsv()",
    "CREATE INDEX ix_paper_texts_search_tsv ON paper_texts USING gin (search_tsv)",
]


def upgrade() -> None:
    op.create_table(
        "paper_texts",
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("markdown", sa.Text(), nullable=True),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("fetched_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name=op.f("fk_paper_texts_paper_id_papers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("paper_id", name=op.f("pk_paper_texts")),
    )
    op.create_index(op.f("ix_paper_texts_fetched_at"), "paper_texts", ["fetched_at"])
    for statement in SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("paper_texts_fts_insert", "paper_texts_fts_delete", "paper_texts_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS paper_texts_fts")
    else:
        op.execute("DROP TRIGGER IF EXISTS paper_texts_search_tsv ON paper_texts")
        op.execute("DROP FUNCTION IF EXISTS paper_texts_search_tsv()")
    op.drop_index(op.f("ix_paper_texts_fetched_at"), table_name="paper_texts")
    op.drop_table("paper_texts")
