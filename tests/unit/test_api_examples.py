"""The examples and patterns of the OpenAPI document against the code they describe: each
example passes its model, and each pattern accepts exactly what the validators accept."""

from __future__ import annotations

import ipaddress
import re
import sys
import unicodedata
from urllib.parse import urlsplit

import pytest
from email_validator import SPECIAL_USE_DOMAIN_NAMES
from hypothesis import given, settings
from pydantic import BaseModel, ValidationError

from service.clients.webhook_http import check_address, check_url_shape
from service.routes.responses import check_body
from service.schemas.base import NO_NUL, NOT_BLANK, Schema
from service.schemas.conduit import NewArticle
from service.schemas.examples import REQUESTS, RESPONSES
from service.schemas.users import (
    EMAIL_PATTERN,
    IMAGE_PATTERN,
    USERNAME_PATTERN,
    NewUser,
    UserChanges,
    _username_chars,
)
from service.schemas.webhooks import URL_PATTERN
from tests.fuzz.hooks import IMAGE_URLS, WEBHOOK_URLS

REQUEST_EXAMPLES = [
    pytest.param(model, example["value"], id=f"{model.__name__}-{name}")
    for model, examples in REQUESTS.items()
    for name, example in examples.items()
]
RESPONSE_EXAMPLES = [
    pytest.param(model, example["value"], id=f"{model.__name__}-{name}")
    for model, examples in RESPONSES.items()
    for name, example in examples.items()
]


@pytest.mark.parametrize(("model", "value"), REQUEST_EXAMPLES)
def test_request_examples_are_valid(model: type[BaseModel], value):
    model.model_validate(value)


@pytest.mark.parametrize(("model", "value"), RESPONSE_EXAMPLES)
def test_response_examples_are_what_the_server_would_send(model: type[Schema], value):
    check_body(model, value)  # the strict round trip every response passes in the tests


def _code_points():
    return (chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)


def test_username_format_is_the_validator_rule():
    """tests/fuzz/hooks.py generates usernames from Unicode categories L, M, N, P and S without
    '/'; the validator must accept exactly those characters, and the pattern all of them."""
    pattern = re.compile(USERNAME_PATTERN)
    assert not _valid(NewUser, username="ja ke")  # the model runs the rule checked here
    disagree = []
    for char in _code_points():
        accepted = _accepts(_username_chars, char)
        by_category = unicodedata.category(char)[0] in "LMNPS" and char != "/"
        if accepted != by_category or (accepted and not pattern.fullmatch(char)):
            disagree.append(f"U+{ord(char):04X}")
    assert not disagree, disagree[:20]


def test_not_blank_is_what_trimming_leaves():
    pattern = re.compile(NOT_BLANK)
    for char in _code_points():
        blank = char.strip() == "" or char == "\x00"
        assert (pattern.fullmatch(f" {char} ") is None) == blank, f"U+{ord(char):04X}"
    title = {"description": "d", "body": "b"}
    assert not _valid(NewArticle, title="  \u3000 ", **title)
    assert _valid(NewArticle, title=" a ", **title)


def test_email_pattern_refuses_what_email_validator_refuses():
    pattern = re.compile(EMAIL_PATTERN)
    for domain in SPECIAL_USE_DOMAIN_NAMES:
        for email in (f"jake@mail.{domain}", f"jake@mail.{domain.upper()}"):
            assert pattern.fullmatch(email) is None, email
            assert not _valid(NewUser, email=email), email
    for email in ("jake@example.com", "jake@test.example.org", "jake@local.example"):
        assert pattern.fullmatch(email), email
        assert _valid(NewUser, email=email), email


def test_no_nul():
    assert re.fullmatch(NO_NUL, "any text, even  \t blank")
    assert re.fullmatch(NO_NUL, "a\x00") is None


def test_null_is_refused_in_the_document_where_the_service_refuses_it():
    schema = UserChanges.model_json_schema()["properties"]
    assert schema["username"]["type"] == "string"
    assert {"type": "null"} in schema["bio"]["anyOf"]
    assert UserChanges.model_validate({}).changes() == {}  # left out is still "unchanged"


def _accepts(rule, value: str) -> bool:
    try:
        rule(value)
    except ValueError:
        return False
    return True


def _valid(model: type[BaseModel], **fields: str) -> bool:
    values = {"username": "jake", "email": "jake@example.com", "password": "long enough", **fields}
    if model is NewArticle:
        values = fields
    try:
        model.model_validate(values)
    except ValidationError:
        return False
    return True


@settings(max_examples=300, database=None, deadline=None)
@given(IMAGE_URLS)
def test_the_fuzz_runs_image_urls_are_accepted(url: str):
    """tests/fuzz/hooks.py generates `http-url` values from a strategy: each one must pass
    the validator and the pattern, or the fuzz run reports the server refusing valid data."""
    assert _valid(UserChanges, image=url), url
    assert re.fullmatch(IMAGE_PATTERN, url), url


@settings(max_examples=300, database=None, deadline=None)
@given(WEBHOOK_URLS)
def test_the_fuzz_runs_webhook_urls_are_accepted(url: str):
    """The `webhook-url` values of the fuzz run: the pattern's, and callable (a public address
    as the host, so no DNS is needed)."""
    assert re.fullmatch(URL_PATTERN, url), url
    check_url_shape(url)
    check_address(ipaddress.ip_address(urlsplit(url).hostname or ""), allow_private=False)
