"""tags casefold

Tags become one by their case-folded key (NFKC, then Unicode case folding, as usernames), so
`Dragons` and `dragons` are one tag. Existing case-variants are merged into the oldest (the
spelling first used): their article links move to it (once per article) and the others go.
Every tag's count is recounted from its links, which also mends counts that concurrent
deletes had pushed below the truth. An article whose slug is a fixed route (`feed`) gets a
free slug, as new ones do.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""

import secrets
import unicodedata
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TAG_KEY_MAX = 256
RESERVED_SLUGS = ("feed",)

tags = sa.table(
    "tags",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("name_key", sa.String),
    sa.column("articles_count", sa.Integer),
)
article_tags = sa.table("article_tags", sa.column("article_id"), sa.column("tag_id"))
articles = sa.table("articles", sa.column("id", sa.Integer), sa.column("slug", sa.String))


def _key(name: str) -> str:
    # The service's rule as of this revision (services/tags.py), frozen here. A key longer
    # than its column (possible only for names no revision ever refused) is cut to fit.
    return unicodedata.normalize("NFKC", name).casefold()[:TAG_KEY_MAX]


def _alter_tags(change: Callable[[BatchOperations], None]) -> None:
    """Alter `tags`. SQLite does it by copying the table and dropping the old one, and with
    foreign keys on, that drop deletes every article_tags row by cascade: the links are set
    aside first and put back after."""
    if op.get_bind().dialect.name != "sqlite":
        with op.batch_alter_table("tags") as batch:
            change(batch)
        return
    op.execute("CREATE TEMPORARY TABLE kept_article_tags AS SELECT * FROM article_tags")
    with op.batch_alter_table("tags", recreate="always") as batch:
        change(batch)
    op.execute("DELETE FROM article_tags")
    op.execute(
        "INSERT INTO article_tags (article_id, tag_id, created_at) "
        "SELECT article_id, tag_id, created_at FROM kept_article_tags"
    )
    op.execute("DROP TABLE kept_article_tags")


def _merge_case_variants() -> None:
    bind = op.get_bind()
    keepers: dict[str, int] = {}
    rows = bind.execute(sa.select(tags.c.id, tags.c.name).order_by(tags.c.id)).all()
    for tag_id, name in rows:
        key = _key(name)
        keeper = keepers.setdefault(key, tag_id)
        if keeper == tag_id:
            bind.execute(tags.update().where(tags.c.id == tag_id).values(name_key=key))
            continue
        # Articles carrying both keep one link, to the keeper.
        has_keeper = sa.select(article_tags.c.article_id).where(article_tags.c.tag_id == keeper)
        bind.execute(
            article_tags.delete().where(
                article_tags.c.tag_id == tag_id, article_tags.c.article_id.in_(has_keeper)
            )
        )
        bind.execute(
            article_tags.update().where(article_tags.c.tag_id == tag_id).values(tag_id=keeper)
        )
        bind.execute(tags.delete().where(tags.c.id == tag_id))
    linked = (
        sa.select(sa.func.count())
        .select_from(article_tags)
        .where(article_tags.c.tag_id == tags.c.id)
        .scalar_subquery()
    )
    bind.execute(tags.update().values(articles_count=linked))


def _free_reserved_slugs() -> None:
    bind = op.get_bind()
    for reserved in RESERVED_SLUGS:
        article_id = bind.scalar(sa.select(articles.c.id).where(articles.c.slug == reserved))
        if article_id is None:
            continue
        while True:
            slug = f"{reserved}-{secrets.token_hex(4)}"
            if bind.scalar(sa.select(articles.c.id).where(articles.c.slug == slug)) is None:
                break
        bind.execute(articles.update().where(articles.c.id == article_id).values(slug=slug))


def upgrade() -> None:
    with op.batch_alter_table("tags") as batch:
        batch.add_column(sa.Column("name_key", sa.String(length=TAG_KEY_MAX), nullable=True))
    _merge_case_variants()

    def keyed(batch: BatchOperations) -> None:
        batch.alter_column("name_key", existing_type=sa.String(length=TAG_KEY_MAX), nullable=False)
        batch.drop_constraint("uq_tags_name", type_="unique")
        batch.create_unique_constraint("uq_tags_name_key", ["name_key"])

    _alter_tags(keyed)
    _free_reserved_slugs()


def downgrade() -> None:
    # Names stay unique: merged tags have distinct keys, so distinct names.
    def unkeyed(batch: BatchOperations) -> None:
        batch.drop_constraint("uq_tags_name_key", type_="unique")
        batch.create_unique_constraint("uq_tags_name", ["name"])
        batch.drop_column("name_key")

    _alter_tags(unkeyed)
