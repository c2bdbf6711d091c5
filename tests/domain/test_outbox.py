"""The transactional outbox: enqueue writes a row in the caller's transaction,
the relay publishes committed rows promptly, and a task runs each job once."""
from __future__ import annotations

import asyncio
import time

import psycopg2
import pytest

import settings
from models.core.db import fetch_all, transaction
from models.core.jobs import enqueue
from models.core.outbox import Relay, WorkerLedger
from tests.support.database import admin_dsn
from tests.support.mail import read_mails, wait_for_mail


def sql(statement: str, params=()):
    conn = psycopg2.connect(**admin_dsn(settings.DATABASE_URL))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement, params)
        rows = cur.fetchall() if cur.description else None
    conn.close()
    return rows


async def wait_until(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.gen_test
async def test_enqueue_writes_in_the_callers_transaction():
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with transaction():
            await enqueue("tasks.emails.send_waitlist_confirmation", "rolled@back.test")
            raise Boom
    assert await fetch_all("SELECT task FROM outbox_job") == []
    async with transaction():
        job_id = await enqueue("tasks.emails.send_waitlist_confirmation", "kept@example.com")
    rows = await fetch_all("SELECT id::text, task, args, kwargs FROM outbox_job")
    assert rows == [(job_id, "tasks.emails.send_waitlist_confirmation", ["kept@example.com"], {})]
    # (its state may already have moved on: a relay of an earlier test's worker may be running)
    outside = await enqueue("tasks.emails.send_waitlist_confirmation", "alone@example.com")  # its own transaction
    assert len(await fetch_all("SELECT 1 FROM outbox_job WHERE id = %s", (outside,))) == 1


@pytest.mark.gen_test(timeout=60)
async def test_plain_sql_insert_is_relayed_and_delivered_once(mailbox):  # the worker, no earlier test's job
    """What a trigger does: a bare INSERT. The relay hears the NOTIFY and
    publishes well under a second; the worker marks the row done."""
    started = time.monotonic()
    sql("INSERT INTO outbox_job (task, args) VALUES ('tasks.emails.send_waitlist_confirmation', "
        "'[\"trigger@example.com\"]')")

    async def published():
        return await fetch_all("SELECT published_at - created_at FROM outbox_job WHERE published_at IS NOT NULL")

    (delay,), = await wait_until(published)
    assert delay.total_seconds() < 1.0 and time.monotonic() - started < 5
    mails = await wait_for_mail(1)
    assert mails[0]["To"] == "trigger@example.com"

    async def done():
        return await fetch_all("SELECT state, run_count, publish_count FROM outbox_job WHERE state = 'done'")

    assert await wait_until(done) == [("done", 1, 1)]


@pytest.mark.gen_test(timeout=60)
async def test_redelivered_job_is_skipped_once_done(celery_worker):
    from celery_app import app as celery

    job_id = await enqueue("tasks.emails.send_waitlist_confirmation", "once@example.com")
    await wait_for_mail(1)

    async def done():
        return await fetch_all("SELECT 1 FROM outbox_job WHERE state = 'done'")

    await wait_until(done)
    # The same message again (a killed worker's redelivery, a republished row).
    celery.send_task("tasks.emails.send_waitlist_confirmation", args=["once@example.com"], task_id=job_id)
    sql("UPDATE outbox_job SET available_at = now()")  # and a relay asked to publish it again: finished rows stay
    await asyncio.sleep(2)
    assert len(read_mails()) == 1
    assert await fetch_all("SELECT run_count, publish_count FROM outbox_job") == [(1, 1)]


def test_ledger_runs_a_job_once_and_only_one_worker_at_a_time():
    (job_id,), = sql("INSERT INTO outbox_job (task) VALUES ('tasks.x') RETURNING id::text")
    ledger = WorkerLedger()
    assert ledger.start(job_id) == "run"
    assert ledger.start(job_id) == "skip"  # running elsewhere, lease alive
    sql("UPDATE outbox_job SET available_at = now() - interval '1 second'")  # that worker died: lease over
    assert ledger.start(job_id) == "run"
    ledger.done(job_id)
    assert ledger.start(job_id) == "skip"
    assert ledger.start("5d0c5fd2-2a8b-4e0e-9a51-3d3f2f5a8c11") == "untracked"  # not an outbox job (beat)
    assert sql("SELECT state, run_count FROM outbox_job") == [("done", 2)]


@pytest.mark.gen_test(timeout=90)
async def test_two_relays_at_once_send_each_job_once(celery_worker):
    values = ", ".join(f"('tasks.emails.send_waitlist_confirmation', '[\"r{i}@example.com\"]')" for i in range(40))
    relays = [Relay(settings.DATABASE_URL, name=f"extra-{i}", batch=5).start() for i in range(2)]
    try:
        sql(f"INSERT INTO outbox_job (task, args) VALUES {values}")
        mails = await wait_for_mail(40, timeout=60)

        async def all_done():
            return (await fetch_all("SELECT count(*) FROM outbox_job WHERE state = 'done'"))[0][0] == 40

        await wait_until(all_done, 30)
    finally:
        for relay in relays:
            relay.stop()
    await asyncio.sleep(0.5)
    assert sorted(m["To"] for m in read_mails()) == sorted(f"r{i}@example.com" for i in range(40))
    assert len(mails) == 40
    assert await fetch_all("SELECT DISTINCT publish_count, run_count FROM outbox_job") == [(1, 1)]


def test_an_email_rerun_by_the_same_job_is_not_written_twice():
    """A worker killed after sending but before marking the job done runs it
    again: the email's key comes from the job id, so the second run is a no-op."""
    import settings
    from models.core.jobs import current_job
    from models.core.mail import send

    token = current_job.set("0b8f6a53-3a52-4f8e-bf43-1f4cf6f3f0aa")
    try:
        first = send("twice@example.com", "waitlist", email="twice@example.com")
        second = send("twice@example.com", "waitlist", email="twice@example.com")
    finally:
        current_job.reset(token)
    assert first == second
    send("twice@example.com", "waitlist", email="twice@example.com")  # outside a job: a new email
    mails = read_mails()
    assert len(mails) == 2 and len(list(settings.MAIL_DIR.glob("*.eml"))) == 2
    assert {m["Message-ID"] for m in mails} != {mails[0]["Message-ID"]}


def test_a_running_job_renews_its_lease_until_it_ends(monkeypatch):
    import settings
    from tasks._runner import _Lease

    monkeypatch.setattr(settings, "OUTBOX_RUN_LEASE_SECONDS", 3.0)
    (job_id,), = sql("INSERT INTO outbox_job (task) VALUES ('tasks.x') RETURNING id::text")
    assert WorkerLedger().start(job_id) == "run"
    (first,), = sql("SELECT available_at FROM outbox_job")
    lease = _Lease(job_id)
    time.sleep(2.5)
    lease.stop()
    (renewed,), = sql("SELECT available_at FROM outbox_job")
    assert renewed > first  # a live worker keeps its job; only a dead one's lease runs out


def test_a_restarted_empty_redis_gets_what_it_held_again_at_once():
    """Redis restarted without persistence: rows published to the old instance
    and not started are republished at once, not after their lease; rows
    published to the new instance are left alone."""
    sql("INSERT INTO outbox_job (task, state, publish_count, published_at, available_at) VALUES"
        " ('tasks.test.lost', 'published', 1, now() - interval '1 day', now() + interval '1 hour'),"
        " ('tasks.test.fresh', 'published', 1, now(), now() + interval '1 hour')")
    relay = Relay(settings.DATABASE_URL, name="restart")
    relay._broker_run_id = "the-redis-before-the-restart"
    try:
        published, error = relay.relay_once()
    finally:
        relay._close_db()
        relay._close_broker()
    assert error is None and published == 1
    assert sql("SELECT task, publish_count FROM outbox_job ORDER BY task") == [
        ("tasks.test.fresh", 1), ("tasks.test.lost", 2)]


def _start_worker(queue: str, name: str, log_path):
    import os
    import subprocess
    import sys

    import settings
    from tests.support.paths import ROOT

    env = dict(os.environ, DATABASE_URL=settings.DATABASE_URL, REDIS_URL=settings.REDIS_URL,
               OUTBOX_WORKER_HEARTBEAT_SECONDS="0.5")
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool=solo",
                             "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
                             "-Q", queue, "-n", f"{name}@%h"],
                            cwd=ROOT, env=env, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)


