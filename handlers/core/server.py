"""Serving HTTP: a Tornado HTTPServer that drains gracefully on SIGTERM, and
the pre-fork parent that runs ``WEB_CONCURRENCY`` web processes on one socket."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import tornado.httpserver
import tornado.httputil

log = logging.getLogger("avantlush")


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
