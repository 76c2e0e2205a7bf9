"""Typed declarative models; importing this package registers every table on Base.metadata."""

from service.models.base import Base
from service.models.user import Role, User

__all__ = ["Base", "Role", "User"]
