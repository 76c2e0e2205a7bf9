"""Request and response bodies of the accounts API (Conduit's users plus our users resource)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlsplit

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import AfterValidator, EmailStr, Field, StringConstraints

from service.models import Role, User
from service.schemas.base import PageQuery, Schema, Timestamp, format_timestamp, omittable

JSON = dict[str, Any]

USERNAME_MAX = 64
PASSWORD_MIN, PASSWORD_MAX = 8, 256
EMAIL_MAX = 254
BIO_MAX = 10_000
IMAGE_MAX = 2048


def _username_chars(value: str) -> str:
    if any(ch.isspace() or ch == "/" or not ch.isprintable() for ch in value):
        raise ValueError("can't contain whitespace, '/' or control characters")
    return value


def _http_url(value: str) -> str:
    """Empty, or an absolute http(s) URL: browsers render `image` as a source or a link, where
    other schemes (javascript:, data:) run or show whatever the sender chose."""
    if value == "":
        return value
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises for a port out of range)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or any(ch.isspace() or not ch.isprintable() for ch in value)
    ):
        raise ValueError("must be an http or https URL")
    return value


# What a JSON Schema pattern can say of `_username_chars`; the `username` format names the
# rest (printable: no format, private-use or unassigned characters either).
USERNAME_PATTERN = r"^[^\s/\x00-\x1f\x7f-\x9f]+$"
USERNAME_FORMAT = "username"

Username = Annotated[
    str,
    StringConstraints(min_length=1, max_length=USERNAME_MAX),
    AfterValidator(_username_chars),
    Field(
        json_schema_extra={"pattern": USERNAME_PATTERN, "format": USERNAME_FORMAT},
        description="Printable characters (Unicode letters, marks, numbers, punctuation, "
        "symbols) other than '/': no whitespace, control, format, private-use or "
        "unassigned characters. Unique in any letter case.",
    ),
]


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


# EmailStr (email-validator) refuses special-use domains such as `.test` and `.local`.
EMAIL_PATTERN = (
    r"^(?!.*[.@](?:" + "|".join(_any_case(name) for name in SPECIAL_USE_DOMAIN_NAMES) + r")$)"
    r"[^\x00]*$"
)
Email = Annotated[
    EmailStr,
    StringConstraints(max_length=EMAIL_MAX),
    Field(
        json_schema_extra={"pattern": EMAIL_PATTERN},
        description="An email address (stored in lower case; unique in any letter case). "
        "Special-use domains (" + ", ".join(f".{n}" for n in SPECIAL_USE_DOMAIN_NAMES) + ") "
        "are refused.",
    ),
]
Password = Annotated[str, StringConstraints(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)]
Bio = Annotated[str, StringConstraints(max_length=BIO_MAX)]
# Only web addresses: never `javascript:` or `data:` in a client's <img src>. The pattern is
# what the document can say of `_http_url` (which also wants a host, a valid port and only
# printable characters); the `http-url` format names the rest, as `username` does.
IMAGE_PATTERN = r"^(|[Hh][Tt][Tt][Pp][Ss]?://[^\s\x00-\x1f\x7f-\x9f]+)$"
IMAGE_FORMAT = "http-url"
Image = Annotated[
    str,
    StringConstraints(max_length=IMAGE_MAX),
    AfterValidator(_http_url),
    Field(
        json_schema_extra={"pattern": IMAGE_PATTERN, "format": IMAGE_FORMAT},
        description="Empty, or an http or https URL of the user's picture, with a host and "
        "printable characters only (no whitespace, control, format, private-use or unassigned "
        "characters); null clears it.",
    ),
]


class NewUser(Schema):
    username: Username
    email: Email
    password: Password


class LoginUser(Schema):
    # Not validated as an address: any wrong login gets the same 401.
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)


class UserChanges(Schema):
    """A partial update: a field left out stays; null clears bio and image, and is refused
    for the others by the service."""

    username: Username | None = omittable()
    email: Email | None = omittable()
    password: Password | None = omittable()
    bio: Bio | None = None
    image: Image | None = None

    def changes(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class AccountChanges(UserChanges):
    role: Role | None = omittable()


class NewUserBody(Schema):
    user: NewUser


class LoginBody(Schema):
    user: LoginUser


class UserChangesBody(Schema):
    user: UserChanges


class AccountChangesBody(Schema):
    user: AccountChanges


class UserOut(Schema):
    email: str
    token: str
    username: str
    bio: str | None
    image: str | None


class UserResponse(Schema):
    user: UserOut


class SignedInUserOut(UserOut):
    """The user as login, registration and refresh answer it: with a refresh token too."""

    refresh_token: str = Field(
        description="Spend it at POST /api/users/refresh for a new token and refresh token; "
        "it works once, and a second use revokes every token of this sign-in."
    )


class SignedInResponse(Schema):
    user: SignedInUserOut


REFRESH_TOKEN_MAX = 256


class RefreshTokenBody(Schema):
    refresh_token: str = Field(min_length=1, max_length=REFRESH_TOKEN_MAX)


class AccountOut(Schema):
    """A user as the accounts API shows it: no token, no hash."""

    id: int
    email: str
    username: str
    bio: str | None
    image: str | None
    role: Role
    created_at: Timestamp
    updated_at: Timestamp


class AccountResponse(Schema):
    user: AccountOut


class AccountListResponse(Schema):
    users: list[AccountOut]
    users_count: int


class AccountListQuery(PageQuery):
    q: str | None = Field(default=None, min_length=1, max_length=320)


# Response bodies, built as dicts (routes.responses writes them; the models above document
# them and, in development and testing, check them).


def user_response(user: User, token: str) -> JSON:
    return {
        "user": {
            "email": user.email,
            "token": token,
            "username": user.username,
            "bio": user.bio,
            "image": user.image,
        }
    }


def signed_in_response(user: User, token: str, refresh_token: str) -> JSON:
    body = user_response(user, token)
    body["user"]["refreshToken"] = refresh_token
    return body


def _account(user: User) -> JSON:
    return {
        "id": user.id,
        "email": user.email,
        "username": user.username,
        "bio": user.bio,
        "image": user.image,
        "role": user.role,
        "createdAt": format_timestamp(user.created_at),
        "updatedAt": format_timestamp(user.updated_at),
    }


def account_response(user: User) -> JSON:
    return {"user": _account(user)}


def account_list_response(users: Sequence[User], total: int) -> JSON:
    return {"users": [_account(user) for user in users], "usersCount": total}
