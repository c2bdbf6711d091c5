"""The import layering, checked on the source (ast, no imports run):

- ``models/core`` is plumbing: it imports no domain, no handlers, no tasks
  (the outbox relay publishes through ``celery_app``, which is no task module);
- a domain imports no handlers and no tasks, and never a domain listed after
  it in ``models.core.domains.DOMAINS`` (that order is written down once, there);
- only ``models/checkout`` imports cart, orders and payments together;
- the payment interface imports no provider.
"""
from __future__ import annotations

import ast
from pathlib import Path

from models.core.domains import DOMAINS

ROOT = Path(__file__).resolve().parent.parent
ORDER = list(DOMAINS)
# Modules of one package that count as another's (none since checkout has its own package).
FLOW_FILES: dict[str, str] = {}


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (``from models import x`` counts as ``models.x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def owner(path: Path) -> str:
    rel = path.relative_to(ROOT).as_posix()
    return FLOW_FILES.get(rel) or rel.split("/")[1]


def package_imports() -> dict[str, dict[str, set[str]]]:
    """package (core or a domain) → module file → the top-level packages it imports (``models.x`` as ``x``)."""
    result: dict[str, dict[str, set[str]]] = {}
    for path in sorted((ROOT / "models").rglob("*.py")):
        if path.parent == ROOT / "models":
            continue
        targets = set()
        for name in imports(path):
            parts = name.split(".")
            if parts[0] == "models" and len(parts) > 1:
                targets.add(parts[1])
            elif parts[0] in ("handlers", "tasks", "server"):
                targets.add(parts[0])
        result.setdefault(owner(path), {})[path.relative_to(ROOT).as_posix()] = targets
    return result


def test_models_holds_only_packages():
    assert [p.name for p in (ROOT / "models").glob("*.py")] == ["__init__.py"]


def test_every_domain_package_is_listed_once():
    packages = {p.parent.name for p in (ROOT / "models").glob("*/__init__.py")} - {"core"}
    assert packages <= set(DOMAINS), f"add {sorted(packages - set(DOMAINS))} to models/core/domains.py"


def test_core_imports_no_domain_and_no_http_or_tasks():
    bad = {f: sorted(t - {"core"}) for f, t in package_imports().get("core", {}).items() if t - {"core"}}
    assert not bad


def test_domains_import_no_handlers_no_tasks_and_no_higher_domain():
    bad = {}
    for domain, files in package_imports().items():
        if domain == "core":
            continue
        for f, targets in files.items():
            wrong = {t for t in targets if t in ("handlers", "tasks", "server")
                     or (t in ORDER and ORDER.index(t) > ORDER.index(domain))}
            if wrong:
                bad[f] = sorted(wrong)
    assert not bad, f"lower domains import higher ones (order in models/core/domains.py): {bad}"


def test_only_checkout_imports_cart_orders_and_payments_together():
    for domain, files in package_imports().items():
        used = set().union(*files.values()) | {domain}
        if domain != "checkout":
            assert not {"cart", "orders", "payments"} <= used, domain


def test_the_payment_interface_imports_no_provider():
    interface = ROOT / "models" / "payments" / "interface.py"
    if not interface.exists():
        return  # the interface is not split out yet
    providers = {p.stem for p in (ROOT / "models" / "payments" / "providers").glob("*.py")} - {"__init__"}
    for name in imports(interface):
        assert not name.startswith("models.payments.providers"), name
        assert name.rpartition(".")[2] not in providers, name
