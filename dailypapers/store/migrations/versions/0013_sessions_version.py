"""the sessions version

``site_state.sessions_version`` goes up in every transaction that may end a login or change the account
it opens (a logout, a revoked session, a role, name or password changed, an account deleted:
:func:`dailypapers.store.state.may_end_sessions`). A web worker keeps the logins it found while that
number stands still, and reads one number a second instead of every reader's login.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("site_state") as batch:
        batch.add_column(sa.Column("sessions_version", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("site_state") as batch:
        batch.drop_column("sessions_version")
