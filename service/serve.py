"""The production launcher: `python -m service.serve`, hypercorn's protocol stack with a drain
that holds.

Stock `hypercorn --config hypercorn.toml asgi:app` with several workers drops in-flight requests
on SIGTERM: its parent returns when the first worker exits and terminates the rest, which have no
SIGTERM handler. Here the launcher owns the listening sockets and the signals; workers ignore
SIGTERM/SIGINT and serve until the launcher closes its end of their pipe (one per worker, so a
worker killed outright can block nobody; `service/serve_worker.py` says how a worker drains).
On SIGTERM or SIGINT every worker drains and exits; the launcher exits 0 after the last one.

It also refuses to start on a bad configuration (one line naming every wrong variable, exit 2),
replaces a worker that dies (marking its Prometheus gauges dead), and gives up (exit 3) when
workers die before serving several times in a row, instead of restarting them forever.

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
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from hypercorn.config import Config, Sockets

from service import serve_worker
from service.config import ConfigError
from service.config import load_config as load_settings

log = logging.getLogger("service.serve")

WORKERS_ENV = "WEB_CONCURRENCY"
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
DRAIN_WINDOW_ENV = "DRAIN_WINDOW_SECONDS"
# After SIGTERM, keep answering (with `Connection: close`) on open connections this long.
DRAIN_WINDOW_SECONDS = 1.0
RESTART_BACKOFF_SECONDS = 0.5
# A worker that dies before it serves, this many times in a row, will not start: give up.
MAX_FAILED_STARTS = 5


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


def _mark_metrics_dead(pid: int | None) -> None:
    """A reaped worker's live gauges (in flight, pool in use) stop counting."""
    if pid is not None and os.environ.get(METRICS_DIR_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


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


@dataclass
class Worker:
    process: BaseProcess
    pipe: Connection  # the launcher's end; closing it tells the worker to drain
    started: float
    ready: bool = False


def serve(config: Config, drain_window: float = DRAIN_WINDOW_SECONDS) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    made_metrics_dir = _prepare_metrics_dir()
    socket_sets = worker_sockets(config)
    ctx = get_context("spawn")
    stopping = False
    workers: list[Worker] = []

    def drain_all() -> None:
        for sockets in socket_sets:
            _close(sockets)  # workers close theirs after emptying the accept queue
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.pipe.close()

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        log.info('{"event": "shutdown", "signal": "%s"}', signal.Signals(signum).name)
        drain_all()

    # Workers are spawned with the signals ignored, then the launcher takes them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def start(index: int) -> Worker:
        ours, theirs = ctx.Pipe()
        process = ctx.Process(
            target=serve_worker.run,
            kwargs={
                "config": config,
                "sockets": socket_sets[index],
                "conn": theirs,
                "drain_window": drain_window,
            },
        )
        process.start()
        theirs.close()  # the worker's end lives in the worker only
        return Worker(process, ours, time.monotonic())

    workers.extend(start(index) for index in range(config.workers))
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(
        '{"event": "serving", "bind": "%s", "workers": %d, "pids": %s}',
        ",".join(config.bind),
        len(workers),
        [w.process.pid for w in workers],
    )

    exitcode = 0
    failed_starts = 0  # workers in a row that died before they were serving
    while not stopping:
        waiting = [w.process.sentinel for w in workers] + [w.pipe for w in workers if not w.ready]
        wait(waiting, timeout=1.0)
        for index, worker in enumerate(workers):
            if stopping:
                break
            if not worker.ready and _says_ready(worker.pipe):
                worker.ready = True
                failed_starts = 0
                log.info('{"event": "worker_ready", "pid": %s}', worker.process.pid)
            if worker.process.exitcode is None:
                continue
            worker.process.join()
            worker.pipe.close()
            _mark_metrics_dead(worker.process.pid)
            log.log(
                logging.INFO if worker.process.exitcode == 0 else logging.ERROR,
                '{"event": "worker_exited", "pid": %s, "exitcode": %s, "was_serving": %s}',
                worker.process.pid,
                worker.process.exitcode,
                "true" if worker.ready else "false",
            )
            if not worker.ready:
                failed_starts += 1
            if failed_starts >= MAX_FAILED_STARTS:
                log.error(
                    '{"event": "giving_up", "reason": "%d workers in a row died while '
                    'starting; see the lines above"}',
                    failed_starts,
                )
                stopping = True
                exitcode = 3
                drain_all()
                break
            # A worker that was serving is replaced at once; one that cannot start is retried
            # after 0.5 s, 1 s, 2 s, ... up to 10 s.
            pause = 0.0 if worker.ready else RESTART_BACKOFF_SECONDS * 2 ** (failed_starts - 1)
            pause_until = time.monotonic() + min(10.0, pause)
            while not stopping and time.monotonic() < pause_until:
                time.sleep(0.05)
            if not stopping:
                workers[index] = start(index)

    # Each worker finishes its in-flight requests within graceful_timeout, then exits.
    deadline = time.monotonic() + config.graceful_timeout + 10
    for worker in workers:
        worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
        if worker.process.exitcode is None:
            log.error('{"event": "worker_stuck", "pid": %s}', worker.process.pid)
            worker.process.kill()
            worker.process.join()
            exitcode = exitcode or 1
        elif worker.process.exitcode != 0 and worker.ready:
            exitcode = exitcode or worker.process.exitcode
        _mark_metrics_dead(worker.process.pid)
    for sockets in socket_sets:
        _close(sockets)
    if made_metrics_dir is not None:
        shutil.rmtree(made_metrics_dir, ignore_errors=True)
    log.info('{"event": "stopped", "exitcode": %d}', exitcode)
    return exitcode


def worker_sockets(config: Config) -> list[Sockets]:
    """The listening sockets of each worker: a set of its own when every address is a TCP
    host and port, bound beside the others' with SO_REUSEPORT (hypercorn sets it when there
    are several workers); else one set that all share.

    With one shared socket, whichever worker wakes first takes the whole queue: a burst of
    256 connections all went to one worker of two, the other idle. With a socket each, the
    kernel spreads new connections over the workers evenly. The launcher keeps every set
    open, so the connections queued for a worker that died wait for its replacement (same
    set, serving again within about 2 s) instead of being reset."""
    binds = [*config.bind, *config.insecure_bind]
    if config.workers == 1 or config.quic_bind or not all(map(_fixed_tcp_port, binds)):
        shared = config.create_sockets()
        return [shared] * config.workers
    return [config.create_sockets() for _ in range(config.workers)]


def _fixed_tcp_port(bind: str) -> bool:
    """host:port with a port other than 0 (each set binding port 0 would get its own)."""
    if bind.startswith(("unix:", "fd://")):
        return False
    _, _, port = bind.rpartition(":")
    return port.isdigit() and int(port) != 0


def _says_ready(pipe: Connection) -> bool:
    try:
        return pipe.poll() and pipe.recv_bytes() == serve_worker.READY
    except (EOFError, OSError):
        return False


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
    parser.add_argument(
        "--drain-window",
        type=float,
        help=f"seconds to keep answering open connections after SIGTERM "
        f"(default: {DRAIN_WINDOW_ENV} or {DRAIN_WINDOW_SECONDS})",
    )
    args = parser.parse_args(argv)
    config = load_config(args.config, args.bind, args.workers, args.app)
    try:
        # Before binding: a deployment that cannot work says why and stops, instead of
        # restarting workers that die on the same error.
        load_settings()
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        return 2
    return serve(config, _drain_window(args.drain_window))


def _drain_window(given: float | None) -> float:
    if given is None:
        raw = os.environ.get(DRAIN_WINDOW_ENV)
        try:
            given = float(raw) if raw else DRAIN_WINDOW_SECONDS
        except ValueError:
            raise SystemExit(f"{DRAIN_WINDOW_ENV} must be a number, not {raw!r}") from None
    if not 0 <= given <= 60:
        raise SystemExit("the drain window must be between 0 and 60 seconds")
    return given


if __name__ == "__main__":
    sys.exit(main())
