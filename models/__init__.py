"""Domain layer: one package per domain (tables, actions, queries, seed), listed
once in ``models/core/domains.py``, over ``models/core`` (plumbing that imports
no domain)."""
