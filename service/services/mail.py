"""Email: messages rendered from templates (plain text and HTML), sent at most once per key.

Each message has a key saying what it is (`welcome:42`). A send job that runs again (a retry
after a crash, a duplicate) finds the key in `sent_emails` and sends nothing. The one window
left is a crash after the server accepted the message and before the key was committed: then
it goes out twice, with the same Message-ID, which mail clients use to fold duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from service.clients.mailer import Mailer
from service.daos.mail import sent_email_dao
from service.daos.users import user_dao
from service.models.base import utcnow
from service.services import jobs

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "mail"
WELCOME_JOB = "mail.welcome"
SUBJECTS = {
    "welcome": "Welcome to Conduit, {username}",
    "password_reset": "Reset your Conduit password",
}


@dataclass(frozen=True)
class Sender:
    """Who messages come from (MAIL_FROM) and how they leave (SMTP or a folder)."""

    mailer: Mailer
    from_address: str


@cache
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,  # a missing value fails the job instead of mailing a blank
        keep_trailing_newline=True,
    )


def render(template: str, to: str, from_address: str, key: str, **values: Any) -> EmailMessage:
    """A multipart/alternative message: `<template>.txt` and `<template>.html`."""
    env = _templates()
    message = EmailMessage()
    message["Subject"] = SUBJECTS[template].format(**values)
    message["From"] = from_address
    message["To"] = to
    message["Date"] = format_datetime(utcnow())
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "conduit.localhost"
    message["Message-ID"] = f"<{key.replace(':', '.')}@{domain}>"  # the same on every retry
    message.set_content(env.get_template(f"{template}.txt").render(**values))
    message.add_alternative(env.get_template(f"{template}.html").render(**values), subtype="html")
    return message


async def send_once(
    session: AsyncSession, sender: Sender, key: str, template: str, to: str, **values: Any
) -> bool:
    """Send unless a message with this key was sent; True if it was sent now. MailError (from
    the client) when the server did not take it: the caller's job is retried."""
    if await sent_email_dao.exists(session, key):
        return False
    message = render(template, to, sender.from_address, key, **values)
    await sender.mailer.send(message)
    await sent_email_dao.add(session, key, to, str(message["Subject"]))
    return True


async def enqueue_welcome(session: AsyncSession, user_id: int) -> None:
    """In the registration's transaction: no account, no email; an account, one email."""
    await jobs.enqueue(session, WELCOME_JOB, user_id=user_id)


async def send_welcome(session: AsyncSession, sender: Sender, user_id: int) -> bool:
    user = await user_dao.get_by_id(session, user_id)
    if user is None:  # deleted before the job ran
        return False
    to = formataddr((user.username, user.email))
    return await send_once(
        session,
        sender,
        f"welcome:{user.id}",
        "welcome",
        to,
        username=user.username,
        email=user.email,
    )
