"""Command line: `python -m service create-admin --username NAME --email ADDRESS`, and
`python -m service prune-sessions` (run it periodically, e.g. daily from cron or a Kubernetes
CronJob: expired browser sessions sign nobody in, but their rows stay until pruned).

The password comes from --password-stdin or an interactive prompt, never from argv, so it
stays out of shell history and process listings. This is the only way to make the first admin.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from pydantic import ValidationError

from service.config import ConfigError, load_config
from service.crypto import PasswordHasher
from service.db import Database
from service.errors import AppError
from service.models import Role
from service.schemas.users import NewUser
from service.services import browser_sessions
from service.services import users as user_service


async def create_admin(username: str, email: str, password: str) -> int:
    settings = load_config()
    new = NewUser(username=username, email=email, password=password)
    database = Database(settings)
    await database.connect()
    hasher = PasswordHasher.from_settings(settings, threads=1)
    try:
        async with database.sessionmaker() as session:
            # register ends its read before hashing (a commit), so no begin() block here.
            user = await user_service.register(
                session,
                hasher,
                username=new.username,
                email=new.email,
                password=new.password,
                role=Role.ADMIN,
            )
            await session.commit()
        print(f"created admin {user.username} <{user.email}> with id {user.id}")
        return 0
    finally:
        hasher.close()
        await database.dispose()


async def prune_sessions() -> int:
    database = Database(load_config())
    await database.connect()
    try:
        async with database.sessionmaker() as session:
            removed = await browser_sessions.prune(session)
            await session.commit()
        print(f"removed {removed} expired browser sessions")
        return 0
    finally:
        await database.dispose()


NO_TERMINAL = "error: no terminal to ask for the password; send it with --password-stdin"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    # Without a terminal getpass would read standard input with echo on (after a warning),
    # and end in EOFError when there is none: refuse in one line instead.
    if not sys.stdin.isatty():
        raise SystemExit(NO_TERMINAL)
    try:
        first = getpass.getpass("Password: ")
        repeated = getpass.getpass("Repeat password: ")
    except EOFError:
        raise SystemExit(NO_TERMINAL) from None
    if first != repeated:
        raise SystemExit("error: passwords do not match")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service")
    commands = parser.add_subparsers(dest="command", required=True)
    admin = commands.add_parser("create-admin", help="create an account with the admin role")
    admin.add_argument("--username", required=True)
    admin.add_argument("--email", required=True)
    admin.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    commands.add_parser("prune-sessions", help="delete expired browser sessions")
    args = parser.parse_args(argv)

    try:
        if args.command == "prune-sessions":
            return asyncio.run(prune_sessions())
        password = _read_password(args.password_stdin)
        return asyncio.run(create_admin(args.username, args.email, password))
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            print(f"error: {'.'.join(map(str, error['loc']))}: {error['msg']}", file=sys.stderr)
    except (ConfigError, AppError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
