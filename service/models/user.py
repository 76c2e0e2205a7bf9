from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.models.base import Base, TimestampMixin, utcnow

# The case-folded key may be longer than the name (NFKC spells some characters with many).
USERNAME_KEY_MAX = 256


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('user', 'admin')", name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Kept as typed; uniqueness is on the case-folded key, the same on SQLite and PostgreSQL.
    username: Mapped[str] = mapped_column(String(64))
    username_key: Mapped[str] = mapped_column(String(USERNAME_KEY_MAX), unique=True)
    # Stored lower-cased by the service, so a plain unique constraint is case-insensitive.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    bio: Mapped[str | None] = mapped_column(Text, default=None)
    image: Mapped[str | None] = mapped_column(String(2048), default=None)
    role: Mapped[str] = mapped_column(String(16), default=Role.USER.value)
    # Raised by a password change and by "sign out everywhere": tokens carry the version they
    # were issued under and stop working once it is no longer the user's.
    credentials_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


class BrowserSession(Base):
    """A sign-in from the login page. The cookie carries a random secret; the row, keyed by
    its SHA-256, is what makes the cookie worth anything: sign-out deletes it."""

    __tablename__ = "browser_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # hex SHA-256 of the secret
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Fixed at sign-in: the cookie's lifetime is absolute, however often it is refreshed.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
