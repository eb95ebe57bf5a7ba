"""paper_categories: each paper's arXiv categories and their archives (``cs.cl`` and ``cs`` for cs.CL),
lower-cased, one row each, so that "the newest papers in cs.CL" is an index range instead of a look into
every paper's JSON list. Kept in step by triggers on ``papers`` (like the full-text index), so every way a
paper is written (imports, ``db copy``, restores) keeps it right; a derived table, not a model.

A later migration that rebuilds ``papers`` on SQLite (``batch_alter_table``) drops these triggers with
the table and must create them again (``TRIGGERS`` below).

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

# the rows of a paper (``{row}``: NEW in a trigger; ``p`` over ``{papers}``, "papers p, ", to fill the
# table): each category lower-cased, and the archive before its dot; values that are not short text are
# left out
_SQLITE_LIST = (
    "json_each(CASE WHEN json_valid({row}.categories) AND json_type({row}.categories) = 'array' "
    "THEN {row}.categories ELSE '[]' END) j"
)
_SQLITE_ROWS = (
    f"SELECT lower(j.value), {{row}}.id FROM {{papers}}{_SQLITE_LIST} "  # nosec B608 # constant SQL, no input
    "WHERE j.type = 'text' AND length(j.value) BETWEEN 1 AND 64 "
    "UNION SELECT lower(substr(j.value, 1, instr(j.value, '.') - 1)), "
    f"{{row}}.id FROM {{papers}}{_SQLITE_LIST} "
    "WHERE j.type = 'text' AND instr(j.value, '.') > 1 AND length(j.value) <= 64"
)
SQLITE_TRIGGERS = [
    "CREATE TRIGGER paper_categories_insert AFTER INSERT ON papers BEGIN "
    "INSERT OR IGNORE INTO paper_categories (category, paper_id) "
    f"{_SQLITE_ROWS.format(row='new', papers='')}; END",
    "CREATE TRIGGER paper_categories_update AFTER UPDATE OF categories ON papers BEGIN "  # nosec B608 # constant SQL, no input
    "DELETE FROM paper_categories WHERE paper_id = new.id; "
    "INSERT OR IGNORE INTO paper_categories (category, paper_id) "
    f"{_SQLITE_ROWS.format(row='new', papers='')}; END",
]
SQLITE_FILL = "INSERT OR IGNORE INTO paper_categories (category, paper_id) " + _SQLITE_ROWS.format(
    row="p", papers="papers p, "
)

_PG_LIST = (
    "LATERAL (SELECT e #>> '{{}}' AS v FROM jsonb_array_elements(CASE WHEN jsonb_typeof({row}.categories) = "
    "'array' THEN {row}.categories ELSE '[]'::jsonb END) e WHERE jsonb_typeof(e) = 'string') s"
)
_PG_ROWS = (
    f"SELECT lower(v), {{row}}.id FROM {{papers}}{_PG_LIST} WHERE length(v) BETWEEN 1 AND 64 "  # nosec B608 # constant SQL, no input
    f"UNION SELECT lower(split_part(v, '.', 1)), {{row}}.id FROM {{papers}}{_PG_LIST} "
    "WHERE position('.' in v) > 1 AND length(v) <= 64"
)
_PG_FUNCTION = (
    "CREATE FUNCTION paper_categories_sync() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'UPDATE' THEN DELETE FROM paper_categories WHERE paper_id = NEW.id; END IF; "
    "INSERT INTO paper_categories (category, paper_id) "
    + _PG_ROWS.format(row="NEW", papers="")  # nosec B608 # constant SQL, no input
    + " ON CONFLICT DO NOTHING; RETURN NULL; END $$"
)
PG_TRIGGERS = [
    _PG_FUNCTION,
    "CREATE TRIGGER paper_categories_sync AFTER INSERT OR UPDATE OF categories ON papers "
    "FOR EACH ROW EXECUTE FUNCTION paper_categories_sync()",
]
PG_FILL = (
    "INSERT INTO paper_categories (category, paper_id) "
    + _PG_ROWS.format(row="p", papers="papers p, ")
    + " ON CONFLICT DO NOTHING"
)


def upgrade() -> None:
    op.execute(TABLE)
    op.execute(INDEX)
    if op.get_bind().dialect.name == "sqlite":
        op.execute(SQLITE_FILL)
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    else:
        op.execute(PG_FILL)
        for statement in PG_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("paper_categories_insert", "paper_categories_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS paper_categories_sync ON papers")
        op.execute("DROP FUNCTION IF EXISTS paper_categories_sync()")
    op.execute("DROP TABLE IF EXISTS paper_categories")
