"""Examples for the OpenAPI document and /docs: every request and response body, and the
parameters (path, query and header). tests/unit/test_api_examples.py checks each one against its
model (responses by the same strict round trip as `routes.responses`), and the fuzz run sends
the request examples.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from service.schemas.audit import AuditListResponse
from service.schemas.base import Schema
from service.schemas.conduit import (
    ArticleChangesBody,
    ArticleListResponse,
    ArticleResponse,
    CommentListResponse,
    CommentResponse,
    NewArticleBody,
    NewCommentBody,
    ProfileResponse,
    TagListResponse,
)
from service.schemas.ops import Health, Readiness
from service.schemas.pages import (
    LoginForm,
    LogoutForm,
    PasswordChangeForm,
    ServiceIndex,
    SignupForm,
    service_index,
)
from service.schemas.password_resets import (
    PasswordResetConfirmBody,
    PasswordResetRequestBody,
    PasswordResetResponse,
    ResetConfirmForm,
    ResetRequestForm,
    password_reset_response,
)
from service.schemas.users import (
    AccountChangesBody,
    AccountListResponse,
    AccountResponse,
    LoginBody,
    NewUserBody,
    RefreshTokenBody,
    SignedInResponse,
    UserChangesBody,
    UserResponse,
)
from service.schemas.webhooks import (
    CreatedWebhookResponse,
    DeliveryListResponse,
    NewWebhookBody,
    WebhookListResponse,
)

Example = dict[str, Any]  # {"summary": ..., "value": ...}

EXAMPLE_JWT = (  # an illustration, signed by no key
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsImlhdCI6MTc5NjEzNjAwMCwiZXhwIjox"
    "Nzk2NzQwODAwfQ.8f1Gq2mV7x0Y2d3H7XkPq9cUe4T1mFhQW3rZ5sN6bJo"
)
# Illustrations, handed out by no server.
EXAMPLE_REFRESH_TOKEN = "mT1p0vQ0b2mJd3oGQ8yYt0v3w1rV7Rk2Xn9aP4sL6cE"  # noqa: S105
EXAMPLE_NEXT_REFRESH_TOKEN = "Zs8kR2wq3Jf0Lh6YtB1nC5vX9mA4pD7eG2uI0oK3rTy"  # noqa: S105
EXAMPLE_CSRF = "kq3V0c9bYt7f2Wc1mJ8xR4nL6pA5sD0eH2gU7iO9zQw"
EXAMPLE_RESET_TOKEN = "Xq7vN2c0Lr9TzW4bKp1sYd6eHf3uGj8aMi5oQw0ZtRk"  # noqa: S105 (an illustration)
CREATED = "2026-11-25T09:00:00.000Z"
UPDATED = "2026-11-25T09:30:12.345Z"

JAKE = {"username": "jake", "bio": "I work at statefarm", "image": None, "following": False}
JAKE_FOLLOWED = {**JAKE, "following": True}

ARTICLE_ITEM = {
    "slug": "how-to-train-your-dragon",
    "title": "How to train your dragon",
    "description": "Ever wonder how?",
    "tagList": ["dragons", "training"],
    "createdAt": CREATED,
    "updatedAt": UPDATED,
    "favorited": False,
    "favoritesCount": 0,
    "author": JAKE,
}
ARTICLE = {**ARTICLE_ITEM, "body": "It takes a Jacobian."}
COMMENT = {
    "id": 1,
    "createdAt": CREATED,
    "updatedAt": CREATED,
    "body": "It takes a Jacobian, and patience.",
    "author": {**JAKE, "username": "anne", "bio": None},
}
# A public address, not a name: the fuzz run sends this example, and a name needs DNS.
WEBHOOK_URL = "https://93.184.216.34/conduit"
WEBHOOK = {
    "id": 7,
    "url": WEBHOOK_URL,
    "events": ["article.published", "comment.created"],
    "active": True,
    "consecutiveFailures": 0,
    "disabledAt": None,
    "createdAt": CREATED,
}
DELIVERED = {
    "id": 31,
    "messageId": "msg_b3JkZXItMTIzNDU2Nzg5MA",
    "event": "article.published",
    "attempt": 2,
    "statusCode": 204,
    "error": None,
    "latencyMs": 87,
    "createdAt": UPDATED,
}
FAILED = {
    **DELIVERED,
    "id": 30,
    "attempt": 1,
    "statusCode": 503,
    "error": "HTTP 503",
    "latencyMs": 120,
    "createdAt": CREATED,
}
ACCOUNT = {
    "id": 42,
    "email": "jake@example.com",
    "username": "jake",
    "bio": "I work at statefarm",
    "image": "https://example.com/jake.jpg",
    "role": "user",
    "createdAt": CREATED,
    "updatedAt": UPDATED,
}


def _one(summary: str, value: Any) -> Example:
    return {"summary": summary, "value": value}


# Request bodies, by model.
REQUESTS: dict[type[BaseModel], dict[str, Example]] = {
    NewUserBody: {
        "register": _one(
            "A new account",
            {"user": {"username": "jake", "email": "jake@example.com", "password": "jakejakejake"}},
        )
    },
    LoginBody: {
        "login": _one(
            "Email and password",
            {"user": {"email": "jake@example.com", "password": "jakejakejake"}},
        )
    },
    UserChangesBody: {
        "profile": _one(
            "Bio and picture",
            {"user": {"bio": "I work at statefarm", "image": "https://example.com/jake.jpg"}},
        ),
        "password": _one("A new password", {"user": {"password": "a longer passphrase"}}),
        "clear-image": _one("No picture (null clears bio or image)", {"user": {"image": None}}),
    },
    AccountChangesBody: {
        "email": _one("A new email address", {"user": {"email": "jake@example.org"}}),
        "role": _one("Make an admin (admins only)", {"user": {"role": "admin"}}),
    },
    NewArticleBody: {
        "article": _one(
            "An article with two tags",
            {
                "article": {
                    "title": "How to train your dragon",
                    "description": "Ever wonder how?",
                    "body": "It takes a Jacobian.",
                    "tagList": ["dragons", "training"],
                }
            },
        )
    },
    ArticleChangesBody: {
        "title": _one(
            "A new title (and so a new slug)", {"article": {"title": "Did you train your dragon?"}}
        ),
        "tags": _one("Tags replaced", {"article": {"tagList": ["dragons"]}}),
    },
    NewCommentBody: {"comment": _one("A comment", {"comment": {"body": "Thank you so much!"}})},
    RefreshTokenBody: {
        "refresh": _one(
            "The refresh token from the login (or the last refresh)",
            {"refreshToken": EXAMPLE_REFRESH_TOKEN},
        )
    },
    LoginForm: {
        "form": _one(
            "The login form as a browser posts it",
            {
                "email": "jake@example.com",
                "password": "jakejakejake",
                "csrf_token": "kq3V0c9bYt7f2Wc1mJ8xR4nL6pA5sD0eH2gU7iO9zQw",
                "next": "/account",
            },
        )
    },
    NewWebhookBody: {
        "webhook": _one(
            "Two events to one endpoint",
            {
                "webhook": {
                    "url": WEBHOOK_URL,
                    "events": ["article.published", "comment.created"],
                }
            },
        )
    },
    LogoutForm: {
        "form": _one(
            "The sign-out form", {"csrf_token": "kq3V0c9bYt7f2Wc1mJ8xR4nL6pA5sD0eH2gU7iO9zQw"}
        )
    },
    PasswordResetRequestBody: {
        "email": _one("The account's email", {"user": {"email": "jake@example.com"}})
    },
    PasswordResetConfirmBody: {
        "confirm": _one(
            "The emailed token and a new password",
            {"user": {"token": EXAMPLE_RESET_TOKEN, "password": "a longer passphrase"}},
        )
    },
    ResetRequestForm: {
        "form": _one(
            "The reset request form as a browser posts it",
            {"email": "jake@example.com", "csrf_token": EXAMPLE_CSRF},
        )
    },
    ResetConfirmForm: {
        "form": _one(
            "The new password form as a browser posts it",
            {
                "token": EXAMPLE_RESET_TOKEN,
                "password": "a longer passphrase",
                "csrf_token": EXAMPLE_CSRF,
            },
        )
    },
    SignupForm: {
        "form": _one(
            "The sign-up form as a browser posts it",
            {
                "username": "jake",
                "email": "jake@example.com",
                "password": "jakejakejake",
                "csrf_token": "kq3V0c9bYt7f2Wc1mJ8xR4nL6pA5sD0eH2gU7iO9zQw",
            },
        )
    },
    PasswordChangeForm: {
        "form": _one(
            "The account page's password form",
            {
                "current_password": "jakejakejake",
                "new_password": "a longer passphrase",
                "new_password_again": "a longer passphrase",
                "csrf_token": "kq3V0c9bYt7f2Wc1mJ8xR4nL6pA5sD0eH2gU7iO9zQw",
            },
        )
    },
}

# Response bodies, by model.
RESPONSES: dict[type[Schema], dict[str, Example]] = {
    UserResponse: {
        "user": _one(
            "The user with a fresh token",
            {
                "user": {
                    "email": "jake@example.com",
                    "token": EXAMPLE_JWT,
                    "username": "jake",
                    "bio": "I work at statefarm",
                    "image": None,
                }
            },
        )
    },
    SignedInResponse: {
        "user": _one(
            "The user with a token and a refresh token",
            {
                "user": {
                    "email": "jake@example.com",
                    "token": EXAMPLE_JWT,
                    "username": "jake",
                    "bio": "I work at statefarm",
                    "image": None,
                    "refreshToken": EXAMPLE_NEXT_REFRESH_TOKEN,
                }
            },
        )
    },
    AccountResponse: {"user": _one("An account", {"user": ACCOUNT})},
    AuditListResponse: {
        "events": _one(
            "A page of the audit log, newest first, with more to come",
            {
                "events": [
                    {
                        "type": "role.changed",
                        "actor": 1,
                        "target": 42,
                        "address": "203.0.113.7",
                        "requestId": "31538276d6934803a8d671cbf13f327b",
                        "at": "2026-11-25T09:30:12.345Z",
                    },
                    {
                        "type": "login.failed",
                        "actor": None,
                        "target": 42,
                        "address": "198.51.100.23",
                        "requestId": "50a7701f3a7e4fdf9e754e425616e6b2",
                        "at": "2026-11-25T09:12:03.004Z",
                    },
                ],
                "nextCursor": "MTc5NTU5NzkyMzAwNDAwMC4xNw",
            },
        ),
        "last": _one("The last page", {"events": [], "nextCursor": None}),
    },
    AccountListResponse: {
        "users": _one("A page of accounts", {"users": [ACCOUNT], "usersCount": 1})
    },
    ProfileResponse: {
        "profile": _one("A profile", {"profile": JAKE}),
        "followed": _one("A profile the caller follows", {"profile": JAKE_FOLLOWED}),
    },
    ArticleResponse: {"article": _one("An article", {"article": ARTICLE})},
    ArticleListResponse: {
        "articles": _one(
            "A page of articles (no bodies) and the total",
            {"articles": [ARTICLE_ITEM], "articlesCount": 1},
        ),
        "empty": _one("Nothing matches", {"articles": [], "articlesCount": 0}),
    },
    CommentResponse: {"comment": _one("A comment", {"comment": COMMENT})},
    CommentListResponse: {"comments": _one("Comments, newest first", {"comments": [COMMENT]})},
    TagListResponse: {"tags": _one("Tags in use, most used first", {"tags": ["dragons", "go"]})},
    PasswordResetResponse: {
        "accepted": _one(
            "The one answer, whether or not an account uses the email",
            password_reset_response(3600),
        )
    },
    CreatedWebhookResponse: {
        "webhook": _one(
            "The new webhook with its signing secret (shown this once)",
            {"webhook": {**WEBHOOK, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
        )
    },
    WebhookListResponse: {
        "webhooks": _one("The webhooks, without their secrets", {"webhooks": [WEBHOOK]}),
        "disabled": _one(
            "A webhook disabled after a run of failed deliveries",
            {
                "webhooks": [
                    {
                        **WEBHOOK,
                        "active": False,
                        "consecutiveFailures": 20,
                        "disabledAt": UPDATED,
                    }
                ]
            },
        ),
    },
    DeliveryListResponse: {
        "deliveries": _one(
            "A retry that succeeded after a failure, newest first",
            {"deliveries": [DELIVERED, FAILED]},
        )
    },
    Health: {"ok": _one("Alive", {"status": "ok"})},
    Readiness: {"ready": _one("Ready", {"status": "ready"})},
    ServiceIndex: {"index": _one("What this service is, and links", service_index())},
}

# Path and query parameters, by name.
PARAMETERS: dict[str, Any] = {
    "slug": "how-to-train-your-dragon",
    "username": "jake",
    "user_id": 42,
    "comment_id": 1,
    "limit": 20,
    "offset": 0,
    "tag": "dragons",
    "author": "jake",
    "favorited": "jake",
    "q": "ja",
    "next": "/account",
    "actor": 1,
    "type": "login.failed",
    "since": "2026-11-25T00:00:00Z",
    "until": "2026-11-26T00:00:00Z",
    "cursor": "MTc5NTU5NzkyMzAwNDAwMC4xNw",
    "token": EXAMPLE_RESET_TOKEN,
    "webhook_id": 7,
    # Request headers.
    "Idempotency-Key": "5f0c4e2a-9b7d-4c1e-8a3f-2d6b9e0c7a14",
    "If-None-Match": '"q1Wk3fZx0mC8a3zvKQvYbW1n"',
    "If-Match": '"q1Wk3fZx0mC8a3zvKQvYbW1n"',
}
