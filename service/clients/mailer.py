"""Sending email: SMTP through aiosmtplib, or .eml files in a folder when no server is set.

`SMTP_URL` says everything about the server: `smtp://user:pass@host:587` connects and upgrades
with STARTTLS (required when a password is given: credentials never cross in clear),
`smtps://user:pass@host:465` speaks TLS from the start, and `smtp://127.0.0.1:8025` talks to a
plain local server (STARTTLS still used if the server offers it).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit


class MailError(Exception):
    """The message was not handed over; the job that sends it is retried."""


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


def parse_smtp_url(url: str) -> dict[str, object]:
    """aiosmtplib's connection options from an smtp:// or smtps:// URL (ValueError if wrong)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("must name a host")
    implicit_tls = parts.scheme == "smtps"
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return {
        "hostname": parts.hostname,
        "port": parts.port or (465 if implicit_tls else 587),
        "username": username,
        "password": password,
        "use_tls": implicit_tls,
        # None: upgrade when the server offers it; True: refuse a server that does not.
        "start_tls": False if implicit_tls else (True if password else None),
    }


class SmtpMailer:
    def __init__(self, url: str, timeout: float) -> None:
        self.options = parse_smtp_url(url)
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        # Here, not at the top: only the job worker sends, and the web tier imports this module.
        import aiosmtplib

        try:
            # aiosmtplib's timeout is per step; the whole conversation gets one bound too.
            async with asyncio.timeout(self.timeout * 2):
                await aiosmtplib.send(message, timeout=self.timeout, **self.options)  # type: ignore[arg-type]
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise MailError(f"{type(exc).__name__}: {exc}") from exc


class FolderMailer:
    """Development without a mail server: each message becomes one .eml file, newest last."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    async def send(self, message: EmailMessage) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
        to = re.sub(r"[^A-Za-z0-9@._-]", "_", str(message.get("To", "unknown")))[:64]
        path = self.folder / f"{stamp}-{to}-{uuid.uuid4().hex[:8]}.eml"
        await asyncio.to_thread(self._write, path, message.as_bytes())

    def _write(self, path: Path, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        partial.rename(path)  # readers never see half a message


def from_settings(smtp_url: str | None, outbox_dir: str, timeout: float) -> Mailer:
    return SmtpMailer(smtp_url, timeout) if smtp_url else FolderMailer(outbox_dir)
