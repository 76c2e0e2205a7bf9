"""jobs: the transactional outbox, and procrastinate's queue schema on PostgreSQL

Revision ID: 0007
Revises: 0002
Create Date: 2026-12-01 09:00:00

On PostgreSQL the queue lives in the same database: procrastinate's own schema (the one its
`procrastinate schema --apply` would create, read from the installed package, pinned in
pyproject.toml) is applied here so that `alembic upgrade head` is the only set-up step. An
upgrade of procrastinate that ships schema migrations gets its own revision applying them.
SQLite has no queue tables: the in-process runner keeps its queue in memory.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.util import await_only

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTBOX_CHANNEL = "conduit_job_outbox"


def upgrade() -> None:
    op.create_table(
        "job_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("task", sa.String(length=128), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_outbox")),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    _script(SchemaManager.get_schema())
    # The relay LISTENs here; NOTIFY is delivered at commit, so it never wakes for a rollback.
    _script(
        f"""
        CREATE FUNCTION conduit_job_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{OUTBOX_CHANNEL}', '');
            RETURN NULL;
        END;
        $$;
        CREATE TRIGGER conduit_job_outbox_notify AFTER INSERT ON job_outbox
            FOR EACH STATEMENT EXECUTE FUNCTION conduit_job_outbox_notify();
        """
    )


def _script(sql: str) -> None:
    """Run a multi-statement script on the migration's connection, in its transaction (as is:
    no bind parameters, no statement preparation, both of which a script cannot go through)."""
    bind = op.get_bind()
    bind.execute(sa.text("SELECT 1"))  # the transaction has begun on the driver's connection
    driver: Any = bind.connection.driver_connection
    await_only(driver.execute(sql))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS conduit_job_outbox_notify ON job_outbox")
        op.execute("DROP FUNCTION IF EXISTS conduit_job_outbox_notify()")
        # Everything procrastinate's schema made: its tables, functions and types.
        _script(
            """
            DO $$
            DECLARE item record;
            BEGIN
                FOR item IN SELECT tablename FROM pg_tables
                        WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate\\_%'
                LOOP
                    EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.tablename);
                END LOOP;
                FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                        JOIN pg_namespace n ON n.oid = p.pronamespace
                        WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
                LOOP
                    EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature);
                END LOOP;
                FOR item IN SELECT t.typname FROM pg_type t
                        JOIN pg_namespace n ON n.oid = t.typnamespace
                        WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\\_%'
                          AND t.typtype IN ('e', 'c')
                LOOP
                    EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
                END LOOP;
            END $$;
            """
        )
    op.drop_table("job_outbox")
