"""Rows for tests, made through the service layer (the same rules as the API)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol

from service.models import Role, User
from service.services import users as user_service
from service.services.audit import COMMAND_LINE

_numbers = itertools.count(1)
_titles = itertools.count(1)
DEFAULT_PASSWORD = "correct horse battery"


@dataclass
class MadeUser:
    user: User
    token: str
    password: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def username(self) -> str:
        return self.user.username


class UserFactory:
    def __init__(self, app: Quart) -> None:
        self.app = app

    async def make(
        self,
        *,
        username: str | None = None,
        email: str | None = None,
        password: str = DEFAULT_PASSWORD,
        role: Role = Role.USER,
        bio: str | None = None,
        image: str | None = None,
    ) -> MadeUser:
        n = next(_numbers)
        username = username or f"user{n}"
        email = email or f"{username.lower()}@example.com"
        database = self.app.extensions["db"]
        security = self.app.extensions["security"]
        async with database.sessionmaker() as session:
            user = await user_service.register(
                session,
                security.hasher,
                username=username,
                email=email,
                password=password,
                role=role,
                origin=COMMAND_LINE,
            )
            user.bio, user.image = bio, image
            await session.commit()
        token = security.tokens.issue(user.id, version=user.credentials_version)
        return MadeUser(user, token, password, {"Authorization": f"Token {token}"})

    async def admin(self, **overrides: object) -> MadeUser:
        return await self.make(role=Role.ADMIN, **overrides)  # type: ignore[arg-type]


class ArticleMaker:
    def __init__(self, client: TestClientProtocol) -> None:
        self.client = client

    async def make(
        self,
        author: MadeUser,
        *,
        title: str | None = None,
        tags: list[str] | None = None,
        body: str = "Body text",
        description: str = "About it",
    ) -> dict[str, Any]:
        payload = {
            "article": {
                "title": title or f"Article {next(_titles)}",
                "description": description,
                "body": body,
                "tagList": tags or [],
            }
        }
        response = await self.client.post("/api/articles", json=payload, headers=author.headers)
        data = await response.get_json()
        assert response.status_code == 201, data
        article: dict[str, Any] = data["article"]
        return article
