"""The transactional outbox: a job a request asked for, stored in the request's transaction.

A row exists if and only if the request committed. On PostgreSQL the workers' relay moves rows
into the procrastinate queue (same database, one transaction per batch); on SQLite the web
tier's in-process runner takes them. Either way the request only ever writes this table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.models.base import Base, utcnow

# Tables of the job queue itself (procrastinate's schema, applied by migration 0007 on
# PostgreSQL): not ours to model, so autogenerate and the drift test leave them alone.
QUEUE_TABLE_PREFIX = "procrastinate_"


def is_model_object(name: str | None, kind: str, _parents: object = None) -> bool:
    """Alembic's include_name: everything but the queue's own tables."""
    return not (kind == "table" and name is not None and name.startswith(QUEUE_TABLE_PREFIX))


class OutboxJob(Base):
    __tablename__ = "job_outbox"

    # BigInteger on PostgreSQL (a busy outbox outlives 2**31 rows), INTEGER on SQLite so that
    # it stays the rowid alias and autoincrements.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    task: Mapped[str] = mapped_column(String(128))
    queue: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
