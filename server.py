"""AvantLush API server.

    python server.py                      serve (PORT, WEB_CONCURRENCY)
    python server.py migrate              apply database migrations
    python server.py schema               print the live schema (tables, columns, indexes, triggers, functions)
    python server.py create-admin --email E --password P
    python server.py seed [--products N] [--customers N] [--orders N]
    python server.py jobs [--retry ID…|failed]  background jobs pending or failed
    python server.py relay                the outbox relay alone (web processes run one unless OUTBOX_RELAY=0)
    python server.py dev                  what `make run` runs: services, migrations,
                                          demo data, then web + worker + beat
    python server.py mail [--last [N]] [--list]   development emails, decoded
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys

import tornado.httpserver
import tornado.httputil
import tornado.netutil
import tornado.web

import settings

log = logging.getLogger("avantlush")

MAX_BODY_BYTES = 12 * 1024 * 1024  # above the 5 MB image limit, so that limit answers with a clear 400


def setup_logging() -> None:
    from handlers.base import RequestIdFilter

    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s [%(process)d] [%(request_id)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.LOG_LEVEL)
    logging.getLogger("pgserver").setLevel(logging.WARNING)


def make_app(**overrides) -> tornado.web.Application:
    from handlers import all_routes
    from handlers.base import Application, NotFoundHandler
    from handlers.media import StaticHandler

    options = dict(
        default_handler_class=NotFoundHandler,
        static_path=str(settings.ROOT / "static"),
        static_url_prefix="/static/",
        static_handler_class=StaticHandler,
        compress_response=True,
        log_function=_log_request,
    )
    options.update(overrides)
    return Application(all_routes(), **options)


_access_log = logging.getLogger("avantlush.access")


def _log_request(handler: tornado.web.RequestHandler) -> None:
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if not _access_log.isEnabledFor(level):
        return
    rid = getattr(handler, "request_id", "-")
    _access_log.log(level, "%d %s %s %.1fms rid=%s", status, handler.request.method, handler.request.uri,
                    1000.0 * handler.request.request_time(), rid)


async def connect(bulk: bool = False) -> None:
    """Open the pool: the web's timeouts, or bulk work's (``bulk``: the commands)."""
    from models.db import db, init_db

    database_url, _ = settings.resolve_services()
    init_db(database_url, pool_size=settings.DB_POOL_SIZE, timeout=settings.db_timeout(bulk))
    await db.aio_connect()


async def disconnect() -> None:
    from models.db import db

    await db.aio_close()


class GracefulHTTPServer(tornado.httpserver.HTTPServer):
    """An HTTPServer that can drain: stop accepting, close idle keep-alive
    connections, let every request already received finish (its response says
    ``Connection: close``), then close what is left after the grace period."""

    def initialize(self, *args, **kwargs) -> None:
        super().initialize(*args, **kwargs)
        self._busy: dict = {}  # server connection -> its HTTP1Connection, while a request is in progress
        self._draining = False

    def start_request(self, server_conn, request_conn):
        self._busy.pop(server_conn, None)  # the previous request on this connection is done
        if self._draining:
            server_conn.stream.close()  # no new request on a kept-alive connection
        return _TrackedRequest(self, server_conn, request_conn, super().start_request(server_conn, request_conn))

    def on_close(self, server_conn) -> None:
        self._busy.pop(server_conn, None)
        super().on_close(server_conn)

    def in_flight(self) -> int:
        return len(self._busy)

    async def drain(self, grace: float) -> None:
        self._draining = True
        self.stop()  # stop accepting
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._connections and loop.time() < deadline:
            for conn in list(self._connections):
                request_conn = self._busy.get(conn)
                if request_conn is not None:
                    request_conn._disconnect_on_finish = True  # Tornado's own flag: "Connection: close", then close
                elif not _has_pending_bytes(conn.stream):
                    conn.stream.close()  # idle keep-alive connection
            await asyncio.sleep(0.05)
        if self._connections:
            log.warning("grace period over: closing %d connection(s)", len(self._connections))
        await self.close_all_connections()


def _has_pending_bytes(stream) -> bool:
    """A request is arriving on ``stream`` (read, or waiting in the socket)."""
    import socket

    if stream._read_buffer_size:
        return True
    try:
        return bool(stream.socket.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except (BlockingIOError, InterruptedError):
        return False
    except (OSError, AttributeError):
        return False


class _TrackedRequest(tornado.httputil.HTTPMessageDelegate):
    """Marks a connection busy from the moment a request's headers arrive."""

    def __init__(self, server, server_conn, request_conn, inner) -> None:
        self.server, self.server_conn, self.request_conn, self.inner = server, server_conn, request_conn, inner

    def headers_received(self, start_line, headers):
        self.server._busy[self.server_conn] = self.request_conn
        if self.server._draining:
            self.request_conn._disconnect_on_finish = True
        return self.inner.headers_received(start_line, headers)

    def data_received(self, chunk):
        return self.inner.data_received(chunk)

    def finish(self) -> None:
        self.inner.finish()

    def on_connection_close(self) -> None:
        self.server._busy.pop(self.server_conn, None)
        self.inner.on_connection_close()


