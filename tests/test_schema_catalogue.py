"""migrations/README.md lists every trigger and SQL function of the migrated
schema, and `python server.py schema` prints the live schema."""
from __future__ import annotations

import re

import pytest

from models.core.db import fetch_all
from tests.support.paths import ROOT

README = ROOT / "migrations" / "README.md"


def catalogue() -> tuple[set[tuple[str, str]], set[str]]:
    """(table, trigger) pairs of the "Triggers" table and the names of the "Functions" table."""
    triggers: set[tuple[str, str]] = set()
    functions: set[str] = set()
    section = None
    for line in README.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            names = [re.fullmatch(r"`([a-z0-9_]+)`", c) for c in cells[:2]]
            if section == "Triggers" and all(names):
                triggers.add((names[0].group(1), names[1].group(1)))
            elif section == "Functions" and names[0]:
                functions.add(names[0].group(1))
    return triggers, functions


@pytest.mark.gen_test
async def test_every_trigger_and_function_is_in_the_catalogue():
    listed_triggers, listed_functions = catalogue()
    live_triggers = {(t, n) for t, n in await fetch_all(
        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace s ON s.oid = c.relnamespace WHERE NOT t.tgisinternal AND s.nspname = 'public'")}
    live_functions = {r[0] for r in await fetch_all(
        "SELECT p.proname FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace WHERE s.nspname = 'public' "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')")}
    missing = sorted(live_triggers - listed_triggers)
    assert not missing, f"triggers missing from migrations/README.md (add a row to its Triggers table): {missing}"
    gone = sorted(listed_triggers - live_triggers)
    assert not gone, f"migrations/README.md lists triggers the schema no longer has (remove them): {gone}"
    missing = sorted(live_functions - listed_functions)
    assert not missing, f"SQL functions missing from migrations/README.md (add a row to its Functions table): {missing}"
    gone = sorted(listed_functions - live_functions)
    assert not gone, f"migrations/README.md lists SQL functions the schema no longer has (remove them): {gone}"


@pytest.mark.gen_test
async def test_every_trigger_function_in_the_catalogue_is_the_one_the_trigger_runs():
    rows = await fetch_all("SELECT c.relname, t.tgname, p.proname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                           "JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal")
    text = README.read_text()
    for table, trigger, function in rows:
        row = re.search(rf"^\| `{table}` \| `{trigger}` \|[^\n]*\| `{function}` \|", text, re.M)
        assert row, f"migrations/README.md: {table}.{trigger} runs {function}()"


@pytest.mark.system  # runs `python server.py schema`
def test_schema_command_prints_the_live_schema():
    from tests.test_cli import run_cli

    result = run_cli("schema")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "table product" in out and "  price numeric(12,2)" in out
    assert "index product_status_price" in out
    assert "trigger product_wishlist_notify: AFTER UPDATE OF" in out and "EXECUTE FUNCTION product_wishlist_notify()" in out
    assert "function search_feed_new_epoch()" in out
