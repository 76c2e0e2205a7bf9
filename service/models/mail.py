from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from service.models.base import Base, utcnow


class SentEmail(Base):
    """One row per message sent, keyed by what it is (`welcome:42`): a job that runs twice
    finds the key and sends nothing."""

    __tablename__ = "sent_emails"

    key: Mapped[str] = mapped_column(String(191), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(255))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
