"""Plumbing every domain uses: the database (``db``), errors, background jobs
(``jobs``, ``outbox``), mail, media, cache, rate limits, CSV exports, migrations,
the embedded services, clean-up and seed registries, phone numbers, and the one
list of domains (``domains``). It imports no domain: domains register into it."""
