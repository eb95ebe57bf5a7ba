"""papers.code_added_at and papers.page_added_at: when an import first brought a code repository or a
project page to a paper stored without one ("code released" alerts); papers.stars_before and
papers.stars_changed_at: the GitHub stars before the import that last raised them, and when ("Trending on
GitHub")

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # plain ADD COLUMNs (nullable, no default): instant on both backends, SQLite's triggers untouched
    op.add_column("papers", sa.Column("code_added_at", TZ, nullable=True))
    op.add_column("papers", sa.Column("page_added_at", TZ, nullable=True))
    op.create_index(op.f("ix_papers_code_added_at"), "papers", ["code_added_at"], unique=False)
    op.create_index(op.f("ix_papers_page_added_at"), "papers", ["page_added_at"], unique=False)
    op.add_column("papers", sa.Column("stars_before", sa.Integer(), nullable=True))
    op.add_column("papers", sa.Column("stars_changed_at", TZ, nullable=True))
    op.create_index(op.f("ix_papers_stars_changed_at"), "papers", ["stars_changed_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_papers_stars_changed_at"), table_name="papers")
    op.drop_column("papers", "stars_changed_at")
    op.drop_column("papers", "stars_before")
    op.drop_index(op.f("ix_papers_page_added_at"), table_name="papers")
    op.drop_index(op.f("ix_papers_code_added_at"), table_name="papers")
    op.drop_column("papers", "page_added_at")
    op.drop_column("papers", "code_added_at")
