"""Accounts: Conduit's register, login and current user, plus the users resource."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag

from service import db, security
from service.errors import (
    BadCredentials,
    EmailTaken,
    Forbidden,
    HashingBusy,
    LoginRateLimited,
    PasswordResetRateLimited,
    RefreshTokenExpired,
    RefreshTokenInvalid,
    RefreshTokenReused,
    RegistrationRateLimited,
    ResetTokenInvalid,
    UserForbidden,
    UsernameTaken,
    UserNotFound,
)
from service.routes.apidoc import Answer, ErrorDoc, answers, errors
from service.routes.idempotency import idempotent
from service.routes.responses import JSON, responds
from service.routes.validation import json_body, query
from service.schemas.password_resets import (
    PasswordResetConfirmBody,
    PasswordResetRequestBody,
    PasswordResetResponse,
    password_reset_response,
)
from service.schemas.users import (
    AccountChangesBody,
    AccountListQuery,
    AccountListResponse,
    AccountResponse,
    LoginBody,
    NewUserBody,
    RefreshTokenBody,
    SignedInResponse,
    UserChangesBody,
    UserResponse,
    account_list_response,
    account_response,
    signed_in_response,
    user_response,
)
from service.services import users as user_service

bp = Blueprint("users", __name__, url_prefix="/api")

USER_ID = "<id:user_id>"

BUSY = ErrorDoc.of(
    HashingBusy, "more passwords are waiting to be hashed than HASH_QUEUE_SECONDS allow"
)
TAKEN = (
    ErrorDoc.of(UsernameTaken, "by another account, in any letter case"),
    ErrorDoc.of(EmailTaken, "by another account, in any letter case"),
)
ROLE_ADMIN_ONLY = ErrorDoc.of(
    Forbidden("role", "can only be changed by an admin"), "a user sent `role`"
)


@bp.post("/users")
@tag(["accounts"])
@errors(
    *TAKEN,
    ErrorDoc.of(
        RegistrationRateLimited,
        "more registrations from this client address than REGISTER_RATE_LIMIT_PER_ADDRESS "
        "within REGISTER_RATE_LIMIT_WINDOW_SECONDS",
    ),
    BUSY,
)
@json_body(NewUserBody)
@idempotent
@responds(SignedInResponse, 201)
async def register(data: NewUserBody) -> JSON:
    """Register an account.

    Creates a user with the role `user` and answers it with a token and a refresh token, as a
    login would. The email is stored in lower case; the username as typed. Both are unique in
    any letter case. The password (8 to 256 characters) is hashed with argon2id.
    """
    new = data.user
    user = await security.register(new.username, new.email, new.password)
    return signed_in_response(user, *await security.issue_tokens(user))


@bp.post("/users/login")
@tag(["accounts"])
@errors(
    ErrorDoc.of(BadCredentials, "unknown email or wrong password: one answer for both"),
    ErrorDoc.of(LoginRateLimited, "too many failed logins for this account or address"),
    BUSY,
)
@json_body(LoginBody)
@responds(SignedInResponse)
async def login(data: LoginBody) -> JSON:
    """Log in with email and password.

    Answers the user with a new token (send it as `Authorization: Token <jwt>`) and a refresh
    token (`refreshToken`, for `POST /api/users/refresh`). A wrong password and an unknown email
    get the same 401 after the same work. Failed logins are limited per account and per client
    address: past the limit, 429 with `Retry-After`, before any password is checked.
    """
    user = await security.authenticate(data.user.email, data.user.password)
    return signed_in_response(user, *await security.issue_tokens(user))


REFRESH_REFUSED = (
    ErrorDoc.of(RefreshTokenInvalid, "unknown, or its sign-in was logged out or revoked"),
    ErrorDoc.of(RefreshTokenExpired, "past REFRESH_TOKEN_TTL_SECONDS, or the login's max age"),
)


@bp.post("/users/refresh")
@tag(["accounts"])
@errors(
    *REFRESH_REFUSED,
    ErrorDoc.of(RefreshTokenReused, "spent already: every token of its sign-in is now revoked"),
)
@json_body(RefreshTokenBody)
@responds(SignedInResponse)
async def refresh(data: RefreshTokenBody) -> JSON:
    """Trade a refresh token for a new token and refresh token.

    Answers the user as a login does: `token` is an access token, valid for
    ACCESS_TOKEN_TTL_SECONDS (15 minutes), and `refreshToken` the next refresh token. A refresh
    token works once: the one sent is spent, and sending it again revokes every token of its
    sign-in (both answer 401). Of concurrent requests with one refresh token exactly one
    succeeds. No access token is needed.
    """
    user, token, refresh_token = await security.refresh(data.refresh_token)
    return signed_in_response(user, token, refresh_token)


@bp.post("/users/logout")
@tag(["accounts"])
@errors(ErrorDoc.of(RefreshTokenInvalid, "no refresh token was ever this one"))
@answers(Answer(204, "Logged out: that sign-in's tokens no longer work; no content."))
@json_body(RefreshTokenBody)
async def logout_family(data: RefreshTokenBody) -> tuple[str, int]:
    """Log out one sign-in.

    Revokes the sign-in (the family) the refresh token belongs to: its refresh tokens and the
    tokens handed out with them stop working at once (204). Other sign-ins of the account stay;
    `POST /api/user/logout-all` ends them all. Logging out a sign-in already logged out is a 204
    too. No access token is needed.
    """
    await security.logout(data.refresh_token)
    return "", 204


@bp.get("/user")
@tag(["accounts"])
@security.require_user
@responds(UserResponse)
async def current() -> JSON:
    """The current user.

    The user behind the token (or the signed-in session), with a fresh token.
    """
    user = security.current_user()
    return user_response(user, security.renew_token(user))


@bp.put("/user")
@tag(["accounts"])
@errors(*TAKEN, BUSY)
@security.require_user
@json_body(UserChangesBody)
@responds(UserResponse)
async def update_current(data: UserChangesBody) -> JSON:
    """Update the current user.

    Any of `email`, `username`, `password`, `bio` and `image`; a field left out stays as it is.
    `bio` and `image` may be null to clear them; the others may not. A new password ends every
    token and browser session of the account; the answer's fresh token is the one that works.
    """
    user = security.current_user()
    updated = await user_service.update(
        db.session(),
        security.hasher(),
        user,
        user,
        data.user.changes(),
        origin=security.origin(),
    )
    # After a password change the caller's token is one of those revoked: this one replaces it.
    return user_response(updated, security.renew_token(updated))


@bp.post("/user/logout-all")
@tag(["accounts"])
@answers(Answer(204, "Signed out everywhere, this token included; no content."))
@security.require_user
async def logout_all() -> tuple[str, int]:
    """Sign out everywhere.

    Every token and browser session of the caller stops working, the one this request used
    included (204). Log in again for a new token. With the session cookie, send the CSRF token.
    """
    await security.sign_out_everywhere(security.current_user())
    return "", 204


@bp.get("/users")
@tag(["accounts"])
@errors(ErrorDoc.of(UserForbidden, "the caller is not an admin"))
@security.require_user
@query(AccountListQuery)
@responds(AccountListResponse)
async def list_users(query_args: AccountListQuery) -> JSON:
    """List accounts (admins only).

    A page of accounts, oldest first, with the total number of matches. `q` keeps those whose
    username (in any letter case) or email starts with it.
    """
    users, total = await user_service.list_users(
        db.session(),
        security.current_user(),
        q=query_args.q,
        limit=query_args.limit,
        offset=query_args.offset,
    )
    return account_list_response(users, total)


@bp.get(f"/users/{USER_ID}")
@tag(["accounts"])
@errors(
    ErrorDoc.of(UserForbidden, "the caller is neither this user nor an admin"),
    ErrorDoc.of(UserNotFound, "no account has this id (asked by an admin)"),
)
@security.require_user
@responds(AccountResponse)
async def get_user(user_id: int) -> JSON:
    """One account (admins, or the user themself).

    The account with its id, role and timestamps; never a token or a password hash.
    """
    user = await user_service.get_visible(db.session(), security.current_user(), user_id)
    return account_response(user)


@bp.route(f"/users/{USER_ID}", methods=["POST", "PATCH"])
@tag(["accounts"])
@errors(
    ErrorDoc.of(UserForbidden, "the caller is neither this user nor an admin"),
    ROLE_ADMIN_ONLY,
    ErrorDoc.of(UserNotFound, "no account has this id (asked by an admin)"),
    *TAKEN,
    BUSY,
)
@security.require_user
@json_body(AccountChangesBody)
@responds(AccountResponse)
async def update_user(user_id: int, data: AccountChangesBody) -> JSON:
    """Update an account (admins, or the user themself).

    POST and PATCH mean the same: a partial update, as for the current user, plus `role`
    (`user` or `admin`), which only an admin may change. Answers the account.
    """
    user = await user_service.update_by_id(
        db.session(),
        security.hasher(),
        security.current_user(),
        user_id,
        data.user.changes(),
        origin=security.origin(),
    )
    return account_response(user)


@bp.post(f"/users/{USER_ID}/revoke-sessions")
@tag(["accounts"])
@errors(
    ErrorDoc.of(UserForbidden, "the caller is not an admin"),
    ErrorDoc.of(UserNotFound, "no account has this id"),
)
@answers(Answer(204, "Every credential of the account was revoked; no content."))
@security.require_user
async def revoke_sessions(user_id: int) -> tuple[str, int]:
    """Sign an account out everywhere (admins only).

    Every token, refresh token and browser session of the account stops working at once (204),
    as its own "sign out everywhere" would do; it signs in again with its password. Recorded in
    the audit log with the admin as the actor.
    """
    await user_service.revoke_sessions(
        db.session(), security.current_user(), user_id, origin=security.origin()
    )
    return "", 204


@bp.post("/users/password-reset")
@tag(["accounts"])
@answers(Answer(202, "Accepted: the same answer whether or not an account uses the email."))
@errors(
    ErrorDoc.of(
        PasswordResetRateLimited,
        "too many reset requests from this client address, or for this email address",
    )
)
@json_body(PasswordResetRequestBody)
@responds(PasswordResetResponse, 202)
async def request_password_reset(data: PasswordResetRequestBody) -> JSON:
    """Ask for a password reset link by email.

    Always 202 with the same body, in about the same time, whether or not an account uses the
    email: the answer tells nobody which addresses have accounts. If one does, an email with a
    link to the reset page follows (`PUBLIC_BASE_URL/password-reset/confirm?token=...`); the
    token works once, for `PASSWORD_RESET_TTL_SECONDS`, and a newer request replaces it. Limited
    per client address and per email address: past either, 429 with `Retry-After`.
    """
    ttl = await security.request_password_reset(data.user.email)
    return password_reset_response(ttl)


@bp.post("/users/password-reset/confirm")
@tag(["accounts"])
@answers(Answer(204, "The new password is set; every token and session of the account ended."))
@errors(
    ErrorDoc.of(ResetTokenInvalid, "the token is unknown, was used already, or has expired"),
    BUSY,
)
@json_body(PasswordResetConfirmBody)
async def confirm_password_reset(data: PasswordResetConfirmBody) -> tuple[str, int]:
    """Set a new password with an emailed reset token.

    `token` is the `token=` of the emailed link. The password (8 to 256 characters) is hashed
    with argon2id; every API token and browser session of the account stops working, and the
    token cannot be used again (of concurrent confirms with one token, one wins). Log in with
    the new password for a token.
    """
    await security.reset_password(data.user.token, data.user.password)
    return "", 204
