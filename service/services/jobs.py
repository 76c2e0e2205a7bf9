"""Asking for work outside the request: a job is a name and the ids it needs.

`enqueue` writes to the transactional outbox with the caller's session, so the job exists if
and only if the caller's transaction commits. Job names are `family.what` (`mail.welcome`);
the family is the queue. Jobs carry ids and plain values, never ORM objects: by the time a job
runs, the row may have changed, and the job reads it again.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from service.daos.outbox import outbox_dao

JobArg = int | str | bool | None


def queue_of(job: str) -> str:
    return job.split(".", 1)[0]


async def enqueue(session: AsyncSession, job: str, **args: JobArg) -> None:
    await outbox_dao.add(session, job, queue_of(job), args)
