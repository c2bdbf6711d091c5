"""HTTP layer: one module per resource, each ending with its ``routes``."""
from __future__ import annotations

import importlib

# Resource modules, in routing order (the first match wins).
MODULES = [
    "health",
    "schema",
    "auth",
    "profile",
    "addresses",
    "waitlist",
    "products",
    "exports",
    "orders",
    "checkout",
    "webhooks",
    "media",
    "support",
    "countries",
    "customers",
    "dashboard",
    "cart",
    "promo_codes",
    "shipping",
    "wishlist",
]


def all_routes() -> list:
    routes: list = []
    for name in MODULES:
        routes += importlib.import_module(f"handlers.{name}").routes
    return routes
