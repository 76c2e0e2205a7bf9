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
    RegistrationRateLimited,
    UserForbidden,
    UsernameTaken,
    UserNotFound,
)
from service.routes.apidoc import Answer, ErrorDoc, answers, errors
from service.routes.idempotency import idempotent
from service.routes.responses import JSON, responds
from service.routes.validation import json_body, query
from service.schemas.users import (
    AccountChangesBody,
    AccountListQuery,
    AccountListResponse,
    AccountResponse,
    LoginBody,
    NewUserBody,
    UserChangesBody,
    UserResponse,
    account_list_response,
    account_response,
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
@responds(UserResponse, 201)
async def register(data: NewUserBody) -> JSON:
    """Register an account.

    Creates a user with the role `user` and answers it with a token, as a login would. The email
    is stored in lower case; the username as typed. Both are unique in any letter case. The
    password (8 to 256 characters) is hashed with argon2id.
    """
    new = data.user
    user = await security.register(new.username, new.email, new.password)
    return user_response(user, security.issue_token(user))


@bp.post("/users/login")
@tag(["accounts"])
@errors(
    ErrorDoc.of(BadCredentials, "unknown email or wrong password: one answer for both"),
    ErrorDoc.of(LoginRateLimited, "too many failed logins for this account or address"),
    BUSY,
)
@json_body(LoginBody)
@responds(UserResponse)
async def login(data: LoginBody) -> JSON:
    """Log in with email and password.

    Answers the user with a new token (send it as `Authorization: Token <jwt>`). A wrong
    password and an unknown email get the same 401 after the same work. Failed logins are
    limited per account and per client address: past the limit, 429 with `Retry-After`, before
    any password is checked.
    """
    user = await security.authenticate(data.user.email, data.user.password)
    return user_response(user, security.issue_token(user))


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
        db.session(), security.hasher(), user, user, data.user.changes()
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
        db.session(), security.hasher(), security.current_user(), user_id, data.user.changes()
    )
    return account_response(user)
