"""Schemathesis against a live server: every operation of /openapi.json, with every check,
anonymous, as a user and as an admin (a fresh token per case: tests/fuzz/hooks.py). Any server
error, undocumented status, content type or header, body that breaks its schema, request the
server refuses though the document allows it (or takes though the document forbids it) fails
the test, with schemathesis' report.

Not part of `make test` (the `fuzz` mark): `make fuzz` runs it, on PostgreSQL in a database
of its own. A fixed seed and a bounded number of examples keep it to a few minutes on 2 cores;
FUZZ_SEED, FUZZ_MAX_EXAMPLES and FUZZ_PHASES (schemathesis' phases, comma-separated; for the
anonymous run FUZZ_ANONYMOUS_PHASES, by default the same) change them. .ci/run takes a smaller
budget: 3 examples, and the coverage phase (the costliest) in the anonymous run only.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.factories import MadeUser, UserFactory
from tests.live import BIN, ROOT, live_server

pytestmark = pytest.mark.fuzz

SEED = int(os.environ.get("FUZZ_SEED", "20261201"))
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "10"))
PHASES = os.environ.get("FUZZ_PHASES", "examples,coverage,fuzzing,stateful")
ANONYMOUS_PHASES = os.environ.get("FUZZ_ANONYMOUS_PHASES", PHASES)
CONFIG = Path(__file__).with_name("schemathesis.toml")
REPORTS = ROOT / "test-output" / "fuzz"


def schemathesis(
    url: str, name: str, account: MadeUser | None, server_env: dict[str, str]
) -> tuple[int, str]:
    argv = [
        str(BIN / "schemathesis"),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--phases",
        PHASES if account is not None else ANONYMOUS_PHASES,
        "--workers",
        "1",
        "--continue-on-failure",
        "--generation-database",
        "none",
        "--report",
        "junit",
        "--report-junit-path",
        str(REPORTS / f"{name}.xml"),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the hooks module, tests.fuzz.hooks
    if account is not None:  # the hooks give each case a token of this account
        env |= {
            "FUZZ_USER_ID": str(account.id),
            "FUZZ_USER_ROLE": account.user.role,
            "DATABASE_URL": server_env["DATABASE_URL"],
            "SECRET_KEY": server_env["SECRET_KEY"],
        }
    result = subprocess.run(
        argv,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    (REPORTS / f"{name}.txt").write_text(output)
    return result.returncode, output


async def test_schemathesis_finds_nothing(tmp_path, settings, app):
    REPORTS.mkdir(parents=True, exist_ok=True)
    env = {
        "APP_ENV": "testing",
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key.get_secret_value(),
        # Failed logins are part of the run; the limits have their own tests.
        "LOGIN_RATE_LIMIT_PER_ACCOUNT": "1000000",
        "LOGIN_RATE_LIMIT_PER_ADDRESS": "1000000",
    }
    users = UserFactory(app)
    user = await users.make(username="fuzzer", email="fuzzer@example.com")
    admin = await users.admin(username="fuzzadmin", email="fuzzadmin@example.com")
    failed = []
    with live_server(tmp_path, env) as server:
        # Something to find: an article with a comment, so slugs and ids can hit.
        async with httpx.AsyncClient(base_url=server.url, headers=user.headers) as http:
            article = {"title": "Fuzzing", "description": "d", "body": "b", "tagList": ["t"]}
            created = await http.post("/api/articles", json={"article": article})
            assert created.status_code == 201, created.text
            slug = created.json()["article"]["slug"]
            comment = {"comment": {"body": "first"}}
            commented = await http.post(f"/api/articles/{slug}/comments", json=comment)
            assert commented.status_code == 201, commented.text
        for name, account in (("anonymous", None), ("user", user), ("admin", admin)):
            code, output = schemathesis(server.url, name, account, env)
            if code != 0:
                failed.append(f"--- schemathesis as {name} (exit {code}):\n{_findings(output)}")
    # The `app` fixture empties the tables afterwards.
    assert not failed, "\n\n".join(failed) + f"\n\nFull reports in {REPORTS}"


def _findings(output: str) -> str:
    """The report from its FAILURES/ERRORS sections on (the progress lines are noise)."""
    for marker in ("= ERRORS =", "= FAILURES ="):
        index = output.find(marker)
        if index != -1:
            return output[output.rfind("\n", 0, index) + 1 :]
    return output[-6000:]
