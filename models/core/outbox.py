"""The transactional outbox: background work as rows of ``outbox_job``.

``models.core.jobs.enqueue`` inserts a row in the caller's transaction, so a job
exists exactly when the data it is about was committed. The **relay** turns
committed rows into Celery messages; the task marks its row finished when it
has run (``tasks._runner.OutboxTask``). Row life::

    pending --relay publishes--> published --worker starts--> running --> done
                                     ^                           |  \\--> failed (gave up)
                                     |    lease (available_at)   |
                                     \\---- expired: republish ---/  (worker killed, Redis lost it)

* Prompt: an ``AFTER INSERT`` statement trigger does ``pg_notify('outbox_job')``
  at commit; relays ``LISTEN`` and publish at once. A short poll
  (``OUTBOX_POLL_SECONDS``) is the fallback, and also catches leases that expire.
* Safe with many relays (web processes, machines): rows are claimed with
  ``FOR UPDATE SKIP LOCKED`` and held while they are handed to the broker.
* Redis down: nothing is lost and no request waits; the relay keeps the rows
  and retries with backoff (up to ``OUTBOX_RETRY_MAX_SECONDS``).
* Worker killed: each worker records the jobs it receives (``reserved_by``,
  before they run: prefetched, or waiting for their ETA) and beats in
  ``outbox_worker`` every ``OUTBOX_WORKER_HEARTBEAT_SECONDS``; a published job
  whose worker has been silent for ``OUTBOX_WORKER_DEAD_SECONDS`` is published
  again on the relay's next pass (the message the dead worker held would only
  come back after Redis's visibility timeout).
* Redis restarted empty, worker killed: a row published but not started within
  ``OUTBOX_REDELIVER_SECONDS``, or started but whose worker stopped renewing
  its lease (``OUTBOX_RUN_LEASE_SECONDS``; a running task renews it every third
  of that), is published again; a relay that sees the broker restart (a new
  Redis ``run_id``) republishes what it held at once. The
  worker runs a delivery only if its row is not finished and not running
  elsewhere, so a second delivery is a no-op ("effectively once").

The relay is synchronous (psycopg2 + kombu) and runs in a thread of its own
(``Relay.start()``): in every web process by default (``OUTBOX_RELAY=1``), or
alone with ``python server.py relay``. It never touches the event loop.
"""
from __future__ import annotations

import logging
import os
import select
import threading
import time
from typing import Any

import orjson

import settings

log = logging.getLogger("avantlush.outbox")

CHANNEL = "outbox_job"

_CLAIM = """
SELECT id, task, args, kwargs, options FROM outbox_job
 WHERE finished_at IS NULL AND available_at <= now()
 ORDER BY available_at
 LIMIT %s
 FOR UPDATE SKIP LOCKED"""

_PUBLISHED = """
UPDATE outbox_job
   SET state = 'published', published_at = now(), publish_count = publish_count + 1, reserved_by = NULL,
       available_at = now() + make_interval(secs => %s), last_error = NULL
 WHERE id = ANY(%s::uuid[])"""

# Published jobs received by a worker that stopped beating: due now. (A running
# job keeps its lease, renewed by the task itself: a live task is never run twice.)
_ORPHANED = """
UPDATE outbox_job j SET available_at = now()
 WHERE j.finished_at IS NULL AND j.reserved_by IS NOT NULL AND j.state = 'published' AND j.available_at > now()
   AND NOT EXISTS (SELECT 1 FROM outbox_worker w
                    WHERE w.name = j.reserved_by AND w.seen_at > now() - make_interval(secs => %s))"""

_NEXT_DUE = """
SELECT EXTRACT(EPOCH FROM min(available_at) - now()) FROM outbox_job WHERE finished_at IS NULL"""


def pg_connect(database_url: str):
    """A plain psycopg2 connection (autocommit) to ``database_url``."""
    import psycopg2

    from models.core.db import connect_params

    name, params = connect_params(database_url)
    params.pop("pool_params", None)
    conn = psycopg2.connect(dbname=name, connect_timeout=max(1, round(settings.DB_TIMEOUT_SECONDS)), **params)
    conn.autocommit = True
    return conn


