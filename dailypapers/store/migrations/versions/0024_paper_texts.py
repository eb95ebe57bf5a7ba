"""paper_texts: a paper's full text as Markdown (from arXiv's HTML), or when arXiv had none

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


def downgrade() -> None:
    op.drop_index(op.f("ix_paper_texts_fetched_at"), table_name="paper_texts")
    op.drop_table("paper_texts")
