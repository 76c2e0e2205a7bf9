"""The audit log: security events, appended in the transaction of the change they record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.models.base import Base, utcnow

EVENT_TYPE_MAX = 64
ADDRESS_MAX = 64  # an IPv6 address with a zone fits
REQUEST_ID_MAX = 128  # as observability accepts them


class AuditEvent(Base):
    """One security event. Rows are only ever added (the DAO has no update or delete).

    `actor_id` and `target_id` are user ids without a foreign key: the log keeps naming an
    account after it is gone, and deleting one never edits the log. Nothing secret is kept: no
    password, token, hash or email; who, to whom, from where, in which request, when.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        # Newest first, keyset-paginated on (at, id); filters by actor or type walk their own.
        Index("ix_audit_events_at_id", "at", "id"),
        Index("ix_audit_events_actor_id_at_id", "actor_id", "at", "id"),
        Index("ix_audit_events_type_at_id", "type", "at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(EVENT_TYPE_MAX))
    actor_id: Mapped[int | None] = mapped_column(Integer, default=None)
    target_id: Mapped[int | None] = mapped_column(Integer, default=None)
    address: Mapped[str | None] = mapped_column(String(ADDRESS_MAX), default=None)
    request_id: Mapped[str | None] = mapped_column(String(REQUEST_ID_MAX), default=None)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
