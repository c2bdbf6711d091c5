"""The server.py commands a new engineer runs: migrate and create-admin."""
import os
import subprocess
import sys

import pytest

from tests.conftest import DATABASE_URL, ROOT


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DATABASE_URL=DATABASE_URL, REDIS_URL=__import__("settings").REDIS_URL)
    return subprocess.run([sys.executable, "server.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_migrate_twice_applies_nothing_new():
    result = run_cli("migrate")
    assert result.returncode == 0, result.stderr
    assert "No migrations to apply." in result.stdout


@pytest.mark.gen_test
async def test_create_admin_creates_then_promotes(make_user, api):
    from models.accounts import User

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


def test_create_admin_refuses_a_short_password():
    result = run_cli("create-admin", "--email", "x@example.com", "--password", "short")
    assert result.returncode != 0
    assert "too short" in result.stderr


def test_production_refuses_to_start_without_secrets():
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "STRIPE_SECRET_KEY")}
    env.update(APP_ENV="production", DATABASE_URL=DATABASE_URL, REDIS_URL=__import__("settings").REDIS_URL)
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
