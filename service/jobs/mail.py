"""Email jobs."""

from __future__ import annotations

from service.jobs import JobContext, job
from service.services import mail as mail_service
from service.services import password_resets as password_reset_service


@job(mail_service.WELCOME_JOB)
async def welcome(ctx: JobContext, user_id: int) -> None:
    async with ctx.session() as session:
        await mail_service.send_welcome(session, ctx.sender, user_id)
        await session.commit()


@job(password_reset_service.SEND_JOB)
async def password_reset(ctx: JobContext, user_id: int | None, nonce: str, expires_at: str) -> None:
    async with ctx.session() as session:
        await password_reset_service.send_link(
            session,
            ctx.sender,
            password_reset_service.ResetLinks.from_settings(ctx.settings),
            user_id=user_id,
            nonce=nonce,
            expires_at=expires_at,
        )
        await session.commit()
