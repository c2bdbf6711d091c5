"""The admin dashboard's numbers, each defined once in ``metrics``.

Speed at any scale: ``order_daily`` and ``customer_daily`` (migration 0009) hold
per-UTC-day rollups kept exact by deferred triggers on ``orders`` and
``customer`` (in the writing transaction) and rebuilt nightly by the beat task
``tasks.dashboard.rebuild_rollups``. A metric reads the rollups for past days
and a live query over today's rows, so its cost is flat in the number of orders.
"""
