"""slug history: every slug an article has had, so old links redirect

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-01 09:00:00.000000

Each live article's current slug is copied in, so the primary key covers current and old
slugs alike from the start. Downgrading drops the history (old links then answer 404).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "article_slugs",
        sa.Column("slug", sa.String(length=300), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_article_slugs_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_article_slugs")),
    )
    with op.batch_alter_table("article_slugs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_article_slugs_article_id"), ["article_id"], unique=False
        )
    op.execute("INSERT INTO article_slugs (slug, article_id) SELECT slug, id FROM articles")


def downgrade() -> None:
    with op.batch_alter_table("article_slugs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_article_slugs_article_id"))
    op.drop_table("article_slugs")
