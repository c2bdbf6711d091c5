"""Serving HTTP: a Tornado HTTPServer that drains gracefully on SIGTERM and
answers oversize requests (413, 431) in the error envelope, and the pre-fork
parent that runs ``WEB_CONCURRENCY`` web processes on one socket."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import tornado.http1connection
import tornado.httpserver
import tornado.httputil
import tornado.iostream

log = logging.getLogger("avantlush")

MAX_BODY_BYTES = 12 * 1024 * 1024  # above the 5 MB image limit, so that limit answers with a clear 400
MAX_HEADER_BYTES = 32 * 1024  # the request line and headers; more: 431
# Headers are read up to this much (and answered 431 past MAX_HEADER_BYTES);
# a client sending more without ending its headers is disconnected unanswered.
HEADER_READ_LIMIT = 8 * MAX_HEADER_BYTES


class GracefulHTTPServer(tornado.httpserver.HTTPServer):
    """An HTTPServer that can drain: stop accepting, close idle keep-alive
    connections, let every request already received finish (its response says
    ``Connection: close``), then close what is left after the grace period."""

    def initialize(self, *args, **kwargs) -> None:
        super().initialize(*args, **kwargs)
        self._busy: dict = {}  # server connection -> its HTTP1Connection, while a request is in progress
        self._draining = False

    def handle_stream(self, stream, address) -> None:
        # Tornado's own, with connections that answer oversize requests in the envelope.
        context = tornado.httpserver._HTTPRequestContext(stream, address, self.protocol, self.trusted_downstream)
        conn = _ServerConnection(stream, self.conn_params, context)
        self._connections.add(conn)
        conn.start_serving(self)

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


def _raw_error(status: int, reason: str, message: str) -> bytes:
    """A complete error response in the envelope, written before any handler exists."""
    import orjson

    from handlers.core.base import error_payload

    body = orjson.dumps(error_payload(message))
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=UTF-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nServer: AvantLush\r\n"
            "X-Content-Type-Options: nosniff\r\n\r\n").encode() + body


TOO_LARGE = _raw_error(413, "Content Too Large",
                       f"Request body too large. Maximum size is {MAX_BODY_BYTES // (1024 * 1024)} MB.")
HEADERS_TOO_LARGE = _raw_error(431, "Request Header Fields Too Large",
                               f"Request line and headers too large. Maximum size is {MAX_HEADER_BYTES // 1024} KB.")


class _LimitedConnection(tornado.http1connection.HTTP1Connection):
    """Tornado's HTTP/1 connection, but a body over ``MAX_BODY_BYTES`` is answered
    413 and headers over ``MAX_HEADER_BYTES`` 431, in the error envelope (Tornado
    itself writes a bare 400 with no body)."""

    def _parse_headers(self, data: bytes):
        if len(data) > MAX_HEADER_BYTES:
            self._refuse(HEADERS_TOO_LARGE, 431)
        return super()._parse_headers(data)

    def _read_body(self, code, headers, delegate):
        length = headers.get("Content-Length", "").split(",")[0].strip()
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            self._refuse(TOO_LARGE, 413, drain=True)
        body = super()._read_body(code, headers, delegate)
        return None if body is None else self._guarded(body)

    async def _guarded(self, body) -> None:
        try:
            await body
        except tornado.httputil.HTTPInputError as exc:
            # A chunked (or gzip-inflated) body that outgrew the limit on the way.
            if "too large" in str(exc) or "too long" in str(exc):
                self._refuse(TOO_LARGE, 413)
            raise

    def _refuse(self, response: bytes, status: int, drain: bool = False) -> None:
        log.warning("%d %s: request refused before reading it", status, getattr(self.context, "remote_ip", "?"))
        stream = self.stream
        if stream is not None and not stream.closed():
            stream.write(response)
            if drain:
                # Closing with the client's body still arriving would reset the
                # connection, and the client could lose the answer: read and drop
                # what it sends for a moment, then close.
                asyncio.ensure_future(_drain_and_close(stream))
                raise _Detached()
        raise tornado.http1connection._QuietException()


class _Detached(Exception):
    """The connection was handed to _drain_and_close: the request loop stops."""


async def _drain_and_close(stream, seconds: float = 2.0, limit: int = 2 * MAX_BODY_BYTES) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    read = 0
    try:
        while read < limit and loop.time() < deadline:
            chunk = await asyncio.wait_for(stream.read_bytes(65536, partial=True),
                                           max(0.01, deadline - loop.time()))
            read += len(chunk)
    except (tornado.iostream.StreamClosedError, asyncio.TimeoutError):
        pass
    stream.close()


class _ServerConnection(tornado.http1connection.HTTP1ServerConnection):
    async def _server_request_loop(self, delegate) -> None:
        # Tornado's loop, with _LimitedConnection for each request.
        try:
            while True:
                conn = _LimitedConnection(self.stream, False, self.params, self.context)
                request_delegate = delegate.start_request(self, conn)
                try:
                    ret = await conn.read_response(request_delegate)
                except _Detached:  # (Tornado has told the request's delegate already)
                    return
                except (tornado.iostream.StreamClosedError, tornado.iostream.UnsatisfiableReadError,
                        asyncio.CancelledError):
                    return
                except Exception:
                    log.error("Uncaught exception", exc_info=True)
                    conn.close()
                    return
                if not ret:
                    return
                await asyncio.sleep(0)
        finally:
            delegate.on_close(self)


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
