"""Accounts: Conduit's register, login and current user, plus the users resource."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag

from service import db, security
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


@bp.post("/users")
@tag(["accounts"])
@json_body(NewUserBody)
@idempotent
@responds(UserResponse, 201)
async def register(data: NewUserBody) -> JSON:
    new = data.user
    user = await user_service.register(
        db.session(),
        security.hasher(),
        username=new.username,
        email=new.email,
        password=new.password,
    )
    return user_response(user, security.issue_token(user))


@bp.post("/users/login")
@tag(["accounts"])
@json_body(LoginBody)
@responds(UserResponse)
async def login(data: LoginBody) -> JSON:
    user = await security.authenticate(data.user.email, data.user.password)
    return user_response(user, security.issue_token(user))


@bp.get("/user")
@tag(["accounts"])
@security.require_user
@responds(UserResponse)
async def current() -> JSON:
    user = security.current_user()
    return user_response(user, security.issue_token(user))


@bp.put("/user")
@tag(["accounts"])
@security.require_user
@json_body(UserChangesBody)
@responds(UserResponse)
async def update_current(data: UserChangesBody) -> JSON:
    user = security.current_user()
    updated = await user_service.update(
        db.session(), security.hasher(), user, user, data.user.changes()
    )
    return user_response(updated, security.issue_token(updated))


@bp.get("/users")
@tag(["accounts"])
@security.require_user
@query(AccountListQuery)
@responds(AccountListResponse)
async def list_users(query_args: AccountListQuery) -> JSON:
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
@security.require_user
@responds(AccountResponse)
async def get_user(user_id: int) -> JSON:
    user = await user_service.get_visible(db.session(), security.current_user(), user_id)
    return account_response(user)


@bp.route(f"/users/{USER_ID}", methods=["POST", "PATCH"])
@tag(["accounts"])
@security.require_user
@json_body(AccountChangesBody)
@responds(AccountResponse)
async def update_user(user_id: int, data: AccountChangesBody) -> JSON:
    user = await user_service.update_by_id(
        db.session(), security.hasher(), security.current_user(), user_id, data.user.changes()
    )
    return account_response(user)
