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
from typing import TYPE_CHECKING

import tornado.httpserver
import tornado.httputil
import tornado.netutil
import tornado.web

import settings

if TYPE_CHECKING:
    from handlers.core.server import GracefulHTTPServer

log = logging.getLogger("avantlush")



def setup_logging() -> None:
    from handlers.core.base import RequestIdFilter

    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s [%(process)d] [%(request_id)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.LOG_LEVEL)
    logging.getLogger("pgserver").setLevel(logging.WARNING)


def make_app(**overrides) -> tornado.web.Application:
    from handlers.core.base import NotFoundHandler
    from handlers.core.routing import Application, all_routes
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
    from models.core.db import db, init_db

    database_url, _ = settings.resolve_services()
    init_db(database_url, pool_size=settings.DB_POOL_SIZE, timeout=settings.db_timeout(bulk))
    await db.aio_connect()


async def disconnect() -> None:
    from models.core.db import db

    await db.aio_close()


async def serve(sockets: list) -> None:
    from models.accounts.passwords import warm_up
    from models.catalog.engine import engine as search_engine

    await connect()
    await warm_up()  # the dummy hash for unknown-email logins, at the configured cost
    await search_engine.ready()  # the search index, loaded before the first request
    # What is loaded by now lives as long as the process (modules, the search
    # index): out of the garbage collector's full passes, which would otherwise
    # walk every indexed product now and then in the middle of a request.
    gc.collect()
    gc.freeze()
    server = make_server()
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


def make_server() -> "GracefulHTTPServer":
    """The HTTP server with its limits: a client gets ``HTTP_HEADER_TIMEOUT_SECONDS``
    to send a request's head (counted from when the connection opens or its
    previous response ends: Tornado's idle keep-alive timeout is that same
    wait) and ``HTTP_BODY_TIMEOUT_SECONDS`` for the body; then it is disconnected."""
    from handlers.core.server import HEADER_READ_LIMIT, MAX_BODY_BYTES, GracefulHTTPServer

    return GracefulHTTPServer(make_app(), xheaders=False, max_body_size=MAX_BODY_BYTES,
                              max_header_size=HEADER_READ_LIMIT,
                              idle_connection_timeout=settings.HTTP_HEADER_TIMEOUT_SECONDS,
                              body_timeout=settings.HTTP_BODY_TIMEOUT_SECONDS)


def start_relay():
    """The outbox relay, in a thread of this process (see models/core/outbox.py)."""
    from models.core.outbox import Relay

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


def preload_shared_state() -> None:
    """What every web process reads and rarely changes, loaded once before the
    fork so the processes share its memory (copy-on-write): the search index,
    and the code (every handler module, its schemas and routes: the app is
    built once here, then again in each process from the imported modules).
    Frozen out of the garbage collector, whose passes would otherwise write to
    (and so copy) every page of it in each process."""
    from models.catalog.engine import engine as search_engine
    from models.core.db import init_db

    make_app()  # imports every handler, schema and domain module

    database_url, _ = settings.resolve_services()
    init_db(database_url, pool_size=settings.DB_POOL_SIZE, timeout=settings.DB_TIMEOUT_SECONDS)
    try:
        search_engine.preload()
    except Exception:  # the children load their own (or search in SQL) rather than not start
        log.warning("search index preload failed; each web process loads its own", exc_info=True)
        search_engine.index = None
    gc.collect()
    gc.freeze()


def cmd_serve(_args: argparse.Namespace) -> None:
    settings.check_production()
    settings.resolve_services()
    sockets = tornado.netutil.bind_sockets(settings.PORT)
    if settings.WEB_CONCURRENCY > 1:
        from handlers.core.server import fork_workers

        preload_shared_state()
        fork_workers(settings.WEB_CONCURRENCY)  # returns in each child
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(sockets))


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
    from models.core.migrate import migrate

    applied = _run(migrate)
    print("Applied: " + ", ".join(applied) if applied else "No migrations to apply.")


def cmd_schema(_args: argparse.Namespace) -> None:
    """Print the live schema: tables, columns, indexes, triggers, functions."""
    from models.core.migrate import describe_schema

    print(_run(describe_schema))


def cmd_create_admin(args: argparse.Namespace) -> None:
    from models.accounts.actions import create_admin
    from models.accounts.passwords import password_errors

    problems = password_errors(args.password)
    if problems:
        sys.exit("create-admin: " + " ".join(problems))
    user = _run(create_admin, args.email, args.password)
    print(f"Admin ready: {user.email} (id {user.id})")


def cmd_seed(args: argparse.Namespace) -> None:
    """Seed in committed batches; a failure or Ctrl-C ends with one line, and
    the same command run again continues where it stopped."""
    from models.core.seed import failure_line, seed

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
    from models.core import outbox

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
    from models.core.supervisor import run_all

    def prepare() -> None:
        cmd_migrate(argparse.Namespace())
        if settings.SEED_DEMO:
            from models.core.seed import seed_if_empty

            _run(seed_if_empty)

    sys.exit(run_all(prepare))


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
    if getattr(args, "fn", None) not in (cmd_dev, cmd_mail):  # every process of a deployment
        settings.check_production()
    (getattr(args, "fn", None) or cmd_serve)(args)


if __name__ == "__main__":
    main()
