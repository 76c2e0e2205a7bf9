from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.models.base import Base, TimestampMixin

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

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN
