"""author totals: each author's article count kept in counters, for the feed's articlesCount

Revision ID: 0012_author_totals
Revises: 0011_counter_shards
Create Date: 2026-12-02 01:30:00

The feed's total counted every article of every followed author on each request, a cost
that grew with their history; it now sums one kept row per followed author
(`articles_by:<author id>`, shard 0), which creates and deletes keep in the same statement
as the overall total. Downgrading removes those rows.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_author_totals"
down_revision: str | None = "0011_counter_shards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO counters (name, shard, value) "
        "SELECT 'articles_by:' || CAST(author_id AS VARCHAR), 0, COUNT(*) "
        "FROM articles GROUP BY author_id"
    )


def downgrade() -> None:
    op.execute("DELETE FROM counters WHERE name LIKE 'articles\\_by:%' ESCAPE '\\'")
