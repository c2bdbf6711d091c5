"""The Celery application: emails, image uploads, exports and metric rollups
run here, off the request path. Broker: Redis (``REDIS_URL`` or embedded)."""
from __future__ import annotations

import logging

from celery import Celery
from celery.schedules import crontab

import settings
from models.core import domains

settings.check_production()  # worker and beat refuse a production setup that lacks what it needs
settings.resolve_services()
settings.DATA_DIR.mkdir(parents=True, exist_ok=True)  # beat keeps its schedule file there


def broker_url(redis_url: str) -> str:
    """Celery spells Unix-socket Redis ``redis+socket://``."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url[len("unix://"):]
    return redis_url


# task_cls: every task claims its outbox row before running and marks it
# finished after (tasks/_runner.py), so a redelivered job runs once.
app = Celery("avantlush", broker=broker_url(settings.REDIS_URL), task_cls="tasks._runner:OutboxTask",
             include=domains.task_modules())
app.conf.update(
    task_ignore_result=True,
    task_acks_late=True,  # a task lost with its worker runs again
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_retry_delay=5,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"visibility_timeout": 3600, "socket_timeout": 5, "socket_connect_timeout": 5},
    broker_connection_timeout=5,
    task_publish_retry_policy={"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 2},
    timezone="UTC",
    beat_schedule={
        "rebuild-recommendations": {"task": "tasks.catalog.rebuild_recommendations", "schedule": 3600.0},
        "cleanup": {"task": "tasks.maintenance.cleanup", "schedule": 3600.0},  # models/core/cleanup.py
        "abandoned-carts": {"task": "tasks.cart.process_abandoned_carts", "schedule": 900.0},  # models/cart/abandoned.py
        # Unpaid orders give their stock back (models/orders/actions.py).
        "expire-unpaid-orders": {"task": "tasks.orders.expire_unpaid_orders", "schedule": 60.0},
        # Nightly, just after the UTC day closes: the rollups from scratch.
        "rebuild-dashboard-rollups": {"task": "tasks.dashboard.rebuild_rollups",
                                      "schedule": crontab(minute=10, hour=0)},
    },
    beat_schedule_filename=str(settings.DATA_DIR / "celerybeat-schedule"),
    worker_hijack_root_logger=False,
)

logging.basicConfig(level=settings.LOG_LEVEL, format="%(asctime)s %(levelname)s %(name)s %(message)s")
