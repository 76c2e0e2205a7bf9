"""Conduit fixtures: articles written through the API by the users factory's users."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from quart.typing import TestClientProtocol

from tests.factories import MadeUser

_numbers = itertools.count(1)


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
                "title": title or f"Article {next(_numbers)}",
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


@pytest.fixture
def articles(client: TestClientProtocol) -> ArticleMaker:
    return ArticleMaker(client)
