"""What the pages read and the front door's JSON index. The forms are documented in
/openapi.json, not validated here: each page answers a bad form with itself and its messages
(the sign-up page checks its fields as `POST /api/users` does)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.schemas.base import Schema
from service.schemas.users import PASSWORD_MAX, Password


class LoginPageQuery(BaseModel):
    next: str | None = Field(
        default=None,
        description="A local path to go to after signing in; anything else is "
        "ignored and the account page is used.",
    )


class LoginForm(BaseModel):
    email: str = Field(description="The account's email, in any letter case")
    password: str
    csrf_token: str = Field(description="The token from the form's hidden field")
    next: str | None = Field(default=None, description="As in the page's query")


class LogoutForm(BaseModel):
    csrf_token: str | None = Field(
        default=None, description="The session's CSRF token (or send `X-CSRF-Token`)"
    )


class SignupForm(BaseModel):
    username: str = Field(description="As for `POST /api/users`: 1 to 64 printable characters")
    email: str = Field(description="An email address, unique in any letter case")
    password: str = Field(description="8 to 256 characters")
    csrf_token: str = Field(description="The token from the form's hidden field")


class PasswordChangeForm(BaseModel):
    current_password: str = Field(description="The password the account has now")
    new_password: str = Field(description="8 to 256 characters")
    new_password_again: str = Field(description="The new password again, to catch a typo")
    csrf_token: str = Field(description="The token from the form's hidden field")


class PasswordChange(BaseModel):
    """What the password form checks before any hash: the new password follows the API's rules."""

    current_password: str = Field(min_length=1, max_length=PASSWORD_MAX)
    new_password: Password
    new_password_again: str


class IndexLinks(Schema):
    docs: str = Field(description="The API reference in the browser (Swagger UI)")
    openapi: str = Field(description="The OpenAPI document")
    health: str = Field(description="Liveness")
    signup: str = Field(description="The sign-up page")
    login: str = Field(description="The sign-in page")
    api_register: str = Field(description="Registration through the API (POST)")
    api_login: str = Field(description="Login through the API (POST; answers a token)")
    articles: str = Field(description="The articles")
    tags: str = Field(description="The tags in use")


class ServiceIndex(Schema):
    """`GET /` for API clients: what this service is and where to go next."""

    name: str
    description: str
    links: IndexLinks


def service_index() -> dict[str, object]:
    return {
        "name": "Conduit service",
        "description": "User accounts and the Conduit API (profiles, follows, articles, the "
        "feed, favourites, comments, tags). Send `Accept: text/html` for the page.",
        "links": {
            "docs": "/docs",
            "openapi": "/openapi.json",
            "health": "/healthz",
            "signup": "/signup",
            "login": "/login",
            "apiRegister": "/api/users",
            "apiLogin": "/api/users/login",
            "articles": "/api/articles",
            "tags": "/api/tags",
        },
    }