class Relay:
    """Publishes committed ``outbox_job`` rows to Celery. ``run()`` loops until
    ``stop()``; ``start()`` runs it in a daemon thread."""

    def __init__(self, database_url: str | None = None, *, batch: int = 100, name: str = "relay") -> None:
        self.database_url = database_url or settings.resolve_services()[0]
        self.batch = batch
        self.name = name
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._conn = None
        self._broker = None
        self._broker_run_id: str | None = None
        self._thread: threading.Thread | None = None
        self.published = 0  # rows handed to the broker (for tests and logs)

    # --- life --------------------------------------------------------------

    def start(self) -> "Relay":
        self._thread = threading.Thread(target=self.run, name=f"outbox-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def run(self) -> None:
        backoff = 0.0
        log.info("outbox relay %s started", self.name)
        while not self._stop.is_set():
            try:
                self._ensure_db()
                published, error = self.relay_once()
                if error is not None:
                    backoff = min(settings.OUTBOX_RETRY_MAX_SECONDS, max(0.25, backoff * 2))
                    log.warning("outbox: broker unavailable (%s); retrying in %.1fs", error, backoff)
                    self._wait(backoff, listen=False)  # new jobs wait for the broker too
                    continue
                if backoff:
                    log.info("outbox: broker reachable again")
                backoff = 0.0
                if published >= self.batch:
                    continue  # more may be due at once
                self._wait(self._next_due())
            except Exception as exc:  # database down, connection lost: start over after a pause
                backoff = min(settings.OUTBOX_RETRY_MAX_SECONDS, max(0.25, backoff * 2))
                log.warning("outbox relay: %s: %s; retrying in %.1fs", type(exc).__name__, exc, backoff)
                self._close_db()
                self._wait(backoff)
        self._close_db()
        self._close_broker()
        log.info("outbox relay %s stopped", self.name)

    # --- one pass ----------------------------------------------------------

    def relay_once(self) -> tuple[int, Exception | None]:
        """Claim due rows, publish them, record the outcome. Returns (published,
        the broker error that stopped the pass or None)."""
        self._ensure_db()
        self._check_broker_restart()
        self._release_orphans()
        cur = self._conn.cursor()
        cur.execute("BEGIN")
        try:
            cur.execute(_CLAIM, (self.batch,))
            rows = cur.fetchall()
            done: list[str] = []
            error: Exception | None = None
            for job_id, task, args, kwargs, options in rows:
                try:
                    self._publish(str(job_id), task, args, kwargs, options)
                except Exception as exc:  # the broker: keep the row, retry later
                    error = exc
                    self._close_broker()
                    break
                done.append(str(job_id))
            if done:
                cur.execute(_PUBLISHED, (settings.OUTBOX_REDELIVER_SECONDS, done))
            if error is not None:
                cur.execute("UPDATE outbox_job SET last_error = %s WHERE id = ANY(%s::uuid[])",
                            (f"publish: {type(error).__name__}: {error}"[:1000],
                             [str(r[0]) for r in rows if str(r[0]) not in done]))
            cur.execute("COMMIT")
        except BaseException:
            try:
                cur.execute("ROLLBACK")
            except Exception:
                pass
            raise
        finally:
            cur.close()
        self.published += len(done)
        if done:
            log.debug("outbox: published %d job(s)", len(done))
        return len(done), error

    def _publish(self, job_id: str, task: str, args: Any, kwargs: Any, options: Any) -> None:
        from celery_app import app

        if self._broker is None:
            self._broker = app.connection_for_write()
            self._broker.ensure_connection(max_retries=1, timeout=settings.OUTBOX_PUBLISH_TIMEOUT_SECONDS)
            self._producer = app.amqp.Producer(self._broker)
        app.send_task(task, args=list(args or []), kwargs=dict(kwargs or {}), task_id=job_id,
                      producer=self._producer, retry=False, **dict(options or {}))

    def _check_broker_restart(self) -> None:
        """A Redis that restarted (new run_id) lost what it held: republish the
        rows it had, without waiting for their leases."""
        run_id, uptime = broker_identity()
        if run_id is None:
            return
        previous, self._broker_run_id = self._broker_run_id, run_id
        if previous is not None and previous != run_id:
            cur = self._conn.cursor()
            # Only what was published before this Redis started (not what a
            # pass may have published to it already).
            cur.execute("UPDATE outbox_job SET available_at = now() WHERE finished_at IS NULL"
                        " AND state IN ('published', 'retrying')"
                        " AND published_at < now() - make_interval(secs => %s)", (uptime,))
            log.warning("outbox: the broker restarted; republishing %d job(s) it held", cur.rowcount)
            cur.close()
            self._close_broker()

    def _release_orphans(self) -> None:
        cur = self._conn.cursor()
        try:
            cur.execute(_ORPHANED, (settings.OUTBOX_WORKER_DEAD_SECONDS,))
            if cur.rowcount:
                log.warning("outbox: republishing %d job(s) held by a worker that stopped", cur.rowcount)
        finally:
            cur.close()

    # --- plumbing ------------------------------------------------------------

    def _ensure_db(self) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = pg_connect(self.database_url)
            cur = self._conn.cursor()
            cur.execute(f"LISTEN {CHANNEL}")
            cur.close()

    def _close_db(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
        self._conn = None

    def _close_broker(self) -> None:
        if self._broker is not None:
            try:
                self._broker.release()
            except Exception:
                pass
        self._broker = None

    def _next_due(self) -> float:
        cur = self._conn.cursor()
        cur.execute(_NEXT_DUE)
        (seconds,) = cur.fetchone()
        cur.close()
        poll = settings.OUTBOX_POLL_SECONDS
        return poll if seconds is None else max(0.02, min(poll, float(seconds)))

    def _wait(self, timeout: float, listen: bool = True) -> None:
        """Sleep up to ``timeout`` seconds, waking on stop() or (``listen``) a NOTIFY."""
        watch = [self._wake_r]
        if listen and self._conn is not None and not self._conn.closed:
            watch.append(self._conn)
        try:
            ready, _, _ = select.select(watch, [], [], timeout)
        except (OSError, ValueError):
            time.sleep(min(timeout, 0.5))
            return
        if self._wake_r in ready:
            os.read(self._wake_r, 64)
        if self._conn is not None and not self._conn.closed:
            self._conn.poll()
            self._conn.notifies.clear()


_redis_client = None


def broker_identity() -> tuple[str | None, float]:
    """The broker Redis's run_id (new on every restart) and uptime in seconds;
    (None, 0) if unreachable."""
    global _redis_client
    import redis

    try:
        if _redis_client is None:
            _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        info = _redis_client.info("server")
        return info.get("run_id"), float(info.get("uptime_in_seconds", 0))
    except Exception:
        _redis_client = None
        return None, 0.0


# --- the worker's side (synchronous; used by tasks._runner.OutboxTask) --------

class WorkerLedger:
    """Marks rows running / done / failed from a Celery worker process (one
    psycopg2 connection per process, made after fork, remade when lost)."""

    def __init__(self) -> None:
        self._conn = None
        self._pid = 0

    def _cursor(self):
        if self._conn is None or self._conn.closed or self._pid != os.getpid():
            self._conn = pg_connect(settings.resolve_services()[0])
            self._pid = os.getpid()
        return self._conn.cursor()

    def _execute(self, sql: str, params: tuple) -> list[tuple]:
        import psycopg2

        for attempt in range(3):
            try:
                cur = self._cursor()
                try:
                    cur.execute(sql, params)
                    return cur.fetchall() if cur.description else []
                finally:
                    cur.close()
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                self._conn = None
                if attempt == 2:
                    raise
                time.sleep(0.5 * (attempt + 1))
        return []

    def start(self, job_id: str) -> str:
        """'run' (the row is ours now), 'skip' (done, failed, or running
        elsewhere) or 'untracked' (no such row: a beat task, a direct send)."""
        if not _is_uuid(job_id):
            return "untracked"
        rows = self._execute(
            "UPDATE outbox_job SET state = 'running', started_at = now(), run_count = run_count + 1,"
            " available_at = now() + make_interval(secs => %s)"
            " WHERE id = %s AND finished_at IS NULL AND NOT (state = 'running' AND available_at > now())"
            " RETURNING id", (settings.OUTBOX_RUN_LEASE_SECONDS, job_id))
        if rows:
            return "run"
        rows = self._execute("SELECT state FROM outbox_job WHERE id = %s", (job_id,))
        return "skip" if rows else "untracked"

    def reserved(self, job_id: str, worker: str) -> None:
        """Worker ``worker`` received job ``job_id`` (it may wait before running:
        prefetched, or an ETA). The worker's beat is recorded with it, so a
        worker is alive from its first job on."""
        if not _is_uuid(job_id):
            return
        self._execute("WITH beat AS (" + _BEAT + ") UPDATE outbox_job SET reserved_by = %s"
                      " WHERE id = %s AND finished_at IS NULL AND state = 'published'", (worker, worker, job_id))

    def heartbeat(self, worker: str) -> None:
        self._execute(_BEAT, (worker,))

    def gone(self, worker: str) -> None:
        """The worker stops (warm shutdown): what it had received is published again now."""
        self._execute("DELETE FROM outbox_worker WHERE name = %s", (worker,))

    def renew(self, job_id: str) -> None:
        """The job is still running here: extend its lease."""
        self._execute("UPDATE outbox_job SET available_at = now() + make_interval(secs => %s)"
                      " WHERE id = %s AND state = 'running'", (settings.OUTBOX_RUN_LEASE_SECONDS, job_id))

    def done(self, job_id: str) -> None:
        self._execute("UPDATE outbox_job SET state = 'done', finished_at = now(), last_error = NULL"
                      " WHERE id = %s", (job_id,))

    def retrying(self, job_id: str, delay: float, error: str) -> None:
        self._execute("UPDATE outbox_job SET state = 'retrying', last_error = %s,"
                      " available_at = now() + make_interval(secs => %s) WHERE id = %s AND finished_at IS NULL",
                      (error[:1000], delay + settings.OUTBOX_REDELIVER_SECONDS, job_id))

    def failed(self, job_id: str, error: str) -> None:
        self._execute("UPDATE outbox_job SET state = 'failed', finished_at = now(), last_error = %s"
                      " WHERE id = %s", (error[:1000], job_id))


_BEAT = ("INSERT INTO outbox_worker (name, seen_at) VALUES (%s, now())"
         " ON CONFLICT (name) DO UPDATE SET seen_at = now()")


class Heartbeat:
    """Beats for worker ``name`` from a thread (its own connection) until stopped."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._ledger = WorkerLedger()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-heartbeat", daemon=True)

    def start(self) -> "Heartbeat":
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            try:
                self._ledger.heartbeat(self.name)
            except Exception:
                log.warning("worker %s: heartbeat failed", self.name, exc_info=True)
            if self._stop.wait(settings.OUTBOX_WORKER_HEARTBEAT_SECONDS):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        try:
            self._ledger.gone(self.name)
        except Exception:
            log.warning("worker %s: could not sign off", self.name, exc_info=True)


def _is_uuid(value: str | None) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# --- operators: `python server.py jobs` -----------------------------------------

async def job_counts() -> dict[str, int]:
    from models.core.db import fetch_all

    return dict(await fetch_all("SELECT state, count(*) FROM outbox_job GROUP BY state ORDER BY state"))


async def unfinished_and_failed(limit: int = 50) -> list[tuple]:
    """Rows not done (pending, published, running, retrying, failed), oldest first."""
    from models.core.db import fetch_all

    return await fetch_all(
        "SELECT id::text, task, state, created_at, available_at, publish_count, run_count, last_error, args"
        " FROM outbox_job WHERE finished_at IS NULL OR state = 'failed' ORDER BY created_at LIMIT %s", (limit,))


async def retry_jobs(ids: list[str] | None) -> int:
    """Queue failed jobs again (all failed ones when ``ids`` is None), or
    publish the given unfinished ones now. Returns how many rows changed."""
    from models.core.db import fetch_all

    if ids is None:
        rows = await fetch_all("UPDATE outbox_job SET state = 'pending', finished_at = NULL, available_at = now()"
                               " WHERE state = 'failed' RETURNING 1")
    else:
        bad = [i for i in ids if not _is_uuid(i)]
        if bad:
            raise ValueError(f"not a job id: {', '.join(bad)}")
        rows = await fetch_all("UPDATE outbox_job SET state = CASE WHEN state = 'failed' THEN 'pending' ELSE state END,"
                               " finished_at = NULL, available_at = now()"
                               " WHERE id = ANY(%s::uuid[]) AND state <> 'done' RETURNING 1", (ids,))
    return len(rows)
