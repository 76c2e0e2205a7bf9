"""Domain errors. Each carries an HTTP status, the key at fault and a message.

Services raise these; `service.routes.errors` renders every one as
`{"errors": {key: [message]}}`. This module imports nothing from the web layer.
"""

from __future__ import annotations


class AppError(Exception):
    status = 400
    key = "body"
    message = "is invalid"

    def __init__(self, key: str | None = None, message: str | None = None) -> None:
        self.key = key or self.key
        self.message = message or self.message
        super().__init__(f"{self.key} {self.message}")

    def to_dict(self) -> dict[str, list[str]]:
        return {self.key: [self.message]}


class Invalid(AppError):
    status = 422


class Unauthorized(AppError):
    status = 401
    key = "token"
    message = "is invalid"


class Forbidden(AppError):
    status = 403
    message = "forbidden"


class NotFound(AppError):
    status = 404
    message = "not found"


class Conflict(AppError):
    status = 409
    message = "has already been taken"


class PreconditionFailed(AppError):
    """A conditional write (If-Match) whose version is no longer the current one."""

    status = 412
    message = "has changed since you read it; read it again"


class TooManyRequests(AppError):
    status = 429
    key = "request"
    message = "too many requests, try again later"

    def __init__(self, retry_after: int, key: str | None = None, message: str | None = None):
        super().__init__(key, message)
        self.retry_after = max(1, retry_after)


class Unavailable(AppError):
    status = 503
    key = "service"
    message = "unavailable, try again later"

    def __init__(self, retry_after: int = 1, key: str | None = None, message: str | None = None):
        super().__init__(key, message)
        self.retry_after = max(1, retry_after)


# Accounts


class TokenMissing(Unauthorized):
    message = "is missing"


class TokenInvalid(Unauthorized):
    message = "is invalid"


class TokenExpired(Unauthorized):
    message = "has expired"


class BadCredentials(Unauthorized):
    key = "credentials"
    message = "invalid email or password"


REFRESH_TOKEN = "refreshToken"  # noqa: S105  (the field name, not a secret)


class RefreshTokenInvalid(Unauthorized):
    """Unknown, or of a family that was revoked (logout, sign-out everywhere, ...)."""

    key = REFRESH_TOKEN
    message = "is invalid"


class RefreshTokenExpired(Unauthorized):
    key = REFRESH_TOKEN
    message = "has expired"


class RefreshTokenReused(Unauthorized):
    """A refresh token presented after it was spent: its whole family is revoked."""

    key = REFRESH_TOKEN
    message = "was already used; every token of its sign-in is revoked, sign in again"

    def __init__(self, family_id: int = 0, user_id: int = 0) -> None:
        super().__init__()
        self.family_id = family_id
        self.user_id = user_id


class CsrfFailed(Forbidden):
    key = "csrf"
    message = "token is missing or invalid"


class HashingBusy(Unavailable):
    """More password hashes are queued than can be done in HASH_QUEUE_SECONDS."""

    key = "request"
    message = "the server is busy, try again later"


class LoginRateLimited(TooManyRequests):
    key = "credentials"
    message = "too many attempts, try again later"


class RegistrationRateLimited(TooManyRequests):
    """More registrations from one client address than REGISTER_RATE_LIMIT_PER_ADDRESS."""


class PasswordResetRateLimited(TooManyRequests):
    """More reset requests from one client address, or for one email address, than allowed."""


class ResetTokenInvalid(Invalid):
    """A reset token that is unknown, used or expired: one answer for the three."""

    key = "token"
    message = "is invalid or has expired"


class UsernameTaken(Conflict):
    key = "username"


class EmailTaken(Conflict):
    key = "email"


class UserNotFound(NotFound):
    key = "user"


class UserForbidden(Forbidden):
    key = "user"


# Conduit


class ProfileNotFound(NotFound):
    key = "profile"


class CannotFollowSelf(Invalid):
    key = "profile"
    message = "can't follow yourself"


class ArticleNotFound(NotFound):
    key = "article"


class ArticleForbidden(Forbidden):
    key = "article"


class ArticleChanged(PreconditionFailed):
    key = "article"


class CommentNotFound(NotFound):
    key = "comment"


class CommentForbidden(Forbidden):
    key = "comment"


# Idempotency keys

IDEMPOTENCY_KEY = "Idempotency-Key"


class IdempotencyKeyInvalid(Invalid):
    key = IDEMPOTENCY_KEY
    message = "must be 1 to 255 printable ASCII characters"


class IdempotencyKeyReused(Invalid):
    """The key was used for a request with another method, path or body."""

    key = IDEMPOTENCY_KEY
    message = "was already used for a different request"


class IdempotencyKeyInUse(Conflict):
    """The first request with this key is still running; a retry may come after Retry-After."""

    key = IDEMPOTENCY_KEY
    message = "is in use by a request still in progress, try again later"

    def __init__(self, retry_after: int = 1, key: str | None = None, message: str | None = None):
        super().__init__(key, message)
        self.retry_after = max(1, retry_after)


class IdempotencyKeyTakenOver(IdempotencyKeyInUse):
    """This request outlived its claim and a retry took the key over: the retry's answer counts."""

    message = "was taken over by a retry of this request"


# Answered with `Retry-After` (their `retry_after` seconds): worth trying again later.
RETRY_AFTER_ERRORS = (TooManyRequests, Unavailable, IdempotencyKeyInUse)
