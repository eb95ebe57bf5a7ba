"""PostgreSQL search: weighted tsvector of every paper (GIN index, kept by a trigger) and pgvector
embeddings beside the portable vector blobs. Nothing to do on SQLite, whose full-text index is FTS5
(0003) and whose vector index lives in the process.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# title A, authors B, abstract C: ts_rank weights in dailypapers.search.fulltext.PG_WEIGHTS
# (a backslash at the end of a line continues that line on the next one)
TSVECTOR = """
    setweight(to_tsvector('english', coalesce({row}.title, '')), 'A') ||
    setweight(to_tsvector('english', coalesce((SELECT string_agg(a, ', ')
                                               FROM jsonb_array_elements_text({row}.authors) AS a), \
'')), 'B') ||
    setweight(to_tsvector('english', coalesce({row}.abstract, '')), 'C')
"""

UPGRADE = [
    "CREATE EXTENSION IF NOT EXISTS vector",
    "ALTER TABLE papers ADD COLUMN search_tsv tsvector",
    f"""CREATE FUNCTION papers_search_tsv() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.search_tsv := {TSVECTOR.format(row="NEW")};
            RETURN NEW;
        END $$""",
    "CREATE TRIGGER papers_search_tsv BEFORE INSERT OR UPDATE OF title, abstract, authors ON papers "
    "FOR EACH ROW EXECUTE FUNCTION papers_search_tsv()",
    f"UPDATE papers SET search_tsv = {TSVECTOR.format(row='papers')}",  # nosec B608 # constant SQL, no input
    "CREATE INDEX ix_papers_search_tsv ON papers USING gin (search_tsv)",
    # any dimension: an HNSW index per model is an expression index on embedding::vector(dim)
    # (dailypapers.store.vectors.ensure_vector_index)
    "ALTER TABLE paper_vectors ADD COLUMN embedding vector",
]

DOWNGRADE = [
    "ALTER TABLE paper_vectors DROP COLUMN embedding",
    "DROP INDEX IF EXISTS ix_papers_search_tsv",
    "DROP TRIGGER IF EXISTS papers_search_tsv ON papers",
    "DROP FUNCTION IF EXISTS papers_search_tsv()",
    "ALTER TABLE papers DROP COLUMN search_tsv",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWNGRADE:
            op.execute(statement)
