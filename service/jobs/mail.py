"""Email jobs."""

from __future__ import annotations

from service.jobs import JobContext, job
from service.services import mail as mail_service


@job(mail_service.WELCOME_JOB)
async def welcome(ctx: JobContext, user_id: int) -> None:
    async with ctx.session() as session:
        await mail_service.send_welcome(session, ctx.sender, user_id)
        await session.commit()
