"""Schemathesis hooks for the fuzz run (loaded through schemathesis.toml's `hooks`).

The `username` and `http-url` formats: what `service.schemas.users` accepts, which a JSON Schema
pattern can only approximate (printable means Unicode letters, marks, numbers, punctuation and
symbols).

The runs with a token (FUZZ_USER_ID set by tests/fuzz/test_schemathesis.py) take a new one
for every case: the run itself signs its account out everywhere (POST /api/user/logout-all),
changes its password (PUT /api/user) and, as an admin, may demote itself (POST
/api/users/{id}); one token given on the command line would answer 401 or 403 from then on,
and the rest of the run would test nothing behind the login. So each case gets a token for
the account's current credentials version, as a fresh login would, with its role as it was.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

import schemathesis
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service.crypto import TokenCodec
from service.errors import IDEMPOTENCY_KEY
from service.schemas.users import IMAGE_FORMAT, USERNAME_FORMAT, USERNAME_MAX
from service.schemas.webhooks import URL_FORMAT

USERNAME_CHARACTERS = st.characters(
    categories=("L", "M", "N", "P", "S"), exclude_characters="/", codec="utf-8"
)

schemathesis.openapi.format(
    USERNAME_FORMAT, st.text(USERNAME_CHARACTERS, min_size=1, max_size=USERNAME_MAX)
)

HOST_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,14}[a-z0-9])?"
IMAGE_URLS = st.one_of(
    st.just(""),
    st.builds(
        "{}://{}/{}".format,
        st.sampled_from(["http", "https", "HTTPS", "hTtP"]),
        st.from_regex(rf"{HOST_LABEL}(?:\.{HOST_LABEL}){{0,3}}", fullmatch=True),
        st.text(st.characters(categories=("L", "M", "N", "P", "S"), codec="utf-8"), max_size=40),
    ),
)

schemathesis.openapi.format(IMAGE_FORMAT, IMAGE_URLS)

# Public addresses as literals: names would need DNS, which CI does not have.
PUBLIC_IPS = st.ip_addresses(v=4).filter(lambda ip: ip.is_global)
WEBHOOK_URLS = st.builds(
    "{}://{}{}/{}".format,
    st.sampled_from(["http", "https", "HTTPS"]),
    PUBLIC_IPS,
    st.one_of(st.just(""), st.integers(1, 65535).map(":{}".format)),
    st.text(st.characters(categories=("L", "M", "N", "P", "S"), codec="utf-8"), max_size=40),
)

schemathesis.openapi.format(URL_FORMAT, WEBHOOK_URLS)

VALID_KEY = re.compile(r"[\x20-\x7e]{1,255}")


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    """A valid Idempotency-Key becomes a new one on every request. Generated cases send one key
    with many bodies, which the server rightly refuses (422, reused) however valid the body:
    what a key may do depends on what came before, which no schema can say. Replays and reuse
    have their own tests (tests/api/test_idempotency.py); an invalid key is left as it is."""
    key = (case.headers or {}).get(IDEMPOTENCY_KEY)
    if isinstance(key, str) and VALID_KEY.fullmatch(key):
        case.headers = {**case.headers, IDEMPOTENCY_KEY: str(uuid.uuid4())}


SYNC_DRIVERS = {"postgresql": "postgresql+psycopg", "sqlite": "sqlite"}

if os.environ.get("FUZZ_USER_ID"):
    USER_ID = int(os.environ["FUZZ_USER_ID"])
    ROLE = os.environ["FUZZ_USER_ROLE"]
    url = make_url(os.environ["DATABASE_URL"])
    ENGINE = create_engine(url.set(drivername=SYNC_DRIVERS[url.get_backend_name()]))
    TOKENS = TokenCodec(os.environ["SECRET_KEY"], ttl_seconds=3600)
    RESTORE_ROLE = text(
        "UPDATE users SET role = :role WHERE id = :id RETURNING credentials_version"
    )

    @schemathesis.auth(refresh_interval=None)  # a token per case, never a cached one
    class CurrentToken:
        def get(self, case: Any, ctx: Any) -> str:
            with ENGINE.begin() as connection:
                version = connection.execute(
                    RESTORE_ROLE, {"role": ROLE, "id": USER_ID}
                ).scalar_one()
            return TOKENS.issue(USER_ID, version=version)

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Token {data}"}
