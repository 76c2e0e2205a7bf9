"""Refresh tokens: one family per login, one row per refresh token handed out in it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from service.models.base import Base, utcnow


class RefreshFamily(Base):
    """The refresh tokens that descend from one login (or registration).

    Revoking the family (logout, reuse of a spent token, sign-out everywhere, a password
    change) ends every refresh token of it and every access token that names it (`fam`).
    """

    __tablename__ = "refresh_families"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The login the family descends from: no token of it outlives TOKEN_MAX_AGE_SECONDS after.
    auth_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # auth_time + TOKEN_MAX_AGE_SECONDS: past it nothing of the family is valid (clean-up).
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # Indexed for the clean-up, which deletes revoked families.
    revoked_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), default=None, index=True
    )


class RefreshToken(Base):
    """One refresh token, stored as the SHA-256 of its secret (a copy of the table signs
    nobody in). Spent once: `used_at` is set by the one conditional UPDATE that rotates it, and
    the row stays until it expires, so a copy presented later is known as a reuse."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        # The clean-up deletes the oldest expired rows in batches, straight from this index.
        Index("ix_refresh_tokens_expires_at", "expires_at"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[int] = mapped_column(
        ForeignKey("refresh_families.id", ondelete="CASCADE"), index=True
    )
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