@pytest.mark.system  # starts and kills a Celery worker
def test_a_job_held_by_a_killed_worker_runs_again_within_a_minute(monkeypatch):
    """A worker killed with -9 while it holds a received job (here waiting for
    its countdown): the message sits unacknowledged in Redis for an hour, the
    row's lease is OUTBOX_REDELIVER_SECONDS (300 s). The worker's silence
    brings the job back on the relay's next pass; it runs once."""
    import signal
    import uuid

    import settings
    from tests.support.paths import TEST_DATA

    monkeypatch.setattr(settings, "OUTBOX_WORKER_DEAD_SECONDS", 2.0)
    queue = f"killed-{uuid.uuid4().hex[:8]}"
    (job_id,), = sql("INSERT INTO outbox_job (task, options) VALUES ('tasks.maintenance.cleanup', %s::jsonb)"
                     " RETURNING id::text", (f'{{"queue": "{queue}", "countdown": 4}}',))
    relay = Relay(settings.DATABASE_URL, name="kill-test").start()
    first = _start_worker(queue, f"doomed-{queue}", TEST_DATA / "worker-doomed.log")
    second = None
    try:
        deadline = time.monotonic() + 60
        while not sql("SELECT 1 FROM outbox_job WHERE id = %s AND reserved_by IS NOT NULL", (job_id,)):
            assert time.monotonic() < deadline and first.poll() is None, "the worker never received the job"
            time.sleep(0.1)
        first.send_signal(signal.SIGKILL)  # holding the job, before its countdown ends
        first.wait(10)
        killed_at = time.monotonic()
        assert sql("SELECT state FROM outbox_job WHERE id = %s", (job_id,)) == [("published",)]
        # Started again under the same name, as a supervisor or a platform restarts it.
        second = _start_worker(queue, f"doomed-{queue}", TEST_DATA / "worker-spare.log")
        while sql("SELECT state FROM outbox_job WHERE id = %s", (job_id,)) != [("done",)]:
            assert time.monotonic() - killed_at < 60, "not run again within a minute of the kill"
            time.sleep(0.2)
        took = time.monotonic() - killed_at
        print(f"job done {took:.1f} s after the worker was killed")
        (publishes, runs), = sql("SELECT publish_count, run_count FROM outbox_job WHERE id = %s", (job_id,))
        assert (publishes, runs) == (2, 1)  # published again once, run once
    finally:
        relay.stop()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except Exception:
                    proc.kill()


@pytest.mark.gen_test
async def test_cleanup_forgets_workers_silent_for_a_day():
    from models.core.cleanup import prune_outbox

    sql("INSERT INTO outbox_worker (name, seen_at) VALUES ('old@host#1-a', now() - interval '2 days'),"
        " ('live@host#2-b', now())")
    await prune_outbox()
    assert sql("SELECT name FROM outbox_worker ORDER BY name") == [("live@host#2-b",)]
