"""The production launcher: `python -m service.serve`, hypercorn's own API with a drain that holds.

Stock `hypercorn --config hypercorn.toml asgi:app` with several workers drops in-flight requests
on SIGTERM: its parent returns when the first worker exits and terminates the rest, which have no
SIGTERM handler. Here the parent owns the listening sockets and the signals; workers ignore
SIGTERM/SIGINT and serve until the parent sets a shared shutdown event. On SIGTERM or SIGINT
the parent closes its copies of the sockets and sets the event; each worker marks its app as
draining (/readyz answers 503), stops accepting (once every process has closed the socket, new
connections are refused, not left queued), finishes what is in flight within
`graceful_timeout`, disposes its database pool, and exits. A worker that crashes is replaced.

`hypercorn.toml` stays the one source of settings; `WEB_CONCURRENCY` overrides `workers`, and
`--bind` (or `PORT`) the address. Prometheus runs in multiprocess mode: the launcher gives
the workers a fresh `PROMETHEUS_MULTIPROC_DIR` (or clears the one it is given).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from multiprocessing import get_context
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from hypercorn.config import Config, Sockets

log = logging.getLogger("service.serve")

WORKERS_ENV = "WEB_CONCURRENCY"
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
RESTART_BACKOFF_SECONDS = 1.0


def load_config(path: str, bind: list[str] | None, workers: int | None, app: str) -> Config:
    config = Config.from_toml(path)
    config.application_path = app
    if bind:
        config.bind = bind
    elif os.environ.get("PORT"):  # the platform's port (Heroku-style), on every interface
        config.bind = [f"0.0.0.0:{os.environ['PORT']}"]
    from_env = os.environ.get(WORKERS_ENV)
    if workers is None and from_env:
        try:
            workers = int(from_env)
        except ValueError:
            raise SystemExit(f"{WORKERS_ENV} must be a whole number, not {from_env!r}") from None
    if workers is not None:
        if workers < 1:
            raise SystemExit("workers must be at least 1")
        config.workers = workers
    config.workers = max(1, config.workers)
    return config


def _worker(config: Config, sockets: Sockets, shutdown: Event) -> None:
    """One worker process: serve until the parent sets `shutdown`."""
    # The parent decides when to stop; a signal here would cut requests short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    import asyncio

    from hypercorn.asyncio.run import worker_serve
    from hypercorn.utils import load_application

    app = load_application(config.application_path, config.wsgi_max_body_size)

    async def shutdown_trigger() -> None:
        # A process-shared event: wait for it in a thread, not by polling the loop.
        await asyncio.to_thread(shutdown.wait)
        # /readyz answers 503 from here on, on connections still open.
        extensions = getattr(app, "extensions", None)
        if isinstance(extensions, dict):
            extensions["draining"] = True

    loop_factory: Any = None
    if config.worker_class == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(worker_serve(app, config, sockets=sockets, shutdown_trigger=shutdown_trigger))
    _mark_metrics_dead()


def _mark_metrics_dead() -> None:
    if os.environ.get(METRICS_DIR_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def _prepare_metrics_dir() -> Path | None:
    """A clean multiprocess directory; made here (and removed at exit) when none is given."""
    given = os.environ.get(METRICS_DIR_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return None
    made = Path(tempfile.mkdtemp(prefix="conduit-metrics-"))
    os.environ[METRICS_DIR_ENV] = str(made)
    return made


def serve(config: Config) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    made_metrics_dir = _prepare_metrics_dir()
    sockets = config.create_sockets()
    ctx = get_context("spawn")
    shutdown = ctx.Event()
    stopping = False

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        log.info('{"event": "shutdown", "signal": "%s"}', signal.Signals(signum).name)
        _close(sockets)  # workers close theirs as they start to drain
        shutdown.set()

    # Workers are spawned with the signals ignored, then the parent takes them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def start() -> BaseProcess:
        process = ctx.Process(
            target=_worker, kwargs={"config": config, "sockets": sockets, "shutdown": shutdown}
        )
        process.start()
        return process

    workers = [start() for _ in range(config.workers)]
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(
        '{"event": "serving", "bind": "%s", "workers": %d, "pids": %s}',
        ",".join(config.bind),
        len(workers),
        [w.pid for w in workers],
    )

    exitcode = 0
    while not stopping:
        wait([w.sentinel for w in workers], timeout=1.0)
        for index, worker in enumerate(workers):
            if worker.exitcode is not None and not stopping:
                log.error(
                    '{"event": "worker_died", "pid": %s, "exitcode": %s}',
                    worker.pid,
                    worker.exitcode,
                )
                worker.join()
                time.sleep(RESTART_BACKOFF_SECONDS)  # do not spin on a worker that cannot start
                if not stopping:
                    workers[index] = start()

    # Each worker finishes its in-flight requests within graceful_timeout, then exits.
    deadline = time.monotonic() + config.graceful_timeout + 10
    for worker in workers:
        worker.join(timeout=max(0.0, deadline - time.monotonic()))
        if worker.exitcode is None:
            log.error('{"event": "worker_stuck", "pid": %s}', worker.pid)
            worker.kill()
            worker.join()
            exitcode = 1
        elif worker.exitcode != 0:
            exitcode = worker.exitcode
    _close(sockets)
    if made_metrics_dir is not None:
        shutil.rmtree(made_metrics_dir, ignore_errors=True)
    log.info('{"event": "stopped", "exitcode": %d}', exitcode)
    return exitcode


def _close(sockets: Sockets) -> None:
    for sock in (*sockets.secure_sockets, *sockets.insecure_sockets, *sockets.quic_sockets):
        with contextlib.suppress(OSError):
            sock.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service.serve",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", default="hypercorn.toml", help="hypercorn settings file")
    parser.add_argument("--bind", action="append", help="address to listen on (repeatable)")
    parser.add_argument(
        "--workers", type=int, help=f"worker processes (default: {WORKERS_ENV} or hypercorn.toml)"
    )
    parser.add_argument("app", nargs="?", default="asgi:app", help="the ASGI app (module:name)")
    args = parser.parse_args(argv)
    config = load_config(args.config, args.bind, args.workers, args.app)
    return serve(config)


if __name__ == "__main__":
    sys.exit(main())
