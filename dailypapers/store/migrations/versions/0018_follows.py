"""follows and follow_feeds: what a user follows, and the secret address of their private feed; an index
on papers.first_seen_at (a digest's "Following" reads the papers new since its edition before)

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "follows",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_follows_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", "value", name=op.f("pk_follows")),
    )
    op.create_index("ix_follows_kind_value", "follows", ["kind", "value"], unique=False)
    op.create_table(
        "follow_feeds",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_follow_feeds_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_follow_feeds")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_follow_feeds_token_hash")),
    )

    op.create_index(op.f("ix_papers_first_seen_at"), "papers", ["first_seen_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_papers_first_seen_at"), table_name="papers")
    op.drop_table("follow_feeds")
    op.drop_index("ix_follows_kind_value", table_name="follows")
    op.drop_table("follows")