async def serve(sockets: list) -> None:
    from models.catalog.engine import engine as search_engine
    from models.passwords import warm_up

    await connect()
    await warm_up()  # the dummy hash for unknown-email logins, at the configured cost
    await search_engine.ready()  # the search index, loaded before the first request
    # What is loaded by now lives as long as the process (modules, the search
    # index): out of the garbage collector's full passes, which would otherwise
    # walk every indexed product now and then in the middle of a request.
    gc.collect()
    gc.freeze()
    server = GracefulHTTPServer(make_app(), max_body_size=MAX_BODY_BYTES, xheaders=False)
    server.add_sockets(sockets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    relay = start_relay() if settings.OUTBOX_RELAY else None
    log.info("listening on port %s", settings.PORT)
    await stop.wait()
    log.info("shutting down: %d request(s) in flight, grace %.0fs", server.in_flight(),
             settings.SHUTDOWN_GRACE_SECONDS)
    await server.drain(settings.SHUTDOWN_GRACE_SECONDS)
    if relay is not None:
        await asyncio.get_running_loop().run_in_executor(None, relay.stop)
    await disconnect()


def start_relay():
    """The outbox relay, in a thread of this process (see models/outbox.py)."""
    from models.outbox import Relay

    return Relay(name=f"web-{os.getpid()}").start()


def cmd_relay(_args: argparse.Namespace) -> None:
    """Run only the outbox relay (when web processes run with OUTBOX_RELAY=0)."""
    import threading

    settings.resolve_services()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    relay = start_relay()
    stop.wait()
    relay.stop()


def cmd_serve(_args: argparse.Namespace) -> None:
    settings.check_production()
    settings.resolve_services()
    sockets = tornado.netutil.bind_sockets(settings.PORT)
    if settings.WEB_CONCURRENCY > 1:
        fork_workers(settings.WEB_CONCURRENCY)  # returns in each child
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(sockets))


def fork_workers(count: int) -> None:
    """Fork ``count`` web processes sharing the listening socket, each with its
    own event loop. Returns in the children; the parent supervises them:
    restarts a crashed one, and passes SIGTERM/SIGINT on, then waits."""
    import time

    def spawn() -> int:
        pid = os.fork()
        if pid == 0:
            # The child must not run the parent's handlers below (it may be
            # forked after they are installed); serve() installs its own.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _die_with_parent()
            return 0
        return pid

    children: set[int] = set()
    for _ in range(count):
        pid = spawn()
        if pid == 0:
            return
        children.add(pid)
    stopping = False

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        for child in children:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    restarts: list[float] = []
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        children.discard(pid)
        if stopping:
            continue
        log.warning("web process %d exited (status %d); starting another", pid, status)
        restarts = [t for t in restarts if t > time.monotonic() - 60] + [time.monotonic()]
        if len(restarts) > 20:
            log.error("web processes keep crashing; giving up")
            stop(signal.SIGTERM, None)
            continue
        pid = spawn()
        if pid == 0:
            return
        children.add(pid)
    sys.exit(0)


def _die_with_parent() -> None:
    """Linux: a web process gets SIGTERM if its supervising parent dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _run(coro_fn, *args):
    """Run a command's coroutine with bulk timeouts (a seed's or a migration's
    statements may rightly take minutes, far past a web request's limit)."""
    async def main():
        await connect(bulk=True)
        try:
            return await coro_fn(*args)
        finally:
            await disconnect()

    return asyncio.run(main())


def cmd_migrate(_args: argparse.Namespace) -> None:
    from models.migrate import migrate

    applied = _run(migrate)
    print("Applied: " + ", ".join(applied) if applied else "No migrations to apply.")


def cmd_schema(_args: argparse.Namespace) -> None:
    """Print the live schema: tables, columns, indexes, triggers, functions."""
    from models.migrate import describe_schema

    print(_run(describe_schema))


def cmd_create_admin(args: argparse.Namespace) -> None:
    from models.auth import create_admin
    from models.passwords import password_errors

    problems = password_errors(args.password)
    if problems:
        sys.exit("create-admin: " + " ".join(problems))
    user = _run(create_admin, args.email, args.password)
    print(f"Admin ready: {user.email} (id {user.id})")


def cmd_seed(args: argparse.Namespace) -> None:
    """Seed in committed batches; a failure or Ctrl-C ends with one line, and
    the same command run again continues where it stopped."""
    from models.seed import failure_line, seed

    for name in ("products", "customers", "orders"):
        if getattr(args, name) < 0:
            sys.exit(f"seed: --{name} must be 0 or more")
    try:
        _run(seed, args.products, args.customers, args.orders, True)
    except (Exception, KeyboardInterrupt) as exc:  # one clear line, not a traceback
        log.debug("seed failed", exc_info=True)
        sys.exit(failure_line(exc))


