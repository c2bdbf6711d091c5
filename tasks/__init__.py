"""Celery tasks. Each takes ids and strings, re-fetches its data, is safe to
run twice, and calls the same domain actions as the handlers."""
