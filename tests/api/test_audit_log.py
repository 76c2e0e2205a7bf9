"""The audit log through HTTP: every kind of security event leaves a row (a failed login too,
although its request answers 401), admins list them newest first with filters and a cursor,
anyone else gets 403, and no row holds a password, token, hash or email."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from service.models import AuditEvent, RefreshToken, User
from tests.factories import MadeUser, UserFactory
from tests.helpers import error_of
from tests.signin.helpers import sign_in, submit_login

AUDIT = "/api/admin/audit"


CLIENT = "203.0.113.7"  # the address the named requests come from, through one proxy


def rid(name: str) -> dict[str, str]:
    return {"X-Request-ID": name, "X-Forwarded-For": CLIENT}


@dataclass
class Driven:
    """What `drive_every_event` did: who, and every secret it saw go by."""

    admin: MadeUser
    other_admin: MadeUser
    alice: MadeUser
    rita_id: int
    secrets: set[str] = field(default_factory=set)


async def _ok(response: Any, status: int = 200) -> Any:
    body = await response.get_json()
    assert response.status_code == status, body
    return body


async def drive_every_event(app: Any) -> Driven:
    """One of each event, through HTTP, each request with its own X-Request-ID."""
    client = app.test_client()
    users = UserFactory(app)
    admin, other_admin = await users.admin(), await users.admin()
    alice = await users.make(password="alice's first password")
    done = Driven(admin, other_admin, alice, 0)
    done.secrets |= {admin.password, alice.password, admin.token, other_admin.token, alice.token}

    # user.registered
    body = await _ok(
        await client.post(
            "/api/users",
            json={
                "user": {"username": "rita", "email": "rita@example.com", "password": "ritas pw!"}
            },
            headers=rid("req-register"),
        ),
        201,
    )
    done.secrets |= {"ritas pw!", body["user"]["token"], body["user"]["refreshToken"]}
    # login.succeeded, and a pair to work with
    login = {"user": {"email": alice.email, "password": alice.password}}
    pair = (await _ok(await client.post("/api/users/login", json=login, headers=rid("req-login"))))[
        "user"
    ]
    done.secrets |= {pair["token"], pair["refreshToken"]}
    # login.failed: a known account with a wrong password, an unknown email, the login page
    wrong = {"user": {"email": alice.email, "password": "not alice's password"}}
    response = await client.post("/api/users/login", json=wrong, headers=rid("req-fail-known"))
    await error_of(response, 401)
    nobody = {"user": {"email": "nobody@example.com", "password": "whatever it is"}}
    response = await client.post("/api/users/login", json=nobody, headers=rid("req-fail-unknown"))
    await error_of(response, 401)
    done.secrets |= {"not alice's password", "whatever it is"}
    page = app.test_client()
    assert (await submit_login(page, alice.email, "page wrong password")).status_code == 401
    done.secrets.add("page wrong password")
    # refresh.reused: rotate once, then present the spent token again
    nxt = (
        await _ok(
            await client.post("/api/users/refresh", json={"refreshToken": pair["refreshToken"]})
        )
    )["user"]
    done.secrets |= {nxt["token"], nxt["refreshToken"]}
    response = await client.post(
        "/api/users/refresh", json={"refreshToken": pair["refreshToken"]}, headers=rid("req-reuse")
    )
    await error_of(response, 401)
    # refresh.revoked: log a fresh sign-in out
    second = (await _ok(await client.post("/api/users/login", json=login)))["user"]
    done.secrets |= {second["token"], second["refreshToken"]}
    response = await client.post(
        "/api/users/logout",
        json={"refreshToken": second["refreshToken"]},
        headers=rid("req-logout"),
    )
    assert response.status_code == 204
    # session.revoked: sign in on the page, then sign out
    browser = app.test_client()
    csrf = await sign_in(browser, alice.email, alice.password)
    done.secrets |= {csrf, *(cookie.value for cookie in browser.cookie_jar)}
    response = await browser.post("/logout", form={"csrf_token": csrf}, headers=rid("req-signout"))
    assert response.status_code == 303
    # password.changed and credentials.revoked, by the user
    third = (await _ok(await client.post("/api/users/login", json=login)))["user"]
    changed = await _ok(
        await client.put(
            "/api/user",
            json={"user": {"password": "alice's second password"}},
            headers={"Authorization": f"Token {third['token']}", **rid("req-password")},
        )
    )
    alice.password = "alice's second password"
    done.secrets |= {third["token"], third["refreshToken"], alice.password}
    done.secrets.add(changed["user"]["token"])
    # credentials.revoked: sign out everywhere
    response = await client.post(
        "/api/user/logout-all",
        headers={"Authorization": f"Token {changed['user']['token']}", **rid("req-logout-all")},
    )
    assert response.status_code == 204
    # role.changed by an admin
    response = await client.patch(
        f"/api/users/{alice.id}",
        json={"user": {"role": "admin"}},
        headers={**admin.headers, **rid("req-role")},
    )
    await _ok(response)
    # credentials.revoked by an admin
    response = await client.post(
        f"/api/users/{alice.id}/revoke-sessions", headers={**admin.headers, **rid("req-revoke")}
    )
    assert response.status_code == 204
    # webhook.deleted: an admin deletes the webhook another admin registered
    created = await _ok(
        await client.post(
            "/api/webhooks",
            json={"webhook": {"url": "http://127.0.0.1:9/hooks", "events": ["article.published"]}},
            headers=other_admin.headers,
        ),
        201,
    )
    done.secrets.add(created["webhook"]["secret"])
    response = await client.delete(
        f"/api/webhooks/{created['webhook']['id']}",
        headers={**admin.headers, **rid("req-webhook")},
    )
    assert response.status_code == 204

    async with app.extensions["db"].sessionmaker() as session:
        rows = (await session.execute(select(User.id, User.email, User.password_hash))).all()
        done.rita_id = next(row.id for row in rows if row.email == "rita@example.com")
        done.secrets |= {row.password_hash for row in rows} | {row.email for row in rows}
        done.secrets |= set((await session.scalars(select(RefreshToken.token_hash))).all())
    return done


async def audit_events(client: Any, admin: MadeUser, **params: object) -> list[dict[str, Any]]:
    """Every event the listing gives for these filters, page after page."""
    events: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        body = await _ok(await client.get(AUDIT, query_string=query, headers=admin.headers))
        assert set(body) == {"events", "nextCursor"}
        events += body["events"]
        cursor = body["nextCursor"]
        if cursor is None:
            return events


async def test_every_security_event_is_recorded(app_with):
    app = await app_with(webhook_allow_private_addresses=True, trusted_proxy_hops=1)
    done = await drive_every_event(app)
    admin, alice = done.admin, done.alice
    events = await audit_events(app.test_client(), admin, limit=100)
    for event in events:
        assert set(event) == {"type", "actor", "target", "address", "requestId", "at"}
    by_request = {
        event["requestId"]: (event["type"], event["actor"], event["target"])
        for event in events
        if event["requestId"] and event["requestId"].startswith("req-")
    }
    rita = done.rita_id
    expected_by_request = {
        "req-register": ("user.registered", rita, rita),
        "req-login": ("login.succeeded", alice.id, alice.id),
        "req-fail-known": ("login.failed", None, alice.id),
        "req-fail-unknown": ("login.failed", None, None),
        "req-reuse": ("refresh.reused", None, alice.id),
        "req-logout": ("refresh.revoked", alice.id, alice.id),
        "req-signout": ("session.revoked", alice.id, alice.id),
        "req-logout-all": ("credentials.revoked", alice.id, alice.id),
        "req-role": ("role.changed", admin.id, alice.id),
        "req-revoke": ("credentials.revoked", admin.id, alice.id),
        "req-webhook": ("webhook.deleted", admin.id, done.other_admin.id),
    }
    for request_id, expected in expected_by_request.items():
        assert by_request.get(request_id) == expected, (request_id, by_request.get(request_id))
    # A password change is two events of one request: the change, and what it revoked.
    password_request = sorted(
        (event["type"], event["actor"], event["target"])
        for event in events
        if event["requestId"] == "req-password"
    )
    assert password_request == [
        ("credentials.revoked", alice.id, alice.id),
        ("password.changed", alice.id, alice.id),
    ]
    # The login page's failure is recorded like the API's.
    failed = [event for event in events if event["type"] == "login.failed"]
    assert len(failed) == 3
    # Each names the client's address; events of the command line have none.
    for event in events:
        if event["requestId"] and event["requestId"].startswith("req-"):
            assert event["address"] == CLIENT, event
        if event["requestId"] is None:
            assert event["address"] is None, event
    times = [event["at"] for event in events]
    assert times == sorted(times, reverse=True)
    # Made by the test factories (the command line's way in): no address, no request id.
    assert any(e["requestId"] is None and e["type"] == "user.registered" for e in events)


async def test_a_failed_login_is_recorded_though_its_request_rolls_back(client, users):
    admin, alice = await users.admin(), await users.make()
    response = await client.post(
        "/api/users/login",
        json={"user": {"email": alice.email.upper(), "password": "wrong password"}},
        headers=rid("req-failed"),
    )
    assert await error_of(response, 401) == {"credentials": ["invalid email or password"]}
    events = await audit_events(client, admin, type="login.failed")
    assert [(e["actor"], e["target"], e["requestId"]) for e in events] == [
        (None, alice.id, "req-failed")
    ]


async def test_no_event_without_its_change(client, users):
    """An update refused part-way (a taken username beside a new role) records nothing."""
    admin, alice, bob = await users.admin(), await users.make(), await users.make()
    response = await client.patch(
        f"/api/users/{alice.id}",
        json={"user": {"role": "admin", "username": bob.username}},
        headers=admin.headers,
    )
    await error_of(response, 409)
    assert await audit_events(client, admin, type="role.changed") == []


async def test_only_admins_read_the_audit_log(client, users):
    alice = await users.make()
    assert await error_of(await client.get(AUDIT, headers=alice.headers), 403) == {
        "user": ["forbidden"]
    }
    assert await error_of(await client.get(AUDIT), 401) == {"token": ["is missing"]}


async def test_filters_and_cursor_pagination(app, client, users):
    admin, alice = await users.admin(), await users.make()
    base = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    rows = [
        # Two at the same instant: the cursor tells them apart by id.
        ("login.failed", None, alice.id, base),
        ("login.failed", None, alice.id, base),
        ("login.succeeded", alice.id, alice.id, base + timedelta(minutes=1)),
        ("role.changed", admin.id, alice.id, base + timedelta(minutes=2)),
        ("login.succeeded", admin.id, admin.id, base + timedelta(minutes=3, microseconds=7)),
        ("credentials.revoked", admin.id, alice.id, base + timedelta(minutes=4)),
        ("login.succeeded", alice.id, alice.id, base + timedelta(minutes=5)),
    ]
    async with app.extensions["db"].sessionmaker() as session:
        for event_type, actor, target, at in rows:
            session.add(
                AuditEvent(
                    type=event_type, actor_id=actor, target_id=target, address="192.0.2.1", at=at
                )
            )
        await session.commit()
        stored = (
            await session.scalars(
                select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            )
        ).all()
    everything = [(e.type, e.actor_id, _z(e.at)) for e in stored]

    def seen(events: list[dict[str, Any]]) -> list[tuple[str, int | None, str]]:
        return [(e["type"], e["actor"], e["at"]) for e in events]

    # Page by page (limit 2, so the two events of one instant may split across pages).
    for limit in (1, 2, 3, 100):
        assert seen(await audit_events(client, admin, limit=limit)) == everything
    assert seen(await audit_events(client, admin, actor=alice.id, limit=1)) == [
        item for item in everything if item[1] == alice.id
    ]
    assert seen(await audit_events(client, admin, type="login.succeeded", limit=2)) == [
        item for item in everything if item[0] == "login.succeeded"
    ]
    both = await audit_events(client, admin, type="login.succeeded", actor=admin.id)
    assert seen(both) == [("login.succeeded", admin.id, _z(rows[4][3]))]
    # since is inclusive, until exclusive.
    window = await audit_events(
        client,
        admin,
        since="2026-11-20T12:01:00Z",
        until="2026-11-20T12:04:00Z",
        limit=1,
    )
    assert [e["type"] for e in window] == ["login.succeeded", "role.changed", "login.succeeded"]
    # A time without a zone is UTC.
    naive = await audit_events(client, admin, until="2026-11-20T12:00:00.000001")
    assert [e["type"] for e in naive] == ["login.failed", "login.failed"]
    # The first page's cursor leads to the rest, and the last page says there is no more.
    first = await _ok(await client.get(AUDIT, query_string={"limit": 6}, headers=admin.headers))
    assert first["nextCursor"]
    rest = await _ok(
        await client.get(
            AUDIT, query_string={"limit": 6, "cursor": first["nextCursor"]}, headers=admin.headers
        )
    )
    assert seen(first["events"] + rest["events"]) == everything
    assert rest["nextCursor"] is None


def _z(value: datetime) -> str:
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


async def test_bad_listing_queries_are_422(client, users):
    admin = await users.admin()
    cases = {
        "cursor=not-a-cursor": "cursor",
        "cursor=MTIzNA": "cursor",  # base64 of "1234": no id
        "cursor=OTk5OTk5OTk5OTk5OTk5OTk5OTk5Ljk5OTk5OTk5OTk5": "cursor",  # out of range
        "limit=0": "limit",
        "limit=101": "limit",
        "actor=x": "actor",
        "actor=0": "actor",
        "actor=99999999999": "actor",
        "since=yesterday": "since",
        "until=2026-13-01T00:00:00Z": "until",
        "type=": "type",
    }
    for query, key in cases.items():
        errors = await error_of(await client.get(f"{AUDIT}?{query}", headers=admin.headers), 422)
        assert set(errors) == {key}, (query, errors)


async def test_no_audit_row_holds_a_secret(app_with):
    app = await app_with(webhook_allow_private_addresses=True)
    done = await drive_every_event(app)
    secrets = {secret for secret in done.secrets if secret}
    assert len(secrets) > 30  # passwords, tokens, refresh tokens, hashes, cookies, emails
    async with app.extensions["db"].engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM audit_events"))).all()
    assert len(rows) >= 15
    values = [str(value) for row in rows for value in row if value is not None]
    listing = await (
        await app.test_client().get(AUDIT, query_string={"limit": 100}, headers=done.admin.headers)
    ).get_data(as_text=True)
    for secret in secrets:
        assert not any(secret in value for value in values), secret
        assert secret not in listing, secret
