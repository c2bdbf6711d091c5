"""Run a domain coroutine from a (synchronous) Celery task.

The database pool is bound to an event loop, so each call connects, runs and
closes inside its own ``asyncio.run``.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import settings
from models.core.db import db, init_db

_timeout: object = ...  # the pool's statement timeout as set up (``...``: not yet)


def run_async(fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` with the web's statement timeout (a task that does a request's work)."""
    return _run(settings.db_timeout(bulk=False), fn, *args, **kwargs)


def run_bulk(fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` with bulk work's timeout (BULK_TIMEOUT_SECONDS): rebuilds,
    exports and clean-ups whose statements may rightly run for minutes."""
    return _run(settings.db_timeout(bulk=True), fn, *args, **kwargs)


def _run(timeout: float | None, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    global _timeout
    if timeout != _timeout:  # the pool is closed between calls, so it may be set up again
        database_url, _ = settings.resolve_services()
        init_db(database_url, pool_size=2, timeout=timeout)
        _timeout = timeout

    async def main() -> Any:
        await db.aio_connect()
        try:
            return await fn(*args, **kwargs)
        finally:
            await db.aio_close()

    return asyncio.run(main())


# --- once-only delivery of outbox jobs ------------------------------------------

import logging  # noqa: E402

from celery import Task, signals  # noqa: E402
from celery.exceptions import Ignore, Reject, Retry  # noqa: E402

from models.core.jobs import current_job  # noqa: E402
from models.core.outbox import Heartbeat, WorkerLedger  # noqa: E402

log = logging.getLogger("avantlush.tasks")
_ledger = WorkerLedger()
_receipts = WorkerLedger()  # the worker's main process: jobs as they arrive
_heartbeat: Heartbeat | None = None
_name: str | None = None


def _worker_name(consumer: Any) -> str:
    """This worker process's name in outbox_worker: its node name plus what
    tells it from a worker restarted under the same name (a supervisor's
    restart, a dyno's), whose beats must not vouch for the dead one's jobs."""
    global _name
    if _name is None:
        import os
        import uuid

        _name = f"{consumer.hostname}#{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return _name


@signals.worker_ready.connect
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    """The worker beats while it lives (models/outbox.py: a silent worker's jobs are republished)."""
    global _heartbeat
    _heartbeat = Heartbeat(_worker_name(sender)).start()


@signals.worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    if _heartbeat is not None:
        _heartbeat.stop()


@signals.task_received.connect
def _record_receipt(sender: Any = None, request: Any = None, **_: Any) -> None:
    """A job this worker now holds (before it runs): whose it is, should the worker die."""
    try:
        _receipts.reserved(request.id, _worker_name(sender))
    except Exception:  # the lease still brings it back; never refuse a message for this
        log.warning("could not record the receipt of %s", getattr(request, "id", "?"), exc_info=True)


class OutboxTask(Task):
    """The base of every task (``celery_app``: ``task_cls``). A job queued with
    ``models.core.jobs.enqueue`` is published with its outbox id as the Celery task
    id. Before running, the task claims that row: a delivery whose row is
    already finished, or running in another live worker, is acknowledged and
    skipped, so redelivery (a killed worker, a republished row) does not do the
    work twice. The row is marked done when the task returns, failed when it
    gives up, and retrying (with its new due time) when Celery retries it.
    Tasks without a row (beat's periodic tasks) run as usual."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        job_id = None if self.request.called_directly else self.request.id
        claim = _ledger.start(job_id) if job_id else "untracked"
        if claim == "skip":
            log.info("%s[%s]: already done or running elsewhere; skipped", self.name, job_id)
            return None
        tracked = claim == "run"
        token = current_job.set(job_id if tracked else None)
        lease = _Lease(job_id) if tracked else None
        try:
            result = super().__call__(*args, **kwargs)
        except Retry as exc:
            if tracked:
                _ledger.retrying(job_id, _retry_delay(exc), f"retry: {exc.exc!r}" if exc.exc else "retry")
            raise
        except (Ignore, Reject):
            raise
        except Exception as exc:
            if tracked:
                _ledger.failed(job_id, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            current_job.reset(token)
            if lease is not None:
                lease.stop()
        if tracked:
            _ledger.done(job_id)
        return result


class _Lease:
    """Renews a running job's lease from a thread while the task runs, so that
    only a job whose worker died is published again, however long it runs."""

    _ledger: WorkerLedger | None = None

    def __init__(self, job_id: str) -> None:
        import threading

        self.job_id = job_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-lease", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if _Lease._ledger is None:
            _Lease._ledger = WorkerLedger()  # its own connection: not shared across threads
        while not self._stop.wait(max(1.0, settings.OUTBOX_RUN_LEASE_SECONDS / 3)):
            try:
                _Lease._ledger.renew(self.job_id)
            except Exception:
                log.warning("could not renew the lease of job %s", self.job_id, exc_info=True)

    def stop(self) -> None:
        self._stop.set()


def _retry_delay(exc: Retry) -> float:
    import datetime as dt

    when = exc.when
    if isinstance(when, (int, float)):
        return float(when)
    if isinstance(when, dt.datetime):
        now = dt.datetime.now(when.tzinfo or dt.timezone.utc)
        return max(0.0, (when - now).total_seconds())
    return 0.0
