"""Support tickets: customers open them (``help/``, ``support/submit/``) and
may close their own; staff see all, reply and move them through
OPEN → IN_PROGRESS → RESOLVED → CLOSED. Every staff reply or status change is
recorded as a TicketEvent and emailed to the customer by a Celery task.

- ``tables``: the peewee models (migration 0009).
- ``actions``: the use cases handlers and tasks call.
"""
