"""papers.author_users: the Hugging Face accounts that claimed a paper's author names

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a plain ADD COLUMN on both backends (nullable, no default: instant, and SQLite keeps the table and
    # its full-text triggers as they are)
    op.add_column(
        "papers",
        sa.Column("author_users", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("papers", "author_users")
