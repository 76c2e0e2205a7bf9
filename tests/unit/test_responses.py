"""The response check the suite relies on: every JSON body must round-trip through its model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.config import load_config
from service.routes.responses import ResponseSchemaMismatch, check_body
from service.schemas.conduit import ProfileResponse, TagListResponse
from service.schemas.users import AccountResponse

PROFILE = {"profile": {"username": "a", "bio": None, "image": None, "following": False}}
ACCOUNT = {
    "user": {
        "id": 1,
        "email": "a@example.com",
        "username": "a",
        "bio": None,
        "image": None,
        "role": "user",
        "createdAt": "2026-11-25T09:00:00.123Z",
        "updatedAt": "2026-11-25T09:00:00.000Z",
    }
}


def test_a_described_body_passes():
    check_body(ProfileResponse, PROFILE)
    check_body(AccountResponse, ACCOUNT)
    check_body(TagListResponse, {"tags": ["a", "b"]})


@pytest.mark.parametrize(
    "body",
    [
        {"profile": {**PROFILE["profile"], "following": "no"}},  # wrong type
        {"profile": {k: v for k, v in PROFILE["profile"].items() if k != "bio"}},  # missing
        {"profile": {**PROFILE["profile"], "email": "leak@example.com"}},  # undocumented
        {"profile": {**PROFILE["profile"], "following": 1}},  # coerced: not the same body
    ],
)
def test_a_body_the_schema_does_not_describe_fails(body):
    with pytest.raises(ResponseSchemaMismatch):
        check_body(ProfileResponse, body)


@pytest.mark.parametrize(
    "stamp", ["2026-11-25T09:00:00.123456Z", "2026-11-25T09:00:00Z", "2026-11-25T09:00:00.123"]
)
def test_timestamps_must_have_milliseconds_and_z(stamp):
    body = {"user": {**ACCOUNT["user"], "createdAt": stamp}}
    with pytest.raises(ResponseSchemaMismatch):
        check_body(AccountResponse, body)


def test_checked_where_code_changes_not_in_production():
    assert load_config("testing").validate_responses
    assert load_config("development").validate_responses
    deployed = load_config(
        "production", secret_key="x" * 64, database_url="postgresql+asyncpg://h/db"
    )
    assert not deployed.validate_responses


def test_naive_and_offset_times_format_as_utc():
    from service.schemas.base import format_timestamp

    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, 678901)) == "2026-01-02T03:04:05.678Z"
    aware = datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=UTC)
    assert format_timestamp(aware) == "2026-01-02T03:04:05.999Z"


def test_remembered_timestamps_stay_per_instant():
    """format_timestamp remembers what it formatted: the same instant in another zone is the
    same text, and a naive time (UTC) never takes an aware one's text for the same wall time."""
    from datetime import timedelta, timezone

    from service.schemas.base import format_timestamp

    plus_two = timezone(timedelta(hours=2))
    assert (
        format_timestamp(datetime(2026, 5, 1, 9, 0, tzinfo=plus_two)) == "2026-05-01T07:00:00.000Z"
    )
    assert format_timestamp(datetime(2026, 5, 1, 9, 0)) == "2026-05-01T09:00:00.000Z"
    assert format_timestamp(datetime(2026, 5, 1, 7, 0, tzinfo=UTC)) == "2026-05-01T07:00:00.000Z"
    assert (
        format_timestamp(datetime(2026, 5, 1, 9, 0, tzinfo=plus_two)) == "2026-05-01T07:00:00.000Z"
    )
