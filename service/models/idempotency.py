"""Idempotency keys: one row per (caller, key), claimed before the request runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from service.models.base import Base

KEY_MAX = 255


class IdempotencyKey(Base):
    """A key in flight while `response_status` is NULL; afterwards, the answer to replay.

    The primary key is the claim: of concurrent requests with one key, on any worker or
    instance, exactly one inserts the row. `token` names the request holding the claim, so a
    request whose stale claim was taken over can no longer store an answer (or free the key).
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        # The clean-up job deletes the oldest expired rows in batches, straight from this index.
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    # `user:<id>`, or `address:<keyed hash of the client address>` for registration.
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_MAX), primary_key=True)
    # SHA-256 of method, path and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(64))
    # When the current claim was made (a takeover of a stale claim renews it).
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    response_status: Mapped[int | None] = mapped_column(Integer, default=None)
    # [[name, value], ...]: the headers the handler set (not per-exchange ones).
    response_headers: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
