"""paper_vectors: index (model, embedded_at), so "newest vector of a model" is one index lookup

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("paper_vectors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_paper_vectors_model"))
        batch_op.create_index("ix_paper_vectors_model_embedded_at", ["model", "embedded_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("paper_vectors", schema=None) as batch_op:
        batch_op.drop_index("ix_paper_vectors_model_embedded_at")
        batch_op.create_index(batch_op.f("ix_paper_vectors_model"), ["model"], unique=False)
