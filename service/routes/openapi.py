"""The OpenAPI document: quart-schema's, plus the one error shape on every operation."""

from __future__ import annotations

import re
from typing import Any

import quart_schema.openapi
from quart_schema import OpenAPIProvider
from werkzeug.routing import Rule

from service.routes import conditional
from service.schemas.base import ErrorBody

# quart-schema's pattern runs across `>` and joins two parameters of one path into one:
# /api/articles/<slug>/comments/<id:comment_id> came out as /api/articles/{comment_id}.
quart_schema.openapi.PATH_RE = re.compile(r"<(?:[^:<>]*:)?([^<>]+)>")

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


class ServiceOpenAPIProvider(OpenAPIProvider):
    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        conditional.document(self._app.view_functions[rule.endpoint], paths)
        return paths, components

    def schema(self) -> dict[str, Any]:
        document = super().schema()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        components["ErrorBody"] = error_schema
        error = {
            "description": 'Error: {"errors": {"<field or resource>": ["message", ...]}}',
            "content": {"application/json": {"schema": ERROR_REF}},
        }
        for path_item in document.get("paths", {}).values():
            for operation in path_item.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                responses = {str(code): value for code, value in operation["responses"].items()}
                operation["responses"] = responses
                if not any(code.startswith("2") for code in responses):
                    responses["204"] = {"description": "Done; no content"}
                responses.setdefault("4XX", error)
                responses.setdefault("5XX", error)
        return document
