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
    settings: Settings, *args: str, password: str | None
) -> subprocess.CompletedProcess[str]:
    """The command; password None sends no standard input (as with --promote, which asks none)."""
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": settings.database_url}
    stdin = ["--password-stdin"] if password is not None else []
    return subprocess.run(
        [sys.executable, "-m", "service", "create-admin", *args, *stdin],
        cwd=ROOT,
        env=env,
        input=password + "\n" if password is not None else "",
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


async def _role_of(client, made) -> str:
    me = await client.get(f"/api/users/{made.id}", headers=made.headers)
    assert me.status_code == 200
    return str((await me.get_json())["user"]["role"])


async def test_promote_an_existing_user_by_email_or_username(client, settings, users):
    alice = await users.make(username="Alice", email="alice@example.com")
    bob = await users.make(username="Bob")
    assert await _role_of(client, alice) == "user"
    by_email = _create_admin(settings, "--email", "ALICE@example.com", "--promote", password=None)
    assert by_email.returncode == 0, by_email.stderr
    assert by_email.stdout.strip() == f"promoted Alice <alice@example.com> (id {alice.id}) to admin"
    assert await _role_of(client, alice) == "admin"
    by_name = _create_admin(settings, "--username", "bob", "--promote", password=None)
    assert by_name.returncode == 0, by_name.stderr
    assert await _role_of(client, bob) == "admin"
    # Her password still works: promotion asks for none and changes none.
    login = await client.post(
        "/api/users/login", json={"user": {"email": alice.email, "password": alice.password}}
    )
    assert login.status_code == 200
    again = _create_admin(settings, "--email", "alice@example.com", "--promote", password=None)
    assert again.returncode == 0, again.stderr
    assert "already an admin" in again.stdout


async def test_promote_refuses_unknown_and_mismatched_accounts(client, settings, users):
    alice = await users.make(username="Alice", email="alice@example.com")
    await users.make(username="Bob", email="bob@example.com")
    unknown = _create_admin(settings, "--email", "nobody@example.com", "--promote", password=None)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error: user not found"
    mismatch = _create_admin(
        settings, "--email", "alice@example.com", "--username", "Bob", "--promote", password=None
    )
    assert mismatch.returncode == 1
    assert "name different accounts" in mismatch.stderr
    assert await _role_of(client, alice) == "user"


async def test_creating_a_taken_account_points_to_promote(client, settings, users):
    await users.make(username="Carol", email="carol@example.com")
    dup = _create_admin(
        settings, "--username", "x", "--email", "carol@example.com", password="long enough 1"
    )
    assert dup.returncode == 1
    assert "--promote" in dup.stderr
