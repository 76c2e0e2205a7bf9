"""What the sign-in pages read: documented in /openapi.json, not validated (the page answers
every bad form with itself and one generic message)."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
