"""Product search for the admin order form."""
from __future__ import annotations

from typing import Any

from models.catalog import search
from models.db import fetch_all

SEARCH_MIN_CHARS = 2
SEARCH_LIMIT = 10


# --- product search for the admin order form --------------------------------------------

async def search_for_order_form(q: str | None) -> list[dict[str, Any]]:
    """Up to 10 non-archived products matching ``q`` by the storefront's search
    rules (typo-tolerant, last word as a prefix; name, SKU, category, tags or
    description), best first; [] when ``q`` is under 2 characters.

    Two queries: the words (``search.parse``), then the matches.
    """
    q = (q or "").strip()
    if len(q) < SEARCH_MIN_CHARS:
        return []
    query = await search.parse(q)
    if query is None:
        return []
    params: dict[str, Any] = {"limit": SEARCH_LIMIT}
    hits = search.hits_sql(query, "p.status <> 'archived'", params)
    rows = await fetch_all(
        f"WITH {hits}, top AS (SELECT h.* FROM hits h ORDER BY {search.RANK_ORDER} LIMIT %(limit)s) "
        "SELECT p.id, p.name, p.sku, p.price, p.stock_quantity, p.main_image FROM top h "
        f"JOIN product p ON p.id = h.id ORDER BY {search.RANK_ORDER}", params)
    return [{"id": pid, "name": name, "sku": sku, "price": price, "stock_quantity": stock, "image": image}
            for pid, name, sku, price, stock, image in rows]
