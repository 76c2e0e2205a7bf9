"""Password reset: the API's bodies and answer, and what the reset pages read."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from service.schemas.base import Schema
from service.schemas.users import Password

TOKEN_MAX = 256
ACCEPTED = (
    "If an account uses this email address, a link to choose a new password is on its way "
    "there. It works once."
)


class PasswordResetRequest(Schema):
    # Not validated as an address: any email gets the same answer.
    email: str = Field(min_length=1, max_length=320)


class PasswordResetRequestBody(Schema):
    user: PasswordResetRequest


class PasswordResetConfirm(Schema):
    token: str = Field(
        min_length=1, max_length=TOKEN_MAX, description="The `token` of the emailed link"
    )
    password: Password


class PasswordResetConfirmBody(Schema):
    user: PasswordResetConfirm


class PasswordResetOut(Schema):
    message: str
    expires_in_seconds: int = Field(description="How long the emailed link works")


class PasswordResetResponse(Schema):
    password_reset: PasswordResetOut


def password_reset_response(expires_in_seconds: int) -> dict[str, Any]:
    """The one answer to every accepted request, whoever uses the email."""
    return {"passwordReset": {"message": ACCEPTED, "expiresInSeconds": expires_in_seconds}}


# The pages: documented in /openapi.json, not validated (each answers a bad form with itself).


class ResetRequestForm(BaseModel):
    email: str = Field(description="The account's email, in any letter case")
    csrf_token: str = Field(description="The token from the form's hidden field")


class ResetPageQuery(BaseModel):
    token: str | None = Field(default=None, description="The `token` of the emailed link")


class ResetConfirmForm(BaseModel):
    token: str = Field(description="The token of the emailed link (the form's hidden field)")
    password: str = Field(description="The new password, 8 to 256 characters")
    csrf_token: str = Field(description="The token from the form's hidden field")
