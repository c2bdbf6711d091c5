"""The products CSV export (registered with models.core.exports on import)."""
from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

from models.catalog.admin.table import STATUS_LABELS, clean_product_filters, display_status, filtered_products
from models.catalog.tables import Category, Product
from models.core import exports
from models.core.db import money

# --- the products CSV export -----------------------------------------------------

async def _export_rows(filters: dict[str, str]) -> AsyncIterator[list[list[Any]]]:
    query = filtered_products(filters, Product.name, Product.sku, Category.name, Product.price,
                              Product.stock_quantity, Product.status, Product.created_at).tuples()
    async with contextlib.aclosing(exports.fetch_batches(query)) as batches:
        async for batch in batches:
            yield [[name, sku, category or "", money(price), stock, STATUS_LABELS[display_status(status, stock)],
                    created.date().isoformat()]
                   for name, sku, category, price, stock, status, created in batch]


exports.register(exports.ExportKind(
    name="products",
    header=("Name", "SKU", "Category", "Price", "Stock", "Status", "Created"),
    rows=_export_rows,
    clean_filters=clean_product_filters,
    filename="products.csv",
))
