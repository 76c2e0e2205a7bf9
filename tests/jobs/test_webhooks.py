"""Webhooks: registration (admins), signed deliveries to a receiver started by the test and
verified with the standardwebhooks library, retries on 500 and timeouts, disabling after a run
of failures, the delivery log, and the SSRF guard at registration and at delivery."""

from __future__ import annotations

import ipaddress

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook as Verifier

from service.clients.webhook_http import AddressRefused, WebhookClient, check_address
from service.models import WebhookMessage
from service.services import webhooks as webhook_service
from tests.factories import ArticleMaker, UserFactory
from tests.helpers import error_of
from tests.jobs.helpers import eventually, receiver, running_worker


async def _register(client, admin, url, events=("article.published",)):
    return await client.post(
        "/api/webhooks",
        json={"webhook": {"url": url, "events": list(events)}},
        headers=admin.headers,
    )


async def _deliveries(client, admin, webhook_id):
    response = await client.get(f"/api/webhooks/{webhook_id}/deliveries", headers=admin.headers)
    assert response.status_code == 200
    return (await response.get_json())["deliveries"]


async def test_register_list_delete_admins_only(jobs_app):
    app = await jobs_app()
    client, users = app.test_client(), UserFactory(app)
    admin, someone = await users.admin(), await users.make()
    created = await _register(client, admin, "https://93.184.216.34/in", ["comment.created"])
    assert created.status_code == 201
    body = (await created.get_json())["webhook"]
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["comment.created"]
    assert body["active"] is True
    listed = await (await client.get("/api/webhooks", headers=admin.headers)).get_json()
    assert [w["id"] for w in listed["webhooks"]] == [body["id"]]
    assert "secret" not in listed["webhooks"][0]  # shown once
    await error_of(await _register(client, someone, "https://93.184.216.34/in"), 403)
    await error_of(await client.get("/api/webhooks", headers=someone.headers), 403)
    await error_of(await client.delete(f"/api/webhooks/{body['id']}", headers=someone.headers), 403)
    gone = await client.delete(f"/api/webhooks/{body['id']}", headers=admin.headers)
    assert gone.status_code == 204
    await error_of(await client.delete(f"/api/webhooks/{body['id']}", headers=admin.headers), 404)
    await error_of(await client.get("/api/webhooks/1/deliveries", headers=admin.headers), 404)
    await error_of(await client.get("/api/webhooks"), 401)


@pytest.mark.parametrize(
    ("url", "events", "key"),
    [
        ("ftp://hooks.example/in", ["article.published"], "url"),
        ("https://user:pw@93.184.216.34/in", ["article.published"], "url"),
        ("https://169.254.169.254/latest/meta-data", ["article.published"], "url"),
        ("http://[fe80::1]/x", ["article.published"], "url"),
        ("https://93.184.216.34/in", ["article.deleted"], "events"),
    ],
)
async def test_registration_refusals(jobs_app, url, events, key):
    """Link-local (cloud metadata) stays refused even where private addresses are allowed."""
    app = await jobs_app()
    admin = await UserFactory(app).admin()
    errors = await error_of(await _register(app.test_client(), admin, url, events), 422)
    assert key in errors


async def test_private_addresses_refused_unless_allowed(jobs_app):
    app = await jobs_app(webhook_allow_private_addresses=False)
    admin = await UserFactory(app).admin()
    client = app.test_client()
    for url in ("http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://localhost/x"):
        errors = await error_of(await _register(client, admin, url), 422)
        assert "url" in errors, url


async def test_signed_delivery_verified_by_the_library_and_logged(jobs_app):
    async with receiver() as hooks:
        app = await jobs_app()
        client, users = app.test_client(), UserFactory(app)
        admin, author = await users.admin(), await users.make(username="writer")
        created = await (await _register(client, admin, hooks.url)).get_json()
        secret, webhook_id = created["webhook"]["secret"], created["webhook"]["id"]
        async with running_worker(app):
            article = await ArticleMaker(client).make(author, title="Hello hooks", tags=["x"])

            async def delivered() -> bool:
                return bool(await _deliveries(client, admin, webhook_id))

            await eventually(delivered)
        assert len(hooks.requests) == 1
        request = hooks.requests[0]
        payload = Verifier(secret).verify(request.body, request.headers)  # raises if forged
        assert payload["type"] == "article.published"
        assert payload["data"]["slug"] == article["slug"]
        assert payload["data"]["author"] == "writer"
        assert request.headers["webhook-id"].startswith("msg_")
        with pytest.raises(Exception, match="signature"):
            Verifier(webhook_service.new_secret()).verify(request.body, request.headers)
        [logged] = await _deliveries(client, admin, webhook_id)
        assert logged["statusCode"] == 200
        assert logged["messageId"] == request.headers["webhook-id"]
        assert logged["attempt"] == 1
        assert logged["error"] is None
        assert logged["latencyMs"] >= 0


