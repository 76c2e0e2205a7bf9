"""`python -m service prune-sessions`: expired browser sessions are deleted, live ones kept."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from service.models import BrowserSession
from service.models.base import utcnow
from tests.signin.helpers import sign_in

ROOT = Path(__file__).resolve().parents[2]


async def _count(app) -> int:
    async with app.extensions["db"].sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(BrowserSession)) or 0)


def _prune(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "service", "prune-sessions"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_prune_sessions_deletes_only_expired_ones(app, settings, users):
    alice = await users.make()
    old, current = app.test_client(), app.test_client()
    await sign_in(old, alice.email, alice.password)
    async with app.extensions["db"].sessionmaker() as session:
        await session.execute(
            update(BrowserSession).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    await sign_in(current, alice.email, alice.password)
    assert await _count(app) == 2
    assert (await old.get("/account")).status_code == 303  # expired: signs nobody in

    result = _prune(settings.database_url)
    assert result.returncode == 0, result.stderr
    assert "removed 1 expired browser sessions" in result.stdout
    assert await _count(app) == 1
    assert (await current.get("/account")).status_code == 200
