"""verified e-mail addresses and login throttling

``users.email`` becomes the confirmed address (NULL until a mailed link is followed), beside
``email_verified_at`` and ``pending_email``. Every existing address becomes pending: an address was
whatever its owner typed, and a confirmed digest subscription at it only proves that someone at the
address clicked a link, not that they own the account naming it. For the same reason subscriptions are
detached from accounts; confirming the address attaches the address's subscription again. The lockout
columns give way to ``login_failures`` (throttling counters).

SQLite: the users table is changed in place (``ALTER TABLE … DROP COLUMN``, and the documented
``writable_schema`` edit that only removes or restores a NOT NULL), never rebuilt: with foreign keys on,
dropping the old table would cascade into every table that refers to it.

Revision ID: 0011
Revises: 0010
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
_EMAIL_COLUMN = re.compile(r"""(["`\[]?\bemail["`\]]?\s+VARCHAR\(320\))(\s+NOT\s+NULL)?""", re.IGNORECASE)


def _sqlite_email_not_null(bind: sa.Connection, not_null: bool) -> None:
    """Remove (or restore) the NOT NULL of ``users.email`` in SQLite's stored schema, in this transaction
    (https://sqlite.org/lang_altertable.html#otheralter: no change on disk, so no table rebuild)."""
    query = "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'users'"
    sql = bind.exec_driver_sql(query).scalar_one()
    found = list(_EMAIL_COLUMN.finditer(sql))
    if len(found) != 1:
        raise RuntimeError(f"cannot find the email column in the users table's schema: {sql}")
    match = found[0]
    column = match.group(1) + (" NOT NULL" if not_null else "")
    changed = sql[: match.start()] + column + sql[match.end() :]
    if changed == sql:
        return
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = 'users'", (changed,)
        )
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite and bind.dialect.dbapi.sqlite_version_info < (3, 35):
        raise RuntimeError("this migration needs SQLite 3.35 or newer (ALTER TABLE … DROP COLUMN)")
    if sqlite:
        _sqlite_email_not_null(bind, not_null=False)
    else:
        op.alter_column("users", "email", existing_type=sa.String(length=320), nullable=True)
    op.add_column("users", sa.Column("email_verified_at", TZ, nullable=True))
    op.add_column("users", sa.Column("pending_email", sa.String(length=320), nullable=True))
    op.create_index(op.f("ix_users_pending_email"), "users", ["pending_email"], unique=False)
    op.execute("UPDATE users SET pending_email = email, email = NULL, email_verified_at = NULL")
    op.execute("UPDATE subscriptions SET user_id = NULL WHERE user_id IS NOT NULL")
    op.drop_column("users", "failed_logins")
    op.drop_column("users", "locked_until")
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_failures")),
    )
    op.create_index(
        op.f("ix_login_failures_last_failure_at"), "login_failures", ["last_failure_at"], unique=False
    )


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_index(op.f("ix_login_failures_last_failure_at"), table_name="login_failures")
    op.drop_table("login_failures")
    op.add_column("users", sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False))
    op.add_column("users", sa.Column("locked_until", TZ, nullable=True))
    # an account without a confirmed address gets its pending one back where no other account has it
    # (the oldest asking first), else a placeholder: the old schema wants an address on every account
    op.execute("""
        UPDATE users SET email = pending_email
        WHERE email IS NULL AND pending_email IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM users AS other WHERE other.email = users.pending_email)
          AND id = (SELECT min(first.id) FROM users AS first
                    WHERE first.pending_email = users.pending_email AND first.email IS NULL)""")
    op.execute("UPDATE users SET email = 'unconfirmed-' || id || '@invalid' WHERE email IS NULL")
    op.drop_index(op.f("ix_users_pending_email"), table_name="users")
    op.drop_column("users", "pending_email")
    op.drop_column("users", "email_verified_at")
    if bind.dialect.name == "sqlite":
        _sqlite_email_not_null(bind, not_null=True)
    else:
        op.alter_column("users", "email", existing_type=sa.String(length=320), nullable=False)
