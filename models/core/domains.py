"""The one list of domain packages, in dependency order (a domain may import
those above it, never those below; tests/test_layers.py checks it).

Each entry names the domain's modules that register into ``models.core`` when
imported: seeders (``seed.SEEDERS``), CSV export kinds (``exports.register``),
clean-up jobs (``cleanup.register``). The registries call ``load()`` before
they are read, so the web process, the Celery worker and the CLI see the same
ones. Celery's task modules follow from this list too (``task_modules``).
Adding a domain: create ``models/<name>/``, add it here (and its
``tasks/<name>.py`` if it has tasks); nothing else lists domains.
"""
from __future__ import annotations

import importlib
import importlib.util

DOMAINS: dict[str, tuple[str, ...]] = {
    "accounts": ("seed",),
    "catalog": ("seed", "admin", "engine"),
    "customers": ("queries", "seed"),
    "shipping": ("seed",),
    "cart": ("seed",),
    "wishlist": (),
    "support": (),
    "orders": ("seed", "export"),
    "payments": (),
    "checkout": ("guests", "cards"),
    "fulfilment": ("export",),
    "dashboard": (),
}

# Task modules that are plumbing, not a domain's (emails, images, exports, upkeep).
CORE_TASK_MODULES = ("tasks.emails", "tasks.images", "tasks.exports", "tasks.maintenance")

_loaded = False


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its package does not exist (yet)
        return False


def load() -> None:
    """Import every domain's registering modules (once per process)."""
    global _loaded
    if _loaded:
        return
    for name, modules in DOMAINS.items():
        for module in modules:
            importlib.import_module(f"models.{name}.{module}")
    _loaded = True


def task_modules() -> list[str]:
    """Celery's ``include``: the plumbing task modules and ``tasks/<domain>.py`` of each domain that has one."""
    return [*CORE_TASK_MODULES, *(f"tasks.{name}" for name in DOMAINS if _exists(f"tasks.{name}"))]
