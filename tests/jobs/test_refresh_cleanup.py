"""The periodic clean-up of refresh tokens: expired tokens go (in batches), and so do families
that are expired or revoked, with their tokens; live ones, spent or not, stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from service.jobs import cleanup
from service.models import RefreshFamily, RefreshToken
from service.models.base import utcnow
from tests.factories import UserFactory
from tests.jobs.helpers import eventually, running_worker


async def test_cleanup_removes_expired_refresh_tokens_and_dead_families(jobs_app):
    app = await jobs_app(cleanup_cron="* * * * * *")
    user = await UserFactory(app).make()
    now = utcnow()
    live_until = now + timedelta(days=1)
    async with app.extensions["db"].sessionmaker() as session:
        live = RefreshFamily(user_id=user.id, auth_time=now, expires_at=live_until)
        revoked = RefreshFamily(
            user_id=user.id, auth_time=now, expires_at=live_until, revoked_at=now
        )
        expired = RefreshFamily(
            user_id=user.id,
            auth_time=now - timedelta(days=31),
            expires_at=now - timedelta(days=1),
        )
        session.add_all([live, revoked, expired])
        await session.flush()
        expired_tokens = cleanup.BATCH + 5  # more than one batch
        for index in range(expired_tokens):
            session.add(
                RefreshToken(
                    token_hash=f"{index:064d}",
                    family_id=live.id,
                    issued_at=now - timedelta(days=15),
                    expires_at=now - timedelta(days=1),
                    used_at=now - timedelta(days=14),
                )
            )
        kept = {
            # A spent token stays until it expires: presented again, it is a reuse.
            "spent": RefreshToken(
                token_hash="s" * 64, family_id=live.id, expires_at=live_until, used_at=now
            ),
            "unspent": RefreshToken(token_hash="u" * 64, family_id=live.id, expires_at=live_until),
        }
        gone = [
            RefreshToken(token_hash="r" * 64, family_id=revoked.id, expires_at=live_until),
            RefreshToken(token_hash="e" * 64, family_id=expired.id, expires_at=live_until),
        ]
        session.add_all([*kept.values(), *gone])
        await session.commit()
        live_id = live.id

    async def only_live_left() -> bool:
        async with app.extensions["db"].sessionmaker() as session:
            tokens = set((await session.scalars(select(RefreshToken.token_hash))).all())
            families = list((await session.scalars(select(RefreshFamily.id))).all())
        return tokens == {"s" * 64, "u" * 64} and families == [live_id]

    assert not await only_live_left()
    async with running_worker(app):
        await eventually(only_live_left, 30)
