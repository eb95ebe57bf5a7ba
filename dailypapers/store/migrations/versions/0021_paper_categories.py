"""paper_categories: each paper's arXiv categories and their archives (``cs.cl`` and ``cs`` for cs.CL),
lower-cased, one row each, so that "the newest papers in cs.CL" is an index range instead of a look into
every paper's JSON list. A derived table described by no model (``dailypapers.store.categories``): the
importer writes a paper's rows with the paper; this fills it once from what is stored.

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = (
    "CREATE TABLE paper_categories ("
    "category VARCHAR(64) NOT NULL, "
    "paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE, "
    "CONSTRAINT pk_paper_categories PRIMARY KEY (category, paper_id))"
)
INDEX = "CREATE INDEX ix_paper_categories_paper_id ON paper_categories (paper_id)"

# each category lower-cased, and its archive before the dot; values that are not short text left out
SQLITE_FILL = [
    "INSERT OR IGNORE INTO paper_categories (category, paper_id) "
    "SELECT lower(j.value), p.id FROM papers p, json_each(p.categories) j "
    "WHERE json_type(p.categories) = 'array' AND j.type = 'text' AND length(j.value) BETWEEN 1 AND 64",
    "INSERT OR IGNORE INTO paper_categories (category, paper_id) "
    "SELECT lower(substr(j.value, 1, instr(j.value, '.') - 1)), p.id "
    "FROM papers p, json_each(p.categories) j "
    "WHERE json_type(p.categories) = 'array' AND j.type = 'text' AND instr(j.value, '.') > 1 "
    "AND length(j.value) <= 64",
]
PG_FILL = [
    "INSERT INTO paper_categories (category, paper_id) "
    "SELECT DISTINCT lower(v), p.id FROM papers p, LATERAL (SELECT e #>> '{}' AS v FROM "
    "jsonb_array_elements(CASE WHEN jsonb_typeof(p.categories) = 'array' THEN p.categories ELSE '[]'::jsonb "
    "END) e WHERE jsonb_typeof(e) = 'string') s WHERE length(v) BETWEEN 1 AND 64 ON CONFLICT DO NOTHING",
    "INSERT INTO paper_categories (category, paper_id) "
    "SELECT DISTINCT lower(split_part(v, '.', 1)), p.id FROM papers p, LATERAL (SELECT e #>> '{}' AS v FROM "
    "jsonb_array_elements(CASE WHEN jsonb_typeof(p.categories) = 'array' THEN p.categories ELSE '[]'::jsonb "
    "END) e WHERE jsonb_typeof(e) = 'string') s WHERE position('.' in v) > 1 AND length(v) <= 64 "
    "ON CONFLICT DO NOTHING",
]


def upgrade() -> None:
    op.execute(TABLE)
    op.execute(INDEX)
    for statement in SQLITE_FILL if op.get_bind().dialect.name == "sqlite" else PG_FILL:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS paper_categories")
