"""What a route tells /openapi.json beyond its pydantic models, declared beside the route.

- `errors(...)`: the domain errors it can answer; status, key and message come from each
  error class (or instance, for a key or message chosen where it is raised).
- `answers(...)`: answers that are not a JSON model: HTML pages, redirects, plain text, no body.
- `without_database`: the route never opens a database session, so an outage cannot give it
  the database's 503 (`service`), which every other route documents.

The statuses every route of a kind can answer (401 for credentials, 403 for a cookie write
without its CSRF token, 413/415/422 for a JSON body, 422 for a query, 500 and 503 for all) are
added by `routes.openapi`, which reads how the route is built; these decorators say the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from service.errors import RETRY_AFTER_ERRORS, AppError

F = TypeVar("F", bound=Callable[..., Any])

ERRORS_ATTRIBUTE = "_service_errors"
ANSWERS_ATTRIBUTE = "_service_answers"
WITHOUT_DATABASE_ATTRIBUTE = "_service_without_database"

HTML = "text/html"


@dataclass(frozen=True)
class ErrorDoc:
    """One documented error answer: `{"errors": {key: [message]}}` with `status`."""

    status: int
    key: str
    message: str
    when: str = ""
    retry_after: bool = False  # answered with `Retry-After`

    @classmethod
    def of(cls, error: AppError | type[AppError], when: str = "") -> ErrorDoc:
        kind = error if isinstance(error, type) else type(error)
        retry_after = issubclass(kind, RETRY_AFTER_ERRORS)
        return cls(error.status, error.key, error.message, when, retry_after)

    @property
    def body(self) -> dict[str, dict[str, list[str]]]:
        return {"errors": {self.key: [self.message]}}


@dataclass(frozen=True)
class Answer:
    """A documented answer that no pydantic model describes."""

    status: int
    description: str
    media_type: str | None = None  # None: no body
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    example: Any = None
    headers: tuple[str, ...] = ()  # names in components.headers


def errors(*kinds: AppError | type[AppError] | ErrorDoc) -> Callable[[F], F]:
    """Document the domain errors this route can answer."""

    def decorator(func: F) -> F:
        docs = [kind if isinstance(kind, ErrorDoc) else ErrorDoc.of(kind) for kind in kinds]
        setattr(func, ERRORS_ATTRIBUTE, (*getattr(func, ERRORS_ATTRIBUTE, ()), *docs))
        return func

    return decorator


def answers(*items: Answer) -> Callable[[F], F]:
    """Document answers that are not a JSON model (pages, redirects, text, no content)."""

    def decorator(func: F) -> F:
        setattr(func, ANSWERS_ATTRIBUTE, (*getattr(func, ANSWERS_ATTRIBUTE, ()), *items))
        return func

    return decorator


def without_database(func: F) -> F:
    """Document that this route answers without the database (no outage 503)."""
    setattr(func, WITHOUT_DATABASE_ATTRIBUTE, True)
    return func


def uses_database(func: Callable[..., Any]) -> bool:
    return not getattr(func, WITHOUT_DATABASE_ATTRIBUTE, False)


def declared_errors(func: Callable[..., Any]) -> tuple[ErrorDoc, ...]:
    docs: tuple[ErrorDoc, ...] = getattr(func, ERRORS_ATTRIBUTE, ())
    return docs


def declared_answers(func: Callable[..., Any]) -> tuple[Answer, ...]:
    items: tuple[Answer, ...] = getattr(func, ANSWERS_ATTRIBUTE, ())
    return items
