"""compose.yaml, checked without a Docker engine (none runs here).

Against the Compose Specification's JSON schema (vendored in tests/schemas/), with Compose's
variable interpolation replayed, and the `migrate` service's command run for real the way the
container would run it: the image's environment plus the service's, which is DATABASE_URL alone.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from sqlalchemy.engine import make_url

from service.config import Settings
from tests.conftest import create_postgres_database
from tests.live import ROOT
from tests.serving.test_container_command import final_stage

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "compose-spec.json"
SECRETS = {"SECRET_KEY": "k" * 48, "POSTGRES_PASSWORD": "pw0123456789"}
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; $$ is a dollar.
_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


class MissingVariable(Exception):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's interpolation of every string in the file (the forms this file may use)."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        present = name in env and (env[name] != "" or not (op or "").startswith(":"))
        if present:
            return env[name]
        if op in (":?", "?"):
            raise MissingVariable(f"{name}: {arg}")
        return arg if op in (":-", "-") else ""

    return _VARIABLE.sub(one, value)


def load() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_file_follows_the_compose_specification():
    schema = json.loads(SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    for document in (load(), interpolate(load(), SECRETS)):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
        assert errors == []


def test_no_secret_is_written_in_the_file():
    text = (ROOT / "compose.yaml").read_text()
    for name in SECRETS:
        # Every use of a secret is a required variable: compose stops, naming it, when unset.
        uses = re.findall(rf"\$\{{{name}(:?[-?])?", text)
        assert uses, name
        assert all(op == ":?" for op in uses), (name, uses)
    for name in SECRETS:
        with pytest.raises(MissingVariable, match=name):
            interpolate(load(), {k: v for k, v in SECRETS.items() if k != name})
    resolved = interpolate(load(), SECRETS)
    for service in resolved["services"].values():
        for key, value in (service.get("environment") or {}).items():
            if re.search("SECRET|PASSWORD|TOKEN", key):
                assert value in SECRETS.values(), (key, value)


def test_services_start_in_order_with_health_checks():
    services = interpolate(load(), SECRETS)["services"]
    assert set(services) >= {"api", "migrate", "db", "redis"}
    api, migrate = services["api"], services["migrate"]
    assert api["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert api["depends_on"]["db"] == {"condition": "service_healthy"}
    assert api["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert migrate["depends_on"]["db"] == {"condition": "service_healthy"}
    assert migrate["restart"] == "no"
    assert api["image"] == migrate["image"]
    for name in ("db", "redis"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    # The api's health check is the image's, which follows PORT (test_container_command).
    assert "healthcheck" not in api
    assert final_stage((ROOT / "Dockerfile").read_text())["healthcheck"]
    assert api["environment"]["PORT"] == "8000"
    assert api["ports"] == ["127.0.0.1:8000:8000"]
    assert interpolate(load(), SECRETS | {"PORT": "9000"})["services"]["api"]["ports"] == [
        "127.0.0.1:9000:8000"
    ]
    # Both reach the one database compose starts, with the password given.
    for service in (api, migrate):
        url = make_url(service["environment"]["DATABASE_URL"])
        assert (url.drivername, url.host, url.port, url.database) == (
            "postgresql+asyncpg",
            "db",
            5432,
            "conduit",
        )
        assert url.password == SECRETS["POSTGRES_PASSWORD"]
    assert api["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    # The job worker: the same image and environment, its own command, after the migration.
    worker = services["worker"]
    assert worker["image"] == api["image"]
    assert worker["command"] == ["python", "-m", "service.worker"]
    assert worker["depends_on"] == api["depends_on"]
    assert worker["environment"]["DATABASE_URL"] == api["environment"]["DATABASE_URL"]
    assert worker["healthcheck"] == {"disable": True}
    assert "ports" not in worker


async def test_migrate_service_runs_with_only_its_environment(settings: Settings, tmp_path: Path):
    """The `migrate` command as the container runs it: the image's ENV and DATABASE_URL alone."""
    migrate = interpolate(load(), SECRETS)["services"]["migrate"]
    assert set(migrate["environment"]) == {"DATABASE_URL"}
    if settings.is_sqlite:
        url = f"sqlite+aiosqlite:///{tmp_path / 'compose.db'}"
    else:  # the same server and driver as compose's db service, a database of its own
        target = make_url(settings.database_url)
        url = target.set(database=f"{target.database}_compose").render_as_string(False)
        await create_postgres_database(url)
    image_env = final_stage((ROOT / "Dockerfile").read_text())["env"]
    env = {
        key: value.replace("/app/.venv/bin", str(Path(sys.executable).parent)).replace(
            "$PATH", os.environ["PATH"]
        )
        for key, value in image_env.items()  # type: ignore[union-attr]
    }
    env["DATABASE_URL"] = url
    result = _run(migrate["command"], env)
    assert result.returncode == 0, result.stderr
    assert env["APP_ENV"] == "production"
    assert "SECRET_KEY" not in env


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
