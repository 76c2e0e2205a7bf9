"""orjson for every JSON body the app reads or writes."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic_core import to_jsonable_python
from quart import Response
from quart.json.provider import JSONProvider

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def _default(value: Any) -> Any:
    return to_jsonable_python(value)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default)


class OrjsonProvider(JSONProvider):
    mimetype = "application/json"

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps(obj).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        return Response(dumps(obj), content_type=JSON_CONTENT_TYPE)


def json_response(payload: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(payload), status=status, headers=headers, content_type=JSON_CONTENT_TYPE)
