"""Demo customers (``python server.py seed --customers N``): customers without
accounts, as staff create them in the admin, joined over the last year, in
committed batches (a rerun continues an interrupted seed; see models/seed.py).

Triggers: customer rows feed the dashboard's rollups (0009 customer_daily_row)
and its cache version (0011 dashboard_version_bump) row by row; a batch
switches both off and the load ends with one rollup rebuild and one bump.
"""
from __future__ import annotations

import datetime as dt
import logging
import random

from models.accounts.tables import Customer
from models.core.db import transaction, utcnow
from models.core.seed import SEEDERS, Run, after_bulk, progress_bar, triggers_off

log = logging.getLogger("avantlush.seed")

BATCH = 5000
FIRST = ["Ada", "Bola", "Chloe", "Daniel", "Emeka", "Fatima", "Grace", "Hugo", "Ines", "Jonas", "Kemi", "Leo",
         "Maya", "Nia", "Omar", "Priya", "Quentin", "Rosa", "Samuel", "Tara", "Uche", "Vera", "Wale", "Yara", "Zoe"]
LAST = ["Adeyemi", "Brown", "Costa", "Dubois", "Eze", "Fischer", "Garcia", "Hansen", "Ibrahim", "Jensen", "Kim",
        "Lopez", "Moreau", "Nwosu", "Okafor", "Petrov", "Quinn", "Rossi", "Smith", "Tanaka", "Usman", "Visser",
        "Weber", "Xu", "Young"]
_ROLLUP_TRIGGERS = [("customer", "customer_daily_change"), ("customer", "dashboard_version_customer")]


async def seed_customers(count: int, progress: bool) -> None:
    """Add ``count`` customers (or finish the unfinished run)."""
    run = await Run.open("customers", count)
    done = run.done("customers")
    bar = progress_bar(run.target, "customers", "customer", progress, initial=done)
    now = utcnow()
    try:
        while done < run.target:
            n = min(BATCH, run.target - done)
            rng = random.Random(f"customers:{run.id}:{done}")
            rows = []
            for k in range(done, done + n):
                first, last = rng.choice(FIRST), rng.choice(LAST)
                joined = now - dt.timedelta(days=rng.uniform(0, 365))
                rows.append((f"{first} {last}", f"{first}.{last}.{run.id}-{k + 1}@example.com".lower(), "active",
                             joined, joined))
            async with transaction():
                async with triggers_off(*_ROLLUP_TRIGGERS):
                    await Customer.insert_many(rows, fields=[Customer.name, Customer.email, Customer.status,
                                                             Customer.created_at, Customer.updated_at]).aio_execute()
                done += n
                await run.record("customers", done)
            bar.update(n)
        bar.close()
        await run.finish()
    finally:
        await after_bulk("SELECT dashboard_rollups_rebuild(), dashboard_version_bump_now()")
    log.info("seeded %d customers", run.target)


SEEDERS["customers"] = seed_customers
