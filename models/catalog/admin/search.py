"""Product search for the admin order form."""
from __future__ import annotations

from typing import Any

import peewee as pw
from peewee import fn

from models.catalog.tables import Product


SEARCH_MIN_CHARS = 2
SEARCH_LIMIT = 10


# --- product search for the admin order form --------------------------------------------

async def search_for_order_form(q: str | None) -> list[dict[str, Any]]:
    """Up to 10 non-archived products whose name, SKU or description matches ``q``
    (typo-tolerant on the name through pg_trgm); [] when ``q`` is under 2 characters."""
    q = (q or "").strip()
    if len(q) < SEARCH_MIN_CHARS:
        return []
    # pg_trgm, both served by the GIN index on name ("%" doubled for psycopg2):
    # "name % q" whole-name similarity >= 0.3, "q <% name" word similarity >= 0.6.
    fuzzy = pw.Expression(Product.name, "%%", q) | pw.Expression(q, "<%%", Product.name)
    rank = pw.Case(None, [(Product.sku == q, 0), (Product.name.startswith(q), 1),
                          (Product.name.contains(q) | Product.sku.contains(q), 2)], 3)
    closeness = fn.GREATEST(fn.similarity(Product.name, q), fn.word_similarity(q, Product.name))
    rows = await (Product.select(Product.id, Product.name, Product.sku, Product.price, Product.stock_quantity,
                                 Product.main_image)
                  .where((Product.status != "archived")
                         & (Product.name.contains(q) | Product.sku.contains(q) | Product.description.contains(q)
                            | fuzzy))
                  .order_by(rank, closeness.desc(), Product.name, Product.id)
                  .limit(SEARCH_LIMIT).dicts().aio_execute())
    return [{"id": r["id"], "name": r["name"], "sku": r["sku"], "price": r["price"],
             "stock_quantity": r["stock_quantity"], "image": r["main_image"]} for r in rows]
