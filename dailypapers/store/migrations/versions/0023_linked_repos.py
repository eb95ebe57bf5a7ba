"""linked_repos, linked_repo_counts: the Hugging Face models, datasets and Spaces built on a paper

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "linked_repos",
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("repo_id", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=False),
        sa.Column("downloads", sa.BigInteger(), nullable=True),
        sa.Column("last_modified", TZ, nullable=True),
        sa.Column("pipeline_tag", sa.String(64), nullable=True),
        sa.Column("num_parameters", sa.BigInteger(), nullable=True),
        sa.Column("gated", sa.String(16), nullable=True),
        sa.Column("title", sa.String(200), nullable=True),
        sa.Column("emoji", sa.String(16), nullable=True),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name=op.f("fk_linked_repos_paper_id_papers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("paper_id", "kind", "repo_id", name=op.f("pk_linked_repos")),
    )
    op.create_table(
        "linked_repo_counts",
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("models", sa.Integer(), nullable=False),
        sa.Column("datasets", sa.Integer(), nullable=False),
        sa.Column("spaces", sa.Integer(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"],
            ["papers.id"],
            name=op.f("fk_linked_repo_counts_paper_id_papers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("paper_id", name=op.f("pk_linked_repo_counts")),
    )


def downgrade() -> None:
    op.drop_table("linked_repo_counts")
    op.drop_table("linked_repos")
