"""counter shards: a kept total is the sum of up to 16 rows, so writers stop queueing on one

Revision ID: 0011_counter_shards
Revises: 0010
Create Date: 2026-12-01 18:40:00

Every article created or deleted added to the one `articles` row and held its lock until
commit: all creates took turns. The existing totals become shard 0. Downgrading sums each
total's shards back into one row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_counter_shards"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("counters", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shard", sa.SmallInteger(), server_default="0", nullable=False)
        )
        batch_op.drop_constraint("pk_counters", type_="primary")
        batch_op.create_primary_key("pk_counters", ["name", "shard"])


def downgrade() -> None:
    op.execute(
        "INSERT INTO counters (name, shard, value) SELECT DISTINCT name, 0, 0 FROM counters "
        "WHERE name NOT IN (SELECT name FROM counters WHERE shard = 0)"
    )
    op.execute(
        "UPDATE counters SET value = "
        "(SELECT SUM(c.value) FROM counters AS c WHERE c.name = counters.name) WHERE shard = 0"
    )
    op.execute("DELETE FROM counters WHERE shard <> 0")
    with op.batch_alter_table("counters", schema=None) as batch_op:
        batch_op.drop_constraint("pk_counters", type_="primary")
        batch_op.create_primary_key("pk_counters", ["name"])
        batch_op.drop_column("shard")