def cmd_jobs(args: argparse.Namespace) -> None:
    """List background jobs not done yet (pending, in the broker, running,
    retrying, failed); --retry queues failed (or given) jobs again."""
    from models import outbox

    if args.retry is not None:
        try:
            changed = _run(outbox.retry_jobs, None if args.retry == ["failed"] else args.retry)
        except ValueError as exc:
            sys.exit(f"jobs: {exc}")
        print(f"Queued again: {changed} job(s).")
        return
    counts = _run(outbox.job_counts)
    print("Jobs by state: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none"))
    rows = _run(outbox.unfinished_and_failed, args.limit)
    if not rows:
        print("Nothing pending or failed.")
        return
    for job_id, task, state, created, due, published, runs, error, job_args in rows:
        print(f"{job_id}  {state:<9} {task}{tuple(job_args)!r}  created {created:%Y-%m-%d %H:%M:%S}"
              f"  due {due:%H:%M:%S}  published {published}x  ran {runs}x" + (f"\n    last error: {error}" if error else ""))


def cmd_dev(_args: argparse.Namespace) -> None:
    sys.exit(run_all())


def procfile() -> dict[str, str]:
    entries = {}
    for line in (settings.ROOT / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and not line.startswith("#"):
            entries[name.strip()] = command.strip()
    return entries


def run_all(names: tuple[str, ...] = ("web", "worker", "beat")) -> int:
    """A small supervisor for `make run`: embedded services (unless the URLs are
    set), migrations, demo data on an empty database, then the Procfile's web,
    worker and beat. A child that exits is started again after a short backoff
    (1 s, doubling up to 30 s while it keeps crashing), the others keep running.
    Ctrl-C or SIGTERM stops every child (each gets SHUTDOWN_GRACE_SECONDS to
    finish its work), then the embedded PostgreSQL and Redis, and waits for them."""
    import subprocess
    import time

    from models import embedded

    database_url, redis_url = settings.resolve_services()
    cmd_migrate(argparse.Namespace())
    if settings.SEED_DEMO:
        from models.seed import seed_if_empty

        _run(seed_if_empty)
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


def cmd_mail(args: argparse.Namespace) -> None:
    """Development emails (``DATA_DIR/mail/*.eml``, quoted-printable on disk), decoded."""
    import email
    from email import policy

    files = sorted(settings.MAIL_DIR.glob("*.eml")) if settings.MAIL_DIR.exists() else []
    if not files:
        print(f"No emails in {settings.MAIL_DIR}.")
        return
    if args.list:
        for path in files:
            msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            print(f"{path.name}  {msg['To']}  {msg['Subject']}")
        return
    for path in files[-args.count:]:
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        body = msg.get_body(preferencelist=("plain", "html"))
        print(f"File: {path}\nFrom: {msg['From']}\nTo: {msg['To']}\nSubject: {msg['Subject']}\n")
        print(body.get_content() if body is not None else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="server.py", description="AvantLush API server")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve the API (default)").set_defaults(fn=cmd_serve)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(fn=cmd_migrate)
    sub.add_parser("schema", help="print the live schema (what triggers do: migrations/README.md)").set_defaults(
        fn=cmd_schema)
    admin = sub.add_parser("create-admin", help="create or promote a staff user")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.set_defaults(fn=cmd_create_admin)
    seed = sub.add_parser("seed", help="add demo data")
    seed.add_argument("--products", type=int, default=40)
    seed.add_argument("--customers", type=int, default=10)
    seed.add_argument("--orders", type=int, default=0)
    seed.set_defaults(fn=cmd_seed)
    jobs = sub.add_parser("jobs", help="list background jobs pending or failed; --retry to queue them again")
    jobs.add_argument("--limit", type=int, default=50)
    jobs.add_argument("--retry", nargs="+", metavar="ID", help="job ids, or 'failed' for every failed job")
    jobs.set_defaults(fn=cmd_jobs)
    sub.add_parser("relay", help="run the outbox relay alone").set_defaults(fn=cmd_relay)
    sub.add_parser("dev", help="services + migrations + demo data + web, worker and beat").set_defaults(fn=cmd_dev)
    mail = sub.add_parser("mail", help="print development emails decoded (the last one by default)")
    mail.add_argument("--last", dest="count", type=int, nargs="?", const=1, default=1,
                      help="the last N emails (default 1)")
    mail.add_argument("--list", action="store_true", help="one line per email")
    mail.set_defaults(fn=cmd_mail)
    args = parser.parse_args(argv)
    setup_logging()
    (getattr(args, "fn", None) or cmd_serve)(args)


if __name__ == "__main__":
    main()
