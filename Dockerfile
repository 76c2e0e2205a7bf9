# The service image: `docker build -t conduit .`, then see README "Docker".
# Build stage: dependencies from uv.lock in a cached layer, then the code.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==0.13.8"
WORKDIR /app
# Only the lock and the project file: this layer is rebuilt when dependencies change.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-default-groups --no-install-project
COPY asgi.py hypercorn.toml ./
COPY service ./service
COPY migrations ./migrations

# Runtime stage: no compilers, no uv, a non-root user, tini as PID 1.
FROM ${PYTHON_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production
# No PROMETHEUS_MULTIPROC_DIR: the launcher makes one for its workers, and one-off commands
# (alembic, create-admin) keep their metrics in memory instead of needing that folder.
USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
# The port the launcher binds: PORT, else hypercorn.toml's bind (as service/serve.py decides).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, sys, tomllib, urllib.request; port = os.environ.get('PORT') or tomllib.load(open('hypercorn.toml', 'rb'))['bind'][0].rpartition(':')[2]; sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2).status != 200)"]
# tini reaps children and passes SIGTERM on; the launcher drains every worker before exiting.
# Migrations are a one-off needing only the database: docker run --rm -e DATABASE_URL=... IMAGE
# alembic upgrade head (compose.yaml's `migrate` service).
ENTRYPOINT ["tini", "--"]
CMD ["python", "-m", "service.serve", "--config", "hypercorn.toml"]
