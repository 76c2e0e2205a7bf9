"""Password reset: an emailed link that sets a new password once, telling nobody which email
addresses have accounts.

The request (on the HTTP request's path) looks the email up and enqueues one job, whether or
not an account uses it; for an unknown email the job names no user and sends nothing. Known
and unknown emails cost the request the same statements, the same write and the same commit,
and get the same answer: neither the answer nor its timing tells them apart.

The job makes the token: HMAC-SHA256(SECRET_KEY, nonce), for a random nonce the request chose.
It stores the token's SHA-256 (with the expiry the request fixed), replaces the account's
older unused tokens and mails the link. The raw token is only in the email: the job's
arguments carry the nonce, worth nothing without the key (which forges API tokens anyway). A
job that runs again derives the same token, so a retry mails the same link in the same
message (one Message-ID), never a second link that the first one's row does not match.

The confirm hashes the new password (argon2, in the hasher's threads, after the read has
ended), then consumes the token in one conditional UPDATE (of concurrent confirms with one
token exactly one wins), sets the password and ends every token and browser session of the
account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import formataddr
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from service.config import Settings
from service.crypto import PasswordHasher
from service.daos.mail import sent_email_dao
from service.daos.password_resets import password_reset_dao
from service.daos.users import user_dao
from service.errors import ResetTokenInvalid
from service.models import User
from service.models.base import utcnow
from service.services import jobs
from service.services import mail as mail_service
from service.services import users as user_service
from service.services.audit import Origin
from service.services.mail import Sender

SEND_JOB = "mail.password_reset"
TEMPLATE = "password_reset"
CONFIRM_PAGE = "/password-reset/confirm"  # the emailed link's path; the token is its `token=`
TOKEN_LABEL = b"conduit password reset\x00"


class ResetLinksUnavailable(RuntimeError):
    """PUBLIC_BASE_URL is not set: no link can be made (the send job fails, and says why)."""


def token_hash(token: str) -> str:
    # SHA-256 without salt or stretching is enough: the token is 256 random bits, not a password.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ResetLinks:
    """How tokens are derived (the key) and where the emailed link points (PUBLIC_BASE_URL)."""

    key: bytes
    base_url: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> ResetLinks:
        base = settings.public_base_url
        return cls(
            settings.secret_key.get_secret_value().encode(), base.rstrip("/") if base else None
        )

    def token(self, nonce: str) -> str:
        digest = hmac.new(self.key, TOKEN_LABEL + nonce.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def url(self, token: str) -> str:
        if self.base_url is None:
            raise ResetLinksUnavailable("PUBLIC_BASE_URL is not set: reset links cannot be made")
        return f"{self.base_url}{CONFIRM_PAGE}?{urlencode({'token': token})}"


async def request(
    session: AsyncSession, email: str, ttl_seconds: int, now: datetime | None = None
) -> None:
    """Ask for a reset link for whoever uses `email`: the same work and no error either way.

    Enqueued in the caller's transaction: no commit, no email."""
    user_id = await user_dao.get_id_by_email(session, user_service.normalize_email(email))
    expires_at = (now or utcnow()) + timedelta(seconds=ttl_seconds)
    await jobs.enqueue(
        session,
        SEND_JOB,
        user_id=user_id,  # None: no account uses this email, and the job sends nothing
        nonce=secrets.token_urlsafe(32),
        # To the microsecond: it also orders one account's requests (a newer link replaces
        # the older ones), and two requests may fall within one second.
        expires_at=expires_at.astimezone(UTC).isoformat(),
    )


async def issue(
    session: AsyncSession, links: ResetLinks, user: User, nonce: str, expires_at: datetime
) -> str:
    """Store the hash of the token for `nonce`, replacing the user's older unused tokens; the
    raw token, for the link."""
    token = links.token(nonce)
    await password_reset_dao.add(session, token_hash(token), user.id, expires_at)
    await password_reset_dao.delete_unused_expiring_before(session, user.id, expires_at)
    return token


async def send_link(
    session: AsyncSession,
    sender: Sender,
    links: ResetLinks,
    *,
    user_id: int | None,
    nonce: str,
    expires_at: str,
    now: datetime | None = None,
) -> bool:
    """The send job: True when the email went out now. Nothing is sent for no account, for a
    request that expired before the job ran, for an account deleted since, or twice.
    ResetLinksUnavailable without PUBLIC_BASE_URL; MailError when the server refused."""
    moment = now or utcnow()
    expiry = datetime.fromisoformat(expires_at)
    if user_id is None or expiry <= moment:
        return False
    token = links.token(nonce)
    link = links.url(token)
    key = f"password-reset:{token_hash(token)}"
    # Checked before the token is stored: a late rerun must not bring back a token that was
    # used (and cleaned up) since its email went out.
    if await sent_email_dao.exists(session, key):
        return False
    user = await user_dao.get_by_id(session, user_id)
    if user is None:
        return False
    await issue(session, links, user, nonce, expiry)
    return await mail_service.send_once(
        session,
        sender,
        key,
        TEMPLATE,
        formataddr((user.username, user.email)),
        username=user.username,
        link=link,
        minutes=max(1, round((expiry - moment).total_seconds() / 60)),
    )


async def is_live(session: AsyncSession, token: str, now: datetime | None = None) -> bool:
    """Whether `token` would reset a password now (unknown, used and expired alike: False)."""
    found = await password_reset_dao.get_live_user_id(session, token_hash(token), now or utcnow())
    return found is not None


async def confirm(
    session: AsyncSession, hasher: PasswordHasher, token: str, password: str, *, origin: Origin
) -> User:
    """Set a new password with a reset token; every token and browser session of the account
    ends. ResetTokenInvalid (422) for a token unknown, used or expired (or consumed by a
    concurrent confirm); HashingBusy (503) before anything is written."""
    hasher.check_capacity()  # shed a burst before its query
    digest = token_hash(token)
    if await password_reset_dao.get_live_user_id(session, digest, utcnow()) is None:
        raise ResetTokenInvalid()  # no hash is spent on a token that cannot work
    # End the read before the hash, as a login does: no connection (and on SQLite no write
    # lock) is held while the hashing threads are busy. Nothing was written.
    await session.commit()
    password_hash = await hasher.hash(password)
    user_id = await password_reset_dao.consume(session, digest, utcnow())
    user = await user_dao.get_by_id(session, user_id) if user_id is not None else None
    if user is None:  # another confirm won meanwhile, or it expired while hashing
        raise ResetTokenInvalid()
    await user_dao.update(session, user, {"password_hash": password_hash})
    await user_service.revoke_credentials(session, user, actor=None, origin=origin)
    await password_reset_dao.delete_unused_for_user(session, user.id)  # other links die too
    return user


async def delete_spent(session: AsyncSession) -> int:
    """Expired and used tokens (the clean-up job); the number removed."""
    return await password_reset_dao.delete_spent(session, utcnow())
