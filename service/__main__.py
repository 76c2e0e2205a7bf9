"""Command line: `python -m service create-admin --username NAME --email ADDRESS`, and
`python -m service prune-sessions` (run it periodically, e.g. daily from cron or a Kubernetes
CronJob: expired browser sessions sign nobody in, but their rows stay until pruned).

The password comes from --password-stdin or an interactive prompt, never from argv, so it
stays out of shell history and process listings. This is the only way to make the first admin.
With --promote, an existing account (named by --email or --username) becomes an admin instead;
no password is asked or changed.
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
from service.errors import AppError, Conflict
from service.models import Role
from service.schemas.users import NewUser
from service.services import browser_sessions
from service.services import users as user_service
from service.services.audit import COMMAND_LINE


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
                origin=COMMAND_LINE,
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


async def promote_admin(email: str | None, username: str | None) -> int:
    database = Database(load_config())
    await database.connect()
    try:
        async with database.sessionmaker() as session, session.begin():
            user, changed = await user_service.promote_to_admin(
                session, email=email, username=username
            )
        who = f"{user.username} <{user.email}> (id {user.id})"
        print(f"promoted {who} to admin" if changed else f"{who} is already an admin")
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
    admin = commands.add_parser(
        "create-admin",
        help="create an account with the admin role, or promote an existing one (--promote)",
    )
    admin.add_argument("--username")
    admin.add_argument("--email")
    admin.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    admin.add_argument(
        "--promote",
        action="store_true",
        help="make the existing account with this --email or --username an admin (no password)",
    )
    commands.add_parser("prune-sessions", help="delete expired browser sessions")
    args = parser.parse_args(argv)
    if args.command == "create-admin":
        if args.promote and not (args.email or args.username):
            admin.error("--promote needs --email or --username")
        if not args.promote and not (args.email and args.username):
            admin.error("the following arguments are required: --username, --email")

    try:
        if args.command == "prune-sessions":
            return asyncio.run(prune_sessions())
        if args.promote:
            return asyncio.run(promote_admin(args.email, args.username))
        password = _read_password(args.password_stdin)
        return asyncio.run(create_admin(args.username, args.email, password))
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            print(f"error: {'.'.join(map(str, error['loc']))}: {error['msg']}", file=sys.stderr)
    except Conflict as exc:
        print(f"error: {exc} (add --promote to make that account an admin)", file=sys.stderr)
    except (ConfigError, AppError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
