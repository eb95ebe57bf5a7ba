"""lexicons and paper_terms: the recommender's vocabulary and each paper's heaviest terms

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lexicons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("papers", sa.Integer(), nullable=False),
        sa.Column("vocabulary", sa.Text(), nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lexicons")),
    )
    op.create_table(
        "paper_terms",
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("lexicon_id", sa.Integer(), nullable=False),
        sa.Column("terms", sa.LargeBinary(), nullable=False),
        sa.Column("text_hash", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name=op.f("fk_paper_terms_paper_id_papers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["lexicon_id"],
            ["lexicons.id"],
            name=op.f("fk_paper_terms_lexicon_id_lexicons"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("paper_id", name=op.f("pk_paper_terms")),
    )
    with op.batch_alter_table("paper_terms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_paper_terms_lexicon_id"), ["lexicon_id"], unique=False)


def downgrade() -> None:
    op.drop_table("paper_terms")
    op.drop_table("lexicons")
