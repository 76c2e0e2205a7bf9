"""Typed declarative models; importing this package registers every table on Base.metadata."""

from service.models.base import MAX_ID, Base
from service.models.user import Role, User

__all__ = ["MAX_ID", "Base", "Role", "User"]
