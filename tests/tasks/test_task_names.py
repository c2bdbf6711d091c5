"""Every task name the code queues (``enqueue("tasks.x.y")`` from Python, an
``INSERT INTO outbox_job`` from SQL, beat's schedule) is a task the Celery
worker has registered: a typo would leave jobs no worker runs."""
from __future__ import annotations

import ast
import re

from tests.support.paths import ROOT

TASK_NAME = re.compile(r"tasks(\.[a-z_][a-z0-9_]*){2}")


def queued_from_python() -> dict[str, str]:
    """Task names written as string constants anywhere in the application code -> where."""
    found: dict[str, str] = {}
    files = [ROOT / "server.py", ROOT / "celery_app.py",
             *[p for d in ("models", "handlers", "tasks") for p in (ROOT / d).rglob("*.py")]]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and TASK_NAME.fullmatch(node.value):
                found.setdefault(node.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def queued_from_sql() -> dict[str, str]:
    """Task names in the migrations' SQL (comments left out) -> where."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "migrations").glob("*.sql")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("--", 1)[0]
            for literal in re.findall(r"'([^']*)'", code):
                if TASK_NAME.fullmatch(literal):
                    found.setdefault(literal, f"{path.relative_to(ROOT)}:{n}")
    return found


def registered() -> set[str]:
    from celery_app import app

    app.loader.import_default_modules()  # the worker's ``include`` list
    return {name for name in app.tasks if not name.startswith("celery.")}


def test_every_queued_task_name_is_a_registered_task():
    tasks = registered()
    python, sql = queued_from_python(), queued_from_sql()
    assert "tasks.wishlist.send_stock_notification" in sql  # the scan sees SQL's enqueue
    assert "tasks.orders.order_placed" in python and "tasks.cart.send_cart_reminder" in python
    unknown = {name: where for name, where in {**python, **sql}.items() if name not in tasks}
    assert not unknown, f"queued but not registered with Celery (celery_app.py include / @app.task): {unknown}"


def test_the_scan_would_see_a_misspelt_task():
    assert TASK_NAME.fullmatch("tasks.emails.send_verificaton_email")
    assert "tasks.emails.send_verificaton_email" not in registered()
