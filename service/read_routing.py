"""Which database a request reads from when DATABASE_READ_URL names a streaming replica.

GET and HEAD read from the replica while its monitor (replica.py) finds it answering and
within REPLICA_MAX_LAG_SECONDS; writes, and every read a write request makes, use the primary
(db.session() as ever). Without DATABASE_READ_URL none of this is installed.

Read your writes, by a time window: once a write commits, its caller's reads go to the primary
for READ_YOUR_WRITES_SECONDS. That window is at least the lag bound, and the replica is read
only while it shows every commit older than the bound, so any replica read the caller makes
after the window already shows the write. (The alternative, waiting until the replica has
replayed past the write's WAL position, would need that position carried to every worker and
compared per read; the window needs a key with a TTL.) The caller is known before any query,
from what the request carries: the user id in a token's claims (verified and cached by the
codec) or in the signed session cookie. Keyed by user, a mark covers every credential of the
account: a password change or "sign out everywhere" sends the revoked tokens and sessions to
the primary too, which refuses them at once. Marks live in Redis when REDIS_URL is set, shared
by every worker and instance (SET with PX: Redis expires them), else in the worker's memory;
while Redis fails, authenticated reads use the primary, anonymous ones the replica.

A read that finds the replica unreachable runs again on the primary in the same request
(deadline.py retries it) and marks the replica down until a check finds it back: a replica
alone never causes a 503.
"""

from __future__ import annotations

import logging

from quart import Quart, g, request, session

from service import db
from service.admission import UNQUEUED_BLUEPRINTS
from service.errors import AppError
from service.ratelimit import Counters
from service.security.sessions import SESSION_COOKIE
from service.security.tokens import bearer_token, token_claims

log = logging.getLogger("service.read_routing")

MARK_PREFIX = "primary-reads:"
# A statement the replica cancelled because recovery needed its rows or locks: the primary
# answers it (PostgreSQL's "canceling statement due to conflict with recovery").
_RECOVERY_CONFLICTS = frozenset({"40001", "40P01"})
# The replica answers but this statement ran out of time: the primary gets the read, and the
# replica stays in use.
_SLOW = frozenset({"57014", "55P03"})


# A caller who cannot be told without a query (a browser session cookie from before sessions
# named their user): read from the primary.
UNKNOWN = ""


def _caller() -> str | None:
    """Who sends this request, from its credentials alone (no query): "user:<id>", UNKNOWN,
    or None when anonymous."""
    if "Authorization" in request.headers:
        try:
            return f"user:{token_claims(bearer_token() or '').user_id}"
        except AppError:  # refused by the route's guard anyway
            return None
    if SESSION_COOKIE in request.cookies:
        uid = session.get("uid")  # signed with the cookie: the client cannot choose it
        if isinstance(uid, int):
            return f"user:{uid}"
        return UNKNOWN if "sid" in session else None
    return None


def _writers() -> set[str]:
    """The accounts whose reads must see this write request's commit: the caller, whoever
    it issued, changed or revoked credentials for (registration, login, sign-in, refresh,
    password reset) and the account it acts on (/api/users/<id>)."""
    ids: set[int] = set(g.get("credentials_changed", ()))
    user = g.get("user")
    if user is not None:
        ids.add(user.id)
    target = (request.view_args or {}).get("user_id")
    if isinstance(target, int):
        ids.add(target)
    return {f"user:{user_id}" for user_id in ids}


class ReadRouter:
    def __init__(self, database: db.Database, counters: Counters, window: float) -> None:
        self.database = database
        self.counters = counters
        self.window = window

    async def choose(self) -> None:
        """Before a GET or HEAD: its session on the replica, unless the replica is down or
        lagging, or the caller wrote within the window."""
        if request.method not in db.READ_ONLY_METHODS or request.blueprint in UNQUEUED_BLUEPRINTS:
            return
        monitor = self.database.replica
        if monitor is None or not monitor.usable():
            return
        caller = _caller()
        if caller == UNKNOWN or (caller is not None and await self._wrote_lately(caller)):
            return
        g.db_session = self.database.replica_sessionmaker()
        g.db_replica = True

    async def _wrote_lately(self, caller: str) -> bool:
        if await self.counters.seen(MARK_PREFIX + caller):
            return True
        # Redis failed: another worker's mark is out of sight, so the primary answers.
        return not self.counters.available

    async def wrote(self) -> None:
        """After a write committed: its callers read from the primary for the window."""
        for key in _writers():
            await self.counters.remember(MARK_PREFIX + key, self.window)


def moved_to_primary(exc: Exception) -> bool:
    """Whether a read that failed on the replica should run again on the primary: the replica
    is unreachable (then it is marked down), timed out, or cancelled the statement for
    recovery. False for a read that was not on the replica, and for any other error."""
    if not g.pop("db_replica", False):
        return False
    monitor = db.database().replica
    code = db.sqlstate(exc)
    unavailable = db.unavailable(exc)
    if not (unavailable or code in _RECOVERY_CONFLICTS):
        return False
    fields = db.describe(exc)
    if unavailable and code not in _SLOW and monitor is not None:
        monitor.failed(fields)
    log.info("read moved from the replica to the primary", extra={"fields": fields})
    return True


def init_app(app: Quart, database: db.Database, counters: Counters, window: float) -> None:
    """Installed only with a replica: without one, requests pay nothing for it."""
    if not database.settings.database_read_url:
        return
    router = ReadRouter(database, counters, window)
    app.extensions["read_router"] = router
    app.before_request(router.choose)
    database.after_write = router.wrote
