from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from service.daos.queries import can_hold, entity_columns, load_one
from service.errors import EmailTaken, UsernameTaken
from service.models import MAX_ID, User


def _raise_taken(exc: IntegrityError) -> None:
    # Both backends name the column or the constraint (uq_users_email, users.username_key).
    detail = str(exc.orig)
    if "username_key" in detail:
        raise UsernameTaken() from exc
    if "email" in detail:
        raise EmailTaken() from exc
    raise exc


_BY_ID = entity_columns(User).where(User.id == bindparam("user_id"))


class UserDAO:
    async def get_by_id(self, session: AsyncSession, user_id: int) -> User | None:
        if not 0 < user_id <= MAX_ID:  # no row has it, and PostgreSQL would reject the value
            return None
        return await load_one(session, User, _BY_ID, {"user_id": user_id})

    async def get_by_email(self, session: AsyncSession, email: str) -> User | None:
        if not can_hold(email):  # the login page's form is not checked like a JSON body
            return None
        return await session.scalar(select(User).where(User.email == email))

    async def get_id_by_email(self, session: AsyncSession, email: str) -> int | None:
        if not can_hold(email):
            return None
        return await session.scalar(select(User.id).where(User.email == email))

    async def get_by_username_key(self, session: AsyncSession, username_key: str) -> User | None:
        if not can_hold(username_key):
            return None
        return await session.scalar(select(User).where(User.username_key == username_key))

    async def find_taken(
        self, session: AsyncSession, *, username_key: str, email: str
    ) -> tuple[bool, bool]:
        """Whether the username key and the email are in use: one statement."""
        rows = await session.execute(
            select(User.username_key, User.email).where(
                or_(User.username_key == username_key, User.email == email)
            )
        )
        found = rows.all()
        return (
            any(row.username_key == username_key for row in found),
            any(row.email == email for row in found),
        )

    async def raise_credentials_version(self, session: AsyncSession, user: User) -> None:
        """One more than the stored version, in the statement: concurrent changes never
        hand out the same version twice."""
        version = await session.scalar(
            update(User)
            .where(User.id == user.id)
            .values(credentials_version=User.credentials_version + 1)
            .returning(User.credentials_version)
            .execution_options(synchronize_session=False)
        )
        set_committed_value(user, "credentials_version", version)

    async def add(self, session: AsyncSession, user: User) -> User:
        """Insert; UsernameTaken or EmailTaken when a unique key clashes."""
        try:
            async with session.begin_nested():  # a clash must not spoil the request's transaction
                session.add(user)
        except IntegrityError as exc:
            _raise_taken(exc)
        return user

    async def update(self, session: AsyncSession, user: User, values: dict[str, Any]) -> User:
        """Set column values and flush; UsernameTaken or EmailTaken on a clash."""
        try:
            # Changes made inside the savepoint, so a clash undoes only them.
            async with session.begin_nested():
                for name, value in values.items():
                    setattr(user, name, value)
        except IntegrityError as exc:
            await session.refresh(user)  # the savepoint rolled back: show what is stored
            _raise_taken(exc)
        return user

    async def list_page(
        self,
        session: AsyncSession,
        *,
        username_key_prefix: str | None,
        email_prefix: str | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[User], int]:
        """A page ordered by id, and the total number of users matching either prefix."""
        where = []
        if username_key_prefix or email_prefix:
            where.append(
                or_(
                    User.username_key.startswith(username_key_prefix or "", autoescape=True),
                    User.email.startswith(email_prefix or "", autoescape=True),
                )
            )
        page = await session.scalars(
            select(User).where(*where).order_by(User.id).limit(limit).offset(offset)
        )
        total = await session.scalar(select(func.count()).select_from(User).where(*where))
        return page.all(), total or 0


user_dao = UserDAO()
