"""The `make run` supervisor (``python server.py dev``): the embedded
services, then the Procfile's web, worker and beat, each restarted when it
dies; Ctrl-C or SIGTERM stops them all in order, then the services."""
from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Callable

import settings

log = logging.getLogger("avantlush")


def procfile() -> dict[str, str]:
    entries = {}
    for line in (settings.ROOT / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and not line.startswith("#"):
            entries[name.strip()] = command.strip()
    return entries


def run_all(prepare: Callable[[], None], names: tuple[str, ...] = ("web", "worker", "beat")) -> int:
    """A small supervisor for `make run`: embedded services (unless the URLs are
    set), ``prepare()`` (server.py: migrations, demo data on an empty database),
    then the Procfile's web,
    worker and beat. A child that exits is started again after a short backoff
    (1 s, doubling up to 30 s while it keeps crashing), the others keep running.
    Ctrl-C or SIGTERM stops every child (each gets SHUTDOWN_GRACE_SECONDS to
    finish its work), then the embedded PostgreSQL and Redis, and waits for them."""
    import subprocess
    import time

    from models.core import embedded

    database_url, redis_url = settings.resolve_services()
    prepare()
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url, PYTHONUNBUFFERED="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    commands = procfile()
    children: dict[str, subprocess.Popen | None] = {}
    started: dict[str, float] = {}
    delay: dict[str, float] = {name: 0.0 for name in names}
    due: dict[str, float] = {}
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    def spawn(name: str) -> None:
        # Own session: the terminal's Ctrl-C reaches only us, and we stop the
        # children in order, then the services they use.
        # exec: the child is the process itself, not a shell that would exit on
        # SIGTERM before the process has finished its graceful shutdown.
        children[name] = subprocess.Popen("exec " + commands[name], shell=True, env=env, cwd=settings.ROOT,
                                          start_new_session=True)
        started[name] = time.monotonic()
        log.info("started %s (pid %d): %s", name, children[name].pid, commands[name])

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name in names:
        spawn(name)
    if _wait_for_web(children["web"]) if "web" in children else True:
        log.info("AvantLush is up on http://localhost:%s/api/ (docs: http://localhost:%s/api/docs/; "
                 "Ctrl-C stops everything)", settings.PORT, settings.PORT)
    while not stopping:
        now = time.monotonic()
        for name, child in children.items():
            if child is None:
                if now >= due[name] and not stopping:
                    spawn(name)
            elif child.poll() is not None:
                # Whatever it left behind (a killed Celery parent's pool
                # processes, a web parent's children) is asked to finish.
                _signal_group(child.pid, signal.SIGTERM)
                delay[name] = 1.0 if now - started[name] > 30 else min(30.0, max(1.0, delay[name] * 2))
                log.error("%s (pid %d) exited with code %s; restarting it in %.0fs",
                          name, child.pid, child.returncode, delay[name])
                children[name], due[name] = None, now + delay[name]
        time.sleep(0.1)
    log.info("stopping web, worker and beat (grace %.0fs)", settings.SHUTDOWN_GRACE_SECONDS)
    live = [child for child in children.values() if child is not None]
    for child in live:
        _signal_group(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + settings.SHUTDOWN_GRACE_SECONDS + 5
    for child in live:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("pid %d did not stop in time; killing it", child.pid)
            _signal_group(child.pid, signal.SIGKILL)
            child.wait()
    for child in live:  # leftovers of a group whose leader exited first
        _signal_group(child.pid, signal.SIGKILL)
    embedded.stop_all()  # waits for Redis to exit and PostgreSQL to shut down
    log.info("stopped")
    return 0


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_for_web(child, timeout: float = 120.0) -> bool:
    """Wait until the web process answers ``/api/``, so that the line saying
    where it is comes only once that URL works. False if it died first."""
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{settings.PORT}/api/", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.2)
    return False
