"""Staff use cases for the catalog: products with nested variations, images,
categories/tags/sizes/colors, bulk actions, tab counts, the dashboard's
product table, the order form's product search and the products CSV export.

One module per section; this package re-exports their public names, so
``from models.catalog import admin`` then ``admin.create_product`` works.

- ``products``: payloads, create/update/delete with nested variations.
- ``table``: the dashboard's product table, tabs, tab counts, bulk actions.
- ``export``: the products CSV export (registered on import).
- ``search``: the admin order form's product search.
- ``images``: product images.
- ``taxonomy``: categories, tags, sizes, colors.
- ``common``: messages, constraint names, slugs.

Rules kept here (handlers only validate shapes):
- ``Product.price`` and ``Product.search_vector`` are maintained by PostgreSQL;
  products are written with ``insert``/``update`` queries only, never ``save``.
- Every write is one transaction; a ValidationFailed leaves nothing changed.
- Lists and payloads are built with a fixed number of queries, never one per row.
"""
from models.catalog.admin import export  # noqa: F401  (registers the products export)
from models.catalog.admin.common import slugify, unique_slug
from models.catalog.admin.images import (
    IMAGE_MAX_BYTES,
    add_product_image,
    image_url_changed,
    remove_product_image,
)
from models.catalog.admin.products import (
    STATUS_DISPLAY,
    create_product,
    delete_product,
    delete_products,
    load_product_payload,
    management_payloads,
    update_product,
)
from models.catalog.admin.search import SEARCH_LIMIT, SEARCH_MIN_CHARS, search_for_order_form
from models.catalog.admin.table import (
    BULK_ACTIONS,
    STATUS_COLORS,
    STATUS_LABELS,
    TABS,
    bulk_action,
    bulk_update_status,
    check_tab,
    clean_product_filters,
    dashboard_products,
    display_status,
    filtered_products,
    stock_state,
    tab_counts,
)
from models.catalog.admin.taxonomy import (
    CATEGORY_TREE_LOCK,
    category_payload,
    colors,
    create_category,
    delete_category,
    get_category,
    list_categories,
    sizes,
    tags,
    update_category,
)

__all__ = [
    "slugify",
    "unique_slug",
    "STATUS_DISPLAY",
    "management_payloads",
    "load_product_payload",
    "create_product",
    "update_product",
    "delete_product",
    "delete_products",
    "TABS",
    "STATUS_LABELS",
    "STATUS_COLORS",
    "BULK_ACTIONS",
    "bulk_update_status",
    "bulk_action",
    "tab_counts",
    "check_tab",
    "clean_product_filters",
    "filtered_products",
    "display_status",
    "stock_state",
    "dashboard_products",
    "SEARCH_MIN_CHARS",
    "SEARCH_LIMIT",
    "search_for_order_form",
    "IMAGE_MAX_BYTES",
    "add_product_image",
    "remove_product_image",
    "image_url_changed",
    "CATEGORY_TREE_LOCK",
    "category_payload",
    "list_categories",
    "get_category",
    "create_category",
    "update_category",
    "delete_category",
    "tags",
    "sizes",
    "colors",
]
