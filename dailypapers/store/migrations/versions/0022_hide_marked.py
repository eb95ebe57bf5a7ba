"""users.hide_marked: the reader's choice to hide the papers they marked (read, not interested) on lists
instead of dimming them

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a constant default: a plain ADD COLUMN on both backends (no table rewrite)
    op.add_column("users", sa.Column("hide_marked", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("users", "hide_marked")
