"""`python -m service create-admin`: the only way to make the first admin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from service.config import Settings
from tests.helpers import error_of

ROOT = Path(__file__).resolve().parents[2]


def _create_admin(
    settings: Settings, *args: str, password: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "service", "create-admin", *args, "--password-stdin"],
        cwd=ROOT,
        env=env,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_create_admin_then_login_and_list(client, settings):
    result = _create_admin(
        settings, "--username", "Root", "--email", "Root@Example.com", password="admin password 1"
    )
    assert result.returncode == 0, result.stderr
    assert "created admin Root <root@example.com>" in result.stdout
    login = await client.post(
        "/api/users/login",
        json={"user": {"email": "root@example.com", "password": "admin password 1"}},
    )
    assert login.status_code == 200
    token = (await login.get_json())["user"]["token"]
    listing = await client.get("/api/users", headers={"Authorization": f"Token {token}"})
    assert listing.status_code == 200
    assert (await listing.get_json())["users"][0]["role"] == "admin"


async def test_create_admin_refuses_bad_input_and_duplicates(client, settings, users):
    await users.make(email="taken@example.com")
    short = _create_admin(settings, "--username", "a", "--email", "a@example.com", password="short")
    assert short.returncode == 1
    assert "password" in short.stderr
    dup = _create_admin(
        settings, "--username", "b", "--email", "TAKEN@example.com", password="long enough 1"
    )
    assert dup.returncode == 1
    assert "email has already been taken" in dup.stderr
    # Nothing was created: b cannot log in.
    login = await client.post(
        "/api/users/login", json={"user": {"email": "a@example.com", "password": "short"}}
    )
    await error_of(login, 401)


def test_create_admin_without_a_terminal_or_password_stdin_says_so_in_one_line(settings):
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": settings.database_url}
    result = subprocess.run(
        [sys.executable, "-m", "service", "create-admin", "--username", "r", "--email", "r@x.io"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        start_new_session=True,  # no controlling terminal for getpass to open
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert "--password-stdin" in result.stderr
    assert "Traceback" not in result.stderr
