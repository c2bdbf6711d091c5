"""Product search for the admin order form."""
from __future__ import annotations

from typing import Any

from models.catalog import queries, search
from models.core.db import fetch_all

SEARCH_MIN_CHARS = 2
SEARCH_LIMIT = 10


# --- product search for the admin order form --------------------------------------------

async def search_for_order_form(q: str | None) -> list[dict[str, Any]]:
    """Up to 10 non-archived products matching ``q`` by the storefront's search
    rules (typo-tolerant, last word as a prefix; name, SKU, category, tags or
    description), best first; [] when ``q`` is under 2 characters.

    One query from the process's index (``queries.indexed_page``); in SQL,
    two: the words (``search.parse``), then the matches.
    """
    q = (q or "").strip()
    if len(q) < SEARCH_MIN_CHARS:
        return []
    found = await queries.indexed_page(q, queries.ProductFilters(), 0, SEARCH_LIMIT, _COLUMNS,
                                       statuses=("published", "draft"))
    if found is not None:
        return [_row(r) for r in found[1]]
    query = await search.parse(q)
    if query is None:
        return []
    params: dict[str, Any] = {"limit": SEARCH_LIMIT}
    hits = search.hits_sql(query, "p.status <> 'archived'", params)
    rows = await fetch_all(
        f"WITH {hits}, top AS (SELECT h.* FROM hits h ORDER BY {search.RANK_ORDER} LIMIT %(limit)s) "
        f"SELECT {_COLUMNS} FROM top h JOIN product p ON p.id = h.id ORDER BY {search.RANK_ORDER}", params)
    return [_row(r) for r in rows]


_COLUMNS = "p.id, p.name, p.sku, p.price, p.stock_quantity, media_url(p.main_image)"


def _row(row: tuple) -> dict[str, Any]:
    pid, name, sku, price, stock, image = row
    return {"id": pid, "name": name, "sku": sku, "price": price, "stock_quantity": stock, "image": image}
