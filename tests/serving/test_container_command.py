"""The image's start command, proven without a Docker engine.

The Dockerfile's build is replayed on disk (its files, a venv synced from uv.lock with the
same flags, on a system Python a non-root user can run), then its ENTRYPOINT + CMD run
exactly as written, as the image's non-root user, with the image's environment: the one-off
migration first, then the server, which must answer, run as that user, and stop on SIGTERM.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from service.config import Settings
from tests.conftest import create_postgres_database
from tests.live import ROOT, free_port, wait_ready

SYSTEM_PYTHON = "/usr/bin/python3"  # /root, where the dev Python lives, is closed to others


def final_stage(dockerfile: str) -> dict[str, object]:
    """ENTRYPOINT, CMD, ENV, USER, WORKDIR and the build stage's COPY sources."""
    text = dockerfile.replace("\\\n", " ")
    stages: list[list[tuple[str, str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((word.upper(), rest.strip()))
    build, final = stages[0], stages[-1]
    env: dict[str, str] = {}
    for word, rest in final:
        if word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    pick = {
        word: rest
        for word, rest in final
        if word in {"ENTRYPOINT", "CMD", "USER", "WORKDIR", "HEALTHCHECK"}
    }
    copies = [rest.split()[:-1] for word, rest in build if word == "COPY"]
    return {
        "entrypoint": json.loads(pick["ENTRYPOINT"]),
        "cmd": json.loads(pick["CMD"]),
        "healthcheck": json.loads(pick["HEALTHCHECK"].partition(" CMD ")[2]),
        "user": pick["USER"],
        "workdir": pick["WORKDIR"],
        "env": env,
        "copies": [src for sources in copies for src in sources],
    }


@pytest.fixture
def image_root():
    """A world-readable folder standing in for the image's filesystem."""
    path = Path(tempfile.mkdtemp(prefix="conduit-image-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def build(image: dict[str, object], root: Path) -> Path:
    app = root / "app"
    app.mkdir()
    for source in image["copies"]:  # type: ignore[union-attr]
        src = ROOT / source
        if src.is_dir():
            shutil.copytree(src, app / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, app / source)
    uv = ROOT / ".tools" / "bin" / "uv"
    subprocess.run(
        [
            str(uv),
            "sync",
            "--locked",
            "--no-default-groups",
            "--no-install-project",
            "--python",
            SYSTEM_PYTHON,
            "--quiet",
        ],
        cwd=app,
        check=True,
        timeout=300,
        env={
            **os.environ,
            "UV_PROJECT_ENVIRONMENT": str(app / ".venv"),
            "UV_PYTHON_DOWNLOADS": "never",
        },
    )
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o755 if path.is_dir() else path.stat().st_mode | 0o444)
    return app


def as_user(user: str, argv: list[str]) -> list[str]:
    uid, _, gid = user.partition(":")
    return ["setpriv", f"--reuid={uid}", f"--regid={gid or uid}", "--clear-groups", *argv]


@pytest.fixture
async def image_database(settings: Settings) -> str:
    """An empty PostgreSQL database of its own (the image's commands write to it), or ''."""
    if settings.is_sqlite:
        return ""
    target = make_url(settings.database_url)
    url = target.set(database=f"{target.database}_image").render_as_string(False)
    await create_postgres_database(url)
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()
    return url


def test_image_command_runs_as_non_root_and_stops_on_sigterm(image_root, image_database):
    image = final_stage((ROOT / "Dockerfile").read_text())
    assert image["user"] != "root"
    assert not str(image["user"]).startswith("0")
    assert image["entrypoint"][0] == "tini"
    app = build(image, image_root)
    if not image_database:
        data = image_root / "data"
        data.mkdir()
        data.chmod(0o777)
        database_url = f"sqlite+aiosqlite:///{data / 'conduit.db'}"
    else:
        database_url = image_database
    port = free_port()
    env = {
        key: value.replace("/app", str(app)).replace("$PATH", "/usr/bin:/bin")
        for key, value in image["env"].items()  # type: ignore[union-attr]
    }
    env["HOME"] = str(image_root)  # nothing else: the image's environment as it is
    workdir = str(image["workdir"]).replace("/app", str(app))
    user = str(image["user"])

    # The documented one-off migration, with nothing but the database's address:
    # docker run --rm -e DATABASE_URL=... IMAGE alembic upgrade head
    migrate = subprocess.run(
        as_user(user, [*image["entrypoint"], "alembic", "upgrade", "head"]),  # type: ignore[misc]
        cwd=workdir,
        env=env | {"DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr

    env |= {
        "SECRET_KEY": "x" * 48,  # what `docker run -e` supplies in production
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
    }
    # The first admin, as the README says: docker run ... IMAGE python -m service create-admin
    admin = subprocess.run(
        as_user(
            user,
            [
                *image["entrypoint"],  # type: ignore[misc]
                "python",
                "-m",
                "service",
                "create-admin",
                "--username",
                "boss",
                "--email",
                "boss@example.com",
                "--password-stdin",
            ],
        ),
        cwd=workdir,
        env=env,
        input="a long admin password\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert admin.returncode == 0, admin.stderr
    log = image_root / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            as_user(user, [*image["entrypoint"], *image["cmd"]]),  # type: ignore[misc]
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, server, log, timeout=60)
        with urllib.request.urlopen(url + "/readyz", timeout=5) as response:  # noqa: S310
            assert response.status == 200
        uids = _worker_uids(server.pid)
        assert uids, "no worker processes found"
        assert all(uid == int(user.split(":")[0]) for uid in uids), uids
        # Docker runs the HEALTHCHECK in the container, with its environment: it follows PORT.
        healthy = _healthcheck(image, user, workdir, env)
        assert healthy.returncode == 0, healthy.stderr
        elsewhere = _healthcheck(image, user, workdir, env | {"PORT": str(free_port())})
        assert elsewhere.returncode == 1, elsewhere.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    assert code == 0, log.read_text()

    # The job worker from the same image: docker run IMAGE python -m service.worker
    worker_log = image_root / "worker.log"
    with worker_log.open("wb") as out:
        worker = subprocess.Popen(
            as_user(user, [*image["entrypoint"], "python", "-m", "service.worker"]),  # type: ignore[misc]
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "worker_started" not in worker_log.read_text(errors="replace"):
            assert worker.poll() is None, worker_log.read_text()
            assert time.monotonic() < deadline, worker_log.read_text()
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
    assert code == 0, worker_log.read_text()


def _healthcheck(
    image: dict[str, object], user: str, workdir: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        as_user(user, image["healthcheck"]),  # type: ignore[arg-type]
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _worker_uids(pid: int) -> list[int]:
    """Real uids of every process under `pid` (tini, the launcher, its workers)."""
    uids, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        uids.append(int(uid_line.split()[1]))
        frontier.extend(int(child) for child in children)
    return uids