async def test_retries_on_500_and_timeout_with_the_same_message_id(jobs_app):
    async with receiver(plan=[500, "hang"], hang_seconds=5) as hooks:
        app = await jobs_app(jobs_max_attempts=4)
        client, users = app.test_client(), UserFactory(app)
        admin, author = await users.admin(), await users.make()
        created = await (
            await _register(client, admin, hooks.url, ["comment.created", "article.published"])
        ).get_json()
        webhook_id = created["webhook"]["id"]
        async with running_worker(app):
            article = await ArticleMaker(client).make(author)

            async def three_attempts() -> bool:
                return len(await _deliveries(client, admin, webhook_id)) >= 3

            await eventually(three_attempts, 30)
        log = list(reversed(await _deliveries(client, admin, webhook_id)))
        assert [(d["attempt"], d["statusCode"], d["error"]) for d in log] == [
            (1, 500, "HTTP 500"),
            (2, None, "timeout"),
            (3, 200, None),
        ]
        assert len({r.headers["webhook-id"] for r in hooks.requests}) == 1  # one message
        # Backoff: base 0.2 s doubled, so the gaps grow (the timeout attempt took ~1 s itself).
        gaps = [b.at - a.at for a, b in zip(hooks.requests, hooks.requests[1:], strict=False)]
        assert gaps[0] >= 0.2
        assert gaps[1] >= 0.4 + 1.0 - 0.05
        assert article["slug"]


async def test_disabled_after_a_run_of_failures(jobs_app):
    async with receiver(default=503) as hooks:
        app = await jobs_app(webhook_disable_after_failures=2, jobs_max_attempts=5)
        client, users = app.test_client(), UserFactory(app)
        admin, author = await users.admin(), await users.make()
        created = await (await _register(client, admin, hooks.url)).get_json()
        webhook_id = created["webhook"]["id"]
        async with running_worker(app):
            await ArticleMaker(client).make(author)

            async def disabled() -> bool:
                listed = await (await client.get("/api/webhooks", headers=admin.headers)).get_json()
                return listed["webhooks"][0]["active"] is False

            await eventually(disabled)
            await ArticleMaker(client).make(author)  # an event for a disabled endpoint: no call
            await eventually(disabled)
            settled = len(hooks.requests)
        listed = await (await client.get("/api/webhooks", headers=admin.headers)).get_json()
        assert listed["webhooks"][0]["consecutiveFailures"] == 2
        assert listed["webhooks"][0]["disabledAt"] is not None
        assert settled == 2
        assert len(await _deliveries(client, admin, webhook_id)) == 2


async def test_delivery_time_guard_refuses_what_registration_allowed(jobs_app):
    """A name may point elsewhere by the time of delivery: the guard runs on each attempt."""
    async with receiver() as hooks:
        app = await jobs_app(jobs_in_process=False)
        client, users = app.test_client(), UserFactory(app)
        admin, author = await users.admin(), await users.make()
        url = hooks.url.replace("127.0.0.1", "localhost")
        created = await (await _register(client, admin, url)).get_json()
        await ArticleMaker(client).make(author)
        strict = WebhookClient(
            connect_timeout=1, timeout=1, max_response_bytes=1024, allow_private=False
        )
        async with app.extensions["db"].sessionmaker() as session:
            [message_id] = (await session.scalars(select(WebhookMessage.id))).all()
            outcome = await webhook_service.deliver(session, strict, message_id, 10)
            await session.commit()
        await strict.aclose()
        assert outcome.retry is False
        assert not hooks.requests
        [logged] = await _deliveries(client, admin, created["webhook"]["id"])
        assert logged["statusCode"] is None
        assert "refused" in logged["error"]
        assert "loopback" in logged["error"]


@pytest.mark.parametrize(
    ("address", "allowed_strict", "allowed_lenient"),
    [
        ("93.184.216.34", True, True),
        ("2606:2800:220:1:248:1893:25c8:1946", True, True),
        ("127.0.0.1", False, True),
        ("10.0.0.8", False, True),
        ("192.168.1.1", False, True),
        ("100.64.0.1", False, True),  # carrier-grade NAT: not global
        ("::1", False, True),
        ("::ffff:127.0.0.1", False, True),
        ("169.254.169.254", False, False),  # cloud metadata
        ("fe80::1", False, False),
        ("::ffff:169.254.169.254", False, False),
    ],
)
def test_address_guard(address, allowed_strict, allowed_lenient):
    ip = ipaddress.ip_address(address)
    for allow_private, expected in ((False, allowed_strict), (True, allowed_lenient)):
        if expected:
            check_address(ip, allow_private)
        else:
            with pytest.raises(AddressRefused):
                check_address(ip, allow_private)
