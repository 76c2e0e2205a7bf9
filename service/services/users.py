"""Accounts: registration, login, profile changes and who may see or change which user."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.crypto import PasswordHasher
from service.daos.browser_sessions import browser_session_dao
from service.daos.users import user_dao
from service.errors import (
    BadCredentials,
    EmailTaken,
    Invalid,
    UserForbidden,
    UsernameTaken,
    UserNotFound,
)
from service.models import USERNAME_KEY_MAX, Role, User
from service.services import audit, refresh_tokens
from service.services import mail as mail_service
from service.services.audit import COMMAND_LINE, EventType, Origin

REQUIRED_ON_UPDATE = ("username", "email", "password")


def username_key(username: str) -> str:
    """The case-insensitive identity of a username (kept as typed for display)."""
    return unicodedata.normalize("NFKC", username).casefold()


def _new_username_key(username: str) -> str:
    """The key of a username being stored; Invalid when it is longer than the key column (a
    name within 64 characters can fold to more), checked before any password is hashed."""
    key = username_key(username)
    if len(key) > USERNAME_KEY_MAX:
        raise Invalid(
            "username", f"is too long (maximum is {USERNAME_KEY_MAX} characters once case-folded)"
        )
    return key


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def register(
    session: AsyncSession,
    hasher: PasswordHasher,
    *,
    username: str,
    email: str,
    password: str,
    role: Role = Role.USER,
    origin: Origin,
) -> User:
    """Create an account; UsernameTaken or EmailTaken (409) when either is in use, in any case.
    Recorded in the audit log (the new account is actor and target).

    Both are looked up before the password is hashed, so a refused registration costs one
    query, not an argon2 hash; between concurrent registrations of one name the unique
    constraints still decide (the insert raises the same errors)."""
    key, address = _new_username_key(username), normalize_email(email)
    hasher.check_capacity()  # shed a burst before its query
    name_taken, email_taken = await user_dao.find_taken(session, username_key=key, email=address)
    if name_taken:
        raise UsernameTaken()
    if email_taken:
        raise EmailTaken()
    # End the read before the hash, as a login does: no connection (and on SQLite no write
    # lock) is held while the hashing threads are busy. Nothing was written.
    await session.commit()
    user = User(
        username=username,
        username_key=key,
        email=address,
        password_hash=await hasher.hash(password),
        role=role.value,
    )
    await user_dao.add(session, user)
    await audit.record(session, EventType.USER_REGISTERED, origin, actor=user.id, target=user.id)
    await mail_service.enqueue_welcome(session, user.id)  # sent only if this commits
    return user


async def authenticate(
    session: AsyncSession, hasher: PasswordHasher, *, email: str, password: str, origin: Origin
) -> User:
    """The account for these credentials, the login recorded in the audit log; BadCredentials
    for unknown email or wrong password (record that with `record_failed_login`)."""
    hasher.check_capacity()  # shed a login burst before its query, not after
    user = await user_dao.get_by_email(session, normalize_email(email))
    # End the read before the hash: seconds under a login burst, during which no connection
    # (and on SQLite no write lock) should be held. Nothing was written, so nothing is lost.
    await session.commit()
    # One argon2 verify either way, so timing does not tell which accounts exist.
    matches = await hasher.verify(user.password_hash if user else None, password)
    if user is None or not matches:
        raise BadCredentials()
    if hasher.needs_rehash(user.password_hash):  # argon2 parameters were raised since
        await user_dao.update(session, user, {"password_hash": await hasher.hash(password)})
    await audit.record(session, EventType.LOGIN_SUCCEEDED, origin, actor=user.id, target=user.id)
    return user


async def record_failed_login(session: AsyncSession, email: str, origin: Origin) -> None:
    """Record a failed login; its target is the account the email names, if any (the email
    itself is not kept). For a session of its own, committed by the caller: the request of a
    failed login answers 401, and its own transaction rolls back."""
    user = await user_dao.get_by_email(session, normalize_email(email))
    await audit.record(
        session,
        EventType.LOGIN_FAILED,
        origin,
        actor=None,
        target=user.id if user is not None else None,
    )


async def promote_to_admin(
    session: AsyncSession, *, email: str | None = None, username: str | None = None
) -> tuple[User, bool]:
    """Give an existing account the admin role; the account and whether it changed.

    UserNotFound when no account matches, Invalid when email and username name different ones.
    """
    by_email = await user_dao.get_by_email(session, normalize_email(email)) if email else None
    by_name = (
        await user_dao.get_by_username_key(session, username_key(username)) if username else None
    )
    if (email and by_email is None) or (username and by_name is None):
        raise UserNotFound()
    if by_email is not None and by_name is not None and by_email.id != by_name.id:
        raise Invalid("user", "email and username name different accounts")
    user = by_email or by_name
    if user is None:
        raise Invalid("user", "name the account by email or username")
    if user.role == Role.ADMIN.value:
        return user, False
    promoted = await user_dao.update(session, user, {"role": Role.ADMIN.value})
    await audit.record(session, EventType.ROLE_CHANGED, COMMAND_LINE, actor=None, target=user.id)
    return promoted, True


async def get_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await user_dao.get_by_id(session, user_id)


async def get_visible(session: AsyncSession, actor: User, user_id: int) -> User:
    """A user that `actor` may see: admins see all, others only themselves."""
    _check_self_or_admin(actor, user_id)
    user = await user_dao.get_by_id(session, user_id)
    if user is None:
        raise UserNotFound()
    return user


async def update(
    session: AsyncSession,
    hasher: PasswordHasher,
    actor: User,
    target: User,
    changes: dict[str, Any],
    *,
    origin: Origin,
) -> User:
    """Apply a partial update; only admins change roles or other users' accounts. A new
    password or role is recorded in the audit log; a new password ends every credential the
    account had (`revoke_credentials`)."""
    _check_self_or_admin(actor, target.id)
    for name in REQUIRED_ON_UPDATE:
        if name in changes and changes[name] is None:
            raise Invalid(name, "can't be blank")
    values: dict[str, Any] = {}
    if "role" in changes:
        if changes["role"] is None:
            raise Invalid("role", "can't be blank")
        if not actor.is_admin:
            raise UserForbidden()
        values["role"] = Role(changes["role"]).value
    if "username" in changes:
        values["username"] = changes["username"]
        values["username_key"] = _new_username_key(changes["username"])
    if "email" in changes:
        values["email"] = normalize_email(changes["email"])
    if "password" in changes:
        values["password_hash"] = await hasher.hash(changes["password"])
    for name in ("bio", "image"):
        if name in changes:
            values[name] = changes[name]
    role_changed = "role" in values and values["role"] != target.role
    updated = await user_dao.update(session, target, values)
    if role_changed:
        await audit.record(
            session, EventType.ROLE_CHANGED, origin, actor=actor.id, target=target.id
        )
    if "password" in changes:  # whoever knew the old one keeps nothing it opened
        await audit.record(
            session, EventType.PASSWORD_CHANGED, origin, actor=actor.id, target=target.id
        )
        await revoke_credentials(session, updated, actor=actor, origin=origin)
    return updated


async def change_password(
    session: AsyncSession,
    hasher: PasswordHasher,
    user: User,
    *,
    current: str,
    new: str,
    origin: Origin,
) -> User:
    """Set a new password for a user who proves the current one (BadCredentials when it is
    wrong); every token and browser session of the account ends, as after any password change."""
    hasher.check_capacity()  # shed a burst before the two hashes
    # End the read before hashing, as a login does: nothing is held while the threads work.
    await session.commit()
    if not await hasher.verify(user.password_hash, current):
        raise BadCredentials()
    return await update(session, hasher, user, user, {"password": new}, origin=origin)


async def revoke_credentials(
    session: AsyncSession, user: User, *, actor: User | None, origin: Origin
) -> None:
    """End every token, refresh-token family and browser session `user` has: after a password
    change (or reset), for "sign out everywhere" and an admin's revoke-all; recorded in the
    audit log. Tokens issued afterwards carry the new version."""
    await user_dao.raise_credentials_version(session, user)
    await browser_session_dao.delete_for_user(session, user.id)
    await refresh_tokens.revoke_all(session, user.id)
    await audit.record(
        session,
        EventType.CREDENTIALS_REVOKED,
        origin,
        actor=actor.id if actor is not None else None,
        target=user.id,
    )


async def revoke_sessions(
    session: AsyncSession, actor: User, user_id: int, *, origin: Origin
) -> None:
    """An admin ends every token, refresh-token family and browser session of an account
    (theirs included): UserForbidden for anyone else, UserNotFound for an unknown id."""
    if not actor.is_admin:
        raise UserForbidden()
    target = await user_dao.get_by_id(session, user_id)
    if target is None:
        raise UserNotFound()
    await revoke_credentials(session, target, actor=actor, origin=origin)


async def update_by_id(
    session: AsyncSession,
    hasher: PasswordHasher,
    actor: User,
    user_id: int,
    changes: dict[str, Any],
    *,
    origin: Origin,
) -> User:
    target = await get_visible(session, actor, user_id)
    return await update(session, hasher, actor, target, changes, origin=origin)


async def list_users(
    session: AsyncSession, actor: User, *, q: str | None, limit: int, offset: int
) -> tuple[Sequence[User], int]:
    """Admins only: a page of users, optionally those whose username or email starts with `q`."""
    if not actor.is_admin:
        raise UserForbidden()
    query = q.strip() if q else None
    return await user_dao.list_page(
        session,
        username_key_prefix=username_key(query) if query else None,
        email_prefix=normalize_email(query) if query else None,
        limit=limit,
        offset=offset,
    )


def _check_self_or_admin(actor: User, user_id: int) -> None:
    if actor.id != user_id and not actor.is_admin:
        raise UserForbidden()
